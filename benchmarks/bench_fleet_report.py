"""Benchmark: `envsnap fleet report` over 1,000 node snapshots of ~300 packages each, as the
command line runs it (a fresh process: start-up, reading, comparing, rendering). Target (issue
11): <= 10 s and bounded memory. Every node has its own host name, capture time and GPU UUIDs, as
real captures do; a few groups of nodes drifted (another NCCL, NCCL_* setting, driver branch,
package upgrades). Figures only: the medians, the spread, and the peak RSS of the processes.

    .venv/bin/python benchmarks/bench_fleet_report.py [--runs N] [--nodes N] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_diff import snapshot

from envsnap.io import dumps
from envsnap.snapshot import GPU, Meta, NvidiaInfo, Snapshot

PACKAGES = 300
TARGET_S = 10.0
ENVSNAP = [sys.executable, "-m", "envsnap"]


def node(base: Snapshot, upgraded: Snapshot, i: int) -> Snapshot:
    """Node i: its own identity; one in 16 runs another NCCL, one in 64 an upgraded package set,
    one in 100 another NCCL_* setting, one in 250 another driver branch."""
    snap = upgraded if i % 64 == 5 else base
    fw = snap.frameworks[0]
    if i % 16 == 3:
        snap = replace(snap, frameworks=(replace(fw, nccl="2.21.5"),))
    env = {"NCCL_SOCKET_IFNAME": "eth9" if i % 100 == 7 else "eth0", "NCCL_IB_DISABLE": "0"}
    driver = "570.172.08" if i % 250 == 11 else "580.159.04"
    gpus = tuple(GPU(index=g, name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                     uuid=f"GPU-{i:08x}-{g:04x}-0000-0000-000000000000",
                     pci_bus_id=f"00000000:{g + 0x18:02X}:00.0")
                 for g in range(8))
    return replace(snap, env=env,
                   meta=Meta(envsnap_version="bench", captured_at=f"2026-11-29T10:{i % 60:02d}:00Z",
                             hostname=f"gpu-{i:04d}"),
                   nvidia=NvidiaInfo(driver_version=driver, gpus=gpus))


def one_run(nodes: Path, jobs: int | None) -> tuple[float, int]:
    """(seconds, peak RSS of the command's processes in KiB)."""
    cmd = [*ENVSNAP, "fleet", "report", str(nodes), "--format", "json", "--fail-on", "never"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fleet report failed ({proc.returncode}): {proc.stderr.strip()}")
    # ru_maxrss of children is the largest single child (a worker or the command itself).
    return elapsed, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--jobs", type=int, default=None, help="passed to --jobs (default: CPUs)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Path(tmp) / "snaps"
        nodes.mkdir()
        base, upgraded = snapshot(PACKAGES), snapshot(PACKAGES, drift=1)
        total = 0
        for i in range(opts.nodes):
            text = dumps(node(base, upgraded, i))
            total += len(text)
            (nodes / f"gpu-{i:04d}.toml").write_text(text)
        print(f"{opts.nodes} node snapshots x {PACKAGES} packages, {total / 2**20:.1f} MiB of TOML; "
              f"CPUs usable: {len(os.sched_getaffinity(0))}")
        times, peaks = [], []
        for _ in range(opts.runs):
            t, rss = one_run(nodes, opts.jobs)
            times.append(t)
            peaks.append(rss)
        med = statistics.median(times)
        print(f"envsnap fleet report: median {med:.2f} s (min {min(times):.2f}, max "
              f"{max(times):.2f}, {opts.runs} runs); peak RSS of one process "
              f"{max(peaks) / 1024:.0f} MiB; target {TARGET_S} s")
    ok = med <= TARGET_S
    print("within target (median)" if ok else "OVER TARGET (median)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
