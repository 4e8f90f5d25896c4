"""HashedLock -> requirements.txt in pip-tools' format (pure)."""

from __future__ import annotations

from ..resources import template_text
from ..text import printable
from ..version import __version__
from .model import HashedLock
from .safety import check_lock

POLICY_TEXT = {
    "wheelhouse": "every wheel for the target found in the wheelhouse (air-gapped: "
                  "pip install --no-index --find-links WHEELHOUSE ...)",
    "index": "the file pip would install for the target, as the index's Simple API states "
             "it (PEP 691/503)",
}


def header(lock: HashedLock, *, command: str, digest: str, filename: str) -> str:
    """The pip-tools style header: who wrote the file, with which command, and how to use it."""
    return template_text("requirements-header.txt").format(
        version=__version__,
        python=lock.plan.python_minor or "?",
        command=printable(command),  # a comment line: it stays one
        digest=printable(digest),
        policy=POLICY_TEXT[lock.policy],
        filename=filename,
    )


def not_locked_note(lock: HashedLock) -> list[str]:
    """Comment lines naming every package that could not be locked, and why: a lockfile
    never drops a package silently (shared by every lockfile format)."""
    if not lock.unlockable:
        return []
    return ["", "# NOT LOCKED (envsnap could not hash these; install them separately):"] + [
        printable(f"#   {u.name}=={u.version}: {u.reason}")
        for u in sorted(lock.unlockable, key=lambda u: u.name)
    ]


def tools_note(lock: HashedLock) -> list[str]:
    """Comment lines naming pip / setuptools / wheel that no source had (a warning only: a
    new venv brings its own installer)."""
    if not lock.tools_missing:
        return []
    return ["", "# Installer packages not locked (no source has them; a new venv brings its "
                "own):"] + [printable(f"#   {u.name}=={u.version}: {u.reason}")
                            for u in sorted(lock.tools_missing, key=lambda u: u.name)]


def render_requirements(lock: HashedLock, *, command: str, digest: str,
                        filename: str = "requirements.txt") -> str:
    """``name==version \\`` plus ``--hash=sha256:`` lines, the layout pip-compile writes
    (https://pip-tools.readthedocs.io/en/stable/#using-hashes), installable with
    ``pip install --require-hashes --no-deps``."""
    check_lock(lock)
    lines = [header(lock, command=command, digest=digest, filename=filename).rstrip("\n")]
    plan = lock.plan
    lines.append(f"--index-url {plan.index_url}")
    lines.extend(f"--extra-index-url {url}" for url in plan.extra_index_urls)
    lines.append("")
    for pin in sorted(lock.pins, key=lambda p: p.name):
        head = f"{pin.name} @ {pin.url}" if pin.url else f"{pin.name}=={pin.version}"
        hashes = sorted({f.sha256 for f in pin.files})
        lines.append(head + " \\")
        lines.extend(f"    --hash=sha256:{h}" + (" \\" if i < len(hashes) - 1 else "")
                     for i, h in enumerate(hashes))
        # Where the file really came from: the index named here, or (never by URL or path)
        # this machine's mirror or find-links location.
        if pin.origin == "built":
            lines.append("    # built from a local/VCS source into the wheelhouse")
        elif pin.via_note:
            lines.append(printable(f"    # found through {pin.via_note}, not from an index "
                                   "this file names"))
        elif pin.index and pin.origin == "index":
            lines.append(f"    # from {pin.index}")
    lines += not_locked_note(lock)
    lines += tools_note(lock)
    if plan.conda_owned:
        lines.append("")
        lines.append("# Owned by conda, locked in conda-lock.yml instead: "
                     + ", ".join(plan.conda_owned))
    return "\n".join(lines) + "\n"
