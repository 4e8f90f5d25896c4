"""The frameworks section: build diff, the bound copies (diff; off its pin, misnamed or doubled:
check; NCCL across nodes: cluster), anonymize and show."""

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
from envsnap.changes import Change
from envsnap.drift import diff
from envsnap.fleet import fleet_report
from envsnap.gate import check
from envsnap.report import render_check, render_diff, render_fleet
from envsnap.sections.base import DiffContext, Relabel
from envsnap.sections.frameworks import SECTION
from envsnap.snapshot import GPU, Binding, Framework, LibraryCopy
from envsnap.summary import summarize, summary_data
from envsnap.testing import cpu_venv_snapshot, h100_snapshot, torch_framework

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
    assert (c.kind, c.severity, c.new) == ("removed", "major",
                                           "not found (needed by /venv/torch/lib/libtorch_cuda.so)")
    assert "importing torch fails" in c.explanation
    (back,) = [c for c in diff(snapshot(*gone), snapshot(*PLAIN)).changes
               if c.section == "frameworks.bindings"]
    assert back.kind == "added"


def test_a_node_where_nccl_is_not_found_falls_under_the_nccl_cluster_rule() -> None:
    ref = snapshot(*PLAIN)
    lost = tuple(replace(b, path=None, via="missing", version=None, build_id=None)
                 if b.soname == "libnccl.so.2" else b for b in PLAIN)
    report = fleet_report("golden", ref, [("n1", ref), ("n2", snapshot(*lost))])
    (group,) = report.groups
    (c,) = [c for c in group.changes if c.section == "frameworks.bindings"]
    assert (c.kind, c.severity) == ("removed", compat.cluster_rule("nccl").severity)


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
    assert f.fix == "python -m pip install --force-reinstall --no-deps nvidia-cudnn-cu13==9.24.0.43"


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


# A cu12 torch pins the cu12 NCCL wheel; the cu13 wheel, installed too, was found first and its
# metadata misnames the shared file, which is the cu12 build the framework pins.
CU12_REQUIRES = ("nvidia-nccl-cu12==2.27.3",)
SHARED = replace(COPIES[3], version="2.30.7", found_via="pip:nvidia-nccl-cu13",
                 file_version="2.27.3+cuda12.9", metadata_mismatch=True,
                 claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7"))


def _cu12_torch(nccl_file: str, copy: LibraryCopy) -> list[tuple[str, str, str, str | None]]:
    live = snapshot(*_nccl(version=nccl_file), copies=(*COPIES[:3], copy))
    assert live.python is not None
    torch = replace(live.python.packages[0], requires=CU12_REQUIRES)
    live = replace(live, python=replace(live.python, packages=(torch,)))
    r = check(live, live)
    return [(f.kind, f.subject, f.severity, f.fix) for f in r.findings if f.rule == "binding"]


def test_a_shared_file_that_is_the_pinned_build_is_no_finding() -> None:
    assert _cu12_torch("2.27.3+cuda12.9", SHARED) == []


def test_a_shared_file_judged_against_the_pinned_wheel_and_fixed_by_it() -> None:
    # The cu13 build over the cu12 wheel's file: the pin is missed, said once, and the fix
    # reinstalls what torch pins (never uninstalls it).
    copy = replace(SHARED, version="2.27.3", found_via="pip:nvidia-nccl-cu12",
                   file_version="2.30.7+cuda13.3")
    ((kind, subject, severity, fix),) = _cu12_torch("2.30.7+cuda13.3", copy)
    assert (kind, subject, severity) == ("mismatch", "torch libnccl.so.2", "critical")
    assert fix == ("python -m pip uninstall -y nvidia-nccl-cu13 && python -m pip install "
                   "--force-reinstall --no-deps nvidia-nccl-cu12==2.27.3")
    # Found through the cu13 wheel, whose metadata agrees with the file: the pin rule says it.
    agreeing = replace(SHARED, file_version="2.30.7+cuda13.3", metadata_mismatch=False)
    ((kind, _, severity, fix),) = _cu12_torch("2.30.7+cuda13.3", agreeing)
    assert (kind, severity) == ("pin", "critical")
    assert fix == "python -m pip install --force-reinstall --no-deps nvidia-nccl-cu12==2.27.3"


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




def test_a_bound_file_no_copy_lists_gets_a_line_of_its_own() -> None:
    unlisted = snapshot(*PRELOADED, copies=())
    text = summarize(unlisted)
    assert f"  binds libcudnn.so.9 9.10.2 at {OLD_CUDNN}" in text
    data = summary_data(unlisted)
    (fw,) = data["frameworks"]
    assert [b["soname"] for b in fw["bindings"]] == ["libcudart.so.13", "libcudnn.so.9",
                                                     "libnccl.so.2"]


# ---------------------------------------------------------------------------------------------
# the build itself, called through the section's own hooks


def _fw_diff(a: Framework, b: Framework, gpus: tuple[GPU, ...] = ()) -> list[Change]:
    assert SECTION.diff is not None
    out: list[Change] = []
    sa, sb = h100_snapshot(frameworks=(a,)), h100_snapshot(frameworks=(b,))
    if gpus:
        assert sb.nvidia is not None
        sb = replace(sb, nvidia=replace(sb.nvidia, gpus=gpus))
    SECTION.diff(sa, sb, out, DiffContext())
    return out


def test_a_build_that_lost_cuda_names_the_cuda_index() -> None:
    cpu = torch_framework(version="2.9.1+cpu", variant="cpu", cuda=None, arch_list=())
    changes = {c.name: c for c in _fw_diff(torch_framework(), cpu)}
    lost = changes["torch.cuda"]
    assert (lost.kind, lost.severity) == ("removed", compat.severity("torch_lost_cuda"))
    assert "download.pytorch.org/whl/cu128" in lost.explanation
    assert "torch" not in changes  # said once, as the lost CUDA


def test_a_narrower_arch_list_that_misses_bs_gpu() -> None:
    narrow = torch_framework(arch_list=("sm_80", "sm_86", "sm_90"))
    blackwell = GPU(index=0, name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
    (c,) = [c for c in _fw_diff(torch_framework(), narrow, (blackwell,))
            if c.name == "torch.arch_list"]
    assert c.severity == compat.severity("gpu_not_covered") and "GPU0" in c.explanation
    (ok,) = [c for c in _fw_diff(torch_framework(), narrow) if c.name == "torch.arch_list"]
    assert ok.severity == compat.severity("framework_arch_list_changed")


def test_another_cudnn_and_release() -> None:
    changes = {c.name: c for c in _fw_diff(torch_framework(), torch_framework(
        version="2.10.0+cu128", cudnn="8.9.7"))}
    assert changes["torch.cudnn"].severity == compat.severity("framework_cudnn_changed")
    assert "cuDNN major change" in changes["torch.cudnn"].explanation
    assert changes["torch"].kind == "upgraded"
    new = {c.name: c.kind for c in _fw_diff(torch_framework(), torch_framework(name="jax"))}
    assert new == {"jax": "added", "torch": "removed"}


@pytest.mark.parametrize(("section", "name", "kind", "rule"), [
    ("frameworks", "torch", "upgraded", "framework"),
    ("frameworks", "torch.cuda", "changed", "framework"),
    ("frameworks", "torch.nccl", "upgraded", "nccl"),
    ("frameworks", "torch.arch_list", "changed", None),
    ("frameworks", "torch.cudnn", "upgraded", None),
    ("frameworks.bindings", "torch libnccl.so.2", "upgraded", "nccl"),
    ("frameworks.bindings", "torch libnccl.so.2", "source", None),
    ("frameworks.bindings", "torch libcudnn.so.9", "upgraded", None),
    ("python.packages", "torch", "upgraded", None),
])
def test_cluster_rule(section: str, name: str, kind: str, rule: str | None) -> None:
    assert SECTION.cluster is not None
    c = Change(section=section, name=name, kind=kind, severity="major", old="a", new="b",
               explanation="")
    assert SECTION.cluster(c) == rule


def test_anonymize_relabels_every_binding_path() -> None:
    assert SECTION.anonymize is not None
    (fw,) = snapshot(*PRELOADED).frameworks
    (anon,) = SECTION.anonymize((fw,), Relabel([("/venv", "$PREFIX")], prefix=True))
    cudnn = next(b for b in anon.bindings if b.soname == "libcudnn.so.9")
    assert cudnn.path == OLD_CUDNN  # outside the prefix: as it was
    assert cudnn.also_loaded == (WHEEL_CUDNN.replace("/venv", "$PREFIX", 1),)
    assert all(b.path is None or not b.path.startswith("/venv/") for b in anon.bindings)
    assert anon.bindings_via == fw.bindings_via


def test_show_line_of_a_cpu_build_and_a_missing_library() -> None:
    assert SECTION.summary is not None and SECTION.summary_data is not None
    cpu = cpu_venv_snapshot(frameworks=(torch_framework(version="2.9.1+cpu", cuda=None,
                                                        arch_list=()),))
    assert SECTION.summary(cpu, SECTION.summary_data(cpu)) == ["framework torch 2.9.1+cpu (CPU build)"]
    gone = (replace(PLAIN[0], path=None, via="missing", version=None), *PLAIN[1:])
    s = snapshot(*gone)
    lines = SECTION.summary(s, SECTION.summary_data(s))
    assert lines[0] == "framework torch 2.14.1 (CUDA 13.0)"
    assert "  ! libcudart.so.13 not found: importing torch fails" in lines
