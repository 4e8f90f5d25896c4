"""The current git repository: commit, dirty flag, branch, remote (credentials stripped)."""

from __future__ import annotations

from ..errors import CommandNotFound, CommandTimeout
from ..host import Host
from ..redact import redact_url
from ..snapshot import Project
from . import Probed

TIMEOUT_S = 5.0  # git on a cold network filesystem can stall; the snapshot must not


def parse_status_v2(text: str) -> tuple[str | None, str | None, bool]:
    """``git status --porcelain=v2 --branch`` -> (commit, branch, dirty).

    Sample::

        # branch.oid 6347888dfeec1e957cbe6be854278c13d35296f8
        # branch.head main
        1 .M N... 100644 100644 100644 3f1e... 3f1e... envsnap/io.py
    """
    commit = branch = None
    dirty = False
    for line in text.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2].strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2].strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return commit, branch, dirty


def probe(host: Host, cwd: str | None) -> Probed[Project]:
    # Two git calls, not four: this probe runs on every capture.
    try:
        # Untracked files are left out: the snapshot file being written is one of them.
        status = host.run(["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                          timeout=TIMEOUT_S, cwd=cwd)
        if status.returncode != 0:
            return Probed(value=None, found_via="git: not inside a repository")
        remote = host.run(["git", "config", "--get", "remote.origin.url"], timeout=TIMEOUT_S, cwd=cwd)
    except CommandNotFound:
        return Probed(value=None, found_via="git not installed")
    except CommandTimeout as exc:
        raise CommandTimeout(f"git: {exc}") from None
    commit, branch, dirty = parse_status_v2(status.stdout)
    url = remote.stdout.strip() if remote.returncode == 0 else ""
    # redact_url takes scp-form remotes too (git@github.com:o/r.git: kept, ssh needs no secret).
    value = Project(commit=commit, dirty=dirty, branch=branch,
                    remote=redact_url(url) if url else None)
    return Probed(value=value, found_via="git")
