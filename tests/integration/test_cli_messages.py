"""What the CLI says, through the real command line: -v on either side of the command, each
file format named for what it is, and build-image asking for the engine before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.snapshot import Package, PythonEnv, Snapshot


def envsnap(*args: str | Path, cwd: Path, env: dict[str, str] | None = None
            ) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, args)], cwd=cwd,
                          env=support.clean_env({"NO_COLOR": "1", **(env or {})}),
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout, proc.stderr


SNAP = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython",
                                 packages=(Package(name="envsnap-small", version="1.0"),)))


@pytest.mark.parametrize("argv", [
    ["lock", "-v", "missing.toml"], ["lock", "missing.toml", "-v"], ["-v", "lock", "missing.toml"],
    ["show", "missing.toml", "--verbose"], ["diff", "missing.toml", "missing.toml", "-v"],
    ["build-image", "-v", "missing.toml", "--dockerfile-only", "-o", "ctx"],
])
def test_verbose_is_taken_after_the_command_too(tmp_path: Path, argv: list[str]) -> None:
    rc, _, err = envsnap(*argv, cwd=tmp_path)
    assert rc == 2 and "unrecognized arguments" not in err
    assert err.strip() == "envsnap: error: missing.toml: no such file"


def _write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return name


def test_a_json_snapshot_reads_like_its_toml(tmp_path: Path) -> None:
    io.dump(SNAP, tmp_path / "snap.toml")
    rc, _, err = envsnap("capture", "--only", "os", "--json", "-o", "os.json", cwd=tmp_path)
    assert rc == 0, err
    rc, out, err = envsnap("show", "os.json", cwd=tmp_path)
    assert rc == 0 and out.startswith("snapshot sha256:"), err
    (tmp_path / "snap.json").write_text(io.dumps_json(SNAP))
    rc, out, err = envsnap("diff", "snap.toml", "snap.json", "--format", "json", cwd=tmp_path)
    assert rc == 0 and '"changes": []' in out, err


@pytest.mark.parametrize(("name", "make", "needle"), [
    ("d.json", ["diff", "snap.toml", "snap.toml", "--format", "json"],
     "an envsnap diff report (schema 'envsnap.diff/1'), not a snapshot"),
    ("c.json", ["check", "snap.toml", "--host-only", "--format", "json"],
     "an envsnap check report (schema 'envsnap.check/1'), not a snapshot"),
    ("s.json", ["show", "snap.toml", "--json"],
     "a snapshot summary ('envsnap show --json' writes these), not a snapshot"),
    ("e.json", ["export", "snap.toml"], "a CycloneDX SBOM ('envsnap export' writes these), not a "
                                        "snapshot"),
])
def test_envsnaps_other_outputs_are_named(tmp_path: Path, name: str, make: list[str],
                                          needle: str) -> None:
    io.dump(SNAP, tmp_path / "snap.toml")
    _, out, err = envsnap(*make, cwd=tmp_path)
    assert out.lstrip().startswith("{"), err
    (tmp_path / name).write_text(out)
    rc, _, err = envsnap("show", name, cwd=tmp_path)
    assert rc == 2 and err == f"envsnap: error: {name}: {needle} ('envsnap capture' writes those)\n"


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("pylock.toml", "lock-version = '1.0'\ncreated-by = 'x'\n", "a PEP 751 lockfile (pylock.toml), not"),
    ("pyproject.toml", "[project]\nname = 'x'\n", "a pyproject.toml, not a snapshot"),
    ("conda-lock.yml", "version: 1\nmetadata:\n  platforms: [linux-64]\n", "YAML (conda-lock.yml or the "
                                                                           "like), not a snapshot"),
    ("requirements.txt", "# pins\nsix==1.16.0 \\\n    --hash=sha256:abc\nidna>=3\n",
     "a requirements file, not a snapshot"),
    ("Dockerfile", "# syntax\nFROM python:3.11\nRUN true\n", "a Dockerfile, not a snapshot"),
    ("page.html", "<!doctype html><html></html>\n", "HTML or XML, not a snapshot"),
    ("list.json", "[1, 2]\n", "JSON holding a list, not a snapshot"),
    ("broken.json", '{"schema": 2,\n', "not valid JSON (Expecting property name"),
    ("broken.toml", "schema = 2\n[python\n", "not valid TOML (Expected ']'"),
])
def test_each_format_gets_its_own_error(tmp_path: Path, name: str, text: str, needle: str) -> None:
    _write(tmp_path, name, text)
    rc, _, err = envsnap("show", name, cwd=tmp_path)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"envsnap: error: {name}: {needle}"), err


def test_build_image_asks_for_the_engine_before_any_download(tmp_path: Path) -> None:
    support.build_wheel(tmp_path / "wheels", "envsnap-small", "1.0")
    io.dump(SNAP, tmp_path / "snap.toml")
    rc, out, err = envsnap("build-image", "snap.toml", "--wheelhouse", "wheels", "--base-image",
                           "envsnap-base:bookworm", cwd=tmp_path,
                           env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert rc == 1 and out == ""
    assert err.startswith("envsnap: error: no Docker engine answers at unix:///nonexistent"), err
    assert len(err.splitlines()) == 1  # nothing hashed, downloaded or locked first
