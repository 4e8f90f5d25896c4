"""'envsnap fleet report': group a directory of node snapshots by drift."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="which nodes differ from the majority (or a baseline)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Any) -> int:
    raise NotImplementedError
