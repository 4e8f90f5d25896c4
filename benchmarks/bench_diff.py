"""Benchmark: diff of two 10,000-package snapshots with dependency-graph analysis (parsing
included). Target (issues 10 and 19): <= 1.0 s for `envsnap diff A B` as the command runs it
(both files read, the second in a forked process where a CPU is spare; the graphs; the diff;
the text report), timed in this process, interpreter start aside. Prints medians and spread of
several runs, the library's `diff(load(a), load(b))` beside it, and where the time goes;
figures only. The fleet report has its own: bench_fleet_report.py.

    .venv/bin/python benchmarks/bench_diff.py [--runs N]
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from envsnap import graph
from envsnap.cli import Console
from envsnap.cli import main as envsnap_main
from envsnap.drift import diff
from envsnap.graph import Graph
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
DRIFT_EVERY = 50  # one package in 50 differs between A and B
TARGET_PAIR_S = 1.0
T = TypeVar("T")


def _version(i: int, drift: int) -> str:
    if drift and i % DRIFT_EVERY == 0:
        return f"{i % 7}.{i % 13 + 1}.0"
    return f"{i % 7}.{i % 13}.{i % 5}"


def _requires(i: int, n: int) -> tuple[str, ...]:
    """3-5 requirements with specifiers, like real metadata: most on a few popular low-numbered
    packages (the typing-extensions, numpy, requests of the graph), some on near neighbours.
    Written as capture writes them (canonical name + str(SpecifierSet)). About one in ten caps
    the next minor release, so the drift breaks a few of them, as real upgrades do."""
    if i < 5:
        return ()
    rng = random.Random(i)
    targets: set[int] = set()
    while len(targets) < min(rng.randint(3, 5), i):
        j = int(i * rng.random() ** 3) if rng.random() < 0.7 else rng.randrange(max(0, i - 50), i)
        targets.add(j % n)
    out = []
    for j in sorted(targets):
        major, minor = j % 7, j % 13
        spec = rng.choice((f">={major}.0", f"<{major + 1},>={major}.{minor}",
                           f"~={major}.{minor}", f"!=99.0,>={major}", "", f">={major}.{minor}"))
        if rng.random() < 0.1:
            spec = f"<{major}.{minor + 1},>={major}.{minor}"
        out.append(f"package-{j:05d}{spec}")
    return tuple(sorted(out))


def snapshot(n: int, *, drift: int = 0, driver: str = "580.159.04", nccl: str = "2.27.5") -> Snapshot:
    pkgs = []
    for i in range(n):
        if drift and i % 997 == 500:
            continue  # removed in B
        source = Source(kind="editable", url=f"file:///src/p{i}") if i % 997 == 0 else None
        pkgs.append(Package(
            name=f"package-{i:05d}", version=_version(i, drift), installer="pip",
            requested=i % 3 == 0, source=source, requires=_requires(i, n),
            tags=("cp311-cp311-manylinux_2_17_x86_64",), native=i % 4 == 0,
        ))
    if drift:  # a few new packages, each pulled in by a drifted one
        pkgs += [Package(name=f"new-{i:05d}", version="1.0", installer="pip")
                 for i in range(0, n, 1000)]
        pkgs = [replace(p, requires=(*p.requires, f"new-{int(p.name[-5:]):05d}>=1"))
                if int(p.name[-5:]) % 1000 == 0 and p.name.startswith("package-") else p
                for p in pkgs]
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


def _cold() -> None:
    """Forget the requirement strings parsed by earlier runs, and let the collector see every
    object again (the command freezes what it read): each run is timed as a fresh `envsnap
    diff` process would do it (the shipped data files stay parsed: that is start-up)."""
    for cached in (graph.requirement, graph.parse_requirement, graph._requirements,
                   graph._version):
        cached.cache_clear()
    gc.unfreeze()
    gc.collect()


def _runs(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        _cold()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _spread(times: list[float]) -> str:
    return (f"median {statistics.median(times):.3f} s (min {min(times):.3f}, "
            f"max {max(times):.3f}, n={len(times)})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="pair-diff runs (default 7)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "a.toml").write_text(dumps(snapshot(BIG)))
        (d / "b.toml").write_text(dumps(snapshot(BIG, drift=1)))

        def command() -> None:
            out, err = io.StringIO(), io.StringIO()
            code = envsnap_main(["diff", str(d / "a.toml"), str(d / "b.toml")], Console(out=out, err=err))
            assert code in (0, 1) and "package-" in out.getvalue(), err.getvalue()

        def pair() -> object:
            return diff(load(d / "a.toml"), load(d / "b.toml"))

        command()  # the first run also pays for imports and data-file parsing
        pair()
        command_times = _runs(command, opts.runs)
        pair_times = _runs(pair, opts.runs)
        result, _, pair_peak = timed(lambda: diff(load(d / "a.toml"), load(d / "b.toml")))
        load_times = _runs(lambda: load(d / "a.toml"), opts.runs)
        a_snap, b_snap = load(d / "a.toml"), load(d / "b.toml")
        diff_times = _runs(lambda: diff(a_snap, b_snap), opts.runs)
        graph_times = _runs(lambda: (Graph(a_snap.python).requirers(),
                                     Graph(b_snap.python).requirers()), opts.runs)
        assert hasattr(result, "changes")
        changes = result.changes
        kinds: dict[str, int] = {}
        for c in changes:
            key = f"{c.section}:{c.kind}" + (" (grouped)" if c.caused_by else "")
            kinds[key] = kinds.get(key, 0) + 1
        command_s = statistics.median(command_times)
        print(f"envsnap diff A B, {BIG} packages (3-5 requirements each), parsing, graph and "
              f"report included: {_spread(command_times)}; target {TARGET_PAIR_S} s")
        print(f"  the library's diff(load(a), load(b)) {_spread(pair_times)}")
        print(f"  one load {_spread(load_times)}")
        print(f"  diff alone (both graphs, reach, broken requirements, grouping) "
              f"{_spread(diff_times)}")
        print(f"  of which building the two graphs {_spread(graph_times)}")
        print(f"  {len(changes)} changes: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        print(f"  peak traced memory {pair_peak / 2**20:.1f} MiB")

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"process peak RSS: {rss / 1024:.1f} MiB")
    ok = command_s <= TARGET_PAIR_S
    print("within targets (medians)" if ok else "OVER TARGET (medians)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
