"""records: dataclasses <-> plain data by their annotations, a round trip over every record
(Hypothesis, through JSON too), exact scalar types, key paths in errors, surrogates escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import hostile_snapshots, hostile_text

from envsnap.errors import SnapshotFormatError
from envsnap.records import TRANSIENT, converter, escape_surrogates, record_to_dict, what
from envsnap.snapshot import Package, Snapshot


@settings(max_examples=60, deadline=None)
@given(hostile_snapshots())
def test_every_record_round_trips_through_plain_data(snapshot: Snapshot) -> None:
    data = record_to_dict(snapshot)
    assert converter(Snapshot)(data, "") == snapshot
    # Plain data is what JSON holds: nothing but tables, arrays, strings, numbers, booleans.
    assert converter(Snapshot)(json.loads(json.dumps(data)), "") == snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaf:
    n: int
    flag: bool = False
    ratio: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    name: str
    note: str | None
    leaves: tuple[Leaf, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    cache: str = field(default="", metadata={TRANSIENT: True})


def test_defaults_none_and_transient_fields_are_not_written() -> None:
    tree = Tree(name="t", note=None, leaves=(Leaf(n=0),), tags={"b": "2", "a": "1"}, cache="x")
    data = record_to_dict(tree)
    assert data == {"name": "t", "leaves": [{"n": 0}], "tags": {"a": "1", "b": "2"}}
    assert list(data["tags"]) == ["a", "b"]  # sorted: the file does not depend on dict order
    assert converter(Tree)(data, "") == Tree(name="t", note=None, leaves=(Leaf(n=0),),
                                             tags={"a": "1", "b": "2"})


@pytest.mark.parametrize(("data", "message", "path"), [
    ({"note": "n"}, "missing required key", "name"),
    ({"name": "t", "note": None}, "expected a string, got a NoneType", "note"),  # TOML has no null
    ({"name": 1}, "expected a string, got an integer", "name"),
    ({"name": "t", "leaves": {}}, "expected an array, got a table", "leaves"),
    ({"name": "t", "leaves": [{"n": True}]}, "expected an integer, got a boolean", "leaves[0].n"),
    ({"name": "t", "leaves": [{"n": 1, "flag": 1}]}, "expected a boolean, got an integer",
     "leaves[0].flag"),
    ({"name": "t", "leaves": [{"n": 1, "ratio": 1}]}, "expected a number, got an integer",
     "leaves[0].ratio"),
    ({"name": "t", "leaves": [{}]}, "missing required key", "leaves[0].n"),
    ({"name": "t", "tags": {"k": []}}, "expected a string, got an array", "tags.k"),
    ({"name": "t", "tags": "x"}, "expected a table, got a string", "tags"),
    ({"name": "t", "leaves": ["x"]}, "expected a table, got a string", "leaves[0]"),
])
def test_a_wrong_type_names_its_key_path(data: dict[str, Any], message: str, path: str) -> None:
    with pytest.raises(SnapshotFormatError) as exc:
        converter(Tree)(data, "")
    assert message in str(exc.value) and path in str(exc.value)


def test_unknown_keys_are_ignored_and_a_missing_optional_is_none() -> None:
    got = converter(Tree)({"name": "t", "from_the_future": [1], "cache": "y"}, "")
    assert got == Tree(name="t", note=None)  # a transient field is never read either


def test_writing_an_unsupported_value_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot write set"):
        record_to_dict(Tree(name="t", note=None, tags={"k": {1}}))  # type: ignore[dict-item]


@pytest.mark.parametrize(("value", "word"), [
    ({}, "a table"), ([], "an array"), ("", "a string"), (1, "an integer"), (True, "a boolean"),
    (1.5, "a number"), (None, "a NoneType"),
])
def test_what_names_a_value_as_toml_does(value: Any, word: str) -> None:
    assert what(value) == word


@given(hostile_text())
def test_escape_surrogates_leaves_utf8_text_alone(text: str) -> None:
    escaped: list[str] = []
    pkg = Package(name=text, version="1")
    assert escape_surrogates(pkg, escaped) is pkg and escaped == []


@given(st.text(st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), min_size=1, max_size=4),
       st.text(max_size=4))
def test_escape_surrogates_writes_what_utf8_can_hold(bad: str, good: str) -> None:
    escaped: list[str] = []
    text = good + bad
    value = {"k": (Package(name=text, version="1"), good)}
    out = escape_surrogates(value, escaped)
    fixed = text.encode("utf-8", "backslashreplace").decode("utf-8")
    assert out == {"k": (Package(name=fixed, version="1"), good)}
    assert escaped == [fixed]
    fixed.encode("utf-8")  # no lone surrogate is left
    # Undecodable bytes, as os.fsdecode hands them over, come out as their escapes.
    assert "\\udc" in fixed
