"""envsnap.cli._locking: the flagged indexes as lockfiles write them, and the build consent
(--allow-build, or allow-build in [tool.envsnap]) that lock, restore and build-image share."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from envsnap.cli import Console
from envsnap.cli._locking import build_consent, index_plan_args
from envsnap.errors import BadInputError
from envsnap.lock.model import BuildRefused
from envsnap.lock.plan import plan
from envsnap.snapshot import Package, Source
from envsnap.testing import cpu_venv_snapshot

SIX = Package(name="six", version="1.16.0")
VCS = Package(name="payload", version="1.0",
              source=Source(kind="vcs", url="https://git.example/payload.git", vcs="git",
                            commit="4f2a9c1e0b7d3a5f6e8c9d0a1b2c3d4e5f6a7b8c"))


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"index_url": None, "extra_index_url": [], "allow_build": False,
                               "use_snapshot_indexes": False}
    return argparse.Namespace(**{**base, **kw})


def test_index_flags_lose_their_credentials_and_trailing_slash() -> None:
    got = index_plan_args(_args(index_url="https://u:tok@m.example/simple/",
                                extra_index_url=["https://x.example/simple"],
                                use_snapshot_indexes=True))
    assert got == {"index_url": "https://m.example/simple",
                   "extra_index_urls": ["https://x.example/simple"],
                   "use_snapshot_indexes": True}


@pytest.mark.parametrize(("flag", "value", "said"), [
    ("index_url", "/srv/wheels", "--index-url: an index a lockfile names must be an http(s) URL"),
    ("index_url", "file:///srv/simple", "--index-url: an index a lockfile names must be"),
    ("extra_index_url", ["https://m.example/simple?token=abcd1234secret"],
     "--extra-index-url: the URL holds a credential outside its user:password part"),
])
def test_unfit_indexes_are_refused_without_echoing_them(flag: str, value: object,
                                                         said: str) -> None:
    with pytest.raises(BadInputError) as exc:
        index_plan_args(_args(**{flag: value}))
    assert said in str(exc.value)
    assert "abcd1234secret" not in str(exc.value)


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _console() -> tuple[Console, io.StringIO]:
    err = io.StringIO()
    return Console(io.StringIO(), err), err


def test_nothing_to_build_needs_no_consent(here: Path) -> None:
    console, err = _console()
    pins = plan(cpu_venv_snapshot(SIX))
    assert build_consent(_args(), pins, console, wheelhouse=here) is False
    assert build_consent(_args(allow_build=True), pins, console, wheelhouse=here) is True
    assert err.getvalue() == ""


def test_a_source_to_build_is_listed_and_refused_without_consent(here: Path) -> None:
    console, err = _console()
    pins = plan(cpu_venv_snapshot(SIX, VCS))
    with pytest.raises(BuildRefused) as exc:
        build_consent(_args(), pins, console, wheelhouse=here)
    assert [p.name for p in exc.value.pins] == ["payload"]
    assert "would build payload 1.0: vcs git+https://git.example/payload.git@4f2a9c1" in err.getvalue()


def test_consent_by_flag_or_by_the_projects_file(here: Path) -> None:
    pins = plan(cpu_venv_snapshot(VCS))
    console, err = _console()
    assert build_consent(_args(allow_build=True), pins, console, wheelhouse=here) is True
    assert err.getvalue() == ""
    (here / "pyproject.toml").write_text("[tool.envsnap]\nallow-build = true\n")
    console, err = _console()
    assert build_consent(_args(), pins, console, wheelhouse=here) is True
    assert f"allow-build = true in {here / 'pyproject.toml'}" in err.getvalue()


def test_an_image_without_a_wheelhouse_cannot_build_even_with_consent(here: Path) -> None:
    console, _ = _console()
    pins = plan(cpu_venv_snapshot(VCS))
    with pytest.raises(BadInputError) as exc:
        build_consent(_args(allow_build=True), pins, console, wheelhouse=None, image=True)
    assert "1 package(s) must be built from source (payload)" in str(exc.value)
