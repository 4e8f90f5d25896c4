"""'envsnap check': can this machine run what a snapshot describes? (a deploy gate)"""

from __future__ import annotations

import argparse
from typing import Any

from ..capturing import capture
from ..gate import HOST_PROBES, POLICIES, check
from ..io import load
from ..report import render_check
from .diff import add_output_options

CHECK_HELP = """\
Capture this machine and evaluate it against a snapshot, before you deploy:
  - the Python environment matches it (--policy exact: every pin; --policy compatible: patch
    drift allowed for packages that are not ABI-sensitive);
  - the NVIDIA driver is at or above the minimum for the snapshot's CUDA major (minor-version
    compatibility), with a warning below the toolkit's own driver;
  - every GPU's compute capability is covered by the framework build's arch list (else "no
    kernel image is available for execution on the device");
  - glibc is at least what the installed wheels' manylinux tags need;
  - the CPU has the ISA features (AVX2, AVX-512 ...) the snapshot's machine had.
Each finding says why and how to fix it ("driver 525.60.13 or newer").

examples:
  envsnap check train.toml                              the active environment
  envsnap check train.toml --python /opt/venv/bin/python
  envsnap check train.toml --policy compatible
  envsnap check train.toml --host-only                  a host, before a container starts on it
                                                        (driver and GPUs only)
  envsnap check train.toml --format json --fail-on major

As a Kubernetes init container: run 'envsnap check /snap/train.toml --host-only'; a non-zero
exit keeps the pod from starting and the reason is in the init container's log.

exit codes: 0 nothing reached --fail-on (default: critical), 1 something did, 2 bad input.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="can this machine run what the snapshot describes? (exit 1 if not)",
        description=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="the snapshot to check against")
    p.add_argument("--policy", choices=POLICIES, default="exact",
                   help="how closely packages must match (default: exact)")
    p.add_argument("--python", metavar="PATH", help="check this interpreter's environment")
    p.add_argument("--host-only", action="store_true",
                   help="check only the driver and GPUs (no Python environment)")
    add_output_options(p)
    p.set_defaults(handler=run)




def run(args: argparse.Namespace, console: Any) -> int:
    expected = load(args.snapshot)  # bad input fails here, before any probing
    live = (capture(only=HOST_PROBES) if args.host_only
            else capture(python=args.python, skip=("project",)))
    result = check(expected, live, policy=args.policy, host_only=args.host_only)
    console.out.write(render_check(result, args.format, snapshot=args.snapshot,
                                   fail_on=args.fail_on, color=console.color))
    return 1 if args.fail_on != "never" and result.failed(args.fail_on) else 0
