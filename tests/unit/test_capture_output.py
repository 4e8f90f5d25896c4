"""capture -o placeholders (one file per node under Slurm, torchrun, Kubernetes) and
--if-changed (no rewrite when the content is the same)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.cli.capture import output_path
from envsnap.errors import BadInputError


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


def test_if_changed_leaves_bytes_and_mtime_alone(tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    argv = ["capture", "--only", "os,cpu", "-q", "-o", str(out)]
    assert main(argv, Console(io.StringIO(), io.StringIO())) == 0
    before, stamp = out.read_bytes(), out.stat().st_mtime_ns
    os.utime(out, ns=(stamp - 10**9, stamp - 10**9))  # so a rewrite would show
    stamp = out.stat().st_mtime_ns
    for _ in range(2):
        assert main([*argv, "--if-changed"], Console(io.StringIO(), io.StringIO())) == 0
        assert out.read_bytes() == before and out.stat().st_mtime_ns == stamp
    # A different content is written.
    assert main(["capture", "--only", "os", "-q", "-o", str(out), "--if-changed"],
                Console(io.StringIO(), io.StringIO())) == 0
    assert out.read_bytes() != before
