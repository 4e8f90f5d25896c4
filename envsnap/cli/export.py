"""'envsnap export': a snapshot as a software bill of materials (CycloneDX JSON)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import BadInputError
from ..integrations.sbom import FORMATS, cyclonedx_json, parse_lock
from ..io import check_extension, check_replaceable, write_text_atomic
from ._args import add_force
from ._input import read

EXPORT_HELP = """\
Write a snapshot as a CycloneDX 1.6 JSON SBOM: the environment itself as the document's
subject (metadata.component, named by --name), one component per Python distribution (pkg:pypi
package URLs, a PyTorch-index build's repository_url; the licenses it declares; VCS, archive
and local-directory sources as external references), per conda package (pkg:conda, with the
record's md5/sha256), the operating system, the NVIDIA driver and each GPU, the CUDA toolkit
and each copy of cudart/cuDNN/NCCL/cuBLAS found; the Python dependency graph. With --lock,
each Python component carries the file hashes the lock pins for it. Needs the sbom extra
(pip install 'envsnap[sbom]'). SPDX is not written: its Python library is too large a
dependency for this; convert the CycloneDX document if you need SPDX.

examples:
  envsnap export train.toml -o train.cdx.json
  envsnap export train.toml --lock lock/requirements.txt -o train.cdx.json
  envsnap export runs:/4f2a... --lock pylock.toml            (a snapshot logged with MLflow)

The same snapshot gives the same bytes (the serial number is derived from its digest).
-o FILE is replaced only when envsnap wrote it (listed in .envsnap-manifest.json beside it);
anything else is refused (exit 2) unless --force is given, and so is a .toml name.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="a snapshot as an SBOM (CycloneDX JSON)",
        description=EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot file ('-' for stdin)")
    p.add_argument("--format", choices=FORMATS, default=FORMATS[0],
                   help=f"document format (default: {FORMATS[0]})")
    p.add_argument("-o", "--output", default="-", metavar="FILE",
                   help="where to write it ('-' for stdout, the default)")
    p.add_argument("--lock", metavar="FILE",
                   help="take package hashes from this requirements.txt (--hash lines) or "
                        "pylock.toml")
    p.add_argument("--name", metavar="NAME",
                   help="the environment's name in the document (default: the project's "
                        "repository name, else python-environment)")
    add_force(p)
    p.set_defaults(handler=run)


def _read_lock(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None


def run(args: argparse.Namespace, console: Any) -> int:
    if args.output != "-":  # said before anything is read
        check_extension(args.output, "JSON")
        check_replaceable(args.output, force=args.force)
    snapshot = read(args.snapshot)
    lock = parse_lock(_read_lock(args.lock), source=args.lock) if args.lock else None
    text = cyclonedx_json(snapshot, lock=lock, name=args.name)
    if args.output == "-":
        console.out.write(text)
    else:
        write_text_atomic(args.output, text, force=args.force)
        console.info(f"wrote a CycloneDX {len(text) // 1024 or 1} KiB SBOM -> {args.output}")
    return 0
