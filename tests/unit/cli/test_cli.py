"""envsnap.cli: parsing, -v, the extras check, and the one place errors become exit codes."""

from __future__ import annotations

import pytest


def test_top_level_help_before_a_command_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import COMMANDS, main

    assert main(["-h", "capture"]) == 0
    out = capsys.readouterr().out
    assert all(f"    {command}" in out for command in COMMANDS), out


def test_a_misspelt_command_names_the_choices_even_with_version(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import main

    assert main(["captur", "--version"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'captur'" in err and "'capture'" in err and "'check'" in err


# -v before or after the command: the same switch (tracebacks), except where a command has a
# -v of its own (check, diff: list every finding), which keeps it.


@pytest.mark.parametrize("argv", [
    ["-v", "lock", "x.toml"], ["lock", "-v", "x.toml"], ["lock", "x.toml", "-v"],
    ["show", "x.toml", "--verbose"], ["build-image", "x.toml", "-v"],
    ["fleet", "report", "snaps/", "-v"], ["fleet", "capture", "--ray", "-o", "d", "-v"],
    ["restore", "x.toml", "--venv", "v", "-v"], ["export", "x.toml", "-v"],
])
def test_verbose_goes_before_or_after_the_command(argv: list[str]) -> None:
    from envsnap.cli import build_parser

    assert build_parser(argv).parse_args(argv).verbose is True


@pytest.mark.parametrize("command", ["lock", "show", "capture", "export"])
def test_without_verbose_it_is_off(command: str) -> None:
    from envsnap.cli import build_parser

    argv = [command] if command == "capture" else [command, "x.toml"]
    args = build_parser(argv).parse_args(argv)
    assert getattr(args, "verbose", False) is False


def test_a_command_keeps_its_own_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import build_parser, main

    assert build_parser(["check", "x", "-v"]).parse_args(["check", "x", "-v"]).verbose is True
    assert main(["check", "-h"]) == 0
    assert "list every finding of a large group" in capsys.readouterr().out


# Extras: what each command needs is declared once and matches pyproject.toml.


def _pyproject_extras() -> dict[str, list[str]]:
    import support

    from envsnap.tomlreader import loads

    data = loads((support.REPO / "pyproject.toml").read_text())
    return dict(data["project"]["optional-dependencies"])


def test_all_installs_every_extra_that_needs_no_server() -> None:
    # lock, image and sbom run here; mlflow, wandb and ray talk to a server or a cluster.
    assert _pyproject_extras()["all"] == ["envsnap[lock,image,sbom]"]


def test_each_extras_modules_come_from_that_extra() -> None:
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from envsnap.cli import EXTRA_MODULES

    extras = _pyproject_extras()
    # test-unit installs [all]; the integrations' extras (mlflow, wandb, ray) only [test].
    provided = packages_distributions()
    checked = set()
    for extra, modules in EXTRA_MODULES.items():
        names = {canonicalize_name(Requirement(r).name) for r in extras[extra]}
        for module in modules:
            if module in provided or extra in ("lock", "image", "sbom"):
                assert {canonicalize_name(d) for d in provided[module]} & names, (extra, module)
                checked.add(extra)
    assert {"lock", "image", "sbom"} <= checked


def test_a_missing_extra_is_one_line_with_the_pip_command(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    from envsnap.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "requests" else real(name, *a))
    assert main(["lock", "x.toml"]) == 2
    err = capsys.readouterr().err
    assert err == ("envsnap: error: 'envsnap lock' needs the lock extra (requests is not "
                   "installed): pip install 'envsnap[lock]'\n")


# main(): every error is one line and an exit code.


def test_an_envsnap_error_is_one_escaped_line_exit_2(tmp_path: object,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import main

    assert main(["show", "no\nsuch.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("envsnap: error: ") and err.count("\n") == 1 and "\\n" in err


@pytest.mark.parametrize(("raised", "code", "said"), [
    (KeyboardInterrupt(), 130, "envsnap: interrupted\n"),
    (RuntimeError("boom\nsecond"), 3, "envsnap: internal error: RuntimeError: boom\\nsecond "
                                      "(run with -v for the traceback, and please report it)\n"),
])
def test_interrupts_and_internal_errors(raised: BaseException, code: int, said: str,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import main, show

    def handler(*_: object) -> int:
        raise raised

    monkeypatch.setattr(show, "run_show", handler)
    assert main(["show", "x.toml"]) == code
    assert capsys.readouterr().err == said


def test_verbose_lets_an_internal_error_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    from envsnap.cli import main, show

    def handler(*_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(show, "run_show", handler)
    with pytest.raises(RuntimeError, match="boom"):
        main(["-v", "show", "x.toml"])


def test_a_warning_is_one_line_on_stderr() -> None:
    from io import StringIO

    from envsnap.cli import Console

    err = StringIO()
    Console(out=StringIO(), err=err).warn("two\nlines")
    assert err.getvalue() == "envsnap: warning: two\\nlines\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from envsnap.cli import main
    from envsnap.version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"envsnap {__version__}\n"
