"""Editable, local-wheel and VCS installs through the real `envsnap lock --wheelhouse`: built
into the wheelhouse, reinstalled with --require-hashes into a fresh venv, no path of this
machine or credential written; a source that is gone is reported, never dropped."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import support

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.cli import Console, main
from envsnap.host import LocalHost
from envsnap.snapshot import Snapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_user_config")]


SECRET = "s3cret-token-4f9a"
INDEX = f"https://ci-bot:{SECRET}@pypi.corp.example/simple"
BUILT = ("editme", "vcspkg", "localwheel")
BUILD_TOOLS = ("setuptools", "wheel", "packaging")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), Console(out, err))
    return rc, out.getvalue(), err.getvalue()


def _seed(wheelhouse: Path, snapshot: Snapshot, cache: Path) -> None:
    """The index pins' wheels (pip, setuptools, six) from the test cache: the lock below only
    has to build the local sources."""
    assert snapshot.python is not None
    pip = next(p.version for p in snapshot.python.packages if p.name == "pip")
    support.download_wheels(cache, (f"pip=={pip}",))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for whl in cache.glob("*.whl"):
        shutil.copy2(whl, wheelhouse / whl.name)


@dataclass(frozen=True, kw_only=True, slots=True)
class LockRun:
    """One `envsnap lock` through the CLI and where it wrote."""

    rc: int
    err: str
    out: Path
    wheels: Path
    root: Path
    seeded: frozenset[str] = frozenset()


def packages(snapshot: Snapshot) -> dict[str, str]:
    assert snapshot.python is not None
    return {p.name: p.version for p in snapshot.python.packages}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> dict[str, Path]:
    """A venv with an editable project, a VCS install from a local git repo at a commit, a
    local wheel, an index package, and an index URL with credentials in the venv's pip.conf."""
    root = tmp_path_factory.mktemp("lock-sources")
    python = support.venv_with_setuptools(root / "venv", pypi_wheelhouse)
    support.pip_install(python, "--no-index", "--find-links", pypi_wheelhouse, "six==1.16.0")
    support.pip_install(python, support.build_wheel(root / "local", "localwheel", "0.3.0"))
    editable = support.local_project(root / "src" / "editme", "editme", "0.1.0")
    support.pip_install(python, "--no-build-isolation", "-e", editable)
    repo = support.local_project(root / "src" / "vcspkg", "vcspkg", "2.0.0")
    commit = support.git_commit_all(repo)
    support.pip_install(python, "--no-build-isolation", f"git+file://{repo}@{commit}")
    # A private index with a token, as a real machine configures it (read by the capture).
    (root / "venv" / "pip.conf").write_text(f"[global]\nextra-index-url = {INDEX}\n")
    # A user's environment: the test runner's PIP_CONFIG_FILE=/dev/null (which, as in pip,
    # disables every config file) must not hide the venv's pip.conf from the capture.
    user_env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    snap = capture(python=str(python), only={"python"}, host=LocalHost(environ=user_env))
    path = root / "source.toml"
    snapio.dump(snap, path)
    return {"root": root, "snapshot": path, "python": python}


def test_source_env_holds_the_three_kinds(source: dict[str, Path]) -> None:
    snap = snapio.load(source["snapshot"])
    assert snap.python is not None
    kinds = {p.name: p.source.kind for p in snap.python.packages if p.source is not None}
    assert kinds == {"editme": "editable", "vcspkg": "vcs", "localwheel": "archive"}
    assert any("pypi.corp.example" in url for url in snap.python.indexes)  # recorded, redacted
    assert SECRET not in source["snapshot"].read_text()


@pytest.fixture(scope="module")
def locked(source: dict[str, Path], pypi_wheelhouse: Path) -> LockRun:
    out = source["root"] / "lock"
    wheels = out / "wheels"
    _seed(wheels, snapio.load(source["snapshot"]), pypi_wheelhouse)
    seeded = frozenset(w.name for w in wheels.glob("*.whl"))
    rc, _out, err = cli("lock", str(source["snapshot"]), "--wheelhouse", str(wheels), "-o", str(out),
                        "--allow-build")
    return LockRun(rc=rc, err=err, out=out, wheels=wheels, root=source["root"], seeded=seeded)


def test_lock_builds_every_local_source_into_the_wheelhouse(locked: LockRun) -> None:
    assert locked.rc == 0, locked.err
    new = {w.name for w in locked.wheels.glob("*.whl")} - locked.seeded
    # The built wheels, and what their PEP 517 builds need (setuptools>=64 and wheel, with
    # wheel's own dependency) so a later --offline run can build them with no index.
    assert {n.split("-")[0] for n in new} - set(BUILD_TOOLS) == set(BUILT)
    assert "adding the build requirements setuptools>=64, wheel to the wheelhouse" in locked.err
    assert "building a wheel for editme 0.1.0" in locked.err
    req = (locked.out / "requirements.txt").read_text()
    for name in BUILT:
        assert f"\n{name}==" in req, name
    assert req.count("# built from a local/VCS source into the wheelhouse") == len(BUILT)
    assert "NOT LOCKED" not in req


def test_requirements_lock_reinstalls_the_same_env(locked: LockRun,
                                                   source: dict[str, Path],
                                                   tmp_path: Path) -> None:
    assert locked.rc == 0, locked.err
    out = locked.out
    fresh = support.make_venv(tmp_path / "fresh")
    support.run([fresh, "-m", "pip", "install", "--require-hashes", "--no-deps", "--no-index",
                 "--find-links", locked.wheels, "-r", out / "requirements.txt"])
    again = capture(python=str(fresh), only={"python"})
    original = snapio.load(source["snapshot"])
    assert packages(again) == packages(original)
    assert again.python is not None
    # The reinstalled dists are plain wheels now: no editable / VCS / file source left over.
    assert {p.name for p in again.python.packages if p.source is not None} == set()
    imported = support.run([fresh, "-c", "import editme, vcspkg, localwheel; "
                                         "print(editme.VALUE, vcspkg.VALUE)"]).stdout.split()
    assert imported == ["0.1.0", "2.0.0"]


def _texts(out: Path) -> dict[str, str]:
    """Every file under the lock folder as text; a wheel envsnap built as the text of each
    member (the seeded third-party wheels are PyPI's files, not ours)."""
    texts: dict[str, str] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix == ".whl" and not path.name.startswith(BUILT):
            continue
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    texts[f"{path.name}!{member}"] = zf.read(member).decode("utf-8", "replace")
        else:
            texts[str(path.relative_to(out))] = path.read_bytes().decode("utf-8", "replace")
    return texts


def test_no_machine_path_or_credential_is_written(locked: LockRun,
                                                  source: dict[str, Path],
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    assert locked.rc == 0, locked.err
    texts = _texts(locked.out)
    assert {"requirements.txt", "pylock.toml"} <= set(texts)
    assert any(k.startswith("editme-") for k in texts)  # the built wheels were read too
    basetemp = str(tmp_path_factory.getbasetemp())
    forbidden = (basetemp, str(source["root"]), "file:", SECRET, "ci-bot", "pypi.corp.example",
                 str(Path.home()))
    leaks = [(name, word) for name, text in texts.items() for word in forbidden if word in text]
    assert not leaks, leaks
    assert SECRET not in locked.err


def test_offline_lock_builds_local_sources_from_the_wheelhouse_alone(
        source: dict[str, Path], pypi_wheelhouse: Path, tmp_path: Path) -> None:
    """--offline: no index at all; pip builds the editable and the git+file:// source with the
    build backend found in the wheelhouse (the snapshot's own setuptools)."""
    wheels = tmp_path / "wheels"
    _seed(wheels, snapio.load(source["snapshot"]), pypi_wheelhouse)
    rc, _out, err = cli("lock", str(source["snapshot"]), "--wheelhouse", str(wheels),
                        "-o", str(tmp_path), "--offline", "--allow-build")
    assert rc == 0, err
    req = (tmp_path / "requirements.txt").read_text()
    assert req.count("# built from a local/VCS source into the wheelhouse") == len(BUILT)


# ---------------------------------------------------------------------------------------------
# A source that is gone


@pytest.fixture(scope="module")
def gone(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> LockRun:
    """After the capture: an editable project's directory deleted, a git repository a VCS
    install came from deleted, and an editable project whose version was bumped."""
    root = tmp_path_factory.mktemp("lock-gone")
    python = support.venv_with_setuptools(root / "venv", pypi_wheelhouse)
    support.pip_install(python, "--no-index", "--find-links", pypi_wheelhouse, "six==1.16.0")
    project = support.local_project(root / "src" / "goneaway", "goneaway", "0.1.0")
    support.pip_install(python, "--no-build-isolation", "-e", project)
    bumped = support.local_project(root / "src" / "bumped", "bumped", "1.0.0")
    support.pip_install(python, "--no-build-isolation", "-e", bumped)
    repo = support.local_project(root / "src" / "gonevcs", "gonevcs", "3.0.0")
    commit = support.git_commit_all(repo)
    support.pip_install(python, "--no-build-isolation", f"git+file://{repo}@{commit}")
    snap = capture(python=str(python), only={"python"})
    path = root / "gone.toml"
    snapio.dump(snap, path)
    shutil.rmtree(project)
    shutil.rmtree(repo)
    text = (bumped / "pyproject.toml").read_text().replace('version = "1.0.0"', 'version = "1.1.0"')
    (bumped / "pyproject.toml").write_text(text)
    out = root / "lock"
    _seed(out / "wheels", snap, pypi_wheelhouse)
    rc, _out, err = cli("lock", str(path), "--wheelhouse", str(out / "wheels"), "-o", str(out),
                        "--allow-build")
    return LockRun(rc=rc, err=err, out=out, wheels=out / "wheels", root=root)


GONE = {
    "goneaway==0.1.0": "its source directory is not on this machine",
    "gonevcs==3.0.0": "its source directory is not on this machine",
    "bumped==1.0.0": "its source now builds version 1.1.0, not the captured 1.0.0",
}


def test_gone_sources_are_reported_not_dropped(gone: LockRun) -> None:
    assert gone.rc == 1, gone.err  # documented: 1 = something could not be locked
    err = gone.err
    out = gone.out
    req = (out / "requirements.txt").read_text()
    tail = req[req.index("# NOT LOCKED"):]
    for pin, reason in GONE.items():
        assert f"envsnap: warning: not locked: {pin}: {reason}" in err, err
        assert f"#   {pin}: {reason}" in tail, tail
        assert f"\n{pin.split('==')[0]}==" not in req  # named, never pinned
    assert "\nsix==1.16.0 \\\n    --hash=sha256:" in req  # the rest is still locked
    assert str(gone.root) not in req


def test_gone_source_is_not_lockable_offline_either(gone: LockRun, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()  # --offline needs an existing wheelhouse (else exit 2)
    rc, _out, err = cli("lock", str(gone.root / "gone.toml"), "-o", str(tmp_path), "--format", "requirements",
                        "--offline", "--wheelhouse", str(tmp_path / "empty"), "--allow-build")
    assert rc == 1
    tail = (tmp_path / "requirements.txt").read_text().split("# NOT LOCKED")[1]
    for pin in ("goneaway==0.1.0", "gonevcs==3.0.0"):
        assert f"not locked: {pin}: its source directory is not on this machine" in err
        assert pin in tail


def test_pylock_names_what_it_could_not_lock(gone: LockRun) -> None:
    text = (gone.out / "pylock.toml").read_text()
    assert "goneaway" in text

