"""Benchmark: diff of two 10,000-package snapshots (parsing included) and a fleet diff of
1,000 snapshots of 300 packages. Targets (issues): <= 1.0 s and <= 10 s. Prints figures only.

    .venv/bin/python benchmarks/bench_diff.py
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from envsnap.drift import diff
from envsnap.fleet import FleetDiff, fleet_diff
from envsnap.io import dumps, load
from envsnap.snapshot import (
    GPU,
    Framework,
    NvidiaInfo,
    OSInfo,
    Package,
    PythonEnv,
    Snapshot,
    Source,
)

BIG = 10_000
FLEET_NODES = 1_000
FLEET_PACKAGES = 300
DRIFT_EVERY = 50  # one package in 50 differs between A and B
TARGET_PAIR_S = 1.0
TARGET_FLEET_S = 10.0
T = TypeVar("T")


def snapshot(n: int, *, drift: int = 0, driver: str = "580.159.04", nccl: str = "2.27.5") -> Snapshot:
    pkgs = []
    for i in range(n):
        version = f"{i % 7}.{i % 13}.{i % 5}"
        if drift and i % DRIFT_EVERY == 0:
            version = f"{i % 7}.{i % 13 + 1}.0"
        source = Source(kind="editable", url=f"file:///src/p{i}") if i % 997 == 0 else None
        pkgs.append(Package(
            name=f"package-{i:05d}", version=version, installer="pip", requested=i % 3 == 0,
            source=source, requires=(f"package-{(i + 1) % n:05d}",),
            tags=("cp311-cp311-manylinux_2_17_x86_64",), native=i % 4 == 0,
        ))
    return Snapshot(
        python=PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(pkgs)),
        os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"),
        nvidia=NvidiaInfo(driver_version=driver,
                          gpus=(GPU(index=0, name="NVIDIA H100 80GB HBM3",
                                    compute_capability="9.0"),)),
        frameworks=(Framework(name="torch", version="2.9.1+cu128", variant="cu128", cuda="12.8",
                              nccl=nccl, arch_list=("sm_80", "sm_90")),),
    )


def timed(fn: Callable[[], T]) -> tuple[T, float, int]:
    """(result, seconds, peak traced bytes). tracemalloc slows allocation several-fold, so the
    time comes from a plain run and the peak from a second, traced run."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak


def _best(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "a.toml").write_text(dumps(snapshot(BIG)))
        (d / "b.toml").write_text(dumps(snapshot(BIG, drift=1)))

        # Best of three: the first run also pays for imports and data-file parsing.
        runs = [timed(lambda: diff(load(d / "a.toml"), load(d / "b.toml"))) for _ in range(3)]
        result, pair_s, pair_peak = min(runs, key=lambda r: r[1])
        load_s = _best(lambda: load(d / "a.toml"))
        a_snap, b_snap = load(d / "a.toml"), load(d / "b.toml")
        diff_only_s = _best(lambda: diff(a_snap, b_snap))
        print(f"pair diff, {BIG} packages, parsing included: {pair_s:.3f} s "
              f"(target {TARGET_PAIR_S} s; one load {load_s:.3f} s, diff alone "
              f"{diff_only_s:.3f} s), {len(result)} changes, "
              f"peak traced memory {pair_peak / 2**20:.1f} MiB")

        nodes = d / "nodes"
        nodes.mkdir()
        base = snapshot(FLEET_PACKAGES)
        (d / "golden.toml").write_text(dumps(base))
        drifted = replace(base, frameworks=(replace(base.frameworks[0], nccl="2.21.5"),))
        for i in range(FLEET_NODES):
            (nodes / f"node-{i:04d}.toml").write_text(dumps(drifted if i % 16 < 3 else base))

        def fleet() -> FleetDiff:
            baseline = load(d / "golden.toml")
            files = sorted(nodes.iterdir())
            return fleet_diff("golden.toml", baseline, ((f.name, load(f)) for f in files))

        fleet_result, fleet_s, fleet_peak = timed(fleet)
        print(f"fleet diff, {FLEET_NODES} snapshots x {FLEET_PACKAGES} packages, parsing "
              f"included: {fleet_s:.3f} s (target {TARGET_FLEET_S} s), "
              f"{len(fleet_result.groups)} drift group(s), "
              f"peak traced memory {fleet_peak / 2**20:.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"process peak RSS: {rss / 1024:.1f} MiB")
    ok = pair_s < TARGET_PAIR_S and fleet_s < TARGET_FLEET_S
    print("within targets" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
