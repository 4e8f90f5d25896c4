"""The Simple API client: each pin's files and hashes from an index or a find-links location."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import (
    canonicalize_name,
)

from ..errors import EnvsnapError, FileTooLarge
from ..host import read_regular_file
from ..progress import SILENT, Transfer, human_bytes
from ..redact import redact_url
from .model import PYPI_SIMPLE
from .pages import IndexFile, _project_of, parse_html_page, parse_json_page
from .safety import is_safe_filename
from .settings import IndexSettings, split_auth
from .threads import Cancelled

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
# The most a download may send when its page declares no size: above the largest wheels
# published (CUDA builds of torch are ~2.5 GB), far below what fills a disk by surprise.
MAX_DOWNLOAD_BYTES = 4 * 2**30
# The most a project or find-links page may send (PyPI's largest JSON pages are a few MB).
MAX_PAGE_BYTES = 64 * 2**20
MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_WEB = ("http", "https")


class IndexUnreachable(EnvsnapError):
    """An index or find-links location did not answer (or refused us): exit 1, one line."""


class IndexRefused(EnvsnapError):
    """An index sent what envsnap never follows or keeps (a link to a local file, more bytes
    than declared): exit 1, the index named, nothing kept."""


class OffIndexRedirect(EnvsnapError):
    """A project page redirected to another host: not followed (a miss on that index)."""


# ---------------------------------------------------------------------------------------------
# Sources and the client (the network edge)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """An index or a find-links location, as this machine reaches it."""

    url: str  # credential-free: shown in messages, compared with the lockfile's indexes
    kind: str  # "index" | "links"
    auth: tuple[str, str] | None = field(default=None, repr=False)
    origin: str = ""  # who named it: "pip configuration", "--index-url", "built in" ...

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
    def remote(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme in _WEB

    @property
    def shown(self) -> str:
        return redact_url(self.url)


def source(url: str, kind: str, *, origin: str = "") -> Source:
    bare, auth = split_auth(url.strip())
    if kind == "index" and "://" in bare:
        bare = bare.rstrip("/")
    return Source(url=bare, kind=kind, auth=auth, origin=origin)


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
                # requests (the lock extra, 0.1 s to import) is loaded on a thread while the
                # snapshot is read and planned (cli/_locking.settings_factory): not at import.
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
            import keyring  # type: ignore[import-not-found, unused-ignore]  # optional, as in pip

            cred = keyring.get_credential(src.url, None) or keyring.get_credential(
                urllib.parse.urlsplit(src.url).netloc, None)
            if cred is not None:
                found = (str(cred.username), str(cred.password))
        except Exception:  # any keyring backend failure means "no credentials", as in pip
            found = None
        with self._lock:
            self._keyring[src.url] = found
        return found

    def _proxy_for(self, url: str) -> str | None:
        """The proxy requests uses for ``url``: pip's ``proxy`` setting, else HTTP(S)_PROXY /
        ALL_PROXY unless NO_PROXY names the host (requests' own rules, as pip uses them)."""
        if self.settings.proxy:
            return self.settings.proxy
        from requests.utils import get_environ_proxies, select_proxy  # see _session

        found: str | None = select_proxy(url, get_environ_proxies(url))
        return found

    def _send(self, src: Source, url: str, headers: Mapping[str, str], *, stream: bool,
              redirects: bool) -> Any:
        import requests  # see _session

        try:
            resp = self._session().get(url, headers=dict(headers), auth=self._auth(src, url),
                                       timeout=self.timeout, stream=stream,
                                       verify=self._verify(url), allow_redirects=redirects)
            if resp.status_code == 401 and src.auth is None:
                cred = self._keyring_auth(src)
                if cred is not None:
                    resp.close()
                    resp = self._session().get(url, headers=dict(headers), auth=cred,
                                               timeout=self.timeout, stream=stream,
                                               verify=self._verify(url),
                                               allow_redirects=redirects)
        except requests.RequestException as exc:
            via = ""
            if isinstance(exc, requests.exceptions.ProxyError):
                proxy = self._proxy_for(url)
                via = f" through the proxy {redact_url(proxy)}" if proxy else " through a proxy"
            raise IndexUnreachable(
                f"cannot reach {self._what(src)}: GET {redact_url(url)}{via}: {_reason(exc)} "
                f"({self.retries + 1} tries, {self.timeout[0]:.0f}s connect timeout each)"
            ) from None
        return resp

    def get(self, src: Source, url: str, *, stream: bool = False,
            accept: str | None = None, same_host: bool = False) -> Any:
        """GET with timeouts and retries; 401 asks keyring once. Raises IndexUnreachable naming
        ``src`` and the URL that failed on a connection failure, 401/403 and 5xx.

        ``same_host`` (project and find-links pages): a redirect is followed only on the host
        asked, never to another host or from https to http (OffIndexRedirect): a mirror that
        sends what it lacks to pypi.org must not take envsnap there. Files follow redirects as
        pip does (to http(s) only; their sha256 is checked).
        """
        headers = {"Accept": accept} if accept else {}
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self._send(src, current, headers, stream=stream, redirects=not same_host)
            if not (same_host and resp.is_redirect):
                break
            target = urllib.parse.urljoin(current, resp.headers.get("Location", ""))
            resp.close()
            here, there = urllib.parse.urlsplit(current), urllib.parse.urlsplit(target)
            if (there.scheme not in _WEB or (there.hostname or "") != (here.hostname or "")
                    or there.port != here.port or (here.scheme, there.scheme) == ("https", "http")):
                where = f"{there.scheme}://{there.hostname}" if there.scheme in _WEB else \
                    _scheme_shown(there.scheme) + " URL"
                raise OffIndexRedirect(f"{self._what(src)} redirects {redact_url(current)} to "
                                       f"{where}, outside the configuration: not followed")
            current = target
        else:
            raise IndexUnreachable(f"{self._what(src)}: more than {MAX_REDIRECTS} redirects "
                                   f"for {redact_url(url)}")
        if resp.status_code in (401, 403):
            resp.close()
            raise IndexUnreachable(
                f"{self._what(src)} refused access (HTTP {resp.status_code}) to "
                f"{redact_url(current)}: give credentials in the index URL, ~/.netrc or keyring")
        if resp.status_code >= 500 or resp.status_code == 429:
            resp.close()
            raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} for "
                                   f"{redact_url(current)} after {self.retries + 1} tries")
        return resp

    def _what(self, src: Source) -> str:
        kind = "the index" if src.kind == "index" else "the find-links location"
        return f"{kind} {src.shown} [{src.origin or self.settings.origin}]"

    def _read_page(self, src: Source, resp: Any, what: str) -> str:
        """A page's text, at most MAX_PAGE_BYTES (decoded: a compressed page counts as sent)."""
        import requests  # see _session

        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(_CHUNK):
                size += len(chunk)
                if size > MAX_PAGE_BYTES:
                    raise IndexRefused(f"{self._what(src)} sent more than "
                                       f"{human_bytes(MAX_PAGE_BYTES)} for the page of {what}: "
                                       "refused")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise IndexUnreachable(f"{self._what(src)} broke off sending the page of {what} "
                                   f"({_reason(exc)})") from None
        return b"".join(chunks).decode(resp.encoding or "utf-8", "replace")

    def _web_only(self, src: Source, files: list[IndexFile], what: str) -> list[IndexFile]:
        """A page fetched over http(s) may link only http(s) files: a ``file:`` link would make
        envsnap read (and copy into a wheelhouse, a build context) a file of this machine."""
        if src.remote:
            for f in files:
                scheme = urllib.parse.urlsplit(f.url).scheme
                if scheme not in _WEB:
                    raise IndexRefused(
                        f"{self._what(src)} links a {_scheme_shown(scheme)} URL for {what}: "
                        "refused (a page fetched over http(s) may only link http(s) files)")
        return files

    # -----------------------------------------------------------------------------------------

    def project_files(self, src: Source, project: str) -> list[IndexFile] | None:
        """The files ``src`` lists for ``project``; None when it has no such project."""
        name = canonicalize_name(project)
        if src.kind == "links":
            return [f for f in self._link_files(src) if _project_of(f.filename) == name]
        local = src.local
        if local is not None:  # a file:// index the user configured: <root>/<project>/index.html
            page = local / name / "index.html"
            try:
                raw = read_regular_file(str(page), limit=MAX_PAGE_BYTES)
            except FileTooLarge:
                raise IndexRefused(f"{self._what(src)}: the page of {name} is larger than "
                                   f"{human_bytes(MAX_PAGE_BYTES)}") from None
            if raw is None:
                return None
            return parse_html_page(raw.decode("utf-8", "replace"), page.as_uri())
        resp = self.get(src, f"{src.url}/{name}/", accept=ACCEPT, stream=True, same_host=True)
        with resp:
            if resp.status_code == 404:
                return None
            if resp.status_code >= 400:
                raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} "
                                       f"for {redact_url(resp.url)}")
            kind = resp.headers.get("Content-Type", "text/html").split(";")[0].strip().lower()
            base = resp.url
            text = self._read_page(src, resp, name)
        if kind == "application/vnd.pypi.simple.v1+json":
            try:
                files = parse_json_page(json.loads(text), base)
            except ValueError:
                raise IndexUnreachable(f"{self._what(src)} served invalid JSON for "
                                       f"{name}") from None
        else:
            files = parse_html_page(text, base)
        return self._web_only(src, files, name)

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
                         for n in names if n.endswith((".whl", ".tar.gz", ".zip"))
                         and is_safe_filename(n) and (local / n).is_file()]
        else:
            resp = self.get(src, src.url, accept="text/html", stream=True, same_host=True)
            with resp:
                status, base = resp.status_code, resp.url
                text = "" if status >= 400 else self._read_page(src, resp, "find-links")
            files = [] if status >= 400 else self._web_only(
                src, parse_html_page(text, base), "a file")
        with self._lock:
            self._links[src.url] = files
        return files

    def stream(self, src: Source, f: IndexFile, sink: Any,
               transfer: Transfer | None = None, cancel: threading.Event | None = None) -> str:
        """Copy ``f`` into ``sink`` (a binary file object, or None to only hash it); the hex
        sha256 of what was read. At most the size the page declares, else MAX_DOWNLOAD_BYTES
        (IndexRefused past it); a local file only from a source the user configured on this
        machine, and only a regular file. ``cancel`` set: stops between chunks."""
        transfer = transfer or SILENT.transfer(f.filename, f.size)
        digest = hashlib.sha256()
        limit = f.size if f.size is not None else MAX_DOWNLOAD_BYTES
        parts = urllib.parse.urlsplit(f.url)
        received = 0

        def take(chunk: bytes) -> None:
            nonlocal received
            if cancel is not None and cancel.is_set():
                raise Cancelled
            received += len(chunk)
            if received > limit:
                declared = "declares" if f.size is not None else "allows (MAX_DOWNLOAD_BYTES)"
                raise IndexRefused(f"{self._what(src)} sent more than the {limit} bytes it "
                                   f"{declared} for {f.filename}: refused, nothing kept")
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
            transfer.advance(len(chunk))

        if parts.scheme not in _WEB:
            if src.remote or parts.scheme != "file":
                raise IndexRefused(f"{self._what(src)}: {f.filename} is a "
                                   f"{_scheme_shown(parts.scheme)} URL: refused")
            with _open_regular(urllib.parse.unquote(parts.path), self._what(src)) as fh:
                while chunk := fh.read(_CHUNK):
                    take(chunk)
            return digest.hexdigest()
        import requests  # see _session

        resp = self.get(src, f.url, stream=True)
        with resp:
            if resp.status_code >= 400:
                raise IndexUnreachable(f"{self._what(src)} answered HTTP {resp.status_code} "
                                       f"for {redact_url(resp.url)}")
            try:
                for chunk in resp.iter_content(_CHUNK):
                    take(chunk)
            except requests.RequestException as exc:
                raise IndexUnreachable(f"{self._what(src)} broke off sending {f.filename} "
                                       f"({_reason(exc)})") from None
        return digest.hexdigest()


def _scheme_shown(scheme: str) -> str:
    # The scheme is all a message shows of a refused URL (never its path or query).
    return f"{scheme}:" if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", scheme) else "non-http(s)"


@contextlib.contextmanager
def _open_regular(path: str, what: str) -> Iterator[Any]:
    """A local regular file opened for reading; a FIFO, a device or a folder is refused
    (O_NONBLOCK: opening a FIFO does not wait for a writer)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IndexUnreachable(f"{what}: cannot read a file it lists ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IndexRefused(f"{what} lists a file that is not a regular file: refused")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def sources(settings: IndexSettings, *, snapshot_indexes: Sequence[str] = ()) -> list[Source]:
    """Where this machine looks, in order: the user's indexes (pip's default, PyPI, when the
    configuration names no index-url), then the snapshot's indexes the user allowed
    (--use-snapshot-indexes), then find-links locations; with no-index, find-links only."""
    out: list[Source] = []
    if not settings.no_index:
        default = "pip's default: no index is configured"
        out.append(source(settings.index_url or PYPI_SIMPLE, "index",
                          origin=settings.origin if settings.index_url else default))
        out += [source(u, "index", origin=settings.origin) for u in settings.extra_index_urls]
        out += [source(u, "index", origin="recorded in the snapshot; --use-snapshot-indexes")
                for u in snapshot_indexes]
    out += [source(u, "links", origin=settings.origin) for u in settings.find_links]
    seen: set[tuple[str, str]] = set()
    unique: list[Source] = []
    for src in out:
        if (src.url, src.kind) not in seen:
            seen.add((src.url, src.kind))
            unique.append(src)
    return unique
