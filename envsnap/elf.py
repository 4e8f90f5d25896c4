"""ELF facts the loader reads (DT_NEEDED, RPATH, RUNPATH, SONAME, build-id) via pyelftools, headers only."""

from __future__ import annotations

import re
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSegment, DynamicTag
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import NoteSegment

from .ldso import ElfInfo

_MAGIC = b"\x7fELF"

# A section read to look for a version string is at most this large: NCCL's .rodata is about
# 0.5 MB in a 250 MB library (2.30), so the string is found without reading the whole file.
SECTION_LIMIT = 32 * 2**20
_CHUNK = 1 << 20


def read_info(stream: BinaryIO, *, path: str, realpath: str, ident: str) -> ElfInfo:
    """The loader's view of one file: what its ELF header, PT_DYNAMIC and PT_NOTE segments
    say. A file that is not ELF (or is too damaged to read) gets ``elf_class`` 0, which the
    loader treats as an error rather than skipping the file."""
    stream.seek(0)
    if stream.read(4) != _MAGIC:
        return ElfInfo(path=path, realpath=realpath, ident=ident, elf_class=0)
    stream.seek(0)
    try:
        elf = ELFFile(stream)
        needed: list[str] = []
        soname = rpath = runpath = build_id = None
        flags_1 = 0
        for seg in elf.iter_segments():
            if isinstance(seg, DynamicSegment):
                for tag in seg.iter_tags():
                    d_tag = tag.entry.d_tag
                    if d_tag == "DT_NEEDED":
                        needed.append(_text(tag, "needed"))
                    elif d_tag == "DT_SONAME":
                        soname = _text(tag, "soname")
                    elif d_tag == "DT_RPATH":
                        rpath = _text(tag, "rpath")
                    elif d_tag == "DT_RUNPATH":
                        runpath = _text(tag, "runpath")
                    elif d_tag == "DT_FLAGS_1":
                        flags_1 = int(tag.entry.d_val)
            elif isinstance(seg, NoteSegment) and build_id is None:
                for note in seg.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        build_id = str(note["n_desc"])
                        break
        machine = elf.header["e_machine"]
        return ElfInfo(
            path=path, realpath=realpath, ident=ident, elf_class=int(elf.elfclass),
            machine=_machine_number(machine), soname=soname, needed=tuple(needed),
            rpath=rpath, runpath=runpath, flags_1=flags_1, build_id=build_id,
        )
    except (ELFError, ValueError, KeyError, AttributeError, OSError, UnicodeDecodeError):
        # A truncated or corrupt file: the loader would refuse it too.
        return ElfInfo(path=path, realpath=realpath, ident=ident, elf_class=0)


def _text(tag: DynamicTag, attribute: str) -> str:
    """A string tag's value: pyelftools sets it as an attribute named for the tag's kind."""
    value = getattr(tag, attribute, None)
    return value if isinstance(value, str) else ""


def _machine_number(machine: object) -> int:
    """pyelftools names e_machine ("EM_X86_64"); the model keeps elf.h's number."""
    if isinstance(machine, int):
        return machine
    from elftools.elf.enums import ENUM_E_MACHINE

    value = ENUM_E_MACHINE.get(str(machine))
    return int(value) if isinstance(value, int) else 0


def find_in_section(stream: BinaryIO, section: str, pattern: re.Pattern[bytes]) -> bytes | None:
    """The first match of ``pattern`` in one section (``.rodata``), read in chunks; None when
    the file is not ELF, has no such section, or the section is over SECTION_LIMIT."""
    stream.seek(0)
    if stream.read(4) != _MAGIC:
        return None
    stream.seek(0)
    try:
        found = ELFFile(stream).get_section_by_name(section)
    except (ELFError, ValueError, KeyError, OSError, UnicodeDecodeError):
        return None
    if found is None or found["sh_type"] == "SHT_NOBITS":
        return None
    offset, size = int(found["sh_offset"]), int(found["sh_size"])
    if size > SECTION_LIMIT:
        return None
    stream.seek(offset)
    tail = b""
    left = size
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        data = tail + chunk
        m = pattern.search(data)
        # A match touching the end of what was read may go on in the next chunk.
        if m is not None and (m.end() < len(data) or left == 0):
            return m.group(0)
        tail = data[-256:]
    return None
