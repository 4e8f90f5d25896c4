"""The real CLI (a subprocess) refuses broken snapshot files in one line, without a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

_VALID = 'schema = 2\ndigest = "sha256:0"\n'


_HEAD = 'schema = 2\n[python]\nversion = "3.11.7"\nimplementation = "cpython"\n'

_LINE_COLUMN = re.compile(r"\(at line (\d+), column \d+\)")


def _envsnap(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "envsnap"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "envsnap"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("text", "line"), [
    pytest.param(_HEAD + '[python.packages]\nsix = {version = "1.16.0"}\nsix = {version = "1.17.0"}\n', 7,
                 id="duplicate-package-line"),
    pytest.param(_HEAD + '[python.packages]\nsix = {version = "1.16.0"}\n'
                 '[python.packages]\nidna = {version = "3.7"}\n', 7, id="duplicate-packages-table"),
    pytest.param(_HEAD + '[python]\nprefix = "/venv"\n', 5, id="repeated-python-header"),
    pytest.param("schema = 2\nx = NaN\n", 2, id="NaN"),
    pytest.param("schema = 2\nx = Infinity\n", 2, id="Infinity"),
    pytest.param('schema: 2\nos: {"system": "Linux"}\n', 1, id="json-style-key-colon-value"),
    pytest.param("schema = 2\na = " + "[" * 100_000 + "]" * 100_000 + "\n", None, id="nested-100000-deep"),
])
def test_the_cli_refuses_a_broken_file_in_one_line(tmp_path: Path, text: str, line: int | None) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    proc = _envsnap("show", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"envsnap: error: {path}: ")
    if line is not None:  # a TOML syntax error: tomllib's message names the line
        m = _LINE_COLUMN.search(proc.stderr)
        assert m is not None and int(m.group(1)) == line, proc.stderr


def test_the_cli_refuses_a_date_under_an_unknown_key_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "newer.toml"
    path.write_text(_VALID + "when = 1979-05-27\n", encoding="utf-8")
    proc = _envsnap("show", str(path))
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
