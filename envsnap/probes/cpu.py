"""CPU model, usable cores, the ISA flags wheels care about, memory."""

from __future__ import annotations

from ..host import Host, read_text
from ..snapshot import CPUInfo
from . import Probed

# Flags that decide whether a binary wheel runs here: x86-64 microarchitecture levels
# (v2: sse4_2/popcnt, v3: avx2/fma/bmi2/f16c, v4: avx512*), AMX for bf16 matmul,
# and the Arm vector extensions. Everything else /proc/cpuinfo lists is noise for this job.
_INTERESTING_PREFIXES = ("avx", "amx")
_INTERESTING = frozenset({
    "sse4_1", "sse4_2", "popcnt", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "vnni",
    "asimd", "sve", "sve2", "bf16", "i8mm", "asimddp", "asimdhp", "fphp",
})


def parse_cpuinfo(text: str) -> tuple[str | None, tuple[str, ...]]:
    """``/proc/cpuinfo`` -> (model name, interesting flags), from the first processor block.

    Sample: ``model name\\t: AMD EPYC 9654 96-Core Processor`` / ``flags\\t\\t: fpu vme ... avx2``
    (Arm: ``Features\\t: fp asimd ...``, model from ``CPU part`` is not human-readable).
    """
    model = None
    flags: tuple[str, ...] = ()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if model and flags:
                break
            continue
        key = key.strip().lower()
        if key in ("model name", "hardware") and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:
            flags = tuple(sorted(
                f for f in value.split() if f in _INTERESTING or f.startswith(_INTERESTING_PREFIXES)
            ))
    return model, flags


def parse_meminfo(text: str) -> int | None:
    """``MemTotal:       24585732 kB`` -> bytes."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def probe(host: Host) -> Probed[CPUInfo]:
    info = host.system_info()
    model, flags = parse_cpuinfo(read_text(host, "/proc/cpuinfo") or "")
    meminfo = read_text(host, "/proc/meminfo")
    memory = parse_meminfo(meminfo) if meminfo else info.memory_bytes
    value = CPUInfo(
        model=model,
        logical_cores=info.logical_cores,
        usable_cores=info.usable_cores,
        flags=flags,
        memory_bytes=memory,
    )
    return Probed(value=value, found_via="/proc/cpuinfo, sched_getaffinity, /proc/meminfo")
