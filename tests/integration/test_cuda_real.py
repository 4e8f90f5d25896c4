"""cuda probe on the real host: the live ldconfig cache, and every library copy in a real file tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envsnap.host import LocalHost
from envsnap.ldso import parse_ldconfig
from envsnap.probes import cuda
from envsnap.snapshot import Package, PythonEnv

# The "cuda" entry of a CUDA 13.0 toolkit's version.json, as quoted in ROCm/HIPIFY#2143.
VERSION_JSON = """{
   "cuda" : {
      "name" : "CUDA SDK",
      "version" : "13.0.2"
   }
}
"""


def _write(path: Path, data: bytes = b"\x7fELF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path

def _dist_info(site: Path, name: str, version: str) -> None:
    d = site / f"{name.replace('-', '_')}-{version}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (d / "INSTALLER").write_text("pip\n")

def _pyenv(site: Path) -> PythonEnv:
    return PythonEnv(
        version="3.11.7",
        implementation="cpython",
        prefix=str(site.parents[2]),
        env_kind="venv",
        site_packages=(str(site),),
        packages=(
            Package(name="nvidia-cudnn-cu12", version="9.1.0.70"),
            Package(name="nvidia-cublas", version="13.1.0.3"),
            Package(name="nvidia-cuda-runtime", version="13.0.96"),
        ),
    )


@pytest.mark.skipif(shutil.which("ldconfig") is None and not os.path.exists("/sbin/ldconfig"),
                    reason="SKIPPED: no ldconfig on this machine (musl or macOS)")
def test_parse_ldconfig_matches_the_live_cache_count() -> None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=20,
                         check=True).stdout
    declared = int(out.splitlines()[0].split()[0])  # "549 libs found in cache ..."
    assert len(parse_ldconfig(out)) == declared


@pytest.fixture()
def machine_tree(tmp_path: Path) -> dict[str, Path]:
    """A wheel site-packages (CUDA 12 and CUDA 13 layouts), a system lib dir with real soname
    symlinks, an alias of that dir, and a CUDA_HOME toolkit."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    _write(site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9")
    _write(site / "nvidia" / "cudnn" / "lib" / "libcudnn_ops.so.9")  # sub-library: not listed
    _write(site / "nvidia" / "cu13" / "lib" / "libcublas.so.13")
    _write(site / "nvidia" / "cu13" / "lib" / "libcudart.so.13")
    _dist_info(site, "nvidia-cudnn-cu12", "9.1.0.70")
    _dist_info(site, "nvidia-cublas", "13.1.0.3")
    _dist_info(site, "nvidia-cuda-runtime", "13.0.96")

    system = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    _write(system / "libcudnn.so.9.1.0")
    (system / "libcudnn.so.9").symlink_to("libcudnn.so.9.1.0")
    (system / "libcudnn.so").symlink_to("libcudnn.so.9")
    _write(system / "libnccl.so.2.28.3")
    (system / "libnccl.so.2").symlink_to("libnccl.so.2.28.3")
    alias = tmp_path / "lib-alias"
    alias.symlink_to(system)

    home = tmp_path / "cuda-13.0"
    (home / "version.json").parent.mkdir(parents=True)
    (home / "version.json").write_text(VERSION_JSON)
    _write(home / "lib64" / "libcublas.so.13.1.0.3")
    (home / "lib64" / "libcublas.so.13").symlink_to("libcublas.so.13.1.0.3")
    return {"site": site, "system": system, "alias": alias, "home": home}


def test_probe_reports_every_copy_with_provenance(machine_tree: dict[str, Path]) -> None:
    system, alias, home = machine_tree["system"], machine_tree["alias"], machine_tree["home"]
    host = LocalHost(environ={
        "PATH": "",
        # The same directory three ways: listed twice and through a symlinked alias.
        "LD_LIBRARY_PATH": f"{system}:{alias}:{system}",
        "CUDA_HOME": str(home),
    })
    result = cuda.probe(host, _pyenv(machine_tree["site"]))
    assert result.value is not None
    info = result.value
    assert info.toolkit_path == str(home)
    assert info.toolkit_found_via == "env:CUDA_HOME"
    assert info.toolkit_version == "13.0.2"

    def copies(library: str) -> list[tuple[str | None, str, str, str | None]]:
        return [(c.version, c.found_via, c.path, c.soname)
                for c in info.libraries if c.library == library and str(c.path).startswith(
                    str(machine_tree["site"].parents[3]))]

    site = machine_tree["site"]
    assert copies("cudnn") == [
        ("9.1.0.70", "pip:nvidia-cudnn-cu12", str(site / "nvidia/cudnn/lib/libcudnn.so.9"),
         "libcudnn.so.9"),
        ("9.1.0", "ld_library_path", str(system / "libcudnn.so.9.1.0"), "libcudnn.so.9"),
    ]
    assert copies("nccl") == [
        ("2.28.3", "ld_library_path", str(system / "libnccl.so.2.28.3"), "libnccl.so.2"),
    ]
    assert copies("cublas") == [
        ("13.1.0.3", "pip:nvidia-cublas", str(site / "nvidia/cu13/lib/libcublas.so.13"),
         "libcublas.so.13"),
        ("13.1.0.3", "cuda_home", str(home / "lib64/libcublas.so.13.1.0.3"), "libcublas.so.13"),
    ]
    assert copies("cudart") == [
        ("13.0.96", "pip:nvidia-cuda-runtime", str(site / "nvidia/cu13/lib/libcudart.so.13"),
         "libcudart.so.13"),
    ]
    # Every reported path is distinct: deduplicated by realpath.
    paths = [c.path for c in info.libraries]
    assert len(paths) == len(set(paths))


def test_probe_conda_prefix_lib(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    _write(prefix / "lib" / "libnccl.so.2.28.3")
    (prefix / "lib" / "libnccl.so.2").symlink_to("libnccl.so.2.28.3")
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta" / "pip-25.0.1-pyh145f28c_0.json").write_text("{}")
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", prefix=str(prefix),
                      env_kind="conda")
    result = cuda.probe(LocalHost(environ={"PATH": ""}), pyenv)
    assert result.value is not None
    (nccl,) = [c for c in result.value.libraries if c.library == "nccl"]
    # No conda record ships NCCL here, so the copy is attributed to the prefix's lib/.
    assert (nccl.version, nccl.found_via) == ("2.28.3", "conda:lib")
    assert "conda prefix" in result.found_via


def test_toolkit_assembled_from_wheels_versions_its_copies(tmp_path: Path) -> None:
    # The layout of this machine's /usr/local/cuda-13.0 (NVIDIA's CUDA 13 toolkit built from
    # wheels): lib/libcudart.so.13 is a plain file named by soname only, and the version is in
    # dist-info/nvidia_cuda_runtime-13.0.96.dist-info beside lib/.
    root = tmp_path / "cuda-13.0"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libcudart.so.13").write_bytes(b"\x7fELF")
    (root / "lib" / "libcudart.so").symlink_to("libcudart.so.13")
    for di in ("nvidia_cuda_runtime-13.0.96.dist-info", "nvidia_cuda_nvcc-13.0.88.dist-info"):
        (root / "dist-info" / di).mkdir(parents=True)
    host = LocalHost(environ={"LD_LIBRARY_PATH": str(root / "lib"), "PATH": ""})
    info = cuda.probe(host, None).value
    assert info is not None
    copies = [c for c in info.libraries if c.path.startswith(str(root))]
    assert [(c.library, c.version, c.found_via) for c in copies] == [
        ("cudart", "13.0.96", "ld_library_path")]
