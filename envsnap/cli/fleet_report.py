"""'envsnap fleet report': a directory of node snapshots, grouped by how each node drifted."""

from __future__ import annotations

import argparse
from typing import Any

from ._report import MAX_JOBS, add_output_options, fleet_report, settings

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


def run(args: argparse.Namespace, console: Any) -> int:
    return fleet_report(args, console, settings(args))  # a bad configuration fails first
