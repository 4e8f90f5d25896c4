"""Regenerate docs/cli.md from the real parsers' --help, so the reference cannot drift:
    .venv/bin/python scripts/gen_cli_docs.py      (tests/unit/test_cli_docs.py checks it)
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

HEADER = """\
# envsnap command-line reference

Generated from the commands' own `--help` by `scripts/gen_cli_docs.py`; a test fails when
this file and the parsers disagree.

## Exit codes

| code | meaning |
| --- | --- |
| 0 | success; for `diff`/`check`/`fleet report`, nothing reached `--fail-on` |
| 1 | a gate failed: `diff`, `check` or `fleet report` found something at or above \
`--fail-on`; `fleet capture`: a node failed |
| 2 | bad input: a missing, unreadable, truncated, malformed or hostile file or argument \
(one line on stderr naming the file and the problem) |
| 3 | an internal error (a bug: rerun with `-v` for the traceback and report it) |
| 130 | interrupted (Ctrl-C); no output file is left half-written |

Errors go to stderr as one line, `envsnap: error: <file>: <problem>`; progress and warnings go
to stderr too, so stdout carries only the requested output (`-o -`, `--json`, `--format`).
"""

# Commands that are groups of subcommands, each with its own --help.
SUBCOMMANDS = {"fleet": ("capture", "report")}


def help_text(argv: list[str]) -> str:
    from envsnap.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main([*argv, "--help"])
    return buf.getvalue().rstrip()


def render() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it for a stable file
    parts = [HEADER, "## envsnap\n", "```text\n" + help_text([]) + "\n```\n"]
    from envsnap.cli import COMMANDS

    for command in COMMANDS:
        parts.append(f"## envsnap {command}\n")
        parts.append("```text\n" + help_text([command]) + "\n```\n")
        for sub in SUBCOMMANDS.get(command, ()):
            parts.append(f"### envsnap {command} {sub}\n")
            parts.append("```text\n" + help_text([command, sub]) + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC}", file=sys.stderr)
