"""The project probe's git overrides: every filter and diff driver the configuration names is
disabled on git's command line (the hostile checkout itself: tests/integration/test_hostile_git.py)."""

from __future__ import annotations

import pytest

from envsnap.probes.project import driver_overrides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("filter.lfs.clean\ngit-lfs clean -- %f\0filter.lfs.required\ntrue\0",
         ("filter.lfs.clean=", "filter.lfs.smudge=", "filter.lfs.process=", "filter.lfs.required=false")),
        ("diff.pdf.textconv\npdftotext\0diff.external\nx\0",
         ("diff.pdf.textconv=", "diff.pdf.command=")),
        ("filter.a.b.clean\nx\0", ("filter.a.b.clean=", "filter.a.b.smudge=", "filter.a.b.process=",
                                   "filter.a.b.required=false")),
        ("filter.a=b.clean\nx\0", None),  # cannot be written as -c key=value
    ],
)
def test_driver_overrides(text: str, expected: tuple[str, ...] | None) -> None:
    assert driver_overrides(text) == expected
