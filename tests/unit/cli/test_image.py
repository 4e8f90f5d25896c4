"""envsnap.cli.image (build-image): its --label parser, and what it refuses before the engine
is asked or anything is fetched. Real builds, --verify and the build context are
tests/integration/test_image_roundtrip.py, test_engine.py and test_attack_untrusted.py."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.cli.image import _label
from envsnap.io import dump
from envsnap.snapshot import Package, Source
from envsnap.testing import cpu_venv_snapshot

VCS = Package(name="payload", version="1.0",
              source=Source(kind="vcs", url="https://git.example/payload.git", vcs="git",
                            commit="4f2a9c1e0b7d3a5f6e8c9d0a1b2c3d4e5f6a7b8c"))


@pytest.mark.parametrize(("raw", "pair"), [
    ("team=ml", ("team", "ml")),
    ("org.example.run=a=b", ("org.example.run", "a=b")),  # the first '=' splits
    ("empty=", ("empty", "")),
])
def test_label_is_key_equals_value(raw: str, pair: tuple[str, str]) -> None:
    assert _label(raw) == pair


@pytest.mark.parametrize("raw", ["novalue", "=value", ""])
def test_a_label_without_a_key_is_refused(raw: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        _label(raw)


def _build(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(["build-image", *argv], Console(io.StringIO(), err))
    return code, err.getvalue()


@pytest.fixture()
def snap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no [tool.envsnap] from the checkout running the tests
    path = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(Package(name="six", version="1.16.0")), path)
    return path


@pytest.mark.parametrize(("extra", "said"), [
    (["--dockerfile-only"], "--dockerfile-only needs -o DIR for the build context"),
    (["--dockerfile-only", "-o", "ctx", "--verify"], "--verify runs the built image"),
    (["--network", "none"], "--network none needs --wheelhouse DIR"),
    (["--offline"], "--offline needs --wheelhouse DIR"),
])
def test_contradictory_flags_are_refused_first(snap: Path, extra: list[str], said: str) -> None:
    code, err = _build(str(snap), *extra)
    assert code == 2
    assert said in err and err.count("\n") == 1
    assert not (snap.parent / "ctx").exists()


def test_a_dockerfile_envsnap_did_not_write_is_kept(snap: Path) -> None:
    ctx = snap.parent / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    code, err = _build(str(snap), "--dockerfile-only", "-o", str(ctx))
    assert code == 2 and "--force" in err
    assert (ctx / "Dockerfile").read_text() == "FROM scratch\n"


def test_a_source_to_build_is_refused_even_for_the_dockerfile_alone(snap: Path) -> None:
    dump(cpu_venv_snapshot(VCS), snap)
    code, err = _build(str(snap), "--dockerfile-only", "-o", str(snap.parent / "ctx"))
    assert code == 2
    assert "would build payload" in err
    assert not (snap.parent / "ctx").exists()
