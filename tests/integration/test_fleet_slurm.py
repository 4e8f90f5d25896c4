"""The sbatch script of docs/fleet.md, as written, on a real Slurm cluster (scripts/slurm-setup.sh
starts one on this machine: a slurmd per node, each with its own address and host name)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
import support

from envsnap import io

DOC = support.REPO / "docs" / "fleet.md"
BIN = Path(sys.executable).parent  # where this envsnap's console script lives
_FENCE = re.compile(r"^```bash\n(.*?)^```$", re.M | re.S)


def sbatch_script() -> str:
    bodies: list[str] = _FENCE.findall(DOC.read_text(encoding="utf-8"))
    (script,) = [b for b in bodies if b.startswith("#!/bin/bash\n")]
    return script


def _unavailable(reason: str) -> NoReturn:
    # CI runs scripts/slurm-setup.sh (scripts/test.sh): there a missing cluster is a failure.
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide a local Slurm cluster: {reason}")
    pytest.skip(f"SKIPPED: {reason}")


def idle_nodes() -> list[str]:
    """The idle nodes of the local Slurm cluster; skips with the reason when there is none."""
    if shutil.which("sbatch") is None:
        _unavailable("no sbatch on PATH (scripts/slurm-setup.sh installs Slurm and starts a "
                     "local cluster)")
    proc = subprocess.run(["sinfo", "-h", "-N", "-t", "idle", "-o", "%N"], capture_output=True,
                          text=True, timeout=30, check=False)
    if proc.returncode != 0:
        _unavailable(f"Slurm controller not answering ({proc.stderr.strip()}); "
                     "run scripts/slurm-setup.sh")
    nodes = sorted(set(proc.stdout.split()))
    if not nodes:
        _unavailable("no idle Slurm node; run scripts/slurm-setup.sh")
    return nodes


def job_env() -> dict[str, str]:
    # sbatch exports the submitting environment to the tasks: envsnap is found on PATH, as on
    # a cluster where the job's virtual environment is activated before sbatch.
    env = support.clean_env()
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def test_the_documented_sbatch_script_captures_every_node_and_gates(tmp_path: Path) -> None:
    nodes = idle_nodes()
    script = tmp_path / "envsnap-fleet.sbatch"
    script.write_text(sbatch_script(), encoding="utf-8")
    env = job_env()
    # Only the node count is adapted (a command-line option overrides the #SBATCH line).
    proc = subprocess.run(["sbatch", "--wait", f"--nodes={len(nodes)}", script.name],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    match = re.search(r"Submitted batch job (\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    job_id = match.group(1)
    log = tmp_path / f"envsnap-fleet-{job_id}.out"
    job_log = log.read_text(encoding="utf-8") if log.exists() else "(no job output file)"
    assert proc.returncode == 0, f"{proc.stderr}\njob output:\n{job_log}"

    # One snapshot per node, named by the host name that node's task saw.
    snaps = tmp_path / "snaps" / job_id
    assert sorted(p.name for p in snaps.iterdir()) == [f"{n}.toml" for n in nodes], job_log
    for node in nodes:
        snapshot = io.load(snaps / f"{node}.toml")
        assert snapshot.meta.hostname == node
        assert snapshot.python is not None and snapshot.python.package("envsnap") is not None
    # The gate ran in the job and passed: the nodes share one environment.
    assert f"{len(nodes)} nodes" in job_log, job_log


def test_the_documented_report_line_fails_on_a_drifted_node(tmp_path: Path) -> None:
    nodes = idle_nodes()
    env = job_env()
    snaps = tmp_path / "snaps" / "4711"
    snaps.mkdir(parents=True)
    # The nodes, captured by srun as the script does it ...
    proc = subprocess.run(["srun", f"--nodes={len(nodes)}", "--ntasks-per-node=1", "envsnap",
                           "capture", "-q", "-o", f"{snaps}/{{hostname}}.toml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    # ... and one more node whose NCCL takes another transport. The majority is the reference
    # only with two agreeing nodes, so a one-node cluster gets a second copy of its snapshot.
    if len(nodes) == 1:
        shutil.copy(snaps / f"{nodes[0]}.toml", snaps / "copy-of-the-node.toml")
    support.run([BIN / "envsnap", "capture", "-q", "-o", snaps / "odd-node.toml"],
                env={**env, "NCCL_IB_DISABLE": "1"})

    (line,) = [x for x in sbatch_script().splitlines() if x.startswith("envsnap fleet report")]
    gate = subprocess.run(["bash", "-c", f'set -euo pipefail; snaps="$1"; {line}', "bash",
                           str(snaps)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "odd-node" in gate.stdout and "NCCL_IB_DISABLE" in gate.stdout, gate.stdout
    # The agreeing nodes are not named beside the drifted one.
    named = [x for x in gate.stdout.splitlines() if "odd-node" in x]
    assert not [n for n in nodes for x in named if f"/{n}.toml" in x], named
