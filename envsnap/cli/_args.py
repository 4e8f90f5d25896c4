"""Argument types shared by the commands (parsing only, no output)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


def _terminal_columns() -> int:
    """What shutil.get_terminal_size() reports: $COLUMNS, else the terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter (descriptions kept as written), with the width argparse would pick.

    argparse builds a formatter for every add_argument call, and each one asks the terminal for
    its size through shutil (imported for that alone): a few ms of every command's start-up.
    The width is only needed when help is printed, so here it is asked for then.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        # argparse: `width = shutil.get_terminal_size().columns - 2` when none is given.
        super().__init__(prog, indent_increment, max_help_position,
                         width if width is not None else 78)
        self._asked = (width, max_help_position)

    def format_help(self) -> str:
        width, max_help_position = self._asked
        if width is None:
            self._width = _terminal_columns() - 2
            self._max_help_position = min(max_help_position,
                                          max(self._width - 20, self._indent_increment * 2))
        return super().format_help()


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
