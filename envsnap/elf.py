"""ELF facts the loader reads (DT_NEEDED, RPATH, RUNPATH, SONAME, build-id) via pyelftools, headers only."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, BinaryIO, cast

from elftools.common.exceptions import ELFError
from elftools.common.utils import parse_cstring_from_stream, struct_parse
from elftools.construct import Container
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.notes import iter_notes
from elftools.elf.structs import ELFStructs

if TYPE_CHECKING:
    # Only named for iter_notes' signature: importing it at run time pulls in pyelftools'
    # DWARF and section readers (~30 ms of every capture), which nothing here uses.
    from elftools.elf.elffile import ELFFile

from .ldso import ElfInfo

_MAGIC = b"\x7fELF"

# A section read to look for a version string is at most this large: NCCL's .rodata is about
# 0.5 MB in a 250 MB library (2.30), so the string is found without reading the whole file.
SECTION_LIMIT = 32 * 2**20
_CHUNK = 1 << 20

# Real files have about a dozen program headers, a few dozen dynamic entries and fewer than a
# hundred sections; a corrupt count must not make a loop read a whole file.
_MAX_HEADERS = 256
_MAX_DYNAMIC = 4096
_MAX_SECTIONS = 4096

_ERRORS = (ELFError, ValueError, KeyError, AttributeError, OSError, UnicodeDecodeError,
           OverflowError)


class _Parsed:
    """What pyelftools' helpers need of an ELFFile (``structs``, ``stream``, ``elfclass``).
    ELFFile itself rebuilds every structure definition for each file it opens (about 1 ms),
    where a process reading hundreds of libraries needs one set per kind of file."""

    def __init__(self, stream: BinaryIO, structs: ELFStructs, elfclass: int, header: Container) -> None:
        self.stream = stream
        self.structs = structs
        self.elfclass = elfclass
        self.header = header


_STRUCTS: dict[tuple[bool, int, str, str, str], ELFStructs] = {}


def _structs(little: bool, elfclass: int, e_type: str = "", machine: str = "",
             osabi: str = "") -> ELFStructs:
    key = (little, elfclass, e_type, machine, osabi)
    found = _STRUCTS.get(key)
    if found is None:
        found = ELFStructs(little_endian=little, elfclass=elfclass)
        found.create_basic_structs()
        if e_type:
            found.create_advanced_structs(e_type, machine, osabi)
        _STRUCTS[key] = found  # two threads may build it twice: the same definitions
    return found


def _open(stream: BinaryIO) -> _Parsed | None:
    """The file's ELF header, with the structures for its class, byte order and machine;
    None when it is not ELF."""
    stream.seek(0)
    if stream.read(4) != _MAGIC:
        return None
    # e_ident is bytes only: any structure set reads it.
    ident = struct_parse(_structs(True, 32).Elf_Ehdr, stream, stream_pos=0)["e_ident"]
    elfclass = {"ELFCLASS32": 32, "ELFCLASS64": 64}.get(str(ident["EI_CLASS"]))
    little = {"ELFDATA2LSB": True, "ELFDATA2MSB": False}.get(str(ident["EI_DATA"]))
    if elfclass is None or little is None:
        return None
    header = struct_parse(_structs(little, elfclass).Elf_Ehdr, stream, stream_pos=0)
    structs = _structs(little, elfclass, str(header["e_type"]), str(header["e_machine"]),
                       str(header["e_ident"]["EI_OSABI"]))
    return _Parsed(stream, structs, elfclass, header)


def read_info(stream: BinaryIO, *, path: str, realpath: str, ident: str) -> ElfInfo:
    """The loader's view of one file: what its ELF header, PT_DYNAMIC and PT_NOTE segments
    say. A file that is not ELF (or is too damaged to read) gets ``elf_class`` 0, which the
    loader treats as an error rather than skipping the file.

    Only the program headers, the dynamic array, its strings and the notes are read, with
    pyelftools' structures and note reader. Its DynamicSegment is not used: it walks every
    section header to find the string table (milliseconds a file); the loader finds the table
    through DT_STRTAB and the PT_LOAD mappings, and so does this.
    """
    try:
        elf = _open(stream)
        if elf is None:
            return ElfInfo(path=path, realpath=realpath, ident=ident, elf_class=0)
        header = elf.header
        phdr = elf.structs.Elf_Phdr
        headers = [struct_parse(phdr, stream, stream_pos=header["e_phoff"] + i * header["e_phentsize"])
                   for i in range(min(int(header["e_phnum"]), _MAX_HEADERS))]
        loads = [h for h in headers if h["p_type"] == "PT_LOAD"]
        dynamic = next((h for h in headers if h["p_type"] == "PT_DYNAMIC"), None)
        entries = _dynamic_entries(elf, dynamic) if dynamic is not None else []
        strtab = next((_file_offset(loads, int(e["d_val"])) for e in entries
                       if e["d_tag"] == "DT_STRTAB"), None)

        def text(value: int) -> str:
            if strtab is None:
                return ""
            raw = parse_cstring_from_stream(stream, strtab + value)
            return raw.decode("utf-8", "replace") if raw else ""

        tags: dict[str, list[int]] = {}
        for e in entries:
            tags.setdefault(str(e["d_tag"]), []).append(int(e["d_val"]))
        build_id = None
        for h in headers:
            if h["p_type"] != "PT_NOTE" or build_id is not None:
                continue
            for note in iter_notes(cast("ELFFile", elf), int(h["p_offset"]), int(h["p_filesz"])):
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    build_id = str(note["n_desc"])
                    break

        def one(tag: str) -> str | None:
            values = tags.get(tag)
            return text(values[0]) if values else None

        return ElfInfo(
            path=path, realpath=realpath, ident=ident, elf_class=elf.elfclass,
            machine=_machine_number(header["e_machine"]), soname=one("DT_SONAME"),
            needed=tuple(text(v) for v in tags.get("DT_NEEDED", [])),
            rpath=one("DT_RPATH"), runpath=one("DT_RUNPATH"),
            flags_1=tags.get("DT_FLAGS_1", [0])[0], build_id=build_id,
        )
    except _ERRORS:
        # A truncated or corrupt file: the loader refuses it too.
        return ElfInfo(path=path, realpath=realpath, ident=ident, elf_class=0)


def _dynamic_entries(elf: _Parsed, header: Container) -> list[Container]:
    """The PT_DYNAMIC array up to DT_NULL."""
    dyn = elf.structs.Elf_Dyn
    size = dyn.sizeof()
    out = []
    for i in range(min(int(header["p_filesz"]) // size, _MAX_DYNAMIC)):
        entry = struct_parse(dyn, elf.stream, stream_pos=header["p_offset"] + i * size)
        if entry["d_tag"] == "DT_NULL":
            break
        out.append(entry)
    return out


def _file_offset(loads: list[Container], address: int) -> int | None:
    """Where a virtual address lies in the file, through the PT_LOAD segment that maps it (as
    pyelftools' ELFFile.address_offsets computes it)."""
    for h in loads:
        if h["p_vaddr"] <= address < h["p_vaddr"] + h["p_filesz"]:
            return int(address - h["p_vaddr"] + h["p_offset"])
    return None


def _machine_number(machine: object) -> int:
    """pyelftools names e_machine ("EM_X86_64"); the model keeps elf.h's number."""
    if isinstance(machine, int):
        return machine
    value = ENUM_E_MACHINE.get(str(machine))
    return int(value) if isinstance(value, int) else 0


def find_in_section(stream: BinaryIO, section: str, pattern: re.Pattern[bytes]) -> bytes | None:
    """The first match of ``pattern`` in one section (``.rodata``), read in chunks; None when
    the file is not ELF, has no such section, or the section is over SECTION_LIMIT."""
    try:
        elf = _open(stream)
        if elf is None:
            return None
        header = elf.header
        shdr = elf.structs.Elf_Shdr
        count = min(int(header["e_shnum"]), _MAX_SECTIONS)
        sections = [struct_parse(shdr, stream, stream_pos=header["e_shoff"] + i * header["e_shentsize"])
                    for i in range(count)]
        names = sections[int(header["e_shstrndx"])] if header["e_shstrndx"] < count else None
        if names is None:
            return None
        found = None
        for sec in sections:
            raw = parse_cstring_from_stream(stream, int(names["sh_offset"]) + int(sec["sh_name"]))
            if raw == section.encode() and sec["sh_type"] != "SHT_NOBITS":
                found = sec
                break
    except _ERRORS:
        return None
    if found is None:
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
