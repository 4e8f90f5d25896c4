"""A snapshot is someone else's data, tried as an attacker would through the real CLI: the
sources it names are never built on this machine without --allow-build (a real git repository
served by `git daemon` on loopback, a URL archive and a local folder, each with a build backend
that leaves a marker), a remote index page cannot make envsnap read a local file
(`file:///proc/self/environ`, `file:///dev/zero`) or accept a file it states no hash for, and
the indexes a snapshot records are never asked unless the user says so (seen in the loopback
server's request log)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import support
from indexserver import LoggedServer, cli_env, free_port, serve_site, static_site

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.snapshot import Package, PythonEnv, Snapshot

pytestmark = pytest.mark.slow

KINDS = {"payload": "vcs", "urlpkg": "url archive", "localpkg": "local folder"}

BACKEND = '''\
"""A PEP 517 backend that leaves a marker when it runs: the payload of an attack test."""
import base64, hashlib, os, pathlib, zipfile
NAME, VERSION, MARKER = {name!r}, "1.0", {marker!r}
pathlib.Path(MARKER).write_text("the build backend of " + NAME + " ran")


def _hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = NAME + "-" + VERSION + ".dist-info/"
    files = {{
        NAME + ".py": b"VALUE = 1\\n",
        info + "METADATA": ("Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION
                            + "\\n").encode(),
        info + "WHEEL": b"Wheel-Version: 1.0\\nGenerator: attack\\nRoot-Is-Purelib: true\\n"
                        b"Tag: py3-none-any\\n",
    }}
    record = "".join(p + "," + _hash(d) + "," + str(len(d)) + "\\n" for p, d in files.items())
    files[info + "RECORD"] = (record + info + "RECORD,,\\n").encode()
    wheel = NAME + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel
'''


def _project(root: Path, name: str, marker: Path) -> Path:
    """A project whose in-tree build backend (no build requirements: nothing to download)
    writes ``marker`` whenever it is imported."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[build-system]\nrequires = []\n'
                                         'build-backend = "attack_backend"\nbackend-path = ["."]\n')
    (root / "attack_backend.py").write_text(BACKEND.format(name=name, marker=str(marker)))
    return root


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("the server did not start") from None
            time.sleep(0.05)


@dataclass(frozen=True, kw_only=True)
class Hostile:
    root: Path
    snapshot: Path
    markers: Path  # the build backends' markers land here
    git_log: Path  # git daemon's log: a line per connection
    archive_site: LoggedServer
    git_url: str

    def built(self) -> set[str]:
        return {p.name for p in self.markers.iterdir()}

    def git_connections(self) -> list[str]:
        return [ln for ln in self.git_log.read_text().splitlines() if "Connection from" in ln]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """A real venv holding three packages built from sources: a git repository served by
    `git daemon` on 127.0.0.1, an sdist served over http on 127.0.0.1 (no hash recorded) and a
    local folder; captured to a snapshot. Each build backend writes a marker."""
    root = tmp_path_factory.mktemp("attack-build")
    markers = root / "markers"
    markers.mkdir()
    repo = _project(root / "git" / "payload", "payload", markers / "payload")
    commit = support.git_commit_all(repo)
    local = _project(root / "src" / "localpkg", "localpkg", markers / "localpkg")
    sdist_src = _project(root / "sdist" / "urlpkg-1.0", "urlpkg", markers / "urlpkg")
    site = root / "site"
    (site / "files").mkdir(parents=True)
    with tarfile.open(site / "files" / "urlpkg-1.0.tar.gz", "w:gz") as tar:
        tar.add(sdist_src, arcname="urlpkg-1.0")
    port = free_port()
    git_log = root / "git-daemon.log"
    with git_log.open("wb") as log:
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--verbose",
             "--log-destination=stderr", f"--base-path={root / 'git'}", "--listen=127.0.0.1",
             f"--port={port}", str(root / "git")],
            stdout=subprocess.DEVNULL, stderr=log, env=support.clean_env())
    try:
        _wait_port(port, daemon)
        git_url = f"git://127.0.0.1:{port}/payload"
        with serve_site(site) as archive_site:
            venv = support.make_venv(root / "venv", with_pip=False)
            support.run([sys.executable, "-m", "pip", "--python", venv, "install", "--no-index",
                         f"git+{git_url}@{commit}",
                         f"http://127.0.0.1:{archive_site.port}/files/urlpkg-1.0.tar.gz",
                         local])
            snap = capture(python=str(venv), only={"python"})
            assert snap.python is not None
            # pip recorded the archive's sha256 (envsnap locks such an sdist by hash and never
            # builds it); the attacker's copy of the snapshot simply leaves the hash out.
            packages = tuple(
                replace(p, source=replace(p.source, hash=None))
                if p.name == "urlpkg" and p.source is not None else p
                for p in snap.python.packages)
            snap = replace(snap, python=replace(snap.python, packages=packages))
            path = root / "hostile.toml"
            snapio.dump(snap, path)
            for marker in markers.iterdir():  # the install ran them: start from none
                marker.unlink()
            git_log.write_text("")
            archive_site.log.write_text("")
            yield Hostile(root=root, snapshot=path, markers=markers, git_log=git_log,
                          archive_site=archive_site, git_url=git_url)
    finally:
        daemon.terminate()  # our own child, by its handle
        daemon.wait(timeout=10)


def test_the_snapshot_names_the_three_kinds_of_source(hostile: Hostile) -> None:
    snap = snapio.load(hostile.snapshot)
    assert snap.python is not None
    kinds = {p.name: p.source.kind for p in snap.python.packages if p.source is not None}
    assert kinds == {"payload": "vcs", "urlpkg": "archive", "localpkg": "dir"}
    assert hostile.built() == set()


def _cases(h: Hostile, tmp: Path) -> dict[str, list[str]]:
    s, wh = str(h.snapshot), str(tmp / "wheels")
    return {
        "lock --wheelhouse": ["lock", s, "-o", str(tmp / "out"), "--wheelhouse", wh],
        "lock --wheelhouse --offline": ["lock", s, "-o", str(tmp / "out"), "--wheelhouse",
                                        str(tmp), "--offline"],
        "restore": ["restore", s, "--venv", str(tmp / "v")],
        "restore --wheelhouse": ["restore", s, "--venv", str(tmp / "v"), "--wheelhouse", wh],
        "build-image --wheelhouse --dockerfile-only": [
            "build-image", s, "--wheelhouse", wh, "--dockerfile-only", "-o", str(tmp / "ctx")],
        "build-image --wheelhouse": ["build-image", s, "--wheelhouse", wh, "-t", "x:y"],
        "build-image": ["build-image", s, "--dockerfile-only", "-o", str(tmp / "ctx")],
    }


CASES = ("lock --wheelhouse", "lock --wheelhouse --offline", "restore", "restore --wheelhouse",
         "build-image --wheelhouse --dockerfile-only", "build-image --wheelhouse", "build-image")


@pytest.mark.parametrize("case", CASES)
def test_no_source_is_built_without_allow_build(hostile: Hostile, case: str,
                                                tmp_path: Path) -> None:
    argv = _cases(hostile, tmp_path)[case]
    rc, out, err, seconds = _envsnap(argv, env=cli_env(tmp_path / "home"))
    assert rc == 2, err
    assert hostile.built() == set(), "a build backend ran"
    # Every source it would build, with its kind and where it is.
    for name, kind in KINDS.items():
        assert f"would build {name} 1.0: {kind} " in err, err
    assert f"vcs git+{hostile.git_url}@" in err
    assert f"url archive http://127.0.0.1:{hostile.archive_site.port}/files/urlpkg-1.0.tar.gz" in err
    error = next(ln for ln in err.splitlines() if ln.startswith("envsnap: error:"))
    assert "runs the source's own code" in error and "--allow-build" in error
    assert "--wheelhouse" not in error  # never offered as the way round
    # Nothing ran: no clone, no download, nothing written.
    assert hostile.git_connections() == [] and hostile.archive_site.requests() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert out == "" and seconds < 30


def test_lock_builds_them_with_allow_build(hostile: Hostile, tmp_path: Path) -> None:
    rc, _out, err, _s = _envsnap(["lock", hostile.snapshot, "-o", tmp_path / "out",
                                  "--wheelhouse", tmp_path / "wheels", "--allow-build"],
                                 env=cli_env(tmp_path / "home"))
    assert rc == 0, err
    assert hostile.built() == set(KINDS)
    req = (tmp_path / "out" / "requirements.txt").read_text()
    assert req.count("# built from a local/VCS source into the wheelhouse") == 3
    assert hostile.git_connections()  # the clone came from the daemon on loopback
    _clear(hostile)


def test_restore_builds_them_with_allow_build(hostile: Hostile, tmp_path: Path) -> None:
    rc, out, err, _s = _envsnap(["restore", hostile.snapshot, "--venv", tmp_path / "v",
                                 "--allow-build", "--installer", "pip"],
                                env=cli_env(tmp_path / "home"))
    assert rc == 0, err + out
    assert hostile.built() == set(KINDS)
    _clear(hostile)


def test_build_image_builds_them_with_allow_build(hostile: Hostile, tmp_path: Path) -> None:
    rc, _out, err, _s = _envsnap(["build-image", hostile.snapshot, "--wheelhouse",
                                  tmp_path / "wheels", "--dockerfile-only", "-o", tmp_path / "ctx",
                                  "--allow-build"], env=cli_env(tmp_path / "home"))
    assert rc == 0, err
    assert hostile.built() == set(KINDS)
    assert (tmp_path / "ctx" / "Dockerfile").is_file()
    _clear(hostile)


def test_allow_build_in_the_project_configuration(hostile: Hostile, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.envsnap]\nallow-build = true\n")
    rc, _out, err, _s = _envsnap(["lock", hostile.snapshot, "-o", tmp_path / "out",
                                  "--wheelhouse", tmp_path / "wheels"],
                                 env=cli_env(tmp_path / "home"), cwd=project)
    assert rc == 0, err
    assert f"allow-build = true in {project / 'pyproject.toml'}" in err
    assert hostile.built() == set(KINDS)
    _clear(hostile)


def _clear(h: Hostile) -> None:
    for marker in h.markers.iterdir():
        marker.unlink()
    h.git_log.write_text("")
    h.archive_site.log.write_text("")


# ---------------------------------------------------------------------------------------------
# A remote page that links local files, or a file without a hash


DISK_CAP = 64 * 2**20  # what one envsnap run may write, whatever a page says (RLIMIT_FSIZE)


def _envsnap(argv: Sequence[str | os.PathLike[str]], *, env: dict[str, str],
             cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str, float]:
    """The real CLI with its file size capped: a run that writes past DISK_CAP is killed
    (SIGXFSZ) instead of filling the disk."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_CAP, DISK_CAP))

    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, argv)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=cap)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


SECRET = "envsnap-attack-Zq81xP0environ"
LINKED = {"environ": ("six", "1.16.0", "file:///proc/self/environ"),
          "zero": ("idna", "3.7", "file:///dev/zero")}


def _snapshot(tmp: Path, name: str, version: str, indexes: tuple[str, ...] = ()) -> Path:
    snap = Snapshot(python=PythonEnv(
        version="3.11.7", implementation="cpython", abi_tag="cp311", platform_tag="linux_x86_64",
        indexes=indexes, packages=(Package(name=name, version=version),)))
    path = tmp / f"{name}.toml"
    snapio.dump(snap, path)
    return path


@pytest.mark.parametrize("command", ["lock", "lock --wheelhouse", "restore",
                                     "build-image --wheelhouse --dockerfile-only"])
@pytest.mark.parametrize("target", sorted(LINKED))
def test_a_remote_page_cannot_link_a_local_file(target: str, command: str,
                                                tmp_path: Path) -> None:
    name, version, href = LINKED[target]
    filename = f"{name}-{version}-py2.py3-none-any.whl" if name == "six" else \
        f"{name}-{version}-py3-none-any.whl"
    site = static_site(tmp_path / "site", pages={name: f'<a href="{href}">{filename}</a>'})
    snap = _snapshot(tmp_path, name, version)
    wh = tmp_path / "wheels"
    cases: dict[str, list[str | os.PathLike[str]]] = {
        "lock": ["lock", snap, "-o", tmp_path / "out"],
        "lock --wheelhouse": ["lock", snap, "-o", tmp_path / "out", "--wheelhouse", wh],
        "restore": ["restore", snap, "--venv", tmp_path / "v", "--wheelhouse", wh],
        "build-image --wheelhouse --dockerfile-only": [
            "build-image", snap, "--wheelhouse", wh, "--dockerfile-only", "-o", tmp_path / "ctx"],
    }
    argv = cases[command]
    with serve_site(site) as index:
        env = cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {index.url}\n",
                      extra={"ENVSNAP_ATTACK_TOKEN": SECRET})
        rc, out, err, seconds = _envsnap(argv, env=env, timeout=60)
    assert rc == 1, err
    error = next(ln for ln in err.splitlines() if ln.startswith("envsnap: error:"))
    assert f"the index http://127.0.0.1:{index.port}/simple [pip configuration] links a file: URL " \
           f"for {name}: refused" in error
    assert seconds < 30
    # Nothing of this machine was copied anywhere: no file at all beside the inputs.
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "home" not in p.parts
               and p.parent != tmp_path and "site" not in p.parts]
    assert written == []
    assert not (tmp_path / "out").exists() and not (tmp_path / "v").exists()
    assert SECRET not in out + err


def test_a_remote_file_without_a_hash_is_not_locked(tmp_path: Path,
                                                    pypi_wheelhouse: Path) -> None:
    six = next(pypi_wheelhouse.glob("six-1.16.0-*.whl"))
    site = static_site(tmp_path / "site", pages={
        "six": f'<a href="../../files/{six.name}">{six.name}</a>'})
    (site / "files" / six.name).write_bytes(six.read_bytes())
    snap = _snapshot(tmp_path, "six", "1.16.0")
    with serve_site(site) as index:
        env = cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {index.url}\n")
        rc, _out, err, _s = _envsnap(["lock", snap, "-o", tmp_path / "out", "--format",
                                      "requirements"], env=env)
        fetched = [r for r in index.requests() if r.startswith("GET /files/")]
    assert rc == 1, err
    assert f"states no sha256 for {six.name}" in err
    assert "\nsix==" not in (tmp_path / "out" / "requirements.txt").read_text()
    assert fetched == []  # not downloaded to be hashed "as-is"


# ---------------------------------------------------------------------------------------------
# The indexes a snapshot records


@dataclass(frozen=True, kw_only=True)
class Indexes:
    snapshot: Path
    site_user: Path  # the user's own index: six only
    site_snap: Path  # the index the snapshot records: six and onlysnap


@pytest.fixture
def indexes(tmp_path: Path, pypi_wheelhouse: Path) -> Indexes:
    six = next(pypi_wheelhouse.glob("six-1.16.0-*.whl"))
    only = support.build_wheel(tmp_path / "built", "onlysnap", "1.0")
    return Indexes(snapshot=tmp_path / "snap.toml",
                   site_user=static_site(tmp_path / "user-site", [six]),
                   site_snap=static_site(tmp_path / "snap-site", [six, only]))


def _two_pins(idx: Indexes, snap_index: str) -> Path:
    snap = Snapshot(python=PythonEnv(
        version="3.11.7", implementation="cpython", abi_tag="cp311", platform_tag="linux_x86_64",
        indexes=(snap_index,), packages=(Package(name="six", version="1.16.0"),
                                         Package(name="onlysnap", version="1.0"))))
    snapio.dump(snap, idx.snapshot)
    return idx.snapshot


def test_a_snapshot_index_is_never_asked_by_default(indexes: Indexes, tmp_path: Path) -> None:
    """No configuration (pip's default, PyPI: unreachable here through a dead proxy) and an
    extra index configured: the snapshot's index is shown, never asked, never written."""
    with serve_site(indexes.site_snap) as snap_index, serve_site(indexes.site_user) as user:
        snap = _two_pins(indexes, snap_index.url)
        for conf in ("[global]\n", f"[global]\nextra-index-url = {user.url}\n"):
            out = tmp_path / f"out-{len(conf)}"
            rc, _out, err, _s = _envsnap(["lock", snap, "-o", out],
                                         env=cli_env(tmp_path / "home", pip_conf=conf))
            assert rc == 1, err  # PyPI cannot be reached here; onlysnap is on no index of ours
            assert snap_index.requests() == [], err
            assert (f"Not contacting the index(es) the snapshot records ({snap_index.url})"
                    in err)
            for written in out.glob("*") if out.exists() else ():
                assert str(snap_index.port) not in written.read_text()


def test_snapshot_indexes_on_request_come_after_the_users(indexes: Indexes,
                                                          tmp_path: Path) -> None:
    with serve_site(indexes.site_snap) as snap_index, serve_site(indexes.site_user) as user:
        snap = _two_pins(indexes, snap_index.url)
        conf = f"[global]\nindex-url = {user.url}\ntrusted-host = 127.0.0.1\n"
        out = tmp_path / "out"
        rc, _out, err, _s = _envsnap(["lock", snap, "-o", out, "--use-snapshot-indexes"],
                                     env=cli_env(tmp_path / "home", pip_conf=conf))
        asked_snap, asked_user = snap_index.requests(), user.requests()
    assert rc == 0, err
    # six: the user's index answered first; only what it lacks went to the snapshot's.
    assert "GET /simple/six/ 200" in asked_user
    assert [r for r in asked_snap if r.startswith("GET ")] == ["GET /simple/onlysnap/ 200"]
    contacting = next(ln for ln in err.splitlines() if "contacting" in ln)
    assert contacting.index(f"127.0.0.1:{user.port}") < contacting.index(
        f"127.0.0.1:{snap_index.port}")
    req = (out / "requirements.txt").read_text()
    assert f"--extra-index-url {snap_index.url}\n" in req
    assert "onlysnap==1.0 \\\n    --hash=sha256:" in req


def test_a_plain_http_snapshot_index_needs_trusted_host(indexes: Indexes,
                                                        tmp_path: Path) -> None:
    with serve_site(indexes.site_snap) as snap_index, serve_site(indexes.site_user) as user:
        snap = _two_pins(indexes, snap_index.url)
        rc, _out, err, _s = _envsnap(
            ["lock", snap, "-o", tmp_path / "out", "--use-snapshot-indexes"],
            env=cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {user.url}\n"))
        assert snap_index.requests() == [] and user.requests() == []
    assert rc == 2, err
    assert "the snapshot's index on 127.0.0.1 is plain http" in err
    assert "trusted-host = 127.0.0.1" in err
    assert not (tmp_path / "out").exists()
