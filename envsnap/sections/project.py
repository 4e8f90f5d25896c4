"""The project section: the git state of the code that ran (diff, show)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..changes import Change
from ..snapshot import Snapshot
from .base import DiffContext, Section, field_changed


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    pa, pb = a.project, b.project
    if pa is None or pb is None:
        return
    fields: tuple[tuple[str, Callable[[object], str | None]], ...] = (
        ("commit", lambda v: str(v)[:12] if v else None),
        ("branch", lambda v: str(v) if v else None),
        ("dirty", lambda v: None if v is None else str(v).lower()),
    )
    for attr, fmt in fields:
        field_changed(out, section="project", name=attr, rule="project",
                      old=fmt(getattr(pa, attr)), new=fmt(getattr(pb, attr)),
                      explanation="The project's source differs: results may differ because "
                                  "the code did.")


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not (s.project and s.project.commit):
        return []
    dirty = " (dirty)" if s.project.dirty else ""
    return [f"project   {s.project.commit[:12]}{dirty} {s.project.remote or ''}".rstrip()]


SECTION = Section(name="project", diff=_diff, summary=_summary)
