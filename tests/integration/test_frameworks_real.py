"""frameworks probe on the real host: build files in a real tree, --deep against a real child process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from envsnap.host import LocalHost
from envsnap.probes import frameworks
from envsnap.snapshot import Framework, Package, PythonEnv

DATA = Path(__file__).resolve().parents[1] / "data" / "frameworks"
TORCH_CU121 = DATA / "torch-2.2.1+cu121" / "version.py"

TF_CU121 = DATA / "tensorflow-cuda12.1" / "build_info.py"

def _site(tmp_path: Path) -> Path:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return site

def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)

# torch 2.2.x's CUDA 12.1 wheels pin these nvidia wheels (its Requires-Dist).
TORCH_221_CU121 = (
    Package(name="torch", version="2.2.1+cu121", location="lib/python3.11/site-packages",
            requires=("filelock", "nvidia-cudnn-cu12", "nvidia-nccl-cu12", "sympy")),
    Package(name="nvidia-cudnn-cu12", version="8.9.2.26"),
    Package(name="nvidia-nccl-cu12", version="2.19.3"),
)

def _torch_env(tmp_path: Path) -> PythonEnv:
    site = _site(tmp_path)
    _copy(TORCH_CU121, site / "torch" / "version.py")
    return PythonEnv(version="3.11.7", implementation="cpython", site_packages=(str(site),),
                     packages=TORCH_221_CU121)


def test_probe_torch_cuda_build_from_files(tmp_path: Path) -> None:
    site = _site(tmp_path)
    _copy(TORCH_CU121, site / "torch" / "version.py")
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", prefix=str(tmp_path / "venv"),
                      site_packages=(str(site),), packages=TORCH_221_CU121)
    result = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None)
    assert result.value == (
        Framework(name="torch", version="2.2.1+cu121", variant="cu121", cuda="12.1",
                  cudnn="8.9.2.26", nccl="2.19.3", found_via="file:torch/version.py"),
    )


def test_probe_torch_without_version_file_uses_the_label(tmp_path: Path) -> None:
    pyenv = PythonEnv(version="3.11.7", implementation="cpython",
                      site_packages=(str(_site(tmp_path)),), packages=TORCH_221_CU121)
    (fw,) = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None).value or ()
    assert (fw.cuda, fw.found_via) == ("12.1", "metadata")


def test_probe_tensorflow_from_build_info(tmp_path: Path) -> None:
    site = _site(tmp_path)
    _copy(TF_CU121, site / "tensorflow" / "python" / "platform" / "build_info.py")
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", site_packages=(str(site),),
                      packages=(Package(name="tensorflow", version="2.13.0"),))
    (fw,) = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None).value or ()
    assert (fw.name, fw.cuda, fw.cudnn) == ("tensorflow", "12.1", "8")
    assert fw.arch_list[-1] == "compute_90" and len(fw.arch_list) == 8
    assert fw.found_via == "file:tensorflow/python/platform/build_info.py"


def test_deep_with_a_real_interpreter_lacking_torch(tmp_path: Path) -> None:
    # The envsnap test interpreter itself has no torch: a real ModuleNotFoundError in a child.
    pyenv = _torch_env(tmp_path)
    result = frameworks.probe(LocalHost(), pyenv, deep=True, python=sys.executable)
    (fw,) = result.value or ()
    assert (fw.cuda, fw.variant) == ("12.1", "cu121")  # from torch/version.py, kept
    assert "import failed: ModuleNotFoundError: No module named 'torch'" in fw.found_via
