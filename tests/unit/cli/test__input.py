"""What a command reads: one '-' at most, directories expanded, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap import io
from envsnap.cli._input import expand, one_stdin, read
from envsnap.errors import BadInputError
from envsnap.testing import cpu_venv_snapshot


def test_one_stdin() -> None:
    one_stdin(["a.toml", "-"])
    with pytest.raises(BadInputError, match="only once"):
        one_stdin(["-", "b.toml", "-"])


def test_expand_directories_sorted_and_mlflow_uris_untouched(tmp_path: Path) -> None:
    for name in ("b.toml", "a.json", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub.toml").mkdir()
    assert expand([str(tmp_path), "-", "runs:/abc/x", "x.toml"]) == [
        str(tmp_path / "a.json"), str(tmp_path / "b.toml"), "-", "runs:/abc/x", "x.toml"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="holds no"):
        expand([str(empty)])


def test_read_loads_a_file_and_names_a_bad_one(tmp_path: Path) -> None:
    io.dump(cpu_venv_snapshot(), tmp_path / "s.toml")
    assert read(str(tmp_path / "s.toml")).python == cpu_venv_snapshot().python
    with pytest.raises(BadInputError, match=r"missing\.toml"):
        read(str(tmp_path / "missing.toml"))
