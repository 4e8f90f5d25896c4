"""envsnap.cli.lock: the command line it records, and what it refuses before any network use.

The real locks (indexes on loopback, wheelhouses, pip builds) are in
tests/integration/test_lock_*.py and test_attack_untrusted.py."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.cli.lock import command_line
from envsnap.io import dump
from envsnap.snapshot import Package, Source
from envsnap.testing import conda_snapshot, cpu_venv_snapshot

VCS = Package(name="payload", version="1.0",
              source=Source(kind="vcs", url="https://git.example/payload.git", vcs="git",
                            commit="4f2a9c1e0b7d3a5f6e8c9d0a1b2c3d4e5f6a7b8c"))


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(["lock", *argv], Console(io.StringIO(), err))
    return code, err.getvalue()


def test_command_line_keeps_a_folder_name_given_with_a_trailing_slash() -> None:
    assert command_line(["envsnap", "lock", "train.toml", "-o", "lock/", "--wheelhouse",
                         "/home/alice/wheels/"]) == "envsnap lock train.toml -o lock --wheelhouse wheels"
    assert command_line(["envsnap", "lock", "s.toml", "--index-url", "https://m.example/simple"]
                        ) == "envsnap lock s.toml --index-url https://m.example/simple"


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no [tool.envsnap] of the checkout running the tests
    return tmp_path


def test_refusals_before_any_network_use(here: Path) -> None:
    snap = here / "snap.toml"
    dump(cpu_venv_snapshot(Package(name="six", version="1.16.0")), snap)
    (here / "afile").write_text("x")
    cases = {
        ("-o", "afile"): "-o afile: exists and is not a directory",
        ("--offline",): "--offline needs --wheelhouse DIR holding every wheel",
        ("--offline", "--wheelhouse", "nowhere"): "--offline --wheelhouse nowhere: no such directory",
        ("--wheelhouse", "afile"): "--wheelhouse afile: not a directory",
        ("--format", "conda"): "nothing to lock for --format conda",
    }
    for extra, said in cases.items():
        code, err = _run(str(snap), *extra)
        assert code == 2, (extra, err)
        assert said in err and err.count("\n") == 1, (extra, err)
    assert sorted(p.name for p in here.iterdir()) == ["afile", "snap.toml"]  # nothing written


def test_a_snapshot_with_nothing_to_lock_is_bad_input(here: Path) -> None:
    snap = here / "empty.toml"
    dump(cpu_venv_snapshot(), snap)
    bare = snap.read_text().split("\n[python", 1)[0] + "\n"
    snap.write_text(bare.replace("\ndigest = ", "\n# digest = "))
    code, err = _run(str(snap))
    assert code == 2
    assert "no Python or conda environment to lock" in err


def test_a_source_to_build_is_refused_and_named_without_allow_build(here: Path) -> None:
    snap = here / "snap.toml"
    dump(cpu_venv_snapshot(VCS), snap)
    (here / "wheels").mkdir()
    code, err = _run(str(snap), "--wheelhouse", str(here / "wheels"), "--offline")
    assert code == 2
    assert "would build payload" in err and "git.example" in err
    assert not (here / "envsnap-lock").exists() and not any((here / "wheels").iterdir())


def test_a_conda_snapshot_without_python_has_nothing_for_the_python_formats(here: Path) -> None:
    snap = here / "conda.toml"
    dump(replace(conda_snapshot(), python=None), snap)
    code, err = _run(str(snap), "--format", "requirements,pylock")
    assert code == 2
    assert "nothing to lock for --format requirements,pylock (the snapshot has no Python" in err
