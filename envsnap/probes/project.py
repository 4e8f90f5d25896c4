"""The current git repository: commit, dirty flag, branch, remote (credentials stripped)."""

from __future__ import annotations

import re

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


# A project's .git/config (and a checkout's .gitattributes) is someone else's data: settings
# that make `git status` run a command are overridden on the command line, which wins over
# every configuration file (git-config(1), "-c"). What runs during status otherwise:
# core.fsmonitor (a hook command), hooks (post-index-change, when status refreshes the index),
# and filter drivers' clean/process commands (re-hashing a file whose stat data changed). Diff
# drivers (diff.external, textconv) are blanked too, in case a git version shows a diff. Bare
# repositories are taken only when named (safe.bareRepository=explicit, git 2.38+), and
# safe.directory is left to git: a repository another user owns is refused ("dubious
# ownership"), which this probe records as such.
_SAFE_CONFIG = (
    "core.fsmonitor=false", "core.hooksPath=/dev/null", "diff.external=",
    "safe.bareRepository=explicit",
)
_DRIVER_KEY = re.compile(r"^(filter|diff)\.(.+)\.[^.]+$")


def _git(*args: str, extra: tuple[str, ...] = ()) -> list[str]:
    config = [a for kv in (*_SAFE_CONFIG, *extra) for a in ("-c", kv)]
    # --no-optional-locks: status neither refreshes nor writes the index (no hook, no write).
    return ["git", "--no-pager", "--no-optional-locks", *config, *args]


def driver_overrides(text: str) -> tuple[str, ...] | None:
    """``git config --null --get-regexp '^(filter|diff)\\.'`` output -> the ``-c`` settings that
    disable every filter and diff driver it names, or None when one cannot be overridden on the
    command line (a "=" in a driver name would be read as the start of the value).

    Sample (NUL-terminated records, the key and value split by a newline)::

        filter.lfs.clean\ngit-lfs clean -- %f\0filter.lfs.required\ntrue\0diff.pdf.textconv\npdftotext\0
    """
    drivers: set[tuple[str, str]] = set()
    for record in text.split("\0"):
        m = _DRIVER_KEY.match(record.split("\n", 1)[0])
        if m is None:
            continue
        if "=" in m.group(2):
            return None
        drivers.add((m.group(1), m.group(2)))
    out: list[str] = []
    for kind, name in sorted(drivers):
        if kind == "filter":  # required=false: a blanked filter is not an error
            out += [f"filter.{name}.clean=", f"filter.{name}.smudge=", f"filter.{name}.process=",
                    f"filter.{name}.required=false"]
        else:
            out += [f"diff.{name}.textconv=", f"diff.{name}.command="]
    return tuple(out)


def probe(host: Host, cwd: str | None) -> Probed[Project]:
    try:
        # Which filter and diff drivers the configuration names, so each command is blanked.
        # `git config` reads configuration only; it runs nothing.
        listed = host.run(_git("config", "--null", "--get-regexp", r"^(filter|diff)\."),
                          timeout=TIMEOUT_S, cwd=cwd)
        blank = driver_overrides(listed.stdout) if listed.returncode == 0 else ()
        if blank is None:
            return Probed(value=None, found_via="git: not run (a filter or diff driver name "
                                                "holds '=', so it cannot be disabled)")
        # Untracked files are left out: the snapshot file being written is one of them.
        # Submodules are not entered: each has a configuration of its own.
        status = host.run(_git("status", "--porcelain=v2", "--branch", "--untracked-files=no",
                               "--ignore-submodules=all", extra=blank),
                          timeout=TIMEOUT_S, cwd=cwd)
        if status.returncode != 0:
            if "dubious ownership" in status.stderr:
                return Probed(value=None, found_via="git: the repository belongs to another user "
                                                    "(git's safe.directory rule); not read")
            return Probed(value=None, found_via="git: not inside a repository")
        remote = host.run(_git("config", "--get", "remote.origin.url", extra=blank),
                          timeout=TIMEOUT_S, cwd=cwd)
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
