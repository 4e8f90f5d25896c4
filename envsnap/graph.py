"""The dependency graph of a captured environment: dependents and broken requirements."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .snapshot import PythonEnv


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenRequirement:
    """One requirement of an installed package that the environment does not satisfy.

    ``installed`` is None when the required package is missing altogether."""

    dependent: str  # canonical name of the package that has the requirement
    dependent_version: str
    requirement: str  # as recorded: "rich<14", "requests[socks]>=2"
    required: str  # canonical name of the required package
    installed: str | None

    @property
    def missing(self) -> bool:
        return self.installed is None

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies it across two snapshots: who requires what, in which words."""
        return (self.dependent, self.required, self.requirement)

    def sentence(self) -> str:
        """pip check's wording, so the two can be read side by side."""
        if self.installed is None:
            return (f"{self.dependent} {self.dependent_version} requires {self.required}, "
                    "which is not installed.")
        return (f"{self.dependent} {self.dependent_version} has requirement {self.requirement}, "
                f"but you have {self.required} {self.installed}.")


@lru_cache(maxsize=65536)
def parse_requirement(text: str) -> Requirement | None:
    """A requirement string, parsed once by packaging (the same strings repeat across snapshots
    and across the nodes of a fleet). None for one packaging cannot read."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


class Req(NamedTuple):
    """A recorded requirement split into what the graph needs: the canonical name it names and
    its specifier (None when it accepts any version). A tuple: tens of thousands are made."""

    text: str
    name: str
    specifier: SpecifierSet | None


@lru_cache(maxsize=65536)
def requirement(text: str) -> Req | None:
    """A recorded requirement string as (name, specifier), parsed by packaging; None for one
    that packaging cannot read (pip check skips those too). Cached: the same strings repeat
    across packages, across the two sides of a diff and across the nodes of a fleet."""
    req = parse_requirement(text)
    if req is None:
        return None
    return Req(text, canonicalize_name(req.name), req.specifier or None)


@lru_cache(maxsize=65536)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=65536)
def _requirements(texts: tuple[str, ...]) -> tuple[Req, ...]:
    # Keyed by the whole tuple: most packages' requires are identical in A and B, in every node
    # of a fleet, and between the two sides of a check.
    return tuple(r for r in map(requirement, texts) if r is not None)


def satisfied(req: Req, installed: str | None) -> bool:
    """Whether ``installed`` (a version string, or None for not installed) meets ``req`` as
    pip check judges it: pre-releases allowed, an unparseable version not judged."""
    if installed is None:
        return False
    if req.specifier is None:
        return True
    version = _version(installed)
    return version is None or req.specifier.contains(version, prereleases=True)


class Graph:
    """One environment's dependency graph, built once and shared by every question asked of it.

    Edges run between installed distributions by canonical name; a requirement on something not
    installed has no edge (it is a broken requirement instead), and nor does a self-requirement.
    """

    __slots__ = ("_requirers", "packages", "requires", "versions")

    def __init__(self, py: PythonEnv | None) -> None:
        packages = py.packages if py is not None else ()
        self.versions: dict[str, str] = {p.name: p.version for p in packages}
        self.requires: dict[str, tuple[Req, ...]] = {p.name: _requirements(p.requires)
                                                     for p in packages}
        self.packages = {p.name: p for p in packages}
        self._requirers: dict[str, set[str]] | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.versions

    # -- edges ---------------------------------------------------------------------------------

    def dependencies(self, name: str) -> frozenset[str]:
        """The installed packages ``name`` requires directly."""
        versions = self.versions
        return frozenset(r.name for r in self.requires.get(name, ())
                         if r.name in versions and r.name != name)

    def requirers(self) -> dict[str, set[str]]:
        """Name -> the installed packages with a requirement on that name, whether or not
        anything of that name is installed (a package requiring itself included). Built once."""
        if self._requirers is None:
            out: defaultdict[str, set[str]] = defaultdict(set)
            for n, reqs in self.requires.items():
                for r in reqs:
                    out[r.name].add(n)
            self._requirers = dict(out)
        return self._requirers

    def dependents(self, name: str) -> frozenset[str]:
        """The installed packages that require ``name`` directly (empty when ``name`` is not
        installed: then nothing depends on it, it is a broken requirement)."""
        if name not in self.versions:
            return frozenset()
        return frozenset(self.requirers().get(name, ())) - {name}

    def dependents_map(self) -> dict[str, frozenset[str]]:
        return {k: frozenset(v) - {k} for k, v in self.requirers().items()
                if k in self.versions and v - {k}}

    def reach(self, names: Iterable[str]) -> dict[str, int]:
        """For each of ``names``: how many installed packages depend on it, directly or through
        others (itself excluded).

        One pass over the part of the graph above ``names``, however many names are asked for:
        Tarjan's strongly connected components (a dependency cycle counts each member once; a
        package requiring itself is not its own dependent),
        then each component's set of dependents as a bitset, built from the components above it.
        """
        names = list(names)
        edges = self.requirers()
        index: dict[str, int] = {}  # DFS order; also the node's bit
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        component: dict[str, int] = {}  # node -> its component's number
        closed: list[int] = []  # component -> bitset of its members and all their dependents
        counts: dict[str, int] = {}
        for root in names:
            if root in index or root not in self.versions:
                continue
            work: list[tuple[str, Iterable[str]]] = [(root, iter(edges.get(root, ())))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                advanced = False
                for child in children:
                    if child not in index:
                        index[child] = low[child] = len(index)
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(edges.get(child, ()))))
                        advanced = True
                        break
                    if child in on_stack:  # includes node itself: a self-requirement
                        low[node] = min(low[node], index[child])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] != index[node]:
                    continue
                # node roots a component: every component it reaches is already complete.
                members: list[str] = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    members.append(m)
                    if m == node:
                        break
                number = len(closed)
                bits = 0
                for m in members:
                    component[m] = number
                    bits |= 1 << index[m]
                # Itself and everything above it; a component's members reach each other.
                for m in members:
                    for d in edges.get(m, ()):
                        c = component[d]
                        if c != number:
                            bits |= closed[c]
                closed.append(bits)
        for name in names:
            if name in component:
                counts[name] = closed[component[name]].bit_count() - 1
        return counts

    def transitive_dependents(self, name: str) -> frozenset[str]:
        """Every installed package that depends on ``name``, directly or not (not ``name``)."""
        return transitive(name, self.dependents_map())

    # -- requirements --------------------------------------------------------------------------

    def evaluate(self, dependent: str, req: Req) -> BrokenRequirement | None:
        have = self.versions.get(req.name)
        if satisfied(req, have):
            return None
        return BrokenRequirement(dependent=dependent, dependent_version=self.versions[dependent],
                                 requirement=req.text, required=req.name, installed=have)

    def broken(self) -> tuple[BrokenRequirement, ...]:
        """Every broken requirement of the environment (what ``pip check`` reports)."""
        return self.broken_among(self.requires)

    def broken_among(self, dependents: Iterable[str], required: Iterable[str] = ()
                     ) -> tuple[BrokenRequirement, ...]:
        """The broken requirements held by one of ``dependents`` or naming one of ``required``:
        what a change to those packages can have broken or fixed, without judging the rest."""
        who = set(dependents)
        out = [b for name in who for req in self.requires.get(name, ())
               if (b := self.evaluate(name, req)) is not None]
        requirers = self.requirers()
        for target in set(required):
            for name in requirers.get(target, ()):
                if name in who:
                    continue  # judged above
                out += [b for req in self.requires[name]
                        if req.name == target and (b := self.evaluate(name, req)) is not None]
        return tuple(sorted(out, key=lambda b: b.key))


def broken_requirements(py: PythonEnv | None) -> tuple[BrokenRequirement, ...]:
    """What ``pip check`` reports for this environment, computed from the snapshot alone.

    pip's rule (pip/_internal/operations/check.py, check_package_set): each requirement of
    each installed distribution (markers already evaluated for the captured interpreter at
    capture time) is missing when nothing of that name is installed, and conflicting when the
    installed version is outside its specifier, pre-releases allowed. A version packaging
    cannot parse is not judged, as pip does not judge it.
    """
    return Graph(py).broken()


def dependents(py: PythonEnv | None) -> dict[str, frozenset[str]]:
    """Installed package -> the installed packages that require it directly."""
    return Graph(py).dependents_map()


def transitive(start: str, edges: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Everything reachable from ``start`` along ``edges`` (start itself excluded)."""
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        name = stack.pop()
        if name in seen or name == start:
            continue
        seen.add(name)
        stack.extend(edges.get(name, ()))
    return frozenset(seen)

