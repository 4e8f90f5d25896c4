"""One module per snapshot section, each registered once; the engines walk them in reading order."""

from __future__ import annotations

from .. import probes
from . import conda, cpu, cuda, env_vars, frameworks, nvidia, osinfo, project, python
from .base import Section

# One entry per section, in the probe registry's reading order (envsnap/probes/__init__.py;
# tests/unit/sections/test_sections.py holds them to it). A plugin adds its entry here, beside its
# ProbeSpec and its Snapshot field; a probe's section without an entry is compared key by key.
REGISTRY: tuple[Section, ...] = (
    python.SECTION,
    conda.SECTION,
    osinfo.SECTION,
    cpu.SECTION,
    nvidia.SECTION,
    cuda.SECTION,
    frameworks.SECTION,
    env_vars.SECTION,
    project.SECTION,
)

# Worked out again only when either registry is replaced (tests and plugins do): fleet asks
# for the section of every change of every node.
_cache: tuple[object, object, tuple[Section, ...], dict[str, Section]] = (None, None, (), {})


def _current() -> tuple[tuple[Section, ...], dict[str, Section]]:
    global _cache
    if _cache[0] is not REGISTRY or _cache[1] is not probes.registry():
        by_name = {s.name: s for s in REGISTRY}
        ordered = tuple(by_name.get(f) or Section(name=f) for f in probes.fields())
        _cache = (REGISTRY, probes.registry(), ordered, {s.name: s for s in ordered})
    return _cache[2], _cache[3]


def registry() -> tuple[Section, ...]:
    """The section of every probe field, in reading order (probes.fields()): its entry in
    REGISTRY, or a bare Section (no rules) for a field without one."""
    return _current()[0]


def of(section: str) -> Section | None:
    """The section a change's section belongs to (``python.packages`` -> python), or None."""
    return _current()[1].get(section.partition(".")[0])
