"""'envsnap lock': a snapshot's exact pins -> hashed requirements.txt, pylock.toml, conda locks."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BadInputError
from ..io import check_replaceable, write_files_atomic
from ..lock import (
    FORMATS,
    build_reason,
    lacking,
    lock,
    plan,
    render,
    wheel_dir_for,
)
from ..lock.index import source
from ..lock.safety import SAFE_URL
from ..lock.settings import IndexSettings
from ..progress import Bars
from ._args import add_force, comma_list
from ._input import read
from ._locking import (
    add_index_options,
    build_consent,
    index_plan_args,
    settings_factory,
    stderr_reporter,
)

LOCK_HELP = """\
Write lockfiles that reinstall exactly the snapshot's packages. The versions come from the
snapshot and are hashed, never re-resolved (resolving again can pick other versions).

outputs (in -o DIR):
  requirements.txt     pip-tools format, --hash=sha256 lines:
                       pip install --require-hashes --no-deps -r requirements.txt
  pylock.toml          PEP 751, validated with packaging's pylock model
  conda-lock.yml       conda-lock v1 from the snapshot's conda records (no solver), plus
  conda-PLATFORM.lock  @EXPLICIT files: conda create -n ENV --file conda-linux-64.lock
A file there that envsnap did not write (a hand-written requirements.txt) is never replaced:
exit 2 naming it, before any network use; --force replaces it.

hashes come from:
  (default)            the index's Simple API (PEP 691 JSON, PEP 503 HTML): the file pip
                       would install for the snapshot's Python/platform and its sha256,
                       read concurrently, without downloading wheels or resolving
  --wheelhouse DIR     every wheel downloaded (or, with --allow-build, built from the
                       editable/local/VCS sources) into DIR and hashed there: install and
                       build images with no network

indexes: only where the user's pip (or uv) is configured to go: mirror, extra indexes,
find-links, cert, client cert, proxy (HTTP(S)_PROXY/NO_PROXY as pip applies them), trusted
hosts, netrc/keyring credentials; PyPI when nothing names an index, plus the PyTorch
index for +cuXYZ/+cpu builds then. --index-url/--extra-index-url/--find-links replace the
configured values. Every host is named on stderr before the first request. Lockfiles name
PyPI (plus a local label's index) or the indexes named by flag, without credentials; never
a configured mirror or find-links path. Through a mirror, pylock.toml (which needs each
file's URL) needs --index-url or --wheelhouse. An index that does not answer fails the
lock in under a minute (exit 1).

a snapshot is someone else's data: the indexes it records are shown, never asked, unless
--use-snapshot-indexes (then after yours; plain http needs your trusted-host for it), and
the sources it names (VCS, URL archive, local folder) are built on this machine, which runs
their code, only with --allow-build (or allow-build = true in [tool.envsnap]). Without it,
a run that would build them lists each one and exits 2 before anything ran.

examples:
  envsnap lock train.toml                        requirements.txt + pylock.toml in envsnap-lock/
  envsnap lock train.toml -o lock/ --wheelhouse lock/wheels
  envsnap lock train.toml -o lock/ --wheelhouse wheels/   pylock paths: ../wheels/...
  envsnap lock train.toml --index-url https://mirror.example/simple
  envsnap lock train.toml --format conda -o lock/
  envsnap lock train.toml -o lock/ --wheelhouse lock/wheels --allow-build   builds git/local
  pip install --no-index --find-links lock/wheels --require-hashes --no-deps \\
      -r lock/requirements.txt

Packages with a local version label (torch 2.3.1+cu121) are fetched from the index that
serves them (download.pytorch.org/whl/cu121) unless an index is configured. Packages that
cannot be hashed are listed on stderr and at the end of each lockfile, never dropped
silently; pip, setuptools and wheel missing everywhere are a warning only (a new venv
brings its own). exit: 0 every file whole, 1 a file lacks a package (each named, with
why) or an index did not answer, 2 bad input or a build without --allow-build (said
before any network use).
"""


_formats = comma_list(FORMATS, "format", all_word="all")
# Its own folder by default: a project's hand-written requirements.txt is never in the way.
DEFAULT_OUTPUT = "envsnap-lock"
_FIRST_FILE = {"requirements": "requirements.txt", "pylock": "pylock.toml",
               "conda": "conda-lock.yml"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lock",
        help="hashed lockfiles (requirements.txt, pylock.toml, conda-lock.yml) from a snapshot",
        description=LOCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="DIR",
                   help=f"folder for the lockfiles (default: {DEFAULT_OUTPUT}/)")
    p.add_argument("--format", type=_formats, default=FORMATS, metavar="FORMATS",
                   help=f"comma-separated: {', '.join(FORMATS)} or all (default: all that apply)")
    p.add_argument("--wheelhouse", type=Path, metavar="DIR",
                   help="download every wheel into DIR (and, with --allow-build, build the "
                        "snapshot's git/local sources there) and hash those (air-gapped mode)")
    p.add_argument("--offline", action="store_true",
                   help="with --wheelhouse: use only the wheels already there, no network")
    add_index_options(p)
    add_force(p)
    p.set_defaults(handler=run)


def command_line(argv: Sequence[str]) -> str:
    """The command for lockfile headers, with paths reduced to their last part (``lock/`` ->
    ``lock``): the capturing machine's directory layout is never written."""
    out: list[str] = []
    for arg in argv:
        if SAFE_URL.fullmatch(arg):  # an index named by flag, already without credentials
            out.append(arg)
            continue
        arg = arg.rstrip("/") or arg
        if os.path.isabs(arg) or "/" in arg:
            arg = Path(arg).name or arg
        out.append(arg if arg and all(c.isalnum() or c in "-_.,=:+" for c in arg) else "ARG")
    return " ".join(out)


def run(args: argparse.Namespace, console: Any) -> int:
    snapshot = read(args.snapshot)
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
    if args.offline and args.wheelhouse is None:
        raise BadInputError("--offline needs --wheelhouse DIR holding every wheel")
    for fmt in args.format:  # a file envsnap did not write is said before any network use
        check_replaceable(out / _FIRST_FILE[fmt], force=args.force)
    flagged = index_plan_args(args)
    pins = plan(snapshot, **flagged)  # refuses hostile input (exit 2) before anything else
    allow_build = (build_consent(args, pins, console, wheelhouse=args.wheelhouse)
                   if args.wheelhouse is not None else False)
    formats = list(args.format)
    settings = settings_factory(args)
    if args.wheelhouse is None and any(p.kind == "index" for p in pins.pins):
        formats = _pylock_through_mirror(pins.index_url, settings(), formats,
                                         explicit=args.format != FORMATS, console=console)
    said: set[str] = set()
    if args.wheelhouse is None:
        for pin in pins.pins:  # known without the network: nothing is built without a wheelhouse
            if pin.kind == "build":
                console.warn(f"not locked: {pin.name}=={pin.version}: {build_reason(pin)}")
                said.add(pin.name)
    argv = ["envsnap", "lock", args.snapshot, "-o", args.output]
    if args.format != FORMATS:
        argv += ["--format", ",".join(args.format)]
    if args.wheelhouse:
        argv += ["--wheelhouse", str(args.wheelhouse)]
    if args.offline:
        argv.append("--offline")
    if flagged["index_url"]:
        argv += ["--index-url", flagged["index_url"]]
    for url in flagged["extra_index_urls"]:
        argv += ["--extra-index-url", url]
    if flagged["use_snapshot_indexes"]:
        argv.append("--use-snapshot-indexes")
    command = command_line(argv)
    progress = stderr_reporter(console)
    with progress if isinstance(progress, Bars) else contextlib.nullcontext():
        hashed = lock(pins, wheelhouse=args.wheelhouse, offline=args.offline,
                      progress=progress, settings=settings, allow_build=allow_build)
    wheel_dir = wheel_dir_for(out, args.wheelhouse)
    files = render(snapshot, hashed, formats, command=command, wheel_dir=wheel_dir)
    if args.wheelhouse and wheel_dir is None and "pylock.toml" in files:
        console.warn("pylock.toml refers to wheels/FILE: keep the wheelhouse in a 'wheels' "
                     "folder beside it (or use --wheelhouse inside -o DIR)")
    # Everything is rendered before anything is written, and the files land as a set.
    write_files_atomic(out, files, force=args.force)
    for item in hashed.unlockable:
        if item.name not in said:
            console.warn(f"not locked: {item.name}=={item.version}: {item.reason}")
    for item in hashed.tools_missing:
        console.warn(f"installer package not locked: {item.name}=={item.version}: "
                     f"{item.reason} (a new venv brings its own: not a failure)")
    via: dict[str, list[str]] = {}
    for locked in hashed.pins:
        if locked.via:
            via.setdefault(locked.via, []).append(locked.name)
    for where, names in via.items():
        console.info(f"{len(names)} package(s) hashed from {where}, not from an index the "
                     f"lockfiles name: {', '.join(names)}")
    gaps = lacking(snapshot, hashed, files)
    console.info(f"locked {len(hashed.pins)} package(s) -> {', '.join(sorted(files))} in {out}")
    for name, missing in gaps.items():
        # Whole or exit 1: a file that lacks a package says which, and why (pylock.toml also
        # lacks what only requirements.txt can hold: files found without a URL to write).
        console.warn(f"{name} lacks {len(missing)} package(s): " + "; ".join(missing))
    return 1 if gaps else 0


def _pylock_through_mirror(written: str, settings: IndexSettings, formats: list[str], *,
                           explicit: bool, console: Any) -> list[str]:
    """pylock.toml holds each wheel's URL; through a configured mirror, or with find-links as
    the only source, the URL on the index the lock names is unknown (and the mirror's or the
    folder's is never written). Known before any network call: an explicit --format pylock
    exits 2, the default leaves pylock.toml out."""
    if "pylock" not in formats:
        return formats
    if settings.no_index:
        if not settings.find_links:
            return formats
        what = f"find-links locations only ({settings.origin}), whose paths are never written"
    elif settings.index_url and source(settings.index_url, "index").url != written:
        what = f"a mirror ({settings.origin}) whose URLs are never written"
    else:
        return formats
    why = (f"pylock.toml needs each wheel's URL on {written}, and this machine reaches packages "
           f"through {what}: pass --index-url MIRROR to name it in the lockfiles, or "
           "--wheelhouse DIR")
    if explicit:
        raise BadInputError(why)
    console.warn(f"{why}; writing requirements.txt only")
    return [f for f in formats if f != "pylock"]
