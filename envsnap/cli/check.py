"""'envsnap check': can this machine run what a snapshot describes? (a deploy gate)"""

from __future__ import annotations

import argparse
from typing import Any

from ..capturing import capture
from ..gate import HOST_PROBES, POLICIES, check
from ..host import Host
from ..io import load
from ..report import render_check
from ..resources import own_distributions
from .diff import add_output_options, announce_ignored, settings

CHECK_HELP = """\
Capture this machine and evaluate it against a snapshot, before you deploy:
  - the Python environment matches it (--policy exact: every pin; --policy compatible: patch
    drift allowed for packages that are not ABI-sensitive);
  - no requirement of an installed package is broken (what pip check reports);
  - the NVIDIA driver is there and at or above the minimum for the snapshot's CUDA major
    (minor-version compatibility), with a warning below the toolkit's own driver;
  - the snapshot's GPUs are there: no GPU or fewer GPUs fail; an older architecture or less
    memory warns; every GPU's compute capability is covered by the framework build's arch
    list (else "no kernel image is available for execution on the device");
  - glibc is at least what the installed wheels' manylinux tags need;
  - the CPU has the ISA features (AVX2, AVX-512 ...) the snapshot's machine had.
Findings are listed most severe first and grouped by kind, large groups in one line
("59 packages not in the snapshot"; -v lists each). Each says why and how to fix it, with the
interpreter --python names; the output ends with one command that brings the environment to
the snapshot from a hashed lock.

examples:
  envsnap check train.toml                              the active environment
  envsnap check train.toml --python /opt/venv/bin/python
  envsnap check train.toml --policy compatible
  envsnap check train.toml --host-only                  a host, before a container starts on it
                                                        (driver and GPUs only)
  envsnap check train.toml --format json --fail-on major
  envsnap check train.toml --ignore-extras --ignore 'nvidia-*'
  curl -s $URL/train.toml | envsnap check -               the snapshot from standard input

CI configuration: [tool.envsnap] in the nearest pyproject.toml (fail-on, ignore-packages,
ignore-env, ignore-extras); flags win over it.

As a Kubernetes init container: run 'envsnap check /snap/train.toml --host-only'; a non-zero
exit keeps the pod from starting and the reason is in the init container's log.

Each finding has the severity 'envsnap diff' gives the same change. The policy decides what
fails: exact, any difference in the environment; compatible, minor or worse. Host findings
(driver, GPUs, glibc, CPU) fail at --fail-on (default: critical), which can also make the
environment's threshold stricter. The output says which thresholds applied.

exit codes: 0 the gate passed, 1 it failed, 2 bad input (an unreadable snapshot, an invalid
configuration).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="can this machine run what the snapshot describes? (exit 1 if not)",
        description=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT",
                   help="the snapshot to check against ('-' for stdin)")
    p.add_argument("--policy", choices=POLICIES, default="exact",
                   help="how closely packages must match (default: exact)")
    p.add_argument("--python", metavar="PATH", help="check this interpreter's environment")
    p.add_argument("--host-only", action="store_true",
                   help="check only the driver and GPUs (no Python environment)")
    p.add_argument("--ignore-extras", action="store_true",
                   help="leave out installed packages the snapshot does not have")
    # SUPPRESS: not given here, the top-level -v (tracebacks) still decides.
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="list every finding of a large group, each with its fix")
    add_output_options(p, fail_on_help="exit 1 when a host finding is at LEVEL or worse, or "
                                       "an environment one at the stricter of LEVEL and --policy")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Any, *, host: Host | None = None) -> int:
    """``host``: the machine to capture (tests replay recorded ones); default this one."""
    cfg = settings(args)  # a bad configuration fails before anything is read
    expected = load(args.snapshot)  # bad input fails here, before any probing
    live = (capture(only=HOST_PROBES, host=host) if args.host_only
            else capture(python=args.python, skip=("project",), host=host))
    result = check(expected, live, policy=args.policy, host_only=args.host_only,
                   python=args.python, ignore=cfg.ignore, ignore_extras=cfg.ignore_extras,
                   tool=() if args.host_only else own_distributions())
    announce_ignored(console, args, cfg, result.ignored)
    console.report(render_check(result, args.format, snapshot=args.snapshot,
                                   fail_on=cfg.threshold, color=console.color,
                                   verbose=getattr(args, "verbose", False)))
    return 1 if result.failed(cfg.threshold) else 0
