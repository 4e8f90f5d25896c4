"""Snapshot -> hashed lockfiles: pure renderers (requirements, pylock, conda) + one hashing edge."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import BadInputError
from ..snapshot import Snapshot
from .conda import CondaLock, render_conda, validate_conda_lock
from .hashing import (
    HashedLock,
    LockedFile,
    LockedPin,
    LockError,
    ProgressFn,
    Unlockable,
    _silent,
    hash_pins,
    sha256_file,
)
from .plan import LockPlan, Pin, plan
from .pylock import render_pylock, validate_pylock
from .requirements import render_requirements

FORMATS = ("requirements", "pylock", "conda")

__all__ = [
    "FORMATS",
    "CondaLock",
    "HashedLock",
    "LockError",
    "LockPlan",
    "LockedFile",
    "LockedPin",
    "Pin",
    "ProgressFn",
    "Unlockable",
    "hash_pins",
    "lock",
    "plan",
    "render",
    "render_conda",
    "render_pylock",
    "render_requirements",
    "sha256_file",
    "validate_conda_lock",
    "validate_pylock",
]


def lock(snapshot: Snapshot, *, wheelhouse: Path | None = None, offline: bool = False,
         progress: ProgressFn = _silent) -> HashedLock:
    """Plan (pure) then hash (the edge): the snapshot's exact pins with their sha256."""
    return hash_pins(plan(snapshot), wheelhouse=wheelhouse, offline=offline, progress=progress)


def wheel_dir_for(out_dir: Path, wheelhouse: Path | None) -> str | None:
    """The wheelhouse relative to the lock files, when it lies inside their folder (so no path
    of this machine is ever written); None otherwise."""
    if wheelhouse is None:
        return None
    rel = os.path.relpath(wheelhouse.resolve(), out_dir.resolve())
    if rel.startswith("..") or os.path.isabs(rel):
        return None
    return Path(rel).as_posix()


def render(snapshot: Snapshot, hashed: HashedLock, formats: Iterable[str], *, command: str,
           wheel_dir: str | None = None) -> dict[str, str]:
    """Every requested lockfile as file name -> text; nothing is written here."""
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
