"""Shipped compatibility data (NVIDIA, PyTorch, platform, severity) and the severity policy."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import tomlreader
from ..resources import compat_text

# Ordered most to least severe; renderers and --fail-on use this order.
SEVERITIES = ("critical", "major", "minor", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
# A --fail-on threshold is a severity or NEVER (the gate is off: nothing fails).
NEVER = "never"
THRESHOLDS = (*SEVERITIES, NEVER)

DATA_FILES = (
    "cuda.toml", "gpus.toml", "pytorch.toml", "platform.toml", "severity.toml", "images_base.toml",
    "env_names.toml",
)


def rank(severity: str) -> int:
    """0 for critical ... 3 for info; lower is worse."""
    return _RANK[severity]


def at_least(severity: str, threshold: str) -> bool:
    return _RANK[severity] <= _RANK[threshold]


def threshold(fail_on: str) -> str | None:
    """The mildest severity a --fail-on value fails on; None for NEVER (nothing fails). The one
    place the "never" threshold is read."""
    return None if fail_on == NEVER else fail_on


def fails(severity: str, fail_on: str | None) -> bool:
    """Whether a change or finding of ``severity`` fails a gate at ``fail_on``: a severity,
    NEVER or None (nothing fails)."""
    limit = None if fail_on is None else threshold(fail_on)
    return limit is not None and at_least(severity, limit)


def bump(severity: str, levels: int) -> str:
    """A severity ``levels`` steps worse (never past critical)."""
    return SEVERITIES[max(0, _RANK[severity] - levels)]


@functools.cache
def data(name: str) -> Mapping[str, Any]:
    """One shipped data file, parsed once per process (the files never change at run time)."""
    return tomlreader.loads(compat_text(name))


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
# Severity policy


def severity(rule: str) -> str:
    """The severity of a named rule of `envsnap diff`, `check` and `fleet report`: one table
    (severity.toml [rules]) read here, so every command rates the same change the same. A
    package's class is rated by package_policy, over the same file's [packages] tables."""
    return str(data("severity.toml")["rules"][rule])


def worse(a: str, b: str) -> str:
    """The more severe of two levels."""
    return a if _RANK[a] <= _RANK[b] else b


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
    if change in ("patch", "post") and is_abi_sensitive(name):
        severity = worse(severity, str(data("severity.toml")["abi_sensitive"]["severity"]))
    return PackagePolicy(severity=severity, why=over.get("why"), fix=over.get("fix"))


def is_abi_sensitive(name: str) -> bool:
    names: list[str] = data("severity.toml")["abi_sensitive"]["names"]
    return any(fnmatch.fnmatchcase(name, n) for n in names)


def reproducibility_vars() -> frozenset[str]:
    return frozenset(data("severity.toml")["env"]["reproducibility"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterRule:
    severity: str
    why: str


def cluster_rule(name: str) -> ClusterRule:
    """A rule of `envsnap fleet report`, what breaks a multi-node job: its severity (severity.toml
    [rules] cluster_NAME) and its sentence ([cluster])."""
    why = data("severity.toml")["cluster"][name]["why"]
    return ClusterRule(severity=severity(f"cluster_{name}"), why=str(why))
