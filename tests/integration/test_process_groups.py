"""No process is left running after a timed-out probe, a timed-out --deep import or Ctrl-C:
each child envsnap starts leads a process group, and the test counts what is left in it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import support

from envsnap.host import LocalHost
from envsnap.probes import frameworks, nvidia
from envsnap.snapshot import Package, PythonEnv

ENVSNAP = str(Path(sys.executable).parent / "envsnap")


def _wait_for(path: Path, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


def _gone(pgid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not support.live_processes(group=pgid):
            return True
        time.sleep(0.05)
    return False


def _wrapper(directory: Path, name: str, pidfile: Path) -> None:
    """A wrapper script, as nvidia-smi often is: it starts a child, then hangs itself."""
    path = directory / name
    path.write_text(f"#!/bin/sh\necho $$ > {pidfile}\n/bin/sleep 300 &\n/bin/sleep 300\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_timed_out_wrapper_and_its_children_are_killed(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if os.path.exists(nvidia.PROC_VERSION):
        pytest.skip(f"SKIPPED: this machine has an NVIDIA driver ({nvidia.PROC_VERSION})")
    pidfile = tmp_path / "pgid"
    _wrapper(tmp_path, "nvidia-smi", pidfile)
    monkeypatch.setattr(nvidia, "NVIDIA_SMI_TIMEOUT", 1.0)
    result = nvidia.probe(LocalHost(environ={"PATH": f"{tmp_path}:/usr/bin:/bin"}))
    assert "timed out" in result.found_via
    pgid = int(_wait_for(pidfile))
    assert _gone(pgid), f"left running: {support.live_processes(group=pgid)}"


def test_a_timed_out_deep_import_and_its_children_are_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = support.make_venv(tmp_path / "venv", with_pip=False)
    site = support.site_packages(python)
    pidfile = tmp_path / "pgid"
    (site / "torch").mkdir()
    # An import that starts a helper process and then never finishes (a CUDA init hang).
    (site / "torch" / "__init__.py").write_text(
        "import os, subprocess, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpgrp()))\n"
        "subprocess.Popen(['/bin/sleep', '300'])\n"
        "time.sleep(300)\n")
    monkeypatch.setattr(frameworks, "DEEP_TIMEOUT", 2.0)
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", prefix=str(python.parent.parent),
                      site_packages=(str(site),), packages=(Package(name="torch", version="2.8.0"),))
    result = frameworks.probe(LocalHost(), pyenv, deep=True, python=str(python))
    assert "timed out" in result.found_via
    pgid = int(_wait_for(pidfile))
    assert pgid != os.getpgrp()  # the import ran in a group of its own
    assert _gone(pgid), f"left running: {support.live_processes(group=pgid)}"


def test_ctrl_c_kills_the_children_and_exits_130(tmp_path: Path) -> None:
    if os.path.exists(nvidia.PROC_VERSION):
        pytest.skip(f"SKIPPED: this machine has an NVIDIA driver ({nvidia.PROC_VERSION})")
    pidfile = tmp_path / "pgid"
    _wrapper(tmp_path, "nvidia-smi", pidfile)
    env = support.clean_env({"PATH": f"{tmp_path}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    proc = subprocess.Popen([ENVSNAP, "capture", "--only", "nvidia", "-o", str(tmp_path / "s.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
                            start_new_session=True)
    pgid = int(_wait_for(pidfile))  # nvidia-smi is running, in its own group
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and err.strip().splitlines() == [b"envsnap: interrupted"]
    assert _gone(pgid), f"left running: {support.live_processes(group=pgid)}"
    assert not (tmp_path / "s.toml").exists()


@pytest.mark.parametrize("where", ["build_parser", "import_module"])
def test_ctrl_c_while_envsnap_starts_prints_no_traceback(tmp_path: Path, where: str) -> None:
    # The interrupt lands while the command's parser is built and its modules imported (the
    # start-up window of envsnap's own code): exit 130, one line, no traceback. (A Ctrl-C
    # during the interpreter's own start-up, before any envsnap code runs, is Python's.)
    code = (
        "import importlib, os, signal, envsnap.cli as cli\n"
        f"target = {'cli' if where == 'build_parser' else 'importlib'!s}\n"
        f"original = getattr(target, {where!r})\n"
        "def interrupted(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return original(*a, **k)\n"
        f"setattr(target, {where!r}, interrupted)\n"
        "cli.run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "capture", "--only", "os", "-o",
                           str(tmp_path / "s.toml")], capture_output=True, cwd=tmp_path, timeout=60,
                          env=support.clean_env(), check=False)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == [b"envsnap: interrupted"]
    assert not (tmp_path / "s.toml").exists()
