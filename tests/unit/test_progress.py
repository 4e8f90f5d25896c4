"""progress: sizes in IEC units, plain lines when stderr is no terminal, and the build steps."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap import progress


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                         (1536, "1.5 KiB"), (5 * 2**20, "5.0 MiB"),
                                         (3 * 2**40, "3072.0 GiB")])
def test_human_bytes(n: int, text: str) -> None:
    assert progress.human_bytes(n) == text


@given(st.integers(0, 2**50))
def test_human_bytes_reads_back_within_rounding(n: int) -> None:
    number, unit = progress.human_bytes(n).split()
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    assert abs(float(number) * scale - n) <= 0.05 * scale + 0.5
    assert unit == "GiB" or float(number) < 1024


def test_lines_reporter_writes_one_line_per_message_and_finished_download() -> None:
    out = io.StringIO()
    rep = progress.reporter(out, tty=False, color=False)
    rep.info("resolving")
    t = rep.transfer("numpy.whl", 3000)
    t.advance(1000)
    t.advance(2000)
    t.close()
    failed = rep.transfer("x.whl", None)
    failed.close(ok=False)  # a failed download is not reported as downloaded
    lines = out.getvalue().splitlines()
    assert lines[0] == "envsnap: resolving"
    assert lines[1].startswith("envsnap: downloaded numpy.whl (2.9 KiB in ") and len(lines) == 2


def test_silent_reports_nothing() -> None:
    t = progress.SILENT.transfer("x", 1)
    t.advance(1)
    t.close()
    progress.SILENT.info("x")


def test_steps_without_a_terminal() -> None:
    out = io.StringIO()
    steps = progress.Steps(out, tty=False)
    steps.step(1, 2, "FROM base")
    steps.cached()
    steps.step(2, 2, "RUN pip install")
    steps.message("note")
    steps.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["envsnap: [1/2] FROM base", "envsnap: [1] cached", "envsnap: [2/2] RUN pip install"]
    assert lines[3] == "note"
    assert lines[4].startswith("envsnap: [2] ") and lines[4].endswith("s")


def test_steps_on_a_terminal_rewrite_one_line_cut_to_the_width() -> None:
    out = io.StringIO()
    steps = progress.Steps(out, tty=True, width=30)
    steps.step(1, 1, "RUN " + "x" * 100)
    steps.close()
    final = out.getvalue().split("\r\x1b[2K")[-1]
    assert final.startswith("envsnap: [1/1] ") and final.endswith("\n")
    assert len(final.rstrip("\n")) == 29


def test_plain_progress_lines_and_steps() -> None:
    lines: list[str] = []
    rep = progress.Lines(lines.append)
    t = rep.transfer("six-1.16.0-py2.py3-none-any.whl", 11053)
    t.advance(11053)
    t.close()
    assert lines[0].startswith("downloaded six-1.16.0-py2.py3-none-any.whl (10.8 KiB in ")
    out = io.StringIO()
    steps = progress.Steps(out, tty=False)
    steps.step(1, 2, "FROM base")
    steps.cached()
    steps.step(2, 2, "RUN pip install")
    steps.close()
    text = out.getvalue().splitlines()
    assert text[:2] == ["envsnap: [1/2] FROM base", "envsnap: [1] cached"]
    assert text[2] == "envsnap: [2/2] RUN pip install" and text[3].endswith("s")
    assert progress.human_bytes(3 * 2**20) == "3.0 MiB"
