"""The python rule of `envsnap check`: the snapshot's environment against this machine's."""

from __future__ import annotations

import shlex

from ... import compat
from ...changes import Finding
from ...graph import Graph, requirement, satisfied
from ...remedy import pip_install
from ...rules import classify_version, interpreter_level, major_minor, rate_package
from ...snapshot import Package
from ...wording import LEVEL_WORDS, source_text
from ..base import CheckContext, CheckRule


def _source_kind(pkg: Package) -> str:
    return pkg.source.kind if pkg.source is not None else "index"


class _PythonCheck:
    """The snapshot's Python environment against this machine's, each package difference
    rated as diff rates the same change (rules.rate_package) over this machine's graph."""

    def __init__(self, ctx: CheckContext) -> None:
        assert ctx.expected.python is not None  # the rule's skip
        self.exp, self.live = ctx.expected.python, ctx.live.python
        self.policy, self.pip = ctx.policy, ctx.pip
        self.graph = ctx.live_graph
        self.exp_graph = Graph(self.exp)
        live = self.live
        self.native = frozenset(p.name for p in live.packages if p.native) if live else frozenset()
        # Checking an environment means installing envsnap into it, which is not drift.
        self.own = ctx.own

    def findings(self) -> list[Finding]:
        exp, live = self.exp, self.live
        if live is None:
            return [Finding(
                rule="python", subject="python", severity=compat.severity("python_missing"),
                expected=f"Python {exp.version}", actual=None, kind="missing",
                explanation="No Python environment was captured on this machine, so none of "
                            "the snapshot's packages can be checked.",
                fix="pass --python PATH for the environment to check, or --host-only for a host",
            )]
        out: list[Finding] = []
        ev, lv = major_minor(exp.version), major_minor(live.version)
        if ev != lv or (self.policy == "exact" and exp.version != live.version):
            level = interpreter_level(classify_version(exp.version, live.version))
            out.append(Finding(
                rule="python", subject="python", kind="version" if ev != lv else "patch",
                severity=compat.severity(f"python_{level}"),
                expected=exp.version, actual=live.version,
                explanation=(f"The snapshot ran on Python {exp.version}, this environment has "
                             f"{live.version}"
                             + ("; compiled extensions built for one minor release do not "
                                "load in another." if ev != lv else ".")),
                fix=f"use a Python {exp.version} interpreter",
            ))
        have = {p.name: p for p in live.packages}
        changed = [p.name for p in exp.packages if p.name in have
                   and p.version != have[p.name].version]
        self.reach = self.graph.reach(changed) if changed else {}
        for pkg in exp.packages:
            cur = have.get(pkg.name)
            if cur is None:
                shown = (f"{pkg.version} ({source_text(pkg.source)})" if pkg.source is not None
                         else pkg.version)
                out.append(Finding(
                    rule="package", subject=pkg.name, kind="missing",
                    severity=rate_package(
                        pkg.name, "removed", required=bool(self.exp_graph.dependents(pkg.name))
                    ).severity,
                    expected=shown, actual=None,
                    explanation=f"{pkg.name} {pkg.version} is in the snapshot but not "
                                "installed here.",
                    fix=pip_install(self.pip, pkg),
                ))
                continue
            out += self._package(pkg, cur)
        wanted = {p.name for p in exp.packages}
        extra = sorted(n for n in have if n not in wanted)
        if extra and self.policy == "exact":
            for name in extra:
                mine = name in self.own
                out.append(Finding(
                    rule="package", subject=name, kind="tool" if mine else "extra",
                    severity=compat.severity("package_tool") if mine
                    else rate_package(name, "added").severity,
                    expected=None, actual=have[name].version,
                    explanation=(f"{name} {have[name].version} is installed here but not in the "
                                 "snapshot" + (": envsnap itself, or a package envsnap needs."
                                               if mine else
                                               "; it can shadow or change what gets imported.")),
                    fix=None if mine else f"{self.pip} uninstall -y {shlex.quote(name)}",
                ))
        return out

    def _package(self, exp: Package, cur: Package) -> list[Finding]:
        if exp.version == cur.version:
            if _source_kind(exp) != _source_kind(cur) or (
                    exp.source is not None and cur.source is not None
                    and (exp.source.url, exp.source.commit) != (cur.source.url, cur.source.commit)):
                return [Finding(
                    rule="package", subject=exp.name, kind="source",
                    severity=rate_package(exp.name, "source").severity,
                    expected=f"{exp.version} ({source_text(exp.source)})",
                    actual=f"{cur.version} ({source_text(cur.source)})",
                    explanation=f"{exp.name} has the same version but was installed from "
                                "elsewhere: its code may differ.",
                    fix=pip_install(self.pip, exp, reinstall=True),
                )]
            return []
        vc = classify_version(exp.version, cur.version)
        if vc is None:
            return []  # 1.0 == 1.0.0 under PEP 440
        fix = pip_install(self.pip, exp)
        if vc.kind == "variant":
            return [Finding(
                rule="package", subject=exp.name, kind="variant",
                severity=rate_package(exp.name, vc).severity,
                expected=exp.version, actual=cur.version,
                explanation=f"{exp.name} is the same release but another build variant "
                            f"(+{vc.old_local or 'none'} -> +{vc.new_local or 'none'}): it was "
                            "compiled for a different CUDA or CPU target.",
                fix=fix,
            )]
        # Seen from the snapshot: this machine moved up (an upgrade) or down.
        users = self.graph.dependents(exp.name)
        rating = rate_package(
            exp.name, vc, native_dependents=not users.isdisjoint(self.native),
            reach=self.reach.get(exp.name, 0), required=bool(users),
            requested=exp.requested or cur.requested)
        why = ""
        if vc.level in ("patch", "post") and compat.is_abi_sensitive(exp.name):
            why += (" It is ABI-sensitive: even a patch release can change the binary interface "
                    "compiled packages use.")
        if vc.level in ("epoch", "major"):
            if rating.why:
                why += f" {rating.why}"
            elif vc.kind == "downgraded":
                why += (f" Code and packages made for {exp.version} may use features or a "
                        f"binary interface {cur.version} lacks.")
        if exp.source is not None:
            why += f" The snapshot installed it from {source_text(exp.source)}."
        return [Finding(
            rule="package", subject=exp.name, kind="version", severity=rating.severity,
            expected=exp.version, actual=cur.version,
            explanation=f"{exp.name} is {cur.version} here; the snapshot pins {exp.version}: "
                        f"{LEVEL_WORDS.get(vc.level, 'another version')}.{why}",
            fix=fix,
        )]

    def requirements(self) -> list[Finding]:
        """The live environment's broken requirements (what pip check reports there); those
        the snapshot had too are information, not drift."""
        if self.live is None:
            return []
        before = {b.key for b in self.exp_graph.broken()}
        pinned = {p.name: p for p in self.exp.packages}
        out: list[Finding] = []
        for b in self.graph.broken():
            old = b.key in before
            kind = "preexisting" if old else "broken"
            rule = ("requirement_preexisting" if old else
                    "requirement_missing" if b.installed is None else "requirement_broken")
            snap = pinned.get(b.required)
            req = requirement(b.requirement)
            if snap is not None and req is not None and satisfied(req, snap.version):
                fix = pip_install(self.pip, snap)
            else:
                fix = f"{self.pip} install {shlex.quote(b.requirement)}"
            out.append(Finding(
                rule="requirement", subject=f"{b.dependent} {b.dependent_version}",
                kind=kind, severity=compat.severity(rule), expected=b.requirement,
                actual=f"{b.required} {b.installed}" if b.installed else "not installed",
                explanation=b.sentence() + (" The snapshot's environment had the same problem."
                                            if old else ""),
                fix=None if old else fix,
            ))
        return out


def _run(ctx: CheckContext) -> list[Finding]:
    check = _PythonCheck(ctx)
    return check.findings() + check.requirements()


def _skip(ctx: CheckContext) -> str | None:
    return "the snapshot has no Python environment" if ctx.expected.python is None else None


RULE = CheckRule(name="python", run=_run, skip=_skip, host_only="--host-only")
