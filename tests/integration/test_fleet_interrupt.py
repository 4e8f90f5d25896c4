"""Ctrl-C in `envsnap fleet report` reading node snapshots in worker processes: at many points
of the run, from the terminal (SIGINT to the whole process group) and from a supervisor
(SIGINT to the command alone), it exits 130 within a second, says one line, prints no
traceback and leaves no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import support

from envsnap.io import dumps
from envsnap.snapshot import Package, PythonEnv, Snapshot

pytestmark = pytest.mark.slow

NODES = 130  # enough that each worker reads chunks of 16 files
PACKAGES = 1500  # a file takes a worker a tenth of a second or more: a chunk, over a second
JOBS = "2"
WITHIN_S = 1.0


def _node() -> Snapshot:
    pkgs = tuple(Package(name=f"pkg-{i:04d}", version=f"{i % 7}.{i % 13}.0", installer="pip",
                         requires=tuple(f"pkg-{j:04d}>={j % 7}.0" for j in (i // 2, i // 3, i - 1)
                                        if 0 <= j < i))
                 for i in range(PACKAGES))
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=pkgs))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The node directory, and how long an uninterrupted report takes on this machine."""
    nodes = tmp_path_factory.mktemp("fleet") / "nodes"
    nodes.mkdir()
    first = nodes / "node-0000.toml"
    first.write_text(dumps(_node()))
    for i in range(1, NODES):
        shutil.copyfile(first, nodes / f"node-{i:04d}.toml")
    start = time.monotonic()
    proc = subprocess.run(_command(nodes), capture_output=True, text=True, check=False,
                          env=support.clean_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return nodes, time.monotonic() - start


def _command(nodes: Path) -> list[str]:
    return [sys.executable, "-m", "envsnap", "fleet", "report", str(nodes), "--jobs", JOBS]


def _interrupt(nodes: Path, after: float, *, group: bool) -> tuple[int, str, float, list[int]] | None:
    """Run the report, send SIGINT ``after`` seconds in; (exit code, stderr, seconds from the
    signal to the exit, processes of its session still alive a second later), or None when
    the report had already finished."""
    proc = subprocess.Popen(_command(nodes), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=support.clean_env(), start_new_session=True)
    try:
        time.sleep(after)
        if proc.poll() is not None:
            proc.communicate()
            return None
        sent = time.monotonic()
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        deadline = time.monotonic() + 1.0
        left = support.live_processes(session=proc.pid)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = support.live_processes(session=proc.pid)
        return proc.returncode, err, took, left
    finally:
        for pid in support.live_processes(session=proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _points(total: float, n: int) -> list[float]:
    """``n`` moments spread over the run, from start-up (the workers' server starting) to
    near the end."""
    return [0.25 + (0.9 * total - 0.25) * k / (n - 1) for k in range(n)]


def _check(outcomes: list[tuple[float, tuple[int, str, float, list[int]] | None]]) -> None:
    landed = [(at, o) for at, o in outcomes if o is not None]
    assert len(landed) >= len(outcomes) * 3 // 4, "most signals must reach a running report"
    bad = [(at, o) for at, o in landed
           if o[0] != 130 or o[1] != "envsnap: interrupted\n" or o[2] >= WITHIN_S or o[3]]
    assert not bad, "\n".join(
        f"at {at:.2f}s: exit {rc}, {took:.2f}s after the signal, left {left}, stderr {err!r}"
        for at, (rc, err, took, left) in bad)


def test_ctrl_c_from_the_terminal_at_many_points(fleet: tuple[Path, float]) -> None:
    nodes, total = fleet
    _check([(at, _interrupt(nodes, at, group=True)) for at in _points(total, 10)])


def test_sigint_to_the_command_alone_stops_its_workers_at_once(fleet: tuple[Path, float]) -> None:
    # A supervisor (timeout -s INT, a CI runner) signals the command only: the workers never
    # see it, and must not finish the chunks they are reading first.
    nodes, total = fleet
    _check([(at, _interrupt(nodes, at, group=False)) for at in _points(total, 5)])
