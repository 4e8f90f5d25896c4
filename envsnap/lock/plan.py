"""Snapshot -> LockPlan: which pins to hash, from where, and which cannot be locked (pure)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from packaging.utils import canonicalize_name

from .. import rules
from ..redact import REDACTED
from ..snapshot import Package, Snapshot
from .model import PYPI_SIMPLE, LockPlan, Pin
from .safety import check_snapshot


def _usable_index(url: str) -> bool:
    # file:// indexes are paths of the capturing machine and redacted ones cannot be fetched.
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme in ("http", "https") and REDACTED not in url


def label_index(version: str, configured: tuple[str, ...]) -> str | None:
    """The index a local-label version comes from: PyTorch's for cuXYZ/cpu/rocm, else a
    configured non-PyPI index (where such builds are published), else None."""
    label = rules.local_label(version)
    if label is None:
        return None
    index = rules.pytorch_index(label)
    if index is not None:
        return index
    for url in configured:
        if "pypi.org" not in url:
            return url
    return None


def _file_path(url: str) -> str | None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "file":
        return None
    return urllib.parse.unquote(parsed.path)


def _pin(pkg: Package, configured: tuple[str, ...]) -> Pin:
    # Normalised here so wheelhouse and index hashing look names up the same way (a Snapshot
    # built in code may carry "PyYAML").
    name, version = canonicalize_name(pkg.name), pkg.version
    src = pkg.source
    if src is None or (src.kind == "url" and src.url is None):
        return Pin(name=name, version=version, kind="index",
                   index=label_index(pkg.version, configured))
    if src.kind == "vcs" and src.url:
        ref = src.vcs_reference() if src.commit else None
        return Pin(name=name, version=version, kind="build", build_from=ref, source_kind="vcs")
    if src.url and src.url.startswith(("http://", "https://")):
        sha = None
        if src.hash and src.hash.startswith("sha256="):
            sha = src.hash.partition("=")[2]
        if sha and REDACTED not in src.url:
            return Pin(name=name, version=version, kind="direct", url=src.url, sha256=sha)
        # A remote archive without a hash (or behind credentials): fetch it into a wheelhouse.
        return Pin(name=name, version=version, kind="build", build_from=src.url,
                   source_kind="url archive")
    path = _file_path(src.url) if src.url else None
    kind = {"editable": "editable folder", "dir": "local folder", "directory": "local folder",
            "archive": "local archive"}.get(src.kind, f"{src.kind} source")
    return Pin(name=name, version=version, kind="build", build_from=path, source_kind=kind)


def _platforms(snapshot: Snapshot) -> tuple[str, ...]:
    """Wheel platform tags the snapshot's interpreter accepts.

    The installed wheels' own tags prove what this environment took; on Linux every older
    glibc level is accepted too (PEP 600), up to the newest seen or the captured glibc.
    A manylinux tag or glibc outside the plausible range (rules.glibc_version) is no evidence
    and is dropped: the range of tags written is bounded whatever the snapshot says.
    """
    py = snapshot.python
    assert py is not None
    found: set[str] = set()
    for pkg in py.packages:
        for tag in pkg.tags:
            plat = tag.rsplit("-", 1)[-1]
            if plat != "any":
                found.update(plat.split("."))
    if py.platform_tag and py.platform_tag != "any":
        found.add(py.platform_tag)
    archs: set[str] = set()
    glibc = rules.MANYLINUX_FLOOR
    kept: set[str] = set()
    for plat in found:
        linux = rules.parse_manylinux(plat)
        if linux is not None:
            archs.add(linux.arch)
            if linux.glibc[0] == glibc[0]:  # PEP 600 levels exist for glibc 2.x only
                glibc = max(glibc, linux.glibc)
        elif plat.startswith("manylinux"):
            continue  # an implausible manylinux tag: not passed on to pip either
        elif plat.startswith("linux_"):
            archs.add(plat[len("linux_"):])
        kept.add(plat)
    captured = rules.glibc_version(snapshot.os.glibc if snapshot.os is not None else None)
    if captured is not None and captured[0] == glibc[0]:
        glibc = max(glibc, captured)
    for arch in archs:
        kept.add(f"linux_{arch}")
        kept.update(rules.manylinux_platforms(arch, glibc))
    return tuple(sorted(kept))


def plan(snapshot: Snapshot, *, index_url: str | None = None,
         extra_index_urls: Sequence[str] = (), use_snapshot_indexes: bool = False) -> LockPlan:
    """Decide how every Python package of the snapshot is locked; no resolution, no I/O.

    The lockfile names PyPI or, when given, ``index_url`` / ``extra_index_urls``: indexes the
    user named by flag, already without credentials (settings.portable_index); then, with
    ``use_snapshot_indexes``, the indexes the snapshot records; then the indexes of local-label
    builds. A snapshot is someone else's data: its indexes are otherwise only shown.
    """
    check_snapshot(snapshot)
    py = snapshot.python
    if py is None:
        return LockPlan(python_version="", abi=None, platforms=(),
                        index_url=index_url or PYPI_SIMPLE, extra_index_urls=(), pins=(),
                        snapshot=snapshot)
    recorded = tuple(dict.fromkeys(u.rstrip("/") for u in py.indexes if _usable_index(u)
                                   and u.rstrip("/") != PYPI_SIMPLE))
    trusted = recorded if use_snapshot_indexes else ()
    index_url = index_url or PYPI_SIMPLE
    configured = tuple(u for u in dict.fromkeys((index_url, *extra_index_urls, *trusted))
                       if u != PYPI_SIMPLE)
    pins: list[Pin] = []
    conda_owned: list[str] = []
    for pkg in sorted(py.packages, key=lambda p: p.name):
        if pkg.owner == "conda":
            conda_owned.append(pkg.name)
            continue
        pins.append(_pin(pkg, configured))
    extras: list[str] = [u for u in dict.fromkeys((*extra_index_urls, *trusted))
                         if u != index_url]
    for p in pins:
        if p.index and p.index not in extras and p.index != index_url:
            extras.append(p.index)
    return LockPlan(
        python_version=py.version,
        abi=py.abi_tag,
        platforms=_platforms(snapshot),
        index_url=index_url,
        extra_index_urls=tuple(extras),
        pins=tuple(pins),
        conda_owned=tuple(conda_owned),
        implementation=py.implementation or "cpython",
        installed_tags={canonicalize_name(p.name): tuple(p.tags) for p in py.packages if p.tags},
        snapshot_indexes=recorded,
        use_snapshot_indexes=use_snapshot_indexes,
        snapshot=snapshot,
    )
