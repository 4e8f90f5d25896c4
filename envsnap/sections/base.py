"""What a section is (its hooks) and what the engines hand the hooks: contexts and relabelling."""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .. import compat
from ..changes import Change, Finding
from ..graph import Graph
from ..remedy import envsnap_footprint
from ..snapshot import Snapshot


def field_changed(out: list[Change], *, section: str, name: str, rule: str, old: str | None,
                  new: str | None, explanation: str) -> None:
    """A field whose value differs between A and B: one ``changed`` Change, rated by its rule
    in compat/severity.toml. Equal values: nothing."""
    if old != new:
        out.append(Change(section=section, name=name, kind="changed",
                          severity=compat.severity(rule), old=old, new=new,
                          explanation=explanation))


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffContext:
    """What diff knows besides A and B."""

    graph_a: Graph | None = None  # A's dependency graph when the caller has it already (fleet)


class CheckContext:
    """The snapshot (``expected``) and this machine (``live``) as check's rules see them, and
    what several rules read, worked out once."""

    def __init__(self, expected: Snapshot, live: Snapshot, *, policy: str, host_only: bool,
                 python: str, tool: Iterable[str]) -> None:
        self.expected, self.live = expected, live
        self.policy, self.host_only = policy, host_only
        self.pip = f"{shlex.quote(python)} -m pip"  # the interpreter fix commands name
        self.tool = frozenset(tool)

    @cached_property
    def live_graph(self) -> Graph:
        return Graph(self.live.python)

    @cached_property
    def own(self) -> frozenset[str]:
        """envsnap and what it needs here: checking an environment means installing envsnap
        into it, which is not drift (remedy.envsnap_footprint)."""
        py = self.live.python
        if py is None:
            return frozenset()
        return envsnap_footprint((p.name for p in py.packages), self.live_graph.dependencies,
                                 self.tool)

    def probe_failed(self, name: str) -> bool:
        st = self.live.probes.get(name)
        return st is not None and st.status == "error"


def _runs(ctx: CheckContext) -> str | bool | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRule:
    """One named rule of `envsnap check` (the name `checked` and `skipped` list)."""

    name: str
    run: Callable[[CheckContext], list[Finding]]
    # Why it cannot run on this machine (said); False: nothing here for it to read (left out,
    # not said); None: it runs.
    skip: Callable[[CheckContext], str | bool | None] = _runs
    # Under --host-only: True runs it; a string skips it, saying why; False leaves it out.
    host_only: bool | str = True


class Relabel:
    """--anonymize for one snapshot: paths under the environment's prefix or HOME relabelled
    ($PREFIX, ~), whole components only; identifiers hashed."""

    def __init__(self, roots: list[tuple[str, str]], *, prefix: bool) -> None:
        self.roots = roots
        self.prefix = prefix  # the environment's prefix is one of the roots

    def path(self, path: str | None) -> str | None:
        """A path under a root, relabelled: whole components only (/x/home2 is not under /x/ho)."""
        if path is None:
            return None
        for root, label in self.roots:
            if path == root or path.startswith(root + "/"):
                return label + path[len(root):]
        return path

    def url(self, url: str | None) -> str | None:
        """A file:// URL's path relabelled; other URLs as they are."""
        if url is None or not url.startswith("file://"):
            return url
        path = url[len("file://"):]
        out = self.path(path)
        return out if out != path else url

    def text(self, value: str) -> str:
        """Roots inside free text (LD_LIBRARY_PATH, a probe's note): only where a whole path
        starts and a whole component ends, so /x/home2 survives a HOME of /x/ho."""
        for root, label in self.roots:
            pattern = rf"(?:(?<=file://)|(?<![^\s:;,=(\"'])){re.escape(root)}(?=[/\s:;,)\"']|$)"
            value = re.sub(pattern, label, value)  # labels are "~" and "$PREFIX": no escapes
        return value

    @staticmethod
    def hash_id(value: str | None) -> str | None:
        # A stable hash keeps "same GPU as before?" answerable without disclosing the UUID.
        if value is None:
            return None
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


Differ = Callable[[Snapshot, Snapshot, list[Change], DiffContext], None]
Lines = Callable[[Snapshot, Mapping[str, Any]], list[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One snapshot section's rules and hooks, registered once (envsnap/sections/__init__.py).

    ``name`` is the Snapshot field it reads (its probe's field). Every hook may be left out:
    diff then compares the section key by key (informational), check has no rule for it, fleet
    no cluster rule, --anonymize keeps its values as they are, and `show` prints its probe's
    status line. What a value may hold at all is the model's (snapshot.validate, sanitize.py)."""

    name: str
    # diff: append the changes from A to B (scope: the probe entry's ``host``).
    diff: Differ | None = None
    checks: tuple[CheckRule, ...] = ()
    # fleet: the severity.toml [cluster] rule a change between two nodes falls under, or None.
    cluster: Callable[[Change], str | None] | None = None
    # --anonymize: the section's value with machine-identifying values relabelled.
    anonymize: Callable[[Any, Relabel], Any] | None = None
    # `show`: its lines, from the snapshot and summary_data (this and every other section's).
    summary: Lines | None = None
    summary_data: Callable[[Snapshot], Mapping[str, Any]] | None = None
