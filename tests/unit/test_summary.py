"""summary: the one-screen summary's identity line, one block per probe in registry order, the
failures listed, and every captured text escaped for the terminal."""

from __future__ import annotations

from dataclasses import replace

from envsnap.snapshot import Meta, ProbeStatus, Snapshot
from envsnap.summary import summarize, summary_data
from envsnap.testing import h100_snapshot


def _snap() -> Snapshot:
    return replace(h100_snapshot(), meta=Meta(captured_at="2026-01-01T00:00:00Z",
                                              hostname="gpu-07\x1b]0;owned\x07"),
                   probes={"os": ProbeStatus(status="ok", found_via="uname"),
                           "cpu": ProbeStatus(status="error", error="boom\nRUN x"),
                           "env": ProbeStatus(status="absent", found_via="environ")})


def test_summary_data_carries_the_identity_and_the_failures() -> None:
    snap = _snap()
    data = summary_data(snap)
    assert data["digest"] == snap.digest and data["schema"] == snap.schema
    assert data["hostname"] == "gpu-07\x1b]0;owned\x07"  # data as captured: --json escapes it
    assert data["probe_errors"] == {"cpu": "boom\nRUN x"}


def test_summarize_escapes_what_was_captured() -> None:
    text = summarize(_snap())
    first, *rest = text.splitlines()
    assert first.startswith(f"snapshot {_snap().digest[:19]}  ")
    assert "captured 2026-01-01T00:00:00Z on gpu-07\\x1b]0;owned\\x07" in first
    assert "\x1b" not in text and "\x07" not in text
    assert rest[-1] == "! probe cpu failed: boom\\nRUN x"
    assert not any(line.startswith("cpu ") for line in rest)  # a failure is listed once, below
