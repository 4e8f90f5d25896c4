"""diff(a, b): PEP 440 classification, change kinds, and domain-aware severities."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsnap.config import Ignore
from envsnap.drift import Change, SnapshotDiff, diff
from envsnap.graph import broken_requirements
from envsnap.rules import classify_version
from envsnap.snapshot import (
    GPU,
    CondaEnv,
    CondaPackage,
    CPUInfo,
    CudaInfo,
    Framework,
    LibraryCopy,
    NvidiaInfo,
    OSInfo,
    Package,
    ProbeStatus,
    PythonEnv,
    Snapshot,
    Source,
)
from envsnap.testing import cpu_venv_snapshot as snap
from envsnap.testing import h100_gpu, torch_framework

H100 = h100_gpu()
RTX5090 = GPU(index=0, name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
TORCH_CU128 = torch_framework()


def pkg(name: str, version: str, **kw: object) -> Package:
    return Package(name=name, version=version, **kw)  # type: ignore[arg-type]


def only(d: SnapshotDiff, section: str | None = None) -> Change:
    changes = [c for c in d.changes if section is None or c.section == section]
    assert len(changes) == 1, changes
    return changes[0]


# ---------------------------------------------------------------------------------------------
# PEP 440


@pytest.mark.parametrize(
    ("old", "new", "kind", "level"),
    [
        ("1.0", "2.0", "upgraded", "major"),
        ("2.0", "1.9", "downgraded", "major"),
        ("1.2.3", "1.3.0", "upgraded", "minor"),
        ("1.2.3", "1.2.4", "upgraded", "patch"),
        ("1.2", "1.2.0.1", "upgraded", "patch"),
        ("1.0rc1", "1.0", "upgraded", "pre"),
        ("1.0", "1.0.dev1", "downgraded", "pre"),
        ("1.0", "1.0.post1", "upgraded", "post"),
        ("1!1.0", "2.0", "downgraded", "epoch"),
        ("2.5.1+cu121", "2.5.1+cu124", "variant", "variant"),
        ("2.5.1+cu121", "2.5.1", "variant", "variant"),
        ("2.5.1", "2.5.1+cpu", "variant", "variant"),
        ("2.4.0+cu121", "2.5.1+cu124", "upgraded", "minor"),
        ("2023.dev-foo", "2024.dev-foo", "upgraded", "unparseable"),
        ("abc_2", "abc_10", "upgraded", "unparseable"),
        ("not-a-version", "1.0", "downgraded", "unparseable"),
    ],
)
def test_classify_version(old: str, new: str, kind: str, level: str) -> None:
    vc = classify_version(old, new)
    assert vc is not None
    assert (vc.kind, vc.level) == (kind, level)


@pytest.mark.parametrize(("old", "new"), [("1.0", "1.0"), ("1.0", "1.0.0"), ("1.0a1", "1.0.0a1")])
def test_equal_versions_are_no_change(old: str, new: str) -> None:
    assert classify_version(old, new) is None


def test_local_label_only_change_is_a_variant_not_no_change() -> None:
    d = diff(snap(pkg("mypkg", "1.0+cu121")), snap(pkg("mypkg", "1.0+cu124")))
    c = only(d)
    assert (c.kind, c.old, c.new) == ("variant", "1.0+cu121", "1.0+cu124")
    assert "cu121" in c.explanation and "index" in c.explanation


# ---------------------------------------------------------------------------------------------
# Packages


def test_package_kinds() -> None:
    a = snap(pkg("up", "1.0"), pkg("down", "2.0"), pkg("gone", "1.0"), pkg("same", "1.0"),
             pkg("ed", "1.0", source=Source(kind="editable", url="file:///src/ed")))
    b = snap(pkg("up", "1.1"), pkg("down", "1.5"), pkg("new", "0.1"), pkg("same", "1.0"),
             pkg("ed", "1.0"))
    kinds = {c.name: c.kind for c in diff(a, b).changes}
    assert kinds == {"up": "upgraded", "down": "downgraded", "gone": "removed", "new": "added",
                     "ed": "source"}


def test_source_change_shows_both_sources() -> None:
    a = snap(pkg("ed", "1.0", source=Source(kind="editable", url="file:///src/ed")))
    b = snap(pkg("ed", "1.0"))
    c = only(diff(a, b))
    assert c.old == "1.0 (editable file:///src/ed)" and c.new == "1.0 (index)"


def test_numpy_major_with_compiled_dependents_is_critical() -> None:
    dependent = pkg("scipy", "1.11.4", native=True, requires=("numpy<2.3,>=1.22.4",))
    a = snap(pkg("numpy", "1.26.4", native=True), dependent)
    b = snap(pkg("numpy", "2.1.3", native=True), dependent)
    c = only(diff(a, b))
    assert (c.kind, c.severity) == ("upgraded", "critical")
    assert "scipy" in c.explanation and "numpy<2" in c.explanation
    assert c.dependents == ("scipy",) and c.dependents_total == 1


def test_numpy_downgrade_gets_downgrade_advice_not_the_upgrades() -> None:
    """Issue: 2.x -> 1.x was told 'modules built against NumPy 1.x fail under 2.x; pin numpy<2'."""
    dependent = pkg("scipy", "1.14.1", native=True, requires=("numpy>=1.23.5",))
    a = snap(pkg("numpy", "2.1.3", native=True), dependent)
    b = snap(pkg("numpy", "1.26.4", native=True), dependent)
    c = only(diff(a, b))
    assert (c.kind, c.severity) == ("downgraded", "critical")
    assert "numpy<2" not in c.explanation and "1.x fail" not in c.explanation
    assert "older than the 2.1.3 that A ran" in c.explanation
    assert "reinstall numpy==2.1.3" in c.explanation and "scipy" in c.explanation


@pytest.mark.parametrize(("old", "new", "says", "never"), [
    ("2.8.0", "3.0.0", "pin pydantic==2.8.0 (A's version)", "older than"),
    ("3.0.0", "2.8.0", "reinstall pydantic==3.0.0", "pin pydantic==3.0.0"),
])
def test_generic_advice_follows_the_direction(old: str, new: str, says: str, never: str) -> None:
    users = [pkg(f"u{i}", "1.0", requires=("pydantic",)) for i in range(3)]
    c = only(diff(snap(pkg("pydantic", old), *users), snap(pkg("pydantic", new), *users)),
             "python.packages")
    assert says in c.explanation and never not in c.explanation


def test_numpy_major_without_compiled_dependents_is_major() -> None:
    a = snap(pkg("numpy", "1.26.4", native=True), pkg("pure", "1.0", requires=("numpy",)))
    b = snap(pkg("numpy", "2.1.3", native=True), pkg("pure", "1.0", requires=("numpy",)))
    assert only(diff(a, b)).severity == "major"


def test_generic_minor_and_patch_severity_and_downgrade_bump() -> None:
    mine = {"requested": True}
    d = diff(snap(pkg("x", "1.0.0", **mine), pkg("y", "1.0.0", **mine), pkg("z", "3.0", **mine)),
             snap(pkg("x", "1.1.0", **mine), pkg("y", "1.0.1", **mine), pkg("z", "2.0", **mine)))
    sev = {c.name: c.severity for c in d.changes}
    # z: major (major) downgraded bumps one level but a downgrade alone never reaches critical.
    assert sev == {"x": "minor", "y": "info", "z": "major"}


def test_package_override_from_data_cuda_wheels() -> None:
    torch = pkg("torch", "2.5.1", requires=("nvidia-cudnn-cu12",))
    a = snap(pkg("nvidia-cudnn-cu12", "8.9.2.26"), torch)
    b = snap(pkg("nvidia-cudnn-cu12", "9.1.0.70"), torch)
    assert only(diff(a, b)).severity == "critical"


def test_torch_variant_losing_cuda_is_critical() -> None:
    c = only(diff(snap(pkg("torch", "2.5.1+cu121")), snap(pkg("torch", "2.5.1+cpu"))))
    assert (c.kind, c.severity) == ("variant", "critical")
    assert "whl/cu121" in c.explanation


def test_framework_build_that_lost_cuda_is_critical() -> None:
    cpu = replace(TORCH_CU128, version="2.9.1+cpu", variant="cpu", cuda=None, arch_list=())
    d = diff(Snapshot(frameworks=(TORCH_CU128,)), Snapshot(frameworks=(cpu,)))
    lost = [c for c in d.changes if c.name == "torch.cuda"]
    assert lost and lost[0].severity == "critical" and "whl/cu128" in lost[0].explanation


@pytest.mark.parametrize(("old", "new", "index"), [
    ("1.4.0+cu92", "1.4.0+cpu", "https://download.pytorch.org/whl/cu92"),  # cu92 is CUDA 9.2
    ("0.4.23+cuda12.cudnn89", "0.4.23", None),  # jaxlib's label: CUDA, but not PyTorch's index
])
def test_every_cuda_label_losing_cuda_is_critical(old: str, new: str, index: str | None) -> None:
    c = only(diff(snap(pkg("torch", old)), snap(pkg("torch", new))))
    assert (c.kind, c.severity) == ("variant", "critical")
    if index is not None:
        assert f"Install from {index}" in c.explanation
    else:
        assert "download.pytorch.org" not in c.explanation


def test_a_jax_build_losing_cuda_names_no_pytorch_index() -> None:
    jax = Framework(name="jax", version="0.4.30", variant="cuda12", cuda="12")
    cpu = replace(jax, variant=None, cuda=None)
    lost = only(diff(Snapshot(frameworks=(jax,)), Snapshot(frameworks=(cpu,))))
    assert (lost.name, lost.severity) == ("jax.cuda", "critical")
    assert "download.pytorch.org" not in lost.explanation


def test_unparseable_versions_are_kept_raw() -> None:
    c = only(diff(snap(pkg("legacy", "1.0-foo")), snap(pkg("legacy", "1.0-bar"))))
    assert (c.old, c.new) == ("1.0-foo", "1.0-bar")
    assert c.kind == "downgraded"  # compared as text: "bar" < "foo"


def test_python_minor_change_is_critical_patch_is_info() -> None:
    a = snap(pkg("m", "1.0", native=True))
    assert a.python is not None
    b = replace(a, python=replace(a.python, version="3.12.1"))
    c = only(diff(a, b))
    assert (c.section, c.severity) == ("python", "critical")
    assert "ABI" in c.explanation and "1 installed" in c.explanation
    b = replace(a, python=replace(a.python, version="3.11.9"))
    assert only(diff(a, b)).severity == "info"


# ---------------------------------------------------------------------------------------------
# Host


def nv(driver: str, *gpus: GPU) -> NvidiaInfo:
    return NvidiaInfo(driver_version=driver, gpus=gpus or (H100,))


def test_driver_below_floor_for_snapshots_cuda_major_is_critical() -> None:
    a = Snapshot(nvidia=nv("580.159.04"), frameworks=(TORCH_CU128,))
    b = replace(a, nvidia=nv("470.256.02"))
    c = only(diff(a, b))
    assert (c.section, c.kind, c.severity) == ("nvidia", "downgraded", "critical")
    assert "525.60.13" in c.explanation and "570.26" in c.explanation


def test_driver_between_floor_and_toolkit_is_major() -> None:
    a = Snapshot(nvidia=nv("580.159.04"), frameworks=(TORCH_CU128,))
    c = only(diff(a, replace(a, nvidia=nv("535.104.05"))))
    assert c.severity == "major" and "minor-version" in c.explanation


def test_driver_change_without_cuda_needs_is_minor() -> None:
    c = only(diff(Snapshot(nvidia=nv("580.1")), Snapshot(nvidia=nv("570.1"))))
    assert c.severity == "minor"


@pytest.mark.parametrize(("driver", "why"), [
    ("9" * 5000, "not a driver version"),  # once a ValueError from int()
    ("525.60.13", "no driver floor"),  # CUDA 9.2 has no shipped floor
])
def test_driver_verdict_that_cannot_be_told_says_so(driver: str, why: str) -> None:
    cu92 = Framework(name="torch", version="1.4.0+cu92", variant="cu92")
    a = Snapshot(nvidia=nv("580.159.04"), frameworks=(cu92,))
    c = only(diff(a, replace(a, nvidia=nv(driver))))
    assert (c.name, c.severity) == ("driver", "minor")
    assert "CUDA 9.2" in c.explanation and why in c.explanation
    assert "supports every CUDA" not in c.explanation


def test_new_cuda_need_on_same_driver_is_flagged() -> None:
    old = replace(TORCH_CU128, version="2.5.1+cu121", variant="cu121", cuda="12.1")
    a = Snapshot(nvidia=nv("530.30.02"), frameworks=(old,))
    b = Snapshot(nvidia=nv("530.30.02"), frameworks=(TORCH_CU128,))
    drv = [c for c in diff(a, b).changes if c.section == "nvidia"]
    assert drv and drv[0].severity == "major" and drv[0].kind == "changed"


def test_gpu_not_in_arch_list_is_critical() -> None:
    old_arch = replace(TORCH_CU128, arch_list=("sm_50", "sm_60", "sm_70", "sm_80", "sm_90"))
    a = Snapshot(nvidia=nv("580.1", H100), frameworks=(old_arch,))
    b = replace(a, nvidia=nv("580.1", RTX5090))
    c = only(diff(a, b))
    assert (c.section, c.severity) == ("nvidia.gpus", "critical")
    assert "no kernel image" in c.explanation and "CUDA 12.8 or newer" in c.explanation


def test_gpu_covered_via_ptx_is_not_critical() -> None:
    ptx = replace(TORCH_CU128, arch_list=("sm_80", "sm_90", "compute_90"))
    a = Snapshot(nvidia=nv("580.1", H100), frameworks=(ptx,))
    c = only(diff(a, replace(a, nvidia=nv("580.1", RTX5090))))
    # A newer architecture the build covers: gpu_model, as check rates it.
    assert c.severity == "info" and "newer architecture" in c.explanation


@pytest.mark.parametrize(("old", "new", "severity", "says"), [
    (H100, replace(RTX5090, memory_bytes=32 * 2**30), "major", "less memory"),
    (replace(H100, memory_bytes=80 * 2**30), GPU(index=0, name="NVIDIA A100-SXM4-80GB",
                                                compute_capability="8.0",
                                                memory_bytes=80 * 2**30), "major", "older"),
    (H100, GPU(index=0, name="NVIDIA H200", compute_capability="9.0"), "info", "same or a newer"),
])
def test_another_gpu_is_rated_as_check_rates_it(old: GPU, new: GPU, severity: str,
                                                says: str) -> None:
    h100 = replace(old, memory_bytes=old.memory_bytes or 80 * 2**30)
    c = only(diff(Snapshot(nvidia=nv("580.1", h100)), Snapshot(nvidia=nv("580.1", new))))
    assert (c.severity, c.scope) == (severity, "host") and says in c.explanation


def test_fewer_gpus_is_critical_as_in_check() -> None:
    c = only(diff(Snapshot(nvidia=nv("580.1", H100, replace(H100, index=1))),
                  Snapshot(nvidia=nv("580.1", H100))))
    assert (c.kind, c.severity) == ("removed", "critical")


def test_glibc_below_newest_manylinux_tag_is_critical() -> None:
    wheel = pkg("torch", "2.9.1", tags=("cp311-cp311-manylinux_2_28_x86_64",))
    a = snap(wheel, os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"))
    b = replace(a, os=OSInfo(system="Linux", arch="x86_64", glibc="2.26"))
    c = only(diff(a, b))
    assert (c.name, c.severity) == ("glibc", "critical")
    assert "torch" in c.explanation and "GLIBC_2.28" in c.explanation


def test_glibc_lower_but_sufficient_is_major() -> None:
    wheel = pkg("m", "1", tags=("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",))
    a = snap(wheel, os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"))
    b = replace(a, os=OSInfo(system="Linux", arch="x86_64", glibc="2.28"))
    assert only(diff(a, b)).severity == "major"


def test_glibc_that_is_no_version_is_reported_not_compared() -> None:
    wheel = pkg("m", "1", tags=("cp311-cp311-manylinux_2_28_x86_64",))
    a = snap(wheel, os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"))
    b = replace(a, os=OSInfo(system="Linux", arch="x86_64", glibc="2." + "9" * 5000))
    c = only(diff(a, b))
    assert (c.name, c.kind, c.severity) == ("glibc", "changed", "major")
    assert "not a glibc version" in c.explanation


def test_new_wheel_needing_newer_glibc_than_b_is_critical() -> None:
    osb = OSInfo(system="Linux", arch="x86_64", glibc="2.17")
    a = snap(os=osb)
    b = snap(pkg("m", "1", tags=("py3-none-manylinux_2_28_x86_64",)), os=osb)
    c = only(diff(a, b))
    assert (c.kind, c.severity) == ("added", "critical")


def test_second_cudnn_copy_is_flagged_and_cudnn_major_is_critical() -> None:
    pip_copy = LibraryCopy(library="cudnn", version="9.10.2", path="/v/nvidia/cudnn/lib",
                           found_via="pip:nvidia-cudnn-cu12")
    sys_copy = LibraryCopy(library="cudnn", version="8.9.7", path="/usr/lib/libcudnn.so.8",
                           found_via="system:libcudnn8")
    a = Snapshot(cuda=CudaInfo(libraries=(pip_copy,)))
    c = only(diff(a, Snapshot(cuda=CudaInfo(libraries=(pip_copy, sys_copy)))))
    assert (c.kind, c.severity) == ("added", "major")
    assert "second cudnn" in c.explanation
    b = Snapshot(cuda=CudaInfo(libraries=(replace(pip_copy, version="8.9.7"),)))
    assert only(diff(a, b)).severity == "critical"


def test_system_nvcc_beside_pip_wheel_torch_is_normal() -> None:
    a = Snapshot(cuda=CudaInfo(nvcc_version="12.4"), frameworks=(TORCH_CU128,))
    b = replace(a, cuda=CudaInfo(nvcc_version="13.0"))
    c = only(diff(a, b))
    assert c.severity == "info" and "normal" in c.explanation


def test_reproducibility_env_vars_are_flagged() -> None:
    d = diff(Snapshot(env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TERM_X": "a"}),
             Snapshot(env={"PYTHONHASHSEED": "0", "TERM_X": "b"}))
    sev = {c.name: (c.kind, c.severity) for c in d.changes}
    assert sev == {"CUBLAS_WORKSPACE_CONFIG": ("removed", "major"),
                   "PYTHONHASHSEED": ("added", "major"), "TERM_X": ("changed", "info")}


def test_nccl_change_and_cpu_flags_and_arch() -> None:
    nccl = replace(TORCH_CU128, nccl="2.21.5")
    d = diff(Snapshot(frameworks=(TORCH_CU128,),
                      cpu=CPUInfo(flags=("avx", "avx2", "avx512f")),
                      os=OSInfo(system="Linux", arch="x86_64")),
             Snapshot(frameworks=(nccl,), cpu=CPUInfo(flags=("avx", "avx2")),
                      os=OSInfo(system="Linux", arch="aarch64")))
    sev = {c.name: c.severity for c in d.changes}
    assert sev == {"torch.nccl": "major", "avx512f": "major", "arch": "critical"}


def test_conda_build_only_change_is_a_variant() -> None:
    a = Snapshot(conda=CondaEnv(prefix="/c", packages=(
        CondaPackage(name="pytorch", version="2.5.1", build="py3.11_cuda12.1_cudnn9_0"),)))
    b = Snapshot(conda=CondaEnv(prefix="/c", packages=(
        CondaPackage(name="pytorch", version="2.5.1", build="py3.11_cpu_0"),)))
    assert only(diff(a, b)).kind == "variant"


def test_failed_probe_is_reported() -> None:
    a = Snapshot(probes={"nvidia": ProbeStatus(status="ok")})
    b = Snapshot(probes={"nvidia": ProbeStatus(status="error", error="NVML timed out")})
    c = only(diff(a, b))
    assert c.section == "probes" and "NVML timed out" in c.explanation


# ---------------------------------------------------------------------------------------------
# Scope: host facts and environment facts


def test_every_change_says_whether_the_host_or_the_environment_holds_it() -> None:
    ldconfig = LibraryCopy(library="cudart", version="12.8.90", path="/usr/lib/libcudart.so.12",
                           found_via="ldconfig")
    wheel = LibraryCopy(library="cudnn", version="9.10.2", path="/v/nvidia/cudnn/lib",
                        found_via="pip:nvidia-cudnn-cu12")
    conda_copy = LibraryCopy(library="nccl", version="2.27.5", path="/c/lib/libnccl.so.2",
                             found_via="conda:nccl")
    a = snap(pkg("x", "1.0"), pkg("typer", "1.0", requires=("click<9",)), pkg("click", "8.0"),
             os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"),
             cpu=CPUInfo(model="EPYC", flags=("avx512f",)),
             nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(H100,)),
             cuda=CudaInfo(toolkit_version="12.8", nvcc_version="12.8",
                           libraries=(ldconfig, wheel, conda_copy)),
             frameworks=(TORCH_CU128,), env={"PYTHONHASHSEED": "0"},
             conda=CondaEnv(prefix="/c", packages=(
                 CondaPackage(name="nccl", version="2.27.5", build="h1"),)),
             probes={"nvidia": ProbeStatus(status="ok"), "python": ProbeStatus(status="ok")})
    b = snap(pkg("x", "2.0"), pkg("typer", "1.0", requires=("click<9",)), pkg("click", "9.0"),
             os=OSInfo(system="Linux", arch="x86_64", glibc="2.41"),
             cpu=CPUInfo(model="Xeon", flags=()),
             nvidia=NvidiaInfo(driver_version="580.160.01", gpus=(replace(H100, name="H200"),)),
             cuda=CudaInfo(toolkit_version="13.0", nvcc_version="13.0", libraries=(
                 replace(ldconfig, version="13.0.96"), replace(wheel, version="9.11.0"),
                 replace(conda_copy, version="2.28.3"))),
             frameworks=(replace(TORCH_CU128, version="2.9.2+cu128"),), env={"PYTHONHASHSEED": "1"},
             conda=CondaEnv(prefix="/c", packages=(
                 CondaPackage(name="nccl", version="2.28.3", build="h1"),)),
             probes={"nvidia": ProbeStatus(status="error", error="NVML timed out"),
                     "python": ProbeStatus(status="error", error="timed out")})
    got = {(c.section, c.name): c.scope for c in diff(a, b).changes}
    assert got == {
        ("os", "glibc"): "host", ("cpu", "model"): "host", ("cpu", "avx512f"): "host",
        ("nvidia", "driver"): "host", ("nvidia.gpus", "GPU0"): "host",
        ("cuda", "toolkit"): "host", ("cuda", "nvcc"): "host",
        ("cuda.libraries", "cudart (ldconfig)"): "host",
        # A CUDA library the environment brought (a wheel, a conda package) is the environment's.
        ("cuda.libraries", "cudnn (pip:nvidia-cudnn-cu12)"): "environment",
        ("cuda.libraries", "nccl (conda:nccl)"): "environment",
        ("python.packages", "x"): "environment", ("python.packages", "click"): "environment",
        ("python.requirements", "typer requires click<9"): "environment",
        ("conda.packages", "nccl"): "environment", ("frameworks", "torch"): "environment",
        ("env", "PYTHONHASHSEED"): "environment",
        # A failed probe takes its section's scope.
        ("probes", "nvidia"): "host", ("probes", "python"): "environment",
    }


@pytest.mark.parametrize(("via", "scope"), [
    ("ldconfig", "host"), ("cuda_home", "host"), ("system:libcudnn9-cuda-12", "host"),
    ("ld_library_path", "host"), ("pip:nvidia-nccl-cu12", "environment"),
    ("conda:cudnn", "environment"),
])
def test_a_cuda_library_copys_scope_is_how_it_was_found(via: str, scope: str) -> None:
    copy = LibraryCopy(library="cudnn", version="9.1.0", path="/x/libcudnn.so.9", found_via=via)
    c = only(diff(Snapshot(cuda=CudaInfo(libraries=(copy,))), Snapshot(cuda=CudaInfo())))
    assert (c.name, c.scope) == (f"cudnn ({via})", scope)


HOST_CUDART = LibraryCopy(library="cudart", version="13.0.96",
                          path="/usr/local/cuda-13.0/lib/libcudart.so.13", found_via="ldconfig")
HOST_CUDA = CudaInfo(toolkit_version="13.0.88", nvcc_version="13.0.88", libraries=(HOST_CUDART,))


def test_host_cuda_nothing_in_the_environment_uses_is_info() -> None:
    # A CPU-only venv captured on a machine with /usr/local/cuda, against its image.
    cpu_only = snap(*(pkg(n, "1.0") for n in ("requests", "tqdm", "pyyaml", "click")))
    d = diff(replace(cpu_only, cuda=HOST_CUDA), cpu_only)
    got = {c.name: (c.kind, c.severity, c.scope) for c in d.changes}
    assert got == {"toolkit": ("removed", "info", "host"), "nvcc": ("removed", "info", "host"),
                   "cudart (ldconfig)": ("removed", "info", "host")}
    assert not d.failed("minor")
    assert all("nothing in the environment uses CUDA" in c.explanation for c in d.changes)
    # Another version of the host's libraries is no news to it either.
    newer = CudaInfo(libraries=(replace(HOST_CUDART, version="12.8.90"),))
    assert only(diff(replace(cpu_only, cuda=CudaInfo(libraries=(HOST_CUDART,))),
                     replace(cpu_only, cuda=newer))).severity == "info"


@pytest.mark.parametrize("user", [
    pkg("cupy-cuda12x", "13.3.0"), pkg("nvidia-cublas-cu12", "12.8.4.1"),
    pkg("jax-cuda12-plugin", "0.4.38"), pkg("mylib", "1.0+cu124"),
])
def test_host_cuda_a_cuda_package_may_load_keeps_its_rule(user: Package) -> None:
    a = snap(user, cuda=HOST_CUDA)
    c = next(c for c in diff(a, replace(a, cuda=None)).changes if c.name == "cudart (ldconfig)")
    assert c.severity == "major" and "fails unless another copy" in c.explanation


def test_a_host_copy_removed_beside_the_environments_own_copy_is_info() -> None:
    wheel = LibraryCopy(library="cudart", version="12.8.90", path="/v/nvidia/cuda_runtime/lib",
                        found_via="pip:nvidia-cuda-runtime-cu12")
    a = snap(cuda=CudaInfo(libraries=(HOST_CUDART, wheel)), frameworks=(TORCH_CU128,))
    c = only(diff(a, replace(a, cuda=CudaInfo(libraries=(wheel,)))))
    assert (c.severity, c.scope) == ("info", "host")
    assert "brings its own cudart copy" in c.explanation
    # Its own copy going away is the environment's, and as serious as before.
    c = only(diff(a, replace(a, cuda=CudaInfo(libraries=(HOST_CUDART,)))))
    assert (c.severity, c.scope) == ("major", "environment")


def test_a_section_nobody_classified_is_the_environments() -> None:
    # A plugin's section (or a Change built by hand) gets its scope from its section.
    assert Change(section="infiniband", name="rate", kind="changed", severity="info",
                  old="1", new="2", explanation="").scope == "environment"
    assert Change(section="nvidia.gpus", name="GPU0", kind="removed", severity="major",
                  old="H100", new=None, explanation="").scope == "host"


def test_identical_snapshots_have_no_changes_and_order_is_by_severity() -> None:
    a = snap(pkg("x", "1.0", requested=True), pkg("numpy", "1.0", requested=True),
             env={"PYTHONHASHSEED": "1"})
    assert diff(a, a).changes == ()
    b = snap(pkg("x", "1.0.1", requested=True), pkg("numpy", "2.0", requested=True),
             env={"PYTHONHASHSEED": "2"})
    d = diff(a, b)
    assert [c.severity for c in d.changes] == ["major", "major", "info"]
    assert d.summary() == {"critical": 0, "major": 2, "minor": 0, "info": 1}
    assert d.failed("major") and not d.failed("critical")


# ---------------------------------------------------------------------------------------------
# The dependency graph: dependents, broken requirements, grouping


def req(name: str, version: str, *requires: str, **kw: object) -> Package:
    return pkg(name, version, requires=tuple(sorted(requires)), **kw)


TYPER = req("typer", "0.12.5", "click>=8.0.0", "rich<14", requested=True)


def test_a_requirement_the_change_broke_names_dependent_requirement_and_version() -> None:
    a = snap(TYPER, req("click", "8.1.7"), req("rich", "13.9.4"))
    b = snap(TYPER, req("click", "8.1.7"), req("rich", "15.0.0"))
    d = diff(a, b)
    broken = only(d, "python.requirements")
    assert (broken.kind, broken.severity) == ("broken", "major")
    assert (broken.name, broken.old, broken.new) == ("typer requires rich<14", "13.9.4", "15.0.0")
    assert "typer 0.12.5 requires rich<14, but rich 15.0.0 is installed (upgraded from 13.9.4)" \
        in broken.explanation
    assert "pip install rich==13.9.4 (A's version, which satisfies it)" in broken.explanation
    assert broken.dependents == ("typer",) and broken.requirement == "rich<14"
    rich = only(d, "python.packages")
    assert rich.dependents == ("typer",) and "Required by typer" in rich.explanation
    # Ranked above the plain version change of the same severity.
    assert d.changes.index(broken) < d.changes.index(rich) and rich.severity == "major"


def test_a_removed_requirement_is_critical_and_a_repaired_one_is_info() -> None:
    a = snap(TYPER, req("click", "8.1.7"), req("rich", "15.0.0"))
    b = snap(TYPER, req("rich", "13.9.4"))
    changes = {(c.section, c.kind): c for c in diff(a, b).changes}
    missing = changes[("python.requirements", "broken")]
    assert (missing.name, missing.severity, missing.new) == (
        "typer requires click>=8.0.0", "critical", None)
    assert "no longer installed (A had click 8.1.7)" in missing.explanation
    fixed = changes[("python.requirements", "fixed")]
    assert (fixed.name, fixed.severity) == ("typer requires rich<14", "info")
    removed = changes[("python.packages", "removed")]
    assert "Still required by typer" in removed.explanation


def test_a_dependent_upgraded_past_what_is_installed() -> None:
    a = snap(req("app", "1.0", "lib>=1", requested=True), req("lib", "1.5"))
    b = snap(req("app", "2.0", "lib>=2", requested=True), req("lib", "1.5"))
    broken = only(diff(a, b), "python.requirements")
    assert "app itself changed 1.0 -> 2.0" in broken.explanation
    assert "pip install 'lib>=2'" in broken.explanation and "pip install app==1.0" in \
        broken.explanation


def test_a_requirement_broken_in_both_is_not_news() -> None:
    a = snap(TYPER, req("click", "8.1.7"), req("rich", "14.1.0"))
    b = snap(TYPER, req("click", "8.1.7"), req("rich", "15.0.0"))
    assert [c.section for c in diff(a, b).changes] == ["python.packages"]


_NAMES = ["a", "b", "c", "d"]


@st.composite
def envs(draw: st.DrawFn) -> PythonEnv:
    names = draw(st.lists(st.sampled_from(_NAMES), unique=True))
    spec = st.sampled_from(["", ">=2", "<2", "==1"])
    return PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        pkg(n, draw(st.sampled_from(["1", "2", "3"])), requires=tuple(sorted(
            {f"{t}{draw(spec)}" for t in draw(st.lists(st.sampled_from(_NAMES), max_size=3))})))
        for n in names))


@settings(max_examples=300, deadline=None)
@given(envs(), envs())
def test_broken_and_fixed_equal_the_difference_of_the_full_pip_check_sets(
        pa: PythonEnv, pb: PythonEnv) -> None:
    """Only the requirements a change touched are judged; that must lose nothing."""
    before = {b.key for b in broken_requirements(pa)}
    after = {b.key for b in broken_requirements(pb)}
    installed_b = {p.name for p in pb.packages}
    d = diff(Snapshot(python=pa), Snapshot(python=pb))
    got = {(c.kind, c.dependents[0], c.requirement) for c in d.changes
           if c.section == "python.requirements"}
    want = ({("broken", k[0], k[2]) for k in after - before}
            | {("fixed", k[0], k[2]) for k in before - after if k[0] in installed_b})
    assert got == want


def _users(target: str, n: int) -> list[Package]:
    return [req(f"user{i:02d}", "1.0", target) for i in range(n)]


def test_severity_follows_how_far_a_major_change_reaches() -> None:
    # 20 installed packages depending on it (here through one direct user): one level up.
    chain = [req("direct", "1.0", "core"), *(req(f"u{i:02d}", "1.0", "direct") for i in range(19))]
    c = only(diff(snap(req("core", "1.0"), *chain), snap(req("core", "2.0"), *chain)))
    assert (c.severity, c.dependents, c.dependents_total) == ("critical", ("direct",), 20)
    assert "20 installed packages depend on it" in c.explanation
    assert "Required by direct (1 direct; 20 installed packages depend on it in all)" in \
        c.explanation
    fewer = chain[:19]
    c = only(diff(snap(req("core", "1.0"), *fewer), snap(req("core", "2.0"), *fewer)))
    assert (c.severity, c.dependents_total) == ("major", 19)


def test_a_leftover_nothing_requires_is_one_level_lower_unless_requested() -> None:
    c = only(diff(snap(req("left", "1.0")), snap(req("left", "2.0"))))
    assert c.severity == "minor" and "not installed on request" in c.explanation
    c = only(diff(snap(req("mine", "1.0", requested=True)),
                  snap(req("mine", "2.0", requested=True))))
    assert c.severity == "major" and "Nothing installed requires it" in c.explanation


FLASK = (req("flask", "3.0.0", "jinja2>=3.1.2", "werkzeug>=3.0.0", requested=True),
         req("werkzeug", "3.0.1", "markupsafe>=2.1.1"), req("jinja2", "3.1.2", "markupsafe>=2.0"),
         req("markupsafe", "2.1.5"), req("itsdangerous", "2.2.0"))


def test_a_removal_and_its_exclusive_tail_are_one_change() -> None:
    keeps_markupsafe = req("app", "1.0", "markupsafe", requested=True)
    a = snap(*FLASK, keeps_markupsafe)
    b = snap(req("markupsafe", "2.1.5"), req("itsdangerous", "2.2.0"), keeps_markupsafe)
    d = diff(a, b)
    by = {c.name: c for c in d.changes}
    assert set(by) == {"flask", "werkzeug", "jinja2"}  # markupsafe is still needed and stays
    # Nothing installed required flask: a top-level package, removed_leaf (minor).
    assert (by["flask"].severity, by["flask"].caused_by) == ("minor", None)
    assert "2 dependencies nothing else needs went with it: jinja2, werkzeug" in \
        by["flask"].explanation
    for tail in ("werkzeug", "jinja2"):
        assert (by[tail].severity, by[tail].caused_by) == ("info", "flask")
    assert d.summary() == {"critical": 0, "major": 0, "minor": 1, "info": 2}


def test_a_dependency_still_needed_elsewhere_is_its_own_change() -> None:
    a = snap(*FLASK, req("other", "1.0", "werkzeug", requested=True))
    b = snap(req("werkzeug", "3.0.1", "markupsafe>=2.1.1"), req("markupsafe", "2.1.5"),
             req("itsdangerous", "2.2.0"), req("other", "1.0", "werkzeug", requested=True))
    by = {c.name: c for c in diff(a, b).changes}
    assert by["jinja2"].caused_by == "flask" and "werkzeug" not in by


def test_an_upgrade_that_pulled_new_dependencies_groups_them() -> None:
    a = snap(req("rich", "13.9.4", "pygments", requested=True), req("pygments", "2.18.0"))
    b = snap(req("rich", "14.0.0", "newdep>=1", "pygments", requested=True),
             req("newdep", "1.0", "deeper"), req("deeper", "0.1"), req("pygments", "2.18.0"),
             req("unrelated", "1.0", requested=True))
    by = {c.name: c for c in diff(a, b).changes}
    assert by["newdep"].caused_by == "rich" and by["deeper"].caused_by == "rich"
    assert by["unrelated"].caused_by is None
    assert "It pulled in 2 new dependencies: deeper, newdep" in by["rich"].explanation
    assert "pulled in by rich 14.0.0" in by["newdep"].explanation


def test_a_pulled_in_package_worse_than_its_cause_stays_a_headline() -> None:
    osb = OSInfo(system="Linux", arch="x86_64", glibc="2.17")
    a = snap(req("rich", "13.9.4", requested=True), os=osb)
    b = snap(req("rich", "13.9.5", "newdep", requested=True),
             req("newdep", "1.0", tags=("py3-none-manylinux_2_28_x86_64",)), os=osb)
    by = {c.name: c for c in diff(a, b).changes}
    assert by["newdep"].severity == "critical" and by["newdep"].caused_by is None


def test_ignore_leaves_out_packages_and_env_vars_by_pattern() -> None:
    ignore = Ignore(packages=("nvidia-*", "pip"), env=("CI_*",))
    a = snap(req("nvidia-cublas-cu12", "12.1"), req("pip", "24.0"), req("x", "1.0"),
             env={"CI_JOB": "1", "PYTHONHASHSEED": "0"})
    b = snap(req("nvidia-cublas-cu12", "12.8"), req("pip", "25.0"), req("x", "2.0"),
             env={"CI_JOB": "2", "PYTHONHASHSEED": "1"})
    assert {c.name for c in diff(a, b, ignore=ignore).changes} == {"x", "PYTHONHASHSEED"}
    assert len(diff(a, b).changes) == 5
    # A requirement change goes with an ignored package on either end of it.
    a = snap(TYPER, req("click", "8.1.7"), req("rich", "13.9.4"))
    b = snap(TYPER, req("click", "8.1.7"), req("rich", "15.0.0"))
    assert diff(a, b, ignore=Ignore(packages=("rich",))).changes == ()
    assert [c.section for c in diff(a, b, ignore=Ignore(packages=("typer",))).changes] == [
        "python.packages"]


def test_a_long_tail_is_followed_to_its_head_in_one_pass() -> None:
    chain = [req("top", "1.0", "t0000", requested=True),
             *(req(f"t{i:04d}", "1.0", f"t{i + 1:04d}") for i in range(2999)), req("t2999", "1.0")]
    d = diff(snap(*chain), snap())
    causes = {c.name: c.caused_by for c in d.changes}
    assert causes.pop("top") is None
    assert set(causes.values()) == {"top"} and len(causes) == 3000
    # A cycle of leftovers with nothing above it explains nothing: each is its own change.
    loop = [req("x", "1.0", "y"), req("y", "1.0", "x")]
    assert {c.caused_by for c in diff(snap(*loop), snap()).changes} == {None}


def test_a_removal_nothing_required_is_a_leaf_one_others_required_keeps_its_class() -> None:
    a = snap(pkg("black", "24.10.0", requested=True), req("app", "1.0", "lib", requested=True),
             pkg("lib", "2.0"))
    d = diff(a, snap(req("app", "1.0", "lib", requested=True)))
    sev = {c.name: c.severity for c in d.changes}
    assert sev == {"black": "minor", "lib": "major", "app requires lib": "critical"}
    assert "Nothing installed required it" in next(
        c.explanation for c in d.changes if c.name == "black")
    # Never worse than the class's own removal level (pip removed: minor already).
    assert only(diff(snap(pkg("pip", "24.0")), snap())).severity == "minor"
