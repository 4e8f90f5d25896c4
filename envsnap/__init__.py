"""envsnap: capture ML environments into reproducible snapshots; lock, rebuild, diff, check."""

from __future__ import annotations

import sys
import types
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


class _Package(types.ModuleType):
    """Keeps ``envsnap.capture``/``diff``/``check`` the functions of the public API.

    Importing the submodule ``envsnap.diff`` makes Python bind it as the attribute ``diff`` of
    this package, which would replace the function ``envsnap.diff()``. Eager imports would
    avoid that but cost every ``envsnap capture`` the start-up of the diff and check rules;
    instead submodules are simply not bound over API names (the documented way to customise
    a module's attribute access: https://docs.python.org/3/reference/datamodel.html#customizing-module-attribute-access).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'envsnap' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value
