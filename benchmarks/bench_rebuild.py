"""Rebuild time after one small package changed, with the engine's layer cache, against a
cold build of the same image: the heavy layers must come from the cache.

    .venv/bin/python benchmarks/bench_rebuild.py [--base-image envsnap-base:bookworm]

Needs a Docker engine and the base image (scripts/docker-setup.sh). Uses the test suite's
cached PyPI wheels plus two tiny local wheels (small 1.0 -> 1.1 is the change).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import support  # noqa: E402 - after the path tweak

from envsnap.cli import Console, main  # noqa: E402
from envsnap.io import dump  # noqa: E402
from envsnap.snapshot import Package, PythonEnv, Snapshot  # noqa: E402


def build(snapshot: Path, wheels: Path, tag: str, base: str, *extra: str) -> tuple[float, str]:
    err = io.StringIO()
    start = time.perf_counter()
    rc = main(["build-image", str(snapshot), "-t", tag, "--wheelhouse", str(wheels),
               "--offline", "--network", "none", "--base-image", base,
               "--heavy", "markupsafe,attrs,idna", *extra], Console(io.StringIO(), err))
    if rc != 0:
        raise SystemExit(err.getvalue())
    return time.perf_counter() - start, err.getvalue().splitlines()[-1]


def main_() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-image", default="envsnap-base:bookworm")
    args = ap.parse_args()
    cache = support.download_wheels(Path.home() / ".cache" / "envsnap-tests" / "wheelhouse")
    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(tmp) / "wheels"
        shutil.copytree(cache, wh, ignore=shutil.ignore_patterns(".done-*"))
        support.download_wheels(wh, ("pip==23.2.1", "setuptools==65.5.0"))
        for v in ("1.0", "1.1"):
            support.build_wheel(wh, "envsnap-small", v)
        pkgs = [Package(name=p.split("==")[0], version=p.split("==")[1])
                for p in (*support.PYPI_PINS, "pip==23.2.1", "setuptools==65.5.0")]

        def snap(small: str, name: str) -> Path:
            s = Snapshot(python=PythonEnv(version="3.11.2", implementation="cpython",
                                          abi_tag="cp311", platform_tag="linux_x86_64",
                                          packages=(*pkgs, Package(name="envsnap-small",
                                                                   version=small))))
            path = Path(tmp) / name
            dump(s, path)
            return path

        a, b = snap("1.0", "a.toml"), snap("1.1", "b.toml")
        cold, cold_line = build(a, wh, "envsnap-bench:a", args.base_image, "--no-cache")
        warm, warm_line = build(b, wh, "envsnap-bench:b", args.base_image)
    print(f"cold build (--no-cache):            {cold:6.1f} s  {cold_line}")
    print(f"rebuild, one small package changed: {warm:6.1f} s  {warm_line}")


if __name__ == "__main__":
    main_()
