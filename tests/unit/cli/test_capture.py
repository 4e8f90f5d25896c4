"""'envsnap capture': -o placeholders and the refusals said before anything is probed (a real
capture: tests/integration/test_cli_capture.py, test_capture_placeholders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.cli import main
from envsnap.cli.capture import output_path
from envsnap.errors import BadInputError


def test_placeholders() -> None:
    assert output_path("plain.toml") == "plain.toml"
    assert output_path("s/{hostname}-{rank}-{date}.toml", {"RANK": "3", "SLURM_PROCID": " "},
                       hostname="node7.cluster.local", today="2026-01-02") == (
        "s/node7-3-2026-01-02.toml")
    assert output_path("{{x}}{rank}.toml", {"JOB_COMPLETION_INDEX": "007"}, hostname="h") == (
        "{x}7.toml")


@pytest.mark.parametrize(("template", "env", "said"), [
    ("{user}.toml", {}, "unknown placeholder {user}"),
    ("{hostname!r}.toml", {}, "unknown placeholder"),
    ("{rank}.toml", {}, "{rank} needs SLURM_PROCID"),
    ("{rank}.toml", {"RANK": "x"}, "{rank} needs"),
    ("{oops.toml", {}, "literal braces"),
])
def test_bad_placeholders(template: str, env: dict[str, str], said: str) -> None:
    with pytest.raises(BadInputError, match=said.replace("{", r"\{").replace("}", r"\}")):
        output_path(template, env, hostname="h", today="2026-01-02")


@pytest.mark.parametrize(("argv", "said"), [
    (["capture", "-o", "mine.toml"], "mine.toml"),  # not written by envsnap
    (["capture", "-o", "x.toml", "--json"], "x.toml"),
    (["capture", "--only", "python,gpu"], "unknown probe(s) gpu"),
])
def test_refused_before_probing(argv: list[str], said: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text("hand = 'written'\n")
    assert main(argv) == 2
    assert said in capsys.readouterr().err
    assert (tmp_path / "mine.toml").read_text() == "hand = 'written'\n"
    assert not (tmp_path / "x.toml").exists()


# capture -o placeholders: one file per node under Slurm, torchrun, Kubernetes.

@pytest.mark.parametrize(("environ", "rank"), [
    ({"SLURM_PROCID": "7", "SLURM_JOB_ID": "123"}, "7"),  # srun sets it for every task
    ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8"}, "3"),  # torchrun
    ({"JOB_COMPLETION_INDEX": "12"}, "12"),  # a Kubernetes Indexed Job
    ({"SLURM_PROCID": "0", "RANK": "5"}, "0"),  # Slurm first: srun launches torchrun
    ({"RANK": " 04 "}, "4"),
])
def test_rank_comes_from_the_scheduler(environ: dict[str, str], rank: str) -> None:
    assert output_path("snaps/{rank}.toml", environ, hostname="n1") == f"snaps/{rank}.toml"


def test_hostname_and_date() -> None:
    got = output_path("s/{hostname}-{date}.toml", {}, hostname="gpu-07.cluster.local",
                      today="2026-11-29")
    assert got == "s/gpu-07-2026-11-29.toml"
    # a host name can never escape the folder
    escaped = output_path("s/{hostname}.toml", {}, hostname="../../etc/x")
    assert Path(escaped).parent == Path("s") and Path(escaped).name not in (".", "..")
    assert output_path("{{literal}}-{hostname}", {}, hostname="h") == "{literal}-h"
    assert output_path("plain.toml", {}) == "plain.toml"


@pytest.mark.parametrize(("template", "environ", "message"), [
    ("s/{rank}.toml", {}, "needs SLURM_PROCID, RANK or JOB_COMPLETION_INDEX"),
    ("s/{rank}.toml", {"RANK": "x"}, "needs SLURM_PROCID"),
    ("s/{host}.toml", {}, "unknown placeholder {host}"),
    ("s/{hostname.x}.toml", {}, "unknown placeholder"),
    ("s/{.toml", {}, "literal braces"),
    ("s/{0}.toml", {}, "unknown placeholder"),
])
def test_bad_placeholders_are_bad_input(template: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        output_path(template, environ, hostname="h")
