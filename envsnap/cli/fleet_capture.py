"""'envsnap fleet capture': one snapshot per node of a running cluster (Ray)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..cluster import NodeOutcome, summary
from ..cluster.ray import CaptureRequest, capture_cluster, import_ray
from ..errors import BadInputError
from ..probes import PROBE_NAMES
from ._args import comma_list

DEFAULT_TIMEOUT_S = 300.0

HELP = """\
Connect to a running Ray cluster and capture every alive node at once: one task per node,
pinned to that node, captures the Python environment that node's Ray workers run in (the
interpreter and environment of the 'ray start' that started the node), or --python PATH
resolved on each node. Each snapshot is written atomically to DIR/<node>.toml, named by the
node's short host name, plus the first 8 characters of its node id when host names repeat
(vm-61114709.toml). A node that fails or runs past --timeout is named with the reason; the
other nodes' snapshots are kept. The wall time is the slowest node's, not the node count's.
Use a fresh DIR per run: 'envsnap fleet report DIR' compares every snapshot in it, a node that
has left the cluster included.

examples:
  envsnap fleet capture --ray -o snaps/                 the cluster 'ray start' ran on this
                                                        machine (or RAY_ADDRESS)
  envsnap fleet capture --ray 10.0.0.1:6379 -o snaps/   the cluster whose head is there
  envsnap fleet capture --ray -o snaps/ --python /opt/venv/bin/python
  envsnap fleet capture --ray -o snaps/ --json | jq '.nodes[] | select(.ok | not)'
  envsnap fleet report snaps/                           then: which nodes drifted

what must be installed:
  here       envsnap with Ray: pip install 'envsnap[ray]' (the same Ray and Python versions
             as the cluster, as for any Ray driver)
  each node  Ray (it runs the node) and envsnap's dependencies (packaging, nvidia-ml-py) in
             the node's Python environment; envsnap itself is shipped to the nodes through
             Ray's runtime_env (py_modules) and does not appear in their snapshots
The project probe (the git repository of the current directory) is left out on nodes unless
--only names it.

exit codes: 0 every alive node captured, 1 some node failed or timed out (the others'
snapshots written), 2 bad input (Ray not installed, no cluster at ADDRESS, -o not a
directory), 130 interrupted.
"""

_probe_list = comma_list(PROBE_NAMES, "probe")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {value}")
    return seconds


def register(sub: Any) -> None:
    p = sub.add_parser("capture", help="one snapshot per alive node of a Ray cluster",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", required=True,
                   help="capture the Ray cluster at ADDRESS (HOST:PORT of the head; default: "
                        "RAY_ADDRESS, else the cluster started on this machine)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for the snapshots (created if missing)")
    p.add_argument("--python", metavar="PATH",
                   help="capture this interpreter on every node (default: the Ray workers' own)")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"give up on a node after this long (default: {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--deep", action="store_true", help="import frameworks in a child process")
    p.add_argument("--anonymize", action="store_true", help="drop host-identifying values")
    p.add_argument("--only", type=_probe_list, metavar="PROBES", help="comma-separated probes")
    p.add_argument("--skip", type=_probe_list, default=(), metavar="PROBES",
                   help="comma-separated probes to leave out")
    p.add_argument("--json", action="store_true",
                   help="per-node results as JSON on stdout (name, node_id, hostname, path, ok, "
                        "reason)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    p.set_defaults(handler=run)


def _check_dest(path: str) -> None:
    """-o must be a directory we may write, or a name to create: checked before connecting."""
    if os.path.islink(path):
        raise BadInputError(f"-o {path}: is a symbolic link; give a real directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadInputError(f"-o {path}: exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(path) and not os.path.isdir(parent):
        raise BadInputError(f"-o {path}: parent directory {parent} does not exist")


def _make_dest(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"-o {path}: cannot create ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInputError(f"-o {path}: not writable")


def run(args: argparse.Namespace, console: Any) -> int:
    dest = args.output
    _check_dest(dest)
    import_ray()  # the install hint before anything else happens
    skip = tuple(args.skip)
    if args.only is None or "project" not in args.only:
        skip += ("project",)
    request = CaptureRequest(python=args.python, only=args.only, skip=skip, deep=args.deep,
                             anonymize=args.anonymize)
    tty = bool(console.err_is_tty)
    done: list[NodeOutcome] = []
    total = [0]

    def on_start(address: str, nodes: int) -> None:
        total[0] = nodes
        if not args.quiet:
            console.info(f"capturing {nodes} alive node(s) of the Ray cluster at {address}")

    def on_outcome(outcome: NodeOutcome) -> None:
        done.append(outcome)
        if args.quiet:
            return
        took = f"{outcome.seconds:.1f}s" if outcome.seconds is not None else ""
        if outcome.ok and tty:
            console.info(f"[{len(done)}/{total[0]}] {outcome.name}: {took} -> {outcome.path}")
        elif not outcome.ok:
            console.warn(f"[{len(done)}/{total[0]}] {outcome.name} (node {outcome.node_id[:8]}, "
                         f"{outcome.hostname}): {outcome.reason}")

    outcomes = capture_cluster(args.ray or None, dest, request, timeout=args.timeout,
                               prepare_dest=lambda: _make_dest(dest),
                               on_start=on_start, on_outcome=on_outcome)
    if not outcomes:
        raise BadInputError(f"--ray {args.ray or 'auto'}: the cluster has no alive node")
    if args.json:
        console.print(json.dumps({"nodes": [o.to_dict() for o in outcomes],
                                  "captured": sum(o.ok for o in outcomes),
                                  "failed": sum(not o.ok for o in outcomes)}, indent=2))
    if not args.quiet:
        console.info(summary(outcomes, dest))
    return 0 if all(o.ok for o in outcomes) else 1
