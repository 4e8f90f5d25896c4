"""Golden real-world failures derived from a real capture (moved from the unit tier: it
builds a virtual environment with wheels from the package index).

The scenarios start from a REAL capture: a virtual environment this test builds with real
wheels from PyPI (tests/support.PYPI_PINS), captured by envsnap.capture, plus the NVIDIA
section of a recorded H100 machine (tests/data/gpu/h100-ubuntu24, replayed by
envsnap.testing.gpu_fixture_host through the real nvidia probe). Each failure is then derived
with dataclasses.replace, exactly as it happens in the field.

Regenerate the golden files after an intended change of wording or format with

    ENVSNAP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_report_real.py

and review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import support
from goldenfiles import EXT, GOLDEN, assert_golden

from envsnap import capture
from envsnap.drift import diff
from envsnap.fleet import fleet_report
from envsnap.gate import check
from envsnap.report import render_check, render_diff, render_fleet
from envsnap.snapshot import (
    GPU,
    CudaInfo,
    LibraryCopy,
    NvidiaInfo,
    Package,
    PythonEnv,
    Snapshot,
)
from envsnap.testing import gpu_fixture_host, torch_framework

pytestmark = pytest.mark.slow

GPU_FIXTURE = support.REPO / "tests" / "data" / "gpu" / "h100-ubuntu24"


# ---------------------------------------------------------------------------------------------
# The base: a real capture


# torch 2.9.1 for CUDA 12.8 as `torch.cuda.get_arch_list()` reports it
# (https://github.com/moi90/pytorch_compute_capabilities, shipped in compat/pytorch.toml).
TORCH = torch_framework()
PIP_CUDNN = LibraryCopy(library="cudnn", version="9.10.2",
                        path="lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
                        found_via="pip:nvidia-cudnn-cu12", soname="libcudnn.so.9")
# The ML stack the scenarios need, as the python probe records it for the real wheels.
STACK = (
    Package(name="torch", version="2.9.1+cu128", installer="pip", native=True,
            requires=("nvidia-cudnn-cu12", "numpy"), tags=("cp311-cp311-manylinux_2_28_x86_64",)),
    Package(name="nvidia-cudnn-cu12", version="9.10.2.21", installer="pip", native=True,
            tags=("py3-none-manylinux_2_27_x86_64",)),
    Package(name="numpy", version="1.26.4", installer="pip", native=True,
            tags=("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64")),
    Package(name="scipy", version="1.11.4", installer="pip", native=True, requires=("numpy",),
            tags=("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64")),
    Package(name="pandas", version="2.1.4", installer="pip", native=True,
            requires=("numpy", "python-dateutil"),
            tags=("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64")),
    # pandas' own requirement, on the six the real venv has: the stack is whole (pip check clean).
    Package(name="python-dateutil", version="2.9.0.post0", installer="pip",
            requires=("six>=1.5",), tags=("py2.py3-none-any",)),
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Snapshot:
    root = tmp_path_factory.mktemp("golden-venv")
    py = support.make_venv(root / "venv")
    support.pip_install(py, "--isolated", "--no-index", "--find-links", pypi_wheelhouse,
                        *support.PYPI_PINS)
    real = capture(python=str(py), only=("python", "os", "cpu", "env"))
    assert real.python is not None, f"python probe found nothing: {real.probes}"
    assert {p.name for p in real.python.packages} >= {"six", "attrs"}
    gpu_host = capture(host=gpu_fixture_host(GPU_FIXTURE), only=("nvidia",))
    assert gpu_host.nvidia is not None, f"nvidia probe on the recorded H100: {gpu_host.probes}"
    assert real.os is not None
    packages = tuple(p for p in real.python.packages if p.name not in {s.name for s in STACK})
    return replace(
        real,
        python=replace(real.python, packages=tuple(sorted(packages + STACK,
                                                          key=lambda p: p.name))),
        # The recorded machine runs Ubuntu 24.04 (glibc 2.39); the values this host's os probe
        # found would otherwise leak into the golden files.
        os=replace(real.os, glibc="2.39", libstdcxx="3.4.33", distro_id="ubuntu",
                   distro_version="24.04", pretty_name="Ubuntu 24.04.3 LTS"),
        nvidia=gpu_host.nvidia,
        cuda=CudaInfo(libraries=(PIP_CUDNN,)),
        frameworks=(TORCH,),
        env={},
    )


def _python(s: Snapshot) -> PythonEnv:
    assert s.python is not None
    return s.python


def _nvidia(s: Snapshot) -> NvidiaInfo:
    assert s.nvidia is not None
    return s.nvidia


def driver_470(s: Snapshot) -> Snapshot:
    """lllyasviel/Fooocus#1313: driver 470 (CUDA 11.4) under a CUDA 12 torch."""
    return replace(s, nvidia=replace(_nvidia(s), driver_version="470.256.02",
                                     kernel_module_version="470.256.02",
                                     cuda_driver_version="11.4"))


def rtx5090_sm90_build(s: Snapshot) -> tuple[Snapshot, Snapshot]:
    """An RTX 5090 (sm_120) meets a torch build whose arch list stops at sm_90 (cu126)."""
    old = replace(TORCH, version="2.6.0+cu126", variant="cu126", cuda="12.6",
                  arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"))
    pkgs = tuple(replace(p, version="2.6.0+cu126") if p.name == "torch" else p
                 for p in _python(s).packages)
    a = replace(s, frameworks=(old,), python=replace(_python(s), packages=pkgs))
    gpu: GPU = replace(_nvidia(s).gpus[0], name="NVIDIA GeForce RTX 5090",
                       compute_capability="12.0", memory_bytes=34190917632)
    return a, replace(a, nvidia=replace(_nvidia(s), gpus=(gpu,)))


def glibc_226(s: Snapshot) -> Snapshot:
    """pytorch/pytorch#123649: a glibc 2.26 host (Amazon Linux 2) and manylinux_2_28 wheels."""
    assert s.os is not None
    return replace(s, os=replace(s.os, glibc="2.26", distro_id="amzn", distro_version="2"))


def numpy_2(s: Snapshot) -> Snapshot:
    """jupyter/notebook#7522: numpy 1 -> 2 under packages compiled against numpy 1."""
    pkgs = tuple(replace(p, version="2.1.3") if p.name == "numpy" else p
                 for p in _python(s).packages)
    return replace(s, python=replace(_python(s), packages=pkgs))


def second_cudnn(s: Snapshot) -> Snapshot:
    """replicate/cog#1430: a system cuDNN appears beside torch's pip cuDNN."""
    system = LibraryCopy(library="cudnn", version="8.9.7",
                         path="/usr/lib/x86_64-linux-gnu/libcudnn.so.8",
                         found_via="system:libcudnn8", soname="libcudnn.so.8")
    return replace(s, cuda=CudaInfo(libraries=(PIP_CUDNN, system)))


def _pair(make: Callable[[Snapshot], Snapshot]) -> Callable[[Snapshot], tuple[Snapshot, Snapshot]]:
    return lambda s: (s, make(s))


SCENARIOS: dict[str, tuple[Callable[[Snapshot], tuple[Snapshot, Snapshot]], str, str]] = {
    # name: (derive (A, B), the section of the change that must be critical/major, severity)
    "driver-470-cuda12-torch": (_pair(driver_470), "nvidia", "critical"),
    "rtx5090-sm120-arch-list-sm90": (rtx5090_sm90_build, "nvidia.gpus", "critical"),
    "glibc-2.26-manylinux_2_28": (_pair(glibc_226), "os", "critical"),
    "numpy-1-to-2-compiled-dependents": (_pair(numpy_2), "python.packages", "critical"),
    "second-cudnn-copy": (_pair(second_cudnn), "cuda.libraries", "major"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_golden_diff(base: Snapshot, scenario: str, fmt: str) -> None:
    derive, section, severity = SCENARIOS[scenario]
    a, b = derive(base)
    d = diff(a, b)
    worst = d.changes[0]
    assert (worst.section, worst.severity) == (section, severity), d.changes
    assert worst.explanation.endswith(".")
    out = render_diff(d, fmt, a="good.toml", b="bad.toml")
    assert_golden(GOLDEN / "diff" / f"{scenario}.{EXT[fmt]}", out)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_golden_check(base: Snapshot, scenario: str, fmt: str) -> None:
    derive, _, _ = SCENARIOS[scenario]
    expected, live = derive(base)
    r = check(expected, live)
    out = render_check(r, fmt, snapshot="train.toml", fail_on="critical")
    assert_golden(GOLDEN / "check" / f"{scenario}.{EXT[fmt]}", out)


def test_check_verdicts_for_the_scenarios(base: Snapshot) -> None:
    verdict = {}
    for name, (derive, _, _) in SCENARIOS.items():
        expected, live = derive(base)
        verdict[name] = check(expected, live).failed("critical")
    # A second cuDNN copy is a diff finding; check looks at what is installed per the snapshot.
    assert verdict == {"driver-470-cuda12-torch": True, "rtx5090-sm120-arch-list-sm90": True,
                       "glibc-2.26-manylinux_2_28": True,
                       "numpy-1-to-2-compiled-dependents": True, "second-cudnn-copy": False}


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_golden_fleet(base: Snapshot, fmt: str) -> None:
    """'12 of 64 nodes: NCCL 2.21.5 instead of 2.27.5', and one node with an old driver."""
    old_nccl = replace(base, frameworks=(replace(TORCH, nccl="2.21.5"),))
    nodes = []
    for i in range(64):
        snap = old_nccl if i % 16 < 3 else base
        if i == 63:
            snap = driver_470(snap)
        nodes.append((f"node-{i:02d}", snap))
    f = fleet_report("golden.toml", base, nodes)
    assert [len(g.nodes) for g in f.groups] == [12, 1] and len(f.agree) == 51
    assert_golden(GOLDEN / "fleet" / f"nccl-and-driver.{EXT[fmt]}", render_fleet(f, fmt))
