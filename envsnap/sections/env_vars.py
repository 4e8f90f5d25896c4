"""The env section: the environment variables that matter (diff, fleet, anonymize, capture)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from .. import compat
from ..changes import Change
from ..snapshot import Snapshot, is_safe_env_name
from .base import DiffContext, Relabel, Section


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    ea, eb = a.env, b.env
    repro = compat.reproducibility_vars()
    for key in sorted(ea.keys() | eb.keys()):
        vo, vn = ea.get(key), eb.get(key)
        if vo == vn:
            continue
        if key in repro:
            severity = compat.severity("env_reproducibility")
            expl = (f"{key} changes numerical results or determinism: runs on A and B are not "
                    "comparable bit for bit. Set it to the same value on both.")
        else:
            severity = compat.severity("env_other")
            expl = f"Environment variable {key} differs."
        kind = "added" if vo is None else "removed" if vn is None else "changed"
        out.append(Change(section="env", name=key, kind=kind, severity=severity, old=vo, new=vn,
                          explanation=expl, fix=_env_fix(key, vo)))


def _env_fix(key: str, value: str | None) -> str | None:
    """A's value back, as a POSIX shell line; None for a name no shell takes."""
    if not is_safe_env_name(key):
        return None
    return f"unset {key}" if value is None else f"export {key}={shlex.quote(value)}"


def _cluster(c: Change) -> str | None:
    return "nccl_env" if c.section == "env" and c.name.startswith("NCCL_") else None


def _anonymize(env: Mapping[str, str], rel: Relabel) -> dict[str, str]:
    return {k: rel.text(v) for k, v in env.items()}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    return []  # the values are in the file


SECTION = Section(name="env", diff=_diff, cluster=_cluster, anonymize=_anonymize,
                  summary=_summary)
