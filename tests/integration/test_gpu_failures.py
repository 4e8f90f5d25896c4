"""GPU probes against real failing executables: a hung nvidia-smi, one that prints an error."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from envsnap.host import LocalHost
from envsnap.probes import nvidia

NVIDIA_SMI_ERROR = (
    # What nvidia-smi prints without a working driver (lyulyul/shine-cluster#50); it then exits
    # with 9, "NVIDIA driver is not loaded" in nvidia-smi(1)'s list of return codes.
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


def _executable(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is a POSIX tool every test machine has"
    return path


@pytest.fixture()
def no_real_driver() -> None:
    # These tests rely on NVML and /proc failing for real; on a GPU machine they would not.
    if os.path.exists(nvidia.PROC_VERSION):
        pytest.skip(f"SKIPPED: this machine has an NVIDIA driver ({nvidia.PROC_VERSION})")


def test_hung_nvidia_smi_is_killed_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_real_driver: None
) -> None:
    # exec, so the timeout kills the sleeping process itself rather than leaving an orphan.
    # PATH holds only tmp_path, so the script names sleep by its absolute path.
    _executable(tmp_path, "nvidia-smi", f"exec {_tool('sleep')} 30")
    monkeypatch.setattr(nvidia, "NVIDIA_SMI_TIMEOUT", 1.0)
    host = LocalHost(environ={"PATH": str(tmp_path)})
    start = time.monotonic()
    result = nvidia.probe(host)
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"probe took {elapsed:.1f}s: the nvidia-smi timeout did not fire"
    assert "nvidia-smi timed out after 1s" in result.found_via
    # NVML fails for real here (no driver), and so does /proc: nothing to report.
    assert result.value is None
    assert "NVML" in result.found_via


def test_nvidia_smi_printing_an_error_falls_through(
    tmp_path: Path, no_real_driver: None
) -> None:
    _executable(tmp_path, "nvidia-smi", f"echo \"{NVIDIA_SMI_ERROR}\"\nexit 9")
    result = nvidia.probe(LocalHost(environ={"PATH": str(tmp_path)}))
    assert result.value is None
    assert "nvidia-smi exited with 9: NVIDIA-SMI has failed" in result.found_via


def test_nvidia_smi_printing_a_truncated_table_falls_through(
    tmp_path: Path, no_real_driver: None
) -> None:
    recorded = Path(__file__).resolve().parents[1] / "data" / "gpu" / "h100-ubuntu24"
    csv = (recorded / "nvidia-smi-query-gpu.csv").read_text(encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text(csv[: len(csv) // 2 + 20], encoding="utf-8")  # the row stops mid-field
    _executable(tmp_path, "nvidia-smi", f"exec {_tool('cat')} '{cut}'")
    result = nvidia.probe(LocalHost(environ={"PATH": str(tmp_path)}))
    assert result.value is None
    assert "nvidia-smi printed unexpected output" in result.found_via


def test_no_nvidia_smi_at_all_is_absent(tmp_path: Path, no_real_driver: None) -> None:
    result = nvidia.probe(LocalHost(environ={"PATH": str(tmp_path)}))
    assert result.value is None
    assert "nvidia-smi not found" in result.found_via
