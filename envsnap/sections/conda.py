"""The conda section: the environment's conda records (diff, fleet, anonymize, capture, show)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .. import compat
from ..changes import Change
from ..rules import VersionChange, classify_version, is_nccl_package, rate_package
from ..snapshot import CondaEnv, CondaPackage, Snapshot
from ..wording import LEVEL_WORDS
from .base import DiffContext, Relabel, Section


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    old = {p.name: p for p in (a.conda.packages if a.conda else ())}
    new = {p.name: p for p in (b.conda.packages if b.conda else ())}
    for name in sorted(old.keys() | new.keys()):
        po, pn = old.get(name), new.get(name)
        if po is None and pn is not None:
            out.append(Change(section="conda.packages", name=name, kind="added",
                              severity=rate_package(name, "added").severity,
                              old=None, new=_conda_text(pn),
                              explanation=f"conda package {name} is newly installed."))
        elif pn is None and po is not None:
            out.append(Change(section="conda.packages", name=name, kind="removed",
                              severity=rate_package(name, "removed").severity,
                              old=_conda_text(po), new=None,
                              explanation=f"conda package {name} is no longer installed."))
        elif po is not None and pn is not None:
            _conda_change(po, pn, out)


def _conda_text(p: CondaPackage) -> str:
    return f"{p.version}={p.build}"


def _conda_change(po: CondaPackage, pn: CondaPackage, out: list[Change]) -> None:
    name = po.name
    vc = classify_version(po.version, pn.version)
    if vc is not None:
        level = vc.level if vc.level != "variant" else "patch"
        kind = vc.kind if vc.kind != "variant" else "changed"
        # A conda build string, not a local label, says what a conda package was built for.
        severity = rate_package(name, VersionChange(kind=kind, level=level)).severity
        out.append(Change(section="conda.packages", name=name, kind=kind, severity=severity,
                          old=_conda_text(po), new=_conda_text(pn),
                          explanation=f"conda {name} {kind} {po.version} -> {pn.version}: "
                                      f"{LEVEL_WORDS.get(level, 'a version change')}."))
    elif po.build != pn.build:
        out.append(Change(section="conda.packages", name=name, kind="variant",
                          severity=compat.severity("conda_build"),
                          old=_conda_text(po), new=_conda_text(pn),
                          explanation=f"Same {name} version, another build ({po.build} -> "
                                      f"{pn.build}): it may link other libraries (CUDA, BLAS)."))
    elif po.channel != pn.channel:
        out.append(Change(section="conda.packages", name=name, kind="source",
                          severity=rate_package(name, "source").severity,
                          old=po.channel, new=pn.channel,
                          explanation=f"Same {name} build from another channel."))


def _cluster(c: Change) -> str | None:
    return "nccl" if c.section == "conda.packages" and is_nccl_package(c.name) else None


def _anonymize(conda: CondaEnv, rel: Relabel) -> CondaEnv:
    return replace(conda, prefix=rel.path(conda.prefix) or conda.prefix)


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    return {"conda_packages": len(s.conda.packages) if s.conda else None}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    return [] if d["conda_packages"] is None else [f"conda     {d['conda_packages']} packages"]


SECTION = Section(name="conda", diff=_diff, cluster=_cluster, anonymize=_anonymize,
                  summary=_summary, summary_data=_summary_data)
