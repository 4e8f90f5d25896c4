"""The index edge without a network: the user's pip/uv configuration, Simple API pages (proven
against pypi-simple as the reference parser), the choice of the file pip would install,
timeouts, and the portable form of what lockfiles write."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import support

from envsnap.errors import BadInputError
from envsnap.lock import plan, wheel_dir_for
from envsnap.lock.hashing import hash_from_index
from envsnap.lock.index import IndexClient, IndexUnreachable, source
from envsnap.lock.pages import (
    IndexFile,
    Target,
    choose,
    parse_html_page,
    parse_json_page,
    tag_ranks,
)
from envsnap.lock.settings import (
    IndexSettings,
    combine,
    parse_pip_config_list,
    pip_settings,
    portable_index,
    read_pip_config,
    uv_settings,
    with_flags,
)
from envsnap.progress import Lines, Steps, human_bytes
from envsnap.snapshot import Package, Snapshot
from envsnap.testing import cpu_venv_snapshot, python_env

H = "a" * 64

# ---------------------------------------------------------------------------------------------
# pip configuration, read by pip itself


def test_pip_config_list_parsed_from_real_pip_output(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://u:p%40ss@mirror.example/simple/\n"
                    "extra-index-url =\n    https://a.example/simple\n    https://b.example/simple\n"
                    "trusted-host = a.example\n[install]\nfind-links = /srv/wheels\n")
    env = support.clean_env({"PIP_CONFIG_FILE": str(conf), "PIP_PROXY": "http://proxy:3128",
                             "PIP_CLIENT_CERT": "/etc/client.pem"})
    values = read_pip_config(env)
    assert values is not None
    s = pip_settings(values)
    assert s.index_url == "https://u:p%40ss@mirror.example/simple/"
    assert s.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert s.find_links == ("/srv/wheels",)  # [install] applies to pip install
    assert s.proxy == "http://proxy:3128" and s.client_cert == "/etc/client.pem"
    assert s.trusted_hosts == ("a.example",)
    assert s.origin == "pip configuration"
    assert "p%40ss" not in s.describe() and "u:" not in s.describe()


def test_pip_precedence_env_over_command_over_global() -> None:
    values = parse_pip_config_list(
        "global.index-url='https://g/simple'\ninstall.index-url='https://i/simple'\n"
        ":env:.index-url='https://e/simple'\nglobal.no-index='false'\n"
        "download.index-url='https://d/simple'\nnot a line\n")
    assert pip_settings(values).index_url == "https://e/simple"
    del values[":env:.index-url"]
    assert pip_settings(values).index_url == "https://i/simple"
    assert pip_settings(values, command="download").index_url == "https://d/simple"


def test_uv_configuration_files_and_variables() -> None:
    project = {"index-url": "https://proj/simple", "pip": {"find-links": ["/w"]}}
    user = {"index": [{"name": "corp", "url": "https://corp/simple", "default": True},
                      {"name": "torch", "url": "https://download.pytorch.org/whl/cpu"}],
            "allow-insecure-host": ["corp"]}
    s = uv_settings([project, user], {"SSL_CERT_FILE": "/etc/ca.pem"})
    assert s.index_url == "https://proj/simple"  # the project file wins over the user file
    assert s.extra_index_urls == ("https://download.pytorch.org/whl/cpu",)
    assert s.find_links == ("/w",) and s.cert == "/etc/ca.pem" and s.trusted_hosts == ("corp",)
    env = {"UV_DEFAULT_INDEX": "https://env/simple", "UV_INDEX": "t=https://t/simple https://x/s"}
    s = uv_settings([project], env)
    assert s.index_url == "https://env/simple"
    assert s.extra_index_urls == ("https://t/simple", "https://x/s")


def test_pip_wins_over_uv_and_flags_over_both() -> None:
    pip = IndexSettings(index_url="https://pipmirror/simple", origin="pip configuration")
    uv = IndexSettings(index_url="https://uvmirror/simple", cert="/ca", origin="uv configuration")
    both = combine(pip, uv)
    assert both.index_url == "https://pipmirror/simple" and both.cert == "/ca"
    assert combine(IndexSettings(origin="pip configuration"), uv).index_url == "https://uvmirror/simple"
    flagged = with_flags(both, index_url="https://flag/simple")
    assert flagged.index_url == "https://flag/simple"
    assert flagged.origin == "--index-url over the pip configuration"


@pytest.mark.parametrize("url,written", [
    ("https://user:tok@mirror.example/simple/", "https://mirror.example/simple"),
    ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/simple"),
])
def test_flagged_indexes_are_written_without_credentials(url: str, written: str) -> None:
    assert portable_index(url, "--index-url") == written


@pytest.mark.parametrize("url", ["/srv/simple", "file:///srv/simple",
                                 "https://mirror.example/simple?token=abc123"])
def test_flagged_indexes_that_cannot_be_written_are_refused(url: str) -> None:
    with pytest.raises(BadInputError):
        portable_index(url, "--index-url")


# ---------------------------------------------------------------------------------------------
# Simple API pages, against pypi-simple (the reference parser)


HTML = """<!DOCTYPE html><html><head><base href="https://files.example/root/">
<meta name="pypi:repository-version" content="1.1"></head><body>
<a href="../packages/six-1.16.0-py2.py3-none-any.whl#sha256=SHA"
   data-requires-python="&gt;=2.7, !=3.0.*">six-1.16.0-py2.py3-none-any.whl</a><br>
<a href="/p/six-1.16.0.tar.gz#md5=abc" data-yanked="broken">six-1.16.0.tar.gz</a>
<a href="six-1.15.0-py2.py3-none-any.whl">six-1.15.0-py2.py3-none-any.whl</a>
</body></html>""".replace("SHA", "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254")

JSON_PAGE = {
    "meta": {"api-version": "1.1"}, "name": "six", "versions": ["1.16.0"],
    "files": [
        {"filename": "six-1.16.0-py2.py3-none-any.whl",
         "url": "https://files.example/six-1.16.0-py2.py3-none-any.whl",
         "hashes": {"sha256": H}, "requires-python": ">=2.7", "yanked": False, "size": 11053},
        {"filename": "six-1.16.0.tar.gz", "url": "../six-1.16.0.tar.gz", "hashes": {},
         "yanked": "bad release", "size": 34041},
    ],
}


def _reference(kind: str, text: str, base: str) -> list[tuple[str, str, str | None, str | None, bool]]:
    from pypi_simple import ProjectPage

    page = (ProjectPage.from_html("six", text, base_url=base) if kind == "html"
            else ProjectPage.from_json_data(json.loads(text), base_url=base))
    return [(p.filename, p.url.split("#")[0], p.digests.get("sha256"), p.requires_python,
             p.is_yanked) for p in page.packages]


def _ours(files: list[IndexFile]) -> list[tuple[str, str, str | None, str | None, bool]]:
    return [(f.filename, f.url, f.sha256, f.requires_python, f.yanked) for f in files]


def test_html_page_parses_like_pypi_simple() -> None:
    base = "https://index.example/simple/six/"
    ours = parse_html_page(HTML, base)
    assert _ours(ours) == _reference("html", HTML, base)
    assert ours[0].url == "https://files.example/packages/six-1.16.0-py2.py3-none-any.whl"
    assert ours[1].yanked and ours[0].requires_python == ">=2.7, !=3.0.*"


def test_json_page_parses_like_pypi_simple() -> None:
    base = "https://index.example/simple/six/"
    ours = parse_json_page(JSON_PAGE, base)
    assert _ours(ours) == _reference("json", json.dumps(JSON_PAGE), base)
    assert ours[0].size == 11053 and ours[1].url == "https://index.example/simple/six-1.16.0.tar.gz"


# ---------------------------------------------------------------------------------------------
# the file pip would install


def _f(name: str, rp: str | None = None) -> IndexFile:
    return IndexFile(filename=name, url=f"https://f/{name}", sha256=H, requires_python=rp)


TARGET = Target(python_version="3.11.7", ranks=tag_ranks(
    "3.11.7", "cp311", ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                        "linux_x86_64"]))
FILES = [
    _f("numpy-2.1.0.tar.gz"),
    _f("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
    _f("numpy-2.1.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
    _f("numpy-2.1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
    _f("numpy-2.1.0-cp311-cp311-macosx_14_0_arm64.whl"),
    _f("numpy-2.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
]


def test_choose_takes_the_best_ranked_compatible_wheel_of_that_version() -> None:
    chosen = choose(FILES, name="numpy", version="2.1.0", target=TARGET)
    assert chosen is not None and chosen.filename.endswith("manylinux_2_28_x86_64.whl")
    assert "cp311" in chosen.filename


def test_choose_prefers_the_wheel_the_snapshot_installed() -> None:
    chosen = choose(FILES, name="numpy", version="2.1.0", target=TARGET,
                    installed=["cp311-cp311-manylinux_2_17_x86_64",
                               "cp311-cp311-manylinux2014_x86_64"])
    assert chosen is not None and "manylinux2014" in chosen.filename


def test_choose_respects_requires_python_and_never_takes_an_sdist() -> None:
    files = [_f("attrs-23.2.0-py3-none-any.whl", rp=">=3.12"), _f("attrs-23.2.0.tar.gz")]
    assert choose(files, name="attrs", version="23.2.0", target=TARGET) is None
    assert choose([_f("attrs-23.2.0-py3-none-any.whl", rp=">=3.7")], name="Attrs",
                  version="23.2.0", target=TARGET) is not None


def test_tag_ranks_follow_pips_order() -> None:
    ranks = TARGET.ranks
    order = sorted(ranks, key=ranks.__getitem__)
    assert str(order[0]) == "cp311-cp311-manylinux_2_28_x86_64"
    assert ranks[next(t for t in ranks if str(t) == "cp311-abi3-manylinux_2_17_x86_64")] > ranks[
        next(t for t in ranks if str(t) == "cp311-cp311-linux_x86_64")]
    assert str(order[-1]) == "py30-none-any"


# ---------------------------------------------------------------------------------------------
# a file:// index: malformed hashes, not found, a label index fallback


def _file_index(root: Path, pages: dict[str, str]) -> str:
    for name, body in pages.items():
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(body)
    return root.as_uri()


def test_malformed_hash_from_an_index_leaves_the_pin_unlocked(tmp_path: Path) -> None:
    url = _file_index(tmp_path / "simple", {
        "six": '<a href="six-1.16.0-py2.py3-none-any.whl#sha256=ZZZ">six-1.16.0-py2.py3-none-any.whl</a>',
        "idna": f'<a href="idna-3.7-py3-none-any.whl#sha256={H.upper()}">idna-3.7-py3-none-any.whl</a>',
    })
    snap = cpu_venv_snapshot(Package(name="six", version="1.16.0"), Package(name="idna", version="3.7"),
                     Package(name="attrs", version="23.2.0"))
    lock = hash_from_index(plan(snap), settings=IndexSettings(index_url=url, origin="test"))
    assert [(p.name, p.files[0].sha256) for p in lock.pins] == [("idna", H)]  # lower-cased
    reasons = {u.name: u.reason for u in lock.unlockable}
    assert reasons["six"].endswith("served a malformed sha256 for six-1.16.0-py2.py3-none-any.whl")
    assert reasons["attrs"].startswith("file:") and reasons["attrs"].endswith(" has no attrs")


def test_unreachable_label_index_falls_back_to_the_configured_index(tmp_path: Path) -> None:
    wheel = support.build_wheel(tmp_path / "w", "mycuda", "1.0+cu121")
    conf = IndexSettings(find_links=(str(wheel.parent),), no_index=False,
                         index_url=f"http://127.0.0.1:{_closed_port()}/simple", origin="test")
    snap = cpu_venv_snapshot(Package(name="mycuda", version="1.0+cu121"))
    with pytest.raises(IndexUnreachable, match=r"cannot reach the index http://127\.0\.0\.1"):
        hash_from_index(plan(snap), settings=conf)  # the mirror itself down: named, exit 1
    only_links = IndexSettings(find_links=(str(wheel.parent),), no_index=True, origin="test")
    lock = hash_from_index(plan(snap), settings=only_links)
    assert lock.pins and lock.pins[0].via == str(wheel.parent) and lock.pins[0].files[0].url is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


# ---------------------------------------------------------------------------------------------
# what is written, and progress


def test_command_line_keeps_a_folder_name_given_with_a_trailing_slash() -> None:
    from envsnap.cli.lock import command_line

    assert command_line(["envsnap", "lock", "train.toml", "-o", "lock/", "--wheelhouse",
                         "/home/alice/wheels/"]) == "envsnap lock train.toml -o lock --wheelhouse wheels"
    assert command_line(["envsnap", "lock", "s.toml", "--index-url", "https://m.example/simple"]
                        ) == "envsnap lock s.toml --index-url https://m.example/simple"


def test_wheel_dir_is_relative_to_the_lock_file(tmp_path: Path) -> None:
    assert wheel_dir_for(tmp_path / "lock", tmp_path / "lock" / "wheels") == "wheels"
    assert wheel_dir_for(tmp_path / "lock", tmp_path / "wheels") == "../wheels"
    assert wheel_dir_for(Path("/tmp/x/lock"), Path("/srv/wheels")) is None  # only / in common


def test_plain_progress_lines_and_steps() -> None:
    lines: list[str] = []
    rep = Lines(lines.append)
    t = rep.transfer("six-1.16.0-py2.py3-none-any.whl", 11053)
    t.advance(11053)
    t.close()
    assert lines[0].startswith("downloaded six-1.16.0-py2.py3-none-any.whl (10.8 KiB in ")
    out = io.StringIO()
    steps = Steps(out, tty=False)
    steps.step(1, 2, "FROM base")
    steps.cached()
    steps.step(2, 2, "RUN pip install")
    steps.close()
    text = out.getvalue().splitlines()
    assert text[:2] == ["envsnap: [1/2] FROM base", "envsnap: [1] cached"]
    assert text[2] == "envsnap: [2/2] RUN pip install" and text[3].endswith("s")
    assert human_bytes(3 * 2**20) == "3.0 MiB"


# ---------------------------------------------------------------------------------------------
# What an index may make envsnap do: names, schemes, sizes, redirects, whose indexes


@pytest.mark.parametrize("name", [
    "six-1.16.0-1/../../x-py3-none-any.whl",  # a build tag packaging accepts, holding "/"
    "../six-1.16.0-py3-none-any.whl", ".six-1.16.0-py3-none-any.whl",
    "six-1.16.0-py3-none-any.whl\\x", "six 1.16.0.tar.gz", "six.whl", "environ", "",
])
def test_file_names_that_are_not_wheel_or_sdist_names_are_left_out(name: str) -> None:
    from envsnap.lock.safety import is_safe_filename

    assert not is_safe_filename(name)
    page = f'<a href="https://f.example/x#sha256={H}">{name}</a>'
    assert parse_html_page(page, "https://i.example/simple/six/") == []
    data = {"files": [{"filename": name, "url": "https://f.example/x", "hashes": {"sha256": H}}]}
    assert parse_json_page(data, "https://i.example/simple/six/") == []


def test_real_file_names_pass() -> None:
    from envsnap.lock.safety import is_safe_filename

    for name in ("six-1.16.0-py2.py3-none-any.whl", "torch-2.3.1+cu121-cp311-cp311-linux_x86_64.whl",
                 "numpy-2.1.0-1build-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                 "six-1.16.0.tar.gz", "zope.interface-6.0.zip"):
        assert is_safe_filename(name), name


@pytest.mark.parametrize(("url", "trusted", "expected"), [
    ("http://mirror:8080/simple", ["mirror"], True),  # a host entry trusts every port
    ("http://mirror:8080/simple", ["mirror:8080"], True),
    ("http://mirror:8080/simple", ["mirror:9090"], False),
    ("http://MIRROR/simple", ["mirror"], True),
    ("http://127.0.0.1:9/simple", [], False),  # loopback is no exception for a snapshot's index
    ("http://evil.example/simple", ["mirror"], False),
])
def test_trusted_host_matches_as_pip_does(url: str, trusted: list[str], expected: bool) -> None:
    from envsnap.lock.settings import is_trusted

    assert is_trusted(url, trusted) is expected


def _snap_with_indexes(*indexes: str) -> Snapshot:
    return cpu_venv_snapshot(python=python_env(Package(name="six", version="1.16.0"),
                                               Package(name="torch", version="2.3.1+cu121"),
                                               indexes=indexes))


def test_snapshot_indexes_are_written_and_asked_only_on_request() -> None:
    from envsnap.lock.hashing import make_route

    snap = _snap_with_indexes("https://corp.example/simple", "https://pypi.org/simple")
    quiet = plan(snap)
    assert quiet.index_url == "https://pypi.org/simple"
    assert quiet.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert quiet.snapshot_indexes == ("https://corp.example/simple",)
    user = IndexSettings(index_url="https://mirror.example/simple",
                         extra_index_urls=("https://extra.example/simple",),
                         find_links=("/srv/wheels",), origin="pip configuration")
    route = make_route(quiet, user)
    assert [s.url for s in route.base] == ["https://mirror.example/simple",
                                          "https://extra.example/simple", "/srv/wheels"]
    assert route.labels is False  # an index-url is configured: PyTorch's is not asked either
    asked = plan(snap, use_snapshot_indexes=True)
    assert asked.extra_index_urls == ("https://corp.example/simple",
                                      "https://download.pytorch.org/whl/cu121")
    route = make_route(asked, user)
    assert [s.url for s in route.base] == ["https://mirror.example/simple",
                                          "https://extra.example/simple",
                                          "https://corp.example/simple", "/srv/wheels"]
    # Nothing configured: pip's default, PyPI, and the built-in label index first for torch.
    route = make_route(quiet, IndexSettings(origin="no configuration"))
    assert [s.url for s in route.base] == ["https://pypi.org/simple"]
    torch = next(p for p in quiet.pins if p.name == "torch")
    assert [s.url for s in route.for_pin(torch)] == ["https://download.pytorch.org/whl/cu121",
                                                     "https://pypi.org/simple"]


def test_a_plain_http_snapshot_index_needs_trusted_host_before_any_request() -> None:
    from envsnap.lock.hashing import make_route

    asked = plan(_snap_with_indexes("http://10.0.0.5:8080/simple"), use_snapshot_indexes=True)
    with pytest.raises(BadInputError, match=r"index on 10\.0\.0\.5 is plain http"):
        make_route(asked, IndexSettings(origin="test"))
    route = make_route(asked, IndexSettings(trusted_hosts=("10.0.0.5",), origin="test"))
    assert route.base[-1].url == "http://10.0.0.5:8080/simple"


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


def test_each_keeps_the_order_and_raises_the_first_failure_at_once() -> None:
    from envsnap.lock.threads import each

    assert each(lambda x: x * 2, list(range(20)), workers=4, name="t",
                cancel=threading.Event()) == [x * 2 for x in range(20)]
    assert each(lambda x: x, [], workers=4, name="t", cancel=threading.Event()) == []

    def slow_or_broken(x: int) -> int:
        if x == 0:
            raise ValueError("broken")
        time.sleep(5)  # a worker still busy is not waited for
        return x

    cancel = threading.Event()
    start = time.monotonic()
    with pytest.raises(ValueError, match="broken"):
        each(slow_or_broken, [1, 0, 2], workers=3, name="t", cancel=cancel)
    assert time.monotonic() - start < 2 and cancel.is_set()
