"""'envsnap check' command line (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    pass


def run(args: argparse.Namespace, console: Any) -> int:
    return 0
