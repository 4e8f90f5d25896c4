"""Attack: a hostile checkout (.git/config, included config, .gitattributes, hooks) makes
`git status` run commands; `envsnap capture` in it runs nothing (real CLI, real git)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io

ENVSNAP = str(Path(sys.executable).parent / "envsnap")


def _hostile_repo(root: Path, markers: Path) -> Path:
    """A real repository whose own files try every way `git status` can run a command."""
    repo = root / "hostile"
    repo.mkdir()
    (repo / "data.bin").write_text("payload\n")
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    support.git_commit_all(repo)
    support.git(repo, "remote", "add", "origin", "https://git.example/o/r.git")

    def touch(name: str) -> str:
        return f"touch {markers / name}"

    config = {
        "core.fsmonitor": touch("fsmonitor"),
        "filter.evil.clean": f"{touch('filter-clean')}; cat",
        "filter.evil.smudge": f"{touch('filter-smudge')}; cat",
        "filter.evil.process": touch("filter-process"),
        "filter.evil.required": "true",
        "diff.evil.textconv": touch("textconv"),
        "diff.external": touch("external-diff"),
        "core.pager": touch("pager"),
        "include.path": str(root / "included.gitconfig"),
    }
    for key, value in config.items():
        support.git(repo, "config", key, value)
    # an included file may set the same keys: the overrides win over every file
    (root / "included.gitconfig").write_text(f"[core]\n\tfsmonitor = {touch('included-fsmonitor')}\n")
    hooks = repo / ".git" / "hooks"
    for hook in ("post-index-change", "reference-transaction", "post-checkout"):
        (hooks / hook).write_text(f"#!/bin/sh\n{touch('hook-' + hook)}\n")
        (hooks / hook).chmod(0o755)
    # stat data that no longer matches the index: git must look at the content again (the
    # moment a clean filter runs)
    os.utime(repo / "data.bin", (1, 1))
    return repo


def _capture(cwd: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENVSNAP, "capture", "--only", "project", "-o", str(out)], cwd=cwd,
                          env=support.clean_env(), capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.slow
def test_hostile_git_config_runs_nothing(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    repo = _hostile_repo(tmp_path, markers)
    proc = _capture(repo, tmp_path / "snap.toml")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    snap = io.load(tmp_path / "snap.toml")
    # The facts are still read: commit, branch and remote
    assert snap.project is not None and snap.project.remote == "https://git.example/o/r.git"
    assert snap.project.commit == support.git(repo, "rev-parse", "HEAD").strip()
    # ...and plain git, in the same repository, does run them (the test can fail).
    subprocess.run(["git", "status"], cwd=repo, capture_output=True, check=False, timeout=60)
    assert {p.name for p in markers.iterdir()} & {"fsmonitor", "included-fsmonitor", "filter-process"}


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_repository_of_another_user_is_not_read(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    repo = _hostile_repo(tmp_path, markers)
    for path in (repo, *repo.rglob("*")):
        os.lchown(path, 65534, 65534)  # nobody: git's safe.directory rule refuses it
    proc = _capture(repo, tmp_path / "snap.toml")
    assert proc.returncode == 0, proc.stderr
    snap = io.load(tmp_path / "snap.toml")
    assert snap.project is None
    assert "another user" in (snap.probes["project"].found_via or "")
    assert list(markers.iterdir()) == []
