"""The dependency graph of a captured environment: dependents and broken requirements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from packaging.requirements import InvalidRequirement, Requirement
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

    def sentence(self) -> str:
        """pip check's wording, so the two can be read side by side."""
        if self.installed is None:
            return (f"{self.dependent} {self.dependent_version} requires {self.required}, "
                    "which is not installed.")
        return (f"{self.dependent} {self.dependent_version} has requirement {self.requirement}, "
                f"but you have {self.required} {self.installed}.")


@lru_cache(maxsize=65536)
def parse_requirement(text: str) -> Requirement | None:
    """A recorded requirement string, parsed once (the same strings repeat across snapshots
    and across the nodes of a fleet). None for one packaging cannot read."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


@lru_cache(maxsize=65536)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def broken_requirements(py: PythonEnv | None) -> tuple[BrokenRequirement, ...]:
    """What ``pip check`` reports for this environment, computed from the snapshot alone.

    pip's rule (pip/_internal/operations/check.py, check_package_set): each requirement of
    each installed distribution (markers already evaluated for the captured interpreter at
    capture time) is missing when nothing of that name is installed, and conflicting when the
    installed version is outside its specifier, pre-releases allowed. A version packaging
    cannot parse is not judged, as pip does not judge it.
    """
    if py is None:
        return ()
    installed = {p.name: p.version for p in py.packages}
    out: list[BrokenRequirement] = []
    for pkg in py.packages:
        for text in pkg.requires:
            req = parse_requirement(text)
            if req is None:
                continue
            name = canonicalize_name(req.name)
            have = installed.get(name)
            if have is None:
                out.append(BrokenRequirement(dependent=pkg.name, dependent_version=pkg.version,
                                             requirement=text, required=name, installed=None))
                continue
            if not req.specifier:
                continue
            version = _version(have)
            if version is not None and not req.specifier.contains(version, prereleases=True):
                out.append(BrokenRequirement(dependent=pkg.name, dependent_version=pkg.version,
                                             requirement=text, required=name, installed=have))
    return tuple(sorted(out, key=lambda b: (b.dependent, b.required, b.requirement)))


def requirement_names(requires: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for text in requires:
        req = parse_requirement(text)
        if req is not None:
            names.add(canonicalize_name(req.name))
    return names


def dependents(py: PythonEnv | None) -> dict[str, frozenset[str]]:
    """Installed package -> the installed packages that require it directly."""
    if py is None:
        return {}
    installed = {p.name for p in py.packages}
    out: dict[str, set[str]] = {}
    for pkg in py.packages:
        for name in requirement_names(pkg.requires):
            if name in installed and name != pkg.name:
                out.setdefault(name, set()).add(pkg.name)
    return {k: frozenset(v) for k, v in out.items()}


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


def dependencies(py: PythonEnv | None) -> dict[str, frozenset[str]]:
    """Installed package -> the installed packages it requires directly."""
    if py is None:
        return {}
    installed = {p.name for p in py.packages}
    return {p.name: frozenset(n for n in requirement_names(p.requires) if n in installed and n != p.name)
            for p in py.packages}
