# The inspector has no annotations on purpose (it runs under any Python 3 the user points at).
# mypy: disable-error-code="no-untyped-call"
"""envsnap.probes._inspector, run here in-process (the probe runs it inside the target
interpreter): its PEP 508 marker environment and ABI tag against packaging's for this same
interpreter, and the metadata folders it lists per sys.path entry against importlib.metadata's
own view of those folders and zips. The child-process half is tests/unit/probes/test_python.py
(recorded reports) and tests/integration/test_python_parse_real.py (real interpreters)."""

from __future__ import annotations

import ast
import importlib.metadata
import io
import os
import sys
import threading
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

from packaging.markers import default_environment
from packaging.tags import sys_tags

from envsnap.probes import _inspector


def test_marker_environment_is_packagings() -> None:
    assert _inspector.marker_environment() == default_environment()


def test_abi_tag_is_the_first_of_packagings_tags() -> None:
    assert _inspector._abi_tag() == next(iter(sys_tags())).abi


def test_full_version_spells_pre_releases_as_pep_440_does() -> None:
    class V:  # sys.version_info's type cannot be constructed: a stand-in with its fields
        def __init__(self, major: int, minor: int, micro: int, releaselevel: str,
                     serial: int) -> None:
            self.major, self.minor, self.micro = major, minor, micro
            self.releaselevel, self.serial = releaselevel, serial

    assert _inspector._full_version(V(3, 14, 0, "final", 0)) == "3.14.0"
    assert _inspector._full_version(V(3, 15, 0, "alpha", 2)) == "3.15.0a2"
    assert _inspector._full_version(V(3, 14, 1, "candidate", 1)) == "3.14.1c1"
    assert _inspector._full_version(sys.version_info) == default_environment()["python_full_version"]


def _dist(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_metadata_entries_match_importlib_metadata(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name, version in (("alpha", "1.0"), ("beta", "2.0")):
        _dist(site, name, version)
    (site / "alpha").mkdir()  # a package folder: not metadata
    egg_info = site / "legacy-0.1-py3.11.egg-info"
    egg_info.mkdir()
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.1\n")
    zipped = tmp_path / "deps.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("gamma-3.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: gamma\nVersion: 3.0\n")
        z.writestr("gamma/__init__.py", "")
    path = [str(site), str(zipped), str(site), str(tmp_path / "absent"), ""]
    entries = _inspector.metadata_entries(path)
    assert [(e, kind) for e, kind, _ in entries] == [(str(site), "dir"), (str(zipped), "zip")]
    listed = {name for _, _, names in entries for name in names}
    # "" (the current folder, for `python -c`) is no part of the environment: skipped above,
    # and left out of the reference's path too.
    seen = {d._path.name  # type: ignore[attr-defined]
            for d in importlib.metadata.distributions(path=[p for p in path if p])}
    assert listed == seen == {"alpha-1.0.dist-info", "beta-2.0.dist-info",
                              "legacy-0.1-py3.11.egg-info", "gamma-3.0.dist-info"}


def test_main_prints_one_literal_after_its_marker() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        _inspector.main()
    before, marker, literal = out.getvalue().rpartition("\n" + _inspector.MARKER + "\n")
    assert marker and before == ""
    facts = ast.literal_eval(literal)
    assert facts["version"] == default_environment()["python_full_version"]
    assert facts["markers"] == default_environment()


def test_a_fifo_on_sys_path_is_skipped_not_opened(tmp_path: Path) -> None:
    # Opening a FIFO blocks until a writer comes: the whole capture would wait on it.
    fifo = tmp_path / "deps.zip"
    os.mkfifo(fifo)
    site = tmp_path / "site"
    _dist(site, "alpha", "1.0")
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(
        _inspector.metadata_entries([str(fifo), str(site)])), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done, "metadata_entries blocked on a FIFO"
    assert done[0] == [[str(site), "dir", ["alpha-1.0.dist-info"]]]
