"""Shipped compatibility data (NVIDIA, PyTorch, platform, severity) and lookups over it."""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from dataclasses import dataclass
from ..resources import compat_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Ordered most to least severe; renderers and --fail-on use this order.
SEVERITIES = ("critical", "major", "minor", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

DATA_FILES = (
    "cuda.toml", "gpus.toml", "pytorch.toml", "platform.toml", "severity.toml", "images_base.toml",
)


def rank(severity: str) -> int:
    """0 for critical ... 3 for info; lower is worse."""
    return _RANK[severity]


def at_least(severity: str, threshold: str) -> bool:
    return _RANK[severity] <= _RANK[threshold]


def bump(severity: str, levels: int) -> str:
    """A severity ``levels`` steps worse (never past critical)."""
    return SEVERITIES[max(0, _RANK[severity] - levels)]


@functools.cache
def data(name: str) -> Mapping[str, Any]:
    """One shipped data file, parsed once per process (the files never change at run time)."""
    parsed: dict[str, Any] = tomllib.loads(compat_text(name))
    return parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSource:
    file: str
    table: str
    source: str
    retrieved: str
    note: str | None = None


def sources() -> list[TableSource]:
    """Every table in the shipped data with where and when it was read (for docs and tests)."""
    out: list[TableSource] = []
    for name in DATA_FILES:
        doc = data(name)
        if "source" in doc:
            out.append(TableSource(file=name, table="", source=doc["source"],
                                   retrieved=doc["retrieved"], note=doc.get("note")))
        for key, value in doc.items():
            if isinstance(value, Mapping) and "source" in value:
                out.append(TableSource(file=name, table=key, source=value["source"],
                                       retrieved=value["retrieved"], note=value.get("note")))
    return out


# ---------------------------------------------------------------------------------------------
# Version helpers for driver / CUDA / glibc strings ("580.159.04", "12.8", "2.35").

_NUM = re.compile(r"\d+")


def numeric(version: str | None) -> tuple[int, ...]:
    """Leading dotted integers of a version string: '580.159.04' -> (580, 159, 4)."""
    if not version:
        return ()
    out: list[int] = []
    for part in version.split("."):
        m = _NUM.match(part)
        if m is None:
            break
        out.append(int(m.group(0)))
    return tuple(out)


def cuda_major(version: str | None) -> str | None:
    nums = numeric(version)
    return str(nums[0]) if nums else None


def major_minor(version: str | None) -> str | None:
    nums = numeric(version)
    if len(nums) < 2:
        return None
    return f"{nums[0]}.{nums[1]}"


# ---------------------------------------------------------------------------------------------
# CUDA driver


def mvc_floor(cuda: str | None) -> str | None:
    """Minimum driver for any binary of this CUDA major (minor-version compatibility)."""
    major = cuda_major(cuda)
    floors: Mapping[str, str] = data("cuda.toml")["minor_version_compat"]["floor"]
    return floors.get(major) if major else None


def toolkit_driver(cuda: str | None) -> str | None:
    """The driver this CUDA toolkit release ships with (full features without MVC)."""
    mm = major_minor(cuda)
    table: Mapping[str, str] = data("cuda.toml")["toolkit_driver"]["linux"]
    return table.get(mm) if mm else None


def driver_at_least(driver: str | None, minimum: str) -> bool:
    return numeric(driver) >= numeric(minimum)


def cuda_from_variant(label: str | None) -> str | None:
    """'cu128' -> '12.8', 'cu118' -> '11.8'; None for cpu/rocm/other labels.

    PyTorch's index names put the last digit after the dot
    (https://download.pytorch.org/whl/cu128 serves CUDA 12.8 builds)."""
    if not label:
        return None
    m = re.fullmatch(r"cu(\d+)(\d)", label)
    return f"{m.group(1)}.{m.group(2)}" if m else None


_CUDA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")


def cuda_major_of_wheel(name: str) -> str | None:
    """'nvidia-cudnn-cu12' -> '12'; None for other distributions."""
    m = _CUDA_WHEEL.match(name)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------------------------
# GPUs and arch lists


def first_cuda_for_cc(cc: str | None) -> str | None:
    table: Mapping[str, str] = data("cuda.toml")["first_cuda_for_cc"]["cc"]
    return table.get(cc) if cc else None


def cc_for_gpu_name(name: str) -> str | None:
    """Compute capability from a marketing name (fallback only; NVML is the source of truth)."""
    table: Mapping[str, str] = data("gpus.toml")["compute_capability"]
    lowered = name.lower()
    for key in sorted(table, key=len, reverse=True):
        if key.lower() in lowered:
            return table[key]
    return None


_ARCH = re.compile(r"^(sm|compute)_(\d+)(\d)([af]?)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Arch:
    kind: str  # sm (SASS, a cubin) | compute (PTX)
    cc: tuple[int, int]
    suffix: str  # "" | "a" (this exact CC only) | "f" (this family)


def parse_arch(entry: str) -> Arch | None:
    """'sm_90' -> Arch(sm, (9, 0)), 'compute_120' -> Arch(compute, (12, 0)), 'sm_90a' ..."""
    m = _ARCH.match(entry.strip())
    if m is None:
        return None
    return Arch(kind=m.group(1), cc=(int(m.group(2)), int(m.group(3))), suffix=m.group(4))


def parse_cc(cc: str | None) -> tuple[int, int] | None:
    nums = numeric(cc)
    return (nums[0], nums[1]) if len(nums) >= 2 else None


def _cc_str(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def arch_runs_on(arch: Arch, device: tuple[int, int]) -> bool:
    """Whether code built for ``arch`` runs on a device of compute capability ``device``."""
    sass = data("cuda.toml")["sass"]
    if arch.kind == "compute":
        # PTX is JIT-compiled by the driver for the same or any newer CC.
        return device >= arch.cc
    if arch.suffix == "a" or _cc_str(arch.cc) in sass["exact_only"]:
        also: Iterable[str] = sass["also_runs_on"].get(_cc_str(arch.cc), ())
        return device == arch.cc or _cc_str(device) in also
    if _cc_str(device) in sass["exact_only"] and device != arch.cc:
        return False
    return device[0] == arch.cc[0] and device[1] >= arch.cc[1]


def arch_covers(arch_list: Iterable[str], cc: str | None) -> bool | None:
    """True when some entry of a framework's arch list runs on a GPU of compute capability
    ``cc``; None when that cannot be told (empty list, unknown CC)."""
    device = parse_cc(cc)
    archs = [a for a in (parse_arch(e) for e in arch_list) if a is not None]
    if device is None or not archs:
        return None
    return any(arch_runs_on(a, device) for a in archs)


def torch_arch_list(version: str, variant: str | None) -> tuple[str, ...]:
    """The measured arch list of an official torch wheel (fallback when not captured live)."""
    mm = major_minor(version)
    if not mm or not variant:
        return ()
    lists: Mapping[str, list[str]] = data("pytorch.toml")["arch_lists"]["lists"]
    return tuple(lists.get(f"{mm}/{variant}", ()))


def torch_cuda_variants(version: str) -> tuple[str, ...]:
    mm = major_minor(version)
    table: Mapping[str, list[str]] = data("pytorch.toml")["variants"]["cuda"]
    return tuple(table.get(mm, ())) if mm else ()


# ---------------------------------------------------------------------------------------------
# glibc and CPU

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_")


def manylinux_glibc(tag: str) -> str | None:
    """The glibc a wheel tag promises to need: 'cp311-cp311-manylinux_2_28_x86_64' -> '2.28'."""
    platform = tag.rsplit("-", 1)[-1]
    best: tuple[int, ...] = ()
    for part in platform.split("."):
        m = _MANYLINUX.match(part + "_")
        cand: tuple[int, ...]
        if m:
            cand = (int(m.group(1)), int(m.group(2)))
        else:
            legacy: Mapping[str, str] = data("platform.toml")["manylinux_legacy"]["glibc"]
            name = next((k for k in legacy if part.startswith(k + "_")), None)
            if name is None:
                continue
            cand = numeric(legacy[name])
        # A compressed tag set (manylinux_2_17_x86_64.manylinux2014_x86_64) needs the lowest.
        best = cand if not best or cand < best else best
    return ".".join(map(str, best)) if best else None


def cpu_isa_flags() -> frozenset[str]:
    return frozenset(data("platform.toml")["cpu_isa"]["flags"])


# ---------------------------------------------------------------------------------------------
# Severity policy


def rule(name: str) -> str:
    """Severity of a named domain rule of `envsnap diff` (severity.toml [rules])."""
    return str(data("severity.toml")["rules"][name])


def check_rule(name: str) -> str:
    """Severity of a named `envsnap check` rule (severity.toml [check])."""
    return str(data("severity.toml")["check"][name])


def _override(name: str) -> Mapping[str, Any]:
    overrides: Mapping[str, Mapping[str, Any]] = data("severity.toml")["packages"]["overrides"]
    if name in overrides:
        return overrides[name]
    for pattern, value in overrides.items():
        if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return value
    return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class PackagePolicy:
    severity: str
    why: str | None = None
    fix: str | None = None


def package_policy(name: str, change: str, *, native_dependents: bool = False,
                   downgrade: bool = False) -> PackagePolicy:
    """Severity of a change class (added, removed, major, variant ...) for one package."""
    pkgs = data("severity.toml")["packages"]
    default: Mapping[str, Any] = pkgs["default"]
    over = _override(name)
    severity = str(default[change])
    if change in over:
        severity = str(over[change])
    nd = over.get("with_native_dependents")
    if native_dependents and isinstance(nd, Mapping) and change in nd:
        severity = str(nd[change])
    if downgrade and severity != "critical":
        bumped = bump(severity, int(default["downgrade_bump"]))
        cap = str(default["downgrade_cap"])
        severity = cap if at_least(bumped, cap) else bumped
    return PackagePolicy(severity=severity, why=over.get("why"), fix=over.get("fix"))


def is_abi_sensitive(name: str) -> bool:
    names: list[str] = data("severity.toml")["abi_sensitive"]["names"]
    return any(fnmatch.fnmatchcase(name, n) for n in names)


def reproducibility_vars() -> frozenset[str]:
    return frozenset(data("severity.toml")["env"]["reproducibility"])
