"""The cpu section: model and ISA diff, the cpu check rule (architecture first), show."""

from __future__ import annotations

from dataclasses import replace

from envsnap import compat
from envsnap.gate import CheckResult, check
from envsnap.rules import missing_isa
from envsnap.sections.base import CheckContext
from envsnap.sections.cpu import SECTION
from envsnap.snapshot import CPUInfo, OSInfo, Package, Snapshot
from envsnap.testing import cpu_venv_snapshot, h100_snapshot, section_diff, torch_framework
from envsnap.wording import gib

BASE = cpu_venv_snapshot(Package(name="numpy", version="1.26.4"),
                         Package(name="six", version="1.16.0"),
                         Package(name="attrs", version="23.2.0"),
                         nvidia=h100_snapshot().nvidia,
                         frameworks=(torch_framework(arch_list=("sm_80", "sm_86", "sm_90")),))


def rules(r: CheckResult) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in r.findings]


def _cpu(**kw: object) -> Snapshot:
    assert BASE.cpu is not None
    return replace(BASE, cpu=replace(BASE.cpu, **kw))  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[tuple[str, str, str]]:
    out = section_diff(SECTION, a, b)
    return [(c.name, c.kind, c.severity) for c in out]


def test_diff_lost_and_gained_flags_and_another_model() -> None:
    assert BASE.cpu is not None
    a = _cpu(model="AMD EPYC 9654", flags=(*BASE.cpu.flags, "avx512f"))
    b = _cpu(model="Intel Xeon Platinum 8480+")
    lost = missing_isa(a.cpu.flags if a.cpu else (), b.cpu.flags if b.cpu else ())
    assert lost == ["avx512f"]
    assert _diff(a, b) == [("model", "changed", compat.severity("cpu_changed")),
                           ("avx512f", "removed", compat.severity("cpu_isa_lost"))]
    assert _diff(b, a)[1:] == [("avx512f", "added", compat.severity("cpu_isa_gained"))]


def test_diff_without_a_cpu_on_either_side_is_silent() -> None:
    assert _diff(BASE, replace(BASE, cpu=None)) == []
    assert _diff(BASE, BASE) == []


def test_check_rule_reports_missing_features_and_another_arch_first() -> None:
    (rule,) = SECTION.checks
    ctx = CheckContext(BASE, _cpu(flags=("avx",)), policy="exact", host_only=False,
                       python="python", tool=())
    (f,) = rule.run(ctx)
    assert (f.rule, f.kind, f.expected) == ("cpu", "isa", "avx2 fma")
    arm = replace(_cpu(flags=("avx",)), os=OSInfo(system="Linux", arch="aarch64"))
    (f,) = rule.run(CheckContext(BASE, arm, policy="exact", host_only=False, python="python",
                                 tool=()))
    assert (f.rule, f.subject, f.actual) == ("os", "architecture", "aarch64")
    # A live CPU that recorded no flags is not a CPU without features.
    assert rule.run(CheckContext(BASE, _cpu(flags=()), policy="exact", host_only=False,
                                 python="python", tool=())) == []
    assert rule.host_only is False


def test_show_line() -> None:
    assert SECTION.summary is not None
    assert BASE.cpu is not None
    assert SECTION.summary(BASE, {}) == [
        f"cpu       ?, 8 usable cores, {gib(BASE.cpu.memory_bytes)}"]
    assert SECTION.summary(_cpu(model="AMD EPYC 9654", usable_cores=None, memory_bytes=None),
                           {}) == ["cpu       AMD EPYC 9654, ? usable cores, ?"]
    assert SECTION.summary(replace(BASE, cpu=None), {}) == []


# Moved from tests/unit/test_gate.py (through the check engine).


def test_cpu_isa_and_architecture() -> None:
    live = replace(BASE, cpu=CPUInfo(flags=("avx",)))
    r = check(BASE, live)
    assert rules(r) == [("cpu", "cpu", "major")]
    assert r.findings[0].expected == "avx2 fma"
    live = replace(BASE, os=OSInfo(system="Linux", arch="aarch64", glibc="2.39"))
    assert rules(check(BASE, live)) == [("os", "architecture", "critical")]
