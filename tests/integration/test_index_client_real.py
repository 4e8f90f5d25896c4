"""Download bars drawn by a real child process on a terminal respect NO_COLOR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_bars_on_a_terminal_respect_no_color(tmp_path: Path) -> None:
    """rich draws the bars only on a terminal; with NO_COLOR it writes no colour codes."""
    code = (
        "import io, sys; from envsnap.progress import Bars\n"
        "class T(io.StringIO):\n    def isatty(self): return True\n"
        "s = T()\n"
        "with Bars(s, color=False) as b:\n"
        "    t = b.transfer('x.whl', 100); t.advance(100); t.close(); b.info('hello')\n"
        "sys.stdout.write(s.getvalue())\n")
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "downloaded x.whl (100 B in" in out and "envsnap: hello" in out
    assert "\x1b[3" not in out and "\x1b[9" not in out  # no foreground colours
