"""`envsnap restore` round trip on a real venv of 21 packages (markupsafe and
charset-normalizer compiled, a +cu121 local-label build, pip and setuptools): offline from a
wheelhouse, with pip and with uv, the restored venv captures like the snapshot but for paths.
A restore that fails leaves no venv behind."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import support
from indexserver import cli_env, envsnap, serve, serve_site, static_site

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.lock.restore import compare
from envsnap.snapshot import Snapshot

pytestmark = pytest.mark.slow

# Real PyPI wheels for CPython 3.11 on x86_64 Linux, besides support.PYPI_PINS.
MORE_PINS = (
    "requests==2.32.3", "urllib3==2.2.3", "certifi==2024.8.30", "charset-normalizer==3.4.0",
    "packaging==24.1", "pluggy==1.5.0", "pytest==8.3.3", "typing-extensions==4.12.2",
    "zipp==3.20.2", "jinja2==3.1.4", "click==8.1.7", "pygments==2.18.0",
)
LABELLED = ("envsnap-cudapkg", "1.0+cu121")


@dataclass(frozen=True, kw_only=True)
class Source:
    root: Path
    snapshot: Path
    wheels: Path


def _identity(snap: Snapshot) -> dict[str, tuple[str, tuple[str, ...]]]:
    assert snap.python is not None
    return {p.name: (p.version, tuple(sorted(p.tags))) for p in snap.python.packages}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Source:
    root = tmp_path_factory.mktemp("restore")
    wheels = root / "wheels"
    wheels.mkdir()
    more = support.download_wheels(pypi_wheelhouse.parent / "restore", MORE_PINS)
    for folder in (pypi_wheelhouse, more):
        for whl in folder.glob("*.whl"):
            shutil.copy2(whl, wheels)
    support.build_wheel(wheels, *LABELLED)
    python = support.make_venv(root / "venv")
    names = [*support.PYPI_PINS, *MORE_PINS, f"{LABELLED[0]}=={LABELLED[1]}"]
    support.pip_install(python, "--no-index", "--find-links", wheels, *names)
    snap = capture(python=str(python), only={"python"})
    assert snap.python is not None
    tools = [f"{p.name}=={p.version}" for p in snap.python.packages
             if p.name in ("pip", "setuptools")]
    for whl in support.download_wheels(pypi_wheelhouse.parent / "restore-tools", tools).glob("*.whl"):
        shutil.copy2(whl, wheels)
    path = root / "snap.toml"
    snapio.dump(snap, path)
    return Source(root=root, snapshot=path, wheels=wheels)


def test_source_venv_is_what_the_issue_asks(source: Source) -> None:
    snap = snapio.load(source.snapshot)
    assert snap.python is not None
    pkgs = {p.name: p for p in snap.python.packages}
    assert len(pkgs) >= 20
    assert pkgs[LABELLED[0]].version == LABELLED[1]
    assert pkgs["markupsafe"].native and pkgs["charset-normalizer"].native


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_offline_restore_round_trip(source: Source, installer: str, tmp_path: Path) -> None:
    venv = tmp_path / "restored"
    # Every https index unreachable and no configuration: the wheelhouse is the only source.
    env = cli_env(tmp_path / "home")
    rc, out, err, _s = envsnap("restore", source.snapshot, "--venv", venv, "--wheelhouse",
                               source.wheels, "--offline", "--installer", installer, env=env)
    assert rc == 0, err + out
    assert f"({installer}): same as the snapshot, paths aside" in err
    original = snapio.load(source.snapshot)
    again = capture(python=str(venv / "bin" / "python"), only={"python"})
    assert _identity(again) == _identity(original)
    assert original.python is not None and again.python is not None
    assert compare(original.python, again.python) == ()
    assert again.python.version == original.python.version
    assert again.python.prefix != original.python.prefix  # paths, and only paths, differ


def test_restore_from_the_mirror_without_a_wheelhouse(source: Source, tmp_path: Path) -> None:
    """No wheelhouse: the wheels come through the configured mirror into a temporary one,
    each checked against the index's sha256 (one line per download when not a terminal)."""
    with serve(source.wheels, workdir=tmp_path) as mirror:
        env = cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {mirror.url}\n")
        rc, out, err, _s = envsnap("restore", source.snapshot, "--venv", tmp_path / "v", env=env)
    assert rc == 0, err + out
    assert "downloaded markupsafe-2.1.5-" in err.lower()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".envsnap-wheels-")]


def test_a_failed_install_removes_the_venv(source: Source, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    shutil.copytree(source.wheels, wheels)
    broken = next(wheels.glob("six-*.whl"))
    broken.write_bytes(b"not a zip file")  # hashed as it is, refused by the installer
    venv = tmp_path / "v"
    rc, _out, err, _s = envsnap("restore", source.snapshot, "--venv", venv, "--wheelhouse", wheels,
                                "--offline", "--installer", "pip", env=cli_env(tmp_path / "home"))
    assert rc == 1
    assert "pip install failed" in err
    assert not venv.exists()


def test_missing_wheels_are_named_before_any_venv_is_made(source: Source, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    shutil.copytree(source.wheels, wheels)
    for whl in wheels.glob("six-*.whl"):
        whl.unlink()
    venv = tmp_path / "v"
    rc, _out, err, _s = envsnap("restore", source.snapshot, "--venv", venv, "--wheelhouse", wheels,
                                "--offline", env=cli_env(tmp_path / "home"))
    assert rc == 1
    assert "not locked: six==1.16.0: not in the wheelhouse (offline)" in err
    assert not venv.exists()


def test_existing_venv_is_refused(source: Source, tmp_path: Path) -> None:
    venv = tmp_path / "v"
    venv.mkdir()
    (venv / "keep.txt").write_text("mine")
    rc, _out, err, _s = envsnap("restore", source.snapshot, "--venv", venv, "--wheelhouse",
                                source.wheels, "--offline", env=cli_env(tmp_path / "home"))
    assert rc == 2 and "exists and is not empty" in err
    assert (venv / "keep.txt").read_text() == "mine"


def test_missing_interpreter_is_named(source: Source, tmp_path: Path) -> None:
    text = source.snapshot.read_text().replace("version = '3.11.7'", "version = '3.99.1'", 1)
    snap = tmp_path / "future.toml"
    snap.write_text(text)
    rc, _out, err, _s = envsnap("restore", snap, "--venv", tmp_path / "v", "--wheelhouse",
                                source.wheels, "--offline", env=cli_env(tmp_path / "home"))
    assert rc == 1, err
    assert "needs cpython 3.99.1 (or 3.99.x), not on this machine" in err
    assert not (tmp_path / "v").exists()


def _interrupt_when(argv: list[str | Path], env: dict[str, str], tmp: Path, said: str
                    ) -> tuple[int, str, float]:
    """Run the real CLI, send SIGINT once stderr says ``said``: (exit code, stderr, seconds
    from the signal to the exit)."""
    log = tmp / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "envsnap", *map(str, argv)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while said not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=30)
            return rc, log.read_text(), time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()  # our own child, by its handle
                proc.wait()


@pytest.mark.parametrize("during", ["downloading", "installing", "capturing"])
def test_ctrl_c_ends_restore_within_a_second(source: Source, tmp_path: Path, during: str) -> None:
    """Ctrl-C while wheels trickle in from a slow index, while pip installs, and while the
    new venv is captured: exit 130 within 1 s, no venv; the half-made venv and the temporary
    wheelhouse, moved aside at once, are gone soon after."""
    venv = tmp_path / "v"
    site = static_site(tmp_path / "site", sorted(source.wheels.glob("*.whl")))
    with serve_site(site, delay=0.05) as slow:
        if during == "downloading":
            env = cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {slow.url}\n")
            argv: list[str | Path] = ["restore", source.snapshot, "--venv", venv]
            said = "envsnap: downloading "
        else:
            env = cli_env(tmp_path / "home")
            argv = ["restore", source.snapshot, "--venv", venv, "--wheelhouse", source.wheels,
                    "--offline", "--installer", "pip"]
            said = {"installing": "envsnap: installing ",
                    "capturing": "envsnap: capturing the restored environment"}[during]
        rc, err, seconds = _interrupt_when(argv, env, tmp_path, said)
    assert rc == 130, err
    assert err.rstrip().endswith("envsnap: interrupted"), err
    assert "Traceback" not in err
    assert seconds < 1.0, f"{seconds:.2f}s"
    assert not venv.exists()
    # What it wrote was moved aside at once and is removed in the background: wait for that.
    deadline = time.monotonic() + 60
    while [p for p in tmp_path.iterdir() if p.name.startswith(".")]:
        assert time.monotonic() < deadline, list(tmp_path.iterdir())
        time.sleep(0.1)
