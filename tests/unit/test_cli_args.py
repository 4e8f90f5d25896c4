"""The CLI's help formatter lays out help exactly as argparse's own would."""

from __future__ import annotations

import argparse

import pytest

from envsnap.cli import build_parser
from envsnap.cli._args import HelpFormatter


def _help(command: list[str], formatter: type[argparse.HelpFormatter]) -> str:
    parser = build_parser([*command, "--help"])
    target = parser
    if command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        target = sub.choices[command[0]]
    target.formatter_class = formatter
    return target.format_help()


@pytest.mark.parametrize("command", [[], ["capture"], ["diff"], ["lock"], ["build-image"]])
def test_help_matches_argparse_layout_at_every_width(monkeypatch: pytest.MonkeyPatch,
                                                     command: list[str]) -> None:
    seen = set()
    for columns in ("40", "100", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        ours = _help(command, HelpFormatter)
        assert ours == _help(command, argparse.RawDescriptionHelpFormatter), columns
        seen.add(ours)
    assert len(seen) > 1  # the width really is taken from the terminal


def test_top_level_help_before_a_command_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import COMMANDS, main

    assert main(["-h", "capture"]) == 0
    out = capsys.readouterr().out
    assert all(f"    {command}" in out for command in COMMANDS), out


def test_a_misspelt_command_names_the_choices_even_with_version(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import main

    assert main(["captur", "--version"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'captur'" in err and "'capture'" in err and "'check'" in err
