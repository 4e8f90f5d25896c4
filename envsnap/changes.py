"""The records the sections build: a Change (diff, A -> B) and a Finding (check), with their scope."""

from __future__ import annotations

from dataclasses import dataclass

from . import probes
from .rules import ENVIRONMENT, HOST, library_scope

KINDS = ("added", "removed", "upgraded", "downgraded", "variant", "source", "changed")

_host: tuple[tuple[probes.ProbeSpec, ...], frozenset[str]] = ((), frozenset())


def host_sections() -> frozenset[str]:
    """The sections (and probe names) that describe the host: the probe registry's ``host``
    entries (docs/diff-and-check.md#scope). Every other section, a plugin's included unless its
    entry says ``host``, is the environment's: a difference nobody classified fails an
    environment gate rather than passing unseen."""
    global _host
    registry = probes.registry()
    if _host[0] is not registry:  # worked out once per registry: every Change asks
        _host = (registry, frozenset(n for s in registry if s.host
                                     for n in (s.name, s.field) if n is not None))
    return _host[1]


def scope_of(section: str, *, found_via: str | None = None) -> str:
    """``host`` or ``environment`` for a section (``python.packages``, ``nvidia.gpus``, a
    probe's name); a CUDA library copy's ``found_via`` decides for that copy."""
    if found_via is not None:
        return library_scope(found_via)
    return HOST if section.partition(".")[0] in host_sections() else ENVIRONMENT


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
    # host | environment (scope_of): whether an image built from the snapshot brings it. Left
    # out, the section decides; a CUDA library copy's and a probe failure's are given.
    scope: str = ""

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", scope_of(self.section))


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the live machine gets wrong (or cannot be told) about the snapshot."""

    rule: str  # python | probe | os | driver | gpu | glibc | cpu | requirement | package
    subject: str  # what it is about: a package name, "driver", "GPU0 NVIDIA GeForce RTX 5090"
    severity: str
    expected: str | None
    actual: str | None
    explanation: str
    fix: str | None = None
    kind: str = ""  # the group it belongs to inside its rule: missing, version, extra ...
    scope: str = ""  # host | environment (scope_of); left out, check gives its section's

    @property
    def difference(self) -> bool:
        """Whether it is a difference at all (NOT_DIFFERENCES are said, never failed)."""
        return (self.rule, self.kind) not in NOT_DIFFERENCES


# Findings that are no difference between the snapshot and this machine, said and never
# failed: envsnap itself installed to run the check, a requirement the snapshot broke too, a
# rule that could not be evaluated for lack of data.
NOT_DIFFERENCES = frozenset({("package", "tool"), ("requirement", "preexisting"),
                             ("gpu", "arch_list_unknown")})
