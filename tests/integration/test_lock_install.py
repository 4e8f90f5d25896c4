"""The requirements lock installs into a fresh venv with --require-hashes --no-deps (real pip)
and the result captures identically to the source."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import support

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.cli import Console, main
from envsnap.lock.pylock import validate_pylock

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_user_config")]


def test_requirements_lock_reinstalls_the_same_env(tmp_path: Path,
                                                   pypi_wheelhouse: Path) -> None:
    links = tmp_path / "links"
    shutil.copytree(pypi_wheelhouse, links, ignore=shutil.ignore_patterns(".done-*"))
    support.build_wheel(links, "envsnap-labelled", "2.0+cpu")
    src = support.make_venv(tmp_path / "src")
    support.pip_install(src, "--no-index", "--find-links", links, *support.PYPI_PINS,
                        "envsnap-labelled==2.0+cpu")
    snap_path = tmp_path / "src.toml"
    source = capture(python=str(src), only={"python"})
    snapio.dump(source, snap_path)

    out = tmp_path / "lock"
    wheels = out / "wheels"
    shutil.copytree(links, wheels)
    err = io.StringIO()
    rc = main(["lock", str(snap_path), "-o", str(out), "--wheelhouse", str(wheels)],
              Console(io.StringIO(), err))
    assert rc == 0, err.getvalue()
    req = (out / "requirements.txt").read_text()
    assert "envsnap lock src.toml -o lock --wheelhouse wheels" in req
    assert str(tmp_path) not in req
    pylock = validate_pylock((out / "pylock.toml").read_text())
    assert {p.name for p in pylock.packages} == {p.name for p in source.python.packages}  # type: ignore[union-attr]

    fresh = support.make_venv(tmp_path / "fresh")
    support.run([fresh, "-m", "pip", "install", "--no-index", "--find-links", wheels,
                 "--require-hashes", "--no-deps", "-r", out / "requirements.txt"])
    again = capture(python=str(fresh), only={"python"})
    assert again.python is not None and source.python is not None
    assert ({p.name: p.version for p in again.python.packages}
            == {p.name: p.version for p in source.python.packages})


def test_tampered_wheel_is_refused_by_pip(tmp_path: Path, pypi_wheelhouse: Path) -> None:
    """The hashes are real: a wheel changed after locking fails --require-hashes."""
    wheels = tmp_path / "wheels"
    support.build_wheel(wheels, "envsnap-tamper", "1.0")
    src = support.make_venv(tmp_path / "src", with_pip=True)
    support.pip_install(src, "--no-index", "--find-links", wheels, "envsnap-tamper")
    snap_path = tmp_path / "s.toml"
    snapio.dump(capture(python=str(src), only={"python"}), snap_path)
    for whl in pypi_wheelhouse.glob("*.whl"):
        shutil.copy2(whl, wheels)
    rc = main(["lock", str(snap_path), "-o", str(tmp_path), "--wheelhouse", str(wheels)],
              Console(io.StringIO(), io.StringIO()))
    assert rc == 0
    support.build_wheel(wheels, "envsnap-tamper", "1.0", modules={"envsnap_tamper.py": "x=1\n"})
    fresh = support.make_venv(tmp_path / "fresh")
    with pytest.raises(AssertionError, match="DO NOT MATCH"):
        support.run([fresh, "-m", "pip", "install", "--no-index", "--find-links", wheels,
                     "--require-hashes", "--no-deps", "-r", tmp_path / "requirements.txt"])
