"""envsnap.errors: each error's exit code (what CI reads: 2 bad input, 1 the rest) and the one
line a SnapshotFormatError shows, its key path escaped."""

from __future__ import annotations

import io

import pytest

from envsnap import errors
from envsnap.cli import Console, main

ERRORS = [v for v in vars(errors).values()
          if isinstance(v, type) and issubclass(v, errors.EnvsnapError)]


@pytest.mark.parametrize("cls", ERRORS, ids=[c.__name__ for c in ERRORS])
def test_bad_input_exits_2_and_everything_else_1(cls: type[errors.EnvsnapError]) -> None:
    assert cls.exit_code == (2 if issubclass(cls, errors.BadInputError) else 1)


def test_a_format_error_names_the_file_and_the_key_path_on_one_line() -> None:
    e = errors.SnapshotFormatError("expected a string, got an integer",
                                   path="python.packages.evil\nname.version", file="snap.toml")
    assert str(e) == ("snap.toml: expected a string, got an integer at "
                      "'python.packages.evil\\nname.version'")
    assert e.key_path == "python.packages.evil\nname.version" and e.file == "snap.toml"
    assert str(errors.SnapshotFormatError("not TOML")) == "not TOML"


def test_the_cli_turns_the_exit_code_into_the_process_status() -> None:
    err = io.StringIO()
    assert main(["show", "/nonexistent/snap.toml"], Console(io.StringIO(), err)) == 2
    assert err.getvalue() == "envsnap: error: /nonexistent/snap.toml: no such file\n"
