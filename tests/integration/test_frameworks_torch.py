"""frameworks probe against a real torch wheel: its build files and a real --deep import."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.host import LocalHost
from envsnap.probes import frameworks
from envsnap.snapshot import Framework, Package, PythonEnv


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
