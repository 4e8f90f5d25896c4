"""elf: the loader's facts read from two small real shared objects (scripts/record_loader_cases.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from envsnap import elf
from envsnap.ldso import ElfInfo

ELF = Path(__file__).resolve().parent.parent / "data" / "loader" / "elf"
SAMPLE = (ELF / "libsample.so.1").read_bytes()  # RPATH, NODEFLIB, needs libz, a banner string
RUN = (ELF / "librun.so.2").read_bytes()  # RUNPATH


def _read(data: bytes) -> ElfInfo:
    return elf.read_info(io.BytesIO(data), path="/p/lib.so", realpath="/r/lib.so", ident="1:2")


def test_rpath_nodeflib_needed_soname_and_build_id() -> None:
    info = _read(SAMPLE)
    assert (info.elf_class, info.machine) == (64, 62)  # ELFCLASS64, EM_X86_64
    assert info.soname == "libsample.so.1"
    assert info.needed == ("libz.so.1", "libc.so.6")
    assert (info.rpath, info.runpath) == ("$ORIGIN/../lib:$LIB/x", None)
    assert info.nodeflib
    assert info.build_id == "b99291a389d026803f0c2cefcab5272544223b25"  # readelf -n
    assert (info.path, info.realpath, info.ident) == ("/p/lib.so", "/r/lib.so", "1:2")


def test_runpath() -> None:
    info = _read(RUN)
    assert (info.soname, info.rpath, info.runpath) == ("librun.so.2", None, "${ORIGIN}/sub")
    assert not info.nodeflib and info.build_id


@pytest.mark.parametrize("data", [
    b"", b"#!/bin/sh\necho not a library\n", b"\x7fELF", SAMPLE[:64], SAMPLE[:900],
    SAMPLE[:4] + b"\x09" + SAMPLE[5:],  # an unknown ELF class
])
def test_what_the_loader_would_refuse_reads_as_not_elf(data: bytes) -> None:
    assert _read(data).elf_class == 0


def test_corrupt_counts_are_bounded() -> None:
    # e_phnum (offset 56 in a 64-bit header) set to 65535: read as far as the file goes.
    broken = SAMPLE[:56] + b"\xff\xff" + SAMPLE[58:]
    assert _read(broken).elf_class in (0, 64)


BANNER = re.compile(rb"NCCL version (\d+\.\d+\.\d+[0-9A-Za-z.+_-]*)")


def test_find_in_section_reads_only_the_section() -> None:
    found = elf.find_in_section(io.BytesIO(SAMPLE), ".rodata", BANNER)
    assert found == b"NCCL version 2.99.1+cuda13.9"
    assert elf.find_in_section(io.BytesIO(SAMPLE), ".nosuch", BANNER) is None
    assert elf.find_in_section(io.BytesIO(b"plain text"), ".rodata", BANNER) is None


@pytest.mark.parametrize("chunk", [3, 7, 16, 29])
def test_a_match_cut_by_a_chunk_boundary_is_found_whole(chunk: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elf, "_CHUNK", chunk)
    assert elf.find_in_section(io.BytesIO(SAMPLE), ".rodata", BANNER) == b"NCCL version 2.99.1+cuda13.9"


def test_an_oversized_section_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elf, "SECTION_LIMIT", 8)
    assert elf.find_in_section(io.BytesIO(SAMPLE), ".rodata", BANNER) is None
