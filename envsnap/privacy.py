"""--anonymize: drop the hostname, hash GPU identifiers, relativise paths (pure)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .snapshot import CondaEnv, CudaInfo, NvidiaInfo, Snapshot


def _hash_id(value: str | None) -> str | None:
    # A stable hash keeps "same GPU as before?" answerable without disclosing the UUID.
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def _rel(path: str | None, roots: list[tuple[str, str]]) -> str | None:
    """A path under a root, relabelled: whole components only (/x/home2 is not under /x/ho)."""
    if path is None:
        return None
    for root, label in roots:
        if path == root or path.startswith(root + "/"):
            return label + path[len(root):]
    return path


def _root(path: str | None) -> str | None:
    # "/" (a container's HOME, a prefix of /) would relabel every absolute path, and an empty
    # root every character; neither identifies the machine, so neither is a root.
    root = (path or "").rstrip("/")
    return root or None


def anonymize(snapshot: Snapshot, *, home: str | None) -> Snapshot:
    """Rewrite machine-identifying values; the result still diffs cleanly against others."""
    roots: list[tuple[str, str]] = []
    py = snapshot.python
    prefix_root, home_root = _root(py.prefix if py is not None else None), _root(home)
    if prefix_root:
        roots.append((prefix_root, "$PREFIX"))
    if home_root:
        roots.append((home_root, "~"))

    def rel(p: str | None) -> str | None:
        return _rel(p, roots)

    changes: dict[str, Any] = {}
    if py is not None:
        changes["python"] = replace(
            py,
            executable=rel(py.executable),
            prefix="$PREFIX" if prefix_root else py.prefix,
            base_prefix=rel(py.base_prefix),
            site_packages=tuple(rel(p) or p for p in py.site_packages),
            packages=tuple(
                replace(
                    p,
                    location=rel(p.location),
                    source=replace(p.source, url=_rel_url(p.source.url, rel))
                    if p.source
                    else None,
                )
                for p in py.packages
            ),
            problems=tuple(replace(pr, path=rel(pr.path) or pr.path) for pr in py.problems),
            indexes=tuple(_rel_url(u, rel) or u for u in py.indexes),
        )
    if snapshot.conda is not None:
        conda: CondaEnv = snapshot.conda
        changes["conda"] = replace(conda, prefix=rel(conda.prefix) or conda.prefix)
    if snapshot.nvidia is not None:
        nv: NvidiaInfo = snapshot.nvidia
        changes["nvidia"] = replace(
            nv,
            gpus=tuple(
                replace(g, uuid=_hash_id(g.uuid), pci_bus_id=None) for g in nv.gpus
            ),
        )
    if snapshot.cuda is not None:
        cu: CudaInfo = snapshot.cuda
        changes["cuda"] = replace(
            cu,
            toolkit_path=rel(cu.toolkit_path),
            libraries=tuple(replace(lib, path=rel(lib.path) or lib.path) for lib in cu.libraries),
            declared={k: _rel_text(v, roots) for k, v in cu.declared.items()},
        )
    if snapshot.frameworks:
        changes["frameworks"] = tuple(
            replace(fw, found_via=_rel_text(fw.found_via, roots),
                    bindings_via=_rel_text(fw.bindings_via, roots) if fw.bindings_via else None,
                    bindings=tuple(replace(
                        b, path=rel(b.path), loaded=rel(b.loaded),
                        found_by=rel(b.found_by), also_loaded=tuple(rel(p) or p for p in b.also_loaded))
                        for b in fw.bindings))
            for fw in snapshot.frameworks)
    changes["probes"] = {
        name: replace(st, found_via=_rel_text(st.found_via, roots) if st.found_via else None,
                      error=_rel_text(st.error, roots) if st.error else None)
        for name, st in snapshot.probes.items()
    }
    if snapshot.env:
        changes["env"] = {k: _rel_text(v, roots) for k, v in snapshot.env.items()}
    return replace(snapshot, **changes)


def _rel_url(url: str | None, rel: Callable[[str | None], str | None]) -> str | None:
    if url is None or not url.startswith("file://"):
        return url
    path = url[len("file://"):]
    out = rel(path)
    return out if out != path else url


def _rel_text(value: str, roots: list[tuple[str, str]]) -> str:
    """Roots inside free text (LD_LIBRARY_PATH, a probe's note): only where a whole path starts
    and a whole component ends, so /x/home2 survives a HOME of /x/ho."""
    for root, label in roots:
        pattern = rf"(?:(?<=file://)|(?<![^\s:;,=(\"'])){re.escape(root)}(?=[/\s:;,)\"']|$)"
        value = re.sub(pattern, label, value)  # labels are "~" and "$PREFIX": no escapes
    return value
