"""The cuda section: toolkit and library-copy diff (host CUDA in use or not), NCCL cluster rule,
anonymize, and the show lines that mark the copy a framework binds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from binding_snapshots import COPIES, PLAIN, PRELOADED, WHEEL_CUDNN, snapshot

from envsnap import compat
from envsnap.changes import Change
from envsnap.sections.base import Relabel
from envsnap.sections.cuda import SECTION
from envsnap.snapshot import CudaInfo, LibraryCopy, Package, Snapshot
from envsnap.summary import summarize
from envsnap.testing import h100_snapshot, python_env, section_diff, torch_framework

HOST = h100_snapshot()  # the toolkit only; nothing in the environment needs CUDA
TORCH = h100_snapshot(frameworks=(torch_framework(),))
SYSTEM_CUDNN = LibraryCopy(library="cudnn", version="9.1.0", path="/usr/lib/x86_64-linux-gnu/"
                           "libcudnn.so.9", found_via="ldconfig", soname="libcudnn.so.9")


def _cuda(s: Snapshot, **kw: object) -> Snapshot:
    assert s.cuda is not None
    return replace(s, cuda=replace(s.cuda, **kw))  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[Change]:
    out = section_diff(SECTION, a, b)
    return out


def test_same_cuda_no_change() -> None:
    assert _diff(TORCH, TORCH) == []


@pytest.mark.parametrize(("base", "rule"), [
    (HOST, "host_cuda_unused"),  # nothing loads it
    # A package built for CUDA 12.1 that brings no CUDA of its own: the system's is used.
    (replace(HOST, python=python_env(Package(name="myext", version="1.0+cu121"))),
     "toolkit_changed"),
    (TORCH, "toolkit_beside_wheels"),  # a framework's CUDA build: it loads nvidia-* wheels
    # The CUDA from nvidia-* wheels: the system toolkit matters only to compile extensions.
    (replace(TORCH, python=python_env(Package(name="nvidia-cudnn-cu12", version="9.10.2.21"))),
     "toolkit_beside_wheels"),
])
def test_another_toolkit_is_rated_by_what_uses_it(base: Snapshot, rule: str) -> None:
    changes = _diff(base, _cuda(base, toolkit_version="12.8.93", nvcc_version="12.8.93"))
    assert [(c.name, c.kind, c.severity) for c in changes] == [
        ("toolkit", "downgraded", compat.severity(rule)),
        ("nvcc", "downgraded", compat.severity(rule))]


def test_a_second_copy_of_a_library_is_a_duplicate() -> None:
    a = _cuda(TORCH, libraries=(COPIES[1],))
    (c,) = _diff(a, _cuda(TORCH, libraries=(COPIES[1], SYSTEM_CUDNN)))
    assert (c.section, c.name, c.kind) == ("cuda.libraries", "cudnn (ldconfig)", "added")
    assert c.severity == compat.severity("library_duplicate") and c.scope == "host"
    assert "A second cudnn copy appeared" in c.explanation
    (only,) = _diff(_cuda(TORCH, libraries=()), _cuda(TORCH, libraries=(SYSTEM_CUDNN,)))
    assert only.severity == compat.severity("library_added")


def test_a_library_version_change_by_major_and_nccl() -> None:
    a = _cuda(TORCH, libraries=(SYSTEM_CUDNN, COPIES[3]))
    b = _cuda(TORCH, libraries=(replace(SYSTEM_CUDNN, version="8.9.7"),
                                replace(COPIES[3], version="2.30.8")))
    rated = {c.name: (c.kind, c.severity) for c in _diff(a, b)}
    assert rated == {
        "cudnn (ldconfig)": ("downgraded", compat.severity("library_major")),
        "nccl (pip:nvidia-nccl-cu13)": ("upgraded", compat.severity("framework_nccl_changed"))}


def test_a_host_copy_gone_is_not_missed_when_the_environment_brings_its_own() -> None:
    a = _cuda(TORCH, libraries=(SYSTEM_CUDNN, COPIES[1]))
    (c,) = _diff(a, _cuda(TORCH, libraries=(COPIES[1],)))
    assert (c.kind, c.severity) == ("removed", compat.severity("host_cuda_unused"))
    assert "brings its own cudnn copy" in c.explanation
    (c,) = _diff(_cuda(TORCH, libraries=(SYSTEM_CUDNN,)), _cuda(TORCH, libraries=()))
    assert c.severity == compat.severity("library_removed")


def test_cluster_rule_is_nccl_for_nccl_copies_only() -> None:
    assert SECTION.cluster is not None
    c = Change(section="cuda.libraries", name="nccl (pip:nvidia-nccl-cu12)", kind="upgraded",
               severity="major", old="2.21.5", new="2.28.3", explanation="")
    assert SECTION.cluster(c) == "nccl"
    assert SECTION.cluster(replace(c, name="cudnn (ldconfig)")) is None
    assert SECTION.cluster(replace(c, section="cuda", name="toolkit")) is None


def test_anonymize_relabels_paths_and_declared_values() -> None:
    assert SECTION.anonymize is not None
    home = CudaInfo(toolkit_path="/home/me/cuda", libraries=(
        replace(SYSTEM_CUDNN, path="/home/me/cuda/lib64/libcudnn.so.9"),),
        declared={"CUDA_HOME": "/home/me/cuda"})
    anon = SECTION.anonymize(home, Relabel([("/home/me", "~")], prefix=False))
    assert anon.toolkit_path == "~/cuda"
    assert [lib.path for lib in anon.libraries] == ["~/cuda/lib64/libcudnn.so.9"]
    assert anon.declared == {"CUDA_HOME": "~/cuda"}


def test_show_lines_toolkit_and_a_copy_the_metadata_misnames() -> None:
    assert SECTION.summary is not None and SECTION.summary_data is not None
    odd = replace(COPIES[3], file_version="2.27.3+cuda12.9", metadata_mismatch=True)
    s = _cuda(HOST, libraries=(COPIES[2], odd))
    lines = SECTION.summary(s, SECTION.summary_data(s))
    assert lines[0] == "cuda      toolkit 13.0.88"
    # A copy no metadata names, by what the file says; a misnamed one says both.
    assert lines[1].split() == ["cudnn", "9.10.2", "ld_preload"]
    assert lines[2].endswith("(the file is 2.27.3+cuda12.9)")




def _lines(text: str, library: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"  {library} ")]


def test_the_bound_copy_is_marked_with_its_framework() -> None:
    plain = summarize(snapshot(*PLAIN))
    assert [ln.endswith("<- bound by torch") for ln in _lines(plain, "cudnn")] == [
        True, False]  # the wheel's copy binds, the one in /opt does not
    preloaded = summarize(snapshot(*PRELOADED))
    wheel, old = _lines(preloaded, "cudnn")
    assert "pip:nvidia-cudnn-cu13" in wheel and "bound by" not in wheel
    assert old.split()[1:] == ["9.10.2", "ld_preload", "<-", "bound", "by", "torch"]
    assert f"  ! libcudnn.so.9 twice: {WHEEL_CUDNN} loaded beside the bound copy" in preloaded
