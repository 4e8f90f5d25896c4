"""Snapshots whose frameworks record bindings, as a capture of torch 2.14.1's CUDA wheels does."""

from __future__ import annotations

from dataclasses import replace

import support

from envsnap.capturing import capture
from envsnap.snapshot import (
    Binding,
    CudaInfo,
    Framework,
    LibraryCopy,
    Package,
    PythonEnv,
    Snapshot,
)
from envsnap.testing import gpu_fixture_host

# The layout and identities tests/integration/test_loader_torch.py records from the real
# wheels (torch 2.14.1 with its nvidia-* cu13 wheels; cuDNN 9.10.2 from the cu12 wheel).
SITE = "/venv/lib/python3.11/site-packages"
TORCH_REQUIRES = ("filelock", "nvidia-cudnn-cu13==9.24.0.43", "nvidia-nccl-cu13==2.30.7",
                  "cuda-toolkit[cublas,cudart]==13.0.3", "triton~=3.8.0", "sympy>=1.13.3")
CUDART = f"{SITE}/nvidia/cu13/lib/libcudart.so.13"
WHEEL_CUDNN = f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9"
OLD_CUDNN = "/opt/cudnn-9.10/lib/libcudnn.so.9"
NCCL = f"{SITE}/nvidia/nccl/lib/libnccl.so.2"
NCCL_BUILD = "a2c825116a308c48453d420d773412cbe513df0a"
PRELOADER = "torch._preload_cuda_deps"

COPIES = (
    LibraryCopy(library="cudart", version="13.0.96", path=CUDART,
                found_via="pip:nvidia-cuda-runtime", soname="libcudart.so.13",
                version_via="dist-info", file_version="13.0", file_version_via="call",
                build_id="2a12a4a442f0edf6eab8241fdeedb40019c4256c"),
    LibraryCopy(library="cudnn", version="9.24.0.43", path=WHEEL_CUDNN,
                found_via="pip:nvidia-cudnn-cu13", soname="libcudnn.so.9",
                version_via="dist-info", file_version="9.24.0", file_version_via="call"),
    LibraryCopy(library="cudnn", version=None, path=OLD_CUDNN, found_via="ld_preload",
                soname="libcudnn.so.9", file_version="9.10.2", file_version_via="call"),
    LibraryCopy(library="nccl", version="2.30.7", path=NCCL, found_via="pip:nvidia-nccl-cu13",
                soname="libnccl.so.2", version_via="dist-info", file_version="2.30.7+cuda13.3",
                file_version_via="string", build_id=NCCL_BUILD),
)

CUDART_BOUND = Binding(soname="libcudart.so.13", path=CUDART, via="rpath",
                       found_by=f"{SITE}/torch/lib/libtorch_global_deps.so", version="13.0",
                       build_id="2a12a4a442f0edf6eab8241fdeedb40019c4256c")
WHEEL_CUDNN_BOUND = Binding(soname="libcudnn.so.9", path=WHEEL_CUDNN, via="preload",
                            found_by=PRELOADER, version="9.24.0")
# LD_PRELOAD names the old cuDNN: it binds, and torch's preload then loads the wheel's copy by
# path beside it (docs/which-copy-loads.md, "What the real stack does").
PRELOADED_CUDNN_BOUND = Binding(soname="libcudnn.so.9", path=OLD_CUDNN, via="preload",
                                found_by="LD_PRELOAD", version="9.10.2",
                                also_loaded=(WHEEL_CUDNN,))
NCCL_BOUND = Binding(soname="libnccl.so.2", path=NCCL, via="preload", found_by=PRELOADER,
                     version="2.30.7+cuda13.3", build_id=NCCL_BUILD)
BINDINGS_VIA = ("torch 2.14.1 import: libtorch_global_deps, torch._preload_cuda_deps (libcudart "
                "mapped after libtorch_global_deps), torch._C; glibc search rules")


def torch_with(*bindings: Binding) -> Framework:
    return Framework(name="torch", version="2.14.1", cuda="13.0", bindings=bindings,
                     bindings_via=BINDINGS_VIA)


PLAIN = (CUDART_BOUND, WHEEL_CUDNN_BOUND, NCCL_BOUND)
PRELOADED = (CUDART_BOUND, PRELOADED_CUDNN_BOUND, NCCL_BOUND)


def snapshot(*bindings: Binding, copies: tuple[LibraryCopy, ...] = COPIES) -> Snapshot:
    """An environment with torch 2.14.1's CUDA wheels and the given bindings (no host)."""
    python = PythonEnv(version="3.11.7", implementation="cpython", prefix="/venv",
                       env_kind="venv",
                       packages=(Package(name="torch", version="2.14.1", requires=TORCH_REQUIRES),))
    return Snapshot(python=python, cuda=CudaInfo(libraries=copies),
                    frameworks=(torch_with(*bindings),))


def h100(*bindings: Binding) -> Snapshot:
    """What `envsnap capture` records on the recorded H100 machine (tests/data/gpu/h100-ubuntu24,
    replayed through the real probes), with that environment in it."""
    recorded = capture(host=gpu_fixture_host(support.REPO / "tests" / "data" / "gpu"
                                             / "h100-ubuntu24"),
                       only=("os", "cpu", "nvidia", "cuda"))
    env = snapshot(*bindings)
    assert recorded.cuda is not None and env.cuda is not None
    return replace(recorded, python=env.python, frameworks=env.frameworks,
                   cuda=replace(recorded.cuda, libraries=env.cuda.libraries))


# A capture under a home folder, with every kind of binding (an LD_PRELOAD copy with a second
# file beside it, an overwritten NCCL whose loader saw another file, a library not found):
# the codec and --anonymize are tested on it.
BOUND_SITE = "/home/me/venv/lib/python3.11/site-packages"
BOUND_NCCL = LibraryCopy(
    library="nccl", version="2.30.7", path=f"{BOUND_SITE}/nvidia/nccl/lib/libnccl.so.2",
    found_via="pip:nvidia-nccl-cu13", soname="libnccl.so.2", version_via="metadata",
    file_version="2.27.3+cuda12.9", file_version_via="string", build_id="ab12",
    metadata_mismatch=True, claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7"))
BOUND_TORCH = Framework(
    name="torch", version="2.14.1", cuda="13.0", bindings_via="torch 2.14.1 import: ...",
    bindings=(
        Binding(soname="libcudnn.so.9", path="/home/me/old/libcudnn.so.9", via="preload",
                found_by="LD_PRELOAD", version="9.10.2", build_id="cd34",
                also_loaded=(f"{BOUND_SITE}/nvidia/cudnn/lib/libcudnn.so.9",), verified=True),
        Binding(soname="libnccl.so.2", path=BOUND_NCCL.path, via="preload",
                found_by="torch._preload_cuda_deps", version="2.27.3+cuda12.9", verified=False,
                loaded="/opt/nccl/libnccl.so.2"),
        Binding(soname="libcuda.so.1", via="missing",
                found_by=f"{BOUND_SITE}/torch/lib/libtorch_cuda.so"),
    ))
BOUND_SNAP = Snapshot(
    python=PythonEnv(version="3.11.7", implementation="cpython", prefix="/home/me/venv"),
    cuda=CudaInfo(libraries=(BOUND_NCCL,)), frameworks=(BOUND_TORCH,))
