"""Fleet drift: diff many snapshots against a baseline and group identical changes, pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import compat
from .config import Ignore
from .drift import Change, diff, sort_key
from .graph import Graph
from .snapshot import Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetGroup:
    """One change shared by some nodes: '12 of 64 nodes: nccl 2.21.5 instead of 2.28.3'."""

    change: Change  # as seen on the first node of the group
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetDiff:
    baseline: str
    nodes: tuple[str, ...]
    groups: tuple[FleetGroup, ...] = ()

    def summary(self) -> dict[str, int]:
        """Groups per severity (one drift seen on 12 nodes counts once)."""
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for g in self.groups:
            counts[g.change.severity] += 1
        return counts

    def failed(self, threshold: str) -> bool:
        return any(compat.at_least(g.change.severity, threshold) for g in self.groups)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Nodes with at least one change, in input order."""
        hit = {n for g in self.groups for n in g.nodes}
        return tuple(n for n in self.nodes if n in hit)


def fleet_diff(baseline_label: str, baseline: Snapshot,
               snapshots: Iterable[tuple[str, Snapshot]], *,
               ignore: Ignore | None = None) -> FleetDiff:
    """Diff each (label, snapshot) against the baseline; group changes that are identical
    (same section, name, kind, old and new value) across nodes. The baseline's dependency
    graph is built once, for every node."""
    groups: dict[tuple[str, str, str, str | None, str | None], tuple[Change, list[str]]] = {}
    labels: list[str] = []
    graph = Graph(baseline.python)
    for label, snap in snapshots:
        labels.append(label)
        for c in diff(baseline, snap, ignore=ignore, graph_a=graph).changes:
            key = (c.section, c.name, c.kind, c.old, c.new)
            entry = groups.get(key)
            if entry is None:
                groups[key] = (c, [label])
            else:
                first, nodes = entry
                nodes.append(label)
                if compat.rank(c.severity) < compat.rank(first.severity):
                    groups[key] = (c, nodes)  # keep the worst severity seen for this drift
    out = [FleetGroup(change=c, nodes=tuple(nodes)) for c, nodes in groups.values()]
    out.sort(key=lambda g: (sort_key(g.change)[0], -len(g.nodes), sort_key(g.change)[1:]))
    return FleetDiff(baseline=baseline_label, nodes=tuple(labels), groups=tuple(out))
