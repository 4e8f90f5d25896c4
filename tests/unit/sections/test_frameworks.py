"""Binding rules: another bound copy (diff); off its pin, misnamed or doubled (check); NCCL across nodes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from binding_snapshots import (
    COPIES,
    NCCL,
    NCCL_BOUND,
    OLD_CUDNN,
    PLAIN,
    PRELOADED,
    WHEEL_CUDNN,
    WHEEL_CUDNN_BOUND,
    snapshot,
)

from envsnap import compat
from envsnap.drift import diff
from envsnap.fleet import fleet_report
from envsnap.gate import check
from envsnap.report import render_check, render_diff, render_fleet
from envsnap.snapshot import Binding, LibraryCopy

# ---------------------------------------------------------------------------------------------
# diff


def _binding_changes(a: tuple[Binding, ...], b: tuple[Binding, ...]) -> list[tuple[str, str, str]]:
    d = diff(snapshot(*a), snapshot(*b))
    return [(c.name, c.kind, c.severity) for c in d.changes if c.section == "frameworks.bindings"]


def _with(base: tuple[Binding, ...], **cudnn: object) -> tuple[Binding, ...]:
    return tuple(replace(b, **cudnn) if b.soname == "libcudnn.so.9" else b  # type: ignore[arg-type]
                 for b in base)


def test_same_bindings_no_change() -> None:
    assert _binding_changes(PLAIN, PLAIN) == []


@pytest.mark.parametrize(("cudnn", "kind"), [
    ({"path": "/opt/other/libcudnn.so.9"}, "source"),  # the same version from another file
    ({"version": "9.10.2"}, "downgraded"),
    ({"version": "9.25.1"}, "upgraded"),
    ({"build_id": "ffff"}, "changed"),  # overwritten in place: same path and version
])
def test_bound_cudnn_changed_is_major_for_the_framework(cudnn: dict[str, object],
                                                        kind: str) -> None:
    before = _with(PLAIN, build_id="aaaa")
    assert _binding_changes(before, _with(before, **cudnn)) == [
        ("torch libcudnn.so.9", kind, "major")]


def test_preloaded_cudnn_change_says_what_binds_and_how_to_undo_it() -> None:
    d = diff(snapshot(*PLAIN), snapshot(*PRELOADED))
    (c,) = [c for c in d.changes if c.section == "frameworks.bindings"]
    assert c.severity == compat.severity("binding_changed") == "major"
    assert c.old == f"9.24.0 at {WHEEL_CUDNN} (torch._preload_cuda_deps)"
    assert c.new == f"9.10.2 at {OLD_CUDNN} (LD_PRELOAD)"
    assert c.explanation.startswith("torch now binds libcudnn.so.9 9.10.2 instead of 9.24.0")
    assert c.fix == f"remove {OLD_CUDNN} from LD_PRELOAD"
    assert d.failed("major") and not d.failed("critical")
    doc = json.loads(render_diff(d, "json", a="a.toml", b="b.toml"))
    (rec,) = [r for r in doc["changes"] if r["section"] == "frameworks.bindings"]
    assert (rec["name"], rec["severity"], rec["fix"]) == (
        "torch libcudnn.so.9", "major", f"remove {OLD_CUDNN} from LD_PRELOAD")
    text = render_diff(d, "text", a="a.toml", b="b.toml")
    assert "frameworks.bindings: torch libcudnn.so.9" in text, text


def test_a_binding_found_nowhere_says_the_import_fails() -> None:
    gone = _with(PLAIN, path=None, via="missing", version=None,
                 found_by="/venv/torch/lib/libtorch_cuda.so")
    d = diff(snapshot(*PLAIN), snapshot(*gone))
    (c,) = [c for c in d.changes if c.section == "frameworks.bindings"]
    assert (c.kind, c.severity, c.new) == ("source", "major",
                                           "not found (needed by /venv/torch/lib/libtorch_cuda.so)")
    assert "importing torch fails" in c.explanation


def test_a_soname_bound_on_one_side_only() -> None:
    assert _binding_changes(PLAIN, PLAIN[:2]) == [("torch libnccl.so.2", "removed", "major")]
    assert _binding_changes(PLAIN[:2], PLAIN) == [("torch libnccl.so.2", "added", "major")]


# ---------------------------------------------------------------------------------------------
# check (the machine's own bindings)


def _findings(live_bindings: tuple[Binding, ...], copies: tuple[LibraryCopy, ...] = COPIES,
              ) -> list[tuple[str, str, str]]:
    r = check(snapshot(*PLAIN), snapshot(*live_bindings, copies=copies))
    return [(f.kind, f.subject, f.severity) for f in r.findings if f.rule == "binding"]


def test_plain_bindings_pass_and_the_rule_ran() -> None:
    r = check(snapshot(*PLAIN), snapshot(*PLAIN))
    assert [f for f in r.findings if f.rule == "binding"] == [] and "binding" in r.checked


def test_no_bindings_on_this_machine_leaves_the_rule_out() -> None:
    r = check(snapshot(*PLAIN), snapshot())
    assert "binding" not in r.checked and "binding" not in r.skipped


def test_bound_version_off_the_frameworks_pin_is_critical() -> None:
    r = check(snapshot(*PLAIN), snapshot(*PRELOADED))
    pin = [f for f in r.findings if f.kind == "pin"]
    assert [(f.rule, f.subject, f.severity) for f in pin] == [
        ("binding", "torch libcudnn.so.9", "critical")]
    assert pin[0].expected == "nvidia-cudnn-cu13==9.24.0.43"
    assert pin[0].actual == f"9.10.2 at {OLD_CUDNN} (LD_PRELOAD)"
    assert pin[0].fix == f"remove {OLD_CUDNN} from LD_PRELOAD"
    assert r.failed("critical")
    doc = json.loads(render_check(r, "json", snapshot="s.toml", fail_on="critical"))
    assert doc["passed"] is False and "binding" in doc["checked"]
    (rec,) = [f for f in doc["findings"] if f["kind"] == "pin"]
    assert (rec["severity"], rec["fix"]) == ("critical", f"remove {OLD_CUDNN} from LD_PRELOAD")


def test_pin_fix_without_a_variable_reinstalls_the_pinned_wheel() -> None:
    # The wheel's folder itself holds another cuDNN (a PYTHONPATH folder or a stray copy):
    # nothing to unset, the pinned wheel is put back.
    bound = _with(PLAIN, version="9.10.2")
    r = check(snapshot(*PLAIN), snapshot(*bound))
    (f,) = [f for f in r.findings if f.kind == "pin"]
    assert f.fix == "python -m pip install --force-reinstall --no-deps 'nvidia-cudnn-cu13==9.24.0.43'"


def test_bound_to_a_misnamed_file_is_critical_and_said_once() -> None:
    overwritten = replace(COPIES[3], file_version="2.27.3+cuda12.9", metadata_mismatch=True,
                          claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7"))
    nccl = replace(NCCL_BOUND, version="2.27.3+cuda12.9")
    live = (PLAIN[0], WHEEL_CUDNN_BOUND, nccl)
    r = check(snapshot(*PLAIN), snapshot(*live, copies=(*COPIES[:3], overwritten)))
    (f,) = [f for f in r.findings if f.rule == "binding"]  # not also the pin finding
    assert (f.kind, f.subject, f.severity) == ("mismatch", "torch libnccl.so.2", "critical")
    assert (f.expected, f.actual) == ("2.30.7 (pip:nvidia-nccl-cu13)", "2.27.3+cuda12.9")
    assert f.fix == ("python -m pip uninstall -y nvidia-nccl-cu12 && python -m pip install "
                     "--force-reinstall --no-deps nvidia-nccl-cu13==2.30.7")
    assert NCCL in f.explanation and "nvidia-nccl-cu12==2.27.3" in f.explanation


def test_two_files_for_one_soname_is_a_warning() -> None:
    # The second file at the pinned version: only the duplicate is left to say.
    bound = _with(PLAIN, path=OLD_CUDNN, found_by="LD_PRELOAD", also_loaded=(WHEEL_CUDNN,))
    assert _findings(bound) == [("duplicate", "torch libcudnn.so.9", "major")]
    assert compat.severity("binding_duplicate") == "major"


def test_preloaded_cudnn_is_pin_and_duplicate() -> None:
    assert _findings(PRELOADED) == [("pin", "torch libcudnn.so.9", "critical"),
                                    ("duplicate", "torch libcudnn.so.9", "major")]


# ---------------------------------------------------------------------------------------------
# fleet


def _nccl(**kw: object) -> tuple[Binding, ...]:
    return tuple(replace(b, **kw) if b.soname == "libnccl.so.2" else b  # type: ignore[arg-type]
                 for b in PLAIN)


@pytest.mark.parametrize("nccl", [{"build_id": "0123456789abcdef"},
                                  {"version": "2.27.3+cuda12.9"}])
def test_nodes_binding_another_nccl_fall_under_the_nccl_cluster_rule(
        nccl: dict[str, object]) -> None:
    ref = snapshot(*PLAIN)
    report = fleet_report("golden", ref, [("n1", ref), ("n2", snapshot(*_nccl(**nccl))),
                                         ("n3", snapshot(*_nccl(**nccl)))])
    assert report.agree == ("n1",)
    (group,) = report.groups
    assert group.nodes == ("n2", "n3")
    (c,) = [c for c in group.changes if c.section == "frameworks.bindings"]
    rule = compat.cluster_rule("nccl")
    assert c.name == "torch libnccl.so.2"
    assert c.severity == rule.severity == "critical"  # raised from binding_changed's major
    assert c.explanation.endswith(rule.why)
    assert report.failed("critical")
    doc = json.loads(render_fleet(report, "json"))
    assert doc["groups"][0]["worst"] == "critical"


def test_nccl_at_another_path_alone_is_no_cluster_rule() -> None:
    ref = snapshot(*PLAIN)
    moved = snapshot(*_nccl(path="/other/venv/nvidia/nccl/lib/libnccl.so.2"))
    (group,) = fleet_report("golden", ref, [("n1", moved)]).groups
    (c,) = [c for c in group.changes if c.section == "frameworks.bindings"]
    assert (c.kind, c.severity) == ("source", "major")
