"""Shared fixtures. tests/support.py holds the helpers (real wheels, venvs, isolated pip)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import support


@pytest.fixture(scope="session")
def pypi_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real wheels downloaded from the package index (cached in ~/.cache between runs)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
    return support.download_wheels(cache / "wheelhouse")


def docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if proc.returncode != 0:
        return "Docker engine not running (.ci/run starts one: scripts/docker-setup.sh)"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    reason = docker_available()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide a Docker engine: {reason}")
        pytest.skip(f"SKIPPED: needs a Docker engine: {reason}")
