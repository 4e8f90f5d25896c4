"""The README's lock, export, build-image --verify and check --image lines, run as written on a
real CPU venv (requests, tqdm, pyyaml, click): pip is configured with a loopback index only."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import support
from indexserver import cli_env, envsnap, serve

pytestmark = [pytest.mark.slow, pytest.mark.docker]

CPU_PINS = ("requests==2.32.3", "certifi==2024.8.30", "charset-normalizer==3.4.0", "idna==3.10",
            "urllib3==2.2.3", "tqdm==4.67.1", "pyyaml==6.0.2", "click==8.1.7")
# The README's lines, in the order a reader runs them.
LINES = (
    "envsnap lock train.toml",
    "envsnap lock train.toml -o lock/ --wheelhouse wheels/",
    "envsnap build-image train.toml -t train:repro --wheelhouse wheels/ --network none --verify",
    "envsnap check train.toml --image train:repro",
    "envsnap export train.toml --lock lock/requirements.txt -o train.cdx.json",
)
# No registry is reachable here: the image is built on the local Debian base instead of the
# python:3.11.7-slim the snapshot would get.
BASE = ("--base-image", "envsnap-base:bookworm")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("readme")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
    downloaded = support.download_wheels(cache / "cpu-venv", CPU_PINS)
    wheels = root / "wheels"
    wheels.mkdir()
    for name in CPU_PINS:  # just these: the cache folder may hold other downloads too
        dist, version = name.split("==")
        for whl in downloaded.glob("*.whl"):
            if whl.name.lower().startswith(f"{dist.replace('-', '_')}-{version}-".lower()):
                shutil.copy2(whl, wheels / whl.name)
    python = support.make_venv(root / "venv", with_pip=False)
    support.run([sys.executable, "-m", "pip", "--python", python, "install",
                 "--no-index", "--find-links", wheels, *CPU_PINS], env=support.clean_env())
    rc, _, err, _ = envsnap("capture", "--python", python, "-o", root / "train.toml", "-q",
                            env=support.clean_env())
    assert rc == 0, err
    yield root
    subprocess.run(["docker", "rmi", "-f", "train:repro"], capture_output=True, check=False,
                   timeout=60)


def test_the_lines_are_the_readmes() -> None:
    readme = " ".join((support.REPO / "README.md").read_text().split())
    for line in LINES:
        assert line in readme, line


def test_the_readme_lines_run(folder: Path) -> None:
    with serve(folder / "wheels") as index:
        env = cli_env(folder / "home", pip_conf=f"[global]\nindex-url = {index.url}\n")
        results = {}
        for line in LINES:
            argv = shlex.split(line)[1:]
            if argv[0] == "build-image":
                argv += BASE
            rc, out, err, _ = envsnap(*argv, env=env, cwd=folder)
            assert "Traceback" not in err
            results[line] = (rc, out, err)
            assert rc == 0, (line, err)
    assert "envsnap-lock" in results[LINES[0]][2]
    assert "click==8.1.7" in (folder / "envsnap-lock" / "requirements.txt").read_text()
    assert (folder / "lock" / "requirements.txt").is_file()
    assert results[LINES[2]][1].splitlines()[-1].startswith("verified: image train:repro")
    assert results[LINES[3]][1].splitlines()[-1].startswith("verified: image train:repro")
    assert '"bomFormat": "CycloneDX"' in (folder / "train.cdx.json").read_text()
