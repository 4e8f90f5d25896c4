"""What changed between two snapshots and why it matters: diff(a, b) -> SnapshotDiff, pure."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from . import compat, probes, rules
from .config import Ignore
from .graph import BrokenRequirement, Graph, requirement, satisfied
from .rules import (
    LEVEL_WORDS,
    CudaNeed,
    Remedy,
    VersionChange,
    arch_list_of,
    classify_version,
    cuda_needs,
    describe_arch_list,
    glibc_needs,
    gpu_cc,
    gpu_fix,
    missing_isa,
    package_glibc,
    rate_package,
    uncovered,
    worst_driver_verdict,
)
from .snapshot import (
    GPU,
    CondaPackage,
    CudaInfo,
    Framework,
    LibraryCopy,
    NvidiaInfo,
    Package,
    PythonEnv,
    Snapshot,
    Source,
    to_dict,
)

KINDS = ("added", "removed", "upgraded", "downgraded", "variant", "source", "changed")


def section_rank(section: str) -> int:
    """Display order of sections inside one severity group: the probes' fields in registry
    order, each followed by its subsections ("python.packages"), then probe failures."""
    head, _, sub = section.partition(".")
    order = probes.fields()
    i = order.index(head) if head in order else len(order) + (head != "probes")
    return 2 * i + (1 if sub else 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One difference between snapshot A (old) and B (new)."""

    section: str
    name: str
    kind: str
    severity: str
    old: str | None
    new: str | None
    explanation: str
    # The installed packages that require it directly (in B; in A for a removal), and how many
    # depend on it directly or through others. python.packages and python.requirements only.
    dependents: tuple[str, ...] = ()
    dependents_total: int = 0
    # The name of the change in the same section this one follows from: a dependency removed
    # along with the only package that needed it, one an upgrade pulled in.
    caused_by: str | None = None
    requirement: str | None = None  # python.requirements: the requirement as recorded
    # What to run (or do) on B to undo it, where one thing does: `python -m pip install X==A`.
    fix: str | None = None
    # host | environment (rules.scope_of): whether an image built from the snapshot brings it.
    # Left out, the section decides; a CUDA library copy's and a probe failure's are given.
    scope: str = ""

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", rules.scope_of(self.section))


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotDiff:
    changes: tuple[Change, ...] = ()
    # The ignore lists applied (config.Ignore), and what they left out -> how many changes
    # (as check's `ignored`): said on every run that applies them.
    ignore: Ignore | None = None
    ignored: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for c in self.changes:
            counts[c.severity] += 1
        return counts

    def failed(self, threshold: str) -> bool:
        return any(compat.at_least(c.severity, threshold) for c in self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def remedy(self, a: str) -> Remedy | None:
        """The one command that brings B's Python environment to A's (``a``: A's snapshot
        file): lock A, remove what B added (never envsnap or what it needs: those changes have
        no fix) and what came from elsewhere, install A's pins. None without package changes."""
        packages = [c for c in self.changes if c.section == "python.packages"]
        install = any(c.kind not in ("added",) for c in packages) or any(
            c.section == "python.requirements" and c.kind == "broken" for c in self.changes)
        py = next((c for c in self.changes if c.section == "python" and c.name == "python"), None)
        return rules.remedy(
            a, python="python", install=install,
            remove=[c.name for c in packages if c.kind in ("added", "source") and c.fix],
            recreate=py.old if py is not None and py.old and rules.major_minor(py.old)
            != rules.major_minor(py.new) else None,
            unfixed=[c.section.partition(".")[0] for c in self.changes
                     if c.scope == rules.HOST and compat.at_least(c.severity, "major")])


def sort_key(c: Change) -> tuple[int, int, int, str, str]:
    """Most severe first; inside a severity, by section, a broken requirement before the
    package changes of its section."""
    return (compat.rank(c.severity), section_rank(c.section),
            0 if c.section == "python.requirements" else 1, c.name, c.kind)


Differ = Callable[[Snapshot, Snapshot, list[Change]], None]


def diff(a: Snapshot, b: Snapshot, *, ignore: Ignore | None = None,
         graph_a: Graph | None = None) -> SnapshotDiff:
    """Every difference from ``a`` (where it worked) to ``b``, most dangerous first.

    ``ignore`` leaves out packages and environment variables by name (config.Ignore);
    ``graph_a`` is ``a``'s dependency graph when the caller already has it (fleet)."""
    out: list[Change] = []
    differs = {**_DIFFERS}
    if graph_a is not None and "python" in differs:
        differs["python"] = partial(_diff_python, graph_a=graph_a)
    for field in probes.fields():
        differ = differs.get(field)
        if differ is not None:
            differ(a, b, out)
        else:
            _diff_plain(field, a, b, out)
    _diff_probes(a, b, out)
    ignored: dict[str, int] = {}
    if ignore:
        out = _without_ignored(out, ignore, ignored)
    out.sort(key=sort_key)
    return SnapshotDiff(changes=tuple(out), ignore=ignore or None, ignored=ignored)


_PACKAGE_SECTIONS = ("python.packages", "conda.packages")


# How diff and check name what an ignore list left out (CheckResult.ignored uses the same).
IGNORED_PACKAGES = "packages matching the ignore list"
IGNORED_REQUIREMENTS = "requirements matching the ignore list"
IGNORED_ENV = "environment variables matching the ignore list"
IGNORED_LISTS = (IGNORED_PACKAGES, IGNORED_REQUIREMENTS, IGNORED_ENV)


def _without_ignored(changes: list[Change], ignore: Ignore,
                     counts: dict[str, int]) -> list[Change]:
    def ignored(c: Change) -> str | None:
        if c.section in _PACKAGE_SECTIONS:
            return IGNORED_PACKAGES if ignore.package(c.name) else None
        if c.section == "python.requirements":
            req = requirement(c.requirement or "")
            hit = ignore.package(c.dependents[0] if c.dependents else "") or (
                req is not None and ignore.package(req.name))
            return IGNORED_REQUIREMENTS if hit else None
        return IGNORED_ENV if c.section == "env" and ignore.env_var(c.name) else None

    kept = []
    for c in changes:
        why = ignored(c)
        if why is None:
            kept.append(c)
        else:
            counts[why] = counts.get(why, 0) + 1
    names = {c.name for c in kept if c.section == "python.packages"}
    # A change grouped under an ignored one becomes a headline of its own.
    return [replace(c, caused_by=None) if c.caused_by and c.caused_by not in names else c
            for c in kept]


def _plain_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def _only(field: str, value: Any) -> dict[str, Any]:
    return {field: value} if value is not None else {}


def _diff_plain(field: str, a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    """A probe's section without domain rules of its own: key by key, informational."""
    va, vb = getattr(a, field, None), getattr(b, field, None)
    if va == vb:
        return
    # The plain-data form of that one field, as the snapshot file holds it.
    pa, pb = (to_dict(Snapshot(**_only(field, v))).get(field) for v in (va, vb))
    if not isinstance(pa, Mapping) or not isinstance(pb, Mapping):
        pa, pb = ({field: v} if v is not None else {} for v in (pa, pb))
    for key in sorted(pa.keys() | pb.keys()):
        vo, vn = pa.get(key), pb.get(key)
        if vo == vn:
            continue
        out.append(Change(
            section=field, name=key,
            kind="added" if vo is None else "removed" if vn is None else "changed",
            severity=compat.rule("other"),
            old=None if vo is None else _plain_text(vo), new=None if vn is None else _plain_text(vn),
            explanation=f"The {field} probe's {key} differs.",
        ))


# ---------------------------------------------------------------------------------------------
# Python


def _diff_python(a: Snapshot, b: Snapshot, out: list[Change], *,
                 graph_a: Graph | None = None) -> None:
    pa, pb = a.python, b.python
    if pa is None and pb is None:
        return
    if pa is None or pb is None:
        present = pb or pa
        assert present is not None
        out.append(Change(
            section="python", name="python", kind="added" if pa is None else "removed",
            severity=compat.rule("other" if pa is None else "python_missing"),
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
    _PackageDiff(pa, pb, b.os.glibc if b.os else None, graph_a).run(out)


def _diff_interpreter(pa: PythonEnv, pb: PythonEnv, out: list[Change]) -> None:
    if pa.implementation != pb.implementation:
        out.append(Change(
            section="python", name="implementation", kind="changed",
            severity=compat.rule("python_implementation"),
            old=pa.implementation, new=pb.implementation,
            explanation="A different Python implementation: compiled extensions and many pure "
                        "packages behave differently or do not load; recreate the environment.",
        ))
    vc = classify_version(pa.version, pb.version)
    if vc is not None:
        native = sum(1 for p in pb.packages if p.native)
        level = vc.level if vc.level in ("major", "minor") else "patch"
        if level == "patch":
            expl = "A patch release of the interpreter: same ABI, compiled extensions still load."
        else:
            expl = (f"Python {rules.major_minor(pa.version)} -> "
                    f"{rules.major_minor(pb.version)} changes the extension ABI (cpXY wheel tag):"
                    f" the {native} installed package(s) with compiled extensions need builds "
                    "for the new interpreter. Recreate the environment instead of copying it.")
        out.append(Change(
            section="python", name="python", kind=vc.kind if vc.kind != "variant" else "changed",
            severity=compat.rule(f"python_{level}"), old=pa.version, new=pb.version,
            explanation=expl,
            fix=None if level == "patch" else f"use a Python {pa.version} interpreter",
        ))
    elif pa.abi_tag and pb.abi_tag and pa.abi_tag != pb.abi_tag:
        out.append(Change(
            section="python", name="abi_tag", kind="changed",
            severity=compat.rule("python_abi_tag"), old=pa.abi_tag, new=pb.abi_tag,
            explanation="The interpreter's ABI tag differs (for example a free-threaded build): "
                        "compiled extensions for one do not load in the other.",
        ))


def source_text(src: Source | None) -> str:
    """Where a package came from, in one phrase: ``index``, ``editable file:///src/x``,
    ``git https://github.com/o/r@1a2b3c4d5e6f``."""
    if src is None:
        return "index"
    if src.kind == "vcs":
        rev = (src.commit or src.requested_revision or "")[:12]
        return f"{src.vcs or 'vcs'} {src.url or ''}@{rev}".replace(" @", "@").strip()
    if src.kind == "editable":
        return f"editable {src.url}" if src.url else "editable"
    return f"{src.kind} {src.url}" if src.url else src.kind


NAMES_SHOWN = 5  # dependents named in an explanation before "and N more"
PIP = "python -m pip"  # B's interpreter, in the fix commands


def names_text(names: Iterable[str], limit: int = NAMES_SHOWN) -> str:
    """``a, b, c and 4 more``."""
    shown = sorted(names)
    head = ", ".join(shown[:limit])
    return head + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def generic_fix(name: str, old: str, new: str, *, downgrade: bool,
                dependents: Iterable[str] = ()) -> str:
    """Direction-aware advice for a version change with no shipped fix of its own."""
    users = sorted(dependents)
    if downgrade:
        return (f"{name} {new} is older than the {old} that A ran: code and installed packages "
                f"written for {old}" + (f" ({names_text(users)})" if users else "")
                + " may use features or a binary interface it lacks. Fix: reinstall "
                f"{name}=={old}, or install releases of its dependents made for {new}.")
    return (f"Code written for {name} {old}" + (f" (and {names_text(users)})" if users else "")
            + f" may rely on behaviour {new} changed. Fix: pin {name}=={old} (A's version), or "
            f"update the code and packages that use it for {new}.")


class _PackageDiff:
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
        # envsnap and what it needs in B: no fix removes them (rules.envsnap_footprint).
        self.own_b = (rules.envsnap_footprint(self.new, gb.dependencies) if self.added
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
                      fix=rules.pip_install(PIP, po))

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
                fix=rules.pip_install(PIP, po, reinstall=True))
        if vc.kind == "variant":
            change = _variant_change(po, pn, vc)
            return replace(change, explanation=change.explanation
                           + self._dependents_note(name, users, total),
                           dependents=tuple(sorted(users)), dependents_total=total,
                           fix=rules.pip_install(PIP, po))
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
                      fix=rules.pip_install(PIP, po))

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
                child = replace(child, severity=compat.rule("removed_with_dependent"),
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
            severity = compat.rule("requirement_missing")
            expl = (f"{head}, which is no longer installed" if had else
                    f"{head}, which is not installed") + (
                f" (A had {b.required} {had}): importing {b.dependent} or the part of it that "
                f"uses {b.required} fails with ModuleNotFoundError." if had else
                f": the part of {b.dependent} that uses it fails with ModuleNotFoundError.")
        else:
            severity = compat.rule("requirement_broken")
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
            kind="fixed", severity=compat.rule("requirement_fixed"), old=b.installed,
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
        change, severity=compat.rule("glibc_below_wheels"),
        explanation=change.explanation + f" Its wheel is tagged manylinux_"
        f"{need.replace('.', '_')} and needs glibc {need}, but B has glibc {glibc}: importing it"
        f" fails with 'GLIBC_{need}' not found. Install a build for an older manylinux tag.",
    )


# ---------------------------------------------------------------------------------------------
# conda


def _diff_conda(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
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
                          severity=compat.rule("conda_build"),
                          old=_conda_text(po), new=_conda_text(pn),
                          explanation=f"Same {name} version, another build ({po.build} -> "
                                      f"{pn.build}): it may link other libraries (CUDA, BLAS)."))
    elif po.channel != pn.channel:
        out.append(Change(section="conda.packages", name=name, kind="source",
                          severity=rate_package(name, "source").severity,
                          old=po.channel, new=pn.channel,
                          explanation=f"Same {name} build from another channel."))


# ---------------------------------------------------------------------------------------------
# OS and CPU


def _diff_os(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    oa, ob = a.os, b.os
    if oa is None or ob is None:
        return
    if oa.system != ob.system:
        out.append(Change(section="os", name="system", kind="changed",
                          severity=compat.rule("system_changed"), old=oa.system, new=ob.system,
                          explanation="Another operating system: binary wheels and drivers are "
                                      "per OS; rebuild the environment for it."))
    if oa.arch != ob.arch:
        out.append(Change(section="os", name="arch", kind="changed",
                          severity=compat.rule("arch_changed"), old=oa.arch, new=ob.arch,
                          explanation=f"Another CPU architecture ({oa.arch} -> {ob.arch}): "
                                      "compiled packages from A do not run on B."))
    if oa.glibc != ob.glibc and oa.glibc and ob.glibc:
        _diff_glibc(oa.glibc, ob.glibc, b.python or a.python, out)
    if oa.libstdcxx != ob.libstdcxx and oa.libstdcxx and ob.libstdcxx:
        lower = rules.numeric(ob.libstdcxx) < rules.numeric(oa.libstdcxx)
        out.append(Change(
            section="os", name="libstdcxx", kind="downgraded" if lower else "upgraded",
            severity=compat.rule("libstdcxx_lower" if lower else "libstdcxx_higher"),
            old=oa.libstdcxx, new=ob.libstdcxx,
            explanation=("An older libstdc++: extensions built with a newer GCC fail with "
                         f"'version `GLIBCXX_{oa.libstdcxx}' not found'."
                         if lower else "A newer libstdc++: backward compatible.")))
    for attr in ("distro_id", "distro_version", "kernel", "container"):
        vo, vn = getattr(oa, attr), getattr(ob, attr)
        if vo != vn:
            out.append(Change(section="os", name=attr, kind="changed",
                              severity=compat.rule("os_changed"), old=vo, new=vn,
                              explanation="Informational: matters only through glibc, "
                                          "libstdc++ or the driver, which are compared "
                                          "separately."))


def _diff_glibc(old: str, new: str, py: PythonEnv | None, out: list[Change]) -> None:
    at_least = rules.glibc_at_least(new, old)
    if at_least is None:
        out.append(Change(section="os", name="glibc", kind="changed",
                          severity=compat.rule("glibc_lower"), old=old, new=new,
                          explanation="The glibc changed, and one of the two is not a glibc "
                                      "version this can compare: treat it as possibly older."))
        return
    if at_least:
        out.append(Change(section="os", name="glibc", kind="upgraded",
                          severity=compat.rule("glibc_higher"), old=old, new=new,
                          explanation="A newer glibc: wheels built for older ones keep working."))
        return
    need, names = glibc_needs(py)
    if need is not None and rules.glibc_at_least(new, need) is False:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        out.append(Change(
            section="os", name="glibc", kind="downgraded",
            severity=compat.rule("glibc_below_wheels"), old=old, new=new,
            explanation=f"glibc {new} is older than the manylinux_{need.replace('.', '_')} tag "
                        f"of installed wheels ({shown}): they fail to import with "
                        f"'GLIBC_{need}' not found. Run on glibc {need} or newer, or in a "
                        "container built from the snapshot."))
        return
    out.append(Change(section="os", name="glibc", kind="downgraded",
                      severity=compat.rule("glibc_lower"), old=old, new=new,
                      explanation=f"An older glibc. The installed wheels' tags need "
                                  f"{need or 'no particular glibc'}, which it meets, but "
                                  "packages installed later may not."))


def _diff_cpu(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    ca, cb = a.cpu, b.cpu
    if ca is None or cb is None:
        return
    if ca.model != cb.model:
        out.append(Change(section="cpu", name="model", kind="changed",
                          severity=compat.rule("cpu_changed"), old=ca.model, new=cb.model,
                          explanation="Another CPU model; ISA features are compared separately."))
    lost = missing_isa(ca.flags, cb.flags)
    gained = missing_isa(cb.flags, ca.flags)
    for flag in lost:
        out.append(Change(section="cpu", name=flag, kind="removed",
                          severity=compat.rule("cpu_isa_lost"), old=flag, new=None,
                          explanation=f"B's CPU lacks {flag}: code compiled for it (-march=native"
                                      " builds, some wheels) dies with 'Illegal instruction'."))
    for flag in gained:
        out.append(Change(section="cpu", name=flag, kind="added",
                          severity=compat.rule("cpu_isa_gained"), old=None, new=flag,
                          explanation=f"B's CPU adds {flag}; nothing breaks."))


# ---------------------------------------------------------------------------------------------
# NVIDIA driver and GPUs


def _diff_nvidia(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    na, nb = a.nvidia, b.nvidia
    if na is None and nb is None:
        return
    needs = cuda_needs(b)
    if nb is None or nb.driver_version is None:
        if na is not None and na.driver_version is not None:
            out.append(Change(
                section="nvidia", name="driver", kind="removed",
                severity=compat.rule("driver_removed") if needs else compat.rule("other"),
                old=na.driver_version, new=None,
                explanation="B has no NVIDIA driver" + (
                    f", but {needs[0].origin} needs CUDA: GPU code cannot run."
                    if needs else "; nothing in B needs CUDA.")))
        _diff_gpus(na.gpus if na else (), (), b, out)
        return
    if na is None or na.driver_version != nb.driver_version:
        _driver_change(na.driver_version if na else None, nb, needs, out)
    elif needs and needs != cuda_needs(a):
        # Same driver, new CUDA needs: evaluate the driver against them.
        verdict = worst_driver_verdict(nb.driver_version, needs)
        if verdict is not None and verdict.status in ("below_floor", "below_toolkit"):
            _driver_change(na.driver_version, nb, needs, out, unchanged=True)
    if nb.driver_mismatch and not (na and na.driver_mismatch):
        out.append(Change(
            section="nvidia", name="kernel_module", kind="changed",
            severity=compat.rule("driver_mismatch"),
            old=nb.driver_version, new=nb.kernel_module_version,
            explanation="On B the user-space driver and the loaded kernel module differ: CUDA "
                        "fails with 'Driver/library version mismatch'. Reboot or reload the "
                        "nvidia module."))
    _diff_gpus(na.gpus if na else (), nb.gpus, b, out)


def _driver_change(old: str | None, nb: NvidiaInfo, needs: list[CudaNeed], out: list[Change],
                   *, unchanged: bool = False) -> None:
    new = nb.driver_version
    vo, vn = rules.driver_version(old), rules.driver_version(new)
    kind = "changed"
    if not unchanged and vo is not None and vn is not None:
        kind = "downgraded" if vn < vo else "upgraded"
    verdict = worst_driver_verdict(new, needs)
    fix = None
    if verdict is not None and verdict.status == "below_floor":
        fix = f"install NVIDIA driver {verdict.floor} or newer"
        severity = compat.rule("driver_below_floor")
        expl = (f"Driver {new} is below {verdict.floor}, the minimum for CUDA "
                f"{rules.cuda_major(verdict.need.cuda)}.x that {verdict.need.origin} needs "
                "(minor-version compatibility): CUDA fails with 'The NVIDIA driver on your "
                f"system is too old'. Install driver {verdict.floor} or newer"
                + (f" ({verdict.toolkit} for all CUDA {verdict.need.cuda} features)"
                   if verdict.toolkit else "")
                + ", or a build for an older CUDA.")
    elif verdict is not None and verdict.status == "below_toolkit":
        severity = compat.rule("driver_below_toolkit")
        fix = f"install NVIDIA driver {verdict.toolkit} or newer"
        expl = (f"Driver {new} runs {verdict.need.origin} only through CUDA minor-version "
                f"compatibility (limited features; below {verdict.toolkit}, the CUDA "
                f"{verdict.need.cuda} driver). Driver {verdict.toolkit} or newer for all "
                "features.")
    elif verdict is not None and verdict.status == "unknown":
        severity = compat.rule("driver_changed")
        expl = (f"Whether driver {new} runs CUDA {verdict.need.cuda} ({verdict.need.origin}) "
                "cannot be told: " + ("it is not a driver version envsnap can compare."
                                      if vn is None else "no driver floor is known for it."))
    else:
        severity = compat.rule("driver_changed")
        expl = (f"Driver {new} supports every CUDA version the snapshot's builds need."
                if verdict is not None else "No CUDA build in B depends on the driver version.")
    if unchanged:
        expl = "The driver is the same but B's builds need a newer CUDA. " + expl
    out.append(Change(section="nvidia", name="driver", kind=kind, severity=severity,
                      old=old, new=new, explanation=expl, fix=fix))


def _gpu_text(g: GPU) -> str:
    cc = gpu_cc(g)
    return f"{g.name} (sm_{cc.replace('.', '')})" if cc else g.name


_GPU_WORDS = {
    "gpu_older_arch": "{new} is an older architecture than {old}: the builds still have kernels "
                      "for it, but features of the newer one (FP8 from sm_89, TMA and wgmma from "
                      "sm_90) are missing and numerics can differ.",
    "gpu_memory": "It has less memory than {old}: models and batch sizes that fit there can fail "
                  "with 'CUDA out of memory'.",
    "gpu_model": "Another GPU model of the same or a newer architecture: the frameworks' arch "
                 "lists cover it.",
}


def _diff_gpus(ga: Iterable[GPU], gb: Iterable[GPU], b: Snapshot, out: list[Change]) -> None:
    old = {g.index: g for g in ga}
    new = {g.index: g for g in gb}
    bad = {(g.index, fw.name): fw for g, fw in uncovered(new.values(), b.frameworks)}
    for idx in sorted(old.keys() | new.keys()):
        go, gn = old.get(idx), new.get(idx)
        name = f"GPU{idx}"
        if gn is None and go is not None:
            out.append(Change(section="nvidia.gpus", name=name, kind="removed",
                              severity=compat.rule("gpu_removed"), old=_gpu_text(go), new=None,
                              explanation=f"B has fewer GPUs: {name} ({go.name}) is gone; jobs "
                                          "sized for A's GPU count fail or slow down."))
            continue
        assert gn is not None
        differs = rules.gpu_change(go, gn) if go is not None else ()
        misses = [fw for (i, _), fw in bad.items() if i == idx]
        if go is not None and not differs and not misses:
            continue
        fix = None
        if misses:
            fw = misses[0]
            cc = gpu_cc(gn) or "?"
            severity = compat.rule("gpu_not_covered")
            fix = gpu_fix(gn, fw)
            expl = (f"{gn.name} has compute capability {cc}, which {fw.name} {fw.version} was "
                    f"not built for (arch list: {describe_arch_list(arch_list_of(fw))}): kernels "
                    "fail with 'no kernel image is available for execution on the device'. "
                    f"Fix: {gpu_fix(gn, fw)}.")
        elif go is None:
            severity = compat.rule("gpu_added")
            expl = f"B has an extra GPU: {gn.name}."
        else:
            assert go is not None
            severity = compat.rule(differs[0])
            expl = _GPU_WORDS[differs[0]].format(old=go.name, new=gn.name)
            if "gpu_memory" in differs[1:]:
                expl += " " + _GPU_WORDS["gpu_memory"].format(old=go.name, new=gn.name)
        out.append(Change(section="nvidia.gpus", name=name,
                          kind="added" if go is None else "changed", severity=severity,
                          old=_gpu_text(go) if go else None, new=_gpu_text(gn),
                          explanation=expl, fix=fix))


# ---------------------------------------------------------------------------------------------
# CUDA toolkit and libraries


def _pip_cuda(s: Snapshot) -> bool:
    """CUDA comes from pip wheels (torch's nvidia-*-cuNN or a +cuXYZ build), not the system."""
    if s.python and any(p.name.startswith("nvidia-") and rules.cuda_of_dist(p.name)
                        for p in s.python.packages):
        return True
    if s.cuda and any(lib.found_via.startswith("pip:") for lib in s.cuda.libraries):
        return True
    return any(rules.framework_cuda(fw) for fw in s.frameworks)


@dataclass(frozen=True, slots=True, kw_only=True)
class _HostCudaUse:
    """Whether the environment loads the host's CUDA (docs/diff-and-check.md#scope): nothing of
    it when nothing in the environment needs CUDA (rules.cuda_needs of A or B: a CUDA framework
    build, an nvidia-*, CuPy or JAX CUDA wheel, a +cuXYZ package, the environment's own
    cudart); and a host library copy that goes away is not missed when B's environment brings
    its own copy of that library (a pip wheel or a conda package)."""

    needs: bool
    own: frozenset[str]

    @classmethod
    def of(cls, a: Snapshot, b: Snapshot) -> _HostCudaUse:
        libs = b.cuda.libraries if b.cuda else ()
        return cls(needs=bool(cuda_needs(a) or cuda_needs(b)),
                   own=frozenset(c.library for c in libs
                                 if rules.library_scope(c.found_via) == rules.ENVIRONMENT))

    def unused(self, removed: str | None = None) -> str | None:
        """Why nothing in the environment loads what changed on the host (``removed``: the
        library whose host copy went away), or None when something may."""
        if not self.needs:
            return ("nothing in the environment uses CUDA (no CUDA framework build, CUDA wheel "
                    "or +cuXYZ package), so nothing loads it")
        if removed is not None and removed in self.own:
            return f"the environment brings its own {removed} copy"
        return None


def _diff_cuda(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    if a.cuda == b.cuda:
        return
    ca, cb = a.cuda or CudaInfo(), b.cuda or CudaInfo()
    use = _HostCudaUse.of(a, b)
    for attr, label in (("toolkit_version", "toolkit"), ("nvcc_version", "nvcc")):
        vo, vn = getattr(ca, attr), getattr(cb, attr)
        if vo == vn:
            continue
        unused = use.unused()
        if unused:
            severity = compat.rule("host_cuda_unused")
            expl = f"The host's CUDA {label} differs; {unused}."
        elif _pip_cuda(b):
            severity = compat.rule("toolkit_beside_wheels")
            expl = (f"The system CUDA {label} differs, which is normal beside pip-wheel CUDA: "
                    "the frameworks load their own CUDA libraries from nvidia-* wheels. It "
                    "matters only when compiling extensions (the nvcc major must match the "
                    "framework's CUDA major).")
        else:
            severity = compat.rule("toolkit_changed")
            expl = f"The system CUDA {label} changed; builds linking it use the new one."
        out.append(Change(section="cuda", name=label, kind=_kind(vo, vn), severity=severity,
                          old=vo, new=vn, explanation=expl))
    _diff_libraries(ca.libraries, cb.libraries, use, out)


def _kind(old: str | None, new: str | None) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    vc = classify_version(old, new)
    return vc.kind if vc is not None and vc.kind in ("upgraded", "downgraded") else "changed"


def _lib_text(c: LibraryCopy) -> str:
    return f"{c.version or '?'} via {c.found_via}"


def _group(libs: Iterable[LibraryCopy]) -> dict[str, dict[str, LibraryCopy]]:
    out: dict[str, dict[str, LibraryCopy]] = {}
    for c in libs:
        out.setdefault(c.library, {})[c.found_via] = c
    return out


def _diff_libraries(la: Iterable[LibraryCopy], lb: Iterable[LibraryCopy], use: _HostCudaUse,
                    out: list[Change]) -> None:
    ga, gb = _group(la), _group(lb)
    for lib in sorted(ga.keys() | gb.keys()):
        old, new = ga.get(lib, {}), gb.get(lib, {})
        duplicate = len(new) > 1 and len(new) > len(old)
        for via in sorted(old.keys() | new.keys()):
            co, cn = old.get(via), new.get(via)
            name = f"{lib} ({via})"
            scope = rules.library_scope(via)
            if co is None and cn is not None:
                if duplicate and old:
                    others = "; ".join(_lib_text(c) for v, c in sorted(new.items()) if v != via)
                    out.append(Change(
                        section="cuda.libraries", name=name, kind="added", scope=scope,
                        severity=compat.rule("library_duplicate"), old=None, new=_lib_text(cn),
                        explanation=f"A second {lib} copy appeared ({_lib_text(cn)} beside "
                                    f"{others}): which one loads depends on RPATH, "
                                    "LD_LIBRARY_PATH and import order, and mixing them causes "
                                    "'undefined symbol' errors or silent version changes. "
                                    "Remove one (usually the system copy when the framework "
                                    "uses pip wheels)."))
                else:
                    out.append(Change(section="cuda.libraries", name=name, kind="added",
                                      scope=scope,
                                      severity=compat.rule("library_added"), old=None,
                                      new=_lib_text(cn),
                                      explanation=f"{lib} is now found via {via}."))
            elif cn is None and co is not None:
                unused = use.unused(lib) if scope == rules.HOST else None
                if unused:
                    severity = compat.rule("host_cuda_unused")
                    expl = f"The host's {lib} copy found via {via} is gone; {unused}."
                else:
                    severity = compat.rule("library_removed")
                    expl = (f"The {lib} copy found via {via} is gone; code that loaded it fails "
                            "unless another copy is found.")
                out.append(Change(section="cuda.libraries", name=name, kind="removed",
                                  scope=scope, severity=severity, old=_lib_text(co), new=None,
                                  explanation=expl))
            elif co is not None and cn is not None and co.version != cn.version:
                unused = use.unused() if scope == rules.HOST else None
                if unused:
                    out.append(Change(
                        section="cuda.libraries", name=name, kind=_kind(co.version, cn.version),
                        scope=scope, severity=compat.rule("host_cuda_unused"), old=co.version,
                        new=cn.version, explanation=f"The host's {lib} changed {co.version} -> "
                                                    f"{cn.version}; {unused}."))
                else:
                    _library_version_change(lib, name, co, cn, out)


def _library_version_change(lib: str, name: str, co: LibraryCopy, cn: LibraryCopy,
                            out: list[Change]) -> None:
    mo, mn = rules.major(co.version), rules.major(cn.version)
    if mo != mn:
        severity = compat.rule("library_major")
        expl = (f"{lib} major version {mo} -> {mn}: builds linked against the old major "
                f"(lib{lib}.so.{mo}) cannot load the new one. "
                "Install the major the framework was built with.")
    elif lib == "nccl":
        severity = compat.rule("framework_nccl_changed")
        # What another NCCL does between the nodes of one job is fleet's rule (fleet.py).
        expl = f"Another NCCL, {co.version} -> {cn.version}, same major."
    else:
        severity = compat.rule("library_changed")
        expl = (f"{lib} {co.version} -> {cn.version}, same major: compatible when the new "
                "minor is at least what the framework was built with.")
    out.append(Change(section="cuda.libraries", name=name, kind=_kind(co.version, cn.version),
                      scope=rules.library_scope(co.found_via),
                      severity=severity, old=co.version, new=cn.version, explanation=expl))


# ---------------------------------------------------------------------------------------------
# Frameworks


def _diff_frameworks(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    old = {f.name: f for f in a.frameworks}
    new = {f.name: f for f in b.frameworks}
    gpus_b = b.nvidia.gpus if b.nvidia else ()
    for name in sorted(old.keys() | new.keys()):
        fo, fn = old.get(name), new.get(name)
        if fn is None and fo is not None:
            out.append(Change(section="frameworks", name=name, kind="removed",
                              severity=rate_package(name, "removed").severity,
                              old=fo.version, new=None,
                              explanation=f"{name} is no longer installed."))
        elif fo is None and fn is not None:
            out.append(Change(section="frameworks", name=name, kind="added",
                              severity=rate_package(name, "added").severity,
                              old=None, new=fn.version,
                              explanation=f"{name} {fn.version} is newly installed."))
        elif fo is not None and fn is not None:
            _framework_change(fo, fn, gpus_b, out)


def _framework_change(fo: Framework, fn: Framework, gpus_b: Iterable[GPU],
                      out: list[Change]) -> None:
    name = fo.name
    co, cn = rules.framework_cuda(fo), rules.framework_cuda(fn)
    if co and not cn:
        index = rules.pytorch_index(rules.cuda_label(co))
        out.append(Change(
            section="frameworks", name=f"{name}.cuda", kind="removed",
            severity=compat.rule("torch_lost_cuda"), old=co, new=None,
            explanation=f"The {name} build lost CUDA (a CPU-only build, variant "
                        f"{fn.variant or 'none'}): GPU code fails with 'Torch not compiled with "
                        "CUDA enabled' or silently runs on the CPU. Install the CUDA build: "
                        f"{name}=={fo.version}" + (f" from {index}." if index else ".")))
    elif co != cn:
        out.append(Change(
            section="frameworks", name=f"{name}.cuda", kind=_kind(co, cn),
            severity=compat.rule("framework_cuda_changed"), old=co, new=cn,
            explanation=f"{name} is now built for CUDA {cn}: it needs a driver for that CUDA "
                        "major and its own matching nvidia-* runtime wheels."))
    for attr, rule_name, what in (("cudnn", "framework_cudnn_changed", "cuDNN"),
                                  ("nccl", "framework_nccl_changed", "NCCL")):
        vo, vn = getattr(fo, attr), getattr(fn, attr)
        if vo != vn and vo and vn:
            expl = (f"{name} was built with {what} {vn} instead of {vo}.")
            if rules.major(vo) != rules.major(vn) and what == "cuDNN":
                expl += " A cuDNN major change: the runtime copy must match the new major."
            out.append(Change(section="frameworks", name=f"{name}.{attr}", kind=_kind(vo, vn),
                              severity=compat.rule(rule_name), old=vo, new=vn,
                              explanation=expl))
    if fo.arch_list != fn.arch_list and cn:
        misses = uncovered(gpus_b, (fn,))
        if misses:
            gpu = misses[0][0]
            cc = gpu_cc(gpu) or "?"
            severity = compat.rule("gpu_not_covered")
            expl = (f"B's {name} build has no kernels for GPU{gpu.index} ({gpu.name}, compute "
                    f"capability {cc}): 'no kernel image is available for execution on the "
                    f"device'. Fix: {gpu_fix(gpu, fn)}.")
        else:
            severity = compat.rule("framework_arch_list_changed")
            expl = "The build's arch list changed; it still covers B's GPUs."
        out.append(Change(section="frameworks", name=f"{name}.arch_list", kind="changed",
                          severity=severity, old=describe_arch_list(fo.arch_list),
                          new=describe_arch_list(fn.arch_list), explanation=expl))
    vc = classify_version(fo.version, fn.version)
    if vc is not None and vc.kind != "variant":
        downgrade = vc.kind == "downgraded"
        # Whether the build lost CUDA is the {name}.cuda change's, above.
        rating = rate_package(name, replace(vc, old_local=None, new_local=None))
        expl = f"{name} {vc.kind} {fo.version} -> {fn.version}: {LEVEL_WORDS[vc.level]}."
        if compat.at_least(rating.severity, "major"):
            expl += f" {rating.why}" if rating.why else ""
            expl += (f" Fix: {rating.fix}." if rating.fix else
                     " " + generic_fix(name, fo.version, fn.version, downgrade=downgrade))
        out.append(Change(section="frameworks", name=name, kind=vc.kind,
                          severity=rating.severity,
                          old=fo.version, new=fn.version, explanation=expl))
    elif (vc is not None or fo.variant != fn.variant) and not (co and not cn):
        out.append(Change(
            section="frameworks", name=name, kind="variant",
            severity=rate_package(name, "variant").severity,
            old=f"{fo.version} ({fo.variant or 'default'})",
            new=f"{fn.version} ({fn.variant or 'default'})",
            explanation=f"Same {name} release, another build variant: compiled for another "
                        "CUDA or CPU target."))


# ---------------------------------------------------------------------------------------------
# env, project, probes


def _diff_env(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    ea, eb = a.env, b.env
    repro = compat.reproducibility_vars()
    for key in sorted(ea.keys() | eb.keys()):
        vo, vn = ea.get(key), eb.get(key)
        if vo == vn:
            continue
        if key in repro:
            severity = compat.rule("env_reproducibility")
            expl = (f"{key} changes numerical results or determinism: runs on A and B are not "
                    "comparable bit for bit. Set it to the same value on both.")
        else:
            severity = compat.rule("env_other")
            expl = f"Environment variable {key} differs."
        kind = "added" if vo is None else "removed" if vn is None else "changed"
        out.append(Change(section="env", name=key, kind=kind, severity=severity, old=vo, new=vn,
                          explanation=expl, fix=_env_fix(key, vo)))


_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _env_fix(key: str, value: str | None) -> str | None:
    """A's value back, as a POSIX shell line; None for a name no shell takes."""
    if not _SHELL_NAME.fullmatch(key):
        return None
    return f"unset {key}" if value is None else f"export {key}={shlex.quote(value)}"


def _diff_project(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    pa, pb = a.project, b.project
    if pa is None or pb is None:
        return
    fields: tuple[tuple[str, Callable[[object], str | None]], ...] = (
        ("commit", lambda v: str(v)[:12] if v else None),
        ("branch", lambda v: str(v) if v else None),
        ("dirty", lambda v: None if v is None else str(v).lower()),
    )
    for attr, fmt in fields:
        vo, vn = fmt(getattr(pa, attr)), fmt(getattr(pb, attr))
        if vo != vn:
            out.append(Change(section="project", name=attr, kind="changed",
                              severity=compat.rule("project"), old=vo, new=vn,
                              explanation="The project's source differs: results may differ "
                                          "because the code did."))


def _diff_probes(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    for name, st in sorted(b.probes.items()):
        before = a.probes.get(name)
        if st.status == "error" and (before is None or before.status != "error"):
            out.append(Change(section="probes", name=name, kind="changed",
                              severity=compat.rule("probe_failed"), scope=rules.scope_of(name),
                              old=before.status if before else None, new="error",
                              explanation=f"The {name} probe failed on B ({st.error}); that "
                                          "section could not be compared."))


# The sections with domain rules of their own; any other probe's section is compared plainly.
_DIFFERS: Mapping[str, Differ] = {
    "python": _diff_python,
    "conda": _diff_conda,
    "os": _diff_os,
    "cpu": _diff_cpu,
    "nvidia": _diff_nvidia,
    "cuda": _diff_cuda,
    "frameworks": _diff_frameworks,
    "env": _diff_env,
    "project": _diff_project,
}
