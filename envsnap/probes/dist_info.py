"""Installed distributions on a sys.path, read through a Host with importlib.metadata's rules."""

from __future__ import annotations

import email
import importlib.metadata
import posixpath
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FileTooLarge
from ..host import Host

# METADATA is a handful of headers before a long description (often most of the file). The
# email header rules that importlib.metadata parses it by end the header block at the first
# empty line; a line holding only whitespace inside a folded header is a continuation (long
# License texts have them). Lines end in \r\n, \r or \n, as for email's feedparser.
_EMPTY_LINE = re.compile(r"(?:\r\n|\r(?!\n)|\n)(?=\r\n|\r|\n)")
_LEADING_EMPTY_LINE = re.compile(r"\r\n|\r|\n")

# Caps on what one distribution may make us read: far above any real file (the largest
# METADATA on PyPI's top 1,000 is under 1 MiB), low enough that a planted /dev/zero or a
# multi-gigabyte file cannot exhaust memory.
METADATA_LIMIT = 16 * 2**20
SMALL_FILE_LIMIT = 1 * 2**20
RECORD_LIMIT = 64 * 2**20


def header_block(text: str) -> str:
    """The part of an RFC 822-style text that holds its headers (the body is not needed)."""
    if _LEADING_EMPTY_LINE.match(text):
        return ""
    m = _EMPTY_LINE.search(text)
    return text if m is None else text[: m.end()]


class UnreadableMetadata(Exception):
    """A dist-info whose metadata cannot be read: ``kind`` is the problem's name."""

    def __init__(self, kind: str, detail: str | None = None) -> None:
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


class HostDistribution(importlib.metadata.Distribution):
    """A distribution whose files are read through a Host (the real machine or a FakeHost).

    importlib.metadata parses what ``read_text`` returns, so names, versions and requirements
    (Requires-Dist, or an egg-info's requires.txt with its sections turned into markers) are
    exactly what ``importlib.metadata`` reports for the same files.
    """

    def __init__(self, host: Host, path: str) -> None:
        self._host = host
        self._path = path
        self._texts: dict[str, str | None] = {}
        self._message: Any = None

    def _read(self, filename: str, limit: int) -> bytes | None:
        path = posixpath.join(self._path, filename) if filename else self._path
        try:
            return self._host.read_bytes(path, limit=limit)
        except FileTooLarge:
            raise UnreadableMetadata("too-large", f"{filename or 'PKG-INFO'} over {limit} bytes") from None

    def read_text(self, filename: str) -> str | None:
        if filename not in self._texts:
            self._texts[filename] = self._read_text(filename)
        return self._texts[filename]

    def _read_text(self, filename: str) -> str | None:
        limit = METADATA_LIMIT if filename in ("METADATA", "PKG-INFO", "") else SMALL_FILE_LIMIT
        raw = self._read(filename, limit)
        if raw is None:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableMetadata(
                "undecodable", f"{filename or 'PKG-INFO'} is not UTF-8 (byte {exc.start})") from None
        # Universal newlines, as importlib.metadata's Path.read_text reads the file.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if filename in ("METADATA", "PKG-INFO", ""):
            # A file that starts with an empty line has no headers; "\n" parses to just that,
            # where "" would send importlib.metadata on to look for another file.
            return header_block(text) or "\n"
        return text

    @property
    def metadata(self) -> Any:
        # Parsed once per distribution: importlib.metadata's `requires` reads it again.
        if self._message is None:
            self._message = super().metadata
        return self._message

    def locate_file(self, path: Any) -> Any:
        return posixpath.join(posixpath.dirname(self._path), str(path))


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata:
    """The core metadata fields envsnap records, as importlib.metadata reads them."""

    name: str | None
    version: str | None
    requires: tuple[str, ...]  # raw requirement strings, markers included


def read_metadata(dist: HostDistribution, metadata_file: str) -> Metadata:
    """``metadata_file``: METADATA (dist-info), PKG-INFO (egg-info folder) or "" (an egg-info
    file). Checked first: importlib.metadata's handling of a missing one differs by version."""
    if dist.read_text(metadata_file) is None:
        raise UnreadableMetadata("no-metadata")
    meta = dist.metadata
    # Tested first: meta["Name"] of a missing header warns on 3.12+ and is to raise later.
    # (the PackageMetadata protocol has no .get)
    return Metadata(name=meta["Name"] if "Name" in meta else None,  # noqa: SIM401
                    version=meta["Version"] if "Version" in meta else None,  # noqa: SIM401
                    requires=tuple(dist.requires or ()))


def parse_metadata_text(text: str) -> Metadata:
    """METADATA text -> its fields: the header block parsed by the email rules."""
    msg = email.message_from_string(header_block(text))
    return Metadata(name=msg["Name"], version=msg["Version"],
                    requires=tuple(msg.get_all("Requires-Dist") or ()))


def _native_from_record(record: bytes) -> bool:
    # Compiled extension modules: *.so (also versioned, *.so.1), *.pyd, *.dylib
    for line in record.split(b"\n"):
        path = line.split(b",", 1)[0]
        if path.endswith((b".so", b".pyd", b".dylib")) or b".so." in path.rsplit(b"/", 1)[-1]:
            return True
    return False


def _first_line(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", "replace").strip().split("\n")[0].strip() or None


def read_dist(host: Host, directory: str, entry: str) -> dict[str, Any]:
    """One dist-info / egg-info as a raw record (``error`` set when it cannot be read)."""
    path = posixpath.join(directory, entry)
    info: dict[str, Any] = {"dir": directory, "entry": entry}
    info["format"] = "dist-info" if entry.lower().endswith(".dist-info") else "egg-info"
    dist = HostDistribution(host, path)
    # METADATA in a dist-info; PKG-INFO in an egg-info folder; a single-file egg-info is it.
    metadata_file = "METADATA"
    if info["format"] != "dist-info":
        metadata_file = "PKG-INFO" if host.is_dir(path) else ""
    try:
        meta = read_metadata(dist, metadata_file)
    except UnreadableMetadata as exc:
        info["error"] = exc.kind
        if exc.detail:
            info["detail"] = exc.detail
        return info
    info["metadata"] = {"name": meta.name, "version": meta.version, "requires-dist": list(meta.requires)}
    if info["format"] != "dist-info":
        return info
    info["installer"] = _first_line(dist._read("INSTALLER", SMALL_FILE_LIMIT))
    info["requested"] = host.is_file(posixpath.join(path, "REQUESTED"))
    direct = dist._read("direct_url.json", SMALL_FILE_LIMIT)
    if direct is not None:
        info["direct_url"] = direct.decode("utf-8", "replace")
    wheel = dist._read("WHEEL", SMALL_FILE_LIMIT)
    tags = []
    if wheel is not None:
        for line in wheel.decode("utf-8", "replace").splitlines():
            if line.startswith("Tag:"):
                tags.append(line[4:].strip())
    info["tags"] = tags
    if tags:
        info["native"] = any(not t.endswith("-any") for t in tags)
    else:
        # No WHEEL (conda builds, setup.py installs): fall back to the file list.
        record = dist._read("RECORD", RECORD_LIMIT)
        info["native"] = record is not None and _native_from_record(record)
    return info


def scan(host: Host, path: Sequence[str], *,
         deadline_s: float = 120.0) -> tuple[list[dict[str, Any]], str | None]:
    """Every dist-info / egg-info on ``path`` (a sys.path), in path order, and a note when the
    scan stopped at its deadline (a path on a hung network mount) instead of finishing."""
    dists: list[dict[str, Any]] = []
    seen: set[str] = set()
    stop_at = time.monotonic() + deadline_s
    for entry in path:
        if not entry or entry in seen:
            continue
        seen.add(entry)
        for name in host.listdir(entry):
            if not name.lower().endswith((".dist-info", ".egg-info")):  # as importlib matches
                continue
            if time.monotonic() > stop_at:
                return dists, f"dist-info scan stopped after {deadline_s:g}s at {entry}"
            dists.append(read_dist(host, entry, name))
    return dists, None
