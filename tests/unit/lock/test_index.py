"""The Simple API client on loopback only: timeouts, file: links, size caps, redirects, local sources.

The client against a real index server: tests/integration/test_index_pypiserver.py."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envsnap.lock.index import IndexClient, IndexUnreachable, source
from envsnap.lock.pages import (
    IndexFile,
)
from envsnap.lock.settings import (
    IndexSettings,
)

H = "a" * 64


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(sock.getsockname()[1])
    stop.set()
    t.join(timeout=2)
    for c in held:
        c.close()
    sock.close()


def test_a_silent_index_times_out_with_bounded_retries(silent_server: int) -> None:
    client = IndexClient(IndexSettings(origin="test"), connect_timeout=0.5, read_timeout=0.5,
                         retries=2)
    start = time.monotonic()
    with pytest.raises(IndexUnreachable, match=r"timed out \(3 tries"):
        client.project_files(source(f"http://127.0.0.1:{silent_server}/simple", "index"), "six")
    assert time.monotonic() - start < 5
    client.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A threaded http server on 127.0.0.1 serving ``tmp_path / 'site'``; ``/away/...``
    answers a redirect to another host."""
    import functools
    import http.server

    root = tmp_path / "site"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/away/"):
                self.send_response(303)
                self.send_header("Location", "https://pypi.org/simple" + self.path[5:])
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *_args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def _page(root: Path, project: str, body: str) -> None:
    (root / "simple" / project).mkdir(parents=True)
    (root / "simple" / project / "index.html").write_text(body)


def test_a_remote_page_linking_a_local_file_is_refused(site: tuple[str, Path]) -> None:
    from envsnap.lock.index import IndexRefused

    url, root = site
    _page(root, "six", '<a href="file:///etc/passwd">six-1.16.0-py2.py3-none-any.whl</a>')
    _page(root, "idna", '<base href="file:///"><a href="dev/zero">idna-3.7-py3-none-any.whl</a>')
    with IndexClient(IndexSettings(origin="test")) as client:
        for project in ("six", "idna"):
            with pytest.raises(IndexRefused, match=f"links a file: URL for {project}: refused"):
                client.project_files(source(f"{url}/simple", "index"), project)
        with pytest.raises(IndexRefused, match="is a file: URL: refused"):
            client.stream(source(f"{url}/simple", "index"), IndexFile(
                filename="six-1.16.0-py2.py3-none-any.whl", url="file:///etc/passwd",
                sha256=H), None)


def test_a_download_stops_at_its_declared_size(site: tuple[str, Path]) -> None:
    from envsnap.lock.index import IndexRefused

    url, root = site
    (root / "big.whl").write_bytes(b"x" * 300_000)
    f = IndexFile(filename="big-1.0-py3-none-any.whl", url=f"{url}/big.whl", sha256=H, size=1000)
    sink = io.BytesIO()
    with IndexClient(IndexSettings(origin="test")) as client, pytest.raises(
            IndexRefused, match="sent more than the 1000 bytes it declares"):
        client.stream(source(url, "index"), f, sink)
    assert len(sink.getvalue()) <= 1000


def test_pages_and_undeclared_downloads_are_capped(site: tuple[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from envsnap.lock import index
    from envsnap.lock.index import IndexRefused

    url, root = site
    monkeypatch.setattr(index, "MAX_PAGE_BYTES", 10_000)
    monkeypatch.setattr(index, "MAX_DOWNLOAD_BYTES", 50_000)
    _page(root, "six", "<!-- padding -->" * 2000)
    (root / "big.whl").write_bytes(b"x" * 300_000)
    with IndexClient(IndexSettings(origin="test")) as client:
        with pytest.raises(IndexRefused, match=r"sent more than 9\.8 KiB for the page of six"):
            client.project_files(source(f"{url}/simple", "index"), "six")
        with pytest.raises(IndexRefused, match="sent more than the 50000 bytes it allows"):
            client.stream(source(url, "index"), IndexFile(
                filename="big-1.0-py3-none-any.whl", url=f"{url}/big.whl", sha256=None), None)


def test_a_page_redirected_to_another_host_is_not_followed(site: tuple[str, Path]) -> None:
    from envsnap.lock.index import OffIndexRedirect

    url, _root = site
    with IndexClient(IndexSettings(origin="test")) as client, pytest.raises(
            OffIndexRedirect, match=r"redirects .*/away/pip/ to https://pypi\.org, outside the "
                                    r"configuration: not followed"):
        client.project_files(source(f"{url}/away", "index"), "pip")


def test_a_local_source_reads_regular_files_only(tmp_path: Path) -> None:
    from envsnap.lock.index import IndexRefused

    fifo = tmp_path / "six-1.16.0-py2.py3-none-any.whl"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with IndexClient(IndexSettings(origin="test")) as client:
        assert client.project_files(source(str(tmp_path), "links"), "six") == []
        with pytest.raises(IndexRefused, match="not a regular file"):
            client.stream(source(str(tmp_path), "links"), IndexFile(
                filename=fifo.name, url=fifo.as_uri(), sha256=None), None)
