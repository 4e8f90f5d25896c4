"""A one-screen summary of a snapshot (pure: data in, text out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import probes
from .snapshot import Snapshot
from .text import printable


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.0f} GiB" if n else "?"


def summary_data(s: Snapshot) -> dict[str, Any]:
    py = s.python
    nv = s.nvidia
    return {
        "schema": s.schema,
        "digest": s.digest,
        "captured_at": s.meta.captured_at,
        "hostname": s.meta.hostname,
        "python": None
        if py is None
        else {
            "version": py.version,
            "implementation": py.implementation,
            "env_kind": py.env_kind,
            "packages": len(py.packages),
            "editable": sorted(p.name for p in py.packages if p.source and p.source.kind == "editable"),
            "problems": len(py.problems),
        },
        "conda_packages": len(s.conda.packages) if s.conda else None,
        "os": None if s.os is None else (s.os.pretty_name or s.os.system),
        "glibc": s.os.glibc if s.os else None,
        "driver": nv.driver_version if nv else None,
        "driver_mismatch": nv.driver_mismatch if nv else False,
        "cuda_driver": nv.cuda_driver_version if nv else None,
        "gpus": [
            {"name": g.name, "compute_capability": g.compute_capability, "memory_bytes": g.memory_bytes}
            for g in (nv.gpus if nv else ())
        ],
        "cuda_toolkit": s.cuda.toolkit_version if s.cuda else None,
        "cuda_libraries": [
            {"library": c.library, "version": c.version, "found_via": c.found_via}
            for c in (s.cuda.libraries if s.cuda else ())
        ],
        "frameworks": [
            {"name": f.name, "version": f.version, "cuda": f.cuda, "arch_list": list(f.arch_list)}
            for f in s.frameworks
        ],
        "probe_errors": {n: st.error for n, st in s.probes.items() if st.status == "error"},
    }


Lines = Callable[[Snapshot, Mapping[str, Any]], list[str]]


def _python_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    py = d["python"]
    if not py:
        return []
    extra = f", {len(py['editable'])} editable" if py["editable"] else ""
    extra += f", {py['problems']} unreadable/duplicate dist(s)" if py["problems"] else ""
    return [f"python    {py['implementation']} {py['version']} ({py['env_kind']}), "
            f"{py['packages']} packages{extra}"]


def _conda_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    return [] if d["conda_packages"] is None else [f"conda     {d['conda_packages']} packages"]


def _os_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not d["os"]:
        return []
    return [f"os        {d['os']}" + (f", glibc {d['glibc']}" if d["glibc"] else "")]


def _cpu_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not s.cpu:
        return []
    return [f"cpu       {s.cpu.model or '?'}, {s.cpu.usable_cores or '?'} usable cores, "
            f"{_gib(s.cpu.memory_bytes)}"]


def _nvidia_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = []
    if d["driver"]:
        mism = "  (MISMATCH with kernel module)" if d["driver_mismatch"] else ""
        lines.append(f"driver    {d['driver']}, supports CUDA {d['cuda_driver'] or '?'}{mism}")
    for g in s.nvidia.gpus if s.nvidia else ():
        lines.append(
            f"gpu {g.index}     {g.name}, sm {g.compute_capability or '?'}, {_gib(g.memory_bytes)}"
        )
    if s.nvidia is None and "nvidia" in s.probes and s.probes["nvidia"].status == "absent":
        lines.append("gpu       none")
    return lines


def _cuda_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = [f"cuda      toolkit {d['cuda_toolkit']}"] if d["cuda_toolkit"] else []
    for lib in d["cuda_libraries"]:
        lines.append(f"  {lib['library']:<8}{lib['version'] or '?':<14}{lib['found_via']}")
    return lines


def _frameworks_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = []
    for fw in d["frameworks"]:
        cuda = f"CUDA {fw['cuda']}" if fw["cuda"] else "CPU build"
        archs = f", arch {' '.join(fw['arch_list'])}" if fw["arch_list"] else ""
        lines.append(f"framework {fw['name']} {fw['version']} ({cuda}{archs})")
    return lines


def _project_lines(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    if not (s.project and s.project.commit):
        return []
    dirty = " (dirty)" if s.project.dirty else ""
    return [f"project   {s.project.commit[:12]}{dirty} {s.project.remote or ''}".rstrip()]


# One-screen lines per probe section; env is left out (its values are in the file).
_LINES: Mapping[str, Lines] = {
    "python": _python_lines,
    "conda": _conda_lines,
    "os": _os_lines,
    "cpu": _cpu_lines,
    "nvidia": _nvidia_lines,
    "cuda": _cuda_lines,
    "frameworks": _frameworks_lines,
    "env": lambda s, d: [],
    "project": _project_lines,
}


def _plain_lines(s: Snapshot, name: str) -> list[str]:
    """A probe without lines of its own: how it ended and how it found what it found."""
    st = s.probes.get(name)
    if st is None or st.status == "error":
        return []  # not run, or listed with the failures below
    return [f"{name:<9} {st.status}" + (f" ({st.found_via})" if st.found_via else "")]


def summarize(s: Snapshot) -> str:
    """The summary as text for a terminal: every line's captured text (host name, GPU names,
    paths, probe errors) with its control characters escaped."""
    d = summary_data(s)
    lines = [f"snapshot {d['digest'][:19]}  captured {d['captured_at'] or '?'}"
             + (f" on {d['hostname']}" if d["hostname"] else "")]
    for spec in probes.registry():
        key = spec.field or spec.name
        render = _LINES.get(key)
        lines += render(s, d) if render is not None else _plain_lines(s, spec.name)
    for name, err in d["probe_errors"].items():
        lines.append(f"! probe {name} failed: {err}")
    return "\n".join(map(printable, lines))
