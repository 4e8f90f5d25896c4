"""The Host seam: the only code that runs subprocesses, reads /proc or talks to NVML."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .errors import CommandNotFound, CommandTimeout, HostError
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemInfo:
    """What the kernel and libc say about this process's machine."""

    hostname: str | None
    system: str  # Linux, Darwin, Windows
    kernel: str | None
    machine: str  # x86_64, aarch64
    glibc: str | None
    logical_cores: int | None
    usable_cores: int | None
    memory_bytes: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


class Host(Protocol):
    """Everything a probe may ask of a machine. Tests pass ``envsnap.testing.FakeHost``."""

    @property
    def environ(self) -> Mapping[str, str]: ...

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: str | None = None,
    ) -> RunResult:
        """Run a command without a shell. Raises CommandNotFound or CommandTimeout."""
        ...

    def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist or is not a readable file."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Entry names (sorted), or [] when the directory does not exist."""
        ...

    def realpath(self, path: str) -> str: ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def which(self, name: str) -> str | None: ...

    def system_info(self) -> SystemInfo: ...

    def inspect_python(self, python: str, *, timeout: float) -> dict[str, Any]:
        """What ``envsnap/probes/_inspector.py`` reports for that interpreter: its facts and
        every dist-info on its sys.path, raw. Raises HostError when it cannot be read."""
        ...

    def nvml(self) -> dict[str, Any]:
        """Driver and per-GPU values read through NVML, shaped like the recorded fixtures'
        ``nvml-values.json``. Raises HostError when NVML cannot be loaded or initialised."""
        ...


_NVIDIA_DEVICE_MARKERS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")


def inspector_output(python: str, result: RunResult) -> dict[str, Any]:
    """The inspector's report (a Python literal) from a finished child run, or a one-line
    HostError. ast.literal_eval evaluates literals only: nothing the target prints runs here."""
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HostError(f"{python} exited {result.returncode}: {tail[0]}")
    import ast

    try:
        raw = ast.literal_eval(result.stdout)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)") from None
    if not isinstance(raw, dict):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)")
    return raw


def read_text(host: Host, path: str) -> str | None:
    raw = host.read_bytes(path)
    return None if raw is None else raw.decode("utf-8", errors="replace")


class LocalHost:
    """The real machine this process runs on."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)

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
        try:
            proc = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                env=dict(env) if env is not None else self._environ,
                cwd=cwd,
                text=True,
                errors="replace",
                check=False,
            )
        except FileNotFoundError:
            raise CommandNotFound(f"{argv[0]}: not found") from None
        except PermissionError:
            raise CommandNotFound(f"{argv[0]}: not executable") from None
        except subprocess.TimeoutExpired:
            # subprocess.run kills the child before re-raising, so nothing is left running.
            raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise HostError(f"{argv[0]}: {exc.strerror}") from None
        return RunResult(returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def inspect_python(self, python: str, *, timeout: float) -> dict[str, Any]:
        from .probes import _inspector

        if (os.path.realpath(python) == os.path.realpath(sys.executable)
                and os.path.dirname(os.path.dirname(os.path.abspath(python))) == sys.prefix):
            # envsnap runs inside the environment it captures (installed in a production
            # image): the same scan in-process, without starting a second interpreter.
            raw: dict[str, Any] = _inspector.inspect(sys.path[1:])  # type: ignore[no-untyped-call]
            raw["in_process"] = True
            return raw
        # Another interpreter: it reports what only it knows (its sys.path, prefix, tags), and
        # the dist-info files on that path, plain files, are read here. Having it scan them and
        # serialise every dist as JSON for this process to parse again took ~25% longer on a
        # 10,000-dist environment (1.96 s against 1.55 s), and the same on a small one.
        raw = inspector_output(
            python, self.run([python, _inspector.__file__, "--facts"], timeout=timeout))
        path = raw.get("sys_path")
        if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
            raise HostError(f"{python} printed no readable sys.path")
        raw["dists"] = _inspector.scan(path)  # type: ignore[no-untyped-call]
        return raw

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self._environ.get("PATH"))

    def system_info(self) -> SystemInfo: ...

    def inspect_python(self, python: str, *, timeout: float) -> dict[str, Any]:
        """What ``envsnap/probes/_inspector.py`` reports for that interpreter: its facts and
        every dist-info on its sys.path, raw. Raises HostError when it cannot be read."""
        ...

    def nvml(self) -> dict[str, Any]:
        """Driver and per-GPU values read through NVML, shaped like the recorded fixtures'
        ``nvml-values.json``. Raises HostError when NVML cannot be loaded or initialised."""
        ...


_NVIDIA_DEVICE_MARKERS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")


def inspector_output(python: str, result: RunResult) -> dict[str, Any]:
    """The inspector's report (a Python literal) from a finished child run, or a one-line
    HostError. ast.literal_eval evaluates literals only: nothing the target prints runs here."""
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HostError(f"{python} exited {result.returncode}: {tail[0]}")
    import ast

    try:
        raw = ast.literal_eval(result.stdout)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)") from None
    if not isinstance(raw, dict):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)")
    return raw


def read_text(host: Host, path: str) -> str | None:
    raw = host.read_bytes(path)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _is_executable(path: str) -> bool:
    return os.access(path, os.X_OK) and not os.path.isdir(path)


class LocalHost:
    """The real machine this process runs on."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)

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
        try:
            proc = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                env=dict(env) if env is not None else self._environ,
                cwd=cwd,
                text=True,
                errors="replace",
                check=False,
            )
        except FileNotFoundError:
            raise CommandNotFound(f"{argv[0]}: not found") from None
        except PermissionError:
            raise CommandNotFound(f"{argv[0]}: not executable") from None
        except subprocess.TimeoutExpired:
            # subprocess.run kills the child before re-raising, so nothing is left running.
            raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise HostError(f"{argv[0]}: {exc.strerror}") from None
        return RunResult(returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def inspect_python(self, python: str, *, timeout: float) -> dict[str, Any]:
        from .probes import _inspector

        if (os.path.realpath(python) == os.path.realpath(sys.executable)
                and os.path.dirname(os.path.dirname(os.path.abspath(python))) == sys.prefix):
            # envsnap runs inside the environment it captures (installed in a production
            # image): the same scan in-process, without starting a second interpreter.
            raw: dict[str, Any] = _inspector.inspect(sys.path[1:])  # type: ignore[no-untyped-call]
            raw["in_process"] = True
            return raw
        # Another interpreter: it reports what only it knows (its sys.path, prefix, tags), and
        # the dist-info files on that path, plain files, are read here. Having it scan them and
        # serialise every dist as JSON for this process to parse again took ~25% longer on a
        # 10,000-dist environment (1.96 s against 1.55 s), and the same on a small one.
        raw = inspector_output(
            python, self.run([python, _inspector.__file__, "--facts"], timeout=timeout))
        path = raw.get("sys_path")
        if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
            raise HostError(f"{python} printed no readable sys.path")
        raw["dists"] = _inspector.scan(path)  # type: ignore[no-untyped-call]
        return raw

    def which(self, name: str) -> str | None:
        # What shutil.which does on POSIX, without importing shutil (and the bz2, lzma and
        # fnmatch modules it loads): every capture looks up git, nvidia-smi, nvcc, ldconfig.
        if os.sep in name:
            return name if _is_executable(name) else None
        path = self._environ.get("PATH")
        if path is None:  # shutil's fallbacks, in its order
            path = os.environ.get("PATH")
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
        if not path:
            return None  # an empty PATH finds nothing (bpo-35755)
        for directory in path.split(os.pathsep):
            candidate = os.path.join(directory or os.curdir, name)
            if _is_executable(candidate):
                return candidate
        return None

    def system_info(self) -> SystemInfo:
        uname = os.uname() if hasattr(os, "uname") else None
        try:
            glibc = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
        except (AttributeError, ValueError, OSError):
            glibc = None
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = None
        memory = None
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            memory = None
        return SystemInfo(
            hostname=(uname.nodename if uname else None) or None,
            system=uname.sysname if uname else ("Windows" if sys.platform == "win32" else sys.platform),
            kernel=uname.release if uname else None,
            machine=uname.machine if uname else "",
            glibc=glibc.split()[-1] if glibc and glibc.startswith("glibc") else None,
            logical_cores=os.cpu_count(),
            usable_cores=usable,
            memory_bytes=memory,
        )

    def nvml(self) -> dict[str, Any]:
        # NVML needs a loaded NVIDIA kernel driver (or WSL's /dev/dxg). Without one, importing
        # the bindings and failing nvmlInit costs ~50 ms of every capture on a CPU machine.
        if not any(os.path.exists(p) for p in _NVIDIA_DEVICE_MARKERS):
            raise HostError("NVML unavailable: no NVIDIA kernel driver loaded (no /dev/nvidiactl)")
        try:
            import pynvml  # from nvidia-ml-py; imported here so capture stays cheap without it
        except ImportError:
            raise HostError("NVML bindings not installed (pip install nvidia-ml-py)") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise HostError(f"NVML unavailable: {exc}") from None
        try:
            return _read_nvml(pynvml)
        except pynvml.NVMLError as exc:
            raise HostError(f"NVML query failed: {exc}") from None
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_nvml(nv: Any) -> dict[str, Any]:
    """Read the same fields as the recorded fixtures' nvml-values.json, one call per field;
    optional fields that a GPU does not support are left out rather than failing the read."""

    def opt(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except nv.NVMLError:
            return None

    out: dict[str, Any] = {
        "driver": _text(nv.nvmlSystemGetDriverVersion()),
        "cuda_driver": opt(nv.nvmlSystemGetCudaDriverVersion_v2),
        "nvml_version": opt(lambda: _text(nv.nvmlSystemGetNVMLVersion())),
        "gpus": [],
    }
    for i in range(nv.nvmlDeviceGetCount()):
        h = nv.nvmlDeviceGetHandleByIndex(i)
        mem = opt(nv.nvmlDeviceGetMemoryInfo, h)
        pci = opt(nv.nvmlDeviceGetPciInfo, h)
        out["gpus"].append(
            {
                "name": _text(nv.nvmlDeviceGetName(h)),
                "uuid": opt(lambda h=h: _text(nv.nvmlDeviceGetUUID(h))),
                "cc": list(opt(nv.nvmlDeviceGetCudaComputeCapability, h) or ()) or None,
                "mem": getattr(mem, "total", None),
                "pci": _text(pci.busId) if pci is not None else None,
                "vbios": opt(lambda h=h: _text(nv.nvmlDeviceGetVbiosVersion(h))),
                "mig": list(opt(nv.nvmlDeviceGetMigMode, h) or ()) or None,
                "persistence": opt(nv.nvmlDeviceGetPersistenceMode, h),
            }
        )
    return out
