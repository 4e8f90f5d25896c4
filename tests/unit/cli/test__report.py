"""envsnap.cli._report: what diff, check and fleet report share: the exit code, the ignore
announcement, the worker count, and reading a fleet's nodes."""

from __future__ import annotations

import argparse
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from envsnap import compat
from envsnap.cli import Console
from envsnap.cli._report import MAX_JOBS, announce_ignored, default_jobs, exit_code, fleet
from envsnap.config import FAIL_ON, Config, Ignore
from envsnap.errors import BadInputError
from envsnap.io import dump
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot
from envsnap.wording import IGNORED_LISTS


@dataclass
class Worst:
    severity: str | None  # the worst finding; None: nothing found

    def failed(self, threshold: str) -> bool:
        return self.severity is not None and compat.fails(self.severity, threshold)


@pytest.mark.parametrize("fail_on", FAIL_ON)
@pytest.mark.parametrize("worst", [None, "info", "minor", "major", "critical"])
def test_exit_code_is_one_exactly_when_the_worst_reaches_the_threshold(
        fail_on: str, worst: str | None) -> None:
    order = ["info", "minor", "major", "critical"]
    expected = (worst is not None and fail_on != "never"
                and order.index(worst) >= order.index(fail_on))
    assert exit_code(Worst(worst), Config(fail_on=fail_on)) == int(expected)


def _ns(ignore: list[str], ignore_env: list[str]) -> argparse.Namespace:
    return argparse.Namespace(ignore=ignore, ignore_env=ignore_env)


def test_nothing_ignored_says_nothing() -> None:
    err = io.StringIO()
    announce_ignored(Console(io.StringIO(), err), _ns([], []), Config(), {})
    assert err.getvalue() == ""


def test_the_announcement_names_patterns_where_they_came_from_and_what_they_hid() -> None:
    err = io.StringIO()
    cfg = Config(source="/p/pyproject.toml",
                 ignore=Ignore(packages=("nvidia-*", "torch"), env=("CI_*",)))
    hidden = {key: 2 for key in IGNORED_LISTS} | {"not-a-list": 100}
    announce_ignored(Console(io.StringIO(), err), _ns(["torch"], []), cfg, hidden)
    assert err.getvalue() == (
        "envsnap: ignoring packages nvidia-*, torch; environment variables CI_* "
        f"([tool.envsnap] in /p/pyproject.toml and --ignore): {2 * len(IGNORED_LISTS)} "
        "changes hidden\n")


def test_flags_alone_name_only_the_flags() -> None:
    err = io.StringIO()
    cfg = Config(ignore=Ignore(packages=("torch",)))
    announce_ignored(Console(io.StringIO(), err), _ns(["torch"], []), cfg, {})
    assert err.getvalue() == "envsnap: ignoring packages torch (--ignore): 0 changes hidden\n"


def test_default_jobs_follow_the_usable_cpus_within_bounds() -> None:
    assert default_jobs() == max(1, min(MAX_JOBS, len(os.sched_getaffinity(0))))


def test_fleet_refuses_stdin_twice_and_stdin_without_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="only once"):
        fleet(["-", "-"], baseline=None, ignore=Ignore(), jobs=1)
    node = tmp_path / "n.toml"
    dump(cpu_venv_snapshot(), node)
    with pytest.raises(BadInputError, match="needs --baseline"):
        fleet([str(node), "-"], baseline=None, ignore=Ignore(), jobs=1)


def test_a_baseline_inside_the_folder_is_not_compared_with_itself(tmp_path: Path) -> None:
    golden = tmp_path / "golden.toml"
    dump(cpu_venv_snapshot(Package(name="six", version="1.16.0")), golden)
    with pytest.raises(BadInputError, match="besides itself"):
        fleet([str(tmp_path)], baseline=str(golden), ignore=Ignore(), jobs=1)
    dump(cpu_venv_snapshot(Package(name="six", version="1.17.0")), tmp_path / "node.toml")
    report = fleet([str(tmp_path)], baseline=str(golden), ignore=Ignore(), jobs=1)
    assert [g.nodes for g in report.groups] == [(str(tmp_path / "node.toml"),)]
