"""Fakes for tests (ours and plugin authors'): a Host that replays recorded outputs."""

from __future__ import annotations

import io
import json
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .errors import CommandNotFound, FileTooLarge, HostError
from .host import READ_LIMIT, RunResult, SystemInfo
from .probes.nvidia import NVIDIA_SMI_QUERY

__all__ = ["NVIDIA_SMI_QUERY", "FakeHost", "gpu_fixture_host"]

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
