"""The lock's model: Pin and LockPlan (what to lock), HashedLock (what was locked), and its errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .. import rules
from ..errors import BadInputError, EnvsnapError

if TYPE_CHECKING:
    from ..snapshot import Snapshot

PYPI_SIMPLE = "https://pypi.org/simple"

# Installer tooling goes first: pip-tools learnt to include it (--allow-unsafe, PR #814) and a
# venv's ensurepip copies differ from the snapshot's.
TOOLS = ("pip", "setuptools", "wheel")

# A sha256 as lockfiles, indexes (PEP 503 / 691) and conda records write it: 64 hex digits.
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    """True for a sha256 hex digest in lower case (the form every file envsnap writes holds)."""
    return _SHA256.fullmatch(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    """One distribution to lock.

    kind: ``index`` (name==version from an index or a wheelhouse), ``direct`` (a remote archive
    whose PEP 610 hash is known), ``build`` (editable / local directory / VCS / local archive /
    remote archive without a hash: only a wheelhouse can hold it, and only --allow-build
    builds it).
    """

    name: str
    version: str
    kind: str
    index: str | None = None  # extra index serving a local-label version
    url: str | None = None  # direct: the archive URL (already redacted by capture)
    sha256: str | None = None  # direct: PEP 610 archive hash
    build_from: str | None = None  # build: local path or VCS URL; used by the hashing edge only
    source_kind: str | None = None  # build: the snapshot's source kind (vcs, url, directory ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockPlan:
    python_version: str  # "3.11.7"
    abi: str | None  # "cp311"
    platforms: tuple[str, ...]  # wheel platform tags seen in the environment
    index_url: str
    extra_index_urls: tuple[str, ...]
    pins: tuple[Pin, ...]
    conda_owned: tuple[str, ...] = ()  # dists a conda record owns: locked by the conda lock
    implementation: str = "cpython"
    # name -> the WHEEL tags of the wheel the snapshot's environment installed: the file to
    # lock is the one built with them, when the index lists it.
    installed_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The http(s) indexes the snapshot records (PyPI aside): someone else's configuration,
    # shown and never contacted unless the user passes --use-snapshot-indexes.
    snapshot_indexes: tuple[str, ...] = ()
    use_snapshot_indexes: bool = False
    # The snapshot plan() checked (lock.safety.check_snapshot), so that the renderers given
    # this very object do not check it again: each command checks once. None in a plan built
    # by hand; the renderers then check the snapshot they are given.
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)

    @property
    def python_minor(self) -> str:
        return rules.major_minor(self.python_version) or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedFile:
    filename: str
    sha256: str
    size: int | None = None
    # Where the index the lockfile names serves it; None for wheelhouse files and for files
    # found through a mirror or find-links location (never written: machine-local).
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPin:
    name: str
    version: str
    origin: str  # index | wheelhouse | built | direct
    files: tuple[LockedFile, ...]
    index: str | None = None  # the index the lockfile names for it, when not the primary
    url: str | None = None  # direct URL requirement (name @ url)
    via: str | None = None  # the mirror or find-links location it was found through (shown)
    # What ``via`` is, in words a lockfile may hold (never the URL or path itself):
    # "a find-links location of the pip configuration"; None when found where the lock says.
    via_note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unlockable:
    name: str
    version: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HashedLock:
    """A LockPlan with every pin's hashes, or the reason it could not be locked."""

    plan: LockPlan
    pins: tuple[LockedPin, ...]
    unlockable: tuple[Unlockable, ...]
    policy: str  # "wheelhouse" (every compatible wheel found there) | "index" (pip's choice)
    # pip / setuptools / wheel that no source has: a warning, not a failure (a new venv brings
    # its own installer); every other package missing is in ``unlockable``.
    tools_missing: tuple[Unlockable, ...] = ()

    def subset(self, names: Iterable[str]) -> HashedLock:
        keep = set(names)
        return replace(self, pins=tuple(p for p in self.pins if p.name in keep),
                       unlockable=tuple(u for u in self.unlockable if u.name in keep),
                       tools_missing=tuple(u for u in self.tools_missing if u.name in keep))


class LockError(EnvsnapError):
    """pip could not fetch or build what the lock needs."""


class BuildRefused(BadInputError):
    """A snapshot names sources this run would build on this machine, without consent."""

    def __init__(self, pins: Sequence[Pin]) -> None:
        self.pins = tuple(pins)
        names = ", ".join(f"{p.name} {p.version}" for p in self.pins)
        super().__init__(
            f"not building {len(self.pins)} source(s) the snapshot names ({names}): building "
            "runs the source's own code (its build backend) on this machine, and a snapshot is "
            "someone else's data. Review them, then pass --allow-build (or set allow-build = "
            "true in [tool.envsnap]); nothing was built, fetched or installed")
