"""Benchmark: graphs a hostile snapshot can hold, through the real command line (a fresh
process each run: start-up, reading, the graph, rendering). A chain of 150,000 packages, each
requiring the next (7 MB of TOML, under the size cap), through diff, check, fleet report,
export, show --tree and why; and export of 10,000 packages with no dependencies (target from
issue 17: under 2 s). Prints the median, min and max of each, and the peak RSS of the command.

    .venv/bin/python benchmarks/bench_graph.py [--runs N] [--packages N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envsnap.io import dumps
from envsnap.snapshot import Package, PythonEnv, Snapshot

CHAIN = 150_000
FLAT = 10_000
TARGET_EXPORT_FLAT_S = 2.0
# Runs one command and prints its peak RSS in KiB: RUSAGE_CHILDREN of a fresh parent is that
# command's own peak (the largest of the processes it waited for).
MEASURE = ("import resource, subprocess, sys; "
           "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def chain(n: int, *, changed: bool = False) -> Snapshot:
    """p0 requires p1 requires p2 ...; ``changed``: every 10,000th package upgraded to 2.0."""
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"p{i}", version="2.0" if changed and i % 10_000 == 7 else "1.0",
                requires=(f"p{i + 1}",) if i + 1 < n else ())
        for i in range(n))))


def flat(n: int) -> Snapshot:
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"package-{i:05d}", version="1.0", installer="pip") for i in range(n))))


def one_run(argv: list[str], cwd: Path) -> tuple[float, int, int]:
    """(seconds, exit code, peak RSS in KiB) of ``envsnap *argv``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "envsnap", *argv],
                          cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    code, rss = proc.stdout.split()
    return elapsed, int(code), int(rss)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=CHAIN, help="length of the chain")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "a.toml").write_text(dumps(chain(opts.packages)))
        (d / "b.toml").write_text(dumps(chain(opts.packages, changed=True)))
        (d / "flat.toml").write_text(dumps(flat(FLAT)))
        (d / "fleet").mkdir()
        for name, source in (("n1", "a"), ("n2", "a"), ("n3", "b")):
            shutil.copyfile(d / f"{source}.toml", d / "fleet" / f"{name}.toml")
        print(f"a chain of {opts.packages:,} packages: {(d / 'a.toml').stat().st_size / 2**20:.1f}"
              f" MiB of TOML; {FLAT:,} packages without dependencies: "
              f"{(d / 'flat.toml').stat().st_size / 2**20:.1f} MiB")
        cases = [
            ("show (load only)", ["show", "a.toml"], (0,)),
            ("diff", ["diff", "a.toml", "b.toml"], (0, 1)),
            ("check", ["check", "b.toml"], (0, 1)),
            ("fleet report (3 nodes)", ["fleet", "report", "fleet"], (0, 1)),
            ("export", ["export", "a.toml", "-o", "a.cdx.json", "--force"], (0,)),
            ("show --tree", ["show", "a.toml", "--tree"], (0,)),
            (f"why p{opts.packages - 1}", ["why", "a.toml", f"p{opts.packages - 1}"], (0,)),
            (f"export, {FLAT:,} flat", ["export", "flat.toml", "-o", "flat.cdx.json", "--force"],
             (0,)),
        ]
        medians = {}
        for label, argv, codes in cases:
            times, peaks = [], []
            for _ in range(opts.runs):
                t, code, rss = one_run(argv, d)
                if code not in codes:
                    sys.exit(f"envsnap {' '.join(argv)} exited {code}")
                times.append(t)
                peaks.append(rss)
            medians[label] = statistics.median(times)
            print(f"  {label:<28} median {medians[label]:6.2f} s (min {min(times):.2f}, max "
                  f"{max(times):.2f}, n={opts.runs}); peak RSS {max(peaks) / 1024:.0f} MiB")
    flat_s = medians[f"export, {FLAT:,} flat"]
    ok = flat_s < TARGET_EXPORT_FLAT_S
    print(f"export of {FLAT:,} packages: {flat_s:.2f} s, target < {TARGET_EXPORT_FLAT_S} s: "
          + ("within target (median)" if ok else "OVER TARGET (median)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
