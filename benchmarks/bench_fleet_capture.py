"""`envsnap fleet capture --ray` on a local Ray cluster, first of the head alone, then of 3
nodes (a head and two workers, each its own `ray start`), beside one plain `envsnap capture`,
all through the real CLI: medians of 3. On one machine the nodes share its cores, so the
3-node time also shows how much of the wall time is per node rather than per run.

    .venv/bin/python benchmarks/bench_fleet_capture.py

Needs Ray in this interpreter's environment (pip install -e '.[ray]'). The cluster is started
here and stopped here: only the processes this script started are killed (never `ray stop`,
which stops every Ray cluster on the machine).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 3
ENVSNAP = str(Path(sys.executable).parent / "envsnap")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


def start_node(args: list[str], log: Path, deadline: float) -> tuple[subprocess.Popen[bytes], str]:
    """One `ray start --block` in a process group of its own; retried when Ray's 30 s
    registration window is missed on a loaded machine."""
    for _ in range(3):
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from ray.scripts.scripts import main; main()", "start",
                 "--block", "--num-cpus=1", "--disable-usage-stats", *args],
                stdout=out, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")
            if "will now block forever" in text:
                return proc, text
            time.sleep(0.5)
        stop(proc)
    raise SystemExit(f"{log}: the node did not start:\n{log.read_text(errors='replace')[-2000:]}")


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return took


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="envsnap-bench-fleet-"))
    temp = Path("/tmp") / f"envsnap-bench-ray-{os.getpid()}"
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        started = time.perf_counter()
        head, log = start_node(["--head", f"--port={free_port()}", "--include-dashboard=false",
                                f"--temp-dir={temp}"], work / "head.log", deadline)
        nodes.append(head)
        found = re.search(r"ray start --address='([^']+)'", log)
        if not found:
            raise SystemExit(f"no address in the head's log:\n{log[-2000:]}")
        address = found.group(1)
        single = []
        for r in range(ROUNDS):
            out = work / f"single{r}"
            single.append(timed([ENVSNAP, "fleet", "capture", "--ray", address, "-o", str(out),
                                 "-q"], work))
            print(f"round {r + 1}: fleet capture of the head alone {single[-1]:.2f}s")
        for i in (1, 2):
            nodes.append(start_node([f"--address={address}"], work / f"worker{i}.log",
                                    deadline)[0])
        print(f"3-node cluster at {address} started in {time.perf_counter() - started:.1f}s")

        fleet, plain = [], []
        for r in range(ROUNDS):  # alternating, so a noisy machine slows both alike
            out = work / f"snaps{r}"
            fleet.append(timed([ENVSNAP, "fleet", "capture", "--ray", address, "-o", str(out),
                                "-q"], work))
            count = len(list(out.glob("*.toml")))
            if count != 3:
                raise SystemExit(f"fleet capture wrote {count} snapshots, expected 3")
            plain.append(timed([ENVSNAP, "capture", "-o", str(work / f"plain{r}.toml"), "-q"],
                               work))
            print(f"round {r + 1}: fleet capture {fleet[-1]:.2f}s, plain capture {plain[-1]:.2f}s")
        f, p = statistics.median(fleet), statistics.median(plain)
        print(f"fleet capture, 1 node (median of {ROUNDS}): {statistics.median(single):.2f}s")
        print(f"fleet capture, 3 nodes (median of {ROUNDS}): {f:.2f}s")
        print(f"plain capture, 1 machine (median of {ROUNDS}): {p:.2f}s")
        print(f"ratio fleet / plain: {f / p:.1f}x")
    finally:
        for proc in reversed(nodes):
            stop(proc)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
