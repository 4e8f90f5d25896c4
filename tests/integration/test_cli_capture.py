"""The real CLI's contract for capture/show: exit codes, one-line errors, nothing half-written."""

from __future__ import annotations

import io as textio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.cli import Console, main

ENVSNAP = str(Path(sys.executable).parent / "envsnap")


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENVSNAP, *args], capture_output=True, text=True, input=stdin,
                          env=support.clean_env(), cwd=cwd, timeout=120, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_help_teaches() -> None:
    proc = run("capture", "--help")
    assert proc.returncode == 0
    for word in ("examples:", "--python", "--deep", "--anonymize", "--only", "probes:"):
        assert word in proc.stdout


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"this is not toml = = =", "not valid TOML"),
        (b"schema = 99\n", "schema 99 is not supported"),
        (b"\x00\xff\xfe", "not UTF-8"),
        (b"schema = 1\n[python]\nversion = '3.11'\n", "missing required key at 'python.implementation'"),
        (b'schema = 1\n[python]\nversion = "3.11"\nimplementation = "cpython"\n[python.packages]\n'
         b'"x;rm -rf /" = {version = "1"}\n', "unsafe package name"),
    ],
)
def test_show_bad_input_exits_2_with_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_bytes(content)
    assert_one_line_error(run("show", str(f)), 2, needle, str(f))


def test_show_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run("show", str(tmp_path / "none.toml")), 2, "no such file")


def test_unknown_probe_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("capture", "--only", "python,gpus", "-o", str(tmp_path / "x.toml"))
    assert proc.returncode == 2 and "unknown probe(s) gpus" in proc.stderr
    assert not (tmp_path / "x.toml").exists()


def test_unwritable_output_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run("capture", "--only", "os", "-o", str(blocker / "sub" / "snap.toml"))
    assert_one_line_error(proc, 2, "cannot write", "Not a directory")
    assert blocker.read_text() == "x"


def test_capture_to_file_then_show_from_stdin(tmp_path: Path) -> None:
    out = tmp_path / "s.toml"
    proc = run("capture", "--only", "os,cpu,env", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0 and "captured" in proc.stderr
    snap = io.load(out)
    assert set(snap.probes) == {"os", "cpu", "env"}
    shown = run("show", "-", stdin=out.read_text())
    assert shown.returncode == 0 and "os " in shown.stdout


def test_default_output_is_envsnap_toml(tmp_path: Path) -> None:
    assert run("capture", "--only", "os", cwd=tmp_path).returncode == 0
    assert io.load(tmp_path / "envsnap.toml").os is not None


# --if-changed: no rewrite when the content is the same (a real capture of this machine).

def test_if_changed_leaves_bytes_and_mtime_alone(tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    argv = ["capture", "--only", "os,cpu", "-q", "-o", str(out)]
    assert main(argv, Console(textio.StringIO(), textio.StringIO())) == 0
    before, stamp = out.read_bytes(), out.stat().st_mtime_ns
    os.utime(out, ns=(stamp - 10**9, stamp - 10**9))  # so a rewrite would show
    stamp = out.stat().st_mtime_ns
    for _ in range(2):
        assert main([*argv, "--if-changed"], Console(textio.StringIO(), textio.StringIO())) == 0
        assert out.read_bytes() == before and out.stat().st_mtime_ns == stamp
    # A different content is written.
    assert main(["capture", "--only", "os", "-q", "-o", str(out), "--if-changed"],
                Console(textio.StringIO(), textio.StringIO())) == 0
    assert out.read_bytes() != before
