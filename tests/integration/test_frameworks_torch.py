"""frameworks probe against a real torch wheel: its build files and a real --deep import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap.host import LocalHost
from envsnap.probes import frameworks
from envsnap.snapshot import Framework, Package, PythonEnv

# ---------------------------------------------------------------------------------------------
# A real torch install (CPU wheel shipped on this machine)


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


@pytest.mark.slow
def test_real_torch_cpu_wheel_files_and_deep(torch_venv: Path) -> None:
    venv = torch_venv.parent.parent
    site = venv / "lib" / "python3.11" / "site-packages"
    assert (site / "torch" / "version.py").exists()
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", prefix=str(venv),
                      env_kind="venv", site_packages=(str(site),),
                      packages=(Package(name="torch", version="2.13.0+cpu"),))
    shallow = frameworks.probe(LocalHost(), pyenv, deep=False, python=None)
    assert shallow.value == (
        Framework(name="torch", version="2.13.0+cpu", variant="cpu", cuda=None,
                  found_via="file:torch/version.py"),
    )
    deep = frameworks.probe(LocalHost(), pyenv, deep=True, python=str(torch_venv))
    (fw,) = deep.value or ()
    # A CPU build: no CUDA, no cuDNN, and no compiled arch list.
    assert (fw.cuda, fw.cudnn, fw.nccl, fw.arch_list) == (None, None, None, ())
    assert fw.found_via == "import"
    assert deep.found_via == "import (--deep) and build files"
