"""envsnap: capture ML environments into reproducible snapshots; lock, rebuild, diff, check."""

from __future__ import annotations

__version__ = "0.1.0"

from .capture import capture  # noqa: E402
from .io import dump, dumps, load, loads  # noqa: E402
from .snapshot import SCHEMA_VERSION, Snapshot  # noqa: E402

__all__ = [
    "SCHEMA_VERSION",
    "Snapshot",
    "__version__",
    "capture",
    "dump",
    "dumps",
    "load",
    "loads",
]
