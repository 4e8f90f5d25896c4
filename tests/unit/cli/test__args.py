"""The argparse types the commands share."""

from __future__ import annotations

import argparse

import pytest

from envsnap.cli._args import comma_list, count


def test_comma_list() -> None:
    parse = comma_list(("a", "b", "c"), "probe", all_word="all")
    assert parse(" b, a,b ,") == ("b", "a")
    assert parse("all") == ("a", "b", "c")
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown probe\(s\) x; choose from a, b, c or all"):
        parse("a,x")
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(none given\)"):
        parse(",")


def test_count() -> None:
    parse = count(1, 10_000)
    assert parse("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="expected 1 to 10,000"):
        parse("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number, got 'x'"):
        parse("x")
