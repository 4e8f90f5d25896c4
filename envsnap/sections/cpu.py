"""The cpu section: the CPU model and the ISA features wheels can need (diff, check, show)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import compat
from ..changes import Change, Finding
from ..rules import missing_isa
from ..snapshot import Snapshot
from ..wording import gib
from .base import CheckContext, CheckRule, DiffContext, Section, field_changed


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    ca, cb = a.cpu, b.cpu
    if ca is None or cb is None:
        return
    field_changed(out, section="cpu", name="model", rule="cpu_changed", old=ca.model,
                  new=cb.model, explanation="Another CPU model; ISA features are compared "
                                            "separately.")
    lost = missing_isa(ca.flags, cb.flags)
    gained = missing_isa(cb.flags, ca.flags)
    for flag in lost:
        out.append(Change(section="cpu", name=flag, kind="removed",
                          severity=compat.severity("cpu_isa_lost"), old=flag, new=None,
                          explanation=f"B's CPU lacks {flag}: code compiled for it (-march=native"
                                      " builds, some wheels) dies with 'Illegal instruction'."))
    for flag in gained:
        out.append(Change(section="cpu", name=flag, kind="added",
                          severity=compat.severity("cpu_isa_gained"), old=None, new=flag,
                          explanation=f"B's CPU adds {flag}; nothing breaks."))


def _check(ctx: CheckContext) -> list[Finding]:
    expected, live = ctx.expected, ctx.live
    out: list[Finding] = []
    if expected.os and live.os and expected.os.arch != live.os.arch:
        out.append(Finding(
            rule="os", subject="architecture", severity=compat.severity("arch_changed"),
            expected=expected.os.arch, actual=live.os.arch, kind="arch",
            explanation=f"The snapshot was captured on {expected.os.arch}; binary wheels for it "
                        f"do not run on {live.os.arch}.",
            fix=f"run on an {expected.os.arch} machine",
        ))
        return out
    if expected.cpu and live.cpu and live.cpu.flags:
        lost = missing_isa(expected.cpu.flags, live.cpu.flags)
        if lost:
            out.append(Finding(
                rule="cpu", subject="cpu", severity=compat.severity("cpu_isa_lost"),
                expected=" ".join(lost), actual="missing", kind="isa",
                explanation=f"This CPU lacks {', '.join(lost)}, which the snapshot's CPU had: "
                            "code compiled for them (-march=native builds, some wheels) dies "
                            "with 'Illegal instruction'.",
                fix="run on a CPU with these features, or rebuild native packages for a "
                    "baseline x86-64 level",
            ))
    return out


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not s.cpu:
        return []
    return [f"cpu       {s.cpu.model or '?'}, {s.cpu.usable_cores or '?'} usable cores, "
            f"{gib(s.cpu.memory_bytes)}"]


# Another architecture is the os section's fact, but this rule reads it first: on another
# architecture the ISA flags are not comparable. --host-only leaves the rule out.
SECTION = Section(name="cpu", diff=_diff,
                  checks=(CheckRule(name="cpu", run=_check, host_only=False),),
                  summary=_summary)
