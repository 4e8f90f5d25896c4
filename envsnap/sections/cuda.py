"""The cuda section: the system's CUDA toolkit and every CUDA library copy (diff, fleet, anonymize, show)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import compat
from ..changes import Change
from ..rules import (
    ENVIRONMENT,
    HOST,
    cuda_needs,
    cuda_of_dist,
    framework_cuda,
    library_scope,
    major,
    version_kind,
)
from ..snapshot import CudaInfo, LibraryCopy, Snapshot
from .base import DiffContext, Relabel, Section


def _pip_cuda(s: Snapshot) -> bool:
    """CUDA comes from pip wheels (torch's nvidia-*-cuNN or a +cuXYZ build), not the system."""
    if s.python and any(p.name.startswith("nvidia-") and cuda_of_dist(p.name)
                        for p in s.python.packages):
        return True
    if s.cuda and any(lib.found_via.startswith("pip:") for lib in s.cuda.libraries):
        return True
    return any(framework_cuda(fw) for fw in s.frameworks)


@dataclass(frozen=True, slots=True, kw_only=True)
class _HostCudaUse:
    """Whether the environment loads the host's CUDA (docs/diff-and-check.md#scope): nothing of
    it when nothing in the environment needs CUDA (rules.cuda_needs of A or B: a CUDA framework
    build, an nvidia-*, CuPy or JAX CUDA wheel, a +cuXYZ package, the environment's own
    cudart); and a host library copy that goes away is not missed when B's environment brings
    its own copy of that library (a pip wheel or a conda package)."""

    needs: bool
    own: frozenset[str]

    @classmethod
    def of(cls, a: Snapshot, b: Snapshot) -> _HostCudaUse:
        libs = b.cuda.libraries if b.cuda else ()
        return cls(needs=bool(cuda_needs(a) or cuda_needs(b)),
                   own=frozenset(c.library for c in libs
                                 if library_scope(c.found_via) == ENVIRONMENT))

    def unused(self, removed: str | None = None) -> str | None:
        """Why nothing in the environment loads what changed on the host (``removed``: the
        library whose host copy went away), or None when something may."""
        if not self.needs:
            return ("nothing in the environment uses CUDA (no CUDA framework build, CUDA wheel "
                    "or +cuXYZ package), so nothing loads it")
        if removed is not None and removed in self.own:
            return f"the environment brings its own {removed} copy"
        return None


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    if a.cuda == b.cuda:
        return
    ca, cb = a.cuda or CudaInfo(), b.cuda or CudaInfo()
    use = _HostCudaUse.of(a, b)
    for attr, label in (("toolkit_version", "toolkit"), ("nvcc_version", "nvcc")):
        vo, vn = getattr(ca, attr), getattr(cb, attr)
        if vo == vn:
            continue
        unused = use.unused()
        if unused:
            severity = compat.severity("host_cuda_unused")
            expl = f"The host's CUDA {label} differs; {unused}."
        elif _pip_cuda(b):
            severity = compat.severity("toolkit_beside_wheels")
            expl = (f"The system CUDA {label} differs, which is normal beside pip-wheel CUDA: "
                    "the frameworks load their own CUDA libraries from nvidia-* wheels. It "
                    "matters only when compiling extensions (the nvcc major must match the "
                    "framework's CUDA major).")
        else:
            severity = compat.severity("toolkit_changed")
            expl = f"The system CUDA {label} changed; builds linking it use the new one."
        out.append(Change(section="cuda", name=label, kind=version_kind(vo, vn), severity=severity,
                          old=vo, new=vn, explanation=expl))
    _diff_libraries(ca.libraries, cb.libraries, use, out)


def _lib_text(c: LibraryCopy) -> str:
    return f"{c.version or '?'} via {c.found_via}"


def _group(libs: Iterable[LibraryCopy]) -> dict[str, dict[str, LibraryCopy]]:
    out: dict[str, dict[str, LibraryCopy]] = {}
    for c in libs:
        out.setdefault(c.library, {})[c.found_via] = c
    return out


def _diff_libraries(la: Iterable[LibraryCopy], lb: Iterable[LibraryCopy], use: _HostCudaUse,
                    out: list[Change]) -> None:
    ga, gb = _group(la), _group(lb)
    for lib in sorted(ga.keys() | gb.keys()):
        old, new = ga.get(lib, {}), gb.get(lib, {})
        second = bool(old) and len(new) > 1 and len(new) > len(old)
        for via in sorted(old.keys() | new.keys()):
            rated = _library_change(lib, via, old.get(via), new, second=second, use=use)
            if rated is not None:
                kind, severity, was, now, expl = rated
                out.append(Change(section="cuda.libraries", name=f"{lib} ({via})", kind=kind,
                                  scope=library_scope(via), severity=severity, old=was, new=now,
                                  explanation=expl))


def _library_change(lib: str, via: str, co: LibraryCopy | None, new: Mapping[str, LibraryCopy],
                    *, second: bool, use: _HostCudaUse
                    ) -> tuple[str, str, str | None, str | None, str] | None:
    """How the copy of ``lib`` found via ``via`` changed: (kind, severity, old, new,
    explanation); None when it did not. ``second``: B has more copies than A, and more than one."""
    cn = new.get(via)
    host = library_scope(via) == HOST
    if co is None and cn is not None:
        if second:
            others = "; ".join(_lib_text(c) for v, c in sorted(new.items()) if v != via)
            return ("added", compat.severity("library_duplicate"), None, _lib_text(cn),
                    f"A second {lib} copy appeared ({_lib_text(cn)} beside {others}): which one "
                    "loads depends on RPATH, LD_LIBRARY_PATH and import order, and mixing them "
                    "causes 'undefined symbol' errors or silent version changes. Remove one "
                    "(usually the system copy when the framework uses pip wheels).")
        return ("added", compat.severity("library_added"), None, _lib_text(cn),
                f"{lib} is now found via {via}.")
    if cn is None and co is not None:
        unused = use.unused(lib) if host else None
        if unused:
            return ("removed", compat.severity("host_cuda_unused"), _lib_text(co), None,
                    f"The host's {lib} copy found via {via} is gone; {unused}.")
        return ("removed", compat.severity("library_removed"), _lib_text(co), None,
                f"The {lib} copy found via {via} is gone; code that loaded it fails unless "
                "another copy is found.")
    if co is None or cn is None or co.version == cn.version:
        return None
    mo, mn = major(co.version), major(cn.version)
    unused = use.unused() if host else None
    if unused:
        severity = compat.severity("host_cuda_unused")
        expl = f"The host's {lib} changed {co.version} -> {cn.version}; {unused}."
    elif mo != mn:
        severity = compat.severity("library_major")
        expl = (f"{lib} major version {mo} -> {mn}: builds linked against the old major "
                f"(lib{lib}.so.{mo}) cannot load the new one. "
                "Install the major the framework was built with.")
    elif lib == "nccl":
        severity = compat.severity("framework_nccl_changed")
        # What another NCCL does between the nodes of one job is the cluster rule below.
        expl = f"Another NCCL, {co.version} -> {cn.version}, same major."
    else:
        severity = compat.severity("library_changed")
        expl = (f"{lib} {co.version} -> {cn.version}, same major: compatible when the new "
                "minor is at least what the framework was built with.")
    return version_kind(co.version, cn.version), severity, co.version, cn.version, expl


def _cluster(c: Change) -> str | None:
    # What another NCCL does between the nodes of one job.
    return "nccl" if c.section == "cuda.libraries" and c.name.split(" ", 1)[0] == "nccl" else None


def _anonymize(cu: CudaInfo, rel: Relabel) -> CudaInfo:
    return replace(
        cu, toolkit_path=rel.path(cu.toolkit_path),
        libraries=tuple(replace(lib, path=rel.path(lib.path) or lib.path) for lib in cu.libraries),
        declared={k: rel.text(v) for k, v in cu.declared.items()})


def _bound_by(s: Snapshot) -> dict[str, list[str]]:
    """The frameworks that bind each file (its real path, as bindings and copies record it)."""
    out: dict[str, list[str]] = {}
    for fw in s.frameworks:
        for b in fw.bindings:
            if b.path is not None and fw.name not in out.get(b.path, ()):
                out.setdefault(b.path, []).append(fw.name)
    return out


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    bound = _bound_by(s)
    return {
        "cuda_toolkit": s.cuda.toolkit_version if s.cuda else None,
        "cuda_libraries": [{"library": c.library, "version": c.version, "found_via": c.found_via,
                            "file_version": c.file_version,
                            "metadata_mismatch": c.metadata_mismatch,
                            "bound_by": sorted(bound.get(c.path, ()))}
                           for c in (s.cuda.libraries if s.cuda else ())],
    }


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = [f"cuda      toolkit {d['cuda_toolkit']}"] if d["cuda_toolkit"] else []
    for lib in d["cuda_libraries"]:
        # A copy no metadata names (LD_PRELOAD, a bare folder) by what the file itself says.
        version = lib["version"] or lib["file_version"] or "?"
        line = f"  {lib['library']:<8}{version:<14}{lib['found_via']}"
        if lib["metadata_mismatch"]:
            line += f" (the file is {lib['file_version']})"
        if lib["bound_by"]:
            line += f"  <- bound by {', '.join(lib['bound_by'])}"
        lines.append(line)
    return lines


SECTION = Section(name="cuda", diff=_diff, cluster=_cluster, anonymize=_anonymize,
                  summary=_summary, summary_data=_summary_data)
