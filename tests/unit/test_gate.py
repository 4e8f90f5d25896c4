"""check(expected, live): Python policies, driver/MVC, GPU arch coverage, glibc, CPU ISA."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.cli import Console, build_parser
from envsnap.cli import check as check_cli
from envsnap.config import Ignore
from envsnap.gate import CheckResult, check
from envsnap.rules import cuda_needs
from envsnap.snapshot import (
    GPU,
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
from envsnap.testing import FakeHost, gpu_fixture_host, h100_gpu, torch_framework
from envsnap.testing import h100_snapshot as recorded_h100

H100 = h100_gpu()
RTX5090 = GPU(index=1, name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
# A narrower build than the published one, stopping at sm_90: an RTX 5090 (sm_120) is
# not covered.
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


def test_missing_extra_variant_and_source() -> None:
    exp = replace(BASE, python=env(Package(name="torch", version="2.9.1+cu128"),
                                   Package(name="gone", version="1.0"),
                                   Package(name="ed", version="1.0",
                                           source=Source(kind="editable", url="file:///x"))))
    live = replace(BASE, python=env(Package(name="torch", version="2.9.1+cpu"),
                                    Package(name="ed", version="1.0"),
                                    Package(name="extra", version="2.0")))
    r = check(exp, live)
    # The severities diff gives the same changes: lost CUDA, removed, source, added.
    # gone: nothing in the snapshot required it (removed_leaf, minor).
    assert rules(r) == [("package", "torch", "critical"), ("package", "gone", "minor"),
                        ("package", "ed", "minor"), ("package", "extra", "info")]
    torch = r.findings[0]
    assert "whl/cu128" in (torch.fix or "")
    assert r.failed("critical")  # exact: the extra package alone would fail it
    assert rules(check(exp, live, policy="compatible"))[-1] != ("package", "extra", "info")


def test_python_minor_change() -> None:
    assert BASE.python is not None
    r = check(BASE, replace(BASE, python=replace(BASE.python, version="3.12.1")))
    assert rules(r) == [("python", "python", "critical")]


def test_no_live_python_is_critical_not_a_pass() -> None:
    r = check(BASE, replace(BASE, python=None))
    assert rules(r) == [("python", "python", "critical")]
    assert "--python" in (r.findings[0].fix or "")


@pytest.mark.parametrize(
    ("driver", "severity", "fix"),
    [
        ("470.256.02", "critical", "driver 525.60.13 or newer (570.26 or newer for all CUDA 12.8 features)"),
        ("535.104.05", "major", "driver 570.26 or newer"),
        ("570.26", None, None),
        ("580.65.06", None, None),
    ],
)
def test_driver_against_minor_version_compat(driver: str, severity: str | None,
                                             fix: str | None) -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version=driver, gpus=(H100,)))
    r = check(BASE, live, host_only=True)
    found = [f for f in r.findings if f.rule == "driver"]
    if severity is None:
        assert found == []
    else:
        assert [(f.severity, f.fix) for f in found] == [(severity, fix)]


def test_no_driver_when_snapshot_needs_cuda() -> None:
    r = check(BASE, replace(BASE, nvidia=None), host_only=True)
    assert rules(r) == [("driver", "driver", "critical"), ("gpu", "GPUs", "critical")]
    assert "no NVIDIA driver was found" in r.findings[0].explanation


def test_driver_user_space_kernel_mismatch() -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04",
                                           kernel_module_version="575.51.03", gpus=(H100,)))
    assert ("driver", "driver", "critical") in rules(check(BASE, live, host_only=True))


def test_gpu_not_covered_names_the_fix() -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(H100, RTX5090)))
    r = check(BASE, live, host_only=True)
    assert rules(r) == [("gpu", "GPU1 NVIDIA GeForce RTX 5090", "critical")]
    f = r.findings[0]
    assert f.actual == "sm_120" and "no kernel image" in f.explanation
    assert f.fix == "install a torch build for CUDA 12.8 or newer whose arch list includes sm_120"


def test_arch_list_falls_back_to_shipped_table_and_unknown_is_reported() -> None:
    no_list = replace(TORCH, version="2.6.0+cu126", variant="cu126", cuda="12.6", arch_list=())
    exp = replace(BASE, frameworks=(no_list,))
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(RTX5090,)))
    assert rules(check(exp, live, host_only=True))[0][2] == "critical"  # table: cu126 ends at sm_90
    custom = replace(no_list, version="2.6.0")  # no table row for an unlabelled build
    exp = replace(BASE, frameworks=(replace(custom, variant=None),))
    # Coverage unknown; the model differs (a newer architecture): both information only.
    assert rules(check(exp, live, host_only=True)) == [
        ("gpu", "torch", "info"), ("gpu", "GPU1 NVIDIA GeForce RTX 5090", "info")]


def test_glibc_below_wheel_tags() -> None:
    exp = replace(BASE, python=env(Package(name="torch", version="2.9.1",
                                           tags=("cp311-cp311-manylinux_2_28_x86_64",))))
    live = replace(exp, os=OSInfo(system="Linux", arch="x86_64", glibc="2.26"))
    r = check(exp, live)
    assert rules(r) == [("glibc", "glibc", "critical")]
    assert r.findings[0].expected == ">= 2.28" and "torch" in r.findings[0].explanation
    assert check(exp, live, host_only=True).findings == ()  # a container brings its own glibc


def test_cpu_isa_and_architecture() -> None:
    live = replace(BASE, cpu=CPUInfo(flags=("avx",)))
    r = check(BASE, live)
    assert rules(r) == [("cpu", "cpu", "major")]
    assert r.findings[0].expected == "avx2 fma"
    live = replace(BASE, os=OSInfo(system="Linux", arch="aarch64", glibc="2.39"))
    assert rules(check(BASE, live)) == [("os", "architecture", "critical")]


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


def test_variant_fix_names_the_pytorch_index_for_rocm_too() -> None:
    exp = replace(BASE, python=env(Package(name="torch", version="2.5.1+rocm6.2")))
    live = replace(BASE, python=env(Package(name="torch", version="2.5.1+cpu")))
    torch = next(f for f in check(exp, live).findings if f.subject == "torch")
    assert torch.fix == ("python -m pip install torch==2.5.1+rocm6.2 "
                         "--index-url https://download.pytorch.org/whl/rocm6.2")


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        check(BASE, BASE, policy="loose")


# ---------------------------------------------------------------------------------------------
# GPUs present, counted and compared (also under --host-only)


def gpus(*gpus: GPU, driver: str = "580.159.04") -> Snapshot:
    return replace(BASE, nvidia=NvidiaInfo(driver_version=driver, gpus=gpus))


def gpu(index: int, name: str, cc: str, gib: int) -> GPU:
    return GPU(index=index, name=name, compute_capability=cc, memory_bytes=gib * 2**30)


A100_40 = "NVIDIA A100-SXM4-40GB"


def test_no_gpu_where_the_snapshot_had_gpus_fails_even_without_cuda_builds() -> None:
    exp = replace(BASE, frameworks=())  # nothing needs CUDA: the GPUs alone must be there
    r = check(exp, replace(exp, nvidia=None), host_only=True)
    assert rules(r) == [("gpu", "GPUs", "critical")]
    f = r.findings[0]
    assert (f.expected, f.actual) == ("1 x NVIDIA H100 80GB HBM3 (sm_90)", "none")
    assert "no NVIDIA GPU (no driver answered either)" in f.explanation
    assert r.failed("critical")


def test_fewer_gpus_fail_more_do_not() -> None:
    eight = gpus(*(gpu(i, "NVIDIA H100 80GB HBM3", "9.0", 80) for i in range(8)))
    four = gpus(*(gpu(i, "NVIDIA H100 80GB HBM3", "9.0", 80) for i in range(4)))
    r = check(eight, four, host_only=True)
    assert rules(r) == [("gpu", "GPUs", "critical")] and r.findings[0].kind == "count"
    assert (r.findings[0].expected, r.findings[0].actual) == ("8", "4")
    assert check(four, eight, host_only=True).findings == ()


def test_an_older_architecture_the_build_covers_warns_one_it_does_not_fails() -> None:
    h100 = gpus(gpu(0, "NVIDIA H100 80GB HBM3", "9.0", 80))
    r = check(h100, gpus(gpu(0, A100_40, "8.0", 40)), host_only=True)
    assert {(f.kind, f.severity) for f in r.findings} == {("older_arch", "major"),
                                                          ("memory", "major")}
    older = next(f for f in r.findings if f.kind == "older_arch")
    assert "FP8" in older.explanation and not r.failed("critical")
    r = check(h100, gpus(gpu(0, "Tesla V100-SXM2-16GB", "7.0", 16)), host_only=True)
    assert next((f.kind, f.severity) for f in r.findings) == ("not_covered", "critical")


def test_another_model_of_the_same_architecture_is_information_only() -> None:
    h100 = gpus(gpu(0, "NVIDIA H100 80GB HBM3", "9.0", 80))
    r = check(h100, gpus(gpu(0, "NVIDIA H200", "9.0", 141)), host_only=True)
    assert [(f.kind, f.severity) for f in r.findings] == [("model", "info")]
    assert "same architecture" in r.findings[0].explanation and not r.failed("minor")


def test_a_failed_nvidia_probe_skips_gpu_rules_and_is_reported() -> None:
    live = replace(BASE, nvidia=None,
                   probes={"nvidia": ProbeStatus(status="error", error="NVML hung")})
    r = check(BASE, live, host_only=True)
    assert "gpu" in r.skipped and "gpu" not in r.checked
    assert ("probe", "nvidia", "major") in rules(r)


H200_DIR = support.REPO / "tests" / "data" / "gpu" / "h200-ubuntu24"
# torch 2.9 for CUDA 13.0 as PyTorch publishes it: its arch list (pytorch.toml, the shipped
# table) runs sm_75 ... sm_120, so sm_90 (H100 and H200 alike) is covered.
TORCH_CU130 = Framework(name="torch", version="2.9.1+cu130", variant="cu130", cuda="13.0")


@pytest.fixture(scope="module")
def h100_snapshot() -> Snapshot:
    """What `envsnap capture` records on the recorded H100 machine (driver 580, CUDA 13, one
    GPU; tests/unit/test_testing.py proves the factory equals it), with a CUDA 13 torch build."""
    return recorded_h100(frameworks=(TORCH_CU130,))


def _check_cli(snapshot: Snapshot, host: FakeHost, tmp_path: Path,
               *argv: str) -> tuple[int, str]:
    path = tmp_path / "h100.toml"
    io.dump(snapshot, path)
    args = [*argv[:1], str(path), *argv[1:]] if argv else ["check", str(path)]
    parsed = build_parser(args).parse_args(args)
    out = StringIO()
    rc = check_cli.run(parsed, Console(out=out, err=StringIO()), host=host)
    return rc, out.getvalue()


def test_h100_snapshot_host_only_on_a_machine_without_gpu_or_driver_fails(
        h100_snapshot: Snapshot, tmp_path: Path) -> None:
    rc, out = _check_cli(h100_snapshot, FakeHost(), tmp_path, "check", "--host-only")
    assert rc == 1, out
    assert "FAIL (policy exact, host only)" in out
    assert "gpu: GPUs  expected 1 x NVIDIA H100 80GB HBM3 (sm_90), found none" in out
    assert "driver: driver  expected >= 580, found -" in out
    assert "CUDA 13.0 (torch 2.9.1+cu130 (CUDA 13.0))" in out


def test_h100_snapshot_host_only_on_the_recorded_h200_passes(
        h100_snapshot: Snapshot, tmp_path: Path) -> None:
    rc, out = _check_cli(h100_snapshot, gpu_fixture_host(H200_DIR), tmp_path, "check",
                         "--host-only", "--fail-on", "minor")
    assert rc == 0, out
    assert "OK (policy exact, host only)" in out
    # The model name legitimately differs: said, never failed.
    assert "gpu: GPU0 NVIDIA H200  expected NVIDIA H100 80GB HBM3 (sm_90), found NVIDIA H200 " \
           "(sm_90)" in out
    assert "0 critical, 0 major, 0 minor, 1 info" in out


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


LOCAL = Package(name="mylib", version="0.3.0",
                source=Source(kind="dir", url="file:///src/my%20lib"))
EDITABLE = Package(name="ed", version="1.0", source=Source(kind="editable", url="file:///work/ed"))
VCS = Package(name="tool", version="2.0", source=Source(
    kind="vcs", vcs="git", url="https://github.com/org/tool", commit="a" * 40))


def test_fix_hints_name_the_target_interpreter_and_the_source() -> None:
    exp = replace(BASE, python=env(LOCAL, EDITABLE, VCS, Package(name="six", version="1.16.0")))
    live = replace(BASE, python=env(Package(name="mylib", version="0.4.0")))
    python = "/opt/my venv/bin/python"
    fixes = {f.subject: f.fix for f in check(exp, live, python=python).findings}
    pip = "'/opt/my venv/bin/python' -m pip"
    assert fixes == {
        "mylib": f"{pip} install '/src/my lib'",
        "ed": f"{pip} install -e /work/ed",
        "tool": f"{pip} install 'tool @ git+https://github.com/org/tool@{'a' * 40}'",
        "six": f"{pip} install six==1.16.0",
    }
    assert not any("pip install mylib==0.3.0" in (f or "") for f in fixes.values())


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


def test_broken_requirements_of_the_live_environment() -> None:
    typer = Package(name="typer", version="0.12.5", requires=("rich<14",))
    exp = replace(BASE, python=env(typer, Package(name="rich", version="13.9.4")))
    live = replace(BASE, python=env(typer, Package(name="rich", version="15.0.0")))
    r = check(exp, live, python="/v/bin/python")
    broken = next(f for f in r.findings if f.rule == "requirement")
    assert (broken.kind, broken.severity, broken.expected, broken.actual) == (
        "broken", "major", "rich<14", "rich 15.0.0")
    assert broken.fix == "/v/bin/python -m pip install rich==13.9.4"
    assert broken.explanation == "typer 0.12.5 has requirement rich<14, but you have rich 15.0.0."
    # Broken in the snapshot too: reported, not counted against this machine.
    r = check(live, live)
    assert [(f.kind, f.severity, f.fix) for f in r.findings] == [("preexisting", "info", None)]


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
