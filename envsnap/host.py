"""The Host seam: the only code that runs subprocesses, reads /proc or talks to NVML."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from .errors import CommandNotFound, CommandTimeout, FileTooLarge, HostError


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

    def read_bytes(self, path: str, *, limit: int = ...) -> bytes | None:
        """The file's bytes, or None when it does not exist or is not a readable regular file
        (a FIFO or a device is never opened for reading). Raises FileTooLarge past ``limit``."""
        ...

    def open_binary(self, path: str) -> tuple[BinaryIO, str] | None:
        """A regular file opened for piecewise reading (the ELF headers of a 500 MB library)
        and its identity (device and inode), or None like read_bytes. The caller closes it."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Entry names (sorted), or [] when the directory does not exist."""
        ...

    def realpath(self, path: str) -> str: ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def which(self, name: str) -> str | None: ...

    def system_info(self) -> SystemInfo: ...

    def nvml(self) -> dict[str, Any]:
        """Driver and per-GPU values read through NVML, shaped like the recorded fixtures'
        ``nvml-values.json``. Raises HostError when NVML cannot be loaded or initialised."""
        ...


_NVIDIA_DEVICE_MARKERS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")


# The default cap on one file read from the machine: config files, /proc entries, records.
READ_LIMIT = 16 * 2**20


def read_regular_file(path: str, *, limit: int = READ_LIMIT) -> bytes | None:
    """A regular file's bytes, at most ``limit``; None when it is missing, unreadable or not a
    regular file. O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > limit:
            raise FileTooLarge(f"{path}: larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while being read (/proc files report size 0)
                raise FileTooLarge(f"{path}: larger than {limit} bytes")
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(host: Host, path: str) -> str | None:
    raw = host.read_bytes(path)
    return None if raw is None else raw.decode("utf-8", errors="replace")


# Children running now, each the leader of its own process group: killed whole when the user
# interrupts (the probe threads waiting on them are not the ones that see the Ctrl-C).
_RUNNING: set[subprocess.Popen[Any]] = set()
_RUNNING_LOCK = threading.Lock()


def kill_running_children() -> None:
    """Kill every child process group envsnap started and has not reaped yet."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        _signal_group(proc.pid)


atexit.register(kill_running_children)


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(pgid, signal.SIGKILL)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a child started with ``start_new_session=True`` and everything it started."""
    _signal_group(proc.pid)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=5)


# What one child may print: far above any real report (a 10,000-dist inspector literal is a
# few MB), so a runaway (`--python /usr/bin/yes`) is stopped instead of filling memory.
OUTPUT_LIMIT = 64 * 2**20


class _TooMuchOutput(Exception):
    pass


def _collect(proc: subprocess.Popen[bytes], stdin: str | None, *, timeout: float,
             limit: int) -> tuple[bytes, bytes]:
    """A child's stdout and stderr, read as they come, at most ``limit`` bytes in all."""
    chunks: dict[int, list[bytes]] = {1: [], 2: []}
    total = [0]
    over = threading.Event()

    def drain(fd: int, stream: Any) -> None:
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                return
            chunks[fd].append(chunk)
            total[0] += len(chunk)
            if total[0] > limit:
                over.set()
                _signal_group(proc.pid)  # unblocks the other reader and the wait below
                return

    readers = [threading.Thread(target=drain, args=(1, proc.stdout), daemon=True),
               threading.Thread(target=drain, args=(2, proc.stderr), daemon=True)]
    for t in readers:
        t.start()
    if proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write((stdin or "").encode())
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    finally:
        # Whatever the leader left behind in its group (a daemonised helper holding the pipes
        # open) ends with it; then the readers see the end of both pipes.
        _signal_group(proc.pid)
        for t in readers:
            t.join(5)
    if over.is_set():
        raise _TooMuchOutput
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return b"".join(chunks[1]), b"".join(chunks[2])


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
        # Each child leads a process group of its own, killed whole on timeout, error or
        # Ctrl-C: a wrapper script (nvidia-smi behind a shell) must not leave its children.
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else self._environ,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CommandNotFound(f"{argv[0]}: not found") from None
        except PermissionError:
            raise CommandNotFound(f"{argv[0]}: not executable") from None
        except OSError as exc:
            raise HostError(f"{argv[0]}: {exc.strerror}") from None
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
        try:
            stdout, stderr = _collect(proc, stdin, timeout=timeout, limit=OUTPUT_LIMIT)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g}s") from None
        except _TooMuchOutput:
            kill_group(proc)
            raise HostError(f"{argv[0]} printed more than {OUTPUT_LIMIT // 2**20} MiB") from None
        except BaseException:
            kill_group(proc)
            raise
        finally:
            # The group may outlive its leader (a daemonised grandchild): ended either way.
            _signal_group(proc.pid)
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
        return RunResult(returncode=proc.returncode,
                         stdout=stdout.decode("utf-8", "replace"),
                         stderr=stderr.decode("utf-8", "replace"))

    def read_bytes(self, path: str, *, limit: int = READ_LIMIT) -> bytes | None:
        return read_regular_file(path, limit=limit)

    def open_binary(self, path: str) -> tuple[BinaryIO, str] | None:
        # O_NONBLOCK as in read_regular_file: a FIFO on a search path must not hang capture.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            return None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb"), f"{st.st_dev}:{st.st_ino}"

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

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self._environ.get("PATH"))

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
