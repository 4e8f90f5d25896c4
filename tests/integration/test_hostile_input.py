"""Hostile snapshots are refused (exit 2) before anything is rendered; nothing can be
injected into a Dockerfile (proved on the real engine)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.image import choose_base, render
from envsnap.image.context import context_tar
from envsnap.image.engine import Engine
from envsnap.lock import plan
from envsnap.lock.model import HashedLock
from envsnap.snapshot import PythonEnv, Snapshot

HEADER = 'schema = 1\n[python]\nversion = "3.11.7"\nimplementation = "cpython"\n'

HOSTILE = {
    "name with shell chars": '[python.packages]\n"six;touch /tmp/pwned" = {version = "1.0"}\n',
    "name with newline": '[python.packages]\n"six\\nRUN touch /pwned" = {version = "1.0"}\n',
    "version with quote": '[python.packages]\nsix = {version = "1.0\\" && id"}\n',
    "version with $()": '[python.packages]\nsix = {version = "$(id)"}\n',
    "env value with newline": '[env]\nPYTHONHASHSEED = "0\\nRUN touch /pwned"\n',
    "env value with quote": "[env]\nPYTHONHASHSEED = \"0' ; id\"\n",
    "env value with backtick": '[env]\nCUBLAS_WORKSPACE_CONFIG = "`id`"\n',
}


@pytest.mark.parametrize("command", ["lock", "build-image"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_refused_with_exit_2_and_nothing_written(case: str, command: str,
                                                 tmp_path: Path) -> None:
    snap = tmp_path / "hostile.toml"
    snap.write_text(HEADER + HOSTILE[case])
    out = tmp_path / "out"
    err = io.StringIO()
    args = [command, str(snap), "-o", str(out)]
    if command == "build-image":
        args += ["--dockerfile-only"]
    assert main(args, Console(io.StringIO(), err)) == 2
    assert "envsnap: error:" in err.getvalue() and "refusing" in err.getvalue()
    assert not out.exists()


@pytest.mark.parametrize("label", ['x"\nRUN touch /pwned', "$(touch /pwned)", "a\\", "a'b"])
def test_hostile_label_refused(label: str, tmp_path: Path) -> None:
    snap = tmp_path / "ok.toml"
    snap.write_text(HEADER + '[python.packages]\nsix = {version = "1.16.0"}\n')
    err = io.StringIO()
    rc = main(["build-image", str(snap), "--dockerfile-only", "-o", str(tmp_path / "o"),
               "--label", f"team={label}", "--offline", "--wheelhouse", str(tmp_path)],
              Console(io.StringIO(), err))
    assert rc == 2 and "refusing" in err.getvalue()
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.docker
def test_allowed_characters_reach_the_image_verbatim(docker_engine: None) -> None:
    """Every character the gate allows, in labels and env values, built on the real engine:
    the image holds exactly those strings and no extra instruction ran."""
    odd = "a b_.,:/=+@%~^[]{}-Z 0 ${HOME} no-expansion"  # $ is refused...
    odd = odd.replace("$", "")  # ...so test the rest, braces included
    snap = Snapshot(python=PythonEnv(version="3.11.2", implementation="cpython"),
                    env={"PYTHONHASHSEED": odd, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"})
    hashed = HashedLock(plan=plan(snap), pins=(), unlockable=(), policy="wheelhouse")
    base = choose_base(snap, "envsnap-base:bookworm")
    image = render(snap, hashed, base=base, offline=True, labels={"team": odd})
    with Engine.connect() as engine, context_tar(image, Path("/nonexistent")) as ctx:
        result = engine.build(ctx, tag="envsnap-test:hostile")
        meta = engine.inspect(result.image_id)
    assert meta["Config"]["Labels"]["team"] == odd
    env = dict(e.split("=", 1) for e in meta["Config"]["Env"])
    assert env["PYTHONHASHSEED"] == odd and env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    instructions = [s.instruction.split()[0] for s in result.steps]
    assert instructions.count("RUN") == image.dockerfile.count("\nRUN ")
