"""A snapshot that still holds a credential (written before the rules, or by hand) does not
leak it through show, diff or check: the rules run again on every report."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pytest

from envsnap import io
from envsnap.cli import Console, main
from envsnap.snapshot import Package, PythonEnv, Snapshot, Source

SECRETS = ("Zq7SECRETuserinfo", "Zq7SECRETflag", "Zq7SECRETquery")


@pytest.fixture()
def leaky(tmp_path: Path) -> tuple[Path, Path]:
    a = Snapshot(
        python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
            Package(name="x", version="1.0", source=Source(
                kind="vcs", url=f"git+https://{SECRETS[0]}@github.com/o/r.git", vcs="git",
                commit="a" * 40)),
            Package(name="y", version="1.0", source=Source(
                kind="archive", url=f"https://h.example/y-1.0.whl?sig={SECRETS[2]}")))),
        env={"XLA_FLAGS": f"--auth_token={SECRETS[1]}"},
    )
    b = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython"))
    (tmp_path / "a.toml").write_text(io.dumps(a))  # the model, not capture: no redaction yet
    (tmp_path / "b.toml").write_text(io.dumps(b))
    assert all(s in (tmp_path / "a.toml").read_text() for s in SECRETS)
    return tmp_path / "a.toml", tmp_path / "b.toml"


@pytest.mark.parametrize("argv", [
    ["show", "{a}"], ["show", "--json", "{a}"],
    ["diff", "{a}", "{b}"], ["diff", "{a}", "{b}", "--format", "json"],
    ["diff", "{a}", "{b}", "--format", "markdown"], ["diff", "--baseline", "{b}", "{a}"],
    ["diff", "--baseline", "{b}", "{a}", "--format", "json"],
])
def test_reports_never_repeat_a_credential(leaky: tuple[Path, Path], argv: list[str]) -> None:
    a, b = leaky
    out, err = stdio.StringIO(), stdio.StringIO()
    main([x.format(a=a, b=b) for x in argv], Console(out, err))
    text = out.getvalue() + err.getvalue()
    assert text.strip()
    for secret in SECRETS:
        assert secret not in text, (argv, secret)
