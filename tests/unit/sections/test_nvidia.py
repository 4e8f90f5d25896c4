"""The nvidia section: driver and GPU diff, the driver and gpu check rules, cluster, anonymize, show."""

from __future__ import annotations

from dataclasses import replace

import pytest

from envsnap import compat
from envsnap.changes import Change
from envsnap.gate import CheckResult, check
from envsnap.rules import mvc_floor
from envsnap.sections.base import CheckContext, Relabel
from envsnap.sections.nvidia import SECTION
from envsnap.snapshot import GPU, NvidiaInfo, Package, ProbeStatus, Snapshot
from envsnap.testing import (
    cpu_venv_snapshot,
    h100_gpu,
    h100_snapshot,
    h200_gpu,
    h200_snapshot,
    section_diff,
    torch_framework,
)
from envsnap.wording import gib, gpu_text

H100 = h100_gpu()
RTX5090 = GPU(index=1, name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
# A narrower build than the published one, stopping at sm_90: an RTX 5090 (sm_120) is
# not covered.
TORCH = torch_framework(arch_list=("sm_80", "sm_86", "sm_90"))
A100_40 = "NVIDIA A100-SXM4-40GB"
# A venv on the recorded H100 machine's driver and GPU, with the narrow torch build.
BASE = cpu_venv_snapshot(Package(name="numpy", version="1.26.4"),
                         Package(name="six", version="1.16.0"),
                         Package(name="attrs", version="23.2.0"),
                         nvidia=h100_snapshot().nvidia, frameworks=(TORCH,))


def rules(r: CheckResult) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in r.findings]


def _diff(a: Snapshot, b: Snapshot) -> list[Change]:
    out = section_diff(SECTION, a, b)
    return out


def _ctx(expected: Snapshot, live: Snapshot) -> CheckContext:
    return CheckContext(expected, live, policy="exact", host_only=True, python="python", tool=())


def _driver(snapshot: Snapshot, version: str, **kw: str) -> Snapshot:
    assert snapshot.nvidia is not None
    kw.setdefault("kernel_module_version", version)  # a driver installed and loaded
    return replace(snapshot, nvidia=replace(snapshot.nvidia, driver_version=version,
                                            **kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# diff


def test_same_machine_no_change() -> None:
    assert _diff(BASE, BASE) == []
    assert _diff(cpu_venv_snapshot(), cpu_venv_snapshot()) == []


def test_a_driver_upgrade_that_still_runs_the_builds_is_driver_changed() -> None:
    (c,) = _diff(_driver(BASE, "570.26"), BASE)
    assert (c.section, c.name, c.kind, c.old, c.new) == (
        "nvidia", "driver", "upgraded", "570.26", "580.159.04")
    assert c.severity == compat.severity("driver_changed") and c.fix is None


def test_a_driver_below_the_floor_names_the_floor_in_the_fix() -> None:
    floor = mvc_floor(TORCH.cuda or "")
    assert floor is not None
    (c,) = _diff(BASE, _driver(BASE, "470.256.02"))
    assert (c.kind, c.severity) == ("downgraded", compat.severity("driver_below_floor"))
    assert c.fix == f"install NVIDIA driver {floor} or newer"
    assert "too old" in c.explanation


def test_no_driver_on_b_matters_only_when_b_needs_cuda() -> None:
    no_driver = replace(BASE, nvidia=None)
    gone = [c for c in _diff(BASE, no_driver) if c.name == "driver"]
    assert [(c.kind, c.severity) for c in gone] == [("removed",
                                                     compat.severity("driver_removed"))]
    cpu_only = replace(no_driver, frameworks=())
    (c,) = [c for c in _diff(replace(BASE, frameworks=()), cpu_only) if c.name == "driver"]
    assert c.severity == compat.severity("other") and "nothing in B needs CUDA" in c.explanation


def test_a_kernel_module_mismatch_appearing_on_b_is_said() -> None:
    b = _driver(BASE, "580.159.04", kernel_module_version="575.51.03")
    assert b.nvidia is not None and b.nvidia.driver_mismatch
    (c,) = _diff(BASE, b)
    assert (c.name, c.severity, c.old, c.new) == (
        "kernel_module", compat.severity("driver_mismatch"), "580.159.04", "575.51.03")


def test_gpus_removed_added_and_not_covered() -> None:
    assert BASE.nvidia is not None
    two = replace(BASE, nvidia=replace(BASE.nvidia, gpus=(H100, h100_gpu(index=1, uuid=None))))
    (gone,) = _diff(two, BASE)
    assert (gone.section, gone.name, gone.kind, gone.severity) == (
        "nvidia.gpus", "GPU1", "removed", compat.severity("gpu_removed"))
    (extra,) = _diff(BASE, two)
    assert (extra.kind, extra.severity) == ("added", compat.severity("gpu_added"))
    blackwell = replace(BASE, nvidia=replace(BASE.nvidia, gpus=(H100, RTX5090)))
    (bad,) = _diff(BASE, blackwell)
    assert bad.severity == compat.severity("gpu_not_covered")
    assert bad.new == gpu_text(RTX5090) and bad.fix is not None and "sm_120" in bad.fix


def test_h100_to_h200_is_another_model_with_more_memory() -> None:
    frameworks = (torch_framework(),)
    (c,) = _diff(h100_snapshot(frameworks=frameworks), h200_snapshot(frameworks=frameworks))
    assert (c.name, c.kind, c.severity) == ("GPU0", "changed", compat.severity("gpu_model"))
    assert (c.old, c.new) == (gpu_text(h100_gpu()), gpu_text(h200_gpu()))


# ---------------------------------------------------------------------------------------------
# check: the rules called on their own


def test_driver_rule_is_silent_when_nothing_needs_cuda() -> None:
    expected = replace(BASE, frameworks=())
    (rule, _) = SECTION.checks
    assert rule.name == "driver" and rule.run(_ctx(expected, replace(expected, nvidia=None))) == []


def test_driver_rule_skips_a_driver_that_is_no_version() -> None:
    rule = SECTION.checks[0]
    assert rule.skip(_ctx(BASE, BASE)) is None
    reason = rule.skip(_ctx(BASE, _driver(BASE, "x" * 100)))
    assert isinstance(reason, str) and "not a version" in reason and "x" * 41 not in reason


def test_gpu_rule_skips_when_the_nvidia_probe_failed() -> None:
    rule = SECTION.checks[1]
    failed = replace(BASE, probes={"nvidia": ProbeStatus(status="error", error="NVML hung")})
    assert rule.name == "gpu" and rule.skip(_ctx(BASE, BASE)) is None
    assert "nvidia probe failed" in str(rule.skip(_ctx(BASE, failed)))


def test_gpu_rule_on_less_memory_says_both_sizes() -> None:
    small = h100_gpu(memory_bytes=40 * 2**30)
    assert BASE.nvidia is not None
    live = replace(BASE, nvidia=replace(BASE.nvidia, gpus=(small,)))
    (f,) = SECTION.checks[1].run(_ctx(BASE, live))
    assert (f.kind, f.severity) == ("memory", compat.severity("gpu_memory"))
    assert (f.expected, f.actual) == (gib(H100.memory_bytes), gib(small.memory_bytes))


# Moved from tests/unit/test_gate.py (through the check engine).


@pytest.mark.parametrize(
    ("driver", "severity", "fix"),
    [
        ("470.256.02", "critical", "driver 525.60.13 or newer (570.26 or newer for all CUDA 12.8 features)"),
        ("535.104.05", "major", "driver 570.26 or newer"),
        ("570.26", None, None),
        ("580.65.06", None, None),
    ],
)
def test_driver_against_minor_version_compat(driver: str, severity: str | None,
                                             fix: str | None) -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version=driver, gpus=(H100,)))
    r = check(BASE, live, host_only=True)
    found = [f for f in r.findings if f.rule == "driver"]
    if severity is None:
        assert found == []
    else:
        assert [(f.severity, f.fix) for f in found] == [(severity, fix)]


def test_no_driver_when_snapshot_needs_cuda() -> None:
    r = check(BASE, replace(BASE, nvidia=None), host_only=True)
    assert rules(r) == [("driver", "driver", "critical"), ("gpu", "GPUs", "critical")]
    assert "no NVIDIA driver was found" in r.findings[0].explanation


def test_driver_user_space_kernel_mismatch() -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04",
                                           kernel_module_version="575.51.03", gpus=(H100,)))
    assert ("driver", "driver", "critical") in rules(check(BASE, live, host_only=True))


def test_gpu_not_covered_names_the_fix() -> None:
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(H100, RTX5090)))
    r = check(BASE, live, host_only=True)
    assert rules(r) == [("gpu", "GPU1 NVIDIA GeForce RTX 5090", "critical")]
    f = r.findings[0]
    assert f.actual == "sm_120" and "no kernel image" in f.explanation
    assert f.fix == "install a torch build for CUDA 12.8 or newer whose arch list includes sm_120"


def test_arch_list_falls_back_to_shipped_table_and_unknown_is_reported() -> None:
    no_list = replace(TORCH, version="2.6.0+cu126", variant="cu126", cuda="12.6", arch_list=())
    exp = replace(BASE, frameworks=(no_list,))
    live = replace(BASE, nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(RTX5090,)))
    assert rules(check(exp, live, host_only=True))[0][2] == "critical"  # table: cu126 ends at sm_90
    custom = replace(no_list, version="2.6.0")  # no table row for an unlabelled build
    exp = replace(BASE, frameworks=(replace(custom, variant=None),))
    # Coverage unknown; the model differs (a newer architecture): both information only.
    assert rules(check(exp, live, host_only=True)) == [
        ("gpu", "torch", "info"), ("gpu", "GPU1 NVIDIA GeForce RTX 5090", "info")]


def gpus(*gpus: GPU, driver: str = "580.159.04") -> Snapshot:
    return replace(BASE, nvidia=NvidiaInfo(driver_version=driver, gpus=gpus))


def gpu(index: int, name: str, cc: str, gib: int) -> GPU:
    return GPU(index=index, name=name, compute_capability=cc, memory_bytes=gib * 2**30)


def test_no_gpu_where_the_snapshot_had_gpus_fails_even_without_cuda_builds() -> None:
    exp = replace(BASE, frameworks=())  # nothing needs CUDA: the GPUs alone must be there
    r = check(exp, replace(exp, nvidia=None), host_only=True)
    assert rules(r) == [("gpu", "GPUs", "critical")]
    f = r.findings[0]
    assert (f.expected, f.actual) == ("1 x NVIDIA H100 80GB HBM3 (sm_90)", "none")
    assert "no NVIDIA GPU (no driver answered either)" in f.explanation
    assert r.failed("critical")


def test_fewer_gpus_fail_more_do_not() -> None:
    eight = gpus(*(gpu(i, "NVIDIA H100 80GB HBM3", "9.0", 80) for i in range(8)))
    four = gpus(*(gpu(i, "NVIDIA H100 80GB HBM3", "9.0", 80) for i in range(4)))
    r = check(eight, four, host_only=True)
    assert rules(r) == [("gpu", "GPUs", "critical")] and r.findings[0].kind == "count"
    assert (r.findings[0].expected, r.findings[0].actual) == ("8", "4")
    assert check(four, eight, host_only=True).findings == ()


def test_an_older_architecture_the_build_covers_warns_one_it_does_not_fails() -> None:
    h100 = gpus(gpu(0, "NVIDIA H100 80GB HBM3", "9.0", 80))
    r = check(h100, gpus(gpu(0, A100_40, "8.0", 40)), host_only=True)
    assert {(f.kind, f.severity) for f in r.findings} == {("older_arch", "major"),
                                                          ("memory", "major")}
    older = next(f for f in r.findings if f.kind == "older_arch")
    assert "FP8" in older.explanation and not r.failed("critical")
    r = check(h100, gpus(gpu(0, "Tesla V100-SXM2-16GB", "7.0", 16)), host_only=True)
    assert next((f.kind, f.severity) for f in r.findings) == ("not_covered", "critical")


def test_another_model_of_the_same_architecture_is_information_only() -> None:
    h100 = gpus(gpu(0, "NVIDIA H100 80GB HBM3", "9.0", 80))
    r = check(h100, gpus(gpu(0, "NVIDIA H200", "9.0", 141)), host_only=True)
    assert [(f.kind, f.severity) for f in r.findings] == [("model", "info")]
    assert "same architecture" in r.findings[0].explanation and not r.failed("minor")


def test_a_failed_nvidia_probe_skips_gpu_rules_and_is_reported() -> None:
    live = replace(BASE, nvidia=None,
                   probes={"nvidia": ProbeStatus(status="error", error="NVML hung")})
    r = check(BASE, live, host_only=True)
    assert "gpu" in r.skipped and "gpu" not in r.checked
    assert ("probe", "nvidia", "major") in rules(r)


# ---------------------------------------------------------------------------------------------
# fleet, --anonymize, show


@pytest.mark.parametrize(("section", "name", "old", "new", "rule"), [
    ("nvidia.gpus", "GPU0", "a", "b", "gpu"),
    ("nvidia", "driver", "550.54.15", "580.159.04", "driver_major"),
    ("nvidia", "driver", "580.65.06", "580.159.04", None),
    ("nvidia", "driver", "580.65.06", None, "driver_major"),
    ("nvidia", "kernel_module", "580.65.06", "575.51.03", None),
])
def test_cluster_rule(section: str, name: str, old: str | None, new: str | None,
                      rule: str | None) -> None:
    assert SECTION.cluster is not None
    change = Change(section=section, name=name, kind="changed", severity="info", old=old,
                    new=new, explanation="")
    assert SECTION.cluster(change) == rule


def test_anonymize_hashes_uuids_and_drops_the_bus_id() -> None:
    assert SECTION.anonymize is not None and BASE.nvidia is not None
    anon = SECTION.anonymize(BASE.nvidia, Relabel([], prefix=False))
    (g,) = anon.gpus
    assert g.uuid == Relabel.hash_id(H100.uuid) and g.uuid != H100.uuid
    assert g.pci_bus_id is None and (g.name, g.memory_bytes) == (H100.name, H100.memory_bytes)
    assert anon.driver_version == BASE.nvidia.driver_version


def test_show_lines_of_the_recorded_h100() -> None:
    s = h100_snapshot()
    assert SECTION.summary is not None and SECTION.summary_data is not None
    data = SECTION.summary_data(s)
    assert data["driver"] == "580.159.04" and data["cuda_driver"] == "13.0"
    assert SECTION.summary(s, data) == [
        "driver    580.159.04, supports CUDA 13.0",
        f"gpu 0     NVIDIA H100 80GB HBM3, sm 9.0, {gib(H100.memory_bytes)}"]
    mismatch = _driver(s, "580.159.04", kernel_module_version="575.51.03")
    assert SECTION.summary(mismatch, SECTION.summary_data(mismatch))[0].endswith(
        "(MISMATCH with kernel module)")
    none = cpu_venv_snapshot(probes={"nvidia": ProbeStatus(status="absent")})
    assert SECTION.summary(none, SECTION.summary_data(none)) == ["gpu       none"]
    assert SECTION.summary(cpu_venv_snapshot(), SECTION.summary_data(cpu_venv_snapshot())) == []
