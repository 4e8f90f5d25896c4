"""'envsnap why': every path by which a package is in a snapshot."""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from packaging.utils import canonicalize_name

from ..deptree import MAX_PATHS, render_why, why, why_data
from ..errors import BadInputError
from ..graph import Graph
from ._args import count
from ._input import read

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


def register(sub: Any) -> None:
    p = sub.add_parser("why", help="every path by which a package is installed",
                       description=WHY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("package", metavar="PACKAGE", help="a package name (any spelling: _ . - and "
                   "case are normalised as pip does)")
    p.add_argument("--limit", type=count(1, 10_000), default=MAX_PATHS, metavar="N",
                   help=f"show at most N paths (default {MAX_PATHS})")
    p.add_argument("--json", action="store_true", help="the paths as JSON")
    p.set_defaults(handler=run_why)


def run_why(args: argparse.Namespace, console: Any) -> int:
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
