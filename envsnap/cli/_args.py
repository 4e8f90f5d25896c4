"""Argument types shared by the commands (parsing only, no output)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any


def comma_list(allowed: Sequence[str], what: str, *, all_word: str | None = None
               ) -> Callable[[str], tuple[str, ...]]:
    """An argparse type for ``a,b,c`` lists drawn from ``allowed`` (``all_word`` = every one)."""

    def parse(value: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
        if all_word is not None and names == (all_word,):
            return tuple(allowed)
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            choices = ", ".join(allowed) + (f" or {all_word}" if all_word else "")
            raise argparse.ArgumentTypeError(
                f"unknown {what}(s) {', '.join(unknown) or '(none given)'}; choose from {choices}"
            )
        return names

    return parse


def add_force(p: argparse.ArgumentParser) -> None:
    """--force: the one override of the file edge's rule (envsnap replaces only its own files)."""
    p.add_argument("--force", action="store_true",
                   help="replace existing files even when envsnap did not write them")


def count(lo: int, hi: int) -> Any:
    """An argparse type for a whole number from ``lo`` to ``hi``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"expected {lo} to {hi:,}")
        return n
    return parse
