"""Fleet drift: every node against one reference (a baseline or the majority), grouped, pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import compat, sections
from .changes import Change
from .config import Ignore
from .drift import diff, sort_key
from .graph import Graph
from .snapshot import Snapshot, from_dict, to_dict

# What identifies one change across nodes. The severity is part of it: the same upgrade can
# matter more on one node than on another (its wheel needs a newer glibc there), and such
# nodes must not share a group, or the group's severity, and --fail-on, would depend on which
# node was read first.
ChangeKey = tuple[str, str, str, str | None, str | None, str, str | None]
DriftKey = tuple[ChangeKey, ...]


def change_key(c: Change) -> ChangeKey:
    return (c.section, c.name, c.kind, c.old, c.new, c.severity, c.caused_by)


# ---------------------------------------------------------------------------------------------
# Cluster rules: what breaks a multi-node job ranks above what only looks different. The
# severities and sentences are data (severity.toml [cluster]); each section matches its changes.


def cluster_rule_of(c: Change) -> str | None:
    """The [cluster] rule a change between two nodes falls under (its section's), or None."""
    section = sections.of(c.section)
    return section.cluster(c) if section is not None and section.cluster is not None else None


def cluster_ranked(c: Change) -> Change:
    """The change as it matters between nodes of one job: raised to its cluster rule's severity
    when that is worse, with the rule's reason added."""
    name = cluster_rule_of(c)
    if name is None:
        return c
    rule = compat.cluster_rule(name)
    worse = compat.rank(rule.severity) < compat.rank(c.severity)
    return replace(c, severity=rule.severity if worse else c.severity,
                   explanation=f"{c.explanation} {rule.why}")


@dataclass(slots=True)
class Comparison:
    """Compare nodes against one reference, whose dependency graph is built once, here.
    Worker processes forked from this one share it as it is; where workers are started
    fresh (see pool.context) it pickles as the reference's plain data."""

    reference: Snapshot
    ignore: Ignore | None = None
    _graph: Graph = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._graph = Graph(self.reference.python)

    # The model's read-only mappings do not pickle: the reference travels as its plain data.
    def __getstate__(self) -> tuple[dict[str, Any], Ignore | None]:
        return (to_dict(self.reference), self.ignore)

    def __setstate__(self, state: tuple[dict[str, Any], Ignore | None]) -> None:
        self.reference, self.ignore = from_dict(state[0]), state[1]
        self._graph = Graph(self.reference.python)

    def __call__(self, node: Snapshot) -> tuple[Change, ...]:
        """The node's drift from the reference, cluster rules applied, worst first."""
        changes = diff(self.reference, node, ignore=self.ignore, graph_a=self._graph).changes
        return tuple(sorted((cluster_ranked(c) for c in changes), key=sort_key))


# ---------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeGroup:
    """Nodes that differ from the reference in exactly the same way."""

    nodes: tuple[str, ...]
    changes: tuple[Change, ...]  # worst first, as seen on the group's first node

    @property
    def worst(self) -> str:
        return self.changes[0].severity


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetReport:
    reference: str  # the baseline as named, or the first node of the majority configuration
    majority: bool  # True when the reference is the fleet's most common configuration
    nodes: tuple[str, ...]  # every node compared, in input order
    agree: tuple[str, ...] = ()  # nodes with no difference from the reference
    groups: tuple[NodeGroup, ...] = ()  # the others, worst first, then the largest group

    def summary(self) -> dict[str, int]:
        """Nodes per worst severity: '3 nodes critical' reads as three nodes that break a job."""
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for g in self.groups:
            counts[g.worst] += len(g.nodes)
        return counts

    def failed(self, threshold: str) -> bool:
        """Whether a node group's worst change is at ``threshold`` or worse (``never``: none is)."""
        return any(compat.fails(g.worst, threshold) for g in self.groups)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Nodes with at least one difference, in input order."""
        agree = set(self.agree)
        return tuple(n for n in self.nodes if n not in agree)


@dataclass(slots=True)
class Tally:
    """Node drifts streamed in one at a time and grouped as they arrive: no snapshot is kept,
    only each node's label and one copy of each distinct drift."""

    nodes: list[str] = field(default_factory=list)
    groups: dict[DriftKey, tuple[tuple[Change, ...], list[str]]] = field(default_factory=dict)

    def add(self, label: str, changes: tuple[Change, ...]) -> None:
        self.nodes.append(label)
        key = tuple(change_key(c) for c in changes)
        entry = self.groups.get(key)
        if entry is None:
            self.groups[key] = (changes, [label])
        else:
            entry[1].append(label)

    def majority(self) -> tuple[DriftKey, str]:
        """The most common drift and its first node; agreement with the reference wins a tie,
        then the drift seen first."""
        best = max(self.groups.items(), key=lambda kv: (len(kv[1][1]), kv[0] == ()))
        return best[0], best[1][1][0]

    def report(self, reference: str, *, majority: bool) -> FleetReport:
        agree = self.groups.get((), ((), []))[1]
        groups = [NodeGroup(nodes=tuple(labels), changes=changes)
                  for key, (changes, labels) in self.groups.items() if key]
        groups.sort(key=lambda g: (sort_key(g.changes[0])[0], -len(g.nodes), g.nodes[0]))
        return FleetReport(reference=reference, majority=majority, nodes=tuple(self.nodes),
                           agree=tuple(agree), groups=tuple(groups))


# How the nodes are read: (labels, comparison) -> (label, that node's drift) for each, in order.
# The command line reads files in worker processes (pool.map_snapshots); the API and tests read
# snapshots they already hold.
Reader = Callable[[Sequence[str], Comparison], Iterable[tuple[str, tuple[Change, ...]]]]
SAMPLE = 7  # nodes read first to guess the majority configuration


def _tally(read: Reader, nodes: Sequence[str], compare: Comparison,
           known: Mapping[str, tuple[Change, ...]] | None = None) -> Tally:
    """Every node's drift from ``compare``'s reference, in input order; the nodes in ``known``
    (already compared with that reference) are not read again."""
    known = known or {}
    tally = Tally()
    results = read([n for n in nodes if n not in known], compare)
    try:
        fresh = iter(results)
        for label in nodes:
            if label in known:
                tally.add(label, known[label])
                continue
            got, changes = next(fresh)
            assert got == label, (got, label)  # a Reader answers in the order asked
            tally.add(label, changes)
    finally:
        # A reader with workers stops them now when this ends early (Ctrl-C, a bad file), not
        # whenever the traceback that holds it is let go.
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return tally


def against_baseline(label: str, reference: Snapshot, nodes: Sequence[str], read: Reader, *,
                     ignore: Ignore | None = None) -> FleetReport:
    return _tally(read, nodes, Comparison(reference, ignore)).report(label, majority=False)


def against_majority(nodes: Sequence[str], load: Callable[[str], Snapshot], read: Reader, *,
                     ignore: Ignore | None = None) -> FleetReport:
    """Every node against the configuration most nodes share. A first guess comes from a few
    nodes spread over the list (loaded with ``load``); when the full count shows that another
    configuration is more common, every node is compared once more, against that one.

    Each node is read once when the first sampled node is of the majority (the sampled nodes'
    drifts from it are kept); otherwise the sample, and after a wrong guess every node, are
    read again: a node can be a large snapshot, and only one is held at a time."""
    step = max(1, len(nodes) // SAMPLE)
    sample = nodes[::step][:SAMPLE]
    first = Comparison(load(sample[0]), ignore)
    guess = Tally()
    known: dict[str, tuple[Change, ...]] = {}
    for label in sample:  # one node held at a time: a node can be a large snapshot
        known[label] = first(first.reference if label == sample[0] else load(label))
        guess.add(label, known[label])
    picked = guess.majority()[1]
    if picked == sample[0]:
        tally = _tally(read, nodes, first, known)
    else:
        del first, known
        tally = _tally(read, nodes, Comparison(load(picked), ignore))
    drift, node = tally.majority()
    if drift:
        tally = _tally(read, nodes, Comparison(load(node), ignore))
    return tally.report(tally.majority()[1], majority=True)


def fleet_report(reference_label: str, reference: Snapshot,
                 snapshots: Iterable[tuple[str, Snapshot]], *,
                 ignore: Ignore | None = None) -> FleetReport:
    """Every (label, snapshot) against a reference the caller holds, in this process."""
    held = dict(snapshots)
    return against_baseline(reference_label, reference, list(held), _held_reader(held),
                            ignore=ignore)


def majority_report(snapshots: Iterable[tuple[str, Snapshot]], *,
                    ignore: Ignore | None = None) -> FleetReport:
    """Every (label, snapshot) against the majority configuration, in this process."""
    held = dict(snapshots)
    return against_majority(list(held), held.__getitem__, _held_reader(held), ignore=ignore)


def _held_reader(held: Mapping[str, Snapshot]) -> Reader:
    def read(labels: Sequence[str], compare: Comparison
             ) -> Iterator[tuple[str, tuple[Change, ...]]]:
        return ((label, compare(held[label])) for label in labels)
    return read
