"""'envsnap check': the command on recorded machines (FakeHost), its exit codes and bad input
(a capture of this real machine: tests/integration/test_check_cli.py)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.cli import Console, build_parser, main
from envsnap.cli import check as check_cli
from envsnap.snapshot import Framework, Snapshot
from envsnap.testing import FakeHost, gpu_fixture_host
from envsnap.testing import h100_snapshot as recorded_h100

H200_DIR = support.REPO / "tests" / "data" / "gpu" / "h200-ubuntu24"
# torch 2.9 for CUDA 13.0 as PyTorch publishes it: its arch list (pytorch.toml, the shipped
# table) runs sm_75 ... sm_120, so sm_90 (H100 and H200 alike) is covered.
TORCH_CU130 = Framework(name="torch", version="2.9.1+cu130", variant="cu130", cuda="13.0")


@pytest.fixture(scope="module")
def h100_snapshot() -> Snapshot:
    """What `envsnap capture` records on the recorded H100 machine (driver 580, CUDA 13, one
    GPU; tests/unit/test_testing.py proves the factory equals it), with a CUDA 13 torch build."""
    return recorded_h100(frameworks=(TORCH_CU130,))


def _check_cli(snapshot: Snapshot, host: FakeHost, tmp_path: Path,
               *argv: str) -> tuple[int, str]:
    path = tmp_path / "h100.toml"
    io.dump(snapshot, path)
    args = [*argv[:1], str(path), *argv[1:]] if argv else ["check", str(path)]
    parsed = build_parser(args).parse_args(args)
    out = StringIO()
    rc = check_cli.run(parsed, Console(out=out, err=StringIO()), host=host)
    return rc, out.getvalue()


def test_h100_snapshot_host_only_on_a_machine_without_gpu_or_driver_fails(
        h100_snapshot: Snapshot, tmp_path: Path) -> None:
    rc, out = _check_cli(h100_snapshot, FakeHost(), tmp_path, "check", "--host-only")
    assert rc == 1, out
    assert "FAIL (policy exact, host only)" in out
    assert "gpu: GPUs  expected 1 x NVIDIA H100 80GB HBM3 (sm_90), found none" in out
    assert "driver: driver  expected >= 580, found -" in out
    assert "CUDA 13.0 (torch 2.9.1+cu130 (CUDA 13.0))" in out


def test_h100_snapshot_host_only_on_the_recorded_h200_passes(
        h100_snapshot: Snapshot, tmp_path: Path) -> None:
    rc, out = _check_cli(h100_snapshot, gpu_fixture_host(H200_DIR), tmp_path, "check",
                         "--host-only", "--fail-on", "minor")
    assert rc == 0, out
    assert "OK (policy exact, host only)" in out
    # The model name legitimately differs: said, never failed.
    assert "gpu: GPU0 NVIDIA H200  expected NVIDIA H100 80GB HBM3 (sm_90), found NVIDIA H200 " \
           "(sm_90)" in out
    assert "0 critical, 0 major, 0 minor, 1 info" in out


def test_json_on_the_recorded_h200(h100_snapshot: Snapshot, tmp_path: Path) -> None:
    rc, out = _check_cli(h100_snapshot, gpu_fixture_host(H200_DIR), tmp_path, "check",
                         "--host-only", "--format", "json")
    doc = json.loads(out)
    assert rc == 0 and doc["passed"] is True
    assert {"driver", "gpu"} <= set(doc["checked"])
    assert [(f["rule"], f["kind"]) for f in doc["findings"]] == [("gpu", "model")]


@pytest.mark.parametrize(("argv", "said"), [
    (["check", "SNAP", "--host-only", "--image", "img:1"], "--host-only checks this machine"),
    (["check", "MISSING"], "MISSING"),
    (["check", "SNAP", "--policy", "loose"], "invalid choice: 'loose'"),
])
def test_bad_input_exits_2_before_anything_is_captured(
        argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    io.dump(recorded_h100(), tmp_path / "snap.toml")
    argv = [{"SNAP": "snap.toml", "MISSING": str(tmp_path / "missing.toml")}.get(a, a)
            for a in argv]
    said = said.replace("MISSING", "missing.toml")
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and said in err


def test_a_bad_configuration_fails_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.envsnap]\nfail-on = "sometimes"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["check", "does-not-exist.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fail-on" in err and "does-not-exist" not in err
