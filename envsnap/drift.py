"""What changed between two snapshots and why it matters: diff(a, b) -> SnapshotDiff, pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import compat, probes, rules, sections
from .changes import Change, scope_of
from .config import Ignore
from .graph import Graph
from .remedy import Remedy, remedy
from .sections.base import DiffContext
from .snapshot import Snapshot, to_dict
from .wording import IGNORED_ENV, IGNORED_PACKAGES, IGNORED_REQUIREMENTS, plain_text

__all__ = ["Change", "SnapshotDiff", "diff", "sort_key"]


def section_rank(section: str) -> int:
    """Display order of sections inside one severity group: the probes' fields in registry
    order, each followed by its subsections ("python.packages"), then probe failures."""
    head, _, sub = section.partition(".")
    order = probes.fields()
    i = order.index(head) if head in order else len(order) + (head != "probes")
    return 2 * i + (1 if sub else 0)


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
        """Whether a change is at ``threshold`` or worse (``never``: none is)."""
        return any(compat.fails(c.severity, threshold) for c in self.changes)

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
        return remedy(
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


def diff(a: Snapshot, b: Snapshot, *, ignore: Ignore | None = None,
         graph_a: Graph | None = None) -> SnapshotDiff:
    """Every difference from ``a`` (where it worked) to ``b``, most dangerous first: each
    section's rules (envsnap/sections), in reading order, then the probes that failed on B.

    ``ignore`` leaves out packages and environment variables by name (config.Ignore);
    ``graph_a`` is ``a``'s dependency graph when the caller already has it (fleet)."""
    out: list[Change] = []
    ctx = DiffContext(graph_a=graph_a)
    for section in sections.registry():
        if section.diff is not None:
            section.diff(a, b, out, ctx)
        else:
            _diff_plain(section.name, a, b, out)
    _diff_probes(a, b, out)
    ignored: dict[str, int] = {}
    if ignore:
        out = _without_ignored(out, ignore, ignored)
    out.sort(key=sort_key)
    return SnapshotDiff(changes=tuple(out), ignore=ignore or None, ignored=ignored)


_PACKAGE_SECTIONS = ("python.packages", "conda.packages")


def _without_ignored(changes: list[Change], ignore: Ignore,
                     counts: dict[str, int]) -> list[Change]:
    def ignored(c: Change) -> str | None:
        if c.section in _PACKAGE_SECTIONS:
            return IGNORED_PACKAGES if ignore.package(c.name) else None
        if c.section == "python.requirements":
            dependent = c.dependents[0] if c.dependents else ""
            hit = rules.ignores_requirement(ignore.package, dependent, c.requirement)
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


def _field_data(s: Snapshot, field: str) -> Any:
    """The plain-data form of one field, as the snapshot file holds it (None: left out)."""
    value = getattr(s, field, None)
    return to_dict(type(s)(**({field: value} if value is not None else {}))).get(field)


def _diff_plain(field: str, a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    """A probe's section without rules of its own: key by key, informational."""
    if getattr(a, field, None) == getattr(b, field, None):
        return
    pa, pb = _field_data(a, field), _field_data(b, field)
    if not isinstance(pa, Mapping) or not isinstance(pb, Mapping):
        pa, pb = ({field: v} if v is not None else {} for v in (pa, pb))
    for key in sorted(pa.keys() | pb.keys()):
        vo, vn = pa.get(key), pb.get(key)
        if vo == vn:
            continue
        out.append(Change(
            section=field, name=key,
            kind="added" if vo is None else "removed" if vn is None else "changed",
            severity=compat.severity("other"),
            old=None if vo is None else plain_text(vo), new=None if vn is None else plain_text(vn),
            explanation=f"The {field} probe's {key} differs.",
        ))


def _diff_probes(a: Snapshot, b: Snapshot, out: list[Change]) -> None:
    """A probe that failed on B: its section could not be compared, which is never a pass."""
    for name, st in sorted(b.probes.items()):
        before = a.probes.get(name)
        if st.status == "error" and (before is None or before.status != "error"):
            out.append(Change(section="probes", name=name, kind="changed",
                              severity=compat.severity("probe_failed"), scope=scope_of(name),
                              old=before.status if before else None, new="error",
                              explanation=f"The {name} probe failed on B ({st.error}); that "
                                          "section could not be compared."))
