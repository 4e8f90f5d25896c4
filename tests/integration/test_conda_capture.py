"""The real conda-meta records (tests/data/conda-meta), laid out as a conda prefix around a real
interpreter, are captured with conda's own ownership rule: a dist is conda's iff a record's
``files`` lists its dist-info / egg-info; anything else was installed by pip on top."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "conda-meta"


@pytest.fixture()
def conda_prefix(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    py = support.make_venv(prefix, with_pip=False)
    shutil.copytree(DATA, prefix / "conda-meta", ignore=shutil.ignore_patterns("SOURCE.md"))
    # The site dirs the records name (they come from an osx py3.6 and a py3.13t env)
    six_site = prefix / "lib" / "python3.6" / "site-packages"
    egg = six_site / "six-1.11.0-py3.6.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: six\nVersion: 1.11.0\n")
    t_site = prefix / "lib" / "python3.13t" / "site-packages"
    pip_di = t_site / "pip-25.0.1.dist-info"
    pip_di.mkdir(parents=True)
    (pip_di / "METADATA").write_text("Metadata-Version: 2.1\nName: pip\nVersion: 25.0.1\n")
    (pip_di / "INSTALLER").write_text("conda\n")
    # the reference "pip package inside a conda env" case from conda/conda's test data:
    # imagesize with METADATA and RECORD, no conda record, no INSTALLER
    im = t_site / "imagesize-1.4.1.dist-info"
    im.mkdir()
    (im / "METADATA").write_text("Metadata-Version: 2.1\nName: imagesize\nVersion: 1.4.1\n")
    (im / "RECORD").write_text("imagesize.py,,\n")
    # a pip-installed wheel beside them, recorded the way pip records it
    uv = t_site / "idna-3.7.dist-info"
    uv.mkdir()
    (uv / "METADATA").write_text("Metadata-Version: 2.1\nName: idna\nVersion: 3.7\n")
    (uv / "INSTALLER").write_text("pip\n")
    site = support.site_packages(py)
    (site / "conda-layout.pth").write_text(f"{six_site}\n{t_site}\n")
    return prefix


def test_conda_records_and_ownership(conda_prefix: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    code = main(["capture", "--python", str(conda_prefix / "bin" / "python"), "-o", str(out), "-q"])
    assert code == 0
    snap = io.load(out)
    assert snap.conda is not None
    assert [p.name for p in snap.conda.packages] == ["numpy", "openssl", "pip", "python", "python_abi", "six"]
    assert snap.conda.requested_specs == ("pip", "python=3.13", "python_abi[build=*_cp313t]")
    assert snap.python is not None and snap.python.env_kind == "conda"
    owners = {p.name: p.owner for p in snap.python.packages}
    assert owners == {"six": "conda", "pip": "conda", "imagesize": None, "idna": None}
    # machine paths from the records' original authors never enter the snapshot
    text = out.read_text()
    assert "/Users/" not in text and "extracted_package_dir" not in text
    url = "https://conda.anaconda.org/conda-forge/osx-arm64/python-3.13.2-hfd29fff_1_cp313t.conda"
    assert f"url = '{url}'" in text


def test_conda_meta_without_records_is_still_a_conda_env(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    support.make_venv(prefix, with_pip=False)
    (prefix / "conda-meta").mkdir()
    out = tmp_path / "snap.toml"
    assert main(["capture", "--python", str(prefix / "bin" / "python"), "-o", str(out), "-q",
                 "--only", "python,conda"]) == 0
    snap = io.load(out)
    assert snap.conda is not None and snap.conda.packages == ()
    assert snap.python is not None and snap.python.env_kind == "conda"


def test_no_conda_is_absence_not_error(tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    assert main(["capture", "--python", sys.executable, "-o", str(out), "-q", "--only", "conda"]) == 0
    snap = io.load(out)
    assert snap.conda is None and snap.probes["conda"].status == "absent"
