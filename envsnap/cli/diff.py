"""'envsnap diff': what changed between snapshots, most dangerous first; fleet drift."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import config
from ..config import FAIL_ON
from ..drift import diff
from ..errors import BadInputError
from ..io import load
from ..report import FORMATS, render_diff
from ..wording import IGNORED_LISTS

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


FAIL_ON_HELP = "exit 1 when anything is at LEVEL or worse"


def add_output_options(p: argparse.ArgumentParser, *, fail_on_help: str = FAIL_ON_HELP) -> None:
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format (default: text; json has a versioned schema)")
    p.add_argument("--fail-on", choices=FAIL_ON, default=None, metavar="LEVEL",
                   help=f"{fail_on_help} ({', '.join(FAIL_ON)}; "
                        "default: [tool.envsnap] fail-on, else critical)")
    p.add_argument("--ignore", action="append", default=[], metavar="PACKAGE",
                   help="leave out this package (a name or a pattern such as 'nvidia-*'; "
                        "repeatable; adds to [tool.envsnap] ignore-packages)")
    p.add_argument("--ignore-env", action="append", default=[], metavar="PATTERN",
                   help="leave out environment variables matching PATTERN ('CI_*'; repeatable)")


def settings(args: argparse.Namespace) -> config.Config:
    """[tool.envsnap] from the nearest pyproject.toml, with the command line's flags over it."""
    return config.load().with_flags(
        fail_on=args.fail_on, ignore_packages=args.ignore, ignore_env=args.ignore_env,
        ignore_extras=getattr(args, "ignore_extras", False))


def announce_ignored(console: Any, args: argparse.Namespace, cfg: config.Config,
                     ignored: Mapping[str, int]) -> None:
    """Every run that applies an ignore list says so on stderr: the patterns, where they came
    from and how many changes they hid (also in JSON: `ignore`, `ignored`)."""
    if not cfg.ignore:
        return
    what = [f"packages {', '.join(cfg.ignore.packages)}"] if cfg.ignore.packages else []
    what += [f"environment variables {', '.join(cfg.ignore.env)}"] if cfg.ignore.env else []
    flags = bool(args.ignore or args.ignore_env)
    filed = cfg.source is not None and (
        len(cfg.ignore.packages) > len(args.ignore) or len(cfg.ignore.env) > len(args.ignore_env))
    where = " and ".join([*([f"[tool.envsnap] in {cfg.source}"] if filed else []),
                          *(["--ignore"] if flags else [])])
    hidden = sum(n for key, n in ignored.items() if key in IGNORED_LISTS)
    console.info(f"ignoring {'; '.join(what)} ({where}): {hidden} "
                 f"{'change' if hidden == 1 else 'changes'} hidden")


def one_stdin(paths: list[str]) -> None:
    """Standard input can be read once: refuse a second '-' before reading the first."""
    if sum(1 for p in paths if p == "-") > 1:
        raise BadInputError("standard input ('-') can be read only once: give the other "
                            "snapshots as files")


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


def expand(paths: list[str]) -> list[Path]:
    """Files as given; directories become their *.toml and *.json files, sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if raw != "-" and p.is_dir():
            found = sorted(x for x in p.iterdir()
                           if x.suffix in (".toml", ".json") and x.is_file())
            if not found:
                raise BadInputError(f"{p}: directory holds no *.toml or *.json snapshots")
            out.extend(found)
        else:
            out.append(p)
    return out


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
    result = diff(load(a_path), load(b_path), ignore=cfg.ignore)
    announce_ignored(console, args, cfg, result.ignored)
    console.report(render_diff(result, args.format, a=a_path, b=b_path, color=console.color,
                               verbose=getattr(args, "verbose", False)))
    return 1 if result.failed(cfg.threshold) else 0


def _run_fleet(args: argparse.Namespace, console: Any, cfg: config.Config) -> int:
    """'diff --baseline GOLDEN NODES' is 'fleet report --baseline GOLDEN NODES', kept for the
    scripts that use it: one implementation."""
    from .fleet_report import report

    if not args.snapshots:
        raise BadInputError("--baseline needs at least one SNAPSHOT file or directory to compare")
    return report(args, console, cfg)
