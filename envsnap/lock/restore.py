"""Snapshot -> a fresh venv installed from its hashed lock, captured again and compared."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from .. import rules
from ..capturing import capture
from ..errors import BadInputError, CommandNotFound, CommandTimeout, EnvsnapError, HostError
from ..host import LocalHost, RunResult
from ..progress import SILENT, Reporter
from ..snapshot import Package, PythonEnv, Snapshot
from .build import pip_env, require_build_consent
from .hashing import SettingsArg, hash_from_wheelhouse
from .model import HashedLock, LockPlan
from .safety import scrub

INSTALL_TIMEOUT_S = 3600.0
PROBE_TIMEOUT_S = 30.0
INSTALLERS = ("auto", "pip", "uv")


class RestoreError(EnvsnapError):
    """The venv could not be created or installed (exit 1); nothing is left behind."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """One way the restored environment differs from the snapshot (paths never count)."""

    what: str  # python.version | python.implementation | python.abi_tag | missing | extra |
    # version | wheel
    name: str
    expected: str | None
    found: str | None

    def __str__(self) -> str:
        if self.what == "missing":
            return f"{self.name}=={self.expected} missing"
        if self.what == "extra":
            return f"{self.name}=={self.found} not in the snapshot"
        return f"{self.name}: {self.expected} -> {self.found}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    venv: Path
    python: str  # the interpreter's version
    installer: str  # pip | uv
    packages: int
    drift: tuple[Drift, ...]
    kept: bool  # the venv is there (False: removed after drift)
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# comparing (pure)


def _by_name(packages: Iterable[Package]) -> dict[str, Package]:
    return {canonicalize_name(p.name): p for p in packages}


def compare(expected: PythonEnv, found: PythonEnv, *, built: Iterable[str] = ()) -> tuple[Drift, ...]:
    """What differs between the snapshot's environment and the restored one, paths aside:
    the interpreter (version, implementation, ABI), each package's presence and version, and
    the wheel tags of compiled packages. Where a package came from (index, editable, a VCS
    checkout; ``built`` names those rebuilt as wheels) and who installed it are how, not what:
    they are not drift, and neither are locations, prefixes or executables."""
    out: list[Drift] = []
    for attr in ("version", "implementation", "abi_tag"):
        a, b = getattr(expected, attr), getattr(found, attr)
        if a != b and a is not None:
            out.append(Drift(what=f"python.{attr}", name=f"python.{attr}", expected=a, found=b))
    want, have = _by_name(expected.packages), _by_name(found.packages)
    rebuilt = {canonicalize_name(n) for n in built}
    for name in sorted(want.keys() | have.keys()):
        a, b = want.get(name), have.get(name)
        if b is None:
            assert a is not None
            out.append(Drift(what="missing", name=name, expected=a.version, found=None))
        elif a is None:
            out.append(Drift(what="extra", name=name, expected=None, found=b.version))
        elif a.version != b.version:
            out.append(Drift(what="version", name=name, expected=a.version, found=b.version))
        elif (name not in rebuilt and a.tags and b.tags
              and set(a.tags) != set(b.tags)):
            out.append(Drift(what="wheel", name=name, expected=", ".join(sorted(a.tags)),
                             found=", ".join(sorted(b.tags))))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# the interpreter


@dataclass(frozen=True, slots=True, kw_only=True)
class Interpreter:
    path: str
    version: str
    implementation: str


_PROBE = ("import platform, sys; print(platform.python_version(), sys.implementation.name)")


def _probe(path: str, run: Callable[[Sequence[str]], RunResult]) -> Interpreter | None:
    try:
        proc = run([path, "-c", _PROBE])
    except (CommandNotFound, CommandTimeout, HostError):
        return None
    parts = proc.stdout.split()
    if proc.returncode != 0 or len(parts) != 2:
        return None
    return Interpreter(path=path, version=parts[0], implementation=parts[1])


def _run_plain(argv: Sequence[str]) -> RunResult:
    return LocalHost().run(list(argv), timeout=PROBE_TIMEOUT_S)


def find_python(version: str, implementation: str = "cpython", *, explicit: str | None = None,
                which: Callable[[str], str | None] = shutil.which,
                run: Callable[[Sequence[str]], RunResult] = _run_plain) -> tuple[Interpreter, str | None]:
    """The snapshot's interpreter on this machine: ``explicit`` (--python) or the first of
    python3.X, python3, python and envsnap's own with exactly ``version``, else one with the
    same major.minor (and a note saying the patch differs). Raises RestoreError naming what
    is missing."""
    minor = rules.major_minor(version) or version
    names = [explicit] if explicit else [f"python{minor}", f"python{minor.split('.')[0]}",
                                         "python", sys.executable]
    seen: list[Interpreter] = []
    for name in dict.fromkeys(names):
        path = name if os.sep in name else which(name)
        if path is None:
            continue
        found = _probe(path, run)
        if found is None or found.implementation != implementation:
            continue
        seen.append(found)
        if found.version == version:
            return found, None
    same = [i for i in seen if rules.major_minor(i.version) == minor]
    if same:
        return same[0], (f"no Python {version} here: using {same[0].version} at {same[0].path} "
                         "(the patch differs: reported as drift)")
    looked = ", ".join(names if explicit else [*names[:-1], "envsnap's own"])
    have = ", ".join(sorted({i.version for i in seen})) or "none"
    raise RestoreError(f"the snapshot needs {implementation} {version} (or {minor}.x), not on "
                       f"this machine (looked for {looked}; found {have}): install it, or pass "
                       "--python PATH")


# ---------------------------------------------------------------------------------------------
# installing


def find_uv(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """uv on PATH, or the one the ``uv`` wheel put beside envsnap's interpreter."""
    found = which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _requirements(lock: HashedLock) -> str:
    """``name==version --hash=...`` lines only: the files come from the wheelhouse."""
    lines = []
    for pin in sorted(lock.pins, key=lambda p: p.name):
        hashes = " ".join(f"--hash=sha256:{h}" for h in sorted({f.sha256 for f in pin.files}))
        lines.append(f"{pin.name}=={pin.version} {hashes}")
    return "\n".join(lines) + "\n"


def _check(proc: RunResult, what: str) -> None:
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        # pip prints "ERROR: ...", uv "error: ..." (or "\u00d7 ..." for a failed build).
        errors = [ln for ln in lines if ln.lower().startswith(("error", "\u00d7"))]
        tail = (errors or lines or [f"exit {proc.returncode}"])[-1]
        raise RestoreError(f"{what} failed: {scrub(tail)}")


def _isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = pip_env()  # no pip configuration: the wheelhouse is the only source
    env = {k: v for k, v in env.items() if not k.startswith("UV_")}
    env.update({"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"})
    env.pop("VIRTUAL_ENV", None)
    env.update(extra or {})
    return env


def _install(interp: Interpreter, venv: Path, wheelhouse: Path, requirements: Path,
             installer: str, uv: str | None, lock: HashedLock, reporter: Reporter) -> None:
    host = LocalHost(environ=_isolated_env())

    def run(argv: Sequence[str], what: str) -> None:
        try:
            proc = host.run(list(argv), timeout=INSTALL_TIMEOUT_S)
        except (CommandNotFound, CommandTimeout, HostError) as exc:
            raise RestoreError(f"{what} failed: {exc}") from None
        _check(proc, what)

    python = str(venv / "bin" / "python")
    if installer == "uv":
        assert uv is not None
        reporter.info(f"creating {venv} with Python {interp.version} (uv)")
        run([uv, "venv", "--no-config", "--quiet", "--python", interp.path, str(venv)], "uv venv")
        reporter.info(f"installing {len(lock.pins)} package(s) with uv, --require-hashes")
        run([uv, "pip", "install", "--no-config", "--quiet", "--python", python, "--no-index",
             "--find-links", str(wheelhouse), "--require-hashes", "--no-deps",
             "--only-binary", ":all:", "-r", str(requirements)], "uv pip install")
        return
    reporter.info(f"creating {venv} with Python {interp.version} (venv)")
    run([interp.path, "-m", "venv", str(venv)], "python -m venv")
    reporter.info(f"installing {len(lock.pins)} package(s) with pip, --require-hashes")
    run([python, "-m", "pip", "install", "--isolated", "--no-input", "--no-index",
         "--find-links", str(wheelhouse), "--require-hashes", "--no-deps",
         "--only-binary=:all:", "-r", str(requirements)], "pip install")
    # ensurepip seeded pip (and setuptools before 3.12): remove the ones the snapshot lacks.
    # Those the snapshot has but no source had (tools_missing) stay: the venv's own copy is
    # the nearest there is, and a version that differs is reported as drift.
    present = {p.name for p in lock.pins} | {u.name for u in lock.tools_missing}
    absent = [t for t in ("setuptools", "wheel") if t not in present]
    if absent:
        run([python, "-m", "pip", "uninstall", "--isolated", "--yes", "--quiet", *absent],
            "pip uninstall")
    if "pip" not in present:
        run([python, "-m", "pip", "uninstall", "--isolated", "--yes", "--quiet", "pip"],
            "pip uninstall pip")


def _empty_or_absent(path: Path) -> bool:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        return False
    return not path.exists() or not any(path.iterdir())


# Deleting a venv's thousands of files takes 0.5 s on an idle disk and several seconds on a busy
# one: longer than an interrupted restore may take to end (1 s). So on Ctrl-C what the run
# wrote is renamed away at once (atomic, in the same folder) and deleted by a detached process.
_DELETE = "import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)"


def _discard(venv: Path, preexisting: bool, scratch: Path | None) -> None:
    """Ctrl-C: move the venv this run wrote (or, for a folder that was empty before, its
    contents) and the temporary wheelhouse into one hidden folder beside them, and remove that
    in the background; the removal is synchronous where a rename is not possible."""
    try:
        trash = Path(tempfile.mkdtemp(prefix=f".{venv.name}.envsnap-removing-", dir=venv.parent))
    except OSError:
        _remove(venv, preexisting)
        return
    moves = [] if not venv.exists() else (
        [(venv, trash / "venv")] if not preexisting else
        [(entry, trash / f"venv-{entry.name}") for entry in venv.iterdir()])
    if scratch is not None and scratch.exists():
        moves.append((scratch, trash / "wheels"))
    for old, new in moves:
        try:
            os.rename(old, new)
        except OSError:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    try:
        subprocess.Popen([sys.executable, "-c", _DELETE, str(trash)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # not ours to wait for: it outlives the command
    except OSError:
        _rmtree(trash)


def _remove(venv: Path, preexisting: bool) -> None:
    """Remove what this run wrote: the venv, or (for a folder that was empty before) its
    contents."""
    if not preexisting:
        shutil.rmtree(venv, ignore_errors=True)
        return
    for entry in venv.iterdir() if venv.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


CaptureFn = Callable[[str], Snapshot]


def _capture(python: str) -> Snapshot:
    # The venv as it is: PYTHONPATH and friends of this shell would add packages it lacks.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")}
    return capture(python=python, only={"python"}, host=LocalHost(environ=env))


def restore(lock_plan: LockPlan, venv: Path, *, python: str | None = None,
            wheelhouse: Path | None = None, offline: bool = False, settings: SettingsArg = None,
            installer: str = "auto", keep_on_drift: bool = False,
            progress: Reporter = SILENT, capture: CaptureFn = _capture,
            allow_build: bool = False) -> RestoreResult:
    """Create ``venv`` with the Python of the snapshot ``lock_plan`` was made from
    (lock.plan(), which checked it), install its hashed lock with
    ``--require-hashes --no-deps`` (uv when installed, else pip), capture it and compare.

    The wheels come from ``wheelhouse`` (downloaded, or built there first with
    ``allow_build``, unless ``offline``) or, without one, from a temporary wheelhouse beside
    the venv. A failure removes the venv it created; so does drift, unless ``keep_on_drift``.
    Without ``allow_build`` a source the snapshot names is refused (BuildRefused, exit 2)
    before anything runs.
    """
    if installer not in INSTALLERS:
        raise BadInputError(f"--installer {installer}: choose from {', '.join(INSTALLERS)}")
    if lock_plan.snapshot is None:
        raise ValueError("restore needs the plan lock.plan() made (it holds the snapshot)")
    py = lock_plan.snapshot.python
    if py is None:
        raise BadInputError("the snapshot has no Python environment to restore")
    if not _empty_or_absent(venv):
        raise BadInputError(f"--venv {venv}: exists and is not empty (restore never writes into "
                            "an existing environment)")
    if offline and wheelhouse is None:
        raise BadInputError("--offline needs --wheelhouse DIR holding every wheel")
    require_build_consent(lock_plan, wheelhouse, allow_build)
    uv = find_uv() if installer in ("auto", "uv") else None
    if installer == "uv" and uv is None:
        raise BadInputError("--installer uv: uv is not installed (pip install uv)")
    chosen = "uv" if uv is not None else "pip"
    interp, note = find_python(py.version, py.implementation or "cpython", explicit=python)
    notes = [note] if note else []
    for n in notes:
        progress.info(n)
    venv.parent.mkdir(parents=True, exist_ok=True)
    scratch = None if wheelhouse is not None else Path(tempfile.mkdtemp(
        prefix=".envsnap-wheels-", dir=venv.parent))
    preexisting = venv.exists()
    kept = True
    try:
        wh = wheelhouse or scratch
        assert wh is not None
        hashed = hash_from_wheelhouse(lock_plan, wh, progress=progress, offline=offline,
                                      settings=settings, allow_build=allow_build)
        for u in hashed.tools_missing:
            progress.info(f"warning: {u.name}=={u.version} not locked ({u.reason}); the new "
                          "venv keeps its own")
        if hashed.unlockable:
            names = "; ".join(f"{u.name}=={u.version}: {u.reason}" for u in hashed.unlockable)
            raise RestoreError(f"cannot restore: not locked: {names}")
        with tempfile.TemporaryDirectory(prefix="envsnap-restore-") as tmp:
            req = Path(tmp) / "requirements.txt"
            req.write_text(_requirements(hashed), encoding="utf-8")
            _install(interp, venv, wh, req, chosen, uv, hashed, progress)
        progress.info("capturing the restored environment")
        again = capture(str(venv / "bin" / "python"))
        if again.python is None:
            raise RestoreError(f"could not capture {venv}: {again.probes}")
        built = [p.name for p in hashed.pins if p.origin == "built"]
        drift = compare(py, again.python, built=built)
        if drift and not keep_on_drift:
            _remove(venv, preexisting)
            kept = False
        return RestoreResult(venv=venv, python=interp.version, installer=chosen,
                             packages=len(hashed.pins), drift=drift, kept=kept,
                             notes=tuple(notes))
    except KeyboardInterrupt:
        _discard(venv, preexisting, scratch)  # never a half-installed environment, at once
        scratch = None
        raise
    except BaseException:
        _remove(venv, preexisting)
        raise
    finally:
        if scratch is not None:
            _rmtree(scratch)


def _rmtree(path: Path) -> None:
    # A download thread stopped by Ctrl-C may still close its last partial file in there.
    for _ in range(3):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)
