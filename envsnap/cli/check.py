"""'envsnap check': can this machine run what a snapshot describes? (a deploy gate)"""

from __future__ import annotations

import argparse
from typing import Any

from ..capturing import capture
from ..errors import BadInputError
from ..gate import POLICIES, check, host_probes
from ..host import Host
from ..report import render_check
from ..resources import own_distributions
from . import require_extras
from ._input import read
from ._report import add_output_options, announce_ignored, settings

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
  - the CPU has the ISA features (AVX2, AVX-512 ...) the snapshot's machine had;
  - each framework binds the CUDA libraries its own requirements pin (a cuDNN that
    LD_PRELOAD or LD_LIBRARY_PATH puts first is critical), from files whose version matches
    their wheel's metadata, one file per library (docs/which-copy-loads.md).
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
  envsnap check train.toml --image train:v1             an image, run with envsnap mounted
                                                        read-only (nothing installed in it)

With --image TAG the environment inside the image is captured (by the image's own
interpreter, --python, default /opt/venv/bin/python, which needs Python 3.10+; no network,
a read-only file system) and compared with the snapshot: any difference in the environment
fails (exit 1), while host-level facts (driver, GPUs, CPU, OS, the host's CUDA) and what an
image changes by design (the base image's Python patch, the shell's variables, packages
installed from the lock's wheels) are listed as expected. --policy, --fail-on and the
ignore options do not apply to it.

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
    p.add_argument("--python", metavar="PATH",
                   help="check this interpreter's environment (with --image: its path inside "
                        "the image, default /opt/venv/bin/python)")
    p.add_argument("--host-only", action="store_true",
                   help="check only the driver and GPUs (no Python environment)")
    p.add_argument("--image", metavar="TAG",
                   help="check this Docker image's environment instead of this machine's")
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
    if args.image is not None:
        return _check_image(args, console)
    expected = read(args.snapshot)  # bad input fails here, before any probing
    live = (capture(only=host_probes(), host=host) if args.host_only
            else capture(python=args.python, skip=("project",), host=host))
    result = check(expected, live, policy=args.policy, host_only=args.host_only,
                   python=args.python, ignore=cfg.ignore, ignore_extras=cfg.ignore_extras,
                   tool=() if args.host_only else own_distributions())
    announce_ignored(console, args, cfg, result.ignored)
    console.report(render_check(result, args.format, snapshot=args.snapshot,
                                   fail_on=cfg.threshold, color=console.color,
                                   verbose=getattr(args, "verbose", False)))
    return 1 if result.failed(cfg.threshold) else 0


def _check_image(args: argparse.Namespace, console: Any) -> int:
    """The image round trip of build-image --verify, for an image built before."""
    if args.host_only:
        raise BadInputError("--host-only checks this machine; it cannot go with --image")
    require_extras("image", command="check --image")
    # Local imports: the image extra's modules (docker), checked for just above.
    from ..image.engine import Engine
    from ..image.verify import IMAGE_PYTHON, capture_in_image, render_verification, verify

    expected = read(args.snapshot)
    with Engine.connect() as engine:
        if not engine.has_image(args.image):
            raise BadInputError(f"--image {args.image}: no such image on this Docker engine")
        inside = capture_in_image(engine, args.image, python=args.python or IMAGE_PYTHON)
    result = verify(expected, inside, image=args.image)
    console.report(render_verification(result, args.format, snapshot=args.snapshot,
                                       color=console.color))
    return 0 if result.passed else 1
