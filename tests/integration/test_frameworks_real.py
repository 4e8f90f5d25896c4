"""frameworks probe on the real host: build files in a real tree, --deep against a real child process."""

from __future__ import annotations

import sys
from pathlib import Path

from framework_cases import TF_CU121, TORCH_221_CU121, TORCH_CU121, place, site_packages, torch_cu121_env

from envsnap.host import LocalHost
from envsnap.probes import frameworks
from envsnap.snapshot import Framework, Package, PythonEnv


def test_probe_torch_cuda_build_from_files(tmp_path: Path) -> None:
    site = site_packages(tmp_path)
    place(TORCH_CU121, site / "torch" / "version.py")
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", prefix=str(tmp_path / "venv"),
                      site_packages=(str(site),), packages=TORCH_221_CU121)
    result = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None)
    assert result.value == (
        Framework(name="torch", version="2.2.1+cu121", variant="cu121", cuda="12.1",
                  cudnn="8.9.2.26", nccl="2.19.3", found_via="file:torch/version.py"),
    )


def test_probe_torch_without_version_file_uses_the_label(tmp_path: Path) -> None:
    pyenv = PythonEnv(version="3.11.7", implementation="cpython",
                      site_packages=(str(site_packages(tmp_path)),), packages=TORCH_221_CU121)
    (fw,) = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None).value or ()
    assert (fw.cuda, fw.found_via) == ("12.1", "metadata")


def test_probe_tensorflow_from_build_info(tmp_path: Path) -> None:
    site = site_packages(tmp_path)
    place(TF_CU121, site / "tensorflow" / "python" / "platform" / "build_info.py")
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", site_packages=(str(site),),
                      packages=(Package(name="tensorflow", version="2.13.0"),))
    (fw,) = frameworks.probe(LocalHost(environ={}), pyenv, deep=False, python=None).value or ()
    assert (fw.name, fw.cuda, fw.cudnn) == ("tensorflow", "12.1", "8")
    assert fw.arch_list[-1] == "compute_90" and len(fw.arch_list) == 8
    assert fw.found_via == "file:tensorflow/python/platform/build_info.py"


def test_deep_with_a_real_interpreter_lacking_torch(tmp_path: Path) -> None:
    # The envsnap test interpreter itself has no torch: a real ModuleNotFoundError in a child.
    pyenv = torch_cu121_env(tmp_path)
    result = frameworks.probe(LocalHost(), pyenv, deep=True, python=sys.executable)
    (fw,) = result.value or ()
    assert (fw.cuda, fw.variant) == ("12.1", "cu121")  # from torch/version.py, kept
    assert "import failed: ModuleNotFoundError: No module named 'torch'" in fw.found_via
