"""The os section: the operating system, its C library and libstdc++ (diff, check, show)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import compat
from ..changes import Change, Finding
from ..rules import glibc_at_least, glibc_needs, glibc_version, numeric
from ..snapshot import PythonEnv, Snapshot
from ..wording import names_text
from .base import CheckContext, CheckRule, DiffContext, Section, field_changed


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    oa, ob = a.os, b.os
    if oa is None or ob is None:
        return
    field_changed(out, section="os", name="system", rule="system_changed", old=oa.system,
                  new=ob.system, explanation="Another operating system: binary wheels and "
                                             "drivers are per OS; rebuild the environment for it.")
    field_changed(out, section="os", name="arch", rule="arch_changed", old=oa.arch, new=ob.arch,
                  explanation=f"Another CPU architecture ({oa.arch} -> {ob.arch}): compiled "
                              "packages from A do not run on B.")
    if oa.glibc != ob.glibc and oa.glibc and ob.glibc:
        _diff_glibc(oa.glibc, ob.glibc, b.python or a.python, out)
    if oa.libstdcxx != ob.libstdcxx and oa.libstdcxx and ob.libstdcxx:
        lower = numeric(ob.libstdcxx) < numeric(oa.libstdcxx)
        out.append(Change(
            section="os", name="libstdcxx", kind="downgraded" if lower else "upgraded",
            severity=compat.severity("libstdcxx_lower" if lower else "libstdcxx_higher"),
            old=oa.libstdcxx, new=ob.libstdcxx,
            explanation=("An older libstdc++: extensions built with a newer GCC fail with "
                         f"'version `GLIBCXX_{oa.libstdcxx}' not found'."
                         if lower else "A newer libstdc++: backward compatible.")))
    for attr in ("distro_id", "distro_version", "kernel", "container"):
        field_changed(out, section="os", name=attr, rule="os_changed", old=getattr(oa, attr),
                      new=getattr(ob, attr),
                      explanation="Informational: matters only through glibc, libstdc++ or "
                                  "the driver, which are compared separately.")


def _diff_glibc(old: str, new: str, py: PythonEnv | None, out: list[Change]) -> None:
    at_least = glibc_at_least(new, old)
    if at_least is None:
        out.append(Change(section="os", name="glibc", kind="changed",
                          severity=compat.severity("glibc_lower"), old=old, new=new,
                          explanation="The glibc changed, and one of the two is not a glibc "
                                      "version this can compare: treat it as possibly older."))
        return
    if at_least:
        out.append(Change(section="os", name="glibc", kind="upgraded",
                          severity=compat.severity("glibc_higher"), old=old, new=new,
                          explanation="A newer glibc: wheels built for older ones keep working."))
        return
    need, names = glibc_needs(py)
    if need is not None and glibc_at_least(new, need) is False:
        shown = names_text(names, 5)
        out.append(Change(
            section="os", name="glibc", kind="downgraded",
            severity=compat.severity("glibc_below_wheels"), old=old, new=new,
            explanation=f"glibc {new} is older than the manylinux_{need.replace('.', '_')} tag "
                        f"of installed wheels ({shown}): they fail to import with "
                        f"'GLIBC_{need}' not found. Run on glibc {need} or newer, or in a "
                        "container built from the snapshot."))
        return
    out.append(Change(section="os", name="glibc", kind="downgraded",
                      severity=compat.severity("glibc_lower"), old=old, new=new,
                      explanation=f"An older glibc. The installed wheels' tags need "
                                  f"{need or 'no particular glibc'}, which it meets, but "
                                  "packages installed later may not."))


def _check_glibc(ctx: CheckContext) -> list[Finding]:
    expected, live = ctx.expected, ctx.live
    need, names = glibc_needs(live.python or expected.python)
    have = live.os.glibc if live.os else None
    if need is None or have is None or glibc_at_least(have, need) is not False:
        return []  # met, or unknown (no wheel tags, no glibc, or a glibc that is no version)
    return [Finding(
        rule="glibc", subject="glibc", severity=compat.severity("glibc_below_wheels"),
        expected=f">= {need}", actual=have, kind="below_wheels",
        explanation=f"Installed wheels are tagged manylinux_{need.replace('.', '_')} "
                    f"({names_text(names, 5)}): they need glibc {need} or newer and fail to import "
                    f"on glibc {have} ('GLIBC_{need}' not found).",
        fix=f"run on a distribution with glibc {need} or newer (or in a container built from "
            "the snapshot), or install builds of those packages for an older manylinux tag",
    )]


def _glibc_skip(ctx: CheckContext) -> str | None:
    glibc = ctx.live.os.glibc if ctx.live.os else None
    if glibc is not None and glibc_version(glibc) is None:
        return f"this machine's glibc {glibc[:40]!r} is not a version to compare"
    return None


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    return {"os": None if s.os is None else (s.os.pretty_name or s.os.system),
            "glibc": s.os.glibc if s.os else None}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not d["os"]:
        return []
    return [f"os        {d['os']}" + (f", glibc {d['glibc']}" if d["glibc"] else "")]


SECTION = Section(
    name="os", diff=_diff,
    checks=(CheckRule(name="glibc", run=_check_glibc, skip=_glibc_skip,
                      host_only="--host-only: the container brings its own C library"),),
    summary=_summary, summary_data=_summary_data)
