"""A one-screen summary of a snapshot (pure: data in, text out): each section's lines, in order."""

from __future__ import annotations

from typing import Any

from . import probes, sections
from .snapshot import Snapshot
from .text import printable


def summary_data(s: Snapshot) -> dict[str, Any]:
    """The summary as data (`show --json`): the snapshot's identity, then each section's."""
    data: dict[str, Any] = {"schema": s.schema, "digest": s.digest,
                            "captured_at": s.meta.captured_at, "hostname": s.meta.hostname}
    for section in sections.registry():
        if section.summary_data is not None:
            data.update(section.summary_data(s))
    data["probe_errors"] = {n: st.error for n, st in s.probes.items() if st.status == "error"}
    return data


def _plain_lines(s: Snapshot, name: str) -> list[str]:
    """A probe without lines of its own: how it ended and how it found what it found."""
    st = s.probes.get(name)
    if st is None or st.status == "error":
        return []  # not run, or listed with the failures below
    return [f"{name:<9} {st.status}" + (f" ({st.found_via})" if st.found_via else "")]


def summarize(s: Snapshot) -> str:
    """The summary as text for a terminal: every line's captured text (host name, GPU names,
    paths, probe errors) with its control characters escaped."""
    d = summary_data(s)
    lines = [f"snapshot {d['digest'][:19]}  captured {d['captured_at'] or '?'}"
             + (f" on {d['hostname']}" if d["hostname"] else "")]
    for spec in probes.registry():
        section = sections.of(spec.field or spec.name)
        render = section.summary if section is not None else None
        lines += render(s, d) if render is not None else _plain_lines(s, spec.name)
    for name, err in d["probe_errors"].items():
        lines.append(f"! probe {name} failed: {err}")
    return "\n".join(map(printable, lines))
