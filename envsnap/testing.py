"""Fakes for tests (ours and plugin authors'): a Host that replays recorded outputs."""

from __future__ import annotations

import io
import json
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from .changes import Change
from .errors import CommandNotFound, FileTooLarge, HostError
from .host import READ_LIMIT, RunResult, SystemInfo
from .probes.nvidia import NVIDIA_SMI_QUERY
from .sections.base import DiffContext, Section
from .snapshot import (
    GPU,
    CondaEnv,
    CondaPackage,
    CPUInfo,
    CudaInfo,
    Framework,
    NvidiaInfo,
    OSInfo,
    Package,
    PythonEnv,
    Snapshot,
)

__all__ = [
    "NVIDIA_SMI_QUERY",
    "FakeHost",
    "conda_snapshot",
    "cpu_venv_snapshot",
    "gpu_fixture_host",
    "h100_gpu",
    "h100_snapshot",
    "h200_gpu",
    "h200_snapshot",
    "python_env",
    "section_diff",
    "torch_framework",
]

_Record = TypeVar("_Record", PythonEnv, Snapshot, GPU, Framework)

CommandHandler = RunResult | BaseException | Callable[[Sequence[str]], RunResult]

class FakeHost:
    """A Host whose files, commands, environment and NVML values are given up front.

    ``commands`` maps a program's base name to a RunResult, an exception to raise (for
    example ``CommandTimeout``) or a callable taking argv. Unknown programs raise
    CommandNotFound, as a missing binary does on a real machine.
    """

    def __init__(
        self,
        *,
        files: Mapping[str, bytes | str] | None = None,
        commands: Mapping[str, CommandHandler] | None = None,
        environ: Mapping[str, str] | None = None,
        nvml: Mapping[str, Any] | BaseException | None = None,
        system: SystemInfo | None = None,
        links: Mapping[str, str] | None = None,
    ) -> None:
        self.files = {
            k: v.encode("utf-8") if isinstance(v, str) else v for k, v in (files or {}).items()
        }
        self.commands = dict(commands or {})
        self._environ = dict(environ or {})
        self._nvml = nvml
        self._system = system or SystemInfo(
            hostname="fakehost",
            system="Linux",
            kernel="6.8.0-fake",
            machine="x86_64",
            glibc="2.39",
            logical_cores=8,
            usable_cores=8,
            memory_bytes=64 * 2**30,
        )
        self.links = dict(links or {})
        self.calls: list[tuple[str, ...]] = []

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: str | None = None,
    ) -> RunResult:
        self.calls.append(tuple(argv))
        handler = self.commands.get(posixpath.basename(argv[0]))
        if handler is None:
            raise CommandNotFound(f"{argv[0]}: not found")
        if isinstance(handler, BaseException):
            raise handler
        if isinstance(handler, RunResult):
            return handler
        return handler(argv)

    def read_bytes(self, path: str, *, limit: int = READ_LIMIT) -> bytes | None:
        data = self.files.get(posixpath.normpath(path))
        if data is not None and len(data) > limit:
            raise FileTooLarge(f"{path}: larger than {limit} bytes")
        return data

    def open_binary(self, path: str) -> tuple[BinaryIO, str] | None:
        data = self.files.get(posixpath.normpath(path))
        return None if data is None else (io.BytesIO(data), self.realpath(path))

    def listdir(self, path: str) -> list[str]:
        prefix = posixpath.normpath(path).rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in self.files if p.startswith(prefix)}
        names |= {p[len(prefix):].split("/", 1)[0] for p in self.links if p.startswith(prefix)}
        return sorted(names)

    def realpath(self, path: str) -> str:
        path = posixpath.normpath(path)
        return self.links.get(path, path)

    def is_dir(self, path: str) -> bool:
        return bool(self.listdir(path))

    def is_file(self, path: str) -> bool:
        return posixpath.normpath(path) in self.files

    def which(self, name: str) -> str | None:
        if "/" in name:  # a path: found when it names a file or a command this host runs
            known = posixpath.normpath(name) in self.files or posixpath.basename(name) in self.commands
            return name if known else None
        return f"/usr/bin/{name}" if name in self.commands else None

    def system_info(self) -> SystemInfo:
        return self._system

    def nvml(self) -> dict[str, Any]:
        if self._nvml is None:
            raise HostError("NVML unavailable: NVML Shared Library Not Found")
        if isinstance(self._nvml, BaseException):
            raise self._nvml
        copy: dict[str, Any] = json.loads(json.dumps(self._nvml))  # as fresh as a real read
        return copy


def gpu_fixture_host(directory: str | os.PathLike[str], **overrides: Any) -> FakeHost:
    """A FakeHost replaying one recorded GPU machine (a folder laid out like
    ``tests/data/gpu/h100-ubuntu24``: nvml-values.json, nvidia-smi-query-gpu.csv,
    proc-driver-nvidia-version.txt, nvcc-version.txt, os-release)."""
    d = Path(directory)

    def text(name: str) -> str | None:
        p = d / name
        return p.read_text(encoding="utf-8") if p.exists() else None

    files: dict[str, bytes | str] = {}
    if (proc := text("proc-driver-nvidia-version.txt")) is not None:
        files["/proc/driver/nvidia/version"] = proc
    if (osr := text("os-release")) is not None:
        files["/etc/os-release"] = osr
    commands: dict[str, CommandHandler] = {}
    smi = text("nvidia-smi-query-gpu.csv")
    if smi is not None:
        def nvidia_smi(argv: Sequence[str]) -> RunResult:
            if tuple(argv[1:]) == NVIDIA_SMI_QUERY:
                return RunResult(returncode=0, stdout=smi)
            return RunResult(returncode=2, stdout="", stderr="unrecorded nvidia-smi arguments")

        commands["nvidia-smi"] = nvidia_smi
    if (nvcc := text("nvcc-version.txt")) is not None:
        commands["nvcc"] = RunResult(returncode=0, stdout=nvcc)
    nvml_text = text("nvml-values.json")
    kwargs: dict[str, Any] = {
        "files": files,
        "commands": commands,
        "nvml": json.loads(nvml_text) if nvml_text else None,
    }
    for key, value in overrides.items():
        if key in ("files", "commands") and isinstance(value, Mapping):
            kwargs[key] = {**kwargs[key], **value}
        else:
            kwargs[key] = value
    return FakeHost(**kwargs)


# ---------------------------------------------------------------------------------------------
# Snapshot factories: the records a real capture writes, for tests of anything that takes a
# Snapshot (diff, check, lock, a plugin's renderer). Each is a plain frozen record, so a test
# changes what it is about with keyword overrides or ``dataclasses.replace`` and leaves the
# rest as recorded. The values are written out here rather than read from recorded files:
# the wheel ships envsnap/ but not the source tree's tests/data, and a factory must work in
# any user's test suite. envsnap's own tests prove each factory equals what the real probes
# read from the recorded files (tests/unit/test_testing.py), so the two cannot drift apart.


def _replaced(record: _Record, overrides: Mapping[str, Any]) -> _Record:
    return replace(record, **overrides) if overrides else record


def python_env(*packages: Package, **overrides: Any) -> PythonEnv:
    """A CPython 3.11 virtual environment on x86_64 Linux holding ``packages``, as the python
    probe records one (``sys.implementation.name`` is ``cpython``). Any PythonEnv field can be
    overridden::

        env = python_env(Package(name="numpy", version="2.1.3"), version="3.12.8")
    """
    prefix = "/home/user/venv"
    env = PythonEnv(version="3.11.7", implementation="cpython", abi_tag="cp311",
                    platform_tag="linux_x86_64", executable=f"{prefix}/bin/python",
                    prefix=prefix, base_prefix="/usr", env_kind="venv",
                    site_packages=(f"{prefix}/lib/python3.11/site-packages",),
                    packages=packages)
    return _replaced(env, overrides)


def cpu_venv_snapshot(*packages: Package, **overrides: Any) -> Snapshot:
    """A CPU-only machine (Ubuntu 24.04, glibc 2.39, x86_64 with AVX2) running a venv that
    holds ``packages``: no GPU, no CUDA. Any Snapshot field can be overridden, ``python``
    included (then pass no packages)::

        from envsnap.drift import diff
        from envsnap.snapshot import Package
        from envsnap.testing import cpu_venv_snapshot

        def test_an_upgrade_is_one_change() -> None:
            before = cpu_venv_snapshot(Package(name="six", version="1.16.0"))
            after = cpu_venv_snapshot(Package(name="six", version="1.17.0"))
            assert [c.name for c in diff(before, after).changes] == ["six"]
    """
    if packages and "python" in overrides:
        raise TypeError("cpu_venv_snapshot: give packages or python=, not both")
    snapshot = Snapshot(
        python=python_env(*packages),
        os=OSInfo(system="Linux", arch="x86_64", distro_id="ubuntu", distro_version="24.04",
                  pretty_name="Ubuntu 24.04.3 LTS", glibc="2.39"),
        cpu=CPUInfo(logical_cores=8, usable_cores=8, flags=("avx", "avx2", "fma"),
                    memory_bytes=64 * 2**30),
    )
    return _replaced(snapshot, overrides)


# The recorded GPU machines: one NVIDIA H100 80GB HBM3 and one NVIDIA H200, driver
# 580.159.04, CUDA 13.0 toolkit (nvcc 13.0.88), Ubuntu 24.04.3 image, recorded on 2026-11-26
# (envsnap's source tree: tests/data/gpu/h100-ubuntu24 and h200-ubuntu24, whose README.md
# says which command printed which file). GPU values are NVML's (nvml-values.json); serial
# and UUID were replaced by made-up values of the same shape when recorded.


def h100_gpu(**overrides: Any) -> GPU:
    """The recorded NVIDIA H100 80GB HBM3 (sm_90) as the nvidia probe records it from NVML;
    ``h100_gpu(index=3, uuid=None)`` for another of the same model."""
    gpu = GPU(index=0, name="NVIDIA H100 80GB HBM3", uuid="GPU-5a1e0000-1111-2222-3333-444444444444",
              memory_bytes=85520809984, compute_capability="9.0", mig_mode=False,
              pci_bus_id="00000000:00:06.0", vbios="96.00.DA.00.0C", persistence_mode=True)
    return _replaced(gpu, overrides)


def h200_gpu(**overrides: Any) -> GPU:
    """The recorded NVIDIA H200 (sm_90, 141 GiB) as the nvidia probe records it from NVML."""
    gpu = GPU(index=0, name="NVIDIA H200", uuid="GPU-5a1e0000-5555-6666-7777-888888888888",
              memory_bytes=150754820096, compute_capability="9.0", mig_mode=False,
              pci_bus_id="00000000:00:06.0", vbios="96.00.A5.00.1A", persistence_mode=True)
    return _replaced(gpu, overrides)


def _gpu_machine(gpu: GPU, overrides: Mapping[str, Any]) -> Snapshot:
    snapshot = Snapshot(
        # /etc/os-release; the glibc is Ubuntu 24.04's own (2.39).
        os=OSInfo(system="Linux", arch="x86_64", distro_id="ubuntu", distro_version="24.04",
                  pretty_name="Ubuntu 24.04.3 LTS", glibc="2.39"),
        # NVML's driver, CUDA driver (13000 -> "13.0") and NVML versions; the kernel module's
        # from /proc/driver/nvidia/version.
        nvidia=NvidiaInfo(driver_version="580.159.04", kernel_module_version="580.159.04",
                          cuda_driver_version="13.0", nvml_version="13.580.159.04", gpus=(gpu,)),
        # `nvcc --version`: "Cuda compilation tools, release 13.0, V13.0.88", nvcc in /usr/bin.
        cuda=CudaInfo(toolkit_version="13.0.88", toolkit_path="/usr", toolkit_found_via="nvcc",
                      nvcc_version="13.0.88"),
    )
    return _replaced(snapshot, overrides)


def h100_snapshot(**overrides: Any) -> Snapshot:
    """The recorded H100 machine's host sections (os, nvidia, cuda) as capture writes them;
    no Python environment and no framework until a test adds them::

        from envsnap.gate import check
        from envsnap.testing import h100_snapshot, h200_snapshot, torch_framework

        def test_an_h200_runs_what_an_h100_built() -> None:
            trained = h100_snapshot(frameworks=(torch_framework(),))
            serving = h200_snapshot(frameworks=(torch_framework(),))
            assert not check(trained, serving, host_only=True).failed("major")
    """
    return _gpu_machine(h100_gpu(), overrides)


def h200_snapshot(**overrides: Any) -> Snapshot:
    """The recorded H200 machine's host sections (os, nvidia, cuda), like h100_snapshot."""
    return _gpu_machine(h200_gpu(), overrides)


def torch_framework(**overrides: Any) -> Framework:
    """torch 2.9.1 for CUDA 12.8 as PyTorch publishes it: the arch list
    ``torch.cuda.get_arch_list()`` reports (envsnap/compat/pytorch.toml, "2.9/cu128"), and
    the cuDNN and NCCL its wheel requires (nvidia-cudnn-cu12==9.10.2.21,
    nvidia-nccl-cu12==2.27.5). ``torch_framework(arch_list=("sm_80",))`` for a narrower build."""
    torch = Framework(name="torch", version="2.9.1+cu128", variant="cu128", cuda="12.8",
                      cudnn="9.10.2", nccl="2.27.5",
                      arch_list=("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"))
    return _replaced(torch, overrides)


# The recorded conda records (envsnap's source tree: tests/data/conda-meta, byte-exact copies of
# conda/conda's test data at commit 0f64223fb8da4328457a69fe6483959dbb783152, whose SOURCE.md
# lists each file): a conda-forge free-threaded Python 3.13 environment (osx-arm64) with pip,
# and two older `defaults` records (numpy 1.15.1, six 1.11.0) from another environment.
_CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
_PKGS_MAIN = "https://repo.anaconda.com/pkgs/main"
_CONDA_PACKAGES = (
    CondaPackage(name="numpy", version="1.15.1", build="py36had7ef94_0", channel="pkgs/main",
                 subdir="osx-64", url=f"{_PKGS_MAIN}/osx-64/numpy-1.15.1-py36had7ef94_0.tar.bz2",
                 md5="53f0204756123cbe9acef5710dce7096", requested_spec="numpy"),
    CondaPackage(name="openssl", version="3.4.1", build="h81ee809_0", channel="conda-forge",
                 subdir="osx-arm64", url=f"{_CONDA_FORGE}/osx-arm64/openssl-3.4.1-h81ee809_0.conda",
                 md5="75f9f0c7b1740017e2db83a53ab9a28e",
                 sha256="4f8e2389e1b711b44182a075516d02c80fa7a3a7e25a71ff1b5ace9eae57a17a"),
    CondaPackage(name="pip", version="25.0.1", build="pyh145f28c_0", channel="conda-forge",
                 subdir="noarch", url=f"{_CONDA_FORGE}/noarch/pip-25.0.1-pyh145f28c_0.conda",
                 md5="9ba21d75dc722c29827988a575a65707",
                 sha256="b1beb97b230321fc2ae692bd631cd65530c59686151af9d11aaa16df815f9ee8",
                 requested_spec="pip", noarch="python"),
    CondaPackage(name="python", version="3.13.2", build="hfd29fff_1_cp313t", build_number=1,
                 channel="conda-forge", subdir="osx-arm64",
                 url=f"{_CONDA_FORGE}/osx-arm64/python-3.13.2-hfd29fff_1_cp313t.conda",
                 md5="9d0ae3f3e43c192a992827c0abffe284",
                 sha256="a64466b8f65b77604c3c87092c65d9e51e7db44b11eaa6c469894f0b88b1af5a",
                 requested_spec="python=3.13"),
    CondaPackage(name="python_abi", version="3.13", build="5_cp313t", build_number=5,
                 channel="conda-forge", subdir="osx-arm64",
                 url=f"{_CONDA_FORGE}/osx-arm64/python_abi-3.13-5_cp313t.conda",
                 md5="24a9a05eba65586da53ad7b56a06dc02",
                 sha256="2165466ff175e1890b66d079d64449a1b6dd9873fb0f5e977839ccc4639b813b",
                 requested_spec="python_abi[build=*_cp313t]"),
    CondaPackage(name="six", version="1.11.0", build="py36_1", build_number=1, channel="pkgs/main",
                 subdir="osx-64", url=f"{_PKGS_MAIN}/osx-64/six-1.11.0-py36_1.tar.bz2",
                 md5="f2011bae36776142829b5eb6183c1e29"),
)


def conda_snapshot(prefix: str = "/opt/conda/envs/ft", **overrides: Any) -> Snapshot:
    """A conda environment at ``prefix`` as the conda probe reads the recorded conda-meta
    records (channels shortened to ``conda-forge`` / ``pkgs/main``, the history's requested
    specs), with its Python 3.13t environment, where conda owns pip. Any Snapshot field can be
    overridden::

        snap = conda_snapshot()
        assert snap.conda is not None and snap.conda.requested_specs[0] == "pip"
    """
    site = f"{prefix}/lib/python3.13t/site-packages"
    snapshot = Snapshot(
        python=PythonEnv(version="3.13.2", implementation="cpython", abi_tag="cp313t",
                         executable=f"{prefix}/bin/python", prefix=prefix, base_prefix=prefix,
                         env_kind="conda", site_packages=(site,),
                         packages=(Package(name="pip", version="25.0.1", installer="conda",
                                           owner="conda"),)),
        conda=CondaEnv(prefix=prefix, packages=_CONDA_PACKAGES,
                       requested_specs=("pip", "python=3.13", "python_abi[build=*_cp313t]")),
        os=OSInfo(system="Darwin", arch="arm64"),
    )
    return _replaced(snapshot, overrides)


def section_diff(section: Section, a: Snapshot, b: Snapshot) -> list[Change]:
    """The changes one section's diff rule finds between ``a`` and ``b``, on its own (no other
    section, no ignore list): how the project tests each section, and how a section of your
    own (README, "Architecture") can be tested::

        from envsnap.sections.cpu import SECTION
        changes = section_diff(SECTION, cpu_venv_snapshot(), cpu_venv_snapshot())
        assert changes == []
    """
    out: list[Change] = []
    if section.diff is not None:
        section.diff(a, b, out, DiffContext())
    return out
