"""check(expected, live): policies and thresholds, skipped rules, groups, the remedy, envsnap's own
packages (each section's rule: tests/unit/sections/)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from envsnap.config import Ignore
from envsnap.gate import CheckResult, check
from envsnap.rules import cuda_needs
from envsnap.snapshot import (
    CPUInfo,
    Framework,
    NvidiaInfo,
    OSInfo,
    Package,
    ProbeStatus,
    PythonEnv,
    Snapshot,
    Source,
)
from envsnap.testing import h100_gpu, torch_framework

H100 = h100_gpu()
# A narrower build than the published one, stopping at sm_90.
TORCH = torch_framework(arch_list=("sm_80", "sm_86", "sm_90"))


def env(*pkgs: Package, version: str = "3.11.7") -> PythonEnv:
    return PythonEnv(version=version, implementation="CPython", packages=pkgs)


def rules(r: CheckResult) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in r.findings]


BASE = Snapshot(
    python=env(Package(name="numpy", version="1.26.4"), Package(name="six", version="1.16.0"),
               Package(name="attrs", version="23.2.0")),
    os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"),
    cpu=CPUInfo(flags=("avx", "avx2", "fma")),
    nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(H100,)),
    frameworks=(TORCH,),
)


def live_with(*pkgs: Package) -> Snapshot:
    return replace(BASE, python=env(*pkgs))


def test_same_machine_passes() -> None:
    r = check(BASE, BASE)
    assert r.findings == () and not r.failed("info")
    assert r.checked == ("python", "glibc", "cpu", "driver", "gpu")


def test_exact_policy_fails_on_any_version_change() -> None:
    live = live_with(Package(name="numpy", version="1.26.4"), Package(name="six", version="1.16.1"),
                     Package(name="attrs", version="23.2.0"))
    r = check(BASE, live)
    # Rated as diff rates it (a patch release: info); the exact policy fails on it anyway.
    assert rules(r) == [("package", "six", "info")]
    assert r.findings[0].fix == "python -m pip install six==1.16.0"
    assert r.thresholds("critical") == {"environment": "info", "host": "critical"}
    assert r.failed("critical") and not r.failed("never")


def test_compatible_policy_allows_patch_drift_of_non_abi_packages_only() -> None:
    live = live_with(Package(name="numpy", version="1.26.5", requested=True),
                     Package(name="six", version="1.16.1"),
                     Package(name="attrs", version="23.2.0"))
    r = check(BASE, live, policy="compatible")
    # numpy is ABI-sensitive: its patch release is minor (severity.toml [abi_sensitive]), and
    # the compatible policy fails from minor up.
    assert rules(r) == [("package", "numpy", "minor"), ("package", "six", "info")]
    assert "ABI-sensitive" in r.findings[0].explanation
    assert r.thresholds("critical") == {"environment": "minor", "host": "critical"}
    assert [r.fails(f, "critical") for f in r.findings] == [True, False]
    # --fail-on can make the environment's gate stricter, never looser than the policy's.
    assert r.thresholds("info")["environment"] == "info"
    assert r.thresholds("critical")["environment"] == "minor"
    six_only = check(BASE, replace(live, python=env(Package(name="numpy", version="1.26.4"),
                                                   Package(name="six", version="1.16.1"),
                                                   Package(name="attrs", version="23.2.0"))),
                     policy="compatible")
    assert not six_only.failed("critical") and six_only.remedy("t.toml") is None


def test_failed_live_probe_is_reported_not_passed() -> None:
    live = replace(BASE, probes={"nvidia": ProbeStatus(status="error", error="NVML hung")})
    r = check(BASE, live, host_only=True)
    assert ("probe", "nvidia", "major") in rules(r)


def test_host_only_skips_python() -> None:
    r = check(BASE, replace(BASE, python=None), host_only=True)
    assert r.findings == () and "python" in r.skipped


def test_cuda_needs_from_every_source() -> None:
    s = Snapshot(python=env(Package(name="nvidia-cublas-cu12", version="12.8.4.1"),
                            Package(name="jaxlib", version="0.4.30+cuda12.cudnn89")),
                 frameworks=(TORCH,))
    # jaxlib's label names CUDA 12 (rules.cuda_from_label; the old compat copy missed it).
    assert [(n.cuda, n.origin) for n in cuda_needs(s)] == [
        ("12.8", "torch 2.9.1+cu128 (CUDA 12.8)"), ("12", "nvidia-cublas-cu12"),
        ("12", "jaxlib 0.4.30+cuda12.cudnn89")]


def test_cu92_build_needs_cuda_9_2() -> None:
    old = Framework(name="torch", version="1.4.0+cu92", variant="cu92")
    s = replace(BASE, frameworks=(old,), nvidia=NvidiaInfo(driver_version="580.159.04"))
    assert [n.cuda for n in cuda_needs(s)] == ["9.2"]
    # No floor is shipped for CUDA 9: the driver verdict is unknown, never a failure.
    assert [f for f in check(s, s, host_only=True).findings if f.rule == "driver"] == []


def test_unreadable_driver_or_glibc_is_skipped_with_a_reason_not_passed() -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="9" * 5000, gpus=(H100,)))
    r = check(BASE, live, host_only=True)
    assert [f for f in r.findings if f.rule == "driver"] == []
    assert "driver" not in r.checked and "not a version" in r.skipped["driver"]
    exp = replace(BASE, python=env(Package(name="m", version="1",
                                           tags=("py3-none-manylinux_2_28_x86_64",))))
    live = replace(exp, os=OSInfo(system="Linux", arch="x86_64", glibc="2.999999999"))
    r = check(exp, live)
    assert [f for f in r.findings if f.rule == "glibc"] == []
    assert "glibc" not in r.checked and "'2.999999999'" in r.skipped["glibc"]


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        check(BASE, BASE, policy="loose")


# ---------------------------------------------------------------------------------------------
# Readable: order, groups, fix hints with the target interpreter and the source, one command


def test_python_minor_mismatch_comes_before_package_findings() -> None:
    assert BASE.python is not None
    live = replace(BASE, python=replace(BASE.python, version="3.12.1", packages=(
        Package(name="numpy", version="2.0.0"), Package(name="six", version="1.17.0"))))
    r = check(BASE, live)
    # numpy and six: nothing requires them, nobody asked for them (leftovers, one level lower,
    # as in diff); attrs: a removed leaf.
    assert [(f.rule, f.subject, f.severity) for f in r.findings] == [
        ("python", "python", "critical"), ("package", "attrs", "minor"),
        ("package", "numpy", "minor"), ("package", "six", "info")]


def _extras(n: int) -> tuple[Package, ...]:
    return tuple(Package(name=f"extra{i:02d}", version="1.0") for i in range(n))


def test_extras_are_one_group_and_ignore_extras_drops_them() -> None:
    assert BASE.python is not None
    live = replace(BASE, python=replace(BASE.python,
                                        packages=BASE.python.packages + _extras(59)))
    r = check(BASE, live)
    groups = r.groups()
    assert [(g.rule, g.kind, len(g.findings)) for g in groups] == [("package", "extra", 59)]
    assert groups[0].summary == "59 packages not in the snapshot"
    quiet = check(BASE, live, ignore_extras=True)
    assert quiet.findings == ()
    assert quiet.ignored == {"packages not in the snapshot (--ignore-extras)": 59}


def test_envsnap_and_what_it_needs_are_not_drift_and_never_removed() -> None:
    assert BASE.python is not None
    tool = (Package(name="envsnap", version="0.1.0", requires=("packaging>=25.0", "tomli>=2.1")),
            Package(name="tomli", version="2.2.1"),
            Package(name="packaging", version="25.0"),
            Package(name="other", version="1.0", requires=("packaging",)),
            # What envsnap's extras need (its metadata says so, the capture's graph does not).
            Package(name="conda-lock", version="3.0.4", requires=("pydantic",)),
            Package(name="pydantic", version="2.11.0"))
    live = replace(BASE, python=replace(BASE.python, packages=BASE.python.packages + tool))
    r = check(BASE, live, tool=("envsnap", "conda-lock", "pip-tools"))
    kinds = {f.subject: (f.kind, f.severity) for f in r.findings}
    # packaging is needed by `other` too, and by envsnap: never uninstalled.
    assert kinds == {"envsnap": ("tool", "info"), "tomli": ("tool", "info"),
                     "packaging": ("tool", "info"), "conda-lock": ("tool", "info"),
                     "pydantic": ("tool", "info"), "other": ("extra", "info")}
    remedy = r.remedy("t.toml")
    assert remedy is not None and remedy.command.endswith("uninstall -y other")
    assert not any(f.difference for f in r.findings if f.kind == "tool")
    # Where envsnap is not installed (--python another environment), nothing is its own.
    without = env(*(p for p in BASE.python.packages + tool if p.name != "envsnap"))
    other_env = replace(live, python=without)
    found = {f.subject: f.kind for f in check(BASE, other_env, tool=("conda-lock",)).findings}
    assert found["conda-lock"] == "extra"
    # The snapshot itself had envsnap: what its extras need still stays.
    with_envsnap = replace(BASE, python=replace(BASE.python, packages=BASE.python.packages
                                                 + tool[:1]))
    r = check(with_envsnap, live, tool=("envsnap", "conda-lock"))
    assert {f.subject for f in r.findings if f.kind == "tool"} == {
        "tomli", "packaging", "conda-lock", "pydantic"}
    assert "conda-lock" not in (r.remedy("t.toml") or remedy).command


def test_ignore_list_drops_packages_and_says_so() -> None:
    assert BASE.python is not None
    live = live_with(Package(name="numpy", version="2.0.0"), Package(name="six", version="1.16.0"),
                     Package(name="attrs", version="23.2.0"))
    r = check(BASE, live, ignore=Ignore(packages=("num*",)))
    assert r.findings == () and r.ignored == {"packages matching the ignore list": 1}


EDITABLE = Package(name="ed", version="1.0", source=Source(kind="editable", url="file:///work/ed"))


def test_one_command_brings_the_environment_to_the_snapshot() -> None:
    exp = replace(BASE, python=env(Package(name="six", version="1.16.0"), EDITABLE))
    live = replace(BASE, python=env(Package(name="six", version="1.17.0"),
                                    Package(name="ed", version="1.0"),
                                    Package(name="stray", version="1.0")))
    r = check(exp, live, python="/venv/bin/python")
    remedy = r.remedy("train.toml")
    assert remedy is not None and remedy.caveats == ()
    assert remedy.command == (
        "envsnap lock train.toml -o envsnap-lock && /venv/bin/python -m pip uninstall -y ed "
        "stray && /venv/bin/python -m pip install --require-hashes --no-deps "
        "-r envsnap-lock/requirements.txt")
    piped = r.remedy("-")
    assert piped is not None and piped.command.startswith("envsnap lock SNAPSHOT.toml ")
    assert check(BASE, BASE).remedy("train.toml") is None
    assert BASE.python is not None
    other_python = replace(BASE, python=replace(BASE.python, version="3.12.1"))
    remedy = check(BASE, other_python).remedy("t.toml")
    assert remedy is None  # an interpreter mismatch alone: no pip command fixes it
    moved = replace(other_python, python=env(Package(name="six", version="1.0"),
                                             version="3.12.1"))
    remedy = check(BASE, moved).remedy("t.toml")
    assert remedy is not None and "with Python 3.11.7 first" in remedy.caveats[0]


def test_groups_never_mix_severities() -> None:
    typer = Package(name="typer", version="0.12.5", requires=("rich<14", "shellingham"))
    exp = replace(BASE, python=env(typer, Package(name="rich", version="13.9.4"),
                                   Package(name="shellingham", version="1.5.4")))
    live = replace(BASE, python=env(typer, Package(name="rich", version="15.0.0")))
    groups = [(g.severity, g.rule, g.kind, len(g.findings)) for g in check(exp, live).groups()]
    assert ("critical", "requirement", "broken", 1) in groups
    assert ("major", "requirement", "broken", 1) in groups
    assert sum(n for *_, n in groups) == len(check(exp, live).findings)


def _dist_info(root: Path, name: str, version: str, *lines: str) -> None:
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.1", f"Name: {name}",
                                              f"Version: {version}", *lines]) + "\n")


def test_envsnaps_own_are_what_its_metadata_requires_with_each_installed_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # envsnap[lock] installed, [mlflow] not: what an extra that is not there needs is not its own.
    _dist_info(tmp_path, "envsnap", "9.9", "Provides-Extra: lock", "Provides-Extra: mlflow",
               "Requires-Dist: base-dep>=1", 'Requires-Dist: lockdep[fast]; extra == "lock"',
               'Requires-Dist: mlflowdep; extra == "mlflow"',
               'Requires-Dist: windep; sys_platform == "win32"')
    _dist_info(tmp_path, "lockdep", "1.0", "Provides-Extra: fast",
               'Requires-Dist: speedup; extra == "fast"', "Requires-Dist: lockbase")
    _dist_info(tmp_path, "speedup", "1.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    from envsnap.resources import own_distributions

    assert own_distributions() == {"envsnap", "base-dep", "lockdep", "lockbase", "speedup"}
