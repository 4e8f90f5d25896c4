"""`envsnap check` against a real venv, and bad input through the real CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap.cli import Console, main

ENVSNAP = str(Path(sys.executable).parent / "envsnap")


def envsnap(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out=out, err=err))
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_check_passes_on_the_same_machine_and_fails_after_a_package_changes(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    for version in ("1.0", "1.1"):
        support.build_wheel(wheels, "pinned", version)
    support.build_wheel(wheels, "other", "2.0")
    for i in range(6):
        support.build_wheel(wheels, f"stray{i}", "1.0")
    python = support.make_venv(tmp_path / "venv")
    support.pip_install(python, "--isolated", "--no-index", "--find-links", wheels,
                        "pinned==1.0", "other==2.0")
    snap = tmp_path / "train.toml"
    rc, _, err = envsnap("capture", "--python", str(python), "-o", str(snap))
    assert rc == 0, err

    rc, out, err = envsnap("check", str(snap), "--python", str(python))
    assert rc == 0, out + err
    assert ": OK (policy exact)" in out
    assert "To bring this environment" not in out

    support.pip_install(python, "--isolated", "--no-index", "--find-links", wheels,
                        "pinned==1.1", *(f"stray{i}" for i in range(6)))
    rc, out, err = envsnap("check", str(snap), "--python", str(python))
    assert rc == 1, out + err
    assert "package: pinned  expected 1.0, found 1.1" in out
    # The fix names the interpreter that was checked, not whatever `pip` is on PATH.
    assert f"fix: {python} -m pip install pinned==1.0" in out
    assert "package: 6 packages not in the snapshot: stray0, stray1, stray2" in out
    # Rated as diff rates them: a minor upgrade, packages added; exact fails on both.
    assert out.index("MINOR") < out.index("INFO")
    assert "fails on: environment differences at any severity (policy exact)" in out
    assert (f"  envsnap lock {snap} -o envsnap-lock && {python} -m pip uninstall -y stray0 "
            "stray1 stray2 stray3 stray4 stray5 && ") in out

    rc, out, _ = envsnap("check", str(snap), "--python", str(python), "--format", "json")
    data = json.loads(out)
    assert rc == 1 and data["passed"] is False
    assert (data["findings"][0]["subject"], data["findings"][0]["severity"]) == ("pinned", "minor")
    assert data["thresholds"] == {"environment": "info", "host": "critical"}
    assert [(g["kind"], g["count"]) for g in data["groups"]] == [("version", 1), ("extra", 6)]

    rc, out, _ = envsnap("check", str(snap), "--python", str(python), "--ignore-extras", "-v",
                         "--format", "json")
    assert [f["subject"] for f in json.loads(out)["findings"]] == ["pinned"]

    # --host-only ignores the Python environment: this host can still run it.
    rc, out, _ = envsnap("check", str(snap), "--host-only")
    assert rc == 0, out


@pytest.mark.slow
def test_a_package_from_a_local_folder_is_fixed_from_that_folder(tmp_path: Path) -> None:
    python = support.venv_with_setuptools(tmp_path / "venv",
                                          Path.home() / ".cache" / "envsnap-tests" / "build-backend")
    project = support.local_project(tmp_path / "src" / "mylib", "mylib", "0.3.0")
    support.pip_install(python, "--isolated", "--no-index", "--no-build-isolation", project)
    snap = tmp_path / "svc.toml"
    rc, _, err = envsnap("capture", "--python", str(python), "-o", str(snap))
    assert rc == 0, err
    support.run([python, "-m", "pip", "uninstall", "-y", "mylib"])
    # The snapshot comes in on standard input, as `curl ... | envsnap check -` would send it.
    proc = subprocess.run([ENVSNAP, "check", "-", "--python", str(python)],
                          input=snap.read_bytes(), capture_output=True, timeout=120,
                          env=support.clean_env(), check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1, out + proc.stderr.decode()
    assert "pip install mylib==0.3.0" not in out
    assert f"fix: {python} -m pip install {project}" in out
    assert "envsnap lock SNAPSHOT.toml -o envsnap-lock" in out
    assert "note: save the snapshot you piped in as SNAPSHOT.toml first" in out


HOSTILE = {
    "truncated": 'schema = 1\n[python]\nversion = "3.11',
    "not-toml": "\x00\x01binary\xff",
    "wrong-type": 'schema = 1\n[python]\nversion = 3\nimplementation = "CPython"\n',
    "newer-schema": "schema = 99\n",
    "injected-name": ('schema = 1\n[python]\nversion = "3.11.7"\nimplementation = "CPython"\n'
                      '[python.packages]\n"evil\\nRUN rm -rf /" = {version = "1.0"}\n'),
    "injected-env": 'schema = 1\n[env]\nPYTHONHASHSEED = "0\\nRUN curl evil"\n',
    "empty": "",
    "json-array": "[1, 2]",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["diff", "check"])
def test_bad_snapshot_is_one_line_and_exit_2(tmp_path: Path, case: str, command: str) -> None:
    bad = tmp_path / f"{case}.toml"
    bad.write_bytes(HOSTILE[case].encode("utf-8", "surrogateescape")
                    if case != "not-toml" else b"\x00\x01binary\xff")
    good = tmp_path / "good.toml"
    good.write_text("schema = 1\n")
    argv = ["diff", str(good), str(bad)] if command == "diff" else ["check", str(bad)]
    rc, out, err = envsnap(*argv)
    assert rc == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envsnap: error: "), err
    assert str(bad) in lines[0] or case == "newer-schema"


@pytest.mark.parametrize("argv", [
    ["diff", "missing-a.toml", "missing-b.toml"],
    ["diff", "only-one.toml"],
    ["check", "missing.toml"],
    ["diff", "--baseline", "missing.toml", "."],
])
def test_missing_files_and_wrong_arity_exit_2(argv: list[str]) -> None:
    rc, _, err = envsnap(*argv)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("envsnap: error: ")


def test_fleet_directory_and_help(tmp_path: Path) -> None:
    base = 'schema = 1\n[nvidia]\ndriver_version = "580.159.04"\n'
    (tmp_path / "golden.toml").write_text(base)
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    for i in range(4):
        driver = "570.86.15" if i == 3 else "580.159.04"
        (nodes / f"n{i}.toml").write_text(f'schema = 1\n[nvidia]\ndriver_version = "{driver}"\n')
    rc, out, err = envsnap("diff", "--baseline", str(tmp_path / "golden.toml"), str(nodes))
    assert rc == 0, err  # another driver branch between nodes is major, below the default gate
    assert f"MAJOR: 1 node of 4: {nodes / 'n3.toml'}" in out
    assert "nvidia: driver downgraded  580.159.04 -> 570.86.15" in out
    rc, out, _ = envsnap("diff", "--baseline", str(tmp_path / "golden.toml"), str(nodes),
                         "--fail-on", "major", "--format", "json")
    assert rc == 1 and json.loads(out)["drifted"] == 1
    # Without a baseline the majority (three nodes on 580) is the reference: the same answer.
    rc, out, _ = envsnap("fleet", "report", str(nodes), "--fail-on", "major", "--format", "json")
    data = json.loads(out)
    assert rc == 1 and data["reference_kind"] == "majority" and data["agree"] == 3
    assert data["groups"][0]["nodes"] == [str(nodes / "n3.toml")]
    for command in ("diff", "check", "fleet"):
        out_io = io.StringIO()
        assert main([command, "--help"], Console(out=out_io)) == 0


# ---------------------------------------------------------------------------------------------
# Through `python -m envsnap`, as CI runs it.


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m envsnap ARGV` in ``cwd`` (no pyproject.toml above it but the test's own)."""
    return subprocess.run([sys.executable, "-m", "envsnap", *argv], cwd=cwd,
                          env=support.clean_env(), capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.slow
def test_diff_and_check_give_a_change_one_severity_and_the_policy_decides(
    tmp_path: Path,
) -> None:
    # Issue 18: the same pyyaml patch upgrade was info in diff and critical in check.
    wheels = tmp_path / "wheels"
    for version in ("6.0.1", "6.0.2"):
        support.build_wheel(wheels, "pyyaml", version)
    python = support.make_venv(tmp_path / "venv")
    support.pip_install(python, "--isolated", "--no-index", "--find-links", wheels,
                        "pyyaml==6.0.1")
    assert cli(tmp_path, "capture", "--python", str(python), "-o", "before.toml").returncode == 0
    support.pip_install(python, "--isolated", "--no-index", "--find-links", wheels,
                        "pyyaml==6.0.2")
    assert cli(tmp_path, "capture", "--python", str(python), "-o", "after.toml").returncode == 0

    proc = cli(tmp_path, "diff", "before.toml", "after.toml", "--format", "json")
    diffed = {c["name"]: c["severity"] for c in json.loads(proc.stdout)["changes"]}
    proc = cli(tmp_path, "check", "before.toml", "--python", str(python), "--format", "json")
    checked = json.loads(proc.stdout)
    assert diffed == {f["subject"]: f["severity"] for f in checked["findings"]} == {
        "pyyaml": "info"}
    # exact: the environment is the snapshot's, so even an info difference fails the gate.
    assert proc.returncode == 1 and checked["passed"] is False
    assert checked["thresholds"] == {"environment": "info", "host": "critical"}
    proc = cli(tmp_path, "check", "before.toml", "--python", str(python), "--policy",
               "compatible")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("fails on: environment differences at minor or worse (policy compatible), host "
            "findings at critical or worse (--fail-on critical)") in proc.stdout
    assert "To bring this environment" not in proc.stdout  # the policy allows it: no remedy
    # An ignore list is said on every run that applies it, with what it hid.
    (tmp_path / "pyproject.toml").write_text('[tool.envsnap]\nignore-packages = ["pyyaml"]\n')
    proc = cli(tmp_path, "check", "before.toml", "--python", str(python), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == (f"envsnap: ignoring packages pyyaml ([tool.envsnap] in "
                           f"{tmp_path / 'pyproject.toml'}): 1 change hidden\n")
    assert json.loads(proc.stdout)["ignore"] == {"packages": ["pyyaml"], "env": []}


@pytest.mark.slow
def test_checks_remedy_never_removes_envsnap_or_what_its_extras_need(tmp_path: Path) -> None:
    # Issue 18: the remedy would `pip uninstall` conda-lock, pip-tools and the rest of
    # envsnap's own dependencies. Checked here: the environment this envsnap runs in, against
    # a snapshot of a venv without envsnap.
    wheels = tmp_path / "wheels"
    support.build_wheel(wheels, "pinned", "1.0")
    python = support.make_venv(tmp_path / "venv")
    support.pip_install(python, "--isolated", "--no-index", "--find-links", wheels, "pinned")
    assert cli(tmp_path, "capture", "--python", str(python), "-o", "snap.toml").returncode == 0
    proc = cli(tmp_path, "check", "snap.toml", "--python", sys.executable, "--format", "json")
    data = json.loads(proc.stdout)
    tool = {f["subject"] for f in data["findings"] if f["kind"] == "tool"}
    assert {"envsnap", "packaging", "conda-lock", "pip-tools"} <= tool, tool
    remedy = data["remedy"]["command"]
    assert "pip install --require-hashes" in remedy  # pinned is missing: there is a remedy
    removed = remedy.partition("uninstall -y ")[2].partition(" && ")[0].split()
    assert not tool & set(removed), tool & set(removed)
