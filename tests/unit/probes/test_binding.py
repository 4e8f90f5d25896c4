"""binding: which distributions consume CUDA libraries, torch's import modelled, and the snapshot fields."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from envsnap import ldso
from envsnap.host import RunResult
from envsnap.probes import binding
from envsnap.snapshot import Binding, Framework, LibraryCopy, Package, PythonEnv
from envsnap.testing import FakeHost

TRACE = (Path(__file__).resolve().parents[2] / "data" / "loader" / "ld-debug-libs-glibc2.36.txt").read_text()
S = "/v/lib/python3.11/site-packages"
RPATH = "$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../../nvidia/nccl/lib:$ORIGIN/../../nvidia/cu13/lib"


def _info(path: str, **kw: Any) -> ldso.ElfInfo:
    return ldso.ElfInfo(path=path, realpath=path, ident=path, elf_class=64, machine=62, **kw)


def _torch_files(*, cudart: bool = True) -> dict[str, ldso.ElfInfo]:
    files = {
        "/e/python3.11": _info("/e/python3.11"),
        f"{S}/torch/lib/libtorch_global_deps.so": _info(
            f"{S}/torch/lib/libtorch_global_deps.so", soname="libtorch_global_deps.so",
            needed=("libcudart.so.13",), rpath=RPATH),
        f"{S}/torch/_C.cpython-311-x86_64-linux-gnu.so": _info(
            f"{S}/torch/_C.cpython-311-x86_64-linux-gnu.so", needed=("libtorch_cuda.so",),
            rpath="$ORIGIN/lib"),
        f"{S}/torch/lib/libtorch_cuda.so": _info(
            f"{S}/torch/lib/libtorch_cuda.so", soname="libtorch_cuda.so",
            needed=("libcudnn.so.9", "libnccl.so.2", "libcudart.so.13"), rpath=RPATH),
        f"{S}/nvidia/cudnn/lib/libcudnn.so.9": _info(f"{S}/nvidia/cudnn/lib/libcudnn.so.9",
                                                     soname="libcudnn.so.9", build_id="c0de"),
        f"{S}/nvidia/nccl/lib/libnccl.so.2": _info(f"{S}/nvidia/nccl/lib/libnccl.so.2",
                                                   soname="libnccl.so.2"),
    }
    if cudart:
        files[f"{S}/nvidia/cu13/lib/libcudart.so.13"] = _info(f"{S}/nvidia/cu13/lib/libcudart.so.13",
                                                              soname="libcudart.so.13")
    return files


def _lookup(files: Mapping[str, ldso.ElfInfo]) -> ldso.Lookup:
    def lookup(path: str) -> ldso.ElfInfo | None:
        info = files.get(posixpath.normpath(path))
        return None if info is None else replace(info, path=path)
    return lookup


def _listdir(files: Mapping[str, ldso.ElfInfo]) -> binding.Listdir:
    def listdir(directory: str) -> Sequence[str]:
        return sorted(posixpath.basename(p) for p in files if posixpath.dirname(p) == directory)
    return listdir


def _import(version: str, files: Mapping[str, ldso.ElfInfo],
            env: ldso.SearchEnv | None = None) -> tuple[ldso.Process, str]:
    process = ldso.Process(env or ldso.SearchEnv(), _lookup(files), files["/e/python3.11"])
    how = binding.import_torch(process, torch_dir=f"{S}/torch",
                               module=f"{S}/torch/_C.cpython-311-x86_64-linux-gnu.so",
                               version=version, cuda="13.0", sys_path=("/e/lib", S),
                               listdir=_listdir(files))
    return process, how


def _by_soname(process: ldso.Process) -> dict[str, Binding]:
    return {b.soname: b for b in binding.bindings_of(process)}


def test_torch_214_preloads_every_wheel_library_it_finds() -> None:
    process, how = _import("2.14.1+cu130", _torch_files())
    assert "torch._preload_cuda_deps (libcudart mapped" in how
    bound = _by_soname(process)
    assert (bound["libcudart.so.13"].via, bound["libcudart.so.13"].found_by) == (
        "rpath", f"{S}/torch/lib/libtorch_global_deps.so")
    for soname in ("libcudnn.so.9", "libnccl.so.2"):
        assert (bound[soname].via, bound[soname].found_by) == ("preload", binding.TORCH_PRELOADER)
    assert bound["libcudnn.so.9"].build_id == "c0de"


def test_torch_213_stops_preloading_at_the_first_library_it_cannot_find() -> None:
    # No cuBLAS wheel: 2.13's _preload_cuda_deps() raises at libcublasLt, and nothing after it
    # is preloaded; the DT_RPATH search answers instead.
    process, how = _import("2.13.0", _torch_files())
    assert "preload stopped at libcublasLt.so.*[0-9]" in how
    assert _by_soname(process)["libcudnn.so.9"].via == "rpath"


def test_torch_before_213_is_modelled_without_its_preload() -> None:
    process, how = _import("2.12.0", _torch_files())
    assert "torch._C only" in how
    assert _by_soname(process)["libcudnn.so.9"].via == "rpath"


def test_global_deps_failing_means_every_library_is_required() -> None:
    _, how = _import("2.14.1", _torch_files(cudart=False))
    assert how == "torch 2.14.1: import fails: libcublasLt.so.*[0-9] not found on sys.path"


def test_ld_preload_wins_and_torch_loads_a_second_copy() -> None:
    files = _torch_files()
    files["/opt/old/libcudnn.so.9"] = _info("/opt/old/libcudnn.so.9", soname="libcudnn.so.9")
    process, _ = _import("2.14.1", files, ldso.SearchEnv(ld_preload="/opt/old/libcudnn.so.9"))
    cudnn = _by_soname(process)["libcudnn.so.9"]
    assert (cudnn.path, cudnn.via, cudnn.found_by) == ("/opt/old/libcudnn.so.9", "preload", "LD_PRELOAD")
    assert cudnn.also_loaded == (f"{S}/nvidia/cudnn/lib/libcudnn.so.9",)


def test_a_missing_family_library_is_a_binding_with_no_path() -> None:
    files = _torch_files()
    del files[f"{S}/nvidia/nccl/lib/libnccl.so.2"]
    process, _ = _import("2.14.1", files)
    nccl = _by_soname(process)["libnccl.so.2"]
    assert (nccl.path, nccl.via, nccl.found_by) == (None, "missing", f"{S}/torch/lib/libtorch_cuda.so")


def test_torch_preload_path_follows_sys_path_then_folders() -> None:
    listing = {"/a/nvidia/cu13/lib": ["libcudnn.so.9"], "/b/nvidia/cudnn/lib": ["libcudnn.so.9"],
               "/b/cudnn/lib": ["libcudnn.so.9"], "/c/nvidia/cudnn/lib": ["libcudnn_ops.so.9"]}

    def find(sys_path: Sequence[str], cuda: str | None) -> str | None:
        return binding.torch_preload_path(lambda d: listing.get(d, []), sys_path, "cudnn",
                                          "libcudnn.so.*[0-9]", cuda)

    assert find(["/c", "/b", "/a"], "13.0") == "/b/nvidia/cudnn/lib/libcudnn.so.9"
    assert find(["/a", "/b"], "13.0") == "/a/nvidia/cu13/lib/libcudnn.so.9"  # first entry wins
    assert find(["/a", "/b"], None) == "/b/nvidia/cudnn/lib/libcudnn.so.9"  # no cuXX without CUDA
    assert find(["/c"], "13.0") is None


# ---------------------------------------------------------------------------------------------
# Consumers, from RECORD and DT_NEEDED


def _env(*pkgs: Package) -> PythonEnv:
    return PythonEnv(version="3.11.7", implementation="cpython", prefix="/v", executable="/v/bin/python",
                     site_packages=(S,), packages=pkgs)


def _pkg(name: str, version: str = "1.0") -> Package:
    return Package(name=name, version=version, native=True,
                   metadata_path=f"lib/python3.11/site-packages/{name.replace('-', '_')}-{version}.dist-info")


def test_consumers_are_found_from_dt_needed_not_from_names() -> None:
    records = {
        # An extension whose helper library needs cuBLAS: a consumer, whatever its name.
        "acme_kernels": "acme_kernels/_ops.cpython-311-x86_64-linux-gnu.so,sha256=x,1\n"
                        "acme_kernels/lib/libacme.so.1,sha256=x,1\nacme_kernels/__init__.py,,\n",
        # Libraries only, each a CUDA library itself (libcublas needs libcublasLt): not one.
        "nvidia_cublas": "nvidia/cu13/lib/libcublas.so.13,sha256=x,1\n",
        # An extension that needs no CUDA library.
        "plain_ext": "plain_ext/_speedups.abi3.so,sha256=x,1\n",
    }
    files = {
        f"{S}/acme_kernels/_ops.cpython-311-x86_64-linux-gnu.so": _info(
            f"{S}/acme_kernels/_ops.cpython-311-x86_64-linux-gnu.so", needed=("libacme.so.1",)),
        f"{S}/acme_kernels/lib/libacme.so.1": _info(f"{S}/acme_kernels/lib/libacme.so.1",
                                                    soname="libacme.so.1", needed=("libcublas.so.13",)),
        f"{S}/nvidia/cu13/lib/libcublas.so.13": _info(f"{S}/nvidia/cu13/lib/libcublas.so.13",
                                                      soname="libcublas.so.13",
                                                      needed=("libcublasLt.so.13",)),
        f"{S}/plain_ext/_speedups.abi3.so": _info(f"{S}/plain_ext/_speedups.abi3.so",
                                                  needed=("libc.so.6",)),
    }
    host = FakeHost(files={f"{S}/{d}-1.0.dist-info/RECORD": text for d, text in records.items()})
    pyenv = _env(_pkg("acme-kernels"), _pkg("nvidia-cublas"), _pkg("plain-ext"),
                 Package(name="pure", version="1.0"))
    (found,) = binding.consumers(host, pyenv, _lookup(files))
    assert found.package.name == "acme-kernels"
    assert found.modules == (f"{S}/acme_kernels/_ops.cpython-311-x86_64-linux-gnu.so",)
    assert found.needing == (f"{S}/acme_kernels/lib/libacme.so.1",)


@pytest.mark.parametrize(("name", "family"), [
    ("libcudnn.so.9", True), ("libcudnn_ops.so.9", True), ("libcublasLt.so.13", True),
    ("libnccl.so.2", True), ("libcuda.so.1", True), ("libnvrtc-builtins.so.13.0", True),
    ("libcudart.so", True), ("libtorch_cuda.so", False), ("libc.so.6", False),
    ("libcudnnx.so.9", False), ("libcuda.so.1.bak", False),
])
def test_cuda_family(name: str, family: bool) -> None:
    assert binding.in_family(name) is family


# ---------------------------------------------------------------------------------------------
# Snapshot fields


def test_attach_gives_a_consumer_without_an_entry_one() -> None:
    res = binding.Resolution(bindings=(Binding(soname="libcublas.so.13", path="/x", via="rpath"),),
                             via="generic")
    pyenv = _env(Package(name="acme-kernels", version="0.3+cu121"))
    fws = binding.attach([Framework(name="torch", version="2.14.1")], {"acme-kernels": res}, pyenv)
    assert fws == [Framework(name="torch", version="2.14.1"),
                   Framework(name="acme-kernels", version="0.3+cu121", variant="cu121",
                             bindings=res.bindings, bindings_via="generic")]


def test_with_copies_takes_the_files_own_version() -> None:
    fw = Framework(name="torch", version="2.14.1", bindings=(
        Binding(soname="libnccl.so.2", path="/n/libnccl.so.2", via="preload"),
        Binding(soname="libcufft.so.12", path="/c/libcufft.so.12", via="rpath", build_id="ff")))
    copies = [LibraryCopy(library="nccl", version="2.30.7", path="/n/libnccl.so.2",
                          found_via="pip:nvidia-nccl-cu13", file_version="2.27.3+cuda12.9",
                          build_id="aa")]
    (out,) = binding.with_copies([fw], copies)
    assert [(b.version, b.build_id) for b in out.bindings] == [("2.27.3+cuda12.9", "aa"), (None, "ff")]


# ---------------------------------------------------------------------------------------------
# The machine's search inputs


def test_survey_reads_the_cache_the_loader_trace_and_etc_preload() -> None:
    host = FakeHost(
        files={"/etc/ld.so.preload": "/opt/libhook.so\n"},
        commands={"ldconfig": RunResult(returncode=0, stdout="1 libs found\n"
                                        "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n"),
                  "python3.11": RunResult(returncode=0, stdout="", stderr=TRACE)})
    survey = binding.survey(host, "/e/python3.11")
    assert [e.name for e in survey.cache] == ["libz.so.1"]
    assert survey.config is not None and survey.config.lib == "lib/x86_64-linux-gnu"
    assert survey.etc_preload == "/opt/libhook.so\n"
    assert survey.notes == ()
    (argv,) = [c for c in host.calls if c[0] == "/e/python3.11"]
    assert argv == ("/e/python3.11", "-S", "-c", "")


def test_survey_says_what_it_could_not_read() -> None:
    survey = binding.survey(FakeHost(commands={"python3": RunResult(returncode=1, stdout="")}), "python3")
    assert survey.config is None
    assert survey.notes == ("ld.so.cache unread: ldconfig not found",
                            "loader configuration unread (the loader printed no search trace): "
                            "no hwcaps subdirectories searched")
