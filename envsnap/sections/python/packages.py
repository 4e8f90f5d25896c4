"""python.packages and python.requirements in diff: every package change over both dependency graphs."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace

from ... import compat, rules
from ...changes import Change
from ...graph import BrokenRequirement, Graph, requirement, satisfied
from ...remedy import envsnap_footprint, pip_install
from ...rules import VersionChange, classify_version, package_glibc, rate_package
from ...snapshot import Package, PythonEnv
from ...wording import LEVEL_WORDS, PIP, generic_fix, names_text, source_text


class PackageDiff:
    """The python.packages and python.requirements changes of one diff, over the two
    environments' dependency graphs (each built once, only when a package changed)."""

    def __init__(self, pa: PythonEnv, pb: PythonEnv, glibc: str | None,
                 graph_a: Graph | None) -> None:
        self.pa, self.pb, self.glibc = pa, pb, glibc
        self.old = {p.name: p for p in pa.packages}
        self.new = {p.name: p for p in pb.packages}
        self.removed = [n for n in self.old if n not in self.new]
        self.added = [n for n in self.new if n not in self.old]
        self.changed = [n for n, p in self.old.items() if n in self.new
                        and (p.version != self.new[n].version or p.source != self.new[n].source)]
        self.requires_changed = [n for n, p in self.old.items()
                                 if n in self.new and p.requires != self.new[n].requires]
        self._graph_a = graph_a

    def run(self, out: list[Change]) -> None:
        if not (self.removed or self.added or self.changed or self.requires_changed):
            return
        ga = self._graph_a if self._graph_a is not None else Graph(self.pa)
        gb = Graph(self.pb, like=ga)
        self.ga, self.gb = ga, gb
        self.reach_a = ga.reach(self.removed)
        self.reach_b = gb.reach([*self.changed, *self.added])
        # envsnap and what it needs in B: no fix removes them (remedy.envsnap_footprint).
        self.own_b = (envsnap_footprint(self.new, gb.dependencies) if self.added
                      else frozenset())
        changes: dict[str, Change] = {}
        for name in self.removed:
            changes[name] = self._removed(name)
        for name in self.changed:
            change = self._changed(self.old[name], self.new[name])
            if change is not None:
                changes[name] = _glibc_escalate(change, self.new[name], self.glibc)
        for name in self.added:
            changes[name] = _glibc_escalate(self._added(name), self.new[name], self.glibc)
        self._group(changes)
        out.extend(changes.values())
        self._requirements(out)

    # -- one package -------------------------------------------------------------------------

    def _dependents_note(self, name: str, direct: frozenset[str], total: int) -> str:
        if not direct:
            return " Nothing installed requires it."
        return (f" Required by {names_text(direct)} ({len(direct)} direct; {total} installed "
                f"package{'s depend' if total != 1 else ' depends'} on it in all).")

    def _removed(self, name: str) -> Change:
        po = self.old[name]
        users = self.ga.dependents(name)
        remaining = sorted(u for u in users if u in self.new)
        expl = (f"{name} {po.version} is no longer installed; code importing it fails with "
                "ModuleNotFoundError.")
        if remaining:
            expl += (f" Still required by {names_text(remaining)}: see the broken requirements"
                     f" above. Fix: pip install {name}=={po.version}.")
        elif users:
            expl += f" In A it was required by {names_text(users)}, which are gone too."
        else:
            expl += (" Nothing installed required it (a top-level package: a tool, or a library"
                     " your own code imports), so no other package breaks.")
        return Change(section="python.packages", name=name, kind="removed",
                      severity=rate_package(name, "removed", required=bool(users)).severity,
                      old=po.version, new=None,
                      explanation=expl, dependents=tuple(sorted(users)),
                      dependents_total=self.reach_a.get(name, 0),
                      fix=pip_install(PIP, po))

    def _added(self, name: str) -> Change:
        pn = self.new[name]
        users = self.gb.dependents(name)
        expl = f"{name} {pn.version} is newly installed."
        if users:
            expl += f" Required by {names_text(users)}."
        own = name in self.own_b
        if own:
            expl += " It is envsnap or a package envsnap needs: left alone."
        return Change(section="python.packages", name=name, kind="added",
                      severity=rate_package(name, "added").severity, old=None, new=pn.version,
                      explanation=expl, dependents=tuple(sorted(users)),
                      dependents_total=self.reach_b.get(name, 0),
                      fix=None if own else f"{PIP} uninstall -y {shlex.quote(name)}")

    def _changed(self, po: Package, pn: Package) -> Change | None:
        name = po.name
        users = self.gb.dependents(name)
        total = self.reach_b.get(name, 0)
        vc = classify_version(po.version, pn.version)
        if vc is None:
            if po.source == pn.source:
                return None
            so, sn = source_text(po.source), source_text(pn.source)
            return Change(
                section="python.packages", name=name, kind="source",
                severity=rate_package(name, "source").severity,
                old=f"{po.version} ({so})", new=f"{pn.version} ({sn})",
                explanation=f"Same version of {name}, installed from elsewhere ({so} -> {sn}): "
                            "the code may differ even though the version does not. Pin the "
                            f"source, not just the version.{self._dependents_note(name, users, total)}",
                dependents=tuple(sorted(users)), dependents_total=total,
                fix=pip_install(PIP, po, reinstall=True))
        if vc.kind == "variant":
            change = _variant_change(po, pn, vc)
            return replace(change, explanation=change.explanation
                           + self._dependents_note(name, users, total),
                           dependents=tuple(sorted(users)), dependents_total=total,
                           fix=pip_install(PIP, po))
        downgrade = vc.kind == "downgraded"
        native_users = sorted(u for u in users if self.new[u].native)
        rating = rate_package(name, vc, native_dependents=bool(native_users), reach=total,
                              required=bool(users), requested=po.requested or pn.requested)
        severity = rating.severity
        verb = "upgraded" if vc.kind == "upgraded" else "downgraded"
        expl = f"{name} {verb} {po.version} -> {pn.version}: {LEVEL_WORDS[vc.level]}."
        if vc.kind == "changed":
            expl = f"{name} changed {po.version} -> {pn.version} (not PEP 440, compared as text)."
        expl += self._dependents_note(name, users, total)
        if rating.adjusted == "wide":
            expl += (f" {total} installed packages depend on it: a {vc.level} change this wide "
                     "is rated one level higher.")
        elif rating.adjusted == "leftover":
            expl += (" It was not installed on request either (a leftover or an unused "
                     "dependency): rated one level lower.")
        elif rating.adjusted == "lost_cuda":
            expl += (f" The new build is not a CUDA build (+{vc.old_local} -> "
                     f"+{vc.new_local or 'none'}): GPU code will fail or run on the CPU.")
        if compat.at_least(severity, "major"):
            if rating.why:
                expl += f" {rating.why}"
            if native_users:
                expl += (" Installed packages with compiled extensions that require it: "
                         f"{names_text(native_users)}.")
            if rating.fix:
                expl += f" Fix: {rating.fix}."
            elif rating.adjusted != "lost_cuda":
                expl += " " + generic_fix(name, po.version, pn.version, downgrade=downgrade,
                                          dependents=users)
        if po.source != pn.source:
            expl += f" Source also changed: {source_text(po.source)} -> {source_text(pn.source)}."
        return Change(section="python.packages", name=name, kind=vc.kind, severity=severity,
                      old=po.version, new=pn.version, explanation=expl,
                      dependents=tuple(sorted(users)), dependents_total=total,
                      fix=pip_install(PIP, po))

    # -- grouping ------------------------------------------------------------------------------

    def _group(self, changes: dict[str, Change]) -> None:
        """Tie each removal nothing else needed to the change that made it unneeded, and each
        addition to the change that pulled it in (docs/diff-and-check.md#grouping)."""
        tails = self._causes(self.removed, self.ga, lambda n, user: (
            user not in self.new or n not in self.gb.dependencies(user)), self.old)
        pulled = self._causes(self.added, self.gb, lambda n, user: (
            user not in self.old or n not in self.ga.dependencies(user)), self.new)
        children: dict[str, list[str]] = {}
        for name, cause in (*tails.items(), *pulled.items()):
            parent = changes.get(cause)
            child = changes.get(name)
            if parent is None or child is None:
                continue
            if name in tails:
                child = replace(child, severity=compat.severity("removed_with_dependent"),
                                explanation=f"{name} {child.old} was removed along with {cause}: "
                                            "nothing still installed requires it.")
            else:
                via = sorted(self.gb.dependents(name) - {cause})
                how = (", which requires it" if cause in self.gb.dependents(name)
                       else f" (through {names_text(via)})")
                child = replace(child, explanation=f"{name} {child.new} was pulled in by "
                                f"{cause} {parent.new or ''}".rstrip() + f"{how}.")
                if compat.rank(child.severity) < compat.rank(parent.severity):
                    continue  # worse than its cause: it stays a headline of its own
            changes[name] = replace(child, caused_by=cause)
            children.setdefault(cause, []).append(name)
        for cause, names in children.items():
            parent = changes[cause]
            gone = [n for n in names if n in tails]
            new = [n for n in names if n in pulled]
            extra = ""
            if gone:
                extra += (f" {len(gone)} dependenc{'ies' if len(gone) > 1 else 'y'} nothing else "
                          f"needs went with it: {names_text(gone)}.")
            if new:
                extra += (f" It pulled in {len(new)} new dependenc"
                          f"{'ies' if len(new) > 1 else 'y'}: {names_text(new)}.")
            changes[cause] = replace(parent, explanation=parent.explanation + extra)

    @staticmethod
    def _causes(names: list[str], graph: Graph, let_go: Callable[[str, str], bool],
                side: Mapping[str, Package]) -> dict[str, str]:
        """name -> the change that explains it, for each of ``names`` (removed or added
        packages) that was not installed on request and of which every dependent on this side
        ``let_go`` (it was removed too or no longer requires it; it is new too or newly requires
        it). Followed up through such packages to the first that is not one: the smallest name
        when several are. A cycle of them with nothing above explains nothing."""
        parents: dict[str, frozenset[str]] = {}
        for name in names:
            users = graph.dependents(name)
            if users and not side[name].requested and all(let_go(name, u) for u in users):
                parents[name] = users
        below: dict[str, list[str]] = {}  # a package -> the tail members it explains directly
        for name, users in parents.items():
            for user in users:
                below.setdefault(user, []).append(name)
        # Each cause in name order hands itself down to everything below it that no smaller
        # cause reached first: every package is expanded once.
        out: dict[str, str] = {}
        for cause in sorted(set(below) - set(parents)):
            queue = [cause]
            while queue:
                for name in below.get(queue.pop(), ()):
                    if name not in out:
                        out[name] = cause
                        queue.append(name)
        return out

    # -- requirements --------------------------------------------------------------------------

    def _requirements(self, out: list[Change]) -> None:
        """Requirements the change broke or fixed: only the edges a change touched are judged
        (an untouched requirement is broken in both or in neither)."""
        who = {*self.requires_changed, *self.added, *self.removed}
        required = {*self.removed, *self.added, *self.changed}
        before = {b.key: b for b in self.ga.broken_among(who, required)}
        after = {b.key: b for b in self.gb.broken_among(who, required)}
        for key, broken in after.items():
            if key not in before:
                out.append(self._broken(broken))
        for key, was in before.items():
            if key not in after and was.dependent in self.new:
                out.append(self._fixed(was))

    def _broken(self, b: BrokenRequirement) -> Change:
        before = self.old.get(b.required)
        had = before.version if before else None
        dep_old = self.old.get(b.dependent)
        req = requirement(b.requirement)
        head = f"{b.dependent} {b.dependent_version} requires {b.requirement}"
        if b.installed is None:
            severity = compat.severity("requirement_missing")
            expl = (f"{head}, which is no longer installed" if had else
                    f"{head}, which is not installed") + (
                f" (A had {b.required} {had}): importing {b.dependent} or the part of it that "
                f"uses {b.required} fails with ModuleNotFoundError." if had else
                f": the part of {b.dependent} that uses it fails with ModuleNotFoundError.")
        else:
            severity = compat.severity("requirement_broken")
            moved = ""
            if had and had != b.installed:
                vc = classify_version(had, b.installed)
                moved = f" ({vc.kind if vc else 'changed'} from {had})"
            expl = (f"{head}, but {b.required} {b.installed} is installed{moved}: {b.dependent} "
                    f"was not made for that version and can fail at import or misbehave.")
        if dep_old is not None and dep_old.version != b.dependent_version:
            expl += f" ({b.dependent} itself changed {dep_old.version} -> {b.dependent_version}.)"
        fixes: list[str] = []
        if had and req is not None and satisfied(req, had):
            command = f"{PIP} install {shlex.quote(f'{b.required}=={had}')}"
            fixes.append(f"pip install {b.required}=={had} (A's version, which satisfies it)")
        else:
            command = f"{PIP} install {shlex.quote(b.requirement)}"
            fixes.append(f"pip install '{b.requirement}'")
        if dep_old is not None and dep_old.version != b.dependent_version:
            fixes.append(f"pip install {b.dependent}=={dep_old.version} (A's {b.dependent})")
        elif b.installed is not None:
            fixes.append(f"install a release of {b.dependent} that allows {b.required} "
                         f"{b.installed}")
        expl += " pip check reports this. Fix: " + ", or ".join(fixes) + "."
        return Change(section="python.requirements", name=f"{b.dependent} requires {b.requirement}",
                      kind="broken", severity=severity, old=had, new=b.installed,
                      explanation=expl, dependents=(b.dependent,), requirement=b.requirement,
                      fix=command)

    def _fixed(self, b: BrokenRequirement) -> Change:
        now = self.new.get(b.required)
        return Change(
            section="python.requirements", name=f"{b.dependent} requires {b.requirement}",
            kind="fixed", severity=compat.severity("requirement_fixed"), old=b.installed,
            new=now.version if now else None,
            explanation=f"{b.dependent}'s requirement {b.requirement} is satisfied in B "
                        f"({b.required} {now.version if now else '?'}); in A it was not.",
            dependents=(b.dependent,), requirement=b.requirement)


def _variant_change(po: Package, pn: Package, vc: VersionChange) -> Change:
    name = po.name
    severity = rate_package(name, vc).severity
    lo, ln = vc.old_local or "none", vc.new_local or "none"
    expl = (f"Same {name} release, different build variant (+{lo} -> +{ln}): it was "
            "compiled for another CUDA or CPU target. pip cannot switch variants by version "
            "alone; install from the matching index")
    index = rules.pytorch_index(vc.old_local)
    if rules.lost_cuda(vc.old_local, vc.new_local):
        expl = (f"{name} lost its CUDA build (+{lo} -> +{ln}): GPU code now fails with "
                "'Torch not compiled with CUDA enabled' or silently runs on the CPU. "
                + (f"Install from {index}" if index else
                   f"Install the +{lo} build from the index that serves it"))
    elif index and rules.cuda_from_label(vc.old_local):
        expl += f" ({index} for the old one)"
    return Change(section="python.packages", name=name, kind="variant", severity=severity,
                  old=po.version, new=pn.version, explanation=expl + ".")


def _glibc_escalate(change: Change, pkg: Package, glibc: str | None) -> Change:
    """A wheel whose manylinux tag needs a newer glibc than B has cannot import there."""
    need = package_glibc(pkg)
    if need is None or glibc is None or rules.glibc_at_least(glibc, need) is not False:
        return change
    return replace(
        change, severity=compat.severity("glibc_below_wheels"),
        explanation=change.explanation + f" Its wheel is tagged manylinux_"
        f"{need.replace('.', '_')} and needs glibc {need}, but B has glibc {glibc}: importing it"
        f" fails with 'GLIBC_{need}' not found. Install a build for an older manylinux tag.",
    )
