"""envsnap.cli.restore: what it refuses before any venv is made or anything fetched.

Real restores (a venv from a wheelhouse, zero drift, Ctrl-C) are tests/integration/test_restore.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.io import dump
from envsnap.snapshot import Package, Source
from envsnap.testing import cpu_venv_snapshot

LOCAL = Package(name="mylib", version="0.3.0", source=Source(kind="dir", url="file:///src/mylib"))


def _restore(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(["restore", *argv], Console(io.StringIO(), err))
    return code, err.getvalue()


def test_venv_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(), snap)
    assert main(["restore", str(snap)], Console(io.StringIO(), io.StringIO())) == 2
    assert "the following arguments are required: --venv" in capsys.readouterr().err


def test_a_bad_snapshot_is_refused_before_a_venv_exists(tmp_path: Path) -> None:
    snap = tmp_path / "snap.toml"
    snap.write_text("schema = 1\n[python\n")
    code, err = _restore(str(snap), "--venv", str(tmp_path / "venv"))
    assert code == 2 and err.count("\n") == 1 and str(snap) in err
    assert not (tmp_path / "venv").exists()


def test_a_local_folder_source_is_not_built_without_consent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no [tool.envsnap] allow-build from the checkout
    snap = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(LOCAL), snap)
    (tmp_path / "wheels").mkdir()
    code, err = _restore(str(snap), "--venv", str(tmp_path / "venv"),
                         "--wheelhouse", str(tmp_path / "wheels"), "--offline")
    assert code == 2
    assert "would build mylib" in err
    assert not (tmp_path / "venv").exists()
