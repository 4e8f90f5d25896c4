"""'envsnap fleet capture': one snapshot per node of a running cluster (Ray)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("capture", help="one snapshot per alive node of a Ray cluster",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Any) -> int:
    raise NotImplementedError
