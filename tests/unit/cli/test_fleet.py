"""envsnap.cli.fleet: the 'fleet' command groups 'capture' and 'report' (each has its own
file: tests/unit/cli/test_fleet_capture.py, test_fleet_report.py)."""

from __future__ import annotations

import pytest

from envsnap.cli import build_parser, main


def test_fleet_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet"]) == 2
    assert "the following arguments are required: SUBCOMMAND" in capsys.readouterr().err


def test_fleet_help_names_both_subcommands_and_the_schedulers(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser(["fleet", "--help"]).parse_args(["fleet", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("capture", "report", "srun", "--baseline"):
        assert word in out


@pytest.mark.parametrize("sub", ["capture", "report"])
def test_each_subcommand_is_wired(sub: str) -> None:
    args = build_parser(["fleet", sub]).parse_args(
        ["fleet", sub, *(["snaps/"] if sub == "report" else ["--ray", "auto", "-o", "snaps/"])])
    assert args.fleet_command == sub and callable(args.handler)
