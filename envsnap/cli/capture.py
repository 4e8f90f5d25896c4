"""'envsnap capture': this machine's environment into a snapshot file."""

from __future__ import annotations

import argparse
import os
import socket
import string
import time
import warnings
from collections.abc import Mapping
from typing import Any

from ..capturing import capture
from ..errors import BadInputError, EnvsnapError
from ..io import check_extension, check_replaceable, dumps, dumps_json, load, write_text_atomic
from ..probes import PROBE_NAMES
from ..text import short_hostname
from ._args import add_force, comma_list

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
  envsnap capture --if-changed           rewrite envsnap.toml only when the content changed
                                         (a pre-commit hook: no churn of captured_at)
  srun --ntasks-per-node=1 envsnap capture -o snaps/{{hostname}}.toml
                                         one snapshot per node (docs/fleet.md)

-o FILE is replaced only when envsnap wrote it (a TOML snapshot says so in its first line, a
JSON one is listed in .envsnap-manifest.json beside it); anything else is refused (exit 2)
unless --force is given. A .toml name with --json, or a .json name without it, is refused.

-o placeholders: {{hostname}} (this machine's host name), {{rank}} (SLURM_PROCID, RANK or
JOB_COMPLETION_INDEX, the first one set), {{date}} (UTC, YYYY-MM-DD); {{{{ and }}}} for braces.
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
    p.add_argument("--if-changed", action="store_true",
                   help="leave -o FILE untouched (bytes and mtime) when its content digest is "
                        "the same as this capture's")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    add_force(p)
    p.set_defaults(handler=run_capture)


def run_capture(args: argparse.Namespace, console: Any) -> int:
    output = args.output if args.output == "-" else output_path(args.output)
    if output != "-":  # said before anything is probed
        check_extension(output, "JSON" if args.json else "TOML")
        check_replaceable(output, force=args.force)
    snapshot = capture(
        python=args.python,
        deep=args.deep,
        anonymize=args.anonymize,
        only=args.only,
        skip=args.skip,
    )
    text = dumps_json(snapshot) if args.json else dumps(snapshot)
    if output == "-":
        console.out.write(text)
    elif args.if_changed and _same_content(output, snapshot.digest):
        if not args.quiet:
            console.info(f"{output}: unchanged (digest {snapshot.digest[:19]}), left as it was")
        return 0
    else:
        write_text_atomic(output, text, force=args.force)
    if not args.quiet:
        py = snapshot.python
        failed = [n for n, st in snapshot.probes.items() if st.status == "error"]
        parts = [f"{len(py.packages)} Python packages" if py else "no Python environment"]
        if snapshot.nvidia and snapshot.nvidia.gpus:
            parts.append(f"{len(snapshot.nvidia.gpus)} GPU(s)")
        where = "stdout" if output == "-" else output
        console.info(f"captured {', '.join(parts)} -> {where}")
        for name in failed:
            console.warn(f"probe {name} failed: {snapshot.probes[name].error}")
        for name, status in snapshot.probes.items():
            for warning in status.warnings:
                console.warn(f"probe {name}: {warning}")
    return 0


def _same_content(path: str, digest: str) -> bool:
    """True when ``path`` holds a snapshot with this content digest (capture-time fields
    aside); anything unreadable counts as changed."""
    if not os.path.isfile(path):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load(path).digest == digest
    except EnvsnapError:
        return False


_RANK_VARIABLES = ("SLURM_PROCID", "RANK", "JOB_COMPLETION_INDEX")


_PLACEHOLDERS = ("hostname", "rank", "date")


def _fields(template: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BadInputError(f"-o {template}: {exc} (write {{{{ and }}}} for literal braces)") from None
    found = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in _PLACEHOLDERS or spec or conversion:
            raise BadInputError(f"-o: unknown placeholder {{{name}}}; use {{hostname}}, {{rank}} "
                                "or {date}")
        found.add(name)
    return found


def output_path(template: str, environ: Mapping[str, str] | None = None,
                hostname: str | None = None, today: str | None = None) -> str:
    """``-o`` with its placeholders filled, so one command line names a file per node:
    ``snaps/{hostname}.toml`` on Slurm (srun), a Kubernetes Indexed Job or a DaemonSet."""
    if "{" not in template and "}" not in template:
        return template
    wanted = _fields(template)
    env = os.environ if environ is None else environ
    if hostname is None:
        hostname = socket.gethostname()
    values = {"hostname": short_hostname(hostname),
              "date": today or time.strftime("%Y-%m-%d", time.gmtime())}
    if "rank" in wanted:
        rank = next((env[v] for v in _RANK_VARIABLES if env.get(v, "").strip()), None)
        if rank is None or not rank.strip().isdigit():
            raise BadInputError("-o: {rank} needs SLURM_PROCID, RANK or JOB_COMPLETION_INDEX set "
                                "to a number (srun, torchrun and Kubernetes Indexed Jobs set one)")
        values["rank"] = str(int(rank))
    return template.format_map(values)
