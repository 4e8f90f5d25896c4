"""The nvidia section: the driver and the GPUs (diff, check, fleet, anonymize, show)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from .. import compat
from ..changes import Change, Finding
from ..gpuarch import arch_list_of, describe_arch_list, gpu_cc, gpu_change, gpu_fix, uncovered
from ..rules import (
    CudaNeed,
    cuda_major,
    cuda_needs,
    driver_verdicts,
    driver_version,
    framework_cuda,
    mvc_floor,
    worst_driver_verdict,
)
from ..snapshot import GPU, Framework, NvidiaInfo, Snapshot
from ..wording import gib, gpu_text, gpus_text
from .base import CheckContext, CheckRule, DiffContext, Relabel, Section


def _not_covered(gpu: GPU, fw: Framework) -> str:
    """Why a framework build has no kernels for a GPU (diff and check say it alike)."""
    return (f"has compute capability {gpu_cc(gpu) or '?'}, which {fw.name} {fw.version} was not "
            f"built for (arch list: {describe_arch_list(arch_list_of(fw))}): kernels fail with "
            "'no kernel image is available for execution on the device'.")


# ---------------------------------------------------------------------------------------------
# diff


def _diff(a: Snapshot, b: Snapshot, out: list[Change], ctx: DiffContext) -> None:
    na, nb = a.nvidia, b.nvidia
    if na is None and nb is None:
        return
    needs = cuda_needs(b)
    if nb is None or nb.driver_version is None:
        if na is not None and na.driver_version is not None:
            out.append(Change(
                section="nvidia", name="driver", kind="removed",
                severity=compat.severity("driver_removed") if needs else compat.severity("other"),
                old=na.driver_version, new=None,
                explanation="B has no NVIDIA driver" + (
                    f", but {needs[0].origin} needs CUDA: GPU code cannot run."
                    if needs else "; nothing in B needs CUDA.")))
        _diff_gpus(na.gpus if na else (), (), b, out)
        return
    if na is None or na.driver_version != nb.driver_version:
        _driver_change(na.driver_version if na else None, nb, needs, out)
    elif needs and needs != cuda_needs(a):
        # Same driver, new CUDA needs: evaluate the driver against them.
        verdict = worst_driver_verdict(nb.driver_version, needs)
        if verdict is not None and verdict.status in ("below_floor", "below_toolkit"):
            _driver_change(na.driver_version, nb, needs, out, unchanged=True)
    if nb.driver_mismatch and not (na and na.driver_mismatch):
        out.append(Change(
            section="nvidia", name="kernel_module", kind="changed",
            severity=compat.severity("driver_mismatch"),
            old=nb.driver_version, new=nb.kernel_module_version,
            explanation="On B the user-space driver and the loaded kernel module differ: CUDA "
                        "fails with 'Driver/library version mismatch'. Reboot or reload the "
                        "nvidia module."))
    _diff_gpus(na.gpus if na else (), nb.gpus, b, out)


def _driver_change(old: str | None, nb: NvidiaInfo, needs: list[CudaNeed], out: list[Change],
                   *, unchanged: bool = False) -> None:
    new = nb.driver_version
    vo, vn = driver_version(old), driver_version(new)
    kind = "changed"
    if not unchanged and vo is not None and vn is not None:
        kind = "downgraded" if vn < vo else "upgraded"
    verdict = worst_driver_verdict(new, needs)
    fix = None
    if verdict is not None and verdict.status == "below_floor":
        fix = f"install NVIDIA driver {verdict.floor} or newer"
        severity = compat.severity("driver_below_floor")
        expl = (f"Driver {new} is below {verdict.floor}, the minimum for CUDA "
                f"{cuda_major(verdict.need.cuda)}.x that {verdict.need.origin} needs "
                "(minor-version compatibility): CUDA fails with 'The NVIDIA driver on your "
                f"system is too old'. Install driver {verdict.floor} or newer"
                + (f" ({verdict.toolkit} for all CUDA {verdict.need.cuda} features)"
                   if verdict.toolkit else "")
                + ", or a build for an older CUDA.")
    elif verdict is not None and verdict.status == "below_toolkit":
        severity = compat.severity("driver_below_toolkit")
        fix = f"install NVIDIA driver {verdict.toolkit} or newer"
        expl = (f"Driver {new} runs {verdict.need.origin} only through CUDA minor-version "
                f"compatibility (limited features; below {verdict.toolkit}, the CUDA "
                f"{verdict.need.cuda} driver). Driver {verdict.toolkit} or newer for all "
                "features.")
    elif verdict is not None and verdict.status == "unknown":
        severity = compat.severity("driver_changed")
        expl = (f"Whether driver {new} runs CUDA {verdict.need.cuda} ({verdict.need.origin}) "
                "cannot be told: " + ("it is not a driver version envsnap can compare."
                                      if vn is None else "no driver floor is known for it."))
    else:
        severity = compat.severity("driver_changed")
        expl = (f"Driver {new} supports every CUDA version the snapshot's builds need."
                if verdict is not None else "No CUDA build in B depends on the driver version.")
    if unchanged:
        expl = "The driver is the same but B's builds need a newer CUDA. " + expl
    out.append(Change(section="nvidia", name="driver", kind=kind, severity=severity,
                      old=old, new=new, explanation=expl, fix=fix))


_GPU_WORDS = {
    "gpu_older_arch": "{new} is an older architecture than {old}: the builds still have kernels "
                      "for it, but features of the newer one (FP8 from sm_89, TMA and wgmma from "
                      "sm_90) are missing and numerics can differ.",
    "gpu_memory": "It has less memory than {old}: models and batch sizes that fit there can fail "
                  "with 'CUDA out of memory'.",
    "gpu_model": "Another GPU model of the same or a newer architecture: the frameworks' arch "
                 "lists cover it.",
}


def _diff_gpus(ga: Iterable[GPU], gb: Iterable[GPU], b: Snapshot, out: list[Change]) -> None:
    old = {g.index: g for g in ga}
    new = {g.index: g for g in gb}
    bad = {(g.index, fw.name): fw for g, fw in uncovered(new.values(), b.frameworks)}
    for idx in sorted(old.keys() | new.keys()):
        go, gn = old.get(idx), new.get(idx)
        name = f"GPU{idx}"
        if gn is None and go is not None:
            out.append(Change(section="nvidia.gpus", name=name, kind="removed",
                              severity=compat.severity("gpu_removed"), old=gpu_text(go), new=None,
                              explanation=f"B has fewer GPUs: {name} ({go.name}) is gone; jobs "
                                          "sized for A's GPU count fail or slow down."))
            continue
        assert gn is not None
        differs = gpu_change(go, gn) if go is not None else ()
        misses = [fw for (i, _), fw in bad.items() if i == idx]
        if go is not None and not differs and not misses:
            continue
        fix = None
        if misses:
            fw = misses[0]
            severity = compat.severity("gpu_not_covered")
            fix = gpu_fix(gn, fw)
            expl = f"{gn.name} {_not_covered(gn, fw)} Fix: {fix}."
        elif go is None:
            severity = compat.severity("gpu_added")
            expl = f"B has an extra GPU: {gn.name}."
        else:
            assert go is not None
            severity = compat.severity(differs[0])
            expl = _GPU_WORDS[differs[0]].format(old=go.name, new=gn.name)
            if "gpu_memory" in differs[1:]:
                expl += " " + _GPU_WORDS["gpu_memory"].format(old=go.name, new=gn.name)
        out.append(Change(section="nvidia.gpus", name=name,
                          kind="added" if go is None else "changed", severity=severity,
                          old=gpu_text(go) if go else None, new=gpu_text(gn),
                          explanation=expl, fix=fix))


# ---------------------------------------------------------------------------------------------
# check


def _check_driver(ctx: CheckContext) -> list[Finding]:
    expected, live = ctx.expected, ctx.live.nvidia
    needs = cuda_needs(expected)
    if not needs:
        return []
    driver = live.driver_version if live else None
    if driver is None:
        need = needs[0]
        floor = mvc_floor(need.cuda)
        return [Finding(
            rule="driver", subject="driver", severity=compat.severity("driver_removed"),
            expected=f">= {floor}" if floor else f"CUDA {need.cuda}", actual=None,
            kind="missing",
            explanation=f"The snapshot uses CUDA {need.cuda} ({need.origin}) but no NVIDIA "
                        "driver was found on this machine: CUDA code cannot start.",
            fix=f"install NVIDIA driver {floor} or newer" if floor else "install an NVIDIA driver",
        )]
    out: list[Finding] = []
    if live is not None and live.driver_mismatch:
        out.append(Finding(
            rule="driver", subject="driver", severity=compat.severity("driver_mismatch"),
            expected=live.kernel_module_version, actual=live.driver_version, kind="mismatch",
            explanation="The user-space driver and the loaded kernel module differ; CUDA fails "
                        "with 'Driver/library version mismatch'.",
            fix="reboot (or reload the nvidia kernel module) after the driver upgrade",
        ))
    floors_reported: set[str | None] = set()
    for v in driver_verdicts(driver, needs):
        if v.status == "below_floor" and v.floor not in floors_reported:
            floors_reported.add(v.floor)
            out.append(Finding(
                rule="driver", subject="driver", severity=compat.severity("driver_below_floor"),
                expected=f">= {v.floor}", actual=driver, kind="below_floor",
                explanation=f"{v.need.origin} needs CUDA {cuda_major(v.need.cuda)}.x, "
                            f"which needs driver {v.floor} or newer (minor-version "
                            f"compatibility); driver {driver} cannot run it ('The NVIDIA "
                            "driver on your system is too old').",
                fix=f"driver {v.floor} or newer ({v.toolkit} or newer for all CUDA "
                    f"{v.need.cuda} features)" if v.toolkit else f"driver {v.floor} or newer",
            ))
        elif v.status == "below_toolkit":
            out.append(Finding(
                rule="driver", subject="driver",
                severity=compat.severity("driver_below_toolkit"),
                expected=f">= {v.toolkit}", actual=driver, kind="below_toolkit",
                explanation=f"Driver {driver} runs {v.need.origin} through CUDA minor-version "
                            f"compatibility only: features that need the CUDA {v.need.cuda} "
                            f"driver ({v.toolkit}), such as PTX JIT of newer code, are missing.",
                fix=f"driver {v.toolkit} or newer",
            ))
    return out


def _check_gpus(ctx: CheckContext) -> list[Finding]:
    expected, live = ctx.expected, ctx.live
    want = expected.nvidia.gpus if expected.nvidia else ()
    gpus = live.nvidia.gpus if live.nvidia else ()
    out: list[Finding] = []
    if want and not gpus:
        cc = gpu_cc(want[0])
        out.append(Finding(
            rule="gpu", subject="GPUs", kind="missing", severity=compat.severity("gpu_removed"),
            expected=gpus_text(want), actual="none",
            explanation=f"The snapshot ran on {gpus_text(want)}; this machine has no NVIDIA "
                        "GPU" + ("" if live.nvidia else " (no driver answered either)")
                        + ": GPU code fails or, worse, runs on the CPU.",
            fix="run on a machine with " + (f"GPUs of compute capability {cc} or newer"
                                            if cc else "the snapshot's GPUs")
                + " and the NVIDIA driver",
        ))
    elif len(gpus) < len(want):
        out.append(Finding(
            rule="gpu", subject="GPUs", kind="count", severity=compat.severity("gpu_removed"),
            expected=str(len(want)), actual=str(len(gpus)),
            explanation=f"The snapshot ran on {len(want)} GPUs, this machine has {len(gpus)}: "
                        "a job sized for them (torchrun --nproc-per-node, device maps, "
                        "CUDA_VISIBLE_DEVICES lists) fails or runs with less memory and "
                        "throughput.",
            fix=f"run on a machine with {len(want)} GPUs, or resize the job",
        ))
    bad = {gpu.index for gpu, _ in uncovered(gpus, expected.frameworks)}
    for gpu, fw in uncovered(gpus, expected.frameworks):
        cc = gpu_cc(gpu) or "?"
        out.append(Finding(
            rule="gpu", subject=f"GPU{gpu.index} {gpu.name}", kind="not_covered",
            severity=compat.severity("gpu_not_covered"),
            expected=describe_arch_list(arch_list_of(fw)), actual=f"sm_{cc.replace('.', '')}",
            explanation=f"GPU{gpu.index} ({gpu.name}) {_not_covered(gpu, fw)}",
            fix=gpu_fix(gpu, fw),
        ))
    if want:
        for gpu in gpus:
            if gpu.index not in bad:
                out += _compare_gpu(want[min(gpu.index, len(want) - 1)], gpu)
    for fw in expected.frameworks:
        if framework_cuda(fw) and gpus and not arch_list_of(fw):
            out.append(Finding(
                rule="gpu", subject=fw.name, severity=compat.severity("arch_list_unknown"),
                expected=None, actual=None, kind="arch_list_unknown",
                explanation=f"The snapshot does not record {fw.name}'s arch list, so GPU "
                            "coverage could not be checked.",
                fix="capture the snapshot with --deep",
            ))
    return out


def _compare_gpu(want: GPU, gpu: GPU) -> list[Finding]:
    """One live GPU against the snapshot's GPU in the same slot (the first, past its count)."""
    out: list[Finding] = []
    subject = f"GPU{gpu.index} {gpu.name}"
    found = gpu_change(want, gpu)  # one rule with diff's
    if "gpu_older_arch" in found:
        out.append(Finding(
            rule="gpu", subject=subject, kind="older_arch", severity=compat.severity("gpu_older_arch"),
            expected=gpu_text(want), actual=gpu_text(gpu),
            explanation=f"{gpu.name} is an older architecture than the snapshot's {want.name}; "
                        "the framework builds still have kernels for it, but features of the "
                        "newer one (FP8 from sm_89, TMA and wgmma from sm_90, hand-written "
                        "kernels compiled for it alone) are missing and numerics can differ.",
            fix=f"run on GPUs of compute capability {gpu_cc(want)} or newer",
        ))
    elif "gpu_model" in found:
        same = gpu_cc(want) is not None and gpu_cc(want) == gpu_cc(gpu)
        out.append(Finding(
            rule="gpu", subject=subject, kind="model", severity=compat.severity("gpu_model"),
            expected=gpu_text(want), actual=gpu_text(gpu),
            explanation=f"Another GPU model than the snapshot's {want.name}"
                        + ("; the same architecture, so the same kernels run."
                           if same else "; a newer architecture the builds cover."),
            fix=None,
        ))
    if "gpu_memory" in found:
        assert want.memory_bytes and gpu.memory_bytes
        out.append(Finding(
            rule="gpu", subject=subject, kind="memory", severity=compat.severity("gpu_memory"),
            expected=gib(want.memory_bytes), actual=gib(gpu.memory_bytes),
            explanation=f"{gpu.name} has {gib(gpu.memory_bytes)} of memory, the snapshot's GPU "
                        f"had {gib(want.memory_bytes)}: models and batch sizes that fit there can "
                        "fail with 'CUDA out of memory'.",
            fix="run on GPUs with as much memory, or reduce the batch size",
        ))
    return out


def _driver_skip(ctx: CheckContext) -> str | None:
    driver = ctx.live.nvidia.driver_version if ctx.live.nvidia else None
    if driver is not None and driver_version(driver) is None:
        return f"driver {driver[:40]!r} is not a version to compare"
    return None


def _gpu_skip(ctx: CheckContext) -> str | None:
    if ctx.probe_failed("nvidia"):
        return "the nvidia probe failed on this machine (see the probe finding)"
    return None


# ---------------------------------------------------------------------------------------------
# fleet, --anonymize, show


def _cluster(c: Change) -> str | None:
    if c.section == "nvidia.gpus":
        return "gpu"
    if c.section == "nvidia" and c.name == "driver":
        old, new = driver_version(c.old), driver_version(c.new)
        return "driver_major" if old is None or new is None or old[0] != new[0] else None
    return None


def _anonymize(nv: NvidiaInfo, rel: Relabel) -> NvidiaInfo:
    return replace(nv, gpus=tuple(replace(g, uuid=rel.hash_id(g.uuid), pci_bus_id=None)
                                  for g in nv.gpus))


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    nv = s.nvidia
    return {
        "driver": nv.driver_version if nv else None,
        "driver_mismatch": nv.driver_mismatch if nv else False,
        "cuda_driver": nv.cuda_driver_version if nv else None,
        "gpus": [{"name": g.name, "compute_capability": g.compute_capability,
                  "memory_bytes": g.memory_bytes} for g in (nv.gpus if nv else ())],
    }


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    lines = []
    if d["driver"]:
        mism = "  (MISMATCH with kernel module)" if d["driver_mismatch"] else ""
        lines.append(f"driver    {d['driver']}, supports CUDA {d['cuda_driver'] or '?'}{mism}")
    for g in s.nvidia.gpus if s.nvidia else ():
        lines.append(
            f"gpu {g.index}     {g.name}, sm {g.compute_capability or '?'}, {gib(g.memory_bytes)}")
    if s.nvidia is None and "nvidia" in s.probes and s.probes["nvidia"].status == "absent":
        lines.append("gpu       none")
    return lines


SECTION = Section(
    name="nvidia", diff=_diff,
    checks=(CheckRule(name="driver", run=_check_driver, skip=_driver_skip),
            CheckRule(name="gpu", run=_check_gpus, skip=_gpu_skip)),
    cluster=_cluster, anonymize=_anonymize, summary=_summary, summary_data=_summary_data)
