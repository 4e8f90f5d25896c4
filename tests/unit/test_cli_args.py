"""The CLI's argument handling: help before a command, misspelt commands."""

from __future__ import annotations

import pytest


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
