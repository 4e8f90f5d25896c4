"""The README's offline build of a local package: a default 3.11 venv pins setuptools 65.5.0,
whose PEP 517 build also needs `wheel`. A wheelhouse holding only the snapshot's setuptools
fails offline with a message naming `wheel`; one online lock adds the build requirements to
the wheelhouse, after which the offline lock builds it with no index."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import support

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.cli import Console, main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_user_config")]


def cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    return main(list(args), Console(io.StringIO(), err)), err.getvalue()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Path:
    root = tmp_path_factory.mktemp("offline-build")
    python = support.make_venv(root / "venv")  # ensurepip: pip and setuptools 65.5.0 on 3.11
    support.download_wheels(pypi_wheelhouse, (support.SETUPTOOLS,))
    project = support.local_project(root / "src" / "mylocal", "mylocal", "0.2.0")
    # Installed with a recent setuptools from the cache (build isolation), as a user would.
    support.pip_install(python, "--no-index", "--find-links", pypi_wheelhouse, "-e", project)
    path = root / "snap.toml"
    snapio.dump(capture(python=str(python), only={"python"}), path)
    return path


def _seed(snapshot: Path, wheels: Path, cache: Path) -> None:
    """The snapshot's own pins (pip, setuptools) in the wheelhouse, nothing else."""
    snap = snapio.load(snapshot)
    assert snap.python is not None
    tools = [f"{p.name}=={p.version}" for p in snap.python.packages if p.name in ("pip", "setuptools")]
    assert any(t.startswith("setuptools==65.") for t in tools), tools
    got = support.download_wheels(cache / "offline-build-tools", tools)
    wheels.mkdir(parents=True)
    for whl in got.glob("*.whl"):
        shutil.copy2(whl, wheels)


def test_offline_build_names_the_missing_build_requirement(snapshot: Path, tmp_path: Path,
                                                           pypi_wheelhouse: Path) -> None:
    wheels = tmp_path / "wheels"
    _seed(snapshot, wheels, pypi_wheelhouse.parent)
    rc, err = cli("lock", str(snapshot), "-o", str(tmp_path / "out"), "--wheelhouse", str(wheels),
                  "--offline", "--allow-build")
    assert rc == 1
    assert ("not locked: mylocal==0.2.0: its build needs wheel (a PEP 517 build requirement), "
            "which is not in the wheelhouse") in err


def test_one_online_lock_makes_the_wheelhouse_build_offline(snapshot: Path, tmp_path: Path,
                                                             pypi_wheelhouse: Path) -> None:
    wheels = tmp_path / "wheels"
    _seed(snapshot, wheels, pypi_wheelhouse.parent)
    rc, err = cli("lock", str(snapshot), "-o", str(tmp_path / "online"), "--wheelhouse",
                  str(wheels), "--allow-build")
    assert rc == 0, err
    assert any(w.name.startswith("wheel-") for w in wheels.glob("*.whl"))
    for built in wheels.glob("mylocal-*.whl"):
        built.unlink()  # the offline run must build it again, from the wheelhouse alone
    rc, err = cli("lock", str(snapshot), "-o", str(tmp_path / "offline"), "--wheelhouse",
                  str(wheels), "--offline", "--allow-build")
    assert rc == 0, err
    req = (tmp_path / "offline" / "requirements.txt").read_text()
    assert "\nmylocal==0.2.0 \\\n    --hash=sha256:" in req
