"""GPU architectures: compute capabilities, framework arch lists and which GPUs a build covers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import compat
from .rules import framework_cuda, major_minor, numeric
from .snapshot import GPU, Framework

# The shipped tables: cuda.toml [sass] and [first_cuda_for_cc], gpus.toml, pytorch.toml.

_ARCH = re.compile(r"(sm|compute)_(\d{1,2})(\d)([af]?)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Arch:
    kind: str  # sm (SASS, a cubin) | compute (PTX)
    cc: tuple[int, int]
    suffix: str  # "" | "a" (this exact CC only) | "f" (this family)


def parse_arch(entry: str) -> Arch | None:
    """An arch-list entry as nvcc's -gencode and torch._C._cuda_getArchFlags() write it:
    ``'sm_90'`` -> Arch(sm, (9, 0)), ``'compute_120'`` -> Arch(compute, (12, 0)), ``'sm_90a'``."""
    m = _ARCH.fullmatch(entry.strip())
    if m is None:
        return None
    return Arch(kind=m.group(1), cc=(int(m.group(2)), int(m.group(3))), suffix=m.group(4))


def gpu_change(want: GPU, have: GPU) -> tuple[str, ...]:
    """The [rules] another GPU in the same slot falls under, worst first: ``gpu_older_arch``
    (an older architecture: FP8 from sm_89, TMA and wgmma from sm_90 are missing) or else
    ``gpu_model`` (another model, same or newer architecture), and ``gpu_memory`` (more than 5%
    less memory) before ``gpu_model``; empty when it is the same GPU. Coverage by the framework builds is
    ``uncovered``'s."""
    out: list[str] = []
    cw, ch = parse_cc(gpu_cc(want)), parse_cc(gpu_cc(have))
    older = cw is not None and ch is not None and ch < cw
    if older:
        out.append("gpu_older_arch")
    if want.memory_bytes and have.memory_bytes and have.memory_bytes < want.memory_bytes * 0.95:
        out.append("gpu_memory")
    if not older and (want.name != have.name or gpu_cc(want) != gpu_cc(have)):
        out.append("gpu_model")
    return tuple(out)


def parse_cc(cc: str | None) -> tuple[int, int] | None:
    """A compute capability ``'9.0'`` -> ``(9, 0)``."""
    nums = numeric(cc)
    return (nums[0], nums[1]) if len(nums) >= 2 and nums[0] <= 99 and nums[1] <= 9 else None


def _cc_str(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def arch_runs_on(arch: Arch, device: tuple[int, int]) -> bool:
    """Whether code built for ``arch`` runs on a device of compute capability ``device``
    (PyTorch's torch/cuda/__init__.py capability table; PTX from the CUDA C Programming
    Guide: binary compatible within a major, PTX forward compatible)."""
    sass = compat.data("cuda.toml")["sass"]
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


def first_cuda_for_cc(cc: str | None) -> str | None:
    """The first CUDA toolkit that builds code for this compute capability (cuda.toml
    [first_cuda_for_cc], NVIDIA's developer forum table and the PTX ISA notes)."""
    table: Mapping[str, str] = compat.data("cuda.toml")["first_cuda_for_cc"]["cc"]
    return table.get(cc) if cc else None


def cc_for_gpu_name(name: str) -> str | None:
    """Compute capability from a marketing name (gpus.toml, from NVIDIA's CUDA GPUs page);
    a fallback only: NVML is the source of truth."""
    table: Mapping[str, str] = compat.data("gpus.toml")["compute_capability"]
    lowered = name.lower()
    for key in sorted(table, key=len, reverse=True):
        if key.lower() in lowered:
            return table[key]
    return None


def gpu_cc(gpu: GPU) -> str | None:
    """A GPU's compute capability: as captured, else from its name."""
    return gpu.compute_capability or cc_for_gpu_name(gpu.name)


def torch_arch_list(version: str, variant: str | None) -> tuple[str, ...]:
    """The measured arch list of an official torch wheel (pytorch.toml [arch_lists]); the
    fallback when it was not captured live."""
    mm = major_minor(version)
    if not mm or not variant:
        return ()
    lists: Mapping[str, list[str]] = compat.data("pytorch.toml")["arch_lists"]["lists"]
    return tuple(lists.get(f"{mm}/{variant}", ()))


def torch_cuda_variants(version: str) -> tuple[str, ...]:
    """The CUDA versions PyTorch publishes builds of this release for (pytorch.toml [variants])."""
    mm = major_minor(version)
    table: Mapping[str, list[str]] = compat.data("pytorch.toml")["variants"]["cuda"]
    return tuple(table.get(mm, ())) if mm else ()


def arch_list_of(fw: Framework) -> tuple[str, ...]:
    """The framework's captured arch list, else the shipped table's for an official wheel."""
    if fw.arch_list:
        return fw.arch_list
    if fw.name == "torch":
        return torch_arch_list(fw.version, fw.variant)
    return ()


def uncovered(gpus: Iterable[GPU], frameworks: Iterable[Framework]) -> list[tuple[GPU, Framework]]:
    """(GPU, framework) pairs where the framework build has no kernels for the GPU."""
    out: list[tuple[GPU, Framework]] = []
    gpus = tuple(gpus)
    for fw in frameworks:
        if not framework_cuda(fw):
            continue  # a CPU build has no arch list to miss
        archs = arch_list_of(fw)
        for gpu in gpus:
            if arch_covers(archs, gpu_cc(gpu)) is False:
                out.append((gpu, fw))
    return out


def describe_arch_list(archs: Iterable[str]) -> str:
    return ", ".join(archs) or "(none)"


def gpu_fix(gpu: GPU, fw: Framework) -> str:
    """What to install so ``fw`` has kernels for ``gpu``."""
    cc = gpu_cc(gpu) or "?"
    first = first_cuda_for_cc(cc)
    if first:
        return (f"install a {fw.name} build for CUDA {first} or newer whose arch list includes "
                f"sm_{cc.replace('.', '')}")
    return f"install a {fw.name} build whose arch list includes sm_{cc.replace('.', '')}"
