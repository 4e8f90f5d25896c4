"""'envsnap show': a snapshot in one screen, or its packages and their tree."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..deptree import (
    MAX_DEPTH,
    MAX_LINES,
    package_rows,
    render_packages,
    render_tree,
    tree,
    tree_data,
)
from ..graph import Graph
from ..summary import summarize, summary_data
from ._args import count
from ._input import read

SHOW_HELP = """\
A one-screen summary of a snapshot: Python and package counts, OS, driver and GPUs, CUDA
libraries, framework builds, and any probe that failed.

examples:
  envsnap show envsnap.toml
  envsnap show envsnap.toml --json | jq .gpus
  envsnap show envsnap.toml --packages          every package, as pip list shows them
  envsnap show envsnap.toml --tree              the dependency tree, as pipdeptree shows it
  envsnap why envsnap.toml idna                 why a package is there
"""


def register(sub: Any) -> None:
    s = sub.add_parser(
        "show",
        help="one-screen summary of a snapshot",
        description=SHOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("snapshot", metavar="FILE", help="snapshot file ('-' for stdin)")
    s.add_argument("--json", action="store_true", help="machine-readable summary")
    add_show_options(s)
    s.set_defaults(handler=run_show)


def add_show_options(s: argparse.ArgumentParser) -> None:
    """`envsnap show`'s views of the packages."""
    view = s.add_mutually_exclusive_group()
    view.add_argument("--packages", action="store_true",
                      help="list every Python package: version, requested, source")
    view.add_argument("--tree", action="store_true",
                      help="the dependency tree, as pipdeptree prints it (--json: its "
                           "--json-tree shape)")
    s.add_argument("--depth", type=count(1, MAX_DEPTH), default=MAX_DEPTH, metavar="N",
                   help=f"--tree: at most N levels below the top (default and most {MAX_DEPTH})")
    s.add_argument("--limit", type=count(1, 1_000_000), default=MAX_LINES, metavar="N",
                   help=f"--tree: at most N lines (default {MAX_LINES:,})")


def show_inside(args: argparse.Namespace, console: Any, snapshot: Any) -> int | None:
    """`show --packages` / `--tree`; None when neither was asked for. These views redact each
    value on its own (deptree._v), so they are printed as they are: the whole-text pass of
    console.report would read "oauthlib==1.0" as an assignment to a secret name."""
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


def run_show(args: argparse.Namespace, console: Any) -> int:
    snapshot = read(args.snapshot)
    inside = show_inside(args, console, snapshot)
    if inside is not None:
        return inside
    if args.json:
        console.report(json.dumps(summary_data(snapshot), indent=2))
    else:
        console.report(summarize(snapshot))
    return 0
