"""Captured text made safe to show on a terminal: control characters escaped, one line."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (\x9b is a one-byte CSI on some terminals): a GPU name or
# host name holding them could move the cursor, retitle or clear the user's terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(m: re.Match[str]) -> str:
    return repr(m.group())[1:-1] if m.group() in "\n\r\t" else f"\\x{ord(m.group()):02x}"


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)
