"""The dependency graph of a captured environment: dependents and broken requirements."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
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
    if _BARE_NAME.fullmatch(text):  # PEP 508's name rule: packaging would give it no more
        return Req(text, canonicalize_name(text), None)
    req = parse_requirement(text)
    if req is None:
        return None
    return Req(text, canonicalize_name(req.name), req.specifier or None)


# A requirement that is only a name (PEP 508 "identifier", packaging's NAME token): the most
# common recorded form, split without the tokenizer.
_BARE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


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


# Graph.reach's exact counts may spend this many bytes of set work (bitsets built, and the steps
# that build them), plus REACH_PER_ITEM for each package and each requirement: linear in the
# snapshot, so a hostile graph cannot make a diff quadratic in time or memory. A real
# environment needs well under 1 MiB; the 10,000-package benchmark, asked for every package,
# about 40 MiB of its 76.
REACH_FLOOR = 64 * 2**20
REACH_PER_ITEM = 256


class Reach(dict[str, int]):
    """Graph.reach's answer, name -> how many installed packages depend on it; the counts of
    the names in ``at_least`` are lower bounds (their exact count did not fit the budget)."""

    __slots__ = ("at_least",)

    def __init__(self, counts: Mapping[str, int], at_least: frozenset[str] = frozenset()) -> None:
        super().__init__(counts)
        self.at_least = at_least


class Graph:
    """One environment's dependency graph, built once and shared by every question asked of it.

    Edges run between installed distributions by canonical name; a requirement on something not
    installed has no edge (it is a broken requirement instead), and nor does a self-requirement.
    """

    __slots__ = ("_children", "_requirers", "packages", "requires", "versions")

    def __init__(self, py: PythonEnv | None, *, like: Graph | None = None) -> None:
        """``like``: another environment's graph (the other side of a diff, a fleet's
        reference), whose parsed requirements are taken where a package's are the same."""
        packages = py.packages if py is not None else ()
        self.versions: dict[str, str] = {p.name: p.version for p in packages}
        self.packages = {p.name: p for p in packages}
        self.requires: dict[str, tuple[Req, ...]] = {}
        theirs, parsed = (like.packages, like.requires) if like is not None else ({}, {})
        for p in packages:
            other = theirs.get(p.name)
            self.requires[p.name] = (parsed[p.name]
                                     if other is not None and other.requires == p.requires
                                     else _requirements(p.requires))
        self._requirers: dict[str, set[str]] | None = None
        self._children: dict[str, tuple[str, ...]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.versions

    # -- edges ---------------------------------------------------------------------------------

    def dependencies(self, name: str) -> frozenset[str]:
        """The installed packages ``name`` requires directly."""
        versions = self.versions
        return frozenset(r.name for r in self.requires.get(name, ())
                         if r.name in versions and r.name != name)

    def children(self, name: str) -> tuple[str, ...]:
        """dependencies(name), sorted, computed once per package: for walks that visit a
        package many times (a tree, every path to a package)."""
        kids = self._children.get(name)
        if kids is None:
            kids = self._children[name] = tuple(sorted(self.dependencies(name)))
        return kids

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

    def roots(self) -> list[str]:
        """The top of the environment, as pipdeptree lists it: the packages no other installed
        package requires, by name. Then, so that every package is below one, the first by name
        of each part nothing of those reaches (a dependency cycle no outside package requires).
        """
        requirers = self.requirers()
        top = sorted(n for n in self.versions if not requirers.get(n, set()) - {n})
        seen = set(top)
        stack = list(top)
        for name in [None, *sorted(self.versions)]:
            if name is not None and name not in seen:
                top.append(name)
                seen.add(name)
                stack.append(name)
            while stack:
                for dep in self.children(stack.pop()):
                    if dep not in seen:
                        seen.add(dep)
                        stack.append(dep)
        return top

    def reach(self, names: Iterable[str], *, budget: int | None = None) -> Reach:
        """For each of ``names``: how many installed packages depend on it, directly or through
        others (itself excluded). A dependency cycle counts each member once; a package
        requiring itself is not its own dependent.

        Linear in the part of the graph above ``names``, in time and memory, plus at most
        ``budget`` bytes of set work (default: ``budget()``, itself linear in the graph). The
        counts are exact while the budget lasts, which it does for every real environment and
        for any graph whose packages are each required by one package (or one dependency cycle)
        at most: a chain, a tree. Past it a count is a lower bound, and its name is in
        ``at_least`` (docs/diff-and-check.md#dependents)."""
        return _Reach(self, budget if budget is not None else self.budget()).run(names)

    def budget(self) -> int:
        """The exact-count budget of this graph, in bytes: a fixed floor plus a share per
        package and per requirement, so it grows linearly with the snapshot."""
        edges = sum(map(len, self.requires.values()))
        return REACH_FLOOR + REACH_PER_ITEM * (len(self.versions) + edges)

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



_FEW = 16  # up to this many bits are set one shift at a time, more through a bytearray


class _Reach:
    """One Graph.reach: Tarjan's strongly connected components of the dependents of the asked
    names (one pass, no recursion), then each component's set (its members and everything that
    depends on them) counted from the components directly above it, which Tarjan closes first:

    - none: the set is its members;
    - one: its members plus that component's set, disjoint from them (nothing above can reach
      back down), so the count is a sum: a chain or a tree builds no set at all;
    - several: the union of their sets, built as bitsets (bit i: the i-th package reached)
      only here, and only while the budget lasts. Past it, its members plus the largest of
      their counts: a lower bound.
    """

    def __init__(self, graph: Graph, budget: int) -> None:
        self.edges = graph.requirers()
        self.versions = graph.versions
        self.budget = budget
        self.ids: dict[str, int] = {}  # name -> discovery order, which is also its bit
        self.up: list[Iterable[str]] = []  # id -> the packages that require it
        self.comp: list[int] = []  # id -> its component; -1 while on Tarjan's stack
        self.flat: list[int] = []  # the components' members, component after component
        self.start: list[int] = [0]  # component -> where its members begin in flat (and end)
        self.total: list[int] = []  # component -> the size of its set
        self.exact: list[bool] = []
        self.above: list[int] = []  # component -> the one component above it; -1 none, -2 several
        self.bits: dict[int, int] = {}  # component -> its set as a bitset, where one was built

    def run(self, names: Iterable[str]) -> Reach:
        asked = [n for n in dict.fromkeys(names) if n in self.versions]
        ids, up, comp, edges = self.ids, self.up, self.comp, self.edges
        low: list[int] = []  # Tarjan's low-link, by id
        stack: list[int] = []  # Tarjan's stack: ids in increasing order
        for root in asked:
            if root in ids:
                continue
            work: list[tuple[int, Iterator[str]]] = []
            child: str | None = root
            while True:
                if child is not None:  # first visit
                    node = ids[child] = len(comp)
                    users = edges.get(child, ())
                    up.append(users)
                    comp.append(-1)
                    low.append(node)
                    stack.append(node)
                    work.append((node, iter(users)))
                node, children = work[-1]
                child = None
                for name in children:
                    c = ids.get(name)
                    if c is None:
                        child = name
                        break
                    if comp[c] < 0 and c < low[node]:  # on the stack: the same component
                        low[node] = c
                if child is not None:
                    continue
                work.pop()
                if low[node] == node:  # it roots a component, complete above: close it
                    at = bisect_left(stack, node)
                    self._close(stack[at:])
                    del stack[at:]
                if not work:
                    break
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
        counts: dict[str, int] = {}
        at_least: set[str] = set()
        for name in asked:
            c = comp[ids[name]]
            counts[name] = self.total[c] - 1
            if not self.exact[c]:
                at_least.add(name)
        return Reach(counts, frozenset(at_least))

    def _close(self, members: list[int]) -> None:
        total, exact, comp, ids, up = self.total, self.exact, self.comp, self.ids, self.up
        number = len(total)
        for m in members:
            comp[m] = number
        self.flat += members
        self.start.append(len(self.flat))
        above = {comp[ids[d]] for m in members for d in up[m]}
        above.discard(number)
        size = len(members)
        if not above:
            self.above.append(-1)
            total.append(size)
            exact.append(True)
        elif len(above) == 1:
            (k,) = above
            self.above.append(k)
            total.append(size + total[k])
            exact.append(exact[k])
        else:
            self.above.append(-2)
            bits = self._union(members, above)
            if bits is None:
                total.append(size + max(total[k] for k in above))
                exact.append(False)
            else:
                self.bits[number] = bits
                total.append(bits.bit_count())
                exact.append(True)

    def _bitset(self, ids: list[int], base: int) -> int | None:
        """``base`` with the bits of ``ids`` set; None past the budget."""
        size = max(base.bit_length(), max(ids) + 1) + 7 >> 3
        if len(ids) <= _FEW:
            self.budget -= size * len(ids)
            if self.budget < 0:
                return None
            for i in ids:
                base |= 1 << i
            return base
        self.budget -= size + 8 * len(ids)
        if self.budget < 0:
            return None
        buf = bytearray(base.to_bytes(size, "little"))
        for i in ids:
            buf[i >> 3] |= 1 << (i & 7)
        return int.from_bytes(buf, "little")

    def _set(self, k: int) -> int | None:
        """Component ``k``'s set as a bitset, built along the chain of single components
        above it up to one whose bitset exists (kept: a later union may need it too)."""
        bits = self.bits.get(k)
        if bits is not None:
            return bits
        start, flat, above, exact = self.start, self.flat, self.above, self.exact
        ids: list[int] = []
        x, base = k, 0
        while True:
            if not exact[x]:
                return None
            ids += flat[start[x]:start[x + 1]]
            x = above[x]
            if x == -1:
                break
            if x in self.bits:
                base = self.bits[x]
                break
        self.budget -= 8 * len(ids)
        bits = self._bitset(ids, base)
        if bits is not None:
            self.bits[k] = bits
        return bits

    def _union(self, members: list[int], above: set[int]) -> int | None:
        acc = self._bitset(members, 0)
        for k in above:
            other = self.bits.get(k)
            if other is None:
                other = self._set(k)
            if acc is None or other is None:
                return None
            acc |= other
        if acc is None:
            return None
        # Each OR made a number no longer than the last: charged at the last one's length.
        self.budget -= (acc.bit_length() + 7 >> 3) * len(above)
        return acc if self.budget >= 0 else None
