"""The one choice of TOML reader: the standard library's tomllib, or tomli (its source) on 3.10."""

from __future__ import annotations

import sys
from typing import Any


def loads(text: str) -> dict[str, Any]:
    """TOML text -> data. Raises ValueError (TOMLDecodeError is one), whose message names the
    line, on text that is not TOML: duplicate keys and tables included."""
    # Local imports: tomllib costs 10 ms of start-up, and `envsnap capture` reads no TOML.
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    # tomli is pinned below 2.4, whose releases read TOML 1.1: the same files must load on
    # every Python.
    import tomli  # pragma: no cover - exercised on 3.10 only

    return dict(tomli.loads(text))  # pragma: no cover
