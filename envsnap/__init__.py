"""envsnap: capture ML environments into reproducible snapshots; lock, rebuild, diff, check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "Snapshot",
    "__version__",
    "capture",
    "check",
    "diff",
    "dump",
    "dumps",
    "load",
    "loads",
]

# The public API is resolved on first use (PEP 562): `envsnap capture` is a start-up-bound
# command, and importing diff/check/lock machinery it never calls would double its run time.
_LAZY = {
    "capture": ("capture", "capture"),
    "dump": ("io", "dump"),
    "dumps": ("io", "dumps"),
    "load": ("io", "load"),
    "loads": ("io", "loads"),
    "diff": ("diff", "diff"),
    "check": ("check", "check"),
    "SCHEMA_VERSION": ("snapshot", "SCHEMA_VERSION"),
    "Snapshot": ("snapshot", "Snapshot"),
}

if TYPE_CHECKING:
    from .capture import capture
    from .check import check
    from .diff import diff
    from .io import dump, dumps, load, loads
    from .snapshot import SCHEMA_VERSION, Snapshot


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'envsnap' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value
