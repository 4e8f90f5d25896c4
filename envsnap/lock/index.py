"""The Simple API client: each pin's files and hashes from an index (PEP 691 JSON, PEP 503
HTML) or a find-links location, and the one file pip would install for the target."""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .. import rules
from ..errors import EnvsnapError
from ..progress import SILENT, Transfer
from ..redact import redact_url
from .settings import IndexSettings, split_auth

# https://packaging.python.org/en/latest/specifications/simple-repository-api/: JSON first,
# HTML for servers without PEP 691 (pypiserver 2.4 answers text/html whatever is asked).
ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
          "text/html;q=0.01")
CONNECT_TIMEOUT_S = 10.0  # per attempt
READ_TIMEOUT_S = 15.0  # between bytes, per attempt
# After the first attempt: an index that does not answer is named after 3 tries of at most
# 10 s to connect (or 15 s without a byte) plus 0.75 s of backoff, within 60 s.
RETRIES = 2
WORKERS = 16  # concurrent requests (connection pools are sized to match)
_CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class IndexUnreachable(EnvsnapError):
    """An index or find-links location did not answer (or refused us): exit 1, one line."""


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
    if value is None or not _SHA256.fullmatch(value):
        return None
    return value.lower()


# ---------------------------------------------------------------------------------------------
# Parsing project pages (pure)


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
    """A PEP 691 project page (``application/vnd.pypi.simple.v1+json``)::

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
        out.append(IndexFile(
            filename=name if isinstance(name, str) and name else _filename(url),
            url=url, sha256=sha if isinstance(sha, str) else frag_sha,
            requires_python=rp if isinstance(rp, str) and rp else None,
            yanked=bool(entry.get("yanked")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None))
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
    name, its href carrying ``#sha256=<hex>``::

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
        shown = "".join(texts).strip()
        out.append(IndexFile(
            filename=shown or _filename(url), url=url, sha256=sha,
            requires_python=attrs.get("data-requires-python") or None,
            yanked="data-yanked" in attrs))
    return out


# ---------------------------------------------------------------------------------------------
# Choosing the file pip would install (pure)


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
    from packaging.tags import parse_tag

    try:
        return parse_tag(text)
    except ValueError:
        return frozenset()


# ---------------------------------------------------------------------------------------------
# Sources and the client (the network edge)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """An index or a find-links location, as this machine reaches it."""

    url: str  # credential-free: shown in messages, compared with the lockfile's indexes
    kind: str  # "index" | "links"
    auth: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def local(self) -> Path | None:
        """The folder a ``file://`` URL or a plain path names; None for http(s)."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "file":
            return Path(urllib.parse.unquote(parts.path))
        if parts.scheme in ("http", "https"):
            return None
        return Path(self.url)

    @property
    def shown(self) -> str:
        return redact_url(self.url)


def source(url: str, kind: str) -> Source:
    bare, auth = split_auth(url.strip())
    if kind == "index" and "://" in bare:
        bare = bare.rstrip("/")
    return Source(url=bare, kind=kind, auth=auth)


def _reason(exc: BaseException) -> str:
    """The innermost cause a user can act on: 'Connection refused', 'timed out', ..."""
    seen: BaseException | None = exc
    text = ""
    for _ in range(12):
        if seen is None:
            break
        if isinstance(seen, TimeoutError) or "timed out" in str(seen).lower():
            return "timed out"
        if isinstance(seen, OSError) and seen.strerror:
            text = seen.strerror
        nxt = seen.__cause__ or seen.__context__
        if nxt is None and seen.args and isinstance(seen.args[-1], BaseException):
            nxt = seen.args[-1]
        if nxt is None and hasattr(seen, "reason") and isinstance(seen.reason, BaseException):
            nxt = seen.reason
        seen = nxt
    if text:
        return text
    message = str(exc)
    for pattern in ("Connection refused", "Name or service not known", "No route to host",
                    "Unable to connect to proxy", "Tunnel connection failed",
                    "certificate verify failed", "Max retries exceeded"):
        if pattern in message:
            return pattern
    return type(exc).__name__


class IndexClient:
    """Project pages and files over HTTP(S) with the user's TLS, proxy and credentials; local
    folders and ``file://`` indexes read from disk. Thread-safe; one requests Session per
    thread. Use as a context manager."""

    def __init__(self, settings: IndexSettings, *, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, retries: int = RETRIES,
                 workers: int = WORKERS) -> None:
        self.settings = settings
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.workers = workers
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._links: dict[str, list[IndexFile]] = {}
        self._keyring: dict[str, tuple[str, str] | None] = {}

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            try:
                import requests
                from requests.adapters import HTTPAdapter
                from urllib3.util import Retry
            except ImportError:  # pragma: no cover - a dependency of envsnap[lock]
                raise EnvsnapError("reading an index needs requests: pip install "
                                   "'envsnap[lock]'") from None
            session = requests.Session()
            # Bounded retries on connection errors and 429/5xx, with backoff (0.25 s, 0.5 s).
            retry = Retry(total=self.retries, connect=self.retries, read=self.retries,
                          status=self.retries, other=0, backoff_factor=0.25,
                          status_forcelist=(429, 500, 502, 503, 504),
                          allowed_methods=frozenset({"GET"}), raise_on_status=False)
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4,
                                  pool_maxsize=self.workers)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "envsnap (https://github.com/envsnap/envsnap)"
            if self.settings.proxy:
                session.proxies = {"http": self.settings.proxy, "https": self.settings.proxy}
            if self.settings.client_cert:
                session.cert = self.settings.client_cert
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _verify(self, url: str) -> bool | str:
        host = urllib.parse.urlsplit(url).hostname or ""
        trusted = {h.split(":")[0] for h in self.settings.trusted_hosts}
        if host in trusted:
            return False
        return self.settings.cert or True

    def _auth(self, src: Source, url: str) -> tuple[str, str] | None:
        # Credentials of an index go only to its own host, as pip does.
        same = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(src.url).netloc
        if not same:
            return None
        return src.auth or self._keyring.get(src.url)

    def _keyring_auth(self, src: Source) -> tuple[str, str] | None:
        """Credentials from keyring for an index that answered 401 (pip's keyring-provider
        import mode); None when keyring is not installed or has none."""
        if not self.settings.keyring:
            return None
        with self._lock:
            if src.url in self._keyring:
                return self._keyring[src.url]
        found: tuple[str, str] | None = None
        try:
            import keyring  # type: ignore[import-not-found, unused-ignore]

            cred = keyring.get_credential(src.url, None) or keyring.get_credential(
                urllib.parse.urlsplit(src.url).netloc, None)
            if cred is not None:
                found = (str(cred.username), str(cred.password))
        except Exception:  # any keyring backend failure means "no credentials", as in pip
            found = None
        with self._lock:
            self._keyring[src.url] = found
        return found

    def get(self, src: Source, url: str, *, stream: bool = False,
            accept: str | None = None) -> Any:
        """GET with timeouts and retries; 401 asks keyring once. Raises IndexUnreachable
        naming ``src`` on a connection failure, 401/403 and 5xx."""
        import requests

        headers = {"Accept": accept} if accept else {}
        try:
            resp = self._session().get(url, headers=headers, auth=self._auth(src, url),
                                       timeout=self.timeout, stream=stream,
                                       verify=self._verify(url))
            if resp.status_code == 401 and src.auth is None:
                cred = self._keyring_auth(src)
                if cred is not None:
                    resp.close()
                    resp = self._session().get(url, headers=headers, auth=cred,
                                               timeout=self.timeout, stream=stream,
                                               verify=self._verify(url))
        except requests.RequestException as exc:
            via = (" through the proxy" if isinstance(exc, requests.exceptions.ProxyError)
                   else "")
            raise IndexUnreachable(
                f"cannot reach {self._what(src)}{via}: {_reason(exc)} ({self.retries + 1} "
                f"tries, {self.timeout[0]:.0f}s connect timeout each)") from None
        if resp.status_code in (401, 403):
            resp.close()
            raise IndexUnreachable(
                f"{self._what(src)} refused access (HTTP {resp.status_code}): give credentials "
                "in the index URL, ~/.netrc or keyring")
        if resp.status_code >= 500 or resp.status_code == 429:
            resp.close()
            raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} "
                                   f"after {self.retries + 1} tries")
        return resp

    def _what(self, src: Source) -> str:
        kind = "the index" if src.kind == "index" else "the find-links location"
        return f"{kind} {src.shown} [{self.settings.origin}]"

    # -----------------------------------------------------------------------------------------

    def project_files(self, src: Source, project: str) -> list[IndexFile] | None:
        """The files ``src`` lists for ``project``; None when it has no such project."""
        name = canonicalize_name(project)
        if src.kind == "links":
            return [f for f in self._link_files(src) if _project_of(f.filename) == name]
        local = src.local
        if local is not None:  # a file:// index: <root>/<project>/index.html
            page = local / name / "index.html"
            try:
                text = page.read_text("utf-8", errors="replace")
            except OSError:
                return None
            return parse_html_page(text, page.as_uri())
        resp = self.get(src, f"{src.url}/{name}/", accept=ACCEPT)
        with resp:
            if resp.status_code == 404:
                return None
            if resp.status_code >= 400:
                raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} "
                                       f"for {name}")
            kind = resp.headers.get("Content-Type", "text/html").split(";")[0].strip().lower()
            base = resp.url
            if kind == "application/vnd.pypi.simple.v1+json":
                try:
                    return parse_json_page(json.loads(resp.content), base)
                except ValueError:
                    raise IndexUnreachable(f"{self._what(src)} served invalid JSON for "
                                           f"{name}") from None
            return parse_html_page(resp.content.decode(resp.encoding or "utf-8", "replace"),
                                   base)

    def _link_files(self, src: Source) -> list[IndexFile]:
        with self._lock:
            cached = self._links.get(src.url)
        if cached is not None:
            return cached
        local = src.local
        if local is not None:
            try:
                names = sorted(os.listdir(local))
            except OSError:
                files: list[IndexFile] = []
            else:
                files = [IndexFile(filename=n, url=(local / n).resolve().as_uri(), sha256=None)
                         for n in names if n.endswith((".whl", ".tar.gz", ".zip"))]
        else:
            resp = self.get(src, src.url, accept="text/html")
            with resp:
                files = ([] if resp.status_code >= 400 else parse_html_page(
                    resp.content.decode(resp.encoding or "utf-8", "replace"), resp.url))
        with self._lock:
            self._links[src.url] = files
        return files

    def stream(self, src: Source, f: IndexFile, sink: Any,
               transfer: Transfer | None = None) -> str:
        """Copy ``f`` into ``sink`` (a binary file object, or None to only hash it); the hex
        sha256 of what was read."""
        transfer = transfer or SILENT.transfer(f.filename, f.size)
        digest = hashlib.sha256()
        parts = urllib.parse.urlsplit(f.url)
        if parts.scheme == "file":
            with open(urllib.parse.unquote(parts.path), "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    if sink is not None:
                        sink.write(chunk)
                    transfer.advance(len(chunk))
            return digest.hexdigest()
        import requests

        resp = self.get(src, f.url, stream=True)
        with resp:
            if resp.status_code >= 400:
                raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} "
                                       f"for {f.filename}")
            try:
                for chunk in resp.iter_content(_CHUNK):
                    digest.update(chunk)
                    if sink is not None:
                        sink.write(chunk)
                    transfer.advance(len(chunk))
            except requests.RequestException as exc:
                raise IndexUnreachable(f"{self._what(src)} broke off sending {f.filename} "
                                       f"({_reason(exc)})") from None
        return digest.hexdigest()


def _project_of(filename: str) -> str | None:
    if filename.endswith(".whl"):
        try:
            return parse_wheel_filename(filename)[0]
        except InvalidWheelFilename:
            return None
    stem = re.sub(r"\.(tar\.gz|zip)$", "", filename)
    return canonicalize_name(stem.rsplit("-", 1)[0]) if "-" in stem else None


def sources(settings: IndexSettings, *, indexes: Sequence[str]) -> list[Source]:
    """The network sources in the order they are asked: the configured (or flagged) indexes,
    else the lockfile's own ``indexes``; then find-links locations."""
    if settings.no_index:
        urls: Sequence[str] = ()
    elif settings.index_url or settings.extra_index_urls:
        urls = [u for u in (settings.index_url, *settings.extra_index_urls) if u]
        if not settings.index_url:
            urls = [indexes[0], *urls] if indexes else urls
    else:
        urls = indexes
    out = [source(u, "index") for u in dict.fromkeys(urls)]
    out += [source(u, "links") for u in dict.fromkeys(settings.find_links)]
    return out
