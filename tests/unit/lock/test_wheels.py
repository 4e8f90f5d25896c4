"""A wheelhouse on disk: wheels found by name and version, their tags, their sha256 (hashlib's).

The wheelhouse with real pip downloads and builds: tests/integration/test_lock_offline_build.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lock_cases import snapshot
from packaging.tags import Tag
from packaging.utils import canonicalize_name, canonicalize_version

from envsnap.lock import plan
from envsnap.lock.wheels import (
    compatible,
    hash_many,
    scan_wheelhouse,
    target,
    target_tags,
    wheel_key,
)
from envsnap.snapshot import Package


def test_hash_many_keeps_each_path_with_its_digest(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        p = tmp_path / f"w{i}.whl"
        p.write_bytes(b"wheel %d" % i)
        paths.append(p)
    assert hash_many(paths) == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert hash_many([]) == {}


def test_wheel_key_is_packagings_canonical_form() -> None:
    for name, version in (("PyYAML", "6.0"), ("Typing_Extensions", "4.12.2"),
                          ("zope.interface", "6.0.0"), ("torch", "2.3.1+cu121")):
        assert wheel_key(name, version) == (canonicalize_name(name),
                                            canonicalize_version(version, strip_trailing_zero=False))
    assert wheel_key("six", "1.0") != wheel_key("six", "1.0.0")  # pins are exact


def test_scan_finds_wheels_by_key_and_skips_everything_else(tmp_path: Path) -> None:
    for name in ("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
                 "pyyaml-6.0.2-py3-none-any.whl", "six-1.16.0-py2.py3-none-any.whl",
                 "six-1.16.0.tar.gz", "not-a-wheel.whl", "README"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir-1.0-py3-none-any.whl").mkdir()  # a folder named like a wheel
    found = scan_wheelhouse(tmp_path)
    assert set(found) == {("pyyaml", "6.0.2"), ("six", "1.16.0")}
    assert [p.name for p in found[("pyyaml", "6.0.2")]] == [
        "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl", "pyyaml-6.0.2-py3-none-any.whl"]
    assert scan_wheelhouse(tmp_path / "missing") == {}


def test_compatible_against_the_snapshots_interpreter() -> None:
    p = plan(snapshot(Package(name="six", version="1.16.0")))
    tags = target_tags(p)
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") in tags
    assert compatible(Path("x-1-cp311-cp311-manylinux_2_17_x86_64.whl"), tags)
    assert compatible(Path("x-1-py3-none-any.whl"), tags)
    assert not compatible(Path("x-1-cp312-cp312-manylinux_2_17_x86_64.whl"), tags)
    assert not compatible(Path("x-1-cp311-cp311-macosx_14_0_arm64.whl"), tags)
    assert compatible(Path("x-1-cp312-cp312-win_amd64.whl"), frozenset())  # no target: any
    assert target(p).python_version == p.python_version
