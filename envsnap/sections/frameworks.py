"""The frameworks section: ML framework builds and the CUDA copies they bind (diff, fleet, show)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from .. import compat
from ..changes import Change
from ..gpuarch import describe_arch_list, gpu_cc, gpu_fix, uncovered
from ..rules import (
    classify_version,
    cuda_label,
    framework_cuda,
    major,
    pytorch_index,
    rate_package,
    version_kind,
)
from ..snapshot import GPU, Framework, Snapshot
from ..wording import LEVEL_WORDS, generic_fix
from .base import DiffContext, Relabel, Section


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    old = {f.name: f for f in a.frameworks}
    new = {f.name: f for f in b.frameworks}
    gpus_b = b.nvidia.gpus if b.nvidia else ()
    for name in sorted(old.keys() | new.keys()):
        fo, fn = old.get(name), new.get(name)
        if fn is None and fo is not None:
            out.append(Change(section="frameworks", name=name, kind="removed",
                              severity=rate_package(name, "removed").severity,
                              old=fo.version, new=None,
                              explanation=f"{name} is no longer installed."))
        elif fo is None and fn is not None:
            out.append(Change(section="frameworks", name=name, kind="added",
                              severity=rate_package(name, "added").severity,
                              old=None, new=fn.version,
                              explanation=f"{name} {fn.version} is newly installed."))
        elif fo is not None and fn is not None:
            _framework_change(fo, fn, gpus_b, out)


def _framework_change(fo: Framework, fn: Framework, gpus_b: Iterable[GPU],
                      out: list[Change]) -> None:
    name = fo.name
    co, cn = framework_cuda(fo), framework_cuda(fn)
    if co and not cn:
        index = pytorch_index(cuda_label(co))
        out.append(Change(
            section="frameworks", name=f"{name}.cuda", kind="removed",
            severity=compat.severity("torch_lost_cuda"), old=co, new=None,
            explanation=f"The {name} build lost CUDA (a CPU-only build, variant "
                        f"{fn.variant or 'none'}): GPU code fails with 'Torch not compiled with "
                        "CUDA enabled' or silently runs on the CPU. Install the CUDA build: "
                        f"{name}=={fo.version}" + (f" from {index}." if index else ".")))
    elif co != cn:
        out.append(Change(
            section="frameworks", name=f"{name}.cuda", kind=version_kind(co, cn),
            severity=compat.severity("framework_cuda_changed"), old=co, new=cn,
            explanation=f"{name} is now built for CUDA {cn}: it needs a driver for that CUDA "
                        "major and its own matching nvidia-* runtime wheels."))
    for attr, rule_name, what in (("cudnn", "framework_cudnn_changed", "cuDNN"),
                                  ("nccl", "framework_nccl_changed", "NCCL")):
        vo, vn = getattr(fo, attr), getattr(fn, attr)
        if vo != vn and vo and vn:
            expl = (f"{name} was built with {what} {vn} instead of {vo}.")
            if major(vo) != major(vn) and what == "cuDNN":
                expl += " A cuDNN major change: the runtime copy must match the new major."
            out.append(Change(section="frameworks", name=f"{name}.{attr}", kind=version_kind(vo, vn),
                              severity=compat.severity(rule_name), old=vo, new=vn,
                              explanation=expl))
    if fo.arch_list != fn.arch_list and cn:
        misses = uncovered(gpus_b, (fn,))
        if misses:
            gpu = misses[0][0]
            cc = gpu_cc(gpu) or "?"
            severity = compat.severity("gpu_not_covered")
            expl = (f"B's {name} build has no kernels for GPU{gpu.index} ({gpu.name}, compute "
                    f"capability {cc}): 'no kernel image is available for execution on the "
                    f"device'. Fix: {gpu_fix(gpu, fn)}.")
        else:
            severity = compat.severity("framework_arch_list_changed")
            expl = "The build's arch list changed; it still covers B's GPUs."
        out.append(Change(section="frameworks", name=f"{name}.arch_list", kind="changed",
                          severity=severity, old=describe_arch_list(fo.arch_list),
                          new=describe_arch_list(fn.arch_list), explanation=expl))
    vc = classify_version(fo.version, fn.version)
    if vc is not None and vc.kind != "variant":
        downgrade = vc.kind == "downgraded"
        # Whether the build lost CUDA is the {name}.cuda change's, above.
        rating = rate_package(name, replace(vc, old_local=None, new_local=None))
        expl = f"{name} {vc.kind} {fo.version} -> {fn.version}: {LEVEL_WORDS[vc.level]}."
        if compat.at_least(rating.severity, "major"):
            expl += f" {rating.why}" if rating.why else ""
            expl += (f" Fix: {rating.fix}." if rating.fix else
                     " " + generic_fix(name, fo.version, fn.version, downgrade=downgrade))
        out.append(Change(section="frameworks", name=name, kind=vc.kind,
                          severity=rating.severity,
                          old=fo.version, new=fn.version, explanation=expl))
    elif (vc is not None or fo.variant != fn.variant) and not (co and not cn):
        out.append(Change(
            section="frameworks", name=name, kind="variant",
            severity=rate_package(name, "variant").severity,
            old=f"{fo.version} ({fo.variant or 'default'})",
            new=f"{fn.version} ({fn.variant or 'default'})",
            explanation=f"Same {name} release, another build variant: compiled for another "
                        "CUDA or CPU target."))


def _cluster(c: Change) -> str | None:
    if c.section != "frameworks":
        return None
    if c.name.endswith(".nccl"):
        return "nccl"
    # The release, its build variant and its CUDA; arch list and cuDNN have their own rules.
    return None if c.name.endswith((".arch_list", ".cudnn")) else "framework"


def _anonymize(frameworks: tuple[Framework, ...], rel: Relabel) -> tuple[Framework, ...]:
    return tuple(
        replace(fw, found_via=rel.text(fw.found_via),
                bindings_via=rel.text(fw.bindings_via) if fw.bindings_via else None,
                bindings=tuple(replace(
                    b, path=rel.path(b.path), loaded=rel.path(b.loaded), found_by=rel.path(b.found_by),
                    also_loaded=tuple(rel.path(p) or p for p in b.also_loaded))
                    for b in fw.bindings))
        for fw in frameworks)


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    return {"frameworks": [{"name": f.name, "version": f.version, "cuda": f.cuda,
                            "arch_list": list(f.arch_list)} for f in s.frameworks]}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = []
    for fw in d["frameworks"]:
        cuda = f"CUDA {fw['cuda']}" if fw["cuda"] else "CPU build"
        archs = f", arch {' '.join(fw['arch_list'])}" if fw["arch_list"] else ""
        lines.append(f"framework {fw['name']} {fw['version']} ({cuda}{archs})")
    return lines


SECTION = Section(name="frameworks", diff=_diff, cluster=_cluster, anonymize=_anonymize,
                  summary=_summary, summary_data=_summary_data)
