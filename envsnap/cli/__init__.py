"""The command line: parse, dispatch, and the one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from ..errors import EnvsnapError
from ..redact import redact_text
from ..text import printable
from ..version import __version__

# command -> its module in envsnap.cli (which registers the command's parser and its help).
# Only the module of the command being run is imported: `envsnap capture` must not pay for
# docker, pip-tools or the diff rules.
COMMANDS = {
    "capture": "capture",
    "show": "show",
    "lock": "lock",
    "build-image": "image",
    "restore": "restore",
    "diff": "diff",
    "check": "check",
    "export": "export",
    "why": "why",
    "fleet": "fleet",
}

# The extras a command needs (pyproject.toml [project.optional-dependencies]), and the modules
# envsnap imports from each extra. Checked before the command runs: a plain `pip install
# envsnap` gets one line naming the extra and the pip command, not a traceback halfway through.
EXTRA_MODULES = {
    "lock": ("requests", "rich"),
    "image": ("docker",),
    "sbom": ("cyclonedx",),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
    "ray": ("ray",),
}
COMMAND_EXTRAS = {"lock": ("lock",), "restore": ("lock",), "build-image": ("lock",),
                  "export": ("sbom",)}

# Exit codes, documented in docs/cli.md: CI scripts branch on them.
EXIT_OK = 0
EXIT_FAIL = 1  # a gate failed (diff/check found something at --fail-on or worse)
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class Console:
    """Where commands print. Passed to every command so tests can capture it."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @property
    def is_tty(self) -> bool:
        return hasattr(self.out, "isatty") and self.out.isatty()

    @property
    def err_is_tty(self) -> bool:
        return hasattr(self.err, "isatty") and self.err.isatty()

    @property
    def color(self) -> bool:
        # https://no-color.org: any non-empty NO_COLOR disables colour.
        return self.is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def report(self, text: str) -> None:
        """A report built from snapshot contents: the redaction rules run once more on the way
        out, for a snapshot written before them (or by hand) that still holds a credential."""
        self.print(redact_text(text))

    def print(self, text: str = "") -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")

    def info(self, text: str) -> None:
        self.err.write(f"envsnap: {text}\n")

    def warn(self, text: str) -> None:
        self.err.write(f"envsnap: warning: {_one_line(text)}\n")


EPILOG = """\
commands in a typical flow:
  envsnap capture -o train.toml          snapshot this machine's environment
  envsnap show train.toml                one-screen summary
  envsnap lock train.toml -o lock/       hashed requirements.txt, pylock.toml, conda lock
  envsnap build-image train.toml -t img  a Docker image that reproduces it
  envsnap diff good.toml bad.toml        what changed, most dangerous first
  envsnap check train.toml               can this machine run it? (exit 1 if not)
  envsnap fleet report snaps/            which cluster nodes drifted from the rest

exit codes: 0 ok, 1 a check or diff gate failed, 2 bad input, 130 interrupted.
Run 'envsnap COMMAND --help' for each command's options."""


def _requested_command(argv: Sequence[str]) -> str | None:
    """The command to build a parser for, or None when every command's parser is needed:
    top-level help (`envsnap -h capture` lists them all) and misspelt commands."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


class MissingExtra(EnvsnapError):
    """A command needs an extra that is not installed."""

    exit_code = 2

    def __init__(self, extra: str, module: str, command: str | None = None) -> None:
        what = f"'envsnap {command}'" if command else "this"
        super().__init__(f"{what} needs the {extra} extra ({module} is not installed): "
                         f"pip install 'envsnap[{extra}]'")


def require_extras(*extras: str, command: str | None = None) -> None:
    """Raise MissingExtra for the first extra whose modules are not importable (looked up,
    not imported: the check costs nothing when they are there)."""
    for extra in extras:
        for module in EXTRA_MODULES[extra]:
            if importlib.util.find_spec(module) is None:
                raise MissingExtra(extra, module, command)


def _extra_of(exc: ModuleNotFoundError) -> str | None:
    top = (exc.name or "").partition(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)


class _Parser(argparse.ArgumentParser):
    """Every command's parser takes -v too, so `envsnap lock -v` means what `envsnap -v lock`
    does; a command with a -v of its own (check, diff: list every finding) keeps it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("conflict_handler", "resolve")
        super().__init__(*args, **kwargs)
        # SUPPRESS: not given here, the -v before the command still decides.
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="show tracebacks for unexpected errors")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="envsnap",
        description="Make ML environments reproducible: capture, lock, rebuild, diff, check.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envsnap {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks for unexpected errors"
    )
    # prog given: the subcommands' usage lines read "envsnap COMMAND", not the script path.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, prog="envsnap")
    wanted = _requested_command(argv) if argv is not None else None
    if wanted is not None:
        # Only the command being run gets a parser: the other commands' modules (lock, image,
        # docker) are not imported to capture.
        importlib.import_module(f".{COMMANDS[wanted]}", __name__).register(sub)
        return parser
    if argv is not None and "--version" in argv and all(a.startswith("-") for a in argv):
        return parser  # argparse prints the version and exits before it needs a command
    for module_name in dict.fromkeys(COMMANDS.values()):  # each module once, in order
        importlib.import_module(f".{module_name}", __name__).register(sub)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    console = console or Console()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)

    def show_warning(message: Warning | str, *_args: object, **_kw: object) -> None:
        console.warn(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show_warning
        try:
            require_extras(*COMMAND_EXTRAS.get(args.command, ()), command=args.command)
            return int(args.handler(args, console))
        except EnvsnapError as exc:
            console.err.write(f"envsnap: error: {_one_line(str(exc))}\n")
            return exc.exit_code
        except KeyboardInterrupt:
            # Local import: host (20 ms) is loaded by the commands that run processes; the
            # others need it only here, on Ctrl-C.
            from ..host import kill_running_children

            kill_running_children()  # probes' children: their threads never see the Ctrl-C
            console.err.write("envsnap: interrupted\n")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # `envsnap show x | head`: the reader left; not an error worth a traceback.
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
            return EXIT_OK
        except Exception as exc:
            extra = _extra_of(exc) if isinstance(exc, ModuleNotFoundError) else None
            if extra is not None:  # an import the up-front check does not know of
                error = MissingExtra(extra, getattr(exc, "name", None) or extra, args.command)
                console.err.write(f"envsnap: error: {error}\n")
                return error.exit_code
            if getattr(args, "verbose", False):
                raise
            console.err.write(
                f"envsnap: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                "(run with -v for the traceback, and please report it)\n"
            )
            return 3


def _one_line(text: str) -> str:
    """A message as the user reads it: credentials redacted, control characters (a newline,
    a terminal escape held by a hostile value) shown escaped."""
    return printable(redact_text(text))


def run() -> None:
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C before main's own handler is in place
        sys.stderr.write("envsnap: interrupted\n")
        code = EXIT_INTERRUPTED
    sys.exit(code)
