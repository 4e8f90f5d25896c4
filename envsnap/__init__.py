"""envsnap: capture ML environments into reproducible snapshots; lock, rebuild, diff, check.

Commands to engines: capture -> capturing, diff -> drift, check -> gate, show -> summary, fleet -> fleet.
"""

# The engines keep their own names: envsnap.capture, envsnap.diff and envsnap.check are the
# public functions below, and a module of the same name would shadow them as attributes of
# the package (and break `from envsnap import diff` for every user and test that has it).

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

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

# The public API, each name from the module that implements it. Resolved on first use
# (PEP 562 module __getattr__) so `envsnap capture` does not import the diff and check rules.
_API = {
    "capture": "capturing",
    "dump": "io",
    "dumps": "io",
    "load": "io",
    "loads": "io",
    "diff": "drift",
    "check": "gate",
    "SCHEMA_VERSION": "snapshot",
    "Snapshot": "snapshot",
}

if TYPE_CHECKING:
    from .capturing import capture
    from .drift import diff
    from .gate import check
    from .io import dump, dumps, load, loads
    from .snapshot import SCHEMA_VERSION, Snapshot


def __getattr__(name: str) -> Any:
    try:
        module = _API[name]
    except KeyError:
        raise AttributeError(f"module 'envsnap' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
