"""`envsnap lock` in index mode against a real index server (pypiserver on 127.0.0.1) that this
machine reaches only as a mirror set in a pip configuration file, with basic auth, while
every https index (PyPI, download.pytorch.org) is unreachable: it locks through the mirror,
writes neither the mirror nor its credentials, and names the mirror within 60 s once it stops."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import support
from indexserver import IndexServer, cli_env, closed_port, envsnap, logging_proxy, serve

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.lock.pylock import validate_pylock

pytestmark = pytest.mark.slow

USER, PASSWORD = "ci-mirror", "m1rror-s3cret-77"
LABELLED = ("envsnap-cudapkg", "1.0+cu121")


@dataclass(frozen=True, kw_only=True)
class Env:
    root: Path
    snapshot: Path
    wheels: Path  # what the mirror serves
    pins: dict[str, str]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Env:
    """A real venv (PyPI wheels, markupsafe compiled, a +cu121 local-label wheel, the venv's
    pip and setuptools) captured to a snapshot; its wheels in the folder the mirror serves."""
    root = tmp_path_factory.mktemp("lock-index")
    wheels = root / "mirror"
    wheels.mkdir()
    for whl in pypi_wheelhouse.glob("*.whl"):
        shutil.copy2(whl, wheels)
    support.build_wheel(wheels, *LABELLED)
    python = support.make_venv(root / "venv")
    support.pip_install(python, "--no-index", "--find-links", wheels, *support.PYPI_PINS,
                        f"{LABELLED[0]}=={LABELLED[1]}")
    snap = capture(python=str(python), only={"python"})
    assert snap.python is not None
    pins = {p.name: p.version for p in snap.python.packages}
    tools = [f"{n}=={pins[n]}" for n in ("pip", "setuptools") if n in pins]
    support.download_wheels(pypi_wheelhouse.parent / "tools", tools)
    for whl in (pypi_wheelhouse.parent / "tools").glob("*.whl"):
        if any(whl.name.startswith(t.replace("==", "-") + "-") for t in tools):
            shutil.copy2(whl, wheels)
    path = root / "snap.toml"
    snapio.dump(snap, path)
    return Env(root=root, snapshot=path, wheels=wheels, pins=pins)


@pytest.fixture(scope="module")
def mirror(source: Env) -> Iterator[IndexServer]:
    with serve(source.wheels, user=USER, password=PASSWORD, workdir=source.root) as server:
        yield server


def _mirror_conf(server: IndexServer) -> str:
    return f"[global]\nindex-url = {server.url_with_auth}\n"


def _everything(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(out.rglob("*")) if p.is_file())


def test_lock_through_the_configured_mirror(source: Env, mirror: IndexServer,
                                            tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", pip_conf=_mirror_conf(mirror))
    out = tmp_path / "out"
    rc, _out, err, seconds = envsnap("lock", source.snapshot, "-o", out, env=env)
    assert rc == 0, err
    req = (out / "requirements.txt").read_text()
    for name, version in source.pins.items():
        wheel = next(w for w in source.wheels.glob("*.whl")
                     if w.name.lower().startswith(f"{name.replace('-', '_')}-{version}-".lower()))
        assert f"\n{name}=={version} \\\n    --hash=sha256:{_sha(wheel)}" in req, name
    # The index each package was published on: PyPI, and PyTorch's for the +cu121 build.
    assert "--index-url https://pypi.org/simple\n" in req
    assert "--extra-index-url https://download.pytorch.org/whl/cu121\n" in req
    written = _everything(out)
    for leak in ("127.0.0.1", str(mirror.port), USER, PASSWORD, "file:", str(source.root)):
        assert leak not in written, leak
    assert PASSWORD not in err
    # pylock.toml needs each file's URL on PyPI: said, and left out, before any request.
    assert not (out / "pylock.toml").exists()
    assert "pylock.toml needs each wheel's URL" in err
    assert seconds < 60


def test_explicit_pylock_through_a_mirror_is_refused_before_any_request(
        source: Env, mirror: IndexServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", pip_conf=_mirror_conf(mirror))
    before = mirror.requests_seen()
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "out", "--format",
                                "pylock", env=env)
    assert rc == 2, err
    assert "--index-url MIRROR" in err and PASSWORD not in err
    assert mirror.requests_seen() == before
    assert not (tmp_path / "out").exists()


def test_mirror_named_by_flag_is_written_without_its_credentials(
        source: Env, mirror: IndexServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")  # nothing configured: the flag names the index
    out = tmp_path / "out"
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", out, "--index-url",
                                mirror.url_with_auth, env=env)
    assert rc == 0, err
    req = (out / "requirements.txt").read_text()
    assert f"--index-url http://127.0.0.1:{mirror.port}/simple\n" in req
    pylock = validate_pylock((out / "pylock.toml").read_text())
    urls = [w.url for p in pylock.packages for w in p.wheels or ()]
    assert urls and all(u and u.startswith(f"http://127.0.0.1:{mirror.port}/packages/")
                        for u in urls)
    assert pylock.packages[0].index is not None
    written = _everything(out)
    assert USER not in written and PASSWORD not in written


def test_a_stopped_mirror_is_named_with_exit_1_within_60_seconds(
        source: Env, tmp_path: Path) -> None:
    with serve(source.wheels, user=USER, password=PASSWORD, workdir=tmp_path) as server:
        conf = _mirror_conf(server)
    env = cli_env(tmp_path / "home", pip_conf=conf)  # the server is gone now
    rc, _out, err, seconds = envsnap("lock", source.snapshot, "-o", tmp_path / "out", env=env)
    assert rc == 1, err
    assert seconds < 60
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert f"cannot reach the index http://127.0.0.1:{server.port}/simple" in lines[0]
    assert "pip configuration" in lines[0]
    assert PASSWORD not in err
    assert not (tmp_path / "out").exists()


def test_wrong_credentials_are_a_one_line_refusal(source: Env, mirror: IndexServer,
                                                  tmp_path: Path) -> None:
    conf = f"[global]\nindex-url = http://{USER}:wrong@127.0.0.1:{mirror.port}/simple/\n"
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "out",
                                env=cli_env(tmp_path / "home", pip_conf=conf))
    assert rc == 1
    assert "refused access (HTTP 40" in err and "wrong" not in err  # pypiserver: 403


def test_credentials_from_netrc(source: Env, mirror: IndexServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = cli_env(home, pip_conf=f"[global]\nindex-url = {mirror.url}\n")
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {USER}\npassword {PASSWORD}\n")
    netrc.chmod(0o600)
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "out", "--format",
                                "requirements", env=env)
    assert rc == 0, err


def test_wheelhouse_downloads_through_the_mirror_with_verified_hashes(
        source: Env, mirror: IndexServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", pip_conf=_mirror_conf(mirror))
    out = tmp_path / "lock"
    wheels = tmp_path / "wheels"  # outside -o: pylock paths are relative to the lock file
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", f"{out}/", "--wheelhouse",
                                f"{wheels}/", env=env)
    assert rc == 0, err
    assert {w.name for w in wheels.glob("*.whl")} <= {w.name for w in source.wheels.glob("*.whl")}
    assert len(list(wheels.glob("*.whl"))) == len(source.pins)
    assert "downloaded markupsafe-" in err.lower()
    req = (out / "requirements.txt").read_text()
    assert "#    envsnap lock snap.toml -o lock --wheelhouse wheels\n" in req  # not "-o ARG"
    pylock = validate_pylock((out / "pylock.toml").read_text())
    for pkg in pylock.packages:
        for w in pkg.wheels or ():
            assert w.path is not None and w.path.startswith("../wheels/")
            assert (out / w.path).is_file(), w.path  # the paths point where the files are
    assert not list(wheels.glob(".*part"))


def test_find_links_folder_from_the_configuration(source: Env, tmp_path: Path) -> None:
    """No index at all, only a find-links folder (this machine's /opt/wheels kind of setup):
    the files are hashed from their bytes, the folder's path is never written, and each line
    says where its file really came from. pylock.toml, which needs URLs, is left out (said)."""
    conf = f"[global]\nno-index = true\nfind-links = {source.wheels}\n"
    out = tmp_path / "out"
    env = cli_env(tmp_path / "home", pip_conf=conf)
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", out, env=env)
    assert rc == 0, err
    req = (out / "requirements.txt").read_text()
    six = next(source.wheels.glob("six-*.whl"))
    assert _sha(six) in req
    assert str(source.wheels) not in _everything(out)
    assert req.count("# found through a find-links location of this machine's configuration "
                     "(pip configuration), not from an index this file names") == len(source.pins)
    assert not (out / "pylock.toml").exists()
    assert "through find-links locations only (pip configuration)" in err
    rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "o2", "--format",
                                "pylock", env=env)
    assert rc == 2 and "pass --index-url MIRROR" in err


def test_conda_format_without_conda_records_exits_2_at_once(source: Env, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", pip_conf="[global]\nindex-url = http://127.0.0.1:9/simple\n")
    rc, _out, err, seconds = envsnap("lock", source.snapshot, "-o", tmp_path / "out", "--format",
                                     "conda", env=env)
    assert rc == 2 and "no conda records" in err
    assert seconds < 10 and not (tmp_path / "out").exists()


def test_build_image_names_an_unlockable_local_package_before_any_request(tmp_path: Path) -> None:
    """A package installed from a local folder is built only with --allow-build: said at
    once (exit 2), with the index configured at a closed port never asked."""
    from envsnap.snapshot import Package, PythonEnv, Snapshot, Source

    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="six", version="1.16.0"),
        Package(name="mine", version="0.1", source=Source(kind="directory",
                                                          url="file:///src/mine")))))
    path = tmp_path / "s.toml"
    snapio.dump(snap, path)
    env = cli_env(tmp_path / "home", pip_conf="[global]\nindex-url = http://127.0.0.1:9/simple\n")
    rc, _out, err, seconds = envsnap("build-image", path, "--dockerfile-only", "-o",
                                     tmp_path / "ctx", env=env)
    assert rc == 2, err
    assert "would build mine 0.1: local folder /src/mine" in err
    error = err.splitlines()[-1]
    assert "--allow-build" in error and "--wheelhouse" not in error
    assert "cannot reach" not in err and seconds < 10
    assert not (tmp_path / "ctx").exists()


# ---------------------------------------------------------------------------------------------
# Only the user's indexes; whole or exit 1


@pytest.fixture(scope="module")
def no_tools(source: Env) -> Path:
    """The mirror's folder without pip and setuptools (a company mirror of what projects use)."""
    folder = source.root / "mirror-no-tools"
    folder.mkdir()
    for whl in source.wheels.glob("*.whl"):
        if not whl.name.startswith(("pip-", "setuptools-")):
            shutil.copy2(whl, folder)
    return folder


@pytest.mark.parametrize("mode", ["index", "wheelhouse", "restore"])
def test_behind_a_mirror_no_host_outside_the_configuration_is_asked(
        source: Env, no_tools: Path, tmp_path: Path, mode: str) -> None:
    """pip.conf names one mirror (pypiserver with its default fallback: what it lacks is
    redirected to pypi.org), both proxies point at a proxy that writes down what it is asked,
    and the mirror is in NO_PROXY. Every request goes to the mirror; pip and setuptools,
    missing there, are a warning; the +cu121 package comes from the mirror, not PyTorch's
    index; nothing reaches the proxy."""
    with logging_proxy() as proxy, serve(no_tools, workdir=tmp_path, fallback=True) as mirror:
        env = cli_env(tmp_path / "home", pip_conf=f"[global]\nindex-url = {mirror.url}\n",
                      dead_proxy=False, extra={
                          "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
                          "HTTP_PROXY": proxy.url, "http_proxy": proxy.url,
                          "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        out = tmp_path / "out"
        commands: dict[str, list[str | Path]] = {
            "index": ["lock", source.snapshot, "-o", out],
            "wheelhouse": ["lock", source.snapshot, "-o", out, "--wheelhouse", tmp_path / "wh"],
            "restore": ["restore", source.snapshot, "--venv", tmp_path / "v", "--installer",
                        "pip"],
        }
        rc, _out, err, _s = envsnap(*commands[mode], env=env)
        asked = mirror.requests_seen()
    assert rc == 0, err
    assert proxy.seen == [], proxy.seen
    assert asked > 0
    contacting = next(ln for ln in err.splitlines() if "contacting" in ln)
    assert f"contacting 127.0.0.1:{mirror.port} (index http://127.0.0.1:{mirror.port}/simple: " \
           "pip configuration)" in contacting
    assert "pypi.org" not in contacting and "pytorch" not in contacting
    tools = [n for n in ("pip", "setuptools") if n in source.pins]
    for name in tools:
        if mode == "restore":
            assert f"warning: {name}=={source.pins[name]} not locked" in err
        else:
            assert f"installer package not locked: {name}=={source.pins[name]}" in err
            assert "redirects" in err and "pypi.org, outside the configuration" in err
    if mode == "index":
        req = (out / "requirements.txt").read_text()
        assert f"{LABELLED[0]}=={LABELLED[1]} \\\n    --hash=sha256:" in req
        assert "# Installer packages not locked" in req


def test_a_proxy_applies_per_scheme_and_host_and_errors_name_the_url(
        source: Env, no_tools: Path, tmp_path: Path) -> None:
    """HTTP_PROXY at a closed port without NO_PROXY: the mirror (plain http) goes through
    it and the error names the URL that failed and the proxy; HTTPS_PROXY alone leaves an
    http mirror alone, as requests and pip do."""
    dead = f"http://127.0.0.1:{closed_port()}"
    with serve(no_tools, workdir=tmp_path) as mirror:
        conf = f"[global]\nindex-url = {mirror.url}\n"
        through = cli_env(tmp_path / "h1", pip_conf=conf, dead_proxy=False,
                          extra={"HTTP_PROXY": dead, "http_proxy": dead})
        rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "o1", env=through)
        assert rc == 1, err
        assert (f"cannot reach the index http://127.0.0.1:{mirror.port}/simple [pip "
                f"configuration]: GET http://127.0.0.1:{mirror.port}/simple/") in err
        assert f"through the proxy {dead}" in err
        https_only = cli_env(tmp_path / "h2", pip_conf=conf, dead_proxy=False,
                             extra={"HTTPS_PROXY": dead, "https_proxy": dead})
        rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", tmp_path / "o2", env=https_only)
        assert rc == 0, err


def test_a_lockfile_that_lacks_a_package_exits_1_naming_it(source: Env, no_tools: Path,
                                                           tmp_path: Path) -> None:
    """The bench case: the mirror named by --index-url lacks the +cu121 build, which only a
    find-links folder has. requirements.txt holds it (its comment says where the file came
    from), pylock.toml cannot (no URL): exit 1 naming it, and the fallback said."""
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    links = tmp_path / "links"
    links.mkdir()
    for whl in source.wheels.glob("*.whl"):
        shutil.copy2(whl, links if whl.name.startswith("envsnap_cudapkg") else mirror_dir)
    with serve(mirror_dir, workdir=tmp_path) as mirror:
        out = tmp_path / "out"
        rc, _out, err, _s = envsnap("lock", source.snapshot, "-o", out, "--index-url",
                                    mirror.url, "--find-links", links,
                                    env=cli_env(tmp_path / "home"))
    assert rc == 1, err
    name = f"{LABELLED[0]}=={LABELLED[1]}"
    assert f"{LABELLED[0]} {LABELLED[1]}: not on http://127.0.0.1:{mirror.port}/simple; " \
           f"found in find-links {links} instead" in err
    lacks = next(ln for ln in err.splitlines() if "pylock.toml lacks" in ln)
    assert f"pylock.toml lacks 1 package(s): {name}: found through a find-links location" in lacks
    req = (out / "requirements.txt").read_text()
    assert f"{name} \\\n    --hash=sha256:" in req
    assert ("# found through a find-links location of this machine's configuration "
            "(--index-url and --find-links), not from an index this file names") in req
    assert str(links) not in req
    assert "requirements.txt lacks" not in err
