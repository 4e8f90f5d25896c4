"""Tests moved out of the lock/SBOM unit files (19.4) whose modules other mirror branches own.

Each belongs in its module's mirror file when the branches are merged: Lines/Steps ->
tests/unit/test_progress.py, declared_license -> tests/unit/probes/test_dist_info.py."""

from __future__ import annotations

import io

import pytest

from envsnap.progress import Lines, Steps, human_bytes


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
    from envsnap.probes.dist_info import declared_license

    assert declared_license(expression, license, classifiers) == want
