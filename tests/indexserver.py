"""A real package index for tests: pypiserver serving a wheel folder on 127.0.0.1, started and
stopped by the test, plus the isolated environment the envsnap CLI runs in against it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import support

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (bound and released: connecting is refused)."""
    return free_port()


@dataclass
class IndexServer:
    """A running pypiserver; ``url`` is its Simple API root (no credentials)."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None
    user: str | None = None
    password: str | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def url_with_auth(self) -> str:
        if self.user is None:
            return self.url
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}/simple/"

    def requests_seen(self) -> int:
        """How many requests the server logged (each access is one line)."""
        if self.log is None or not self.log.exists():
            return 0
        return sum(1 for ln in self.log.read_text(errors="replace").splitlines()
                   if "<LocalRequest: GET" in ln and "/health" not in ln)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its handle
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def _wait_ready(proc: subprocess.Popen[bytes], ask: Callable[[], object], what: str,
                timeout: float = 60, pause: float = 0.1) -> None:
    """Until ``ask()`` gets an answer from the server ``proc`` runs (an HTTP error is one:
    401 with auth); it exiting first, or ``timeout`` passing, fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            ask()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(pause)
    raise AssertionError(f"{what} did not start within {timeout:.0f} s")


def _http(url: str) -> Callable[[], object]:
    return lambda: urllib.request.urlopen(url, timeout=2).close()


@contextlib.contextmanager
def serve(root: Path, *, user: str | None = None, password: str | None = None,
          hash_algo: str = "sha256", workdir: Path | None = None,
          fallback: bool = False) -> Iterator[IndexServer]:
    """pypiserver on a free port, serving ``root``; basic auth on every request when
    ``user`` is given. ``fallback``: pypiserver's default, a project it lacks is redirected
    to https://pypi.org/simple/; otherwise never (``--disable-fallback``)."""
    port = free_port()
    workdir = workdir or root.parent
    log = workdir / f"pypiserver-{port}.log"
    args = [str(BIN / "pypi-server"), "run", "-p", str(port), "-i", "127.0.0.1",
            *([] if fallback else ["--disable-fallback"]), "--hash-algo", hash_algo, "-v",
            "--log-file", str(log)]
    if user is not None:
        # Apache's {SHA} scheme, which pypiserver reads through passlib (pypiserver[passlib]).
        digest = base64.b64encode(hashlib.sha1((password or "").encode()).digest()).decode()
        htpasswd = workdir / f"htpasswd-{port}"
        htpasswd.write_text(f"{user}:{{SHA}}{digest}\n")
        args += ["-a", "download,list,update", "-P", str(htpasswd)]
    else:
        args += ["-a", ".", "-P", "."]
    proc = subprocess.Popen([*args, str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=support.clean_env())
    server = IndexServer(root=root, port=port, proc=proc, user=user, password=password, log=log)
    try:
        _wait_ready(proc, _http(f"http://127.0.0.1:{port}/health"), "pypiserver", pause=0.2)
        yield server
    finally:
        server.stop()


def cli_env(home: Path, *, pip_conf: str | None = None, dead_proxy: bool = True,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give envsnap, made from nothing of this machine:
    no PIP_* / UV_* variable, pip configured only by ``pip_conf`` (PIP_CONFIG_FILE; the
    machine's user file is then skipped, its global files only hold a CA bundle and a
    constraint file envsnap ignores), no uv configuration, an empty HOME (no netrc), and with
    ``dead_proxy`` every https request (PyPI, download.pytorch.org) sent to a closed port."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "CONDA"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "pip.conf"
    conf.write_text(pip_conf or "[global]\n", encoding="utf-8")
    env.update({"PIP_CONFIG_FILE": str(conf), "UV_NO_CONFIG": "1", "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"), "NO_COLOR": "1"})
    if dead_proxy:
        dead = f"http://127.0.0.1:{closed_port()}"
        env.update({"https_proxy": dead, "HTTPS_PROXY": dead, "no_proxy": "127.0.0.1,localhost",
                    "NO_PROXY": "127.0.0.1,localhost"})
    env.update(extra or {})
    return env


def envsnap(*args: str | os.PathLike[str], env: Mapping[str, str], cwd: Path | None = None,
            timeout: float = 600) -> tuple[int, str, str, float]:
    """Run the real CLI (``python -m envsnap``) in ``env``: (exit code, stdout, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, args)], env=dict(env),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def isolate_user_config(monkeypatch: Any) -> None:
    """For tests that run the CLI in-process: the pip / uv configuration envsnap reads is
    none at all (no file, no PIP_* or UV_* variable), whatever this machine has."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_NO_CONFIG", "1")


@contextlib.contextmanager
def serve_static(wheels: Path, workdir: Path) -> Iterator[IndexServer]:
    """A static PEP 503 mirror of ``wheels`` (how bandersnatch or an nginx / S3 mirror serves:
    pre-rendered ``simple/<project>/index.html`` pages with ``#sha256=`` links), served by the
    standard library's threaded ``python -m http.server`` on a free port."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    site = workdir / f"static-{os.getpid()}-{time.monotonic_ns()}"
    (site / "simple").mkdir(parents=True)
    (site / "packages").symlink_to(wheels.resolve(), target_is_directory=True)
    projects: dict[str, list[str]] = {}
    for whl in sorted(wheels.glob("*.whl")):
        projects.setdefault(canonicalize_name(parse_wheel_filename(whl.name)[0]), []).append(
            f'<a href="../../packages/{whl.name}#sha256='
            f'{hashlib.sha256(whl.read_bytes()).hexdigest()}">{whl.name}</a><br>')
    for name, links in projects.items():
        (site / "simple" / name).mkdir()
        (site / "simple" / name / "index.html").write_text(
            f"<!DOCTYPE html><html><body><h1>Links for {name}</h1>\n" + "\n".join(links)
            + "\n</body></html>\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", str(site), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    server = IndexServer(root=wheels, port=port, proc=proc)
    try:
        _wait_ready(proc, _http(f"http://127.0.0.1:{port}/simple/"), "http.server", timeout=30)
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# A static site with a request log (what a snapshot's index or a mirror is asked, seen from the
# server), optionally sending files slowly; and an HTTP(S) proxy that only writes down what
# it is asked (every request through it is a host outside the configuration).


@dataclass
class LoggedServer:
    """A running static site; ``requests()`` lists ``METHOD PATH`` of every request so far."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def requests(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its handle
            self.proc.wait(timeout=10)
        self.proc = None


def static_site(root: Path, wheels: Iterable[Path] = (),
                pages: Mapping[str, str] | None = None) -> Path:
    """A PEP 503 site in ``root``: ``simple/<project>/index.html`` linking each wheel (copied
    to ``files/``) with its ``#sha256=``, plus ``pages`` (project -> the page's HTML body)."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    (root / "simple").mkdir(parents=True, exist_ok=True)
    (root / "files").mkdir(exist_ok=True)
    projects: dict[str, list[str]] = {}
    for whl in wheels:
        data = whl.read_bytes()
        (root / "files" / whl.name).write_bytes(data)
        projects.setdefault(canonicalize_name(parse_wheel_filename(whl.name)[0]), []).append(
            f'<a href="../../files/{whl.name}#sha256={hashlib.sha256(data).hexdigest()}">'
            f'{whl.name}</a><br>')
    bodies = {name: "\n".join(links) for name, links in projects.items()}
    bodies.update(pages or {})
    for name, body in bodies.items():
        (root / "simple" / name).mkdir(exist_ok=True)
        (root / "simple" / name / "index.html").write_text(
            f"<!DOCTYPE html><html><body><h1>Links for {name}</h1>\n{body}\n</body></html>\n")
    return root


_SERVER = """
import functools, http.server, sys, time
root, port, log, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_request(self, code="-", size="-"):
        with open(log, "a") as fh:
            fh.write(f"{self.command} {self.path} {code}\\n")
    def copyfile(self, source, outputfile):
        if not delay or not self.path.startswith("/files/"):
            return super().copyfile(source, outputfile)
        while chunk := source.read(1024):
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(delay)
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                functools.partial(Handler, directory=root)).serve_forever()
"""


@contextlib.contextmanager
def serve_site(root: Path, *, delay: float = 0.0) -> Iterator[LoggedServer]:
    """``root`` served over http on 127.0.0.1 by the standard library's threaded server,
    every request written to a log; ``delay``: seconds between 1 KiB chunks of a file."""
    port = free_port()
    log = root.parent / f"{root.name}-{port}.log"
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(root), str(port), str(log),
                             str(delay)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = LoggedServer(root=root, port=port, proc=proc, log=log)
    try:
        _wait_ready(proc, lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(),
                    "the site server", timeout=30, pause=0.05)
        yield server
    finally:
        server.stop()


@dataclass
class Proxy:
    """What a proxy was asked: ``CONNECT pypi.org:443 HTTP/1.1`` per https request, the
    request line of plain-http ones. It answers 502 to all: a dead proxy that keeps a log."""

    url: str
    seen: list[str]


@contextlib.contextmanager
def logging_proxy() -> Iterator[Proxy]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    proxy = Proxy(url=f"http://127.0.0.1:{sock.getsockname()[1]}", seen=[])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _addr = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n" not in data and len(data) < 8192:
                        chunk = conn.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                proxy.seen.append(data.split(b"\r\n")[0].decode("latin-1"))
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
