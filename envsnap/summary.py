"""A one-screen summary of a snapshot (pure: data in, text out)."""

from __future__ import annotations

from typing import Any

from .snapshot import Snapshot


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


def summarize(s: Snapshot) -> str:
    d = summary_data(s)
    lines = [f"snapshot {d['digest'][:19]}  captured {d['captured_at'] or '?'}"
             + (f" on {d['hostname']}" if d["hostname"] else "")]
    py = d["python"]
    if py:
        extra = f", {len(py['editable'])} editable" if py["editable"] else ""
        extra += f", {py['problems']} unreadable/duplicate dist(s)" if py["problems"] else ""
        lines.append(
            f"python    {py['implementation']} {py['version']} ({py['env_kind']}), "
            f"{py['packages']} packages{extra}"
        )
    if d["conda_packages"] is not None:
        lines.append(f"conda     {d['conda_packages']} packages")
    if d["os"]:
        lines.append(f"os        {d['os']}" + (f", glibc {d['glibc']}" if d["glibc"] else ""))
    if s.cpu:
        lines.append(
            f"cpu       {s.cpu.model or '?'}, {s.cpu.usable_cores or '?'} usable cores, "
            f"{_gib(s.cpu.memory_bytes)}"
        )
    if d["driver"]:
        mism = "  (MISMATCH with kernel module)" if d["driver_mismatch"] else ""
        lines.append(f"driver    {d['driver']}, supports CUDA {d['cuda_driver'] or '?'}{mism}")
    for g in s.nvidia.gpus if s.nvidia else ():
        lines.append(
            f"gpu {g.index}     {g.name}, sm {g.compute_capability or '?'}, {_gib(g.memory_bytes)}"
        )
    if s.nvidia is None and "nvidia" in s.probes and s.probes["nvidia"].status == "absent":
        lines.append("gpu       none")
    if d["cuda_toolkit"]:
        lines.append(f"cuda      toolkit {d['cuda_toolkit']}")
    for lib in d["cuda_libraries"]:
        lines.append(f"  {lib['library']:<8}{lib['version'] or '?':<14}{lib['found_via']}")
    for fw in d["frameworks"]:
        cuda = f"CUDA {fw['cuda']}" if fw["cuda"] else "CPU build"
        archs = f", arch {' '.join(fw['arch_list'])}" if fw["arch_list"] else ""
        lines.append(f"framework {fw['name']} {fw['version']} ({cuda}{archs})")
    if s.project and s.project.commit:
        dirty = " (dirty)" if s.project.dirty else ""
        lines.append(f"project   {s.project.commit[:12]}{dirty} {s.project.remote or ''}".rstrip())
    for name, err in d["probe_errors"].items():
        lines.append(f"! probe {name} failed: {err}")
    return "\n".join(lines)
