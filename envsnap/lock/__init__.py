"""Snapshot -> hashed lockfiles: pure renderers (requirements, pylock, conda) + one hashing edge."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import BadInputError
from ..io import sha256_file
from ..progress import Reporter
from ..snapshot import Snapshot
from .build import build_reason, builds_needed, describe_build, require_build_consent
from .conda import CondaLock, conda_skipped, render_conda, validate_conda_lock
from .hashing import ProgressFn, hash_pins
from .index import IndexRefused, IndexUnreachable
from .model import (
    BuildRefused,
    HashedLock,
    LockedFile,
    LockedPin,
    LockError,
    LockPlan,
    Pin,
    Unlockable,
)
from .plan import plan
from .pylock import pins_without_url, render_pylock, validate_pylock
from .requirements import render_requirements
from .safety import check_planned
from .settings import IndexSettings, user_settings

FORMATS = ("requirements", "pylock", "conda")

__all__ = [
    "FORMATS",
    "BuildRefused",
    "CondaLock",
    "HashedLock",
    "IndexRefused",
    "IndexSettings",
    "IndexUnreachable",
    "LockError",
    "LockPlan",
    "LockedFile",
    "LockedPin",
    "Pin",
    "ProgressFn",
    "Unlockable",
    "build_reason",
    "builds_needed",
    "check_planned",
    "describe_build",
    "hash_pins",
    "lacking",
    "lock",
    "plan",
    "render",
    "render_conda",
    "render_pylock",
    "render_requirements",
    "require_build_consent",
    "sha256_file",
    "user_settings",
    "validate_conda_lock",
    "validate_pylock",
]


def lock(pins: LockPlan, *, wheelhouse: Path | None = None, offline: bool = False,
         progress: Reporter | ProgressFn | None = None,
         settings: IndexSettings | Callable[[], IndexSettings] | None = None,
         allow_build: bool = False) -> HashedLock:
    """Hash (the edge) what plan() decided (pure): the snapshot's exact pins with their sha256.

    ``settings``: how this machine reaches indexes; by default the user's pip / uv
    configuration, read only when the network is needed. The sources the plan names are
    built (into ``wheelhouse``) only with ``allow_build``.
    """
    return hash_pins(pins, wheelhouse=wheelhouse, offline=offline, progress=progress,
                     settings=settings if settings is not None else user_settings,
                     allow_build=allow_build)


def wheel_dir_for(out_dir: Path, wheelhouse: Path | None) -> str | None:
    """The wheelhouse relative to the lock files (``wheels``, ``../wheels``), so pylock.toml's
    paths point where the wheels are; None when the two share no folder below the root (the
    relative path would then spell out the wheelhouse's absolute location)."""
    if wheelhouse is None:
        return None
    wh, out = wheelhouse.resolve(), out_dir.resolve()
    common = os.path.commonpath([wh, out])
    if common == os.path.dirname(common):
        return None
    return Path(os.path.relpath(wh, out)).as_posix()


def render(snapshot: Snapshot, hashed: HashedLock, formats: Iterable[str], *, command: str,
           wheel_dir: str | None = None) -> dict[str, str]:
    """Every requested lockfile as file name -> text; nothing is written here."""
    check_planned(snapshot, hashed)
    wanted = set(formats)
    unknown = wanted - set(FORMATS)
    if unknown:
        raise BadInputError(f"unknown lock format(s): {', '.join(sorted(unknown))}")
    digest = snapshot.digest
    files: dict[str, str] = {}
    if "requirements" in wanted and snapshot.python is not None:
        files["requirements.txt"] = render_requirements(hashed, command=command, digest=digest)
    if "pylock" in wanted and snapshot.python is not None:
        files["pylock.toml"] = render_pylock(hashed, digest=digest, command=command,
                                             wheel_dir=wheel_dir or "wheels")
    if "conda" in wanted and snapshot.conda is not None:
        files.update(render_conda(snapshot, hashed, command=command).files)
    return files


def lacking(snapshot: Snapshot, hashed: HashedLock, files: Iterable[str]
            ) -> dict[str, tuple[str, ...]]:
    """File name -> ``name==version: why`` for every package of the snapshot that file does
    not lock (pip / setuptools / wheel missing everywhere aside: a warning). A lock is whole
    or the command exits 1 naming these."""
    out: dict[str, tuple[str, ...]] = {}
    base = [f"{u.name}=={u.version}: {u.reason}" for u in hashed.unlockable]
    for name in files:
        if name == "requirements.txt":
            gaps = list(base)
        elif name == "pylock.toml":
            gaps = base + [f"{u.name}=={u.version}: {u.reason}"
                           for u in pins_without_url(hashed)[1]]
        elif name == "conda-lock.yml":
            gaps = list(dict.fromkeys((*conda_skipped(snapshot, hashed), *base)))
        else:
            continue
        if gaps:
            out[name] = tuple(gaps)
    return out
