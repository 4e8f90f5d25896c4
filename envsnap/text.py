"""Captured text made safe to show on a terminal: control characters escaped, one line."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (\x9b is a one-byte CSI on some terminals): a GPU name or
# host name holding them could move the cursor, retitle or clear the user's terminal. U+2028
# and U+2029 too: str.splitlines() (pip's requirements reader among others) breaks lines there.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c in "\n\r\t":
        return repr(c)[1:-1]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (or a line separator)."""
    return _CONTROL.search(text) is not None


def has_surrogate(text: str) -> bool:
    """True for text no UTF-8 file can hold: lone surrogates, which is how Python hands over
    undecodable bytes of file names, environment values and a child's output."""
    return _SURROGATE.search(text) is not None


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


def short_hostname(hostname: str) -> str:
    """A host name as a file name: ``gpu-07`` for ``gpu-07.cluster.local``, characters outside
    ``A-Za-z0-9._-`` replaced by ``_``, no leading dot; ``unknown-host`` when nothing is left.
    One rule for ``capture -o snaps/{hostname}.toml`` and ``fleet capture``, so both name a
    node's file alike."""
    short = _UNSAFE_IN_NAME.sub("_", hostname.split(".")[0] or hostname).lstrip(".")
    return short or "unknown-host"
