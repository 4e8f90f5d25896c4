"""privacy.anonymize (--anonymize): whole path components relabelled, every section's hook run."""

from __future__ import annotations

import pytest
from binding_snapshots import BOUND_SNAP

from envsnap.privacy import anonymize
from envsnap.snapshot import (
    CudaInfo,
    Meta,
    Package,
    PythonEnv,
    Snapshot,
    Source,
)

# --- path anonymisation: whole components only --------------------------------------------------


def _snap(prefix: str, env: dict[str, str]) -> Snapshot:
    return Snapshot(
        meta=Meta(envsnap_version="0", captured_at="2026-01-01T00:00:00Z"),
        python=PythonEnv(version="3.11.7", implementation="cpython", prefix=prefix,
                         executable=f"{prefix.rstrip('/')}/bin/python",
                         packages=(Package(name="p", version="1", source=Source(
                             kind="dir", url=f"file://{prefix.rstrip('/')}/src/p")),)),
        cuda=CudaInfo(declared={"CUDA_VERSION": "12.4.1"}),
        env=env,
    )


@pytest.mark.parametrize(
    ("home", "value", "expected"),
    [
        ("/x/ho", "/x/home2/cache", "/x/home2/cache"),
        ("/x/ho", "/x/ho/cache", "~/cache"),
        ("/x/ho", "/x/ho", "~"),
        ("/x/ho/", "/opt/lib:/x/ho/lib:/y/x/ho/lib", "/opt/lib:~/lib:/y/x/ho/lib"),
        ("/", "/usr/lib", "/usr/lib"),
        ("", "/usr/lib", "/usr/lib"),
    ],
)
def test_anonymize_replaces_whole_components(home: str, value: str, expected: str) -> None:
    snap = anonymize(_snap("/venv", {"LD_LIBRARY_PATH": value}), home=home)
    assert snap.env["LD_LIBRARY_PATH"] == expected


def test_anonymize_ignores_a_prefix_of_root() -> None:
    snap = anonymize(_snap("/", {"LD_LIBRARY_PATH": "/usr/lib:/opt/x"}), home="/root")
    assert snap.env["LD_LIBRARY_PATH"] == "/usr/lib:/opt/x"
    assert snap.python is not None and snap.python.executable == "/bin/python"


def test_anonymize_relabels_prefix_paths() -> None:
    snap = anonymize(_snap("/home/me/venv", {"VIRTUAL_ENV": "/home/me/venv", "X": "/home/me/venv2"}),
                     home="/home/me")
    assert snap.env == {"VIRTUAL_ENV": "$PREFIX", "X": "~/venv2"}
    py = snap.python
    assert py is not None and (py.prefix, py.executable) == ("$PREFIX", "$PREFIX/bin/python")
    assert py.packages[0].source is not None and py.packages[0].source.url == "$PREFIX/src/p"


# --- bindings: every bound path relabelled -------------------------------------------------------

def test_anonymize_relabels_every_bound_path() -> None:
    (fw,) = anonymize(BOUND_SNAP, home="/home/me").frameworks
    old, nccl, missing = fw.bindings
    assert (old.path, old.also_loaded, old.found_by) == (
        "~/old/libcudnn.so.9", ("$PREFIX/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9",),
        "LD_PRELOAD")
    assert (nccl.path, nccl.loaded) == ("$PREFIX/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2",
                                        "/opt/nccl/libnccl.so.2")
    assert missing.found_by == "$PREFIX/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so"
