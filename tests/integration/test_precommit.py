"""The pre-commit hook on a real repository through `pre-commit try-repo`: an unchanged
environment leaves the committed envsnap.toml alone (bytes and mtime), a `pip install` into the
captured venv makes the hook rewrite it and fail, and the next run passes again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap.io import load

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOOK = "envsnap-capture"


def _pre_commit(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "pre-commit"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_manifest_validates() -> None:
    proc = _pre_commit(["validate-manifest", str(REPO / ".pre-commit-hooks.yaml")], cwd=REPO,
                       env=support.clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_hook_refreshes_the_snapshot_only_when_the_environment_changed(tmp_path: Path) -> None:
    # The hook repository: try-repo on a local repository with uncommitted changes commits only
    # tracked files into its shadow clone, so the manifest is committed into a repository here.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    shutil.copy(REPO / ".pre-commit-hooks.yaml", hooks)
    support.git_commit_all(hooks)

    python = support.make_venv(tmp_path / "venv", with_pip=False)
    env = support.clean_env({
        # envsnap from this checkout first on PATH; the venv the user works in is active.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(tmp_path / "venv"),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    })
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('training')\n")
    snap = project / "envsnap.toml"
    support.run([BIN / "envsnap", "capture", "--skip", "project", "-q", "-o", snap], cwd=project, env=env)
    support.git_commit_all(project)
    old = os.stat(snap).st_mtime_ns - 10**9
    os.utime(snap, ns=(old, old))  # a rewrite, even of the same bytes, would show
    committed = snap.read_bytes()

    def hook() -> subprocess.CompletedProcess[str]:
        return _pre_commit(["try-repo", str(hooks), HOOK, "--all-files"], cwd=project, env=env)

    for _ in range(2):  # unchanged environment: passes, the file is not touched
        proc = hook()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Passed" in proc.stdout
        assert snap.read_bytes() == committed and os.stat(snap).st_mtime_ns == old

    wheel = support.build_wheel(tmp_path / "wheels", "freshly-added", "1.0")
    support.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", wheel],
                env=support.clean_env())
    proc = hook()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout and "files were modified by this hook" in proc.stdout
    refreshed = load(snap)
    assert refreshed.python is not None and refreshed.python.package("freshly-added") is not None
    assert refreshed.project is None  # the commit would change the file on every commit
    assert support.git(project, "status", "--porcelain") == "M envsnap.toml"

    proc = hook()  # refreshed: the next run passes (until the next change)
    assert proc.returncode == 0, proc.stdout + proc.stderr
