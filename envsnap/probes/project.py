"""The current git repository: commit, dirty flag, branch, remote (credentials stripped)."""

from __future__ import annotations

from ..errors import CommandNotFound, CommandTimeout
from ..host import Host
from ..redact import redact_scp_remote
from ..snapshot import Project
from . import Probed

TIMEOUT_S = 5.0  # git on a cold network filesystem can stall; the snapshot must not


def probe(host: Host, cwd: str | None) -> Probed[Project]:
    def git(*args: str) -> str | None:
        result = host.run(["git", *args], timeout=TIMEOUT_S, cwd=cwd)
        return result.stdout.strip() if result.returncode == 0 else None

    try:
        commit = git("rev-parse", "--verify", "-q", "HEAD")
        if commit is None:
            top = git("rev-parse", "--show-toplevel")
            if top is None:
                return Probed(None, "git: not inside a repository")
        # Untracked files are left out: the snapshot file being written is one of them.
        status = git("status", "--porcelain", "--untracked-files=no")
        branch = git("symbolic-ref", "-q", "--short", "HEAD")
        remote = git("remote", "get-url", "origin")
    except CommandNotFound:
        return Probed(None, "git not installed")
    except CommandTimeout as exc:
        raise CommandTimeout(f"git: {exc}") from None
    value = Project(
        commit=commit,
        dirty=bool(status) if status is not None else None,
        branch=branch or None,
        remote=redact_scp_remote(remote) if remote else None,
    )
    return Probed(value, "git")
