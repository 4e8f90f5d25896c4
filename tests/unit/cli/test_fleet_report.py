"""'envsnap fleet report' (and 'fleet' without a subcommand): a directory of node snapshots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from envsnap import compat, io
from envsnap.cli import main
from envsnap.testing import h100_snapshot


def test_the_odd_node_is_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    node = h100_snapshot()
    assert node.nvidia is not None
    for name in ("n1", "n2"):
        io.dump(node, snaps / f"{name}.toml")
    io.dump(replace(node, nvidia=replace(node.nvidia, driver_version="550.54.15",
                                         kernel_module_version="550.54.15")), snaps / "n3.toml")
    worst = compat.cluster_rule("driver_major").severity  # another driver branch
    assert main(["fleet", "report", "snaps", "--jobs", "1", "--format", "json",
                 "--fail-on", worst]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [g["nodes"] for g in doc["groups"]] == [["snaps/n3.toml"]]
    assert main(["fleet", "report", "snaps", "--jobs", "1", "--fail-on", "never"]) == 0


@pytest.mark.parametrize(("argv", "said"), [
    (["fleet"], "the following arguments are required: SUBCOMMAND"),
    (["fleet", "report", "x", "--jobs", "0"], "expected 1 to 256 processes"),
    (["fleet", "report", "x", "--jobs", "two"], "expected a number of processes"),
    (["fleet", "report", "-"], "standard input ('-') needs --baseline"),
])
def test_bad_input_exit_2(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert said in capsys.readouterr().err
