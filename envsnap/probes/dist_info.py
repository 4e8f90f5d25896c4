"""Installed distributions on a sys.path, read through a Host with importlib.metadata's rules."""

from __future__ import annotations

import email
import importlib.metadata
import io
import posixpath
import re
import time
import zipfile
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

    def is_folder(self) -> bool:
        return self._host.is_dir(self._path)

    def has(self, filename: str) -> bool:
        return self._host.is_file(posixpath.join(self._path, filename))


class ZipDistribution(HostDistribution):
    """A distribution inside a zip file on sys.path (a zipped egg, a zip of packages), read from
    the archive's members with the same caps as files, as importlib.metadata reads it through
    zipfile.Path."""

    def __init__(self, host: Host, archive: zipfile.ZipFile, zip_path: str, folder: str) -> None:
        super().__init__(host, posixpath.join(zip_path, folder))
        self._archive = archive
        self._folder = folder

    def _member(self, filename: str) -> zipfile.ZipInfo | None:
        name = f"{self._folder}/{filename}" if filename else self._folder
        try:
            return self._archive.getinfo(name)
        except KeyError:
            return None

    def _read(self, filename: str, limit: int) -> bytes | None:
        member = self._member(filename)
        if member is None or member.is_dir():
            return None
        try:
            with self._archive.open(member) as f:
                data = f.read(limit + 1)  # a member's declared size is not trusted
        except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
            raise UnreadableMetadata("unreadable-zip", f"{filename}: {exc}") from None
        if len(data) > limit:
            raise UnreadableMetadata("too-large", f"{filename or 'PKG-INFO'} over {limit} bytes")
        return data

    def is_folder(self) -> bool:
        return any(n.startswith(self._folder + "/") for n in self._archive.namelist())

    def has(self, filename: str) -> bool:
        return self._member(filename) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata:
    """The core metadata fields envsnap records, as importlib.metadata reads them."""

    name: str | None
    version: str | None
    requires: tuple[str, ...]  # raw requirement strings, markers included
    license: str | None = None  # the declared license: declared_license()
    license_classifiers: tuple[str, ...] = ()


def read_metadata(dist: HostDistribution, metadata_file: str) -> Metadata:
    """``metadata_file``: METADATA (dist-info), PKG-INFO (egg-info folder) or "" (an egg-info
    file). Checked first: importlib.metadata's handling of a missing one differs by version."""
    if dist.read_text(metadata_file) is None:
        raise UnreadableMetadata("no-metadata")
    meta = dist.metadata
    # Tested first: meta["Name"] of a missing header warns on 3.12+ and is to raise later.
    # (the PackageMetadata protocol has no .get)
    expression, classifiers = declared_license(
        meta["License-Expression"] if "License-Expression" in meta else None,  # noqa: SIM401
        meta["License"] if "License" in meta else None,  # noqa: SIM401
        meta.get_all("Classifier") or ())
    return Metadata(name=meta["Name"] if "Name" in meta else None,  # noqa: SIM401
                    version=meta["Version"] if "Version" in meta else None,  # noqa: SIM401
                    requires=tuple(dist.requires or ()), license=expression,
                    license_classifiers=classifiers)


# PEP 639 (https://peps.python.org/pep-0639/#license-expression): License-Expression, an SPDX
# expression, is the license; when it is present the older fields MUST be ignored. License
# counts only when it reads as an SPDX expression (it often holds a whole license text, or a
# word like "Dual License"); else the "License ::" classifiers say what they can.
_SPDX_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+:-]*")  # an id, LicenseRef-x, DocumentRef-y:z
_LICENSE_CLASSIFIER = "License :: "
_MAX_EXPRESSION = 200


def _spdx_like(text: str) -> bool:
    """Ids joined by AND, OR, WITH (parentheses allowed), on one short line: "MIT",
    "MPL-2.0 AND MIT", "(Apache-2.0 OR MIT)"; not "Apache 2.0" or "BSD License"."""
    words = text.replace("(", " ( ").replace(")", " ) ").split()
    ids = [w for w in words if w not in "()"]
    return (0 < len(text) <= _MAX_EXPRESSION and "\n" not in text and len(ids) % 2 == 1
            and all((w in ("AND", "OR", "WITH")) == (i % 2 == 1) and (i % 2 == 1 or bool(
                _SPDX_WORD.fullmatch(w))) for i, w in enumerate(ids)))


def declared_license(expression: str | None, license: str | None, classifiers: Sequence[str]
                     ) -> tuple[str | None, tuple[str, ...]]:
    """(SPDX expression, ()) or (None, the "License ::" classifiers, in order, once each)."""
    text = (expression or "").strip()
    if text and len(text) <= _MAX_EXPRESSION and "\n" not in text:
        return text, ()
    text = (license or "").strip()
    if _spdx_like(text):
        return text, ()
    return None, tuple(dict.fromkeys(c.strip() for c in classifiers
                                     if c.strip().startswith(_LICENSE_CLASSIFIER)))


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


def read_dist(host: Host, directory: str, entry: str,
              dist: HostDistribution | None = None) -> dict[str, Any]:
    """One dist-info / egg-info as a raw record (``error`` set when it cannot be read)."""
    info: dict[str, Any] = {"dir": directory, "entry": entry}
    info["format"] = "dist-info" if entry.lower().endswith(".dist-info") else "egg-info"
    if dist is None:
        dist = HostDistribution(host, posixpath.join(directory, entry))
    # METADATA in a dist-info; PKG-INFO in an egg-info folder or an egg's EGG-INFO; a
    # single-file egg-info is itself the metadata.
    metadata_file = "METADATA"
    if info["format"] != "dist-info":
        metadata_file = "PKG-INFO" if dist.is_folder() else ""
    try:
        meta = read_metadata(dist, metadata_file)
    except UnreadableMetadata as exc:
        info["error"] = exc.kind
        if exc.detail:
            info["detail"] = exc.detail
        return info
    info["metadata"] = {"name": meta.name, "version": meta.version, "requires-dist": list(meta.requires)}
    info["license"], info["license-classifiers"] = meta.license, list(meta.license_classifiers)
    if info["format"] != "dist-info":
        return info
    info["installer"] = _first_line(dist._read("INSTALLER", SMALL_FILE_LIMIT))
    info["requested"] = dist.has("REQUESTED")
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


# The largest zip on sys.path read (a zipped egg, a zip of packages): zipped eggs are a few MiB.
ZIP_LIMIT = 256 * 2**20
_NORMALIZE = re.compile(r"[-_.]+")


def importlib_order(names: Sequence[str], *, base_is_egg: bool) -> list[str]:
    """The metadata folders of one sys.path entry in the order importlib.metadata yields them
    (``distributions()``: its ``Lookup``): dist-info and egg-info folders grouped by the project
    name their folder name starts with, groups in the order first seen, each group in listing
    order; then an egg's EGG-INFO. ``names`` is the folder's listing in os.listdir's order.

    >>> importlib_order(["b-1.dist-info", "a-2.dist-info", "b-0.dist-info"], base_is_egg=False)
    ['b-1.dist-info', 'b-0.dist-info', 'a-2.dist-info']
    """
    infos: dict[str, list[str]] = {}
    eggs: list[str] = []
    for name in names:
        low = name.lower()
        if low.endswith((".dist-info", ".egg-info")):
            project = _NORMALIZE.sub("_", low.rpartition(".")[0].partition("-")[0])
            infos.setdefault(project, []).append(name)
        elif base_is_egg and low == "egg-info":
            eggs.append(name)
    return [n for group in infos.values() for n in group] + eggs


def _is_egg(entry: str) -> bool:
    return posixpath.basename(entry.rstrip("/")).lower().endswith(".egg")


def _scan_zip(host: Host, entry: str, names: Sequence[str] | None) -> list[dict[str, Any]]:
    """The distributions inside a zip on sys.path, or one record naming why it was not read."""
    if names is not None and not importlib_order(names, base_is_egg=_is_egg(entry)):
        return []  # no metadata inside (a stdlib zip, a zipapp): not read at all
    problem: dict[str, Any] = {"dir": posixpath.dirname(entry), "entry": posixpath.basename(entry),
                               "format": "zip"}
    try:
        data = host.read_bytes(entry, limit=ZIP_LIMIT)
    except FileTooLarge:
        return [{**problem, "error": "too-large", "detail": f"zip over {ZIP_LIMIT} bytes: not read"}]
    if data is None:
        return []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        listed = names if names is not None else list(
            dict.fromkeys(n.split("/", 1)[0] for n in archive.namelist()))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []  # not a zip: importlib.metadata finds nothing there either
    order = importlib_order(listed, base_is_egg=_is_egg(entry))
    return [read_dist(host, entry, name, ZipDistribution(host, archive, entry, name))
            for name in order]


def scan(host: Host, path: Sequence[str], *, listing: Sequence[Any] | None = None,
         deadline_s: float = 120.0) -> tuple[list[dict[str, Any]], str | None]:
    """Every dist-info / egg-info on ``path`` (a sys.path), in importlib.metadata's order, and a
    note when the scan stopped at its deadline (a path on a hung network mount) instead of
    finishing.

    ``listing`` is the target interpreter's own view (the inspector's ``metadata_entries``:
    ``[entry, "dir" | "zip", names in listing order]``): folders in os.listdir's order, which
    decides which of two copies importlib.metadata and pip report. Without it (an older
    inspector, a FakeHost) each folder is listed through the Host, and zips are recognised by
    their content.
    """
    seen_entries: dict[str, tuple[str, list[str] | None]] = {}
    for item in listing or ():
        if (isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], str)
                and item[1] in ("dir", "zip") and isinstance(item[2], list)
                and all(isinstance(n, str) for n in item[2])):
            seen_entries[item[0]] = (item[1], list(item[2]))
    dists: list[dict[str, Any]] = []
    seen: set[str] = set()
    stop_at = time.monotonic() + deadline_s
    for entry in path:
        if not entry or entry in seen:
            continue
        seen.add(entry)
        if time.monotonic() > stop_at:
            return dists, f"dist-info scan stopped after {deadline_s:g}s at {entry}"
        kind, names = seen_entries.get(entry, (None, None))
        if kind == "zip" or (kind is None and entry.lower().endswith((".zip", ".egg"))
                             and host.is_file(entry)):
            dists.extend(_scan_zip(host, entry, names))
            continue
        if names is None:
            names = host.listdir(entry)
        for name in importlib_order(names, base_is_egg=_is_egg(entry)):
            if time.monotonic() > stop_at:
                return dists, f"dist-info scan stopped after {deadline_s:g}s at {entry}"
            dists.append(read_dist(host, entry, name))
    return dists, None
