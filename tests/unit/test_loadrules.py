"""loadrules: the predicates the later diff, check and fleet rules ask of recorded bindings."""

from __future__ import annotations

import pytest

from envsnap import loadrules
from envsnap.snapshot import Binding, Framework, LibraryCopy

WHEEL_CUDNN = "/v/site/nvidia/cudnn/lib/libcudnn.so.9"
OLD_CUDNN = "/opt/cudnn-9.10/lib/libcudnn.so.9"
NCCL = "/v/site/nvidia/nccl/lib/libnccl.so.2"
TORCH_REQUIRES = ("filelock", "nvidia-cudnn-cu13==9.24.0.43", "nvidia-nccl-cu13==2.30.7",
                  "cuda-toolkit[cublas,cudart]==13.0.3", "triton~=3.8.0", "sympy>=1.13.3")


def _fw(*bindings: Binding) -> Framework:
    return Framework(name="torch", version="2.14.1", bindings=bindings)


def _b(soname: str, path: str | None, version: str | None = None, build_id: str | None = None,
       **kw: object) -> Binding:
    return Binding(soname=soname, path=path, via=str(kw.pop("via", "rpath")), version=version,
                   build_id=build_id, **kw)  # type: ignore[arg-type]


COPIES = (
    LibraryCopy(library="cudnn", version="9.24.0.43", path=WHEEL_CUDNN,
                found_via="pip:nvidia-cudnn-cu13", soname="libcudnn.so.9", file_version="9.24.0"),
    LibraryCopy(library="cudnn", version=None, path=OLD_CUDNN, found_via="ld_preload",
                soname="libcudnn.so.9", file_version="9.10.2"),
    LibraryCopy(library="nccl", version="2.30.7", path=NCCL, found_via="pip:nvidia-nccl-cu13",
                soname="libnccl.so.2", file_version="2.27.3+cuda12.9", metadata_mismatch=True,
                claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7")),
)


@pytest.mark.parametrize(("label", "from_file", "disagree"), [
    ("13.0.96", "13.0", False),  # cudaRuntimeGetVersion carries major.minor only
    ("9.24.0.43", "9.24.0", False),
    ("2.30.7", "2.30.7+cuda13.3", False),
    ("2.30.7", "2.27.3+cuda12.9", True),
    ("9.24.0.43", "9.10.2", True),
    ("13.1.1.3", "13.1.0", True),
    (None, "9.10.2", False), ("9.1", None, False), ("abc", "9.1", False),
])
def test_versions_disagree(label: str | None, from_file: str | None, disagree: bool) -> None:
    assert loadrules.versions_disagree(label, from_file) is disagree


def test_changed_bindings_by_path_version_build_id_and_presence() -> None:
    before = _fw(_b("libcudnn.so.9", WHEEL_CUDNN, "9.24.0", "aa"), _b("libnccl.so.2", NCCL, "2.30.7", "bb"),
                 _b("libcufft.so.12", "/x/libcufft.so.12"))
    after = _fw(_b("libcudnn.so.9", OLD_CUDNN, "9.10.2", "cc"), _b("libnccl.so.2", NCCL, "2.30.7", "dd"),
                _b("libcurand.so.10", "/x/libcurand.so.10"))
    changes = [(c.soname, c.what, c.before, c.after) for c in loadrules.changed_bindings(before, after)]
    assert changes == [
        ("libcudnn.so.9", "path", WHEEL_CUDNN, OLD_CUDNN),
        ("libcudnn.so.9", "version", "9.24.0", "9.10.2"),
        ("libcudnn.so.9", "build_id", "aa", "cc"),
        ("libcufft.so.12", "removed", "/x/libcufft.so.12", None),
        ("libcurand.so.10", "added", None, "/x/libcurand.so.10"),
        ("libnccl.so.2", "build_id", "bb", "dd"),  # same path and version: a rebuilt file
    ]
    assert loadrules.changed_bindings(before, before) == []


def test_exact_pins() -> None:
    assert loadrules.exact_pins((*TORCH_REQUIRES, "Nvidia_Foo==1.*", "bad requirement ((")) == {
        "nvidia-cudnn-cu13": "9.24.0.43", "nvidia-nccl-cu13": "2.30.7", "cuda-toolkit": "13.0.3"}


def test_pin_mismatch_when_ld_preload_binds_an_older_cudnn() -> None:
    torch = _fw(_b("libcudnn.so.9", OLD_CUDNN, "9.10.2", via="preload"),
                _b("libnccl.so.2", NCCL, "2.30.7+cuda13.3"))
    (m,) = loadrules.pin_mismatches(torch, TORCH_REQUIRES, COPIES)
    assert (m.soname, m.requirement, m.bound_version, m.bound_path) == (
        "libcudnn.so.9", "nvidia-cudnn-cu13==9.24.0.43", "9.10.2", OLD_CUDNN)


def test_no_pin_mismatch_for_the_pinned_copy_or_an_unknown_version() -> None:
    torch = _fw(_b("libcudnn.so.9", WHEEL_CUDNN, "9.24.0"), _b("libnccl.so.2", NCCL, None))
    assert loadrules.pin_mismatches(torch, TORCH_REQUIRES, COPIES) == []
    assert loadrules.pin_mismatches(torch, ("nvidia-cudnn-cu13>=9",), COPIES) == []


def test_bound_to_a_copy_whose_metadata_and_file_disagree() -> None:
    nccl = _b("libnccl.so.2", NCCL, "2.27.3+cuda12.9")
    torch = _fw(_b("libcudnn.so.9", WHEEL_CUDNN, "9.24.0"), nccl)
    assert loadrules.bound_to_mismatched(torch, COPIES) == [(nccl, COPIES[2])]


def test_two_files_for_one_soname() -> None:
    dup = _b("libcudnn.so.9", OLD_CUDNN, via="preload", also_loaded=(WHEEL_CUDNN,))
    torch = _fw(dup, _b("libnccl.so.2", NCCL))
    assert loadrules.duplicate_sonames(torch) == [dup]
