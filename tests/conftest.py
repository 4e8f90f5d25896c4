"""Shared fixtures. tests/support.py holds the helpers (real wheels, venvs, isolated pip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import support
from hypothesis import settings
from indexserver import isolate_user_config

# No per-example deadline: speed is measured in benchmarks/, and on a loaded 2-core VM a first
# example that waits for the CPU would fail a property test for its timing, not its property.
settings.register_profile("envsnap", deadline=None)
settings.load_profile("envsnap")


@pytest.fixture(scope="session")
def pypi_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real wheels downloaded from the package index (cached in ~/.cache between runs)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
    return support.download_wheels(cache / "wheelhouse")


@pytest.fixture(scope="module")
def no_user_config() -> Iterator[None]:
    """The pip / uv configuration envsnap reads is none at all, for a whole module: its
    module-scoped fixtures that lock run inside it too. Use it as
    ``pytestmark = pytest.mark.usefixtures("no_user_config")`` (usefixtures come first)."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_user_config(mp)
        yield


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


# ---------------------------------------------------------------------------------------------
# A real torch install (CPU wheel), shared by the torch probe and torchrun tests


@pytest.fixture(scope="session")
def torch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # torch is fetched the way a user of this machine gets it: pip with the machine's own
    # configuration (which is how it reaches its indexes and local wheel folders). Only the
    # torch wheel itself; the venv is built with isolated pip.
    wheels = tmp_path_factory.mktemp("torch-wheel")
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "-d", str(wheels), "torch==2.13.0"], capture_output=True, text=True,
                          env=env, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = wheels.glob("torch-*.whl")
    python = support.make_venv(tmp_path_factory.mktemp("torch-venv") / "venv")
    support.pip_install(python, "--isolated", "--no-deps", str(wheel))
    # What `import torch` needs at import time, from the package index (isolated pip).
    support.pip_install(python, "--isolated", "typing-extensions", "sympy", "filelock")
    return python
