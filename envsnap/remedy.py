"""What to run to undo drift: pip's arguments for one package, and the one remedy command (diff's
brings B to A, check's this machine to the snapshot)."""

from __future__ import annotations

import posixpath
import shlex
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from .loadrules import claimants
from .rules import local_label, pytorch_index
from .snapshot import Binding, LibraryCopy, Package


def _file_path(url: str) -> str | None:
    parsed = urllib.parse.urlsplit(url)
    return urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else None


def install_args(pkg: Package) -> tuple[str, ...]:
    """What to hand pip to get exactly this package back: the source it was installed from
    (a VCS commit, a local folder, an archive URL) where it has one, else NAME==VERSION with
    the index that serves its local label (download.pytorch.org/whl/cu121)."""
    src = pkg.source
    if src is not None and src.url:
        ref = src.vcs_reference(requested=True)
        if ref is not None:
            return (f"{pkg.name} @ {ref}",)
        path = _file_path(src.url)
        if src.kind == "editable":
            return ("-e", path or src.url)
        return (path,) if path else (f"{pkg.name} @ {src.url}",)
    index = pytorch_index(local_label(pkg.version))
    return (f"{pkg.name}=={pkg.version}", *(("--index-url", index) if index else ()))


def pip_install(pip: str, pkg: Package, *, reinstall: bool = False) -> str:
    """``PIP install ARGS``, shell-quoted; ``reinstall`` for the same version from elsewhere."""
    flags = " --force-reinstall --no-deps" if reinstall else ""
    return f"{pip} install{flags} " + " ".join(map(shlex.quote, install_args(pkg)))


def unbind_fix(b: Binding) -> str | None:
    """What stops a copy from being bound where a variable or the system preload chose it
    (LD_PRELOAD, /etc/ld.so.preload, LD_LIBRARY_PATH); None when the environment's own files
    did (its wheels' RPATH, the framework's own preload)."""
    if b.path is None:
        return None
    if b.found_by in ("LD_PRELOAD", "/etc/ld.so.preload"):
        return f"remove {b.path} from {b.found_by}"
    if b.via == "ld_library_path":
        # The path is the file's real one: the variable may name a link to its folder
        # (/usr/local/cuda/lib64 -> targets/x86_64-linux/lib).
        return (f"remove {posixpath.dirname(b.path)} (or the entry that links to it) from "
                "LD_LIBRARY_PATH")
    return None


def restore_wheel_fix(copy: LibraryCopy, pip: str,
                      owner: tuple[str, str] | None = None) -> str | None:
    """Put back the file a wheel owns when another wheel overwrote it (the cu12 and cu13 NCCL
    wheels share nvidia/nccl/lib): uninstall the other claimants, whose RECORD lists the
    shared file, then reinstall the owner. ``owner``: (wheel, version), the one the framework
    pins; by default the wheel the copy was found through, at its metadata's version. None
    when no pip wheel owns the copy."""
    if owner is None:
        if not copy.found_via.startswith("pip:") or not copy.version:
            return None
        owner = (copy.found_via.removeprefix("pip:"), copy.version)
    name, version = owner
    others = [c for c in claimants(copy) if c != canonicalize_name(name)]
    steps = [f"{pip} uninstall -y {' '.join(map(shlex.quote, others))}"] if others else []
    steps.append(f"{pip} install --force-reinstall --no-deps " + shlex.quote(f"{name}=={version}"))
    return " && ".join(steps)


def envsnap_footprint(names: Iterable[str], dependencies: Callable[[str], Iterable[str]],
                      tool: Iterable[str] = ()) -> frozenset[str]:
    """envsnap and everything it needs in an environment holding ``names``, where envsnap is
    one of them (else nothing): ``tool`` (what envsnap's own metadata requires with every
    extra) and what ``dependencies`` reach from them. Installing envsnap to look at an
    environment is no drift, and removing what it needs breaks the command the user runs."""
    present = set(names)
    if "envsnap" not in present:
        return frozenset()
    own = {"envsnap"} | (set(tool) & present)
    queue = list(own)
    while queue:
        for dep in dependencies(queue.pop()):
            if dep not in own:
                own.add(dep)
                queue.append(dep)
    return frozenset(own)


LOCK_DIR = "envsnap-lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Remedy:
    """One command that brings the environment to the snapshot, and what it cannot do."""

    command: str
    caveats: tuple[str, ...] = ()


def remedy(snapshot: str, *, python: str, install: bool, remove: Iterable[str] = (),
           recreate: str | None = None, unfixed: Iterable[str] = (),
           what: str = "change(s)") -> Remedy | None:
    """Lock ``snapshot`` and install exactly its packages from the hashed lock (``install``),
    after uninstalling ``remove`` (what the snapshot lacks, and what came from elsewhere at
    the same version: pip would call it satisfied); None when there is nothing to run.
    ``recreate``: the snapshot's Python, when the interpreter itself differs; ``unfixed``:
    the host sections or rules no pip command fixes."""
    gone = sorted(set(remove))
    if not install and not gone:
        return None
    pip = f"{shlex.quote(python)} -m pip"
    caveats: list[str] = []
    ref = snapshot
    if snapshot == "-":
        ref = "SNAPSHOT.toml"
        caveats.append("save the snapshot you piped in as SNAPSHOT.toml first")
    steps: list[str] = []
    if install:
        steps.append(f"envsnap lock {shlex.quote(ref)} -o {LOCK_DIR}")
    if gone:
        steps.append(f"{pip} uninstall -y {' '.join(map(shlex.quote, gone))}")
    if install:
        steps.append(f"{pip} install --require-hashes --no-deps -r {LOCK_DIR}/requirements.txt")
    if recreate:
        caveats.append(f"recreate the environment with Python {recreate} first: the lock holds "
                       "builds for that interpreter")
    host = sorted(set(unfixed))
    if host:
        caveats.append(f"it does not fix the {', '.join(host)} {what} above")
    return Remedy(command=" && ".join(steps), caveats=tuple(caveats))
