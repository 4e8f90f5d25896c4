"""Wheel files on this machine: a wheelhouse's by name and version, their tags, their sha256."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from ..io import sha256_file
from .model import LockPlan
from .pages import Target, tag_ranks
from .threads import each


def target(plan: LockPlan) -> Target:
    """The snapshot's interpreter and the wheel tags it accepts, best first."""
    return Target(python_version=plan.python_version,
                  ranks=tag_ranks(plan.python_version, plan.abi, plan.platforms,
                                  plan.implementation) if plan.python_version else {})


def target_tags(plan: LockPlan) -> frozenset[Tag]:
    """Every wheel tag the snapshot's interpreter accepts (order irrelevant here)."""
    return frozenset(target(plan).ranks)


def wheel_key(name: str, version: str) -> tuple[str, str]:
    return canonicalize_name(name), canonicalize_version(version, strip_trailing_zero=False)


def scan_wheelhouse(directory: Path) -> dict[tuple[str, str], list[Path]]:
    found: dict[tuple[str, str], list[Path]] = {}
    for entry in sorted(directory.iterdir()) if directory.is_dir() else ():
        if not entry.name.endswith(".whl") or not entry.is_file():
            continue
        try:
            name, version, _build, _tags = parse_wheel_filename(entry.name)
        except InvalidWheelFilename:
            continue
        found.setdefault(wheel_key(name, str(version)), []).append(entry)
    return found


def compatible(path: Path, tags: frozenset[Tag]) -> bool:
    if not tags:
        return True
    return bool(parse_wheel_filename(path.name)[3] & tags)


def hash_many(paths: Sequence[Path]) -> dict[Path, str]:
    # hashlib releases the GIL on large buffers, so threads overlap reading and hashing.
    digests = each(sha256_file, paths, workers=min(8, (os.cpu_count() or 2) + 2),
                   name="envsnap-hash", cancel=threading.Event())
    return dict(zip(paths, digests, strict=True))
