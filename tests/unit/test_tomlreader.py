"""tomlreader: the standard library's reader (tomli before 3.11), its errors ValueErrors naming the line."""

from __future__ import annotations

import sys
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap import tomlreader

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib


@pytest.mark.parametrize("name", sorted(
    p.name for p in resources.files("envsnap.compat").iterdir() if p.name.endswith(".toml")))
def test_shipped_tables_read_as_the_reference_reads_them(name: str) -> None:
    text = resources.files("envsnap.compat").joinpath(name).read_text("utf-8")
    assert tomlreader.loads(text) == tomllib.loads(text)


KEYS = st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=8)
VALUES = st.one_of(st.text(max_size=20), st.integers(-2**63, 2**63 - 1), st.booleans(),
                   st.lists(st.integers(0, 9), max_size=3))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # every character as its \UXXXXXXXX escape
        return '"' + "".join(f"\\U{ord(c):08x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return str(value)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_generated_documents_equal_the_reference(doc: dict[str, object]) -> None:
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in doc.items())
    assert tomlreader.loads(text) == tomllib.loads(text)


@pytest.mark.parametrize("text", ["a = 1\na = 2\n", "[t]\n[t]\n", "a = \n", "= 1\n",
                                  "a = 1 b = 2\n", "a = 'x"])
def test_bad_documents_raise_value_errors_naming_where(text: str) -> None:
    with pytest.raises(ValueError, match=r"line \d+|end of document"):
        tomlreader.loads(text)
