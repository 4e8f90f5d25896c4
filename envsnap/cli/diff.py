"""'envsnap diff': what changed between snapshots, most dangerous first; fleet drift."""

from __future__ import annotations

import argparse
from typing import Any

from .. import config
from ..drift import diff
from ..errors import BadInputError
from ..io import collector_paused
from ..pool import load_all
from ..report import render_diff
from ._input import keep, one_stdin, read
from ._report import add_output_options, announce_ignored, exit_code, fleet_report, settings

DIFF_HELP = """\
Compare two snapshots (A: where it worked, B: where it does not) over every section: Python and
its packages (PEP 440 aware: upgrade, downgrade, variant for +cu121 -> +cu124, source for
editable -> index), conda, OS and glibc, CPU features, NVIDIA driver and GPUs, CUDA libraries,
framework builds, environment variables. Each change gets a severity (critical, major, minor,
info) and a sentence saying why it matters and what to do; the same change gets the same
severity from 'envsnap check'. Two or more removed packages nothing required are one line
("3 top-level packages removed: black, pytest-xdist, ruff"); more than 20 changes of one cause
are one line (-v lists each). The output ends with one command that brings B's Python
environment to A's (JSON: "remedy", and a "fix" per change where one exists).

With --baseline, compare many snapshots (files or directories of *.toml / *.json) against one
golden snapshot, nodes grouped by identical drift: the same as 'envsnap fleet report --baseline'
(see 'envsnap fleet report --help', which can also take the majority as the reference).

examples:
  envsnap diff good.toml bad.toml
  envsnap diff good.toml bad.toml --format markdown > comment.md     (a PR comment)
  envsnap diff good.toml bad.toml --format json | jq '.changes[] | select(.severity=="critical")'
  envsnap diff good.toml bad.toml --fail-on major                     (CI gate)
  envsnap diff good.toml bad.toml -v                (every change of a collapsed group)
  envsnap diff --baseline golden.toml nodes/                          (fleet drift)
  envsnap diff --baseline golden.toml node-*.toml --format json

A SNAPSHOT of '-' is read from standard input (one of them at most).

CI configuration: a [tool.envsnap] table in the nearest pyproject.toml (from the current
directory upward) sets fail-on, ignore-packages and ignore-env; --fail-on replaces the
configured threshold, --ignore/--ignore-env add to the configured lists.

exit codes: 0 nothing reached --fail-on, 1 something did, 2 bad input (unreadable, truncated or
malformed snapshot, invalid configuration). Colour is used only on a terminal and never when
NO_COLOR is set.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two snapshots, and which change matters",
        description=DIFF_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshots", nargs="*", metavar="SNAPSHOT",
                   help="A and B ('-' for stdin); with --baseline, any number of snapshot files "
                        "or directories")
    p.add_argument("--baseline", metavar="GOLDEN",
                   help="compare every SNAPSHOT against this one ('-' for stdin) and group the "
                        "drift")
    # SUPPRESS: not given here, the top-level -v (tracebacks) still decides.
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="list each change of a collapsed group (more than 20 of one cause)")
    add_output_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Any) -> int:
    cfg = settings(args)  # a bad configuration fails before anything is read
    if args.baseline:
        return _run_fleet(args, console, cfg)
    if len(args.snapshots) != 2:
        raise BadInputError(
            f"diff needs exactly two snapshots (A B), got {len(args.snapshots)}; "
            "use --baseline GOLDEN to compare many")
    one_stdin(args.snapshots)
    a_path, b_path = args.snapshots
    a, b = load_all([a_path, b_path], read=read)
    keep()
    # The comparison builds two dependency graphs and their tables: as reading does (see
    # io.collector_paused), nothing a collection could free while it runs.
    with collector_paused():
        result = diff(a, b, ignore=cfg.ignore)
    announce_ignored(console, args, cfg, result.ignored)
    console.report(render_diff(result, args.format, a=a_path, b=b_path, color=console.color,
                               verbose=getattr(args, "verbose", False)))
    return exit_code(result, cfg)


def _run_fleet(args: argparse.Namespace, console: Any, cfg: config.Config) -> int:
    """'diff --baseline GOLDEN NODES' is 'fleet report --baseline GOLDEN NODES', kept for the
    scripts that use it: one implementation."""
    if not args.snapshots:
        raise BadInputError("--baseline needs at least one SNAPSHOT file or directory to compare")
    return fleet_report(args, console, cfg)
