"""The frameworks section: ML framework builds and the CUDA copies they bind (diff, check, fleet, show)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from packaging.utils import canonicalize_name

from .. import compat
from ..changes import Change, Finding
from ..gpuarch import describe_arch_list, gpu_cc, gpu_fix, uncovered
from ..loadrules import (
    bound_to_mismatched,
    changed_bindings,
    duplicate_sonames,
    exact_pins,
    expected_owner,
    pin_mismatches,
)
from ..remedy import restore_wheel_fix, unbind_fix
from ..rules import (
    classify_version,
    cuda_label,
    framework_cuda,
    major,
    pytorch_index,
    rate_package,
    version_kind,
)
from ..snapshot import GPU, Binding, Framework, Snapshot
from ..wording import LEVEL_WORDS, binding_text, generic_fix, how_bound, rebound_text
from .base import CheckContext, CheckRule, DiffContext, Relabel, Section


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
            _diff_bindings(fo, fn, out)


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


# ---------------------------------------------------------------------------------------------
# bindings: which copy of each CUDA library a framework binds (docs/which-copy-loads.md)

BINDINGS = "frameworks.bindings"  # the section of a bound copy's change


def _diff_bindings(fo: Framework, fn: Framework, out: list[Change]) -> None:
    """One change per SONAME whose bound copy differs (loadrules.changed_bindings): at least
    major, whatever moved (the path, the version, the build): the copy is what runs."""
    whats: dict[str, set[str]] = {}
    for bc in changed_bindings(fo, fn):
        whats.setdefault(bc.soname, set()).add(bc.what)
    old = {b.soname: b for b in fo.bindings}
    new = {b.soname: b for b in fn.bindings}
    for soname, what in whats.items():
        a, b = old.get(soname), new.get(soname)
        if a is None or b is None:
            kind = "added" if a is None else "removed"
        elif a.path is None or b.path is None:  # found on one side only: the import fails
            kind = "added" if a.path is None else "removed"
        elif "version" in what:
            kind = version_kind(a.version, b.version)
        else:
            # Same version: another build of it (build-id), or the same build from elsewhere.
            kind = "changed" if "build_id" in what else "source"
        build = "build_id" in what
        foreign = b is not None and (a is None or a.found_by != b.found_by)
        out.append(Change(
            section=BINDINGS, name=f"{fn.name} {soname}", kind=kind,
            severity=compat.severity("binding_changed"),
            old=binding_text(a, build=build) if a else None,
            new=binding_text(b, build=build) if b else None,
            explanation=rebound_text(fn.name, a, b),
            fix=unbind_fix(b) if b is not None and foreign else None))


def _requires(s: Snapshot, name: str) -> tuple[str, ...]:
    """What the distribution of a framework requires, as the snapshot records it."""
    want = canonicalize_name(name)
    pkg = next((p for p in (s.python.packages if s.python else ())
                if canonicalize_name(p.name) == want), None)
    return pkg.requires if pkg is not None else ()


def _check_bindings(ctx: CheckContext) -> list[Finding]:
    """What this machine binds for each framework: another version than the framework's own
    pin, a file its wheel's metadata misnames (both critical), two files for one SONAME."""
    live = ctx.live
    copies = live.cuda.libraries if live.cuda else ()
    out: list[Finding] = []
    for fw in live.frameworks:
        bound = {b.soname: b for b in fw.bindings}
        requires = _requires(live, fw.name)
        pins = exact_pins(requires)
        mismatched = bound_to_mismatched(fw, copies, requires)
        # A file another wheel overwrote misses the pin too: said once, as the mismatch below.
        overwritten = {b.soname for b, _ in mismatched}
        for m in pin_mismatches(fw, requires, copies):
            if m.soname in overwritten:
                continue
            b = bound[m.soname]
            out.append(Finding(
                rule="binding", kind="pin", subject=f"{fw.name} {m.soname}",
                severity=compat.severity("binding_pin"), expected=m.requirement,
                actual=binding_text(b),
                explanation=f"{fw.name} {fw.version} requires {m.requirement}, but this machine "
                            f"binds {m.soname} {m.bound_version} from {m.bound_path} "
                            f"({how_bound(b)}): the framework runs with a library its build was "
                            "not made with, which fails with 'undefined symbol' or a version-"
                            "mismatch status, or changes results silently.",
                fix=unbind_fix(b) or f"{ctx.pip} install --force-reinstall --no-deps "
                                     + shlex.quote(m.requirement)))
        for b, copy in mismatched:
            wanted = expected_owner(copy, pins)
            owner = wanted[0] if wanted else copy.found_via.removeprefix("pip:")
            described = wanted[1] if wanted else copy.version
            others = [c for c in copy.claimed_by
                      if canonicalize_name(c.partition("==")[0]) != owner]
            out.append(Finding(
                rule="binding", kind="mismatch", subject=f"{fw.name} {b.soname}",
                severity=compat.severity("binding_mismatch"),
                expected=f"{described} (pip:{owner})", actual=copy.file_version,
                explanation=f"{fw.name} binds {copy.path}, which {owner} says is "
                            f"{described}, but the file itself is {copy.file_version}"
                            + (f" ({', '.join(others)} installed its own copy over it)"
                               if others else "")
                            + ": the framework loads a library its metadata does not describe; "
                            "symbols it needs can be missing ('undefined symbol').",
                fix=restore_wheel_fix(copy, ctx.pip, wanted)))
        for b in duplicate_sonames(fw):
            out.append(Finding(
                rule="binding", kind="duplicate", subject=f"{fw.name} {b.soname}",
                severity=compat.severity("binding_duplicate"), expected=b.path,
                actual=", ".join(b.also_loaded),
                explanation=f"Two files answer to {b.soname} in one {fw.name} process: "
                            f"{b.path} ({how_bound(b)}) is bound, and "
                            f"{', '.join(b.also_loaded)} is loaded beside it by path. Code that "
                            "calls the second copy gets its own state (two cuDNN handle tables, "
                            "two NCCL versions).",
                fix=unbind_fix(b)))
    return out


def _bindings_skip(ctx: CheckContext) -> str | bool | None:
    if ctx.probe_failed("frameworks"):
        return "the frameworks probe failed on this machine (see the probe finding)"
    # Nothing on this machine binds a CUDA library: the rule has nothing to read, and is left
    # out rather than listed as run.
    return None if any(fw.bindings for fw in ctx.live.frameworks) else False


def _cluster(c: Change) -> str | None:
    if c.section == BINDINGS:
        # Another NCCL file bound on some nodes: by version or build (the same file installed
        # at another path is no difference between ranks).
        soname = c.name.rsplit(" ", 1)[-1]
        return "nccl" if soname.startswith("libnccl.") and c.kind != "source" else None
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


def _binding_data(b: Binding) -> dict[str, Any]:
    return {"soname": b.soname, "path": b.path, "version": b.version, "via": b.via,
            "found_by": b.found_by, "also_loaded": list(b.also_loaded)}


def _summary_data(s: Snapshot) -> Mapping[str, Any]:
    return {"frameworks": [{"name": f.name, "version": f.version, "cuda": f.cuda,
                            "arch_list": list(f.arch_list),
                            "bindings": [_binding_data(b) for b in f.bindings]}
                           for f in s.frameworks]}


def _summary(s: Snapshot, d: Mapping[str, Any]) -> list[str]:
    # The copies a framework binds are marked on the cuda lines; said here: a bound file the
    # cuda probe did not list, a second file for one SONAME, a SONAME nothing answers to.
    listed = {c.path for c in s.cuda.libraries} if s.cuda else set()
    lines = []
    for fw in d["frameworks"]:
        cuda = f"CUDA {fw['cuda']}" if fw["cuda"] else "CPU build"
        archs = f", arch {' '.join(fw['arch_list'])}" if fw["arch_list"] else ""
        lines.append(f"framework {fw['name']} {fw['version']} ({cuda}{archs})")
        for b in fw["bindings"]:
            if b["path"] is None:
                lines.append(f"  ! {b['soname']} not found: importing {fw['name']} fails")
            elif b["path"] not in listed:
                lines.append(f"  binds {b['soname']} {b['version'] or '?'} at {b['path']}")
            for other in b["also_loaded"]:
                lines.append(f"  ! {b['soname']} twice: {other} loaded beside the bound copy")
    return lines


SECTION = Section(name="frameworks", diff=_diff,
                  checks=(CheckRule(name="binding", run=_check_bindings, skip=_bindings_skip,
                                    host_only=False),),
                  cluster=_cluster, anonymize=_anonymize,
                  summary=_summary, summary_data=_summary_data)
