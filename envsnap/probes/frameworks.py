"""Framework builds (torch, jax, tensorflow, cupy, onnxruntime): CUDA variant and arch list."""

from __future__ import annotations

from ..host import Host
from ..snapshot import Framework, PythonEnv
from . import Probed


def probe(
    host: Host, pyenv: PythonEnv | None, *, deep: bool, python: str | None
) -> Probed[tuple[Framework, ...]]:
    return Probed((), "not implemented yet")
