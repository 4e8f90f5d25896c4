"""What each local MLflow tracking store needs, as docs/integrations.md states it, checked with
the installed mlflow: a run logged by log_snapshot() in a fresh process, read back by the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.snapshot import Package, PythonEnv, Snapshot

pytestmark = pytest.mark.slow

LOG = """
import sys, mlflow, envsnap
from envsnap.integrations.mlflow import log_snapshot
with mlflow.start_run() as run:
    log_snapshot(envsnap.load(sys.argv[1]))
print(run.info.run_id)
"""


def _env(extra: dict[str, str]) -> dict[str, str]:
    """Only the MLflow configuration the test gives: none of this machine's MLFLOW_*."""
    return {**{k: v for k, v in support.clean_env().items() if not k.startswith("MLFLOW_")},
            **extra}


def _log(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LOG, str(cwd / "snap.toml")], cwd=cwd,
                          env=_env(env), capture_output=True, text=True, timeout=300, check=False)


def _show(cwd: Path, run_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envsnap", "show", f"runs:/{run_id}"], cwd=cwd,
                          env=_env(env), capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython",
                                     packages=(Package(name="six", version="1.16.0"),)))
    io.dump(snap, tmp_path / "snap.toml")
    return tmp_path


@pytest.mark.parametrize("uri", ["sqlite:///{cwd}/mlflow.db", ""])
def test_sqlite_store_needs_no_variable(folder: Path, uri: str) -> None:
    # "" : MLflow 3's default, sqlite:///mlflow.db in the current folder.
    env = {"MLFLOW_TRACKING_URI": uri.format(cwd=folder)} if uri else {}
    logged = _log(folder, env)
    assert logged.returncode == 0, logged.stderr
    assert (folder / "mlflow.db").is_file()
    shown = _show(folder, logged.stdout.strip().splitlines()[-1], env)
    assert shown.returncode == 0 and "python    cpython 3.11.7" in shown.stdout, shown.stderr


def test_file_store_needs_mlflow_allow_file_store(folder: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": (folder / "mlruns").as_uri()}
    refused = _log(folder, env)
    assert refused.returncode != 0 and "MLFLOW_ALLOW_FILE_STORE" in refused.stderr
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    logged = _log(folder, env)
    assert logged.returncode == 0, logged.stderr
    shown = _show(folder, logged.stdout.strip().splitlines()[-1], env)
    assert shown.returncode == 0 and "python    cpython 3.11.7" in shown.stdout, shown.stderr


def test_the_docs_say_so() -> None:
    text = (support.REPO / "docs" / "integrations.md").read_text()
    assert "`MLFLOW_ALLOW_FILE_STORE=true`" in text
    assert "full `mlflow` (`pip install mlflow`): its SQLAlchemy and alembic" in text
