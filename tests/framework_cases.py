"""Framework build files recorded from real wheels (tests/data/frameworks) and a site-packages
folder to lay them out in: shared by the unit tests of the frameworks probe and the ones that
import them in a real interpreter."""

from __future__ import annotations

import shutil
from pathlib import Path

from envsnap.snapshot import Package, PythonEnv

DATA = Path(__file__).resolve().parent / "data" / "frameworks"
TORCH_CPU = DATA / "torch-2.13.0+cpu" / "version.py"
TORCH_CU121 = DATA / "torch-2.2.1+cu121" / "version.py"
TF_CU121 = DATA / "tensorflow-cuda12.1" / "build_info.py"

# torch 2.2.x's CUDA 12.1 wheels pin these nvidia wheels (its Requires-Dist).
TORCH_221_CU121 = (
    Package(name="torch", version="2.2.1+cu121", location="lib/python3.11/site-packages",
            requires=("filelock", "nvidia-cudnn-cu12", "nvidia-nccl-cu12", "sympy")),
    Package(name="nvidia-cudnn-cu12", version="8.9.2.26"),
    Package(name="nvidia-nccl-cu12", version="2.19.3"),
)


def site_packages(tmp_path: Path) -> Path:
    """An empty venv-style site-packages folder under ``tmp_path``."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return site


def place(src: Path, dest: Path) -> None:
    """Copy a recorded file to ``dest``, making its folders."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def torch_cu121_env(tmp_path: Path) -> PythonEnv:
    """An environment with torch 2.2.1+cu121's build file laid out, as its wheels install it."""
    site = site_packages(tmp_path)
    place(TORCH_CU121, site / "torch" / "version.py")
    return PythonEnv(version="3.11.7", implementation="cpython", site_packages=(str(site),),
                     packages=TORCH_221_CU121)
