"""'envsnap diff': two snapshot files in process; exit codes, --format json, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsnap import io
from envsnap.cli import main
from envsnap.drift import diff
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot

A = cpu_venv_snapshot(Package(name="six", version="1.16.0"), Package(name="numpy", version="1.26.4"))
B = cpu_venv_snapshot(Package(name="six", version="1.16.0"), Package(name="numpy", version="2.1.3"))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.chdir(tmp_path)  # no [tool.envsnap] from a pyproject.toml above
    io.dump(A, tmp_path / "a.toml")
    io.dump(B, tmp_path / "b.toml")
    return "a.toml", "b.toml"


def test_exit_code_follows_fail_on(files: tuple[str, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files
    assert main(["diff", a, a]) == 0
    worst = diff(A, B).changes[0].severity
    assert main(["diff", a, b, "--fail-on", worst]) == 1
    assert main(["diff", a, b, "--fail-on", "never"]) == 0
    assert "numpy" in capsys.readouterr().out


def test_json_shape(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files
    main(["diff", a, b, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    (change,) = doc["changes"]
    assert (change["section"], change["name"], change["old"], change["new"]) == (
        "python.packages", "numpy", "1.26.4", "2.1.3")
    assert change["severity"] == diff(A, B).changes[0].severity


@pytest.mark.parametrize(("argv", "said"), [
    (["diff", "a.toml"], "diff needs exactly two snapshots (A B), got 1"),
    (["diff", "-", "-"], "standard input ('-') can be read only once"),
    (["diff", "--baseline", "a.toml"], "--baseline needs at least one SNAPSHOT"),
    (["diff", "a.toml", "nope.toml"], "nope.toml"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], said: str, files: tuple[str, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and said in err and err.count("\n") == 1


def test_baseline_is_the_fleet_report(files: tuple[str, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files
    assert main(["diff", "--baseline", a, b, "--format", "json", "--fail-on", "never"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [g["nodes"] for g in doc["groups"]] == [[b]]
