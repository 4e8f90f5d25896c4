"""Building a snapshot's sources, the pure parts: consent, what needs building, pip's environment,
a project's build requirements.

pip building real sources into a wheelhouse: tests/integration/test_lock_offline_build.py and
tests/integration/test_lock_sources.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lock_cases import snapshot

from envsnap.lock import plan
from envsnap.lock.build import (
    build_reason,
    build_requirements,
    builds_needed,
    describe_build,
    pip_env,
    require_build_consent,
)
from envsnap.lock.index import source
from envsnap.lock.model import BuildRefused, LockPlan, Pin
from envsnap.lock.settings import IndexSettings
from envsnap.snapshot import Package, Source


def _plan() -> LockPlan:
    return plan(snapshot(
        Package(name="six", version="1.16.0"),
        Package(name="mine", version="0.1", source=Source(kind="editable", url="file:///h/mine")),
        Package(name="gitpkg", version="1.0", source=Source(
            kind="vcs", vcs="git", url="https://github.com/o/r", commit="abc123"))))


def test_describe_build_redacts_credentials() -> None:
    pin = Pin(name="payload", version="1.0", kind="build", source_kind="vcs",
              build_from="git+https://ci:hunter2@host.example/repo@abc1234")
    text = describe_build(pin)
    assert text.startswith("payload 1.0: vcs git+https://") and "hunter2" not in text
    assert describe_build(Pin(name="x", version="1", kind="build")) == (
        "x 1: source (location not recorded)")
    assert build_reason(pin).startswith("a vcs install: built from its source")


def test_every_build_pin_is_needed_without_a_wheelhouse() -> None:
    p = _plan()
    assert sorted(x.name for x in builds_needed(p, None)) == ["gitpkg", "mine"]
    with pytest.raises(BuildRefused) as refused:
        require_build_consent(p, None, allow_build=False)
    assert sorted(x.name for x in refused.value.pins) == ["gitpkg", "mine"]
    require_build_consent(p, None, allow_build=True)  # consent given: nothing raised


def test_a_compatible_wheel_in_the_wheelhouse_needs_no_build(tmp_path: Path) -> None:
    p = _plan()
    (tmp_path / "mine-0.1-py3-none-any.whl").write_bytes(b"x")
    (tmp_path / "gitpkg-1.0-cp312-cp312-win_amd64.whl").write_bytes(b"x")  # not for this target
    assert [x.name for x in builds_needed(p, tmp_path)] == ["gitpkg"]
    (tmp_path / "gitpkg-1.0-py3-none-any.whl").write_bytes(b"x")
    assert builds_needed(p, tmp_path) == ()
    require_build_consent(p, tmp_path, allow_build=False)


def test_pip_env_drops_every_pip_variable_and_puts_back_only_the_indexes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://machine-wide/simple")
    monkeypatch.setenv("PIP_CONSTRAINT", "/etc/constraints.txt")
    bare = pip_env()
    assert not {k for k in bare if k.startswith("PIP_")} - {
        "PIP_CONFIG_FILE", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT"}
    assert bare["PIP_CONFIG_FILE"] == os.devnull
    settings = IndexSettings(cert="/ca.pem", proxy="http://proxy:3128",
                             trusted_hosts=("mirror",), origin="test")
    env = pip_env(settings, indexes=[
        source("https://u:p%40ss@mirror.example/simple/", "index"),
        source("https://extra.example/simple", "index"), source("/srv/wheels", "links")])
    # The credentials travel in the environment, never on a command line others can read.
    assert env["PIP_INDEX_URL"] == "https://u:p%40ss@mirror.example/simple"
    assert env["PIP_EXTRA_INDEX_URL"] == "https://extra.example/simple"
    assert env["PIP_FIND_LINKS"] == "/srv/wheels"
    assert env["PIP_CERT"] == "/ca.pem" and env["PIP_PROXY"] == "http://proxy:3128"
    assert env["PIP_TRUSTED_HOST"] == "mirror" and "PIP_CONSTRAINT" not in env
    links_only = pip_env(settings, indexes=[source("/srv/wheels", "links")])
    assert links_only["PIP_NO_INDEX"] == "1" and "PIP_INDEX_URL" not in links_only
    assert "PIP_INDEX_URL" not in pip_env(settings, indexes=[source("https://m/simple", "index")],
                                          offline=True)


@pytest.mark.parametrize(("pyproject", "want"), [
    (None, ["setuptools>=40.8.0", "wheel"]),  # PEP 518's default, plus wheel for setuptools
    ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n', ["hatchling"]),
    ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n',
     ["setuptools>=61", "wheel"]),
    ('[build-system]\nrequires = ["setuptools", "Wheel>=0.40"]\n', ["setuptools", "Wheel>=0.40"]),
    ('[build-system]\nrequires = "not a list"\n', ["setuptools>=40.8.0", "wheel"]),
    ("not toml [", ["setuptools>=40.8.0", "wheel"]),
])
def test_build_requirements_follow_pep_518(tmp_path: Path, pyproject: str | None,
                                           want: list[str]) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    assert build_requirements(tmp_path) == want
