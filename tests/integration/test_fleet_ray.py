"""`envsnap fleet capture --ray` against a real local Ray cluster of three `ray start` nodes
(a head and two workers, one of them from another virtual env with another idna and its own
NCCL_* variable), driven through the real CLI; the cluster is stopped by the fixture."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import support

pytestmark = pytest.mark.slow

ENVSNAP = str(Path(sys.executable).parent / "envsnap")
RAY_MISSING = importlib.util.find_spec("ray") is None
needs_ray = pytest.mark.skipif(
    RAY_MISSING, reason="SKIPPED: needs Ray on the test interpreter (pip install 'envsnap[ray]')")
START_S = 300  # ~50 s for the three nodes on an idle 2-core VM; retries on a loaded one
ODD_IDNA = "3.7"
SLOW_MARK = "ENVSNAP_TEST_SLOW_MARK"

# Every process of these clusters: no usage report, no token auth (an earlier local
# ray.init() leaves ~/.ray/auth_token behind, which turns it on for a new head).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    address: str
    root: Path
    odd_python: Path
    slow_python: Path  # a --python wrapper that sleeps on the node whose env sets SLOW_MARK
    mark: Path
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return support.clean_env(RAY_ENV)


def _ray_start(python: Path, args: list[str], log: Path, env: dict[str, str]
               ) -> subprocess.Popen[bytes]:
    # --block keeps the node in the foreground: its processes are this process group's, killed
    # as one at the end (never `ray stop`, which stops every Ray cluster on the machine).
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(python), "-c", "from ray.scripts.scripts import main; main()", "start", "--block",
             "--num-cpus=1", "--disable-usage-stats", *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            # The group may outlive its leader (raylet, gcs_server): SIGKILL finishes it.
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _start_node(c: Cluster, name: str, python: Path, args: list[str], env: dict[str, str],
                deadline: float) -> str:
    """Start one node and wait until `ray start --block` says it is up; returns its log.

    `ray start` gives a node 30 s to register (hard-coded in ray/_private/node.py), which a
    loaded 2-core machine can miss: such a node is stopped and started again."""
    log = c.root / f"{name}.log"
    for _attempt in range(3):
        proc = c.nodes[name] = _ray_start(python, args, log, env)
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")
            if "will now block forever" in text:
                return text
            time.sleep(0.5)
        _stop(proc)
        if time.monotonic() >= deadline:
            break
    raise AssertionError(f"{name} node did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _node_count(cluster_env: dict[str, str], address: str) -> int:
    """Alive nodes, asked in a child process: Ray stays out of pytest's process."""
    code = (f"import ray, logging; ray.init(address={address!r}, log_to_driver=False, "
            "logging_level=logging.ERROR); print(sum(n['Alive'] for n in ray.nodes()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cluster_env, timeout=60, check=False)
    return int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Iterator[Cluster]:
    if RAY_MISSING:
        pytest.skip("SKIPPED: needs Ray on the test interpreter (pip install 'envsnap[ray]')")
    root = tmp_path_factory.mktemp("ray")
    # The odd node's env: a venv of its own that sees the test venv's packages through a .pth
    # line (a plain path: the test venv's own .pth files, envsnap's editable hook among them,
    # are not run, so envsnap is NOT importable there: only Ray's runtime_env brings it) with
    # one package at another version installed in front of them.
    odd_python = support.make_venv(root / "odd-venv", with_pip=False)
    odd_site = support.site_packages(odd_python)
    (odd_site / "zz-test-venv.pth").write_text(f"{support.site_packages(Path(sys.executable))}\n")
    wheel = next(pypi_wheelhouse.glob(f"idna-{ODD_IDNA}-*.whl"))
    support.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                 odd_site, wheel])
    mark = root / "slow-started"
    slow_python = root / "slow-python"
    slow_python.write_text(
        "#!/bin/sh\n"
        "# On the node whose `ray start` set the variable: say so (with this PID), then wait.\n"
        f'if [ -n "${SLOW_MARK}" ]; then echo $$ > "${SLOW_MARK}"; sleep 600; fi\n'
        f'exec {sys.executable} "$@"\n')
    slow_python.chmod(0o755)

    port = _free_port()
    temp = Path("/tmp") / f"envsnap-ray-{os.getpid()}"  # Ray's socket paths must stay short
    c = Cluster(address="", root=root, odd_python=odd_python, slow_python=slow_python, mark=mark)
    env = c.env()
    try:
        # One node at a time: on 2 cores, nodes starting together time out registering.
        deadline = time.monotonic() + START_S
        head_log = _start_node(c, "head", Path(sys.executable),
                               ["--head", f"--port={port}", "--include-dashboard=false",
                                f"--temp-dir={temp}"], env, deadline)
        found = re.search(r"ray start --address='([^']+)'", head_log)
        assert found, head_log
        c.address = found.group(1)
        _start_node(c, "odd", odd_python, [f"--address={c.address}"],
                    {**env, "NCCL_SOCKET_IFNAME": "eth9"}, deadline)
        _start_node(c, "slow", Path(sys.executable), [f"--address={c.address}"],
                    {**env, SLOW_MARK: str(mark)}, deadline)
        assert _node_count(env, c.address) == 3, "the three nodes did not all join"
        yield c
    finally:
        for proc in c.nodes.values():
            _stop(proc)
        _kill_slow_wrapper(mark)
        shutil.rmtree(temp, ignore_errors=True)


def _kill_slow_wrapper(mark: Path) -> None:
    """The wrapper runs in a session of its own (envsnap starts every child that way)."""
    if mark.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(mark.read_text().strip()), signal.SIGKILL)
        mark.unlink()


def fleet_capture(cluster: Cluster, out: Path, *args: str, timeout: float = 300
                  ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENVSNAP, "fleet", "capture", "--ray", cluster.address, "-o", str(out),
                           "--json", *args], capture_output=True, text=True,
                          env=cluster.env(), timeout=timeout, check=False)


def by_hostname_suffix(report: dict[str, object]) -> dict[str, dict[str, object]]:
    nodes = report["nodes"]
    assert isinstance(nodes, list)
    return {n["name"]: n for n in nodes}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.endswith(".toml"))


@dataclass
class Captured:
    out: Path
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def captured(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """One fleet capture of the whole cluster, shared by the tests that read its snapshots."""
    out = tmp_path_factory.mktemp("fleet") / "snaps"
    return Captured(out=out, proc=fleet_capture(cluster, out))


@pytest.fixture(scope="module")
def snaps(captured: Captured) -> Path:
    assert captured.proc.returncode == 0, captured.proc.stderr
    return captured.out


def test_three_nodes_three_snapshots(cluster: Cluster, captured: Captured) -> None:
    out, proc = captured.out, captured.proc
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    nodes = report["nodes"]
    assert len(nodes) == 3 and all(n["ok"] for n in nodes), nodes
    host = socket.gethostname().split(".")[0]
    for n in nodes:  # one machine: every host name repeats, so each name carries the node id
        assert n["name"] == f"{host}-{n['node_id'][:8]}"
        assert n["path"] == str(out / f"{n['name']}.toml")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n['name']}.toml" for n in nodes)
    assert "3 of 3 nodes captured" in proc.stderr

    from envsnap.io import load

    snaps = {n["name"]: load(n["path"]) for n in nodes}
    odd = [name for name, s in snaps.items()
           if s.python is not None and s.python.executable == str(cluster.odd_python)]
    assert len(odd) == 1, {k: s.python.executable if s.python else None for k, s in snaps.items()}
    for name, snap in snaps.items():
        assert snap.python is not None
        idna = next(p for p in snap.python.packages if p.name == "idna")
        if name in odd:
            assert idna.version == ODD_IDNA
            assert snap.env.get("NCCL_SOCKET_IFNAME") == "eth9"
        else:
            assert snap.python.executable == sys.executable
            assert idna.version != ODD_IDNA
            assert "NCCL_SOCKET_IFNAME" not in snap.env
    for n in nodes:  # the copy of envsnap Ray shipped to the nodes left no trace
        text = Path(n["path"]).read_text()
        assert "runtime_resources" not in text and "_ray_pkg_" not in text


def _odd_name(cluster: Cluster, out: Path) -> str:
    from envsnap.io import load

    return next(p.stem for p in out.glob("*.toml")
                if (s := load(p)).python is not None
                and s.python.executable == str(cluster.odd_python))


def test_fleet_report_names_the_odd_node(cluster: Cluster, snaps: Path) -> None:
    odd = _odd_name(cluster, snaps)
    proc = subprocess.run([ENVSNAP, "fleet", "report", str(snaps), "--fail-on", "major",
                           "--format", "json"], capture_output=True, text=True,
                          env=cluster.env(), timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout
    data = json.loads(text)
    groups = data["groups"]
    assert [[Path(n).stem for n in g["nodes"]] for g in groups] == [[odd]], text
    changed = {c["name"] for c in groups[0]["changes"]}
    assert {"idna", "NCCL_SOCKET_IFNAME"} <= changed, text


def test_diff_baseline_names_the_odd_node(cluster: Cluster, snaps: Path) -> None:
    odd = _odd_name(cluster, snaps)
    baseline = next(p for p in sorted(snaps.glob("*.toml")) if p.stem != odd)
    proc = subprocess.run([ENVSNAP, "diff", "--baseline", str(baseline), str(snaps),
                           "--fail-on", "major"], capture_output=True, text=True,
                          env=cluster.env(), timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{odd}.toml" in proc.stdout
    others = [p.stem for p in snaps.glob("*.toml") if p.stem not in (odd, baseline.stem)]
    for line in proc.stdout.splitlines():
        if line.startswith(("MAJOR", "CRITICAL")):
            assert all(o not in line for o in others), proc.stdout
    assert "idna" in proc.stdout and "NCCL_SOCKET_IFNAME" in proc.stdout


def test_a_node_past_the_timeout_is_named(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    proc = fleet_capture(cluster, out, "--python", str(cluster.slow_python), "--timeout", "40")
    try:
        assert proc.returncode == 1, proc.stderr
        nodes = json.loads(proc.stdout)["nodes"]
        failed = [n for n in nodes if not n["ok"]]
        assert len(failed) == 1 and "no snapshot within 40s" in failed[0]["reason"], nodes
        assert failed[0]["path"] is None
        assert failed[0]["name"] in proc.stderr and "40s" in proc.stderr
        assert sorted(p.name for p in out.glob("*.toml")) == sorted(
            f"{n['name']}.toml" for n in nodes if n["ok"])
        assert _leftovers(out) == []
    finally:
        _kill_slow_wrapper(cluster.mark)


def test_a_node_that_dies_during_capture(cluster: Cluster, tmp_path: Path) -> None:
    """Runs last: the slow node is killed (its whole `ray start` process group) while its
    capture waits, and stays dead."""
    out = tmp_path / "snaps"
    cmd = [ENVSNAP, "fleet", "capture", "--ray", cluster.address, "-o", str(out), "--json",
           "--python", str(cluster.slow_python), "--timeout", "240"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=cluster.env())
    try:
        deadline = time.monotonic() + 120
        while not cluster.mark.exists() and time.monotonic() < deadline:
            assert driver.poll() is None, driver.communicate()
            time.sleep(0.2)
        assert cluster.mark.exists(), "the slow node's capture never started"
        _stop(cluster.nodes["slow"])
        _kill_slow_wrapper(cluster.mark)
        stdout, stderr = driver.communicate(timeout=200)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    print(stderr)  # shown with -rP: what the user reads when a node dies
    assert driver.returncode == 1, stderr
    nodes = json.loads(stdout)["nodes"]
    failed = [n for n in nodes if not n["ok"]]
    assert len(nodes) == 3 and len(failed) == 1, nodes
    assert "died" in failed[0]["reason"] or "left the cluster" in failed[0]["reason"], failed
    assert failed[0]["name"] in stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n['name']}.toml" for n in nodes if n["ok"])  # no partial or temporary file


# ---------------------------------------------------------------------------------------------
# Refusals: no cluster needed.

def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def _envsnap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENVSNAP, *args], capture_output=True, text=True,
                          env=support.clean_env(RAY_ENV), timeout=120, check=False)


def test_help_teaches() -> None:
    proc = _envsnap("fleet", "capture", "--help")
    assert proc.returncode == 0
    for word in ("examples:", "--ray", "--python", "--timeout", "what must be installed",
                 "py_modules", "exit codes:"):
        assert word in proc.stdout


def test_output_must_be_a_directory(tmp_path: Path) -> None:
    afile = tmp_path / "f.toml"
    afile.write_text("x")
    _one_line_error(_envsnap("fleet", "capture", "--ray", "-o", str(afile)), str(afile),
                    "not a directory")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    _one_line_error(_envsnap("fleet", "capture", "--ray", "-o", str(link)), "symbolic link")


@needs_ray
def test_nothing_listening_at_the_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{_free_port()}"
    proc = _envsnap("fleet", "capture", "--ray", address, "-o", str(tmp_path / "snaps"))
    _one_line_error(proc, address, "no Ray cluster answers")
    assert not (tmp_path / "snaps").exists()


def test_without_ray_the_error_says_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; from envsnap.cli import main; "
            f"sys.exit(main(['fleet', 'capture', '--ray', '-o', {str(tmp_path / 'x')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=support.clean_env(), timeout=60, check=False)
    _one_line_error(proc, "pip install 'envsnap[ray]'")
