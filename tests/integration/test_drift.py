"""Real drift: two real venvs built with real pip; `envsnap diff` of their captures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import support

from envsnap.cli import Console, main

pytestmark = pytest.mark.slow

EDITABLE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "edpkg"
version = "1.0"
"""


def envsnap(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out=out, err=err))
    return rc, out.getvalue(), err.getvalue()


def pip(python: Path, *args: str | Path) -> None:
    support.pip_install(python, "--isolated", "--no-index", *args)


BUILD_BACKEND = (support.SETUPTOOLS,)


@pytest.fixture(scope="module")
def venv_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("drift")
    backend = support.download_wheels(
        Path.home() / ".cache" / "envsnap-tests" / "build-backend", BUILD_BACKEND)
    wheels = root / "wheels"
    for name, version in [("up", "1.0"), ("up", "1.1"), ("down", "2.0"), ("down", "1.5"),
                          ("gone", "1.0"), ("fresh", "0.3"), ("mypkg", "1.0+cu121"),
                          ("mypkg", "1.0+cu124"), ("edpkg", "1.0"), ("steady", "3.2.1")]:
        support.build_wheel(wheels, name, version)
    project = root / "edpkg-src"
    (project / "edpkg").mkdir(parents=True)
    (project / "edpkg" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(EDITABLE_PYPROJECT)

    a = support.make_venv(root / "a")
    pip(a, "--find-links", wheels, "up==1.0", "down==2.0", "gone==1.0", "mypkg==1.0+cu121",
        "steady==3.2.1")
    # An editable install of a local project (PEP 660), built offline with a real setuptools.
    pip(a, "--find-links", backend, *BUILD_BACKEND)
    pip(a, "--no-build-isolation", "-e", project)

    b = support.make_venv(root / "b")
    pip(b, "--find-links", backend, *BUILD_BACKEND)  # the same build tools on both sides
    pip(b, "--find-links", wheels, "up==1.1", "down==1.5", "fresh==0.3", "mypkg==1.0+cu124",
        "steady==3.2.1", "edpkg==1.0")
    return a, b


def test_diff_of_two_real_venvs_reports_exactly_the_drift(
    venv_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = venv_pair
    for python, out in ((a, "a.toml"), (b, "b.toml")):
        rc, _, err = envsnap("capture", "--python", str(python), "--skip", "project",
                             "-o", str(tmp_path / out))
        assert rc == 0, err
    rc, out, err = envsnap("diff", str(tmp_path / "a.toml"), str(tmp_path / "b.toml"),
                           "--format", "json", "--fail-on", "never")
    assert rc == 0, err
    data = json.loads(out)
    assert data["schema"] == "envsnap.diff/1"
    got = {(c["section"], c["name"], c["kind"], c["old"], c["new"]) for c in data["changes"]}
    assert got == {
        ("python.packages", "up", "upgraded", "1.0", "1.1"),
        ("python.packages", "down", "downgraded", "2.0", "1.5"),
        ("python.packages", "gone", "removed", "1.0", None),
        ("python.packages", "fresh", "added", None, "0.3"),
        ("python.packages", "mypkg", "variant", "1.0+cu121", "1.0+cu124"),
        ("python.packages", "edpkg", "source",
         next(c["old"] for c in data["changes"] if c["name"] == "edpkg"), "1.0 (index)"),
    }, json.dumps(data["changes"], indent=1)
    edpkg = next(c for c in data["changes"] if c["name"] == "edpkg")
    assert edpkg["old"].startswith("1.0 (editable file://")
    assert sum(data["summary"].values()) == 6

    # The default gate (critical) passes; --fail-on major fails on the removal.
    assert envsnap("diff", str(tmp_path / "a.toml"), str(tmp_path / "b.toml"))[0] == 0
    rc, text, _ = envsnap("diff", str(tmp_path / "a.toml"), str(tmp_path / "b.toml"),
                          "--fail-on", "major")
    assert rc == 1 and "gone removed" in text
