"""'envsnap capture' and 'envsnap show'."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..probes import PROBE_NAMES
from ._args import comma_list

CAPTURE_HELP = f"""\
Probe this machine into a TOML snapshot: the Python environment you are working in (every
installed distribution with its PEP 610 source), conda packages, OS/CPU, NVIDIA driver and
GPUs, CUDA toolkit and every cuDNN/NCCL/cuBLAS/cudart copy, framework builds, and the
environment variables that change results. Secrets are never written: URL credentials are
redacted and only allowlisted variables are read.

probes: {", ".join(PROBE_NAMES)}

examples:
  envsnap capture                        writes envsnap.toml for the active environment
  envsnap capture -o - | less            print the snapshot instead
  envsnap capture --python /opt/venv/bin/python -o prod.toml
  envsnap capture --deep                 also import frameworks (in a child process, with a
                                         timeout) for torch.cuda.get_arch_list() and friends
  envsnap capture --anonymize            no hostname, hashed GPU UUIDs, paths relative to
                                         the environment prefix or ~
  envsnap capture --only python,nvidia   just these probes
"""

SHOW_HELP = """\
A one-screen summary of a snapshot: Python and package counts, OS, driver and GPUs, CUDA
libraries, framework builds, and any probe that failed.

examples:
  envsnap show envsnap.toml
  envsnap show envsnap.toml --json | jq .gpus
"""


_probe_list = comma_list(PROBE_NAMES, "probe")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "capture",
        help="snapshot this machine's environment into a TOML file",
        description=CAPTURE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o", "--output", default="envsnap.toml", metavar="FILE",
        help="where to write the snapshot ('-' for stdout; default: envsnap.toml)",
    )
    p.add_argument("--python", metavar="PATH", help="capture this interpreter's environment")
    p.add_argument("--deep", action="store_true", help="import frameworks in a child process")
    p.add_argument("--anonymize", action="store_true", help="drop host-identifying values")
    p.add_argument("--only", type=_probe_list, metavar="PROBES", help="comma-separated probes")
    p.add_argument(
        "--skip", type=_probe_list, default=(), metavar="PROBES",
        help="comma-separated probes to leave out",
    )
    p.add_argument("--json", action="store_true", help="write JSON instead of TOML")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    p.set_defaults(handler=run_capture)

    s = sub.add_parser(
        "show",
        help="one-screen summary of a snapshot",
        description=SHOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("snapshot", metavar="FILE", help="snapshot file ('-' for stdin)")
    s.add_argument("--json", action="store_true", help="machine-readable summary")
    s.set_defaults(handler=run_show)


def run_capture(args: argparse.Namespace, console: Any) -> int:
    from ..capturing import capture

    snapshot = capture(
        python=args.python,
        deep=args.deep,
        anonymize=args.anonymize,
        only=args.only,
        skip=args.skip,
    )
    # Imported only now: the probes are already running by the time the model is imported.
    from ..io import dumps, dumps_json, write_text_atomic

    text = dumps_json(snapshot) if args.json else dumps(snapshot)
    if args.output == "-":
        console.out.write(text)
    else:
        write_text_atomic(args.output, text)
    if not args.quiet:
        py = snapshot.python
        failed = [n for n, st in snapshot.probes.items() if st.status == "error"]
        parts = [f"{len(py.packages)} Python packages" if py else "no Python environment"]
        if snapshot.nvidia and snapshot.nvidia.gpus:
            parts.append(f"{len(snapshot.nvidia.gpus)} GPU(s)")
        where = "stdout" if args.output == "-" else args.output
        console.info(f"captured {', '.join(parts)} -> {where}")
        for name in failed:
            console.warn(f"probe {name} failed: {snapshot.probes[name].error}")
    return 0


def run_show(args: argparse.Namespace, console: Any) -> int:
    from ..io import load
    from ..summary import summarize, summary_data

    snapshot = load(args.snapshot)
    if args.json:
        console.print(json.dumps(summary_data(snapshot), indent=2))
    else:
        console.print(summarize(snapshot))
    return 0
