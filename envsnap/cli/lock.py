"""'envsnap lock': a snapshot's exact pins -> hashed requirements.txt, pylock.toml, conda locks."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BadInputError
from ..io import load, write_files_atomic
from ..lock import FORMATS, lock, render, wheel_dir_for
from ._args import comma_list

LOCK_HELP = """\
Write lockfiles that reinstall exactly the snapshot's packages. The versions come from the
snapshot and are hashed, never re-resolved (resolving again can pick other versions).

outputs (in -o DIR):
  requirements.txt     pip-tools format, --hash=sha256 lines:
                       pip install --require-hashes --no-deps -r requirements.txt
  pylock.toml          PEP 751, validated with packaging's pylock model
  conda-lock.yml       conda-lock v1 from the snapshot's conda records (no solver), plus
  conda-PLATFORM.lock  @EXPLICIT files: conda create -n ENV --file conda-linux-64.lock

hashes come from:
  (default)            the index, through pip's --report JSON: the file pip would install
                       for the snapshot's Python/platform, without downloading it
  --wheelhouse DIR     every wheel downloaded (or built, for editable/local/VCS installs)
                       into DIR and hashed there: install and build images with no network

examples:
  envsnap lock train.toml                        requirements.txt + pylock.toml in .
  envsnap lock train.toml -o lock/ --wheelhouse lock/wheels
  envsnap lock train.toml --format conda -o lock/
  pip install --no-index --find-links lock/wheels --require-hashes --no-deps \\
      -r lock/requirements.txt

Packages with a local version label (torch 2.3.1+cu121) are fetched from the index that
serves them (download.pytorch.org/whl/cu121). Packages that cannot be hashed are listed on
stderr and at the end of each lockfile, never dropped silently. exit: 0 ok, 1 something
could not be locked, 2 bad input.
"""


_formats = comma_list(FORMATS, "format", all_word="all")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lock",
        help="hashed lockfiles (requirements.txt, pylock.toml, conda-lock.yml) from a snapshot",
        description=LOCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("-o", "--output", default=".", metavar="DIR",
                   help="folder for the lockfiles (default: .)")
    p.add_argument("--format", type=_formats, default=FORMATS, metavar="FORMATS",
                   help=f"comma-separated: {', '.join(FORMATS)} or all (default: all that apply)")
    p.add_argument("--wheelhouse", type=Path, metavar="DIR",
                   help="download/build every wheel into DIR and hash those (air-gapped mode)")
    p.add_argument("--offline", action="store_true",
                   help="with --wheelhouse: use only the wheels already there, no network")
    p.set_defaults(handler=run)


def command_line(argv: Sequence[str]) -> str:
    """The command for lockfile headers, with paths reduced to their last part: the
    capturing machine's directory layout is never written."""
    out: list[str] = []
    for arg in argv:
        if os.path.isabs(arg) or "/" in arg.rstrip("/"):
            arg = Path(arg).name or arg
        out.append(arg if arg and all(c.isalnum() or c in "-_.,=:+" for c in arg) else "ARG")
    return " ".join(out)


def run(args: argparse.Namespace, console: Any) -> int:
    snapshot = load(args.snapshot)
    if snapshot.python is None and snapshot.conda is None:
        raise BadInputError(f"{args.snapshot}: no Python or conda environment to lock")
    # Said before any network call: a format with nothing to lock in this snapshot.
    has = {"requirements": snapshot.python is not None, "pylock": snapshot.python is not None,
           "conda": snapshot.conda is not None and bool(snapshot.conda.packages)}
    if not any(has[f] for f in args.format):
        raise BadInputError(
            f"{args.snapshot}: nothing to lock for --format {','.join(args.format)} "
            f"(the snapshot has {'no conda records' if 'conda' in args.format else 'no Python environment'})")
    out = Path(args.output)
    if out.exists() and not out.is_dir():  # said before any work: -o names a folder
        raise BadInputError(f"-o {args.output}: exists and is not a directory")
    if args.wheelhouse is not None and args.wheelhouse.exists() and not args.wheelhouse.is_dir():
        raise BadInputError(f"--wheelhouse {args.wheelhouse}: not a directory")
    if args.offline and args.wheelhouse is not None and not args.wheelhouse.is_dir():
        raise BadInputError(f"--offline --wheelhouse {args.wheelhouse}: no such directory")
    argv = ["envsnap", "lock", args.snapshot, "-o", args.output]
    if args.format != FORMATS:
        argv += ["--format", ",".join(args.format)]
    if args.wheelhouse:
        argv += ["--wheelhouse", str(args.wheelhouse)]
    if args.offline:
        argv.append("--offline")
    command = command_line(argv)
    hashed = lock(snapshot, wheelhouse=args.wheelhouse, offline=args.offline,
                  progress=console.info)
    wheel_dir = wheel_dir_for(out, args.wheelhouse)
    files = render(snapshot, hashed, args.format, command=command, wheel_dir=wheel_dir)
    if args.wheelhouse and wheel_dir is None and "pylock.toml" in files:
        console.warn("pylock.toml refers to wheels/FILE: keep the wheelhouse in a 'wheels' "
                     "folder beside it (or use --wheelhouse inside -o DIR)")
    # Everything is rendered before anything is written, and the files land as a set.
    write_files_atomic(out, files)
    for item in hashed.unlockable:
        console.warn(f"not locked: {item.name}=={item.version}: {item.reason}")
    console.info(f"locked {len(hashed.pins)} package(s) -> {', '.join(sorted(files))} in {out}")
    return 1 if hashed.unlockable else 0
