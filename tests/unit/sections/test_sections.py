"""The section registry: one entry per section, in the probe registry's order; a new section is
its probe entry, its section entry and its dataclass, and every engine picks it up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from envsnap import compat, probes, sections
from envsnap.changes import Change, Finding
from envsnap.drift import diff
from envsnap.fleet import fleet_report
from envsnap.gate import check, host_probes
from envsnap.privacy import anonymize
from envsnap.probes import Probed, ProbeSpec
from envsnap.rules import version_kind
from envsnap.sections.base import CheckContext, CheckRule, DiffContext, Relabel, Section
from envsnap.snapshot import GPU, NvidiaInfo, OSInfo, ProbeStatus, Snapshot
from envsnap.summary import summarize, summary_data


def test_the_shipped_sections_follow_the_probe_registry() -> None:
    assert [s.name for s in sections.REGISTRY] == list(probes.fields())
    assert sections.registry() == sections.REGISTRY
    assert sections.of("python.requirements") is sections.REGISTRY[0]
    assert sections.of("probes") is None
    assert host_probes() == ("os", "cpu", "nvidia")


# ---------------------------------------------------------------------------------------------
# A toy section, as a plugin (or a new sections/infiniband.py) writes it: the dataclass, the
# probe entry, the section entry. Its rules reuse rule names of the one severity table; a real
# section adds its own to severity.toml [rules].


@dataclass(frozen=True, slots=True, kw_only=True)
class InfiniBand:
    firmware: str
    rate_gbps: int = 0
    sysfs: str | None = None  # where the probe read it: a path (relabelled by --anonymize)


@dataclass(frozen=True, slots=True, kw_only=True)
class IBSnapshot(Snapshot):
    infiniband: InfiniBand | None = None


def _ib_diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    ia, ib = getattr(a, "infiniband", None), getattr(b, "infiniband", None)
    if ia is not None and ib is not None and ia.firmware != ib.firmware:
        out.append(Change(section="infiniband", name="firmware",
                          kind=version_kind(ia.firmware, ib.firmware),
                          severity=compat.severity("driver_changed"), old=ia.firmware,
                          new=ib.firmware, explanation="Another HCA firmware."))


def _ib_check(ctx: CheckContext) -> list[Finding]:
    want, have = getattr(ctx.expected, "infiniband", None), getattr(ctx.live, "infiniband", None)
    if want is None or (have is not None and have.rate_gbps >= want.rate_gbps):
        return []
    return [Finding(rule="infiniband", subject="infiniband", kind="rate",
                    severity=compat.severity("gpu_memory"), expected=f"{want.rate_gbps} Gb/s",
                    actual=f"{have.rate_gbps} Gb/s" if have else None,
                    explanation="A slower fabric: collectives run slower.")]


def _ib_cluster(c: Change) -> str | None:
    return "nccl" if c.name == "firmware" else None  # NCCL's IB transport, rank by rank


def _ib_anonymize(ib: InfiniBand, rel: Relabel) -> InfiniBand:
    return replace(ib, sysfs=rel.path(ib.sysfs))


def _ib_summary_data(s: Snapshot) -> Mapping[str, Any]:
    ib = getattr(s, "infiniband", None)
    return {"infiniband": None if ib is None else {"firmware": ib.firmware,
                                                  "rate_gbps": ib.rate_gbps}}


def _ib_summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    ib = d["infiniband"]
    return [f"ib        firmware {ib['firmware']}, {ib['rate_gbps']} Gb/s"] if ib else []


IB_PROBE = ProbeSpec(name="infiniband", field="infiniband", host=True,
                     probe=lambda host, ctx: Probed(value=None, found_via="/sys/class/infiniband"))
IB_SECTION = Section(name="infiniband", diff=_ib_diff,
                     checks=(CheckRule(name="infiniband", run=_ib_check),),
                     cluster=_ib_cluster, anonymize=_ib_anonymize,
                     summary=_ib_summary, summary_data=_ib_summary_data)

NODE = IBSnapshot(os=OSInfo(system="Linux", arch="x86_64"),
                  nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(
                      GPU(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0"),)),
                  infiniband=InfiniBand(firmware="28.39.1002", rate_gbps=400,
                                        sysfs="/home/me/ib/mlx5_0"))


@pytest.fixture
def infiniband(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "REGISTRY", (*probes.REGISTRY, IB_PROBE))
    monkeypatch.setattr(sections, "REGISTRY", (*sections.REGISTRY, IB_SECTION))


def _ib(**changes: Any) -> IBSnapshot:
    assert NODE.infiniband is not None
    return replace(NODE, infiniband=replace(NODE.infiniband, **changes))


@pytest.mark.usefixtures("infiniband")
def test_diff_runs_a_new_sections_rule_with_the_probe_entrys_scope() -> None:
    (c,) = diff(NODE, _ib(firmware="28.40.1000")).changes
    assert (c.section, c.name, c.kind, c.severity, c.scope) == (
        "infiniband", "firmware", "upgraded", "minor", "host")


def test_without_its_entries_the_field_is_not_compared() -> None:
    assert diff(NODE, _ib(firmware="28.40.1000")).changes == ()


@pytest.mark.usefixtures("infiniband")
def test_check_runs_a_new_sections_rule_and_the_host_gate_reads_its_probe() -> None:
    r = check(NODE, _ib(rate_gbps=200), host_only=True)
    assert "infiniband" in r.checked and "infiniband" in host_probes()
    (f,) = r.findings
    assert (f.rule, f.severity, f.scope, f.actual) == ("infiniband", "major", "host", "200 Gb/s")
    assert r.failed("major") and not r.failed("critical")
    failed = replace(NODE, probes={
        "infiniband": ProbeStatus(status="error", error="no /sys/class/infiniband")})
    (f,) = check(NODE, failed, host_only=True).findings
    assert (f.rule, f.subject, f.severity) == ("probe", "infiniband", "major")


@pytest.mark.usefixtures("infiniband")
def test_show_prints_a_new_sections_line_and_data_in_reading_order() -> None:
    lines = summarize(NODE).splitlines()
    assert lines[-1] == "ib        firmware 28.39.1002, 400 Gb/s"
    data = summary_data(NODE)
    assert data["infiniband"] == {"firmware": "28.39.1002", "rate_gbps": 400}
    assert list(data)[-2:] == ["infiniband", "probe_errors"]


@pytest.mark.usefixtures("infiniband")
def test_anonymize_runs_a_new_sections_hook() -> None:
    anon = anonymize(NODE, home="/home/me")
    assert isinstance(anon, IBSnapshot) and anon.infiniband is not None
    assert anon.infiniband.sysfs == "~/ib/mlx5_0"


@pytest.mark.usefixtures("infiniband")
def test_fleet_applies_a_new_sections_cluster_rule() -> None:
    report = fleet_report("golden", NODE, [("a", NODE), ("b", _ib(firmware="28.40.1000"))])
    assert report.agree == ("a",)
    (group,) = report.groups
    (c,) = group.changes
    rule = compat.cluster_rule("nccl")
    assert c.severity == rule.severity == "critical"
    assert c.explanation.endswith(rule.why)
