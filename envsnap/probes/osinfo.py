"""Probe: osinfo (being written)."""

from __future__ import annotations

from typing import Any

from . import Probed


def probe(*args: Any, **kwargs: Any) -> Probed[Any]:
    return Probed(None, "not implemented yet")


def resolve_interpreter(host: Any, python: str | None) -> str | None:
    return python


def find_prefix(*args: Any) -> str | None:
    return None


def mark_ownership(host: Any, pyenv: Any, prefix: Any) -> Any:
    return pyenv
