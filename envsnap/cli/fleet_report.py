"""'envsnap fleet report': a directory of node snapshots, grouped by how each node drifted."""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import config
from ..drift import Change
from ..errors import BadInputError
from ..fleet import Comparison, FleetReport, against_baseline, against_majority
from ..io import PARALLEL_FROM, load, map_snapshots, worker_context
from ..report import render_fleet
from .diff import add_output_options, expand, one_stdin, settings

REPORT_HELP = """\
Which nodes of a cluster will break a multi-node job, and why. Each node's snapshot is compared
with one reference: GOLDEN with --baseline, otherwise the fleet's most common configuration.
Nodes that differ in exactly the same way are grouped ("3 nodes: NCCL 2.21.5 instead of
2.28.3"), and differences that break a job across nodes rank first: NCCL version or source,
NCCL_* settings, framework version or CUDA build, driver branch, GPU model or count, Python
minor. Everything else is ranked as 'envsnap diff' ranks it.

examples:
  envsnap fleet report snaps/                               the majority is the reference
  envsnap fleet report snaps/ --baseline golden.toml --fail-on major    a pre-job gate
  envsnap fleet report snaps/ --format markdown > fleet.md
  envsnap fleet report snaps/ --format json | jq '.groups[] | {worst, nodes}'

SNAPSHOT: files, or directories of *.toml / *.json (as 'envsnap fleet capture' and
'envsnap capture -o snaps/{hostname}.toml' write them); '-' reads one from standard input. A
GOLDEN file inside a given directory is not compared with itself.

Snapshots are read in --jobs worker processes (default: the CPUs this process may use, at most
8); memory grows with the number of distinct drifts, not with the number of nodes.

exit codes: 0 nothing reached --fail-on, 1 some node did, 2 bad input (an unreadable or
malformed snapshot, named).
"""

MAX_JOBS = 8


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="which nodes differ from the majority (or a baseline)",
                       description=REPORT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshots", nargs="+", metavar="SNAPSHOT",
                   help="node snapshots: files or directories ('-' for stdin)")
    p.add_argument("--baseline", metavar="GOLDEN",
                   help="compare every node with this snapshot instead of the majority")
    add_output_options(p)
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help=f"worker processes reading snapshots (default: CPUs, at most {MAX_JOBS})")
    p.set_defaults(handler=run)


def _jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got {value!r}") from None
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError("expected 1 to 256 processes")
    return n


def default_jobs() -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        usable = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, usable))


def run(args: argparse.Namespace, console: Any) -> int:
    return report(args, console, settings(args))  # a bad configuration fails before reading


def report(args: argparse.Namespace, console: Any, cfg: config.Config) -> int:
    """Compare, render, and the exit code; 'diff --baseline' (which has no --jobs) too."""
    jobs = getattr(args, "jobs", None) or default_jobs()
    if console.err_is_tty:
        console.info(f"reading the snapshots in {jobs} process(es) ...")
    result = fleet(args.snapshots, baseline=args.baseline, ignore=cfg.ignore, jobs=jobs)
    console.report(render_fleet(result, args.format, color=console.color))
    return 1 if result.failed(cfg.threshold) else 0


def fleet(paths: list[str], *, baseline: str | None, ignore: config.Ignore,
          jobs: int) -> FleetReport:
    """Read the nodes (and the baseline) and compare them; 'envsnap diff --baseline' too.
    A node may be read more than once (the majority's sample, a second pass): its warning
    (an edited snapshot) is shown once."""
    one_stdin([*paths, *([baseline] if baseline else [])])
    files = expand(paths)
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        worker_context(Comparison.__module__)  # the workers' server starts while we read

    def read(nodes: Sequence[str], compare: Comparison) -> Iterator[tuple[str, tuple[Change, ...]]]:
        return map_snapshots(nodes, compare, jobs=jobs)

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        if baseline is not None:
            golden = Path(baseline).resolve() if baseline != "-" else None
            reference = load(baseline)
            # A directory may hold the golden snapshot too; comparing it with itself is noise.
            nodes = [str(f) for f in files if str(f) == "-" or f.resolve() != golden]
            if not nodes:
                raise BadInputError("no snapshot to compare with the baseline besides itself")
            result = against_baseline(baseline, reference, nodes, read, ignore=ignore)
        else:
            nodes = [str(f) for f in files]
            if "-" in nodes:
                raise BadInputError("standard input ('-') needs --baseline: finding the majority "
                                    "may read a node twice")
            result = against_majority(nodes, load, read, ignore=ignore)
    for warning in {str(w.message): w.message for w in said}.values():
        warnings.warn(warning, stacklevel=2)
    return result
