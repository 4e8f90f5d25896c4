"""The Python probe's fast paths agree with the reference parsers they stand in for."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest
from packaging.version import InvalidVersion, Version

from envsnap.probes import _inspector
from envsnap.probes.python import is_valid_version


def _packaging_accepts(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


@pytest.mark.parametrize("version", [
    # canonical forms (the regex's fast path)
    "1", "0", "2.5.1", "2.5.1+cu121", "1!2.0", "1.0a1", "1.0b2", "1.0rc3", "1.0.post1",
    "1.0.dev4", "1.0rc1.post2.dev3", "0.1.dev0", "12.4.127+local.build.7",
    # valid but not canonical (packaging decides)
    "01.2", "1.0+CU121", "1.0-1", "1.0.0-rc.1", "v1.0", "1.0_post1", " 1.0 ", "1.0+cu_121",
    "2024.01.05", "1.0alpha1", "1.0c1", "1.0-dev3",
    # invalid
    "", "not-a-version", "1.0+", "1..0", "1.0+cu121+x", "1.0.", "+cu121", "1.0 beta", "€1",
])
def test_version_check_agrees_with_packaging(version: str) -> None:
    assert is_valid_version(version) is _packaging_accepts(version)


def _installed_dist_infos() -> list[importlib.metadata.Distribution]:
    # Real METADATA files: every distribution installed in the environment running the tests.
    dists = [d for d in importlib.metadata.distributions() if d.read_text("METADATA")]
    assert len(dists) > 20, "expected the test environment's real distributions"
    return dists


def test_header_scan_matches_the_email_parser_on_real_metadata() -> None:
    for dist in _installed_dist_infos():
        text = dist.read_text("METADATA") or ""
        headers = _inspector._headers(text)  # type: ignore[no-untyped-call]
        meta = dist.metadata
        where = f"{dist.metadata['Name']} ({sys.prefix})"
        assert headers.get("name") == meta["Name"], where
        assert headers.get("version") == meta["Version"], where
        assert headers.get("requires-dist", []) == (meta.get_all("Requires-Dist") or []), where


def test_header_scan_edge_cases() -> None:
    text = ("Metadata-Version: 2.1\r\nName : Foo \r\nVersion:1.0\r\n"
            "Requires-Dist: a>=1; extra == 'x'\r\nClassifier: x\r\n  \r\nName: from-the-body\n")
    assert _inspector._headers(text) == {  # type: ignore[no-untyped-call]
        "name": "Foo", "version": "1.0", "requires-dist": ["a>=1; extra == 'x'"]}
    assert _inspector._headers("\nName: body-only\n") == {}  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(("text", "expected"), [
    # folded continuation lines: joined for name/version, dropped for a requirement
    ("Name: foo\n bar\nVersion: 1\n\tpost\nRequires-Dist: a\n  cont\n\n",
     {"name": "foo bar", "version": "1 post", "requires-dist": ["a"]}),
    # any whitespace-only line ends the header block, and values are stripped like str.strip()
    ("Name: a\xa0\n\f\nVersion: 3\n", {"name": "a"}),
    # no Unicode case folding: these are not the headers they look like
    ("Ver\u017fion: 9\nName: k\nRequ\u0130res-Dist: z\n\n", {"name": "k"}),
    # the first Name wins; keys are case-insensitive and may have space before the colon
    ("name : first\nNAME: second\nVERSION:2\n", {"name": "first", "version": "2"}),
])
def test_header_scan_semantics(text: str, expected: dict[str, object]) -> None:
    assert _inspector._headers(text) == expected  # type: ignore[no-untyped-call]


def test_header_scan_is_linear_on_a_padded_line() -> None:
    # A backtracking pattern took 16 s on a 50,000-space line; one pass takes milliseconds.
    # The bound is generous on purpose: it only has to tell linear from quadratic.
    import time

    text = "Name: a" + " " * 200_000 + "b\nVersion: 1\n"
    start = time.perf_counter()
    headers = _inspector._headers(text)  # type: ignore[no-untyped-call]
    assert time.perf_counter() - start < 2.0
    assert headers == {"name": "a" + " " * 200_000 + "b", "version": "1"}
