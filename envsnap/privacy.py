"""--anonymize: drop the hostname, hash GPU identifiers, relativise paths (pure): each section's hook."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import sections
from .sections.base import Relabel
from .snapshot import Snapshot


def _root(path: str | None) -> str | None:
    # "/" (a container's HOME, a prefix of /) would relabel every absolute path, and an empty
    # root every character; neither identifies the machine, so neither is a root.
    root = (path or "").rstrip("/")
    return root or None


def anonymize(snapshot: Snapshot, *, home: str | None) -> Snapshot:
    """Rewrite machine-identifying values; the result still diffs cleanly against others."""
    roots: list[tuple[str, str]] = []
    prefix_root = _root(snapshot.python.prefix if snapshot.python is not None else None)
    home_root = _root(home)
    if prefix_root:
        roots.append((prefix_root, "$PREFIX"))
    if home_root:
        roots.append((home_root, "~"))
    rel = Relabel(roots, prefix=prefix_root is not None)
    changes: dict[str, Any] = {}
    for section in sections.registry():
        value = getattr(snapshot, section.name, None)
        if section.anonymize is not None and value:
            changes[section.name] = section.anonymize(value, rel)
    changes["probes"] = {
        name: replace(st, found_via=rel.text(st.found_via) if st.found_via else None,
                      error=rel.text(st.error) if st.error else None)
        for name, st in snapshot.probes.items()
    }
    return replace(snapshot, **changes)
