"""capture's orchestration over a fake Host replaying a recorded H100 machine (tests/data/gpu)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.capturing import CaptureOptions, capture_with
from envsnap.testing import gpu_fixture_host

H100 = Path(__file__).resolve().parents[1] / "data" / "gpu" / "h100-ubuntu24"


def test_phase_two_reuses_the_cuda_system_survey() -> None:
    host = gpu_fixture_host(H100)
    snapshot = capture_with(host, CaptureOptions(only=frozenset({"cuda"})))
    assert snapshot.cuda is not None and snapshot.cuda.nvcc_version is not None
    assert snapshot.cuda.nvcc_version in (H100 / "nvcc-version.txt").read_text()
    # The phase-1 survey's nvcc result is the one phase 2 uses: nvcc is not run twice.
    assert [argv[0] for argv in host.calls].count("/usr/bin/nvcc") == 1


def test_a_crashing_survey_becomes_the_probes_error_and_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = gpu_fixture_host(H100, commands={"ldconfig": RuntimeError("ldconfig exploded")})
    snapshot = capture_with(host, CaptureOptions(only=frozenset({"cuda", "nvidia"})))
    status = snapshot.probes["cuda"]
    assert status.status == "error" and "ldconfig exploded" in (status.error or "")
    assert snapshot.nvidia is not None and snapshot.nvidia.gpus  # the other probes still ran
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
