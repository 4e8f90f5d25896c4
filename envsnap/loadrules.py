"""Predicates over the recorded bindings (pure): what diff, check and fleet ask of "which copy loads"."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .snapshot import Binding, Framework, LibraryCopy

# The frameworks section (envsnap/sections/frameworks.py) turns these into diff's changes,
# check's findings and fleet's cluster rule; their severities are severity.toml's binding_*.


def _release(version: str) -> tuple[int, ...]:
    m = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(p) for p in m.group(0).split(".")) if m else ()


def versions_disagree(label: str | None, from_file: str | None) -> bool:
    """Two versions name different releases, compared on the parts both carry: a version call
    says 13.0 for cudart 13.0.96, cudnnGetVersion 9.24.0 for the wheel's 9.24.0.43, NCCL's
    string adds ``+cuda13.3``. Either one unknown: no disagreement."""
    if not label or not from_file:
        return False
    a, b = _release(label), _release(from_file)
    n = min(len(a), len(b))
    return n > 0 and a[:n] != b[:n]


# ---------------------------------------------------------------------------------------------
# diff: the bound copy of a SONAME changed (binding_changed, major)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingChange:
    soname: str
    what: str  # path | version | build_id | added | removed
    before: str | None
    after: str | None


def changed_bindings(before: Framework, after: Framework) -> list[BindingChange]:
    """Every SONAME whose bound copy differs between two captures of one framework: another
    file, another version, another build (same path and version, different build-id: a
    rebuilt or overwritten file), or a SONAME bound on one side only."""
    old = {b.soname: b for b in before.bindings}
    new = {b.soname: b for b in after.bindings}
    out = []
    for soname in sorted(old.keys() | new.keys()):
        a, b = old.get(soname), new.get(soname)
        if a is None or b is None:
            out.append(BindingChange(soname=soname, what="added" if a is None else "removed",
                                     before=a.path if a else None, after=b.path if b else None))
            continue
        if a.path != b.path:
            out.append(BindingChange(soname=soname, what="path", before=a.path, after=b.path))
        if a.version and b.version and a.version != b.version:
            out.append(BindingChange(soname=soname, what="version", before=a.version,
                                     after=b.version))
        if a.build_id and b.build_id and a.build_id != b.build_id:
            out.append(BindingChange(soname=soname, what="build_id", before=a.build_id,
                                     after=b.build_id))
    return out


# ---------------------------------------------------------------------------------------------
# check: the bound version is not the one the framework pins (binding_pin, critical)


@dataclass(frozen=True, slots=True, kw_only=True)
class PinMismatch:
    soname: str
    requirement: str  # "nvidia-cudnn-cu13==9.24.0.43"
    bound_version: str
    bound_path: str | None


def exact_pins(requires: Sequence[str]) -> dict[str, str]:
    """The distributions a framework pins to one version (``==X``, ``===X``), by canonical
    name: ``nvidia-cudnn-cu13==9.24.0.43`` -> {"nvidia-cudnn-cu13": "9.24.0.43"}."""
    pins: dict[str, str] = {}
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            pins[canonicalize_name(req.name)] = specs[0].version
    return pins


def pin_mismatches(framework: Framework, requires: Sequence[str],
                   copies: Sequence[LibraryCopy]) -> list[PinMismatch]:
    """Each SONAME the framework binds at a version other than the one its own requirements
    pin for the wheel that ships that SONAME: torch 2.14.1 requires
    ``nvidia-cudnn-cu13==9.24.0.43``, and LD_PRELOAD makes it bind cuDNN 9.10."""
    pins = exact_pins(requires)
    shipped_by: dict[str, str] = {}  # soname -> the pinned wheel that ships a copy of it
    for copy in copies:
        pinned = expected_owner(copy, pins)
        if pinned is not None and pinned[0] in pins and copy.soname:
            shipped_by.setdefault(copy.soname, pinned[0])
    out = []
    for b in framework.bindings:
        dist = shipped_by.get(b.soname)
        if dist is None or not b.version:
            continue
        if versions_disagree(pins[dist], b.version):
            out.append(PinMismatch(soname=b.soname, requirement=f"{dist}=={pins[dist]}",
                                   bound_version=b.version, bound_path=b.path))
    return out


def claimants(copy: LibraryCopy) -> list[str]:
    """The pip wheels that install this file, by canonical name: the one it was found through
    and every other whose RECORD lists the path (the cu12 and cu13 NCCL wheels share it)."""
    names = {canonicalize_name(c.partition("==")[0]) for c in copy.claimed_by}
    if copy.found_via.startswith("pip:"):
        names.add(canonicalize_name(copy.found_via.removeprefix("pip:")))
    return sorted(names)


def expected_owner(copy: LibraryCopy, pins: Mapping[str, str]) -> tuple[str, str] | None:
    """(wheel, version) whose file a framework with these exact pins means to load from this
    copy: the claimant it pins, else the wheel the copy was found through, at the version its
    metadata says. None when no pip wheel owns the copy."""
    names = claimants(copy)
    pinned = next((n for n in names if n in pins), None)
    if pinned is not None:
        return pinned, pins[pinned]
    if copy.found_via.startswith("pip:") and copy.version:
        return canonicalize_name(copy.found_via.removeprefix("pip:")), copy.version
    return None


# ---------------------------------------------------------------------------------------------
# check: bound to a copy whose metadata and file disagree (binding_mismatch, critical)


def bound_to_mismatched(framework: Framework, copies: Sequence[LibraryCopy],
                        requires: Sequence[str] = ()) -> list[tuple[Binding, LibraryCopy]]:
    """Bindings whose file is a copy the snapshot marks ``metadata_mismatch`` (the wheel it
    was found through says one version, the file another: the cu12 and cu13 NCCL wheels),
    unless the file is what the framework pins (``requires``): a cu12 torch binding the cu12
    wheel's NCCL, over which the cu13 wheel's metadata is the one that is wrong."""
    pins = exact_pins(requires)
    out = []
    by_path = {c.path: c for c in copies if c.metadata_mismatch}
    for b in framework.bindings:
        copy = by_path.get(b.path) if b.path else None
        if copy is None:
            continue
        owner = expected_owner(copy, pins)
        if (owner is not None and owner[0] in pins and copy.file_version
                and not versions_disagree(owner[1], copy.file_version)):
            continue
        out.append((b, copy))
    return out


# ---------------------------------------------------------------------------------------------
# check: two different files serving one SONAME in one process (binding_duplicate, major)


def duplicate_sonames(framework: Framework) -> list[Binding]:
    """Bindings whose SONAME more than one file in the process answers to: the first bound
    every later DT_NEEDED; code that dlopens the other by path gets a second copy, with its
    own state (two cuDNN handles tables, two NCCL versions)."""
    return [b for b in framework.bindings if b.also_loaded]
