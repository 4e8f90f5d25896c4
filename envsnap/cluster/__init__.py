"""Capturing every node of a cluster: per-node file names and outcomes (pure; engines beside it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..text import short_hostname

__all__ = ["MAX_NAME", "NodeOutcome", "file_names", "short_name", "summary"]

# A snapshot file name is NAME.toml: well under every file system's 255-byte limit even with
# the node-id suffix, and still readable in a report's table.
MAX_NAME = 64
ID_CHARS = 8  # Ray's NodeID is 56 hex characters; 8 tell a few hundred nodes apart
_NOT_ID = re.compile(r"[^A-Za-z0-9]")


def short_name(hostname: str) -> str:
    """A host name as a file name: ``gpu-07`` for ``gpu-07.cluster.local``.

    The rule is `envsnap capture -o snaps/{hostname}.toml`'s, so a Ray capture and a Slurm
    capture of the same node write the same file name (when the host name is unique)."""
    return short_hostname(hostname)[:MAX_NAME]


def file_names(nodes: Mapping[str, str]) -> dict[str, str]:
    """``{node_id: hostname}`` -> ``{node_id: name}``, a distinct file-name-safe name per node.

    A node is named by its short host name; when several nodes share one (every node of a
    local test cluster, containers that all call themselves ``localhost``), each of those gets
    the first 8 characters of its node id as well: ``vm-61114709``. Names are unique even
    ignoring case (a case-insensitive file system) and depend only on the nodes, not their
    order.
    """
    shorts = {node_id: short_name(host) for node_id, host in nodes.items()}
    groups: dict[str, list[str]] = {}
    for node_id, short in shorts.items():
        groups.setdefault(short.casefold(), []).append(node_id)
    wanted: dict[str, str] = {}
    for members in groups.values():
        if len(members) == 1:
            wanted[members[0]] = shorts[members[0]]
            continue
        digits = {node_id: _digits(node_id) for node_id in members}
        size = _distinct_prefix(list(digits.values()))
        for node_id in members:
            wanted[node_id] = _with_id(shorts[node_id], digits[node_id][:size])
    # Unique host names first: they keep the plain name whatever the other nodes are called.
    # A name still taken (a host literally called like another node's name-id) is lengthened.
    order = sorted(wanted, key=lambda n: (len(groups[shorts[n].casefold()]) > 1, wanted[n], n))
    taken: set[str] = set()
    names: dict[str, str] = {}
    for node_id in order:
        name = wanted[node_id]
        if name.casefold() in taken:
            name = _free_name(shorts[node_id], _digits(node_id), taken)
        taken.add(name.casefold())
        names[node_id] = name
    return {node_id: names[node_id] for node_id in nodes}


def _digits(node_id: str) -> str:
    return _NOT_ID.sub("", node_id) or "node"


def _with_id(short: str, digits: str) -> str:
    return f"{short[: MAX_NAME - len(digits) - 1]}-{digits}"


def _distinct_prefix(ids: list[str]) -> int:
    """The shortest prefix length, at least ID_CHARS, that tells these ids apart (or the
    longest id's length when none does)."""
    longest = max(len(i) for i in ids)
    for size in range(ID_CHARS, longest + 1):
        if len({i[:size].casefold() for i in ids}) == len(ids):
            return size
    return longest


def _free_name(short: str, digits: str, taken: set[str]) -> str:
    for size in range(ID_CHARS, len(digits) + 1):
        candidate = _with_id(short, digits[:size])
        if candidate.casefold() not in taken:
            return candidate
    counter = 2
    while True:
        candidate = _with_id(short, f"{digits[:ID_CHARS]}-{counter}")
        if candidate.casefold() not in taken:
            return candidate
        counter += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeOutcome:
    """What fleet capture did on one node: its snapshot's path, or why there is none."""

    node_id: str
    hostname: str
    name: str
    ok: bool
    path: str | None = None
    reason: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "node_id": self.node_id, "hostname": self.hostname,
                "path": self.path, "ok": self.ok, "reason": self.reason,
                "seconds": None if self.seconds is None else round(self.seconds, 2)}


def summary(outcomes: Sequence[NodeOutcome], dest: str) -> str:
    """The closing line: ``3 of 3 nodes captured -> snaps/`` or which nodes failed."""
    ok = sum(1 for o in outcomes if o.ok)
    line = f"{ok} of {len(outcomes)} nodes captured -> {dest}"
    failed = _failed_names(o for o in outcomes if not o.ok)
    return f"{line}; failed: {failed}" if failed else line


def _failed_names(outcomes: Iterable[NodeOutcome]) -> str:
    return ", ".join(o.name for o in outcomes)
