"""'envsnap build-image': a snapshot -> Dockerfile + context -> an image on a Docker engine."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import BadInputError
from ..image import choose_base, default_tag, render
from ..image.context import context_tar, dockerfile_tar, write_context
from ..image.dockerfile import PYTHON_LABEL, label_dockerfile, python_note
from ..image.verify import capture_in_image, image_python, render_verification, verify
from ..io import check_replaceable
from ..lock import lock, plan
from ..progress import Bars, Steps, human_bytes
from . import require_extras
from ._args import add_force
from ._input import read
from ._locking import (
    add_index_options,
    build_consent,
    index_plan_args,
    settings_factory,
    stderr_reporter,
)

HELP = """\
Build a Docker image that reproduces a snapshot's Python environment: the base image is
chosen from shipped data (a slim Python image for CPU snapshots, an nvidia/cuda image
matching the snapshot's CUDA for GPU ones), packages are installed from a hashed lock with
--require-hashes --no-deps, heavy framework wheels in their own layers, as a non-root user,
with the snapshot embedded at /opt/envsnap/snapshot.toml and OCI labels.

examples:
  envsnap build-image train.toml --dockerfile-only -o ctx/      just write the context
  docker build ctx/                                              ... and build it yourself
  envsnap build-image train.toml -t train:v1
  envsnap build-image train.toml -t train:v1 --verify           build, then check the image
  envsnap build-image train.toml --wheelhouse wh/ --network none  air-gapped, no network
  envsnap build-image train.toml --base-image envsnap-base:bookworm --heavy numpy,scipy

--verify runs the built image with envsnap mounted read-only (nothing is installed into it),
captures its environment with the image's own interpreter and compares it with the snapshot:
drift in the environment exits 1; host facts (driver, GPUs, CPU, OS, the host's CUDA) and the
base image's Python patch are listed as expected ('envsnap check SNAP --image TAG' does the
same later). The label io.envsnap.python states the Python the image really runs; when it is
not the snapshot's, every build says so, cached or not.

-o DIR: files envsnap did not write (a hand-written Dockerfile) are never replaced (exit 2,
before any download; --force replaces them), and a symlinked folder inside DIR is refused.

The build streams through the Docker Engine (Docker SDK, classic builder). Each step is
shown with the time it took (one updating line on a terminal); a failing step is reported
with its log tail; --timeout stops a hung build; Ctrl-C leaves no container behind.
The Docker engine is reached before anything is downloaded. Indexes are reached as 'envsnap
lock' reaches them (the user's pip/uv configuration, or --index-url; the snapshot's own only
with --use-snapshot-indexes). Without --wheelhouse nothing the snapshot names is built on this
machine: the image's pip installs published wheels inside the image build, where the
container is the sandbox. With --wheelhouse, a VCS / URL-archive / local-folder package is
built here (its code runs on this machine) only with --allow-build; without it they are
listed and the command exits 2 before anything ran, --dockerfile-only included.
stdout: the tag (with --verify, the verification follows). exit: 0 built (and verified), 1
the build failed, an index did not answer or --verify found drift, 2 bad input (hostile
snapshot, a missing extra, a file in -o DIR envsnap did not write, a build without
--allow-build: said before any download).
"""


def _label(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def register(sub: Any) -> None:
    p = sub.add_parser(
        "build-image",
        help="a Docker image (or just its Dockerfile) that reproduces a snapshot",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("-t", "--tag", help="image tag (default: envsnap:<snapshot digest prefix>)")
    p.add_argument("--dockerfile-only", action="store_true",
                   help="write the Dockerfile and build context to -o DIR, build nothing")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="with --dockerfile-only: the context folder")
    p.add_argument("--wheelhouse", type=Path, metavar="DIR",
                   help="wheels downloaded/built into DIR and sent in the context (no network)")
    p.add_argument("--offline", action="store_true",
                   help="with --wheelhouse: use only the wheels already there")
    p.add_argument("--network", choices=("none", "default", "host", "bridge"),
                   help="network for RUN steps; 'none' proves the build is offline")
    p.add_argument("--base-image", metavar="IMAGE", help="override the chosen base image")
    p.add_argument("--base-python", metavar="CMD",
                   help="the Python command inside --base-image (default: python3)")
    p.add_argument("--heavy", default="", metavar="NAMES",
                   help="comma-separated packages to install in the early, cached layer")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="KEY=VALUE",
                   help="extra image label (repeatable)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="watchdog: stop the build after this long (default: 3600)")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached layers")
    p.add_argument("--verify", action="store_true",
                   help="after the build, capture inside the image (envsnap mounted read-only, "
                        "nothing installed) and compare it with the snapshot: exit 1 on drift")
    add_index_options(p)
    add_force(p)
    p.set_defaults(handler=run)


class _BuildEvents:
    """Docker build events -> per-step progress with the time each step took."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    def __call__(self, event: Any) -> None:
        if event.kind == "step":
            self.steps.step(event.step, event.total, event.text)
        elif event.kind == "cached":
            self.steps.cached()


def run(args: argparse.Namespace, console: Any) -> int:
    started = time.monotonic()
    snapshot = read(args.snapshot)
    if args.dockerfile_only and args.output is None:
        raise BadInputError("--dockerfile-only needs -o DIR for the build context")
    if args.dockerfile_only and args.verify:
        raise BadInputError("--verify runs the built image: it cannot go with --dockerfile-only")
    if args.network == "none" and args.wheelhouse is None:
        raise BadInputError("--network none needs --wheelhouse DIR: nothing can be downloaded")
    if args.offline and args.wheelhouse is None:
        raise BadInputError("--offline needs --wheelhouse DIR")
    if args.dockerfile_only:  # a Dockerfile envsnap did not write is said before any download
        check_replaceable(args.output / "Dockerfile", force=args.force)
    labels = dict(args.label)
    heavy = [n.strip() for n in args.heavy.split(",") if n.strip()]
    base = choose_base(snapshot, args.base_image, args.base_python)
    flagged = index_plan_args(args)
    pins = plan(snapshot, **flagged)  # refuses hostile input (exit 2) before any network use
    if snapshot.python is None:
        raise BadInputError("the snapshot has no Python environment to build an image from")
    # Known without the network: the sources it would build, refused unless allowed.
    allow_build = build_consent(args, pins, console, wheelhouse=args.wheelhouse, image=True)
    with contextlib.ExitStack() as stack:
        engine = None
        if not args.dockerfile_only:
            # The engine answers before anything is downloaded or hashed.
            require_extras("image", command="build-image")
            # Local import: the image extra's module (docker), checked for just above.
            from ..image.engine import Engine

            engine = stack.enter_context(Engine.connect())
        progress = stderr_reporter(console)
        t0 = time.monotonic()
        with progress if isinstance(progress, Bars) else contextlib.nullcontext():
            hashed = lock(pins, wheelhouse=args.wheelhouse, offline=args.offline,
                          progress=progress, settings=settings_factory(args),
                          allow_build=allow_build)
        console.info(f"locked {len(hashed.pins)} package(s) in {time.monotonic() - t0:.1f}s")
        plan_ = render(snapshot, hashed, base=base, offline=args.wheelhouse is not None,
                       labels=labels, heavy_extra=heavy)
        for note in plan_.notes:
            console.warn(note)
        console.info(f"base image {base.ref}: {base.reason}")
        if engine is None:
            written = write_context(plan_, args.wheelhouse, args.output, force=args.force)
            console.info(f"wrote {args.output / 'Dockerfile'} and {len(written) - 1} context "
                         "file(s)")
            return 0
        tag = args.tag or default_tag(snapshot.digest)
        image_id = _build(engine, plan_, args, tag, console)
        _label_python(engine, image_id, tag, plan_, snapshot.python.version, console)
        console.info(f"built {tag} in {time.monotonic() - started:.1f}s in all")
        console.print(tag)
        if not args.verify:
            return 0
        t0 = time.monotonic()
        result = verify(snapshot, capture_in_image(engine, tag), image=tag)
        console.info(f"captured inside {tag} in {time.monotonic() - t0:.1f}s")
        console.report(render_verification(result, "text", snapshot=args.snapshot,
                                           color=console.color))
        return 0 if result.passed else 1
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


def _build(engine: Any, plan_: Any, args: argparse.Namespace, tag: str, console: Any) -> str:
    network = None if args.network in (None, "default") else args.network
    t0 = time.monotonic()
    with context_tar(plan_, args.wheelhouse) as context:
        size = context.seek(0, 2)
        context.seek(0)
        console.info(f"build context {human_bytes(size)} ready in {time.monotonic() - t0:.1f}s; "
                     "building")
        steps = Steps(console.err, tty=bool(console.err_is_tty),
                      width=shutil.get_terminal_size((100, 20)).columns)
        try:
            result = engine.build(context, tag=tag, network_mode=network, nocache=args.no_cache,
                                  timeout=args.timeout, on_event=_BuildEvents(steps))
        finally:
            steps.close()
    console.info(f"built {result.image_id[:19]} in {result.seconds:.1f}s, "
                 f"{len(result.cached_steps)}/{len(result.steps)} steps from cache")
    return str(result.image_id)


def _label_python(engine: Any, image_id: str, tag: str, plan_: Any, wanted: str,
                  console: Any) -> None:
    """Label the Python the built image really runs (when the Dockerfile could not know it),
    and say on every build, cached or not, when it is not the snapshot's."""
    real = image_python(engine, image_id)
    if plan_.labels.get(PYTHON_LABEL) != real:
        engine.build(dockerfile_tar(label_dockerfile(image_id, {PYTHON_LABEL: real})), tag=tag,
                     timeout=120)
    if real != wanted:
        console.warn(python_note(real, wanted))
