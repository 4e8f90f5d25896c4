"""The cpu and os probes and LocalHost.which on this real machine, against the standard library."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.host import LocalHost
from envsnap.probes import cpu, osinfo


def test_cpu_probe_on_this_machine_is_consistent() -> None:
    found = cpu.probe(LocalHost()).value
    assert found is not None
    assert found.usable_cores is not None and found.logical_cores is not None
    assert 1 <= found.usable_cores <= found.logical_cores


def test_local_which_agrees_with_shutil(tmp_path: Path) -> None:
    import os
    import shutil

    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    (tmp_path / "notexec").write_text("")
    (tmp_path / "adir").mkdir()
    path = os.pathsep.join([str(tmp_path), os.environ.get("PATH", "")])
    host = LocalHost({"PATH": path})
    for name in ("tool", "notexec", "adir", "sh", "git", "no-such-tool-here", str(tmp_path / "tool")):
        assert host.which(name) == shutil.which(name, path=path), name
    assert host.which("tool") == str(tmp_path / "tool")
    # An empty PATH finds nothing; an absent one falls back as shutil does.
    assert LocalHost({"PATH": ""}).which("sh") is None is shutil.which("sh", path="")
    assert LocalHost({}).which("sh") == shutil.which("sh")


def test_glibcxx_scan_on_the_real_libstdcxx() -> None:
    lib = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not lib.exists():
        pytest.skip(f"SKIPPED: no {lib} on this machine")
    newest = osinfo.parse_glibcxx(lib.read_bytes())
    assert newest is not None and newest.startswith("3.4.")
    assert int(newest.split(".")[2]) >= 19  # any libstdc++ of the last decade
