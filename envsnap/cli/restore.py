"""'envsnap restore': a snapshot -> a fresh venv installed from its hashed lock, verified."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from ..lock import plan
from ..lock.restore import INSTALLERS, restore
from ..progress import Bars
from ._input import read
from ._locking import (
    add_index_options,
    build_consent,
    index_plan_args,
    settings_factory,
    stderr_reporter,
)

HELP = """\
Recreate a snapshot's Python environment in a new virtual environment, the way `uv sync`
recreates a project's: the snapshot's interpreter (python3.X on PATH, or --python), its
exact pins hashed (as 'envsnap lock' does) and installed with --require-hashes --no-deps
by uv when it is installed, else pip; then the venv is captured again and compared with
the snapshot. Only paths (and how a package was installed: an editable comes back as the
wheel built from it) may differ; anything else is drift, listed on stdout.

examples:
  envsnap restore train.toml --venv .venv-train
  envsnap restore train.toml --venv /opt/envs/train --wheelhouse wheels/ --offline
  envsnap restore train.toml --venv v --python /usr/local/bin/python3.11 --installer pip
  envsnap restore train.toml --venv v --allow-build     also builds its git/local packages

Wheels come from --wheelhouse (downloaded there first unless --offline) or from a temporary
wheelhouse, reached only as the user's pip/uv configuration says (or --index-url); the
indexes the snapshot records are asked only with --use-snapshot-indexes. A package the
snapshot installed from a VCS, a URL archive or a local folder is built on this machine
(running its code) only with --allow-build: without it, restore lists them and exits 2
before anything ran. A failed or interrupted restore (Ctrl-C ends it within a second)
removes the venv it created, and so does drift unless --keep-on-drift.
exit: 0 restored and identical, 1 drift or a failed install, 2 bad input (the venv folder
is not empty, no interpreter flag value, hostile snapshot, a build without --allow-build),
130 interrupted.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "restore",
        help="recreate a snapshot's Python environment in a new venv and verify it",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("--venv", type=Path, required=True, metavar="DIR",
                   help="the virtual environment to create (absent or empty)")
    p.add_argument("--python", metavar="PATH",
                   help="the interpreter to use (default: the snapshot's version from PATH)")
    p.add_argument("--wheelhouse", type=Path, metavar="DIR",
                   help="download wheels into DIR (build git/local sources there with "
                        "--allow-build) and install from it")
    p.add_argument("--offline", action="store_true",
                   help="with --wheelhouse: use only the wheels already there, no network")
    p.add_argument("--installer", choices=INSTALLERS, default="auto",
                   help="auto (uv when installed, else pip), pip or uv")
    p.add_argument("--keep-on-drift", action="store_true",
                   help="keep the venv when it differs from the snapshot")
    add_index_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Any) -> int:
    snapshot = read(args.snapshot)
    pins = plan(snapshot, **index_plan_args(args))  # refuses hostile input (exit 2) first
    # Said before anything runs: the sources restore would build, unless allowed.
    allow_build = build_consent(args, pins, console, wheelhouse=args.wheelhouse)
    progress = stderr_reporter(console)
    with progress if isinstance(progress, Bars) else contextlib.nullcontext():
        result = restore(pins, args.venv, python=args.python, wheelhouse=args.wheelhouse,
                         offline=args.offline, settings=settings_factory(args),
                         installer=args.installer, keep_on_drift=args.keep_on_drift,
                         progress=progress, allow_build=allow_build)
    if not result.drift:
        console.info(f"restored {result.packages} package(s) into {result.venv} with Python "
                     f"{result.python} ({result.installer}): same as the snapshot, paths aside")
        return 0
    console.print(f"drift: {len(result.drift)} difference(s) from the snapshot")
    for d in result.drift:
        console.print(f"  {d}")
    console.warn(f"{result.venv}: " + ("kept (--keep-on-drift)" if result.kept
                                       else "removed: it is not the snapshot's environment"))
    return 1
