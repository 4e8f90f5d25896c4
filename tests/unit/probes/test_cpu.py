"""cpu probe: /proc/cpuinfo and /proc/meminfo parsed from recorded real files (tests/data/proc)."""

from __future__ import annotations

from pathlib import Path

from envsnap.probes import cpu

DATA = Path(__file__).resolve().parents[2] / "data"


def test_cpuinfo_recorded_amd_epyc() -> None:
    model, flags = cpu.parse_cpuinfo((DATA / "proc" / "cpuinfo-amd-epyc-2core.txt").read_text())
    assert model and "EPYC" in model
    assert {"avx2", "fma", "sse4_2"} <= set(flags)
    assert "fpu" not in flags and "vme" not in flags  # only ISA flags wheels care about
    assert list(flags) == sorted(flags)


def test_meminfo_recorded() -> None:
    assert cpu.parse_meminfo((DATA / "proc" / "meminfo.txt").read_text()) == 24683656 * 1024
