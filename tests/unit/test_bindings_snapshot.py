"""Bindings and file identities in the snapshot: written, read back, anonymized, ignored by old readers."""

from __future__ import annotations

import json

from envsnap import io
from envsnap.privacy import anonymize
from envsnap.snapshot import (
    Binding,
    CudaInfo,
    Framework,
    LibraryCopy,
    PythonEnv,
    Snapshot,
    from_dict,
    to_dict,
)

SITE = "/home/me/venv/lib/python3.11/site-packages"
NCCL = LibraryCopy(library="nccl", version="2.30.7", path=f"{SITE}/nvidia/nccl/lib/libnccl.so.2",
                   found_via="pip:nvidia-nccl-cu13", soname="libnccl.so.2", version_via="metadata",
                   file_version="2.27.3+cuda12.9", file_version_via="string", build_id="ab12",
                   metadata_mismatch=True,
                   claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7"))
TORCH = Framework(
    name="torch", version="2.14.1", cuda="13.0", bindings_via="torch 2.14.1 import: ...",
    bindings=(
        Binding(soname="libcudnn.so.9", path="/home/me/old/libcudnn.so.9", via="preload",
                found_by="LD_PRELOAD", version="9.10.2", build_id="cd34",
                also_loaded=(f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9",), verified=True),
        Binding(soname="libnccl.so.2", path=NCCL.path, via="preload",
                found_by="torch._preload_cuda_deps", version="2.27.3+cuda12.9", verified=False,
                loaded="/opt/nccl/libnccl.so.2"),
        Binding(soname="libcuda.so.1", via="missing", found_by=f"{SITE}/torch/lib/libtorch_cuda.so"),
    ))
SNAP = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", prefix="/home/me/venv"),
                cuda=CudaInfo(libraries=(NCCL,)), frameworks=(TORCH,))


def test_round_trip_through_toml_and_json() -> None:
    assert io.loads(io.dumps(SNAP)) == SNAP
    assert io.loads(io.dumps_json(SNAP)) == SNAP


def test_one_binding_per_line_in_toml() -> None:
    text = io.dumps(SNAP)
    lines = [line for line in text.splitlines() if line.startswith("  {soname = ")]
    assert len(lines) == 3


def test_defaults_are_not_written() -> None:
    missing = to_dict(SNAP)["frameworks"][0]["bindings"][2]
    assert missing == {"soname": "libcuda.so.1", "via": "missing",
                       "found_by": f"{SITE}/torch/lib/libtorch_cuda.so"}


def test_a_reader_before_these_fields_ignores_them() -> None:
    # Schema 2 gained the fields without a bump: a record with keys the reader does not know
    # (written by a newer envsnap) loads, the unknown keys dropped.
    data = to_dict(SNAP)
    data["frameworks"][0]["bindings"][0]["from_the_future"] = "x"
    data["cuda"]["libraries"][0]["also_new"] = [1, 2]
    loaded = from_dict(json.loads(json.dumps(data)))
    assert loaded.frameworks == SNAP.frameworks and loaded.cuda == SNAP.cuda


def test_anonymize_relabels_every_bound_path() -> None:
    (fw,) = anonymize(SNAP, home="/home/me").frameworks
    old, nccl, missing = fw.bindings
    assert (old.path, old.also_loaded, old.found_by) == (
        "~/old/libcudnn.so.9", ("$PREFIX/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9",),
        "LD_PRELOAD")
    assert (nccl.path, nccl.loaded) == ("$PREFIX/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2",
                                        "/opt/nccl/libnccl.so.2")
    assert missing.found_by == "$PREFIX/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so"
