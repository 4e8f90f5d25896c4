"""A plain `pip install envsnap` (no extras) in a real venv: the core commands run, and a
command whose extra is missing says which one, with the pip command, in one line (exit 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 backport
    import tomli as tomllib
import support

from envsnap import io
from envsnap.snapshot import Package, PythonEnv, Snapshot

pytestmark = pytest.mark.slow

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
# envsnap's own dependencies, read from pyproject.toml (a new one cannot be forgotten here), and
# a build backend new enough for its PEP 639 license field: all a plain install needs, fetched
# once and cached.
PLAIN = (*tomllib.loads((support.REPO / "pyproject.toml").read_text())["project"]["dependencies"],
         "setuptools>=77")


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plain-install")
    wheels = support.download_wheels(CACHE / "plain-install", PLAIN)
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(support.REPO / name, src / name)
    for folder in ("envsnap", "templates"):
        shutil.copytree(support.REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    python = support.make_venv(root / "venv")
    support.pip_install(python, "--no-index", "--find-links", wheels, "setuptools>=77")
    support.pip_install(python, "--no-index", "--find-links", wheels, "--no-build-isolation", src)
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython",
                                     packages=(Package(name="six", version="1.16.0"),)))
    io.dump(snap, root / "snap.toml")
    return python


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "envsnap", *args], cwd=python.parent.parent.parent,
                          env=support.clean_env(), capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_plain_install_has_no_extra(plain: Path) -> None:
    for module in ("requests", "rich", "docker", "cyclonedx"):
        proc = subprocess.run([str(plain), "-c", f"import {module}"], capture_output=True,
                              check=False, timeout=60)
        assert proc.returncode != 0, module


@pytest.mark.parametrize(("argv", "command", "extra", "module"), [
    (["lock", "snap.toml"], "lock", "lock", "requests"),
    (["restore", "snap.toml", "--venv", "v"], "restore", "lock", "requests"),
    (["build-image", "snap.toml", "-t", "x:y"], "build-image", "lock", "requests"),
    (["export", "snap.toml"], "export", "sbom", "cyclonedx"),
    (["check", "snap.toml", "--image", "x:y"], "check --image", "image", "docker"),
])
def test_a_missing_extra_is_named_with_the_pip_command(plain: Path, argv: list[str], command: str,
                                                       extra: str, module: str) -> None:
    proc = run(plain, *argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"envsnap: error: 'envsnap {command}' needs the {extra} extra "
                           f"({module} is not installed): pip install 'envsnap[{extra}]'\n")
    assert not (plain.parent.parent.parent / "envsnap-lock").exists()


def test_the_core_commands_need_no_extra(plain: Path) -> None:
    root = plain.parent.parent.parent
    proc = run(plain, "capture", "--only", "python,os", "-o", "here.toml", "-q")
    assert proc.returncode == 0, proc.stderr
    for argv in (["show", "here.toml"], ["diff", "here.toml", "here.toml"],
                 ["check", "snap.toml", "--host-only"]):
        proc = run(plain, *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
    assert (root / "here.toml").is_file()
