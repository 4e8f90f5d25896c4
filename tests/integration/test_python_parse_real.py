"""The Python probe's dist-info reader on real files: every installed distribution, FIFOs, continuations."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from envsnap.host import LocalHost
from envsnap.probes.dist_info import METADATA_LIMIT, read_dist, scan


def _installed() -> list[importlib.metadata.Distribution]:
    # Real METADATA files: every distribution installed in the environment running the tests.
    dists = list(importlib.metadata.distributions())
    assert len(dists) > 20, "expected the test environment's real distributions"
    return dists


def test_dist_scan_matches_importlib_metadata_on_every_installed_distribution() -> None:
    host = LocalHost()
    for dist in _installed():
        path = str(dist._path)  # type: ignore[attr-defined]  # PathDistribution's folder
        raw = read_dist(host, os.path.dirname(path), os.path.basename(path))
        where = f"{path}"
        assert "error" not in raw, where
        assert raw["metadata"]["name"] == dist.metadata["Name"], where
        assert raw["metadata"]["version"] == dist.metadata["Version"], where
        assert raw["metadata"]["requires-dist"] == (dist.requires or []), where


def test_whitespace_only_continuation_keeps_later_requirements(tmp_path: Path) -> None:
    # The bug this replaces: the header scan stopped at "        \n", losing matplotlib's deps.
    site = tmp_path / "site"
    info = site / "m-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: m\nVersion: 1.0\nLicense: long\n        \n        text\n"
        "Requires-Dist: numpy>=1.23\nRequires-Dist: colorama; platform_system == 'Windows'\n\nbody")
    raw = read_dist(LocalHost(), str(site), "m-1.0.dist-info")
    assert raw["metadata"]["requires-dist"] == ["numpy>=1.23", "colorama; platform_system == 'Windows'"]


def test_fifo_and_device_metadata_are_not_read(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("fifo-1.0.dist-info", "zero-1.0.dist-info", "big-1.0.dist-info"):
        (site / name).mkdir(parents=True)
    os.mkfifo(site / "fifo-1.0.dist-info" / "METADATA")  # opening it for reading would block
    os.symlink("/dev/zero", site / "zero-1.0.dist-info" / "METADATA")  # reading it never ends
    with open(site / "big-1.0.dist-info" / "METADATA", "wb") as fh:
        fh.truncate(METADATA_LIMIT + 1)  # sparse: no disk used
    raws = {r["entry"]: r for r in scan(LocalHost(), [str(site)])[0]}
    assert raws["fifo-1.0.dist-info"]["error"] == "no-metadata"
    assert raws["zero-1.0.dist-info"]["error"] == "no-metadata"
    assert raws["big-1.0.dist-info"]["error"] == "too-large"
