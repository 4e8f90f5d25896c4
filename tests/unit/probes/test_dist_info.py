"""envsnap's METADATA parse against importlib.metadata on real files, the email parser on generated ones."""

from __future__ import annotations

import email
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path
from typing import TypedDict

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from envsnap.probes.dist_info import declared_license, parse_metadata_text, read_dist
from envsnap.testing import FakeHost

# Made by scripts/fetch_metadata_corpus.py (SOURCES.md there says from where and when).
CORPUS = Path(__file__).resolve().parents[2] / "data" / "metadata-corpus"


class Expected(TypedDict):
    """What importlib.metadata.PathDistribution reported for the file when it was fetched."""

    name: str | None
    version: str | None
    requires: list[str]


def _corpus_files() -> dict[str, bytes]:
    # The fetch script writes loose files, or one corpus.zip when they would be too large.
    archive = CORPUS / "corpus.zip"
    if archive.exists():
        with zipfile.ZipFile(archive) as z:
            return {name: z.read(name) for name in sorted(z.namelist())}
    return {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.METADATA"))}


FILES = _corpus_files()
EXPECTED: dict[str, Expected] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def _header_lines(text: str) -> list[str]:
    """The lines before the first empty one, with their endings (\r\n, \r or \n, as for email)."""
    lines = []
    for m in re.finditer(r"([^\r\n]*)(\r\n|\r|\n|$)", text):
        if m.group(1) == "":
            break
        lines.append(m.group(0))
    return lines


def _dist_info(filename: str) -> str:
    return filename.removesuffix(".METADATA") + ".dist-info"


def test_corpus_covers_hundreds_of_distributions() -> None:
    assert set(FILES) == set(EXPECTED)
    names = {re.sub(r"[-_.]+", "-", str(e["name"])).lower() for e in EXPECTED.values()}
    assert len(names) >= 300


def test_corpus_keeps_the_hard_cases() -> None:
    texts = {name: data.decode("utf-8") for name, data in FILES.items()}
    # Long License texts folded over lines that hold only whitespace (matplotlib, scipy, mlflow,
    # the Jupyter projects): such a line continues the header, it does not end the block.
    folded = [n for n, t in texts.items() if any(line.strip(" \t\r\n") == "" for line in _header_lines(t))]
    assert len(folded) >= 5, folded
    crlf = [n for n, t in texts.items() if any(line.endswith("\r\n") for line in _header_lines(t))]
    assert crlf, "expected at least one file whose headers end their lines in CRLF"


@pytest.mark.parametrize("filename", sorted(FILES))
def test_parse_metadata_text_equals_importlib(filename: str) -> None:
    expected = EXPECTED[filename]
    got = parse_metadata_text(FILES[filename].decode("utf-8"))
    assert (got.name, got.version) == (expected["name"], expected["version"])
    # For a dist-info, importlib.metadata's requires is exactly the Requires-Dist list.
    assert list(got.requires) == expected["requires"]


@pytest.mark.parametrize("filename", sorted(FILES))
def test_read_dist_equals_importlib(filename: str) -> None:
    expected = EXPECTED[filename]
    host = FakeHost(files={f"/site/{_dist_info(filename)}/METADATA": FILES[filename]})
    raw = read_dist(host, "/site", _dist_info(filename))
    assert "error" not in raw, raw
    assert raw["metadata"] == {"name": expected["name"], "version": expected["version"],
                               "requires-dist": expected["requires"]}


def test_recorded_expectations_are_what_importlib_reports_now(tmp_path: Path) -> None:
    # expected.json is the reference's output, not hand-written: re-derive it on this Python.
    wrong = []
    for filename, data in FILES.items():
        folder = tmp_path / _dist_info(filename)
        folder.mkdir()
        (folder / "METADATA").write_bytes(data)
        dist = importlib.metadata.PathDistribution(folder)
        now = {"name": dist.metadata["Name"], "version": dist.metadata["Version"],
               "requires": dist.requires or []}
        if now != EXPECTED[filename]:
            wrong.append(filename)
    assert wrong == []


# Generated RFC 822-style texts: headers (some of the three envsnap reads, in any case, some
# not, some malformed), folded values, whitespace-only continuation lines, any of the three
# line endings, characters str.splitlines() would break on but email does not, and a body.
ANY_EOL = ("\n", "\r\n", "\r")
_HEADER_NAME = st.sampled_from([
    "Name", "Version", "Requires-Dist", "License", "Summary", "Classifier", "Metadata-Version",
    "name", "VERSION", "requires-dist", "Name ", "Requires_Dist",
])
_CHAR = st.one_of(
    st.sampled_from([" ", "\t", ":", ";", "=", "a", "1", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "é"]),
    st.characters(codec="utf-8", exclude_characters="\r\n"),
)
_VALUE = st.text(_CHAR, max_size=12)
_WHITESPACE_ONLY = st.sampled_from([" ", "\t", "        ", " \t "])


@st.composite
def _metadata_texts(draw: st.DrawFn, eols: tuple[str, ...] = ANY_EOL) -> str:
    lines: list[str] = []
    if draw(st.integers(0, 15)) == 0:
        lines.append("")  # a leading empty line: no headers at all
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["header", "header", "header", "continuation", "blank", "junk"]))
        if kind == "header":
            space = draw(st.sampled_from(["", " ", "  ", "\t"]))
            lines.append(f"{draw(_HEADER_NAME)}:{space}{draw(_VALUE)}")
        elif kind == "continuation":
            lines.append(draw(st.sampled_from([" ", "\t", "        "])) + draw(_VALUE))
        elif kind == "blank":
            lines.append(draw(_WHITESPACE_ONLY))
        else:
            lines.append(draw(_VALUE))  # most often not a header: email ends the block there
    if draw(st.booleans()):
        lines.append("")  # the empty line before the body
        lines.extend(draw(st.lists(st.one_of(_VALUE, st.just("Name: from-the-body")), max_size=3)))
    text = "".join(line + draw(st.sampled_from(eols)) for line in lines)
    if draw(st.booleans()):
        text += draw(_VALUE)  # a last line without an ending
    return text


@settings(max_examples=500, deadline=None)
@given(_metadata_texts())
@example("Name: a\nLicense: BSD\n        \n        Copyright\n \nRequires-Dist: numpy>=1.23\n\nbody\n")
@example("Name: a\r\nLicense: x\r\n \r\n\ty\r\nRequires-Dist: b\r\n\r\nRequires-Dist: body\r\n")
@example("Name: a\rLicense: x\r \r\rRequires-Dist: body\r")
@example("Name: a\r\n\nRequires-Dist: body\n")
@example("Name: a\n\x0b\nVersion: 1\u2028x\x85\nRequires-Dist: c\n")
def test_parse_metadata_text_equals_the_email_parser(text: str) -> None:
    message = email.message_from_string(text)
    got = parse_metadata_text(text)
    assert (got.name, got.version, list(got.requires)) == (
        message["Name"], message["Version"], message.get_all("Requires-Dist") or [])


@pytest.fixture(scope="module")
def dist_info_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dist-info folder whose METADATA each generated example overwrites."""
    folder = tmp_path_factory.mktemp("site") / "gen-1.0.dist-info"
    folder.mkdir()
    return folder


def _importlib_reads(folder: Path, data: bytes) -> dict[str, object]:
    (folder / "METADATA").write_bytes(data)
    dist = importlib.metadata.PathDistribution(folder)
    # The first value, None when missing (which meta[key] warns about on Python 3.12+).
    meta = dist.metadata
    return {"name": (meta.get_all("Name") or [None])[0],
            "version": (meta.get_all("Version") or [None])[0],
            "requires-dist": dist.requires or []}


def _envsnap_reads(data: bytes) -> dict[str, object]:
    raw = read_dist(FakeHost(files={"/site/gen-1.0.dist-info/METADATA": data}), "/site", "gen-1.0.dist-info")
    assert "error" not in raw, raw
    metadata: dict[str, object] = raw["metadata"]
    return metadata


@settings(max_examples=500, deadline=None)
@given(_metadata_texts(eols=("\n",)).filter(lambda t: t != ""))
@example("Name: a\nLicense: BSD\n        \n        Copyright\n \nRequires-Dist: numpy>=1.23\n\nbody\n")
@example("Name: a\n b\nVersion: 1\nRequires-Dist: x\n ; extra == 'y'\n")
def test_read_dist_equals_importlib_on_generated_texts(dist_info_dir: Path, text: str) -> None:
    # An empty file is left out: importlib.metadata then looks for PKG-INFO instead.
    data = text.encode("utf-8")
    assert _envsnap_reads(data) == _importlib_reads(dist_info_dir, data)


# importlib.metadata reads METADATA with Path.read_text, whose universal newlines turn \r\n
# and \r into \n before the email parser and its un-indenting of folded values run; envsnap
# does the same (this property found the difference when it did not).
@settings(max_examples=500, deadline=None)
@given(_metadata_texts().filter(lambda t: t != ""))
@example("Name: a\r\n b\r\nVersion: 1\r\n\r\n")
@example("Name: a\nVersion: 1\nRequires-Dist: x\r\n ; extra == 'y'\r\n")
def test_read_dist_equals_importlib_with_any_line_endings(dist_info_dir: Path, text: str) -> None:
    data = text.encode("utf-8")
    assert _envsnap_reads(data) == _importlib_reads(dist_info_dir, data)


@pytest.mark.parametrize(("expression", "license", "classifiers", "want"), [
    # PEP 639: License-Expression wins, and the older fields are then ignored
    ("MIT", "BSD", ("License :: OSI Approved :: BSD License",), ("MIT", ())),
    (None, "MPL-2.0 AND MIT", (), ("MPL-2.0 AND MIT", ())),
    (None, "(Apache-2.0 OR MIT) WITH LLVM-exception", (), ("(Apache-2.0 OR MIT) WITH LLVM-exception", ())),
    (None, "  BSD-3-Clause  ", (), ("BSD-3-Clause", ())),
    # a License that is not an SPDX expression leaves the word to the classifiers
    (None, "Dual License", ("License :: OSI Approved :: BSD License", "Topic :: Utilities",
                            "License :: OSI Approved :: BSD License"),
     (None, ("License :: OSI Approved :: BSD License",))),
    (None, "Apache 2.0", (), (None, ())),
    (None, "Copyright (c) 2024 Someone\nPermission is hereby granted...", (), (None, ())),
    (None, "MIT AND", (), (None, ())),
    (None, None, ("License :: OSI Approved :: MIT License",),
     (None, ("License :: OSI Approved :: MIT License",))),
    (None, None, (), (None, ())),
])
def test_declared_license_follows_pep_639(expression: str | None, license: str | None,
                                          classifiers: tuple[str, ...],
                                          want: tuple[str | None, tuple[str, ...]]) -> None:
    assert declared_license(expression, license, classifiers) == want
