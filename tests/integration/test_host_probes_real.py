"""The cpu probe and LocalHost.which on this real machine, against the standard library."""

from __future__ import annotations

from pathlib import Path

from envsnap.host import LocalHost
from envsnap.probes import cpu


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
