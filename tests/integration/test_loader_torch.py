"""Which copy loads, on the real stack: torch's CUDA build and its nvidia wheels, with an older
cuDNN and NCCL from the cu12 wheels, checked against the real loader's bindings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import support

from envsnap import io, ldso, loadrules
from envsnap.host import LocalHost
from envsnap.probes import binding, cuda, frameworks
from envsnap.probes import python as python_probe
from envsnap.snapshot import Binding, Framework, LibraryCopy, PythonEnv

# The CUDA build this machine's pip installs (its own configuration: local wheels, a local index
# for the nvidia-* cu13 wheels), as in tests/conftest.py's torch_venv; and the older cu12 builds
# from PyPI, downloaded once into the cache the suite keeps.
TORCH = "torch==2.14.1"
OLD_CUDNN = "nvidia-cudnn-cu12==9.10.2.21"
OLD_NCCL = "nvidia-nccl-cu12==2.27.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-ci" / "loader-wheels"

pytestmark = pytest.mark.slow


def _wheel(requirement: str) -> Path:
    name, version = requirement.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(CACHE.glob(pattern))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        support.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                     "-d", CACHE, requirement], timeout=1800)
        found = sorted(CACHE.glob(pattern))
    assert found, f"{requirement} was not downloaded"
    return found[0]


@pytest.fixture(scope="module")
def cuda_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One venv with torch's CUDA build, installed the way a user of this machine does; 5 GB,
    so removed when the module is done rather than left to pytest's rotation."""
    root = tmp_path_factory.mktemp("torch-cuda")
    python = support.make_venv(root / "venv")
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", TORCH], capture_output=True,
                          text=True, env=env, timeout=3000, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield python
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def old_cudnn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cu12 cuDNN's libraries, unpacked into a folder of their own (an older install on
    LD_LIBRARY_PATH, or in LD_PRELOAD)."""
    out = tmp_path_factory.mktemp("old-cudnn")
    with zipfile.ZipFile(_wheel(OLD_CUDNN)) as whl:
        for member in whl.namelist():
            if member.startswith("nvidia/cudnn/lib/"):
                whl.extract(member, out)
    yield out / "nvidia" / "cudnn" / "lib"
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture()
def venv_copy(cuda_venv: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the venv made of hard links (seconds, no space beyond what a test changes):
    pip and the tests replace files by unlinking first, so the original never changes. Removed
    after the test, or its links would keep the 5 GB alive."""
    dest = tmp_path / "venv"
    subprocess.run(["cp", "-al", str(cuda_venv.parent.parent), str(dest)], check=True, timeout=600)
    yield dest / "bin" / "python"
    shutil.rmtree(dest, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The two answers


@dataclass(frozen=True)
class Answer:
    torch: Framework
    copies: tuple[LibraryCopy, ...]
    pyenv: PythonEnv


def envsnap_answer(python: Path, env: Mapping[str, str]) -> Answer:
    """The python, cuda and frameworks probes of a capture --deep, for the target's variables."""
    host = LocalHost(environ={**support.clean_env(), **env})
    pyenv = python_probe.probe(host, str(python)).value
    assert pyenv is not None
    info = cuda.probe(host, pyenv).value
    copies = info.libraries if info is not None else ()
    result = frameworks.probe(host, pyenv, deep=True, python=str(python),
                              loader=binding.survey(host, str(python)))
    fws = binding.with_copies(result.value or (), copies)
    (torch,) = [fw for fw in fws if fw.name == "torch"]
    return Answer(torch=torch, copies=copies, pyenv=pyenv)


_BINDING = re.compile(r"binding file (?P<from>\S+) \[\d+\] to (?P<to>\S+) \[\d+\]: ")


def loader_answer(python: Path, env: Mapping[str, str], code: str, out: Path,
                  consumer: str = "libtorch_cuda.so", fails_with: str | None = None) -> dict[str, str]:
    """The real loader's own answer: with LD_BIND_NOW every symbol of ``consumer`` is bound at
    load, and LD_DEBUG=bindings names the file each binds to. By SONAME (read from each file),
    for the CUDA family. ``fails_with``: the load is expected to fail with this in its error
    (the bindings made before the failure still say which files were used)."""
    for old in out.parent.glob(out.name + ".*"):
        old.unlink()
    run_env = {**support.clean_env(), **env, "LD_BIND_NOW": "1", "LD_DEBUG": "bindings",
               "LD_DEBUG_OUTPUT": str(out)}
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=run_env,
                          timeout=600, check=False)
    if fails_with is None:
        assert proc.returncode == 0, proc.stderr[-3000:]
    else:
        assert proc.returncode != 0 and fails_with in proc.stderr, proc.stderr[-3000:]
    files = binding.ElfFiles(LocalHost())
    bound: dict[str, set[str]] = {}
    for trace in out.parent.glob(out.name + ".*"):
        with trace.open(errors="replace") as fh:
            for line in fh:
                m = _BINDING.search(line)
                if m is None or not m.group("from").endswith("/" + consumer):
                    continue
                info = files(m.group("to"))
                if info is not None and info.soname and binding.in_family(info.soname):
                    bound.setdefault(info.soname, set()).add(info.realpath)
    assert bound, f"no bindings of {consumer} traced"
    for soname, paths in bound.items():
        assert len(paths) == 1, f"{consumer} bound {soname} to several files: {paths}"
    return {soname: next(iter(paths)) for soname, paths in bound.items()}


def _agrees(torch: Framework, truth: Mapping[str, str]) -> None:
    predicted = {b.soname: b.path for b in torch.bindings}
    for soname, path in truth.items():
        assert predicted.get(soname) == path, (soname, predicted.get(soname), path)
    # The --deep check repeated the import and asked its loader for every SONAME.
    assert all(b.verified for b in torch.bindings), [b for b in torch.bindings if not b.verified]


def _requires(answer: Answer) -> tuple[str, ...]:
    pkg = answer.pyenv.package("torch")
    assert pkg is not None
    return pkg.requires


def _bound(torch: Framework, soname: str) -> Binding:
    return next(b for b in torch.bindings if b.soname == soname)


IMPORT = "import torch"


# ---------------------------------------------------------------------------------------------
# The cases


def test_plain_install(cuda_venv: Path, tmp_path: Path) -> None:
    ours = envsnap_answer(cuda_venv, {})
    truth = loader_answer(cuda_venv, {}, IMPORT, tmp_path / "ld")
    assert {"libcudnn.so.9", "libnccl.so.2", "libcublas.so.13"} <= truth.keys()
    _agrees(ours.torch, truth)
    cudnn = _bound(ours.torch, "libcudnn.so.9")
    # torch 2.14 preloads its wheels' libraries by path before torch._C (libcudart is mapped).
    assert (cudnn.via, cudnn.found_by) == ("preload", binding.TORCH_PRELOADER)
    assert cudnn.path is not None and cudnn.path.endswith("/nvidia/cudnn/lib/libcudnn.so.9")
    assert cudnn.version == "9.24.0"  # cudnnGetVersion, from the file
    nccl = _bound(ours.torch, "libnccl.so.2")
    assert nccl.version is not None and nccl.version.startswith("2.30.7+cuda")  # its string
    assert nccl.build_id and cudnn.build_id
    pins = loadrules.pin_mismatches(ours.torch, _requires(ours), ours.copies)
    assert pins == []
    assert loadrules.duplicate_sonames(ours.torch) == []


def test_old_cudnn_on_ld_library_path_rpath_still_wins(cuda_venv: Path, old_cudnn: Path,
                                                       tmp_path: Path) -> None:
    env = {"LD_LIBRARY_PATH": str(old_cudnn)}
    ours = envsnap_answer(cuda_venv, env)
    truth = loader_answer(cuda_venv, env, IMPORT, tmp_path / "ld")
    _agrees(ours.torch, truth)
    assert "/nvidia/cudnn/lib/" in (_bound(ours.torch, "libcudnn.so.9").path or "")
    assert not (_bound(ours.torch, "libcudnn.so.9").path or "").startswith(str(old_cudnn))
    # Without torch's Python preload (libtorch_cuda.so loaded on its own), it is DT_RPATH,
    # searched before LD_LIBRARY_PATH, that keeps the wheel's copy.
    site = support.site_packages(cuda_venv)
    lib = site / "torch" / "lib" / "libtorch_cuda.so"
    truth = loader_answer(cuda_venv, env, f"import ctypes; ctypes.CDLL({str(lib)!r})",
                          tmp_path / "ld-elf")
    host = LocalHost(environ=env)
    files = binding.ElfFiles(host)
    exe = files(os.path.realpath(cuda_venv))
    assert exe is not None
    process = ldso.Process(binding.search_env(env, binding.survey(host, str(cuda_venv))), files, exe)
    process.dlopen(str(lib))
    predicted = {b.soname: b for b in binding.bindings_of(process)}
    for soname, path in truth.items():
        assert predicted[soname].path == path, soname
    assert predicted["libcudnn.so.9"].via == "rpath"
    assert predicted["libcudnn.so.9"].found_by == str(lib)


def test_old_cudnn_in_ld_preload_wins(cuda_venv: Path, old_cudnn: Path, tmp_path: Path) -> None:
    old = old_cudnn / "libcudnn.so.9"
    env = {"LD_PRELOAD": str(old)}
    ours = envsnap_answer(cuda_venv, env)
    truth = loader_answer(cuda_venv, env, IMPORT, tmp_path / "ld")
    _agrees(ours.torch, truth)
    cudnn = _bound(ours.torch, "libcudnn.so.9")
    assert (cudnn.path, cudnn.via, cudnn.found_by) == (str(old.resolve()), "preload", "LD_PRELOAD")
    assert cudnn.version == "9.10.2"
    # torch's own preload then loads the wheel's copy by path: a second file for one SONAME.
    assert cudnn.also_loaded and cudnn.also_loaded[0].endswith("/nvidia/cudnn/lib/libcudnn.so.9")
    assert loadrules.duplicate_sonames(ours.torch) == [cudnn]
    pins = loadrules.pin_mismatches(ours.torch, _requires(ours), ours.copies)
    assert [(p.soname, p.requirement, p.bound_version) for p in pins] == [
        ("libcudnn.so.9", "nvidia-cudnn-cu13==9.24.0.43", "9.10.2")]


def test_wheel_cudnn_gone_the_fallback_finds_the_old_one(venv_copy: Path, old_cudnn: Path,
                                                        tmp_path: Path) -> None:
    python = venv_copy
    shutil.rmtree(support.site_packages(python) / "nvidia" / "cudnn")
    env = {"LD_LIBRARY_PATH": str(old_cudnn)}
    ours = envsnap_answer(python, env)
    truth = loader_answer(python, env, IMPORT, tmp_path / "ld")
    _agrees(ours.torch, truth)
    cudnn = _bound(ours.torch, "libcudnn.so.9")
    assert (cudnn.path, cudnn.via) == (str((old_cudnn / "libcudnn.so.9").resolve()), "ld_library_path")
    assert cudnn.found_by is not None and cudnn.found_by.endswith("/torch/lib/libtorch_python.so")


def test_old_cudnn_on_pythonpath_wins_through_torchs_preload(cuda_venv: Path, old_cudnn: Path,
                                                             tmp_path: Path) -> None:
    # sys.path is searched in order by _preload_cuda_deps, and PYTHONPATH comes first: a
    # folder holding another nvidia/cudnn/lib takes over, DT_RPATH notwithstanding.
    root = old_cudnn.parent.parent.parent
    env = {"PYTHONPATH": str(root)}
    ours = envsnap_answer(cuda_venv, env)
    truth = loader_answer(cuda_venv, env, IMPORT, tmp_path / "ld")
    _agrees(ours.torch, truth)
    cudnn = _bound(ours.torch, "libcudnn.so.9")
    assert (cudnn.path, cudnn.via) == (str((old_cudnn / "libcudnn.so.9").resolve()), "preload")


def test_nccl_overwritten_by_the_cu12_wheel(cuda_venv: Path, venv_copy: Path,
                                            tmp_path: Path) -> None:
    python = venv_copy
    support.pip_install(python, "--isolated", "--no-deps", str(_wheel(OLD_NCCL)))
    ours = envsnap_answer(python, {})
    # torch 2.14.1 uses an NCCL symbol 2.27 lacks: Python loads extension modules with
    # RTLD_NOW, so the import itself fails, naming the symbol, once the loader has bound the
    # cu12 file in place of the cu13 one.
    truth = loader_answer(python, {}, IMPORT, tmp_path / "ld", fails_with="undefined symbol: nccl")
    assert "libnccl.so.2" in truth
    _agrees(ours.torch, truth)
    assert "import failed: ImportError" in ours.torch.found_via
    (copy,) = [c for c in ours.copies if c.library == "nccl"]
    # The cu13 wheel's metadata says 2.30.7; the file is the cu12 build: both are recorded.
    assert (copy.found_via, copy.version) == ("pip:nvidia-nccl-cu13", "2.30.7")
    assert copy.file_version is not None and copy.file_version.startswith("2.27.3+cuda12")
    assert (copy.file_version_via, copy.metadata_mismatch) == ("string", True)
    assert copy.claimed_by == ("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7")
    nccl = _bound(ours.torch, "libnccl.so.2")
    assert nccl.path == copy.path and nccl.version == copy.file_version
    assert loadrules.bound_to_mismatched(ours.torch, ours.copies) == [(nccl, copy)]
    pins = loadrules.pin_mismatches(ours.torch, _requires(ours), ours.copies)
    assert [p.requirement for p in pins] == ["nvidia-nccl-cu13==2.30.7"]
    # The original venv still has the cu13 file: the copy shared nothing it changed.
    plain = support.site_packages(cuda_venv) / "nvidia" / "nccl" / "lib" / "libnccl.so.2"
    assert os.stat(plain).st_ino != os.stat(copy.path).st_ino


def test_capture_deep_cli_writes_the_checked_bindings(cuda_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    support.run([Path(sys.executable).parent / "envsnap", "capture", "--deep", "--python", cuda_venv,
                 "--only", "python,cuda,frameworks", "-o", out], timeout=900)
    snap = io.load(out)
    (torch,) = [fw for fw in snap.frameworks if fw.name == "torch"]
    assert torch.found_via == "import"
    assert torch.bindings_via is not None and "torch._preload_cuda_deps" in torch.bindings_via
    assert {b.soname for b in torch.bindings} >= {"libcudnn.so.9", "libnccl.so.2", "libcudart.so.13"}
    assert all(b.verified for b in torch.bindings)
    assert snap.cuda is not None
    nccl = next(c for c in snap.cuda.libraries if c.library == "nccl" and c.found_via.startswith("pip:"))
    assert nccl.build_id and nccl.file_version and not nccl.metadata_mismatch
    assert _bound(torch, "libnccl.so.2").version == nccl.file_version
