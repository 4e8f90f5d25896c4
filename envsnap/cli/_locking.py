"""What lock, build-image and restore share: index options, consents, settings, progress."""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config
from ..errors import BadInputError
from ..lock import BuildRefused, LockPlan, builds_needed, describe_build
from ..lock.settings import IndexSettings, portable_index, user_settings, with_flags
from ..progress import Reporter, reporter


def add_index_options(p: Any) -> None:
    """--index-url / --extra-index-url / --find-links and the two consents a snapshot cannot
    give itself, --use-snapshot-indexes and --allow-build (shared with restore and
    build-image)."""
    p.add_argument("--index-url", metavar="URL",
                   help="the index to lock from and name in the lockfiles (replaces the "
                        "configured one; credentials are used, never written)")
    p.add_argument("--extra-index-url", action="append", default=[], metavar="URL",
                   help="an extra index, named in the lockfiles too (repeatable)")
    p.add_argument("--find-links", action="append", default=[], metavar="PATH_OR_URL",
                   help="a folder or page of wheels to look in (repeatable; never written)")
    p.add_argument("--use-snapshot-indexes", action="store_true",
                   help="also ask the indexes the snapshot records, after your own (plain "
                        "http ones need your trusted-host); by default they are only shown")
    p.add_argument("--allow-build", action="store_true",
                   help="build the VCS / URL-archive / local-folder sources the snapshot names "
                        "on this machine, which runs their code (also: allow-build = true in "
                        "[tool.envsnap])")


def index_plan_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flagged indexes as lockfiles write them (no credentials); exit 2 for a local path
    or a URL with a secret in its query."""
    return {
        "index_url": portable_index(args.index_url, "--index-url") if args.index_url else None,
        "extra_index_urls": [portable_index(u, "--extra-index-url")
                             for u in args.extra_index_url],
        "use_snapshot_indexes": bool(getattr(args, "use_snapshot_indexes", False)),
    }


def build_consent(args: argparse.Namespace, pins: LockPlan, console: Any, *,
                  wheelhouse: Path | None, image: bool = False) -> bool:
    """Whether this run may build the sources the snapshot names: --allow-build, or
    ``allow-build = true`` in [tool.envsnap] (read only when something would be built).
    Without consent every such source is listed on stderr (name, kind, where) and
    BuildRefused ends the run (exit 2) before anything was fetched, built or installed.
    ``image`` without a wheelhouse: build-image installs published wheels only."""
    needed = builds_needed(pins, wheelhouse)
    if not needed:
        return bool(args.allow_build)
    allowed = bool(args.allow_build)
    if not allowed:
        found = config.load()
        if found.allow_build:
            console.info(f"allow-build = true in {found.source}: building the sources the "
                         "snapshot names on this machine")
            allowed = True
    if not allowed:
        for pin in needed:
            console.warn(f"would build {describe_build(pin)}")
        raise BuildRefused(needed)
    if image and wheelhouse is None:
        raise BadInputError(
            f"{len(needed)} package(s) must be built from source ({', '.join(p.name for p in needed)}): "
            "build-image builds them on this machine into --wheelhouse DIR, whose wheels the "
            "build context carries; without one the image installs published wheels only")
    return True


def settings_factory(args: argparse.Namespace) -> Callable[[], IndexSettings]:
    """The user's configuration with the flags over it. Reading it runs pip (a third of a
    second): it starts now on a thread, while the snapshot is loaded and planned, and the
    network code imports; the first caller waits for it."""
    result: list[IndexSettings] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            result.append(with_flags(user_settings(), index_url=args.index_url,
                                     extra_index_urls=args.extra_index_url,
                                     find_links=args.find_links))
            import requests  # noqa: F401 - imported here, off the critical path
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    worker = None
    if not getattr(args, "offline", False):
        worker = threading.Thread(target=read, name="envsnap-settings", daemon=True)
        worker.start()

    def get() -> IndexSettings:
        if worker is not None:
            worker.join()
        elif not result and not errors:
            read()
        if errors:
            raise errors[0]
        return result[0]

    return get


def stderr_reporter(console: Any) -> Reporter:
    """Bars on a terminal, plain ``envsnap: ...`` lines otherwise."""
    color = not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return reporter(console.err, tty=bool(console.err_is_tty), color=color, write=console.info)
