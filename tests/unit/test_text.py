"""text: control characters shown as Python's ascii() shows them, one line, nothing else
touched; surrogates found; host names as file names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap.text import has_control, has_surrogate, printable, short_hostname

# Written from the sources rather than copied: C0 (U+0000-U+001F), DEL, C1 (U+0080-U+009F), and
# the two characters str.splitlines() breaks at beyond those (LINE and PARAGRAPH SEPARATOR).
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + ["\u2028", "\u2029"]


@pytest.mark.parametrize("c", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_each_control_is_escaped_as_ascii_writes_it(c: str) -> None:
    assert printable(c) == ascii(c)[1:-1]
    assert has_control(c)


@given(st.text())
def test_printable_is_one_line_without_controls(text: str) -> None:
    shown = printable(text)
    assert not has_control(shown)
    assert len(shown.splitlines()) <= 1
    assert has_control(text) is (shown != text)


@given(st.text(st.characters(exclude_characters="".join(CONTROLS))))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert printable(text) == text


@given(st.lists(st.one_of(st.sampled_from(CONTROLS),
                          st.characters(exclude_characters="".join(CONTROLS) + "\\"))))
def test_printable_can_be_read_back(chars: list[str]) -> None:
    # Without backslashes in the input, every escape came from printable: undo them.
    text = "".join(chars)
    back = re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[nrt])",
                  lambda m: m.group().encode().decode("unicode_escape"), printable(text))
    assert back == text


@given(st.text())
def test_has_surrogate_is_what_utf8_refuses(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert has_surrogate(text)
    else:
        assert not has_surrogate(text)


@pytest.mark.parametrize(("hostname", "short"), [
    ("gpu-07.cluster.local", "gpu-07"), ("gpu-07", "gpu-07"), ("", "unknown-host"),
    (".hidden", "hidden"), ("..", "unknown-host"), ("a/b\\c", "a_b_c"), ("nöde 1", "n_de_1"),
    ("../../etc/passwd", "_.._etc_passwd")  # no separator left, no leading dot,
])
def test_short_hostname(hostname: str, short: str) -> None:
    assert short_hostname(hostname) == short


@given(st.text())
def test_short_hostname_is_always_a_plain_file_name(hostname: str) -> None:
    name = short_hostname(hostname)
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name)
    assert "/" not in name and name not in (".", "..")
