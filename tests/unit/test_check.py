"""check(expected, live): Python policies, driver/MVC, GPU arch coverage, glibc, CPU ISA."""

from __future__ import annotations

from dataclasses import replace

import pytest

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

H100 = GPU(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
RTX5090 = GPU(index=1, name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
TORCH = Framework(name="torch", version="2.9.1+cu128", variant="cu128", cuda="12.8",
                  arch_list=("sm_80", "sm_86", "sm_90"))


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
    assert rules(r) == [("package", "six", "critical")]
    assert r.findings[0].fix == "pip install six==1.16.0"


def test_compatible_policy_allows_patch_drift_of_non_abi_packages_only() -> None:
    live = live_with(Package(name="numpy", version="1.26.5"), Package(name="six", version="1.16.1"),
                     Package(name="attrs", version="23.2.0"))
    r = check(BASE, live, policy="compatible")
    assert rules(r) == [("package", "numpy", "critical"), ("package", "six", "info")]
    assert "ABI-sensitive" in r.findings[0].explanation


def test_missing_extra_variant_and_source() -> None:
    exp = replace(BASE, python=env(Package(name="torch", version="2.9.1+cu128"),
                                   Package(name="gone", version="1.0"),
                                   Package(name="ed", version="1.0",
                                           source=Source(kind="editable", url="file:///x"))))
    live = replace(BASE, python=env(Package(name="torch", version="2.9.1+cpu"),
                                    Package(name="ed", version="1.0"),
                                    Package(name="extra", version="2.0")))
    r = check(exp, live)
    assert rules(r) == [("package", "gone", "critical"), ("package", "torch", "critical"),
                        ("package", "ed", "major"), ("package", "extra", "minor")]
    torch = r.findings[1]
    assert "whl/cu128" in (torch.fix or "")
    assert rules(check(exp, live, policy="compatible"))[-1] != ("package", "extra", "minor")


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
    assert rules(r) == [("driver", "driver", "critical")]


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
    assert rules(check(exp, live, host_only=True)) == [("gpu", "torch", "info")]


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
    assert torch.fix == ("pip install torch==2.5.1+rocm6.2 "
                         "--index-url https://download.pytorch.org/whl/rocm6.2")


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        check(BASE, BASE, policy="loose")
