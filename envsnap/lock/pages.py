"""Simple API pages (PEP 691 JSON, PEP 503 HTML) -> files; the one pip would install (pure)."""

from __future__ import annotations

import html.parser
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .. import rules
from .model import is_sha256
from .safety import is_safe_filename


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexFile:
    """One file a project page lists."""

    filename: str
    url: str  # absolute; never holds credentials (pages are read from credential-free URLs)
    sha256: str | None  # as served (checked by well_formed_sha256 before use)
    requires_python: str | None = None
    yanked: bool = False
    size: int | None = None


def well_formed_sha256(value: str | None) -> str | None:
    """The served hex digest, lower-cased, or None when it is not 64 hex digits."""
    if value is None or not value.isascii() or not is_sha256(value.lower()):
        return None
    return value.lower()


def _join(base: str, href: str) -> tuple[str, str | None]:
    """(absolute URL without fragment, sha256 from a ``#sha256=`` fragment)."""
    url, _, fragment = urllib.parse.urljoin(base, href).partition("#")
    sha = None
    for part in fragment.split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "sha256":
            sha = value
    return url, sha


def _filename(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def parse_json_page(data: Any, base_url: str) -> list[IndexFile]:
    """A PEP 691 project page (``application/vnd.pypi.simple.v1+json``); entries whose file
    name is not a wheel or sdist name (is_safe_filename) are left out::

        {"meta": {"api-version": "1.1"}, "name": "six", "files": [{"filename":
         "six-1.16.0-py2.py3-none-any.whl", "url": "https://files.../six-1.16.0-...whl",
         "hashes": {"sha256": "8abb..."}, "requires-python": ">=2.7", "yanked": false,
         "size": 11053}]}
    """
    files = data.get("files") if isinstance(data, Mapping) else None
    out: list[IndexFile] = []
    for entry in files if isinstance(files, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("url"), str):
            continue
        url, frag_sha = _join(base_url, entry["url"])
        hashes = entry.get("hashes")
        sha = hashes.get("sha256") if isinstance(hashes, Mapping) else None
        name = entry.get("filename")
        rp = entry.get("requires-python")
        size = entry.get("size")
        filename = name if isinstance(name, str) and name else _filename(url)
        if not is_safe_filename(filename):
            continue
        out.append(IndexFile(
            filename=filename,
            url=url, sha256=sha if isinstance(sha, str) else frag_sha,
            requires_python=rp if isinstance(rp, str) and rp else None,
            yanked=bool(entry.get("yanked")),
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0
            else None))
    return out


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[tuple[dict[str, str | None], list[str]]] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self._open = []
            self.anchors.append((dict(attrs), self._open))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def parse_html_page(text: str, base_url: str) -> list[IndexFile]:
    """A PEP 503 project page (or a find-links page): one anchor per file, its text the file
    name, its href carrying ``#sha256=<hex>``; anchors whose file name is not a wheel or sdist
    name (is_safe_filename) are left out::

        <a href="/packages/six-1.16.0-py2.py3-none-any.whl#sha256=8abb2f1d..."
           data-requires-python="&gt;=2.7">six-1.16.0-py2.py3-none-any.whl</a><br>
    """
    parser = _Links()
    parser.feed(text)
    parser.close()
    base = urllib.parse.urljoin(base_url, parser.base) if parser.base else base_url
    out: list[IndexFile] = []
    for attrs, texts in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, sha = _join(base, href)
        filename = "".join(texts).strip() or _filename(url)
        if not is_safe_filename(filename):
            continue
        out.append(IndexFile(
            filename=filename, url=url, sha256=sha,
            requires_python=attrs.get("data-requires-python") or None,
            yanked="data-yanked" in attrs))
    return out


def _platform_key(platform: str) -> tuple[int, int, int, str]:
    """pip's preference among platform tags: the newest manylinux (glibc) first, macOS by
    version, plain ``linux_*`` last."""
    linux = rules.parse_manylinux(platform)
    if linux is not None:
        return (0, -linux.glibc[0], -linux.glibc[1], platform)
    mac = re.fullmatch(r"macosx_(\d{1,3})_(\d{1,3})_\w+", platform)
    if mac:
        return (0, -int(mac.group(1)), -int(mac.group(2)), platform)
    return (2 if platform.startswith("linux_") else 1, 0, 0, platform)


def tag_ranks(python_version: str, abi: str | None, platforms: Iterable[str],
              implementation: str = "cpython") -> dict[Tag, int]:
    """Every wheel tag the target interpreter accepts -> its priority (0 = best), in the order
    packaging.tags gives pip (``cpython_tags`` then ``compatible_tags``)."""
    parsed = rules.python_version(python_version)
    if parsed is None:
        return {}
    ordered = sorted(set(platforms), key=_platform_key) or None
    abis = [abi] if abi else None
    if implementation == "cpython":
        tags = list(cpython_tags(parsed, abis=abis, platforms=ordered))
        interpreter = None
    else:
        interpreter = {"pypy": "pp", "graalpy": "graalpy"}.get(implementation, implementation)
        version = f"{parsed[0]}{parsed[1]}"
        tags = list(generic_tags(f"{interpreter}{version}", abis=abis, platforms=ordered))
    tags += compatible_tags(parsed, interpreter=None, platforms=ordered)
    ranks: dict[Tag, int] = {}
    for tag in tags:
        ranks.setdefault(tag, len(ranks))
    return ranks


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What the chosen file must install on: the snapshot's interpreter and platforms."""

    python_version: str
    ranks: Mapping[Tag, int]

    def accepts_python(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        try:
            return SpecifierSet(requires_python).contains(self.python_version, prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            return True  # pip ignores a metadata value it cannot parse


def choose(files: Iterable[IndexFile], *, name: str, version: str, target: Target,
           installed: Iterable[str] = ()) -> IndexFile | None:
    """The wheel pip would install for ``name==version`` on ``target``: among the wheels of
    exactly that version, the one built with the tags the snapshot recorded for the installed
    wheel (its WHEEL ``Tag:`` lines) when one is listed, else the best-ranked compatible
    tag, a higher build tag on a tie. Yanked files count: an ``==`` pin selects them (PEP 592).
    None when no wheel fits (sdists are never chosen)."""
    want = canonicalize_name(name)
    try:
        pinned = Version(version)
    except InvalidVersion:
        return None
    recorded = {t for tag in installed for t in _tags(tag)}
    best: tuple[tuple[int, int, int], IndexFile] | None = None
    for f in files:
        if not f.filename.endswith(".whl"):
            continue
        try:
            fname, fversion, build, tags = parse_wheel_filename(f.filename)
        except InvalidWheelFilename:
            continue
        if fname != want or fversion != pinned or not target.accepts_python(f.requires_python):
            continue
        ranked = [target.ranks[t] for t in tags if t in target.ranks] if target.ranks else [0]
        if not ranked:
            continue
        key = (0 if recorded and tags & recorded else 1, min(ranked),
               -(build[0] if build else 0))
        if best is None or key < best[0]:
            best = (key, f)
    return best[1] if best else None


def _tags(text: str) -> frozenset[Tag]:
    try:
        return parse_tag(text)
    except ValueError:
        return frozenset()


def _project_of(filename: str) -> str | None:
    if filename.endswith(".whl"):
        try:
            return parse_wheel_filename(filename)[0]
        except InvalidWheelFilename:
            return None
    stem = re.sub(r"\.(tar\.gz|zip)$", "", filename)
    return canonicalize_name(stem.rsplit("-", 1)[0]) if "-" in stem else None
