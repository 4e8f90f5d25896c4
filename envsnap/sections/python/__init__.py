"""The python section: the interpreter and its packages (diff, check, fleet, anonymize, capture, show)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ... import compat
from ...changes import Change
from ...rules import classify_version, interpreter_level, is_nccl_package, major_minor
from ...snapshot import PythonEnv, Snapshot
from ..base import DiffContext, Relabel, Section
from . import check
from .packages import PackageDiff


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    pa, pb = a.python, b.python
    if pa is None and pb is None:
        return
    if pa is None or pb is None:
        out.append(Change(
            section="python", name="python", kind="added" if pa is None else "removed",
            severity=compat.severity("other" if pa is None else "python_missing"),
            old=pa.version if pa else None, new=pb.version if pb else None,
            explanation=("B has a Python environment and A does not."
                         if pa is None else
                         "B has no Python environment (not captured, or the python probe "
                         "failed): packages cannot be compared."),
        ))
        return
    if pa == pb:  # the common case in a fleet: nothing below can differ
        return
    _diff_interpreter(pa, pb, out)
    PackageDiff(pa, pb, b.os.glibc if b.os else None, ctx.graph_a).run(out)


def _diff_interpreter(pa: PythonEnv, pb: PythonEnv, out: list[Change]) -> None:
    if pa.implementation != pb.implementation:
        out.append(Change(
            section="python", name="implementation", kind="changed",
            severity=compat.severity("python_implementation"),
            old=pa.implementation, new=pb.implementation,
            explanation="A different Python implementation: compiled extensions and many pure "
                        "packages behave differently or do not load; recreate the environment.",
        ))
    vc = classify_version(pa.version, pb.version)
    if vc is not None:
        native = sum(1 for p in pb.packages if p.native)
        level = interpreter_level(vc)
        if level == "patch":
            expl = "A patch release of the interpreter: same ABI, compiled extensions still load."
        else:
            expl = (f"Python {major_minor(pa.version)} -> "
                    f"{major_minor(pb.version)} changes the extension ABI (cpXY wheel tag):"
                    f" the {native} installed package(s) with compiled extensions need builds "
                    "for the new interpreter. Recreate the environment instead of copying it.")
        out.append(Change(
            section="python", name="python", kind=vc.kind if vc.kind != "variant" else "changed",
            severity=compat.severity(f"python_{level}"), old=pa.version, new=pb.version,
            explanation=expl,
            fix=None if level == "patch" else f"use a Python {pa.version} interpreter",
        ))
    elif pa.abi_tag and pb.abi_tag and pa.abi_tag != pb.abi_tag:
        out.append(Change(
            section="python", name="abi_tag", kind="changed",
            severity=compat.severity("python_abi_tag"), old=pa.abi_tag, new=pb.abi_tag,
            explanation="The interpreter's ABI tag differs (for example a free-threaded build): "
                        "compiled extensions for one do not load in the other.",
        ))


def _cluster(c: Change) -> str | None:
    if c.section == "python.packages":
        return "nccl" if is_nccl_package(c.name) else None
    if c.section == "python" and c.name == "python":
        return "python_minor" if major_minor(c.old) != major_minor(c.new) else None
    return None


def _anonymize(py: PythonEnv, rel: Relabel) -> PythonEnv:
    return replace(
        py,
        executable=rel.path(py.executable),
        prefix="$PREFIX" if rel.prefix else py.prefix,
        base_prefix=rel.path(py.base_prefix),
        site_packages=tuple(rel.path(p) or p for p in py.site_packages),
        packages=tuple(
            replace(p, location=rel.path(p.location),
                    source=replace(p.source, url=rel.url(p.source.url)) if p.source else None)
            for p in py.packages
        ),
        problems=tuple(replace(pr, path=rel.path(pr.path) or pr.path) for pr in py.problems),
        indexes=tuple(rel.url(u) or u for u in py.indexes),
    )


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    py = s.python
    return {"python": None if py is None else {
        "version": py.version,
        "implementation": py.implementation,
        "env_kind": py.env_kind,
        "packages": len(py.packages),
        "editable": sorted(p.name for p in py.packages
                           if p.source and p.source.kind == "editable"),
        "problems": len(py.problems),
    }}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    py = d["python"]
    if not py:
        return []
    extra = f", {len(py['editable'])} editable" if py["editable"] else ""
    extra += f", {py['problems']} unreadable/duplicate dist(s)" if py["problems"] else ""
    return [f"python    {py['implementation']} {py['version']} ({py['env_kind']}), "
            f"{py['packages']} packages{extra}"]


SECTION = Section(name="python", diff=_diff, checks=(check.RULE,), cluster=_cluster,
                  anonymize=_anonymize, summary=_summary,
                  summary_data=_summary_data)
