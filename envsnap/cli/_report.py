"""What diff, check and fleet report share: output options, settings, exit code, a fleet's nodes."""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .. import config
from ..config import FAIL_ON
from ..drift import Change
from ..errors import BadInputError
from ..fleet import Comparison, FleetReport, against_baseline, against_majority
from ..pool import map_snapshots
from ..report import FORMATS, render_fleet
from ..snapshot import PackageMemo, Snapshot
from ..wording import IGNORED_LISTS
from ._input import expand, one_stdin, read

FAIL_ON_HELP = "exit 1 when anything is at LEVEL or worse"


def add_output_options(p: argparse.ArgumentParser, *, fail_on_help: str = FAIL_ON_HELP) -> None:
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format (default: text; json has a versioned schema)")
    p.add_argument("--fail-on", choices=FAIL_ON, default=None, metavar="LEVEL",
                   help=f"{fail_on_help} ({', '.join(FAIL_ON)}; "
                        "default: [tool.envsnap] fail-on, else critical)")
    p.add_argument("--ignore", action="append", default=[], metavar="PACKAGE",
                   help="leave out this package (a name or a pattern such as 'nvidia-*'; "
                        "repeatable; adds to [tool.envsnap] ignore-packages)")
    p.add_argument("--ignore-env", action="append", default=[], metavar="PATTERN",
                   help="leave out environment variables matching PATTERN ('CI_*'; repeatable)")


def settings(args: argparse.Namespace) -> config.Config:
    """[tool.envsnap] from the nearest pyproject.toml, with the command line's flags over it."""
    return config.load().with_flags(
        fail_on=args.fail_on, ignore_packages=args.ignore, ignore_env=args.ignore_env,
        ignore_extras=getattr(args, "ignore_extras", False))


class Gated(Protocol):
    def failed(self, threshold: str) -> bool: ...


def exit_code(result: Gated, cfg: config.Config) -> int:
    """The exit code of a report: 1 when something reached the threshold, else 0."""
    return 1 if result.failed(cfg.threshold) else 0


def announce_ignored(console: Any, args: argparse.Namespace, cfg: config.Config,
                     ignored: Mapping[str, int]) -> None:
    """Every run that applies an ignore list says so on stderr: the patterns, where they came
    from and how many changes they hid (also in JSON: `ignore`, `ignored`)."""
    if not cfg.ignore:
        return
    what = [f"packages {', '.join(cfg.ignore.packages)}"] if cfg.ignore.packages else []
    what += [f"environment variables {', '.join(cfg.ignore.env)}"] if cfg.ignore.env else []
    flags = bool(args.ignore or args.ignore_env)
    filed = cfg.source is not None and (
        len(cfg.ignore.packages) > len(args.ignore) or len(cfg.ignore.env) > len(args.ignore_env))
    where = " and ".join([*([f"[tool.envsnap] in {cfg.source}"] if filed else []),
                          *(["--ignore"] if flags else [])])
    hidden = sum(n for key, n in ignored.items() if key in IGNORED_LISTS)
    console.info(f"ignoring {'; '.join(what)} ({where}): {hidden} "
                 f"{'change' if hidden == 1 else 'changes'} hidden")


# ---------------------------------------------------------------------------------------------
# A fleet: 'envsnap fleet report', and 'envsnap diff --baseline' (the same report)

MAX_JOBS = 8


def default_jobs() -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        usable = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, usable))


def fleet_report(args: argparse.Namespace, console: Any, cfg: config.Config) -> int:
    """Compare, render, and the exit code."""
    jobs = getattr(args, "jobs", None) or default_jobs()
    if console.err_is_tty:
        console.info(f"reading the snapshots in {jobs} process(es) ...")
    result = fleet(args.snapshots, baseline=args.baseline, ignore=cfg.ignore, jobs=jobs)
    console.report(render_fleet(result, args.format, color=console.color))
    return exit_code(result, cfg)


def fleet(names: list[str], *, baseline: str | None, ignore: config.Ignore,
          jobs: int) -> FleetReport:
    """Read the nodes (and the baseline) and compare them. A node may be read more than once
    (see fleet.against_majority): its warning (an edited snapshot) is shown once."""
    one_stdin([*names, *([baseline] if baseline else [])])
    files = expand(names)
    memo: PackageMemo = {}  # this process's; forked workers start with it

    def load(name: str) -> Snapshot:
        return read(name, memo)

    def read_nodes(nodes: Sequence[str], compare: Comparison
                   ) -> Iterator[tuple[str, tuple[Change, ...]]]:
        return map_snapshots(nodes, compare, jobs=jobs, read=read, memo=memo)

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        if baseline is not None:
            golden = Path(baseline).resolve() if baseline != "-" else None
            reference = load(baseline)
            # A directory may hold the golden snapshot too; comparing it with itself is noise.
            nodes = [f for f in files if f == "-" or Path(f).resolve() != golden]
            if not nodes:
                raise BadInputError("no snapshot to compare with the baseline besides itself")
            result = against_baseline(baseline, reference, nodes, read_nodes, ignore=ignore)
        else:
            if "-" in files:
                raise BadInputError("standard input ('-') needs --baseline: finding the majority "
                                    "may read a node twice")
            result = against_majority(files, load, read_nodes, ignore=ignore)
    for warning in {str(w.message): w.message for w in said}.values():
        warnings.warn(warning, stacklevel=2)
    return result
