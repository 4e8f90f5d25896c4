"""'envsnap why' and 'envsnap show --packages/--tree': what a snapshot holds, and why."""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from ..errors import BadInputError

WHY_HELP = """\
Why a package is in a snapshot: every path from a package installed on request (pip's
REQUESTED record) or at the top of the environment (nothing installed requires it) down the
recorded requirements to PACKAGE, shortest first, as `pipdeptree --reverse --packages PACKAGE`
shows them upside down.

examples:
  envsnap why train.toml idna
      requests 2.32.3 -> idna 3.7
  envsnap why train.toml nvidia-nccl-cu12 --json | jq '.paths[] | map(.name) | join(" -> ")'

At most --limit paths are shown (default 50), and a path longer than 12 packages is shown by
its ends; --json gives each path whole. Exit codes: 0 found, 2 PACKAGE is not in the snapshot
(the closest names are suggested).
"""


def _count(lo: int, hi: int) -> Any:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"expected {lo} to {hi:,}")
        return n
    return parse


def register(sub: Any) -> None:
    from ..deptree import MAX_PATHS

    p = sub.add_parser("why", help="every path by which a package is installed",
                       description=WHY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("package", metavar="PACKAGE", help="a package name (any spelling: _ . - and "
                   "case are normalised as pip does)")
    p.add_argument("--limit", type=_count(1, 10_000), default=MAX_PATHS, metavar="N",
                   help=f"show at most N paths (default {MAX_PATHS})")
    p.add_argument("--json", action="store_true", help="the paths as JSON")
    p.set_defaults(handler=run_why)


def add_show_options(s: argparse.ArgumentParser) -> None:
    """`envsnap show`'s views of the packages (registered by cli/capture.py)."""
    from ..deptree import MAX_DEPTH, MAX_LINES

    view = s.add_mutually_exclusive_group()
    view.add_argument("--packages", action="store_true",
                      help="list every Python package: version, requested, source")
    view.add_argument("--tree", action="store_true",
                      help="the dependency tree, as pipdeptree prints it (--json: its "
                           "--json-tree shape)")
    s.add_argument("--depth", type=_count(1, MAX_DEPTH), default=MAX_DEPTH, metavar="N",
                   help=f"--tree: at most N levels below the top (default and most {MAX_DEPTH})")
    s.add_argument("--limit", type=_count(1, 1_000_000), default=MAX_LINES, metavar="N",
                   help=f"--tree: at most N lines (default {MAX_LINES:,})")


def show_inside(args: argparse.Namespace, console: Any, snapshot: Any) -> int | None:
    """`show --packages` / `--tree`; None when neither was asked for. These views redact each
    value on its own (deptree._v), so they are printed as they are: the whole-text pass of
    console.report would read "oauthlib==1.0" as an assignment to a secret name."""
    from ..deptree import package_rows, render_packages, render_tree, tree, tree_data
    from ..graph import Graph

    if args.packages:
        if args.json:
            console.print(json.dumps(package_rows(snapshot.python), indent=2))
        else:
            console.print(render_packages(snapshot.python))
        return 0
    if args.tree:
        graph = Graph(snapshot.python)
        if args.json:
            console.print(json.dumps(tree_data(graph, depth=args.depth, limit=args.limit),
                                      indent=2))
        else:
            console.print(render_tree(tree(graph, depth=args.depth, limit=args.limit)))
        return 0
    return None


def run_why(args: argparse.Namespace, console: Any) -> int:
    from packaging.utils import canonicalize_name

    from ..deptree import render_why, why, why_data
    from ..graph import Graph
    from ._input import read

    snapshot = read(args.snapshot)
    graph = Graph(snapshot.python)
    name = canonicalize_name(args.package)
    if name not in graph:
        close = difflib.get_close_matches(name, list(graph.versions), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BadInputError(f"{args.package} is not installed in {args.snapshot}{hint}")
    answer = why(graph, name, limit=args.limit)
    if args.json:
        console.print(json.dumps(why_data(answer, graph), indent=2))
    else:
        console.print(render_why(answer, graph))
    return 0
