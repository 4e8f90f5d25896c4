"""Every command that writes files replaces only files envsnap wrote, never through a symlinked
sub-folder, and names what it refuses (exit 2). Through the real CLI, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.snapshot import Package, PythonEnv, Snapshot

HAND = "# my own pins, kept by hand\nrequests==2.31.0\n"


def envsnap(*args: str | Path, cwd: Path) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, args)], cwd=cwd,
                          env=support.clean_env({"NO_COLOR": "1"}), capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a snapshot of two local wheels and their wheelhouse."""
    wheels = tmp_path / "wheels"
    support.build_wheel(wheels, "envsnap-small", "1.0")
    support.build_wheel(wheels, "envsnap-other", "3.0")
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", abi_tag="cp311",
                                     packages=(Package(name="envsnap-small", version="1.0"),
                                               Package(name="envsnap-other", version="3.0"))))
    io.dump(snap, tmp_path / "snap.toml")
    return tmp_path


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


LOCK = ("lock", "snap.toml", "--offline", "--wheelhouse", "wheels")


def test_lock_writes_its_own_folder_by_default(project: Path) -> None:
    (project / "requirements.txt").write_text(HAND)
    rc, _, err = envsnap(*LOCK, cwd=project)
    assert rc == 0, err
    assert (project / "requirements.txt").read_text() == HAND
    assert "envsnap-small==1.0" in (project / "envsnap-lock" / "requirements.txt").read_text()
    assert (project / "envsnap-lock" / "pylock.toml").is_file()
    rc, _, err = envsnap(*LOCK, cwd=project)  # again, into its own output
    assert rc == 0, err


def test_lock_refuses_a_hand_written_file_before_any_work(project: Path) -> None:
    (project / "requirements.txt").write_text(HAND)
    before = files_under(project)
    rc, _, err = envsnap(*LOCK, "-o", ".", cwd=project)
    assert rc == 2
    line = one_error(err)
    assert "requirements.txt: exists and was not written by envsnap" in line and "--force" in line
    assert "hashing" not in err  # said before the wheelhouse is read
    assert files_under(project) == before  # not even pylock.toml beside it
    rc, _, err = envsnap(*LOCK, "-o", ".", "--force", cwd=project)
    assert rc == 0, err
    assert "envsnap-small==1.0" in (project / "requirements.txt").read_text()


def test_lock_refuses_a_hand_written_pylock_in_the_set(project: Path) -> None:
    out = project / "out"
    out.mkdir()
    (out / "pylock.toml").write_text("lock-version = '1.0'\n")
    rc, _, err = envsnap(*LOCK, "-o", "out", cwd=project)
    assert rc == 2 and "pylock.toml: exists and was not written by envsnap" in one_error(err)
    assert sorted(os.listdir(out)) == ["pylock.toml"]
    rc, _, err = envsnap(*LOCK, "-o", "out", "--format", "requirements", cwd=project)
    assert rc == 0, err  # a format not asked for is not in the way


DOCKERFILE = "FROM debian:bookworm\nRUN echo mine\n"
BUILD = ("build-image", "snap.toml", "--dockerfile-only", "--offline", "--wheelhouse", "wheels",
         "--base-image", "envsnap-base:bookworm")


def test_build_image_context_never_replaces_a_hand_written_dockerfile(project: Path) -> None:
    (project / "Dockerfile").write_text(DOCKERFILE)
    rc, _, err = envsnap(*BUILD, "-o", ".", cwd=project)
    assert rc == 2 and "Dockerfile: exists and was not written by envsnap" in one_error(err)
    assert "hashing" not in err and "locked" not in err
    assert (project / "Dockerfile").read_text() == DOCKERFILE
    assert not (project / "lock").exists() and not (project / "snapshot.toml").exists()
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)
    assert rc == 0, err
    first = files_under(project / "ctx")
    assert any(name.startswith("wheels/light/") for name in first)
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)  # again: its own files
    assert rc == 0, err
    assert files_under(project / "ctx") == first
    rc, _, err = envsnap(*BUILD, "-o", ".", "--force", cwd=project)
    assert rc == 0, err
    assert (project / "Dockerfile").read_text() != DOCKERFILE


def test_a_wheel_in_the_context_that_envsnap_did_not_copy_is_kept(project: Path) -> None:
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)
    assert rc == 0, err
    wheel = next((project / "ctx" / "wheels").rglob("envsnap_small-*.whl"))
    wheel.write_bytes(b"someone else's bytes")
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)
    assert rc == 2 and f"{wheel.name}: exists and was not written by envsnap" in one_error(err)
    assert wheel.read_bytes() == b"someone else's bytes"


@pytest.mark.parametrize("link", ["wheels", "wheels/light", "lock"])
def test_a_symlinked_sub_folder_of_the_output_is_refused(project: Path, link: str) -> None:
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    ctx = project / "ctx"
    (ctx / link).parent.mkdir(parents=True, exist_ok=True)
    (ctx / link).symlink_to(elsewhere)
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)
    assert rc == 2
    line = one_error(err)
    assert "is a symbolic link inside the output folder" in line and link.split("/")[0] in line
    assert list(elsewhere.iterdir()) == []  # nothing written through it
    assert not (ctx / "Dockerfile").exists()
    rc, _, err = envsnap(*BUILD, "-o", "ctx", "--force", cwd=project)
    assert rc == 2 and list(elsewhere.iterdir()) == []  # --force does not write through links


def test_the_output_folder_itself_may_be_a_symlink(project: Path) -> None:
    real = project / "real"
    real.mkdir()
    (project / "ctx").symlink_to(real)
    rc, _, err = envsnap(*BUILD, "-o", "ctx", cwd=project)
    assert rc == 0, err
    assert (real / "Dockerfile").is_file()


CAPTURE = ("capture", "--only", "os")


def test_capture_replaces_only_its_own_snapshot(tmp_path: Path) -> None:
    (tmp_path / "envsnap.toml").write_text("title = 'my notes'\n")
    rc, _, err = envsnap(*CAPTURE, cwd=tmp_path)
    assert rc == 2 and "envsnap.toml: exists and was not written by envsnap" in one_error(err)
    assert (tmp_path / "envsnap.toml").read_text() == "title = 'my notes'\n"
    rc, _, err = envsnap(*CAPTURE, "--force", cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = envsnap(*CAPTURE, cwd=tmp_path)
    assert rc == 0, err


def test_json_outputs_are_listed_in_a_manifest(tmp_path: Path) -> None:
    rc, _, err = envsnap(*CAPTURE, "--json", "-o", "snap.json", cwd=tmp_path)
    assert rc == 0, err
    manifest = json.loads((tmp_path / io.MANIFEST).read_text())
    assert set(manifest["files"]) == {"snap.json"}
    rc, _, err = envsnap(*CAPTURE, "--json", "-o", "snap.json", cwd=tmp_path)
    assert rc == 0, err  # its own JSON, as the manifest says
    rc, _, err = envsnap("export", "snap.json", "-o", "sbom.json", cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = envsnap("export", "snap.json", "-o", "sbom.json", cwd=tmp_path)
    assert rc == 0, err
    # Edited by hand since: no longer what envsnap wrote.
    (tmp_path / "sbom.json").write_text('{"edited": true}\n')
    rc, _, err = envsnap("export", "snap.json", "-o", "sbom.json", cwd=tmp_path)
    assert rc == 2 and "sbom.json: exists and was not written by envsnap" in one_error(err)
    (tmp_path / "other.json").write_text("{}\n")
    rc, _, err = envsnap(*CAPTURE, "--json", "-o", "other.json", cwd=tmp_path)
    assert rc == 2 and "other.json: exists and was not written by envsnap" in one_error(err)
    assert (tmp_path / "other.json").read_text() == "{}\n"


@pytest.mark.parametrize(("argv", "needle"), [
    ((*CAPTURE, "--json", "-o", "x.toml"), "refusing to write JSON into a .toml file; name it x.json"),
    ((*CAPTURE, "-o", "x.json"), "refusing to write TOML into a .json file; name it x.toml"),
    (("export", "snap.toml", "-o", "x.toml"), "refusing to write JSON into a .toml file"),
])
def test_a_file_name_that_says_another_format_is_refused(tmp_path: Path, argv: tuple[str, ...],
                                                       needle: str) -> None:
    io.dump(Snapshot(), tmp_path / "snap.toml")
    rc, _, err = envsnap(*argv, cwd=tmp_path)
    assert rc == 2 and needle in one_error(err)
    assert not (tmp_path / "x.toml").exists() and not (tmp_path / "x.json").exists()
