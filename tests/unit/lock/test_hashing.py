"""The hashing edge over a file:// index and loopback: malformed hashes, fallbacks, the route.

The same edge against a real index server: tests/integration/test_lock_index.py and
test_index_pypiserver.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import support

from envsnap.errors import BadInputError
from envsnap.lock import plan
from envsnap.lock.hashing import hash_from_index
from envsnap.lock.index import IndexUnreachable
from envsnap.lock.settings import (
    IndexSettings,
)
from envsnap.snapshot import Package, Snapshot
from envsnap.testing import cpu_venv_snapshot, python_env

H = "a" * 64


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
