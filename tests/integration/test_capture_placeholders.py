"""capture -o placeholders through the real CLI, with the variables Slurm, torchrun and
Kubernetes set in a task (full sets, not the one variable envsnap reads) and the host name the
task really sees (a UTS namespace of its own, as root)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io

ENVSNAP = str(Path(sys.executable).parent / "envsnap")

# What srun sets in a task: recorded from Slurm 22.05.8 (srun -N2 --ntasks-per-node=1 env, on
# the cluster scripts/slurm-setup.sh starts), renamed to a 4-node job; this is task 2 on gpu-03.
SLURM_TASK = {
    "SLURMD_NODENAME": "gpu-03", "SLURM_CLUSTER_NAME": "envsnap", "SLURM_CPUS_ON_NODE": "1",
    "SLURM_GTIDS": "2", "SLURM_JOBID": "4711", "SLURM_JOB_CPUS_PER_NODE": "1(x4)",
    "SLURM_JOB_ID": "4711", "SLURM_JOB_NAME": "envsnap-fleet",
    "SLURM_JOB_NODELIST": "gpu-[01-04]", "SLURM_JOB_NUM_NODES": "4",
    "SLURM_JOB_PARTITION": "debug", "SLURM_LAUNCH_NODE_IPADDR": "10.77.0.1", "SLURM_LOCALID": "0",
    "SLURM_NNODES": "4", "SLURM_NODEID": "2", "SLURM_NODELIST": "gpu-[01-04]",
    "SLURM_NPROCS": "4", "SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "1", "SLURM_PROCID": "2",
    "SLURM_STEPID": "0", "SLURM_STEP_ID": "0", "SLURM_STEP_NODELIST": "gpu-[01-04]",
    "SLURM_STEP_NUM_NODES": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_TASKS_PER_NODE": "1(x4)",
    "SLURM_TOPOLOGY_ADDR": "gpu-03", "SLURM_SUBMIT_HOST": "login-1",
}

# What torchrun's agent sets for each worker (torch/distributed/elastic/agent/server/
# local_elastic_agent.py, _start_workers): worker 1 of node 1 in a 2-node x 4-GPU job.
TORCHRUN_WORKER = {
    "RANK": "5", "LOCAL_RANK": "1", "GROUP_RANK": "1", "ROLE_RANK": "5", "ROLE_NAME": "default",
    "LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "8", "GROUP_WORLD_SIZE": "2", "ROLE_WORLD_SIZE": "8",
    "MASTER_ADDR": "gpu-01", "MASTER_PORT": "29500", "TORCHELASTIC_RESTART_COUNT": "0",
    "TORCHELASTIC_MAX_RESTARTS": "0", "TORCHELASTIC_RUN_ID": "none",
    "TORCHELASTIC_USE_AGENT_STORE": "True", "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
}

# A pod of a Kubernetes Indexed Job (index 3): the control plane sets JOB_COMPLETION_INDEX, the
# kubelet the service variables; its host name is $(job-name)-$(index).
K8S_INDEXED_POD = {
    "JOB_COMPLETION_INDEX": "3", "HOSTNAME": "envsnap-capture-job-3",
    "NODE_NAME": "gpu-node-b.example.internal",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
}

# A DaemonSet pod: no rank variable at all.
K8S_DAEMONSET_POD = {
    "HOSTNAME": "envsnap-capture-x7k2p", "NODE_NAME": "gpu-node-b.example.internal",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
}


def _can_set_hostname() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    proc = subprocess.run(["unshare", "--uts", "hostname", "probe-host"], capture_output=True,
                          text=True, timeout=30, check=False)
    return None if proc.returncode == 0 else f"unshare --uts refused: {proc.stderr.strip()}"


_NO_UTS = _can_set_hostname()
needs_uts = pytest.mark.skipif(_NO_UTS is not None,
                               reason=f"SKIPPED: needs root for a host name of its own: {_NO_UTS}")


def capture(template: str, environ: dict[str, str], hostname: str,
            cwd: Path) -> subprocess.CompletedProcess[str]:
    """``envsnap capture --only os -o TEMPLATE`` as a task on host ``hostname`` would run it."""
    return capture_with([ENVSNAP, "capture", "--only", "os", "-q", "-o", template], environ,
                        hostname, cwd)


def capture_with(argv: list[str], environ: dict[str, str], hostname: str | None,
                 cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` on host ``hostname`` (None: this machine's own) with the scheduler variables
    ``environ`` (and no others)."""
    env = support.clean_env()
    for name in [*env]:  # whatever scheduler runs these tests must not leak its rank in
        if name.startswith(("SLURM", "TORCHELASTIC", "KUBERNETES")) or name in (
                "RANK", "LOCAL_RANK", "GROUP_RANK", "WORLD_SIZE", "JOB_COMPLETION_INDEX"):
            del env[name]
    env.update(environ)
    wrapped = argv if hostname is None else [
        "unshare", "--uts", "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh", hostname, *argv]
    return subprocess.run(wrapped, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@needs_uts
@pytest.mark.parametrize(("environ", "hostname", "expected"), [
    pytest.param(SLURM_TASK, "gpu-03", "gpu-03-2.toml", id="slurm-srun-task"),
    pytest.param(TORCHRUN_WORKER, "gpu-02", "gpu-02-5.toml", id="torchrun-worker"),
    # srun starts torchrun on each node: Slurm's task rank (one per node), not the worker's.
    pytest.param({**SLURM_TASK, **TORCHRUN_WORKER, "SLURM_PROCID": "1"}, "gpu-02",
                 "gpu-02-1.toml", id="srun-then-torchrun"),
    pytest.param(K8S_INDEXED_POD, "envsnap-capture-job-3", "envsnap-capture-job-3-3.toml",
                 id="kubernetes-indexed-job"),
    # A fully qualified host name gives its first label.
    pytest.param(SLURM_TASK, "gpu-03.cluster.example.org", "gpu-03-2.toml", id="fqdn"),
])
def test_each_scheduler_names_its_file(tmp_path: Path, environ: dict[str, str], hostname: str,
                                       expected: str) -> None:
    proc = capture("snaps/{hostname}-{rank}.toml", environ, hostname, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == [expected]
    snapshot = io.load(tmp_path / "snaps" / expected)
    # The file name and the snapshot agree on the host the capture ran on.
    assert snapshot.meta.hostname == hostname
    assert snapshot.os is not None


@needs_uts
def test_four_slurm_tasks_write_four_files(tmp_path: Path) -> None:
    # One task per node, as 'srun --ntasks-per-node=1' starts them: 4 nodes, 4 snapshots.
    for procid in range(4):
        node = f"gpu-{procid + 1:02d}"
        task = {**SLURM_TASK, "SLURM_PROCID": str(procid), "SLURM_NODEID": str(procid),
                "SLURM_GTIDS": str(procid), "SLURMD_NODENAME": node, "SLURM_TOPOLOGY_ADDR": node}
        proc = capture("snaps/{hostname}.toml", task, node, tmp_path)
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert names == ["gpu-01.toml", "gpu-02.toml", "gpu-03.toml", "gpu-04.toml"]


@needs_uts
def test_a_daemonset_pod_has_no_rank(tmp_path: Path) -> None:
    # No scheduler variable envsnap reads: a one-line error, exit 2, nothing written.
    proc = capture("snaps/{rank}.toml", K8S_DAEMONSET_POD, "envsnap-capture-x7k2p", tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "{rank} needs SLURM_PROCID, RANK or JOB_COMPLETION_INDEX" in proc.stderr
    assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())
    # {hostname} in a DaemonSet pod is the pod's name, not the node's (docs/fleet.md).
    proc = capture("snaps/{hostname}.toml", K8S_DAEMONSET_POD, "envsnap-capture-x7k2p", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "snaps").iterdir()] == ["envsnap-capture-x7k2p.toml"]


@needs_uts
def test_the_date_is_utc_and_torchrun_node_rank_is_not_a_rank(tmp_path: Path) -> None:
    # GROUP_RANK/PET_NODE_RANK name the node, not the process; envsnap reads neither, so a
    # launcher that sets only those is refused rather than mistaken for a rank.
    only_node_rank = {"GROUP_RANK": "1", "PET_NODE_RANK": "1", "NODE_RANK": "1"}
    proc = capture("snaps/{rank}.toml", only_node_rank, "gpu-02", tmp_path)
    assert proc.returncode == 2, proc.stderr
    proc = capture("snaps/{hostname}-{date}.toml", {**TORCHRUN_WORKER, "TZ": "Pacific/Kiritimati"},
                   "gpu-02", tmp_path)
    assert proc.returncode == 0, proc.stderr
    (written,) = (tmp_path / "snaps").iterdir()
    day = io.load(written).meta.captured_at[:10]  # captured_at is UTC (ISO 8601, 'Z')
    assert written.name == f"gpu-02-{day}.toml"


def test_placeholders_apply_only_to_o(tmp_path: Path) -> None:
    # '-o -' is stdout, whatever the scheduler; no file appears.
    env = {**support.clean_env(), **SLURM_TASK}
    proc = subprocess.run([ENVSNAP, "capture", "--only", "os", "-q", "-o", "-"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# envsnap snapshot") and not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# A real torchrun, from the CPU torch venv tests/conftest.py builds once per session


@pytest.fixture
def torchrun(torch_venv: Path) -> Path:
    return torch_venv.parent / "torchrun"


@pytest.mark.slow
def test_real_torchrun_sets_these_variables_and_rank_names_each_worker(
        tmp_path: Path, torchrun: Path) -> None:
    # This machine's own host name: torchrun's rendezvous store must resolve it.
    host = socket.gethostname()
    short = host.split(".")[0]
    launch = [str(torchrun), "--standalone", "--nnodes=1", "--nproc-per-node=2", "--no-python"]
    # The variables the worker sets above are the ones a real torchrun sets.
    env_dump = tmp_path / "env"
    env_dump.mkdir()
    proc = capture_with([*launch, "sh", "-c", f'env > {env_dump}/"$RANK"'], {}, None,
                        tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = dict(line.split("=", 1) for line in (env_dump / "1").read_text().splitlines()
                if "=" in line)
    assert set(TORCHRUN_WORKER) - {"TORCH_NCCL_ASYNC_ERROR_HANDLING"} <= set(seen), sorted(seen)
    assert (seen["RANK"], seen["LOCAL_RANK"], seen["WORLD_SIZE"]) == ("1", "1", "2")
    # One snapshot per worker process: RANK is per process, not per node.
    proc = capture_with([*launch, ENVSNAP, "capture", "--only", "os", "-q", "-o",
                         "snaps/{hostname}-{rank}.toml"], {}, None, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == [f"{short}-0.toml",
                                                                      f"{short}-1.toml"]
