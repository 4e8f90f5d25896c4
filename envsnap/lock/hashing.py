"""The one hashing edge: fetch or build wheels for a LockPlan and sha256 them (runs pip)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from ..errors import BadInputError, CommandNotFound, CommandTimeout, EnvsnapError, HostError
from ..host import LocalHost, RunResult
from ..redact import redact_text, redact_url
from .plan import LockPlan, Pin

PIP_TIMEOUT_S = 1800.0
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedFile:
    filename: str
    sha256: str
    size: int | None = None
    url: str | None = None  # where an index serves it (redacted); None for wheelhouse files


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPin:
    name: str
    version: str
    origin: str  # index | wheelhouse | built | direct
    files: tuple[LockedFile, ...]
    index: str | None = None
    url: str | None = None  # direct URL requirement (name @ url)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unlockable:
    name: str
    version: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HashedLock:
    """A LockPlan with every pin's hashes, or the reason it could not be locked."""

    plan: LockPlan
    pins: tuple[LockedPin, ...]
    unlockable: tuple[Unlockable, ...]
    policy: str  # "wheelhouse" (every compatible wheel found there) | "index" (pip's choice)

    def subset(self, names: Iterable[str]) -> HashedLock:
        keep = set(names)
        return replace(self, pins=tuple(p for p in self.pins if p.name in keep),
                       unlockable=tuple(u for u in self.unlockable if u.name in keep))


class LockError(EnvsnapError):
    """pip could not fetch or build what the lock needs."""


ProgressFn = Callable[[str], None]


def _silent(_msg: str) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# pip, isolated from this machine's configuration


def pip_env() -> dict[str, str]:
    """The environment pip runs in: machine-wide and user config ignored (PIP_CONFIG_FILE=
    os.devnull skips every config file; --isolated alone still reads the global one) and no
    PIP_* variable, so nothing of this machine reaches a lockfile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1"})
    return env


def _run_pip(pip: Sequence[str], args: Sequence[str]) -> RunResult:
    # The Host seam runs it (timeout, named outcomes); this edge only says what a failure means.
    try:
        return LocalHost(environ=pip_env()).run([*pip, "--isolated", *args], timeout=PIP_TIMEOUT_S)
    except CommandNotFound:
        raise LockError(f"cannot run pip ({pip[0]} not found)") from None
    except CommandTimeout:
        raise LockError(f"pip ran past {PIP_TIMEOUT_S:.0f}s: {' '.join(args[:2])}") from None
    except HostError as exc:
        raise LockError(f"cannot run pip ({exc})") from None


# An absolute path of this machine inside pip's message (not the path part of a URL).
_ABS_PATH = re.compile(r"(?<![\w:/.])/[^\s'\"]+")


def scrub(text: str) -> str:
    """One line, credentials redacted, this machine's absolute paths hidden: safe to write."""
    return _ABS_PATH.sub("<path>", redact_text(" ".join(text.split())))


def _last_error(proc: RunResult) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return scrub((errors or lines or [f"pip exited {proc.returncode}"])[-1])


def _index_args(plan: LockPlan) -> list[str]:
    args = ["--index-url", plan.index_url]
    for url in plan.extra_index_urls:
        args += ["--extra-index-url", url]
    return args


def _target_args(plan: LockPlan) -> list[str]:
    """--platform/--python-version/--abi so pip picks the snapshot's wheels, not this host's."""
    if not plan.python_version:
        return []
    args = ["--python-version", plan.python_minor, "--implementation", "cp"]
    if plan.abi:
        args += ["--abi", plan.abi]
    for plat in plan.platforms:
        args += ["--platform", plat]
    return args


def target_tags(plan: LockPlan) -> frozenset[Tag]:
    """Every wheel tag the snapshot's interpreter accepts (PEP 425 order irrelevant here)."""
    if not plan.python_version:
        return frozenset()
    major, minor = (int(x) for x in plan.python_version.split(".")[:2])
    platforms = list(plan.platforms) or None
    abis = [plan.abi] if plan.abi else None
    tags = set(cpython_tags((major, minor), abis=abis, platforms=platforms))
    tags.update(compatible_tags((major, minor), platforms=platforms))
    return frozenset(tags)


# ---------------------------------------------------------------------------------------------
# hashing


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _key(name: str, version: str) -> tuple[str, str]:
    return canonicalize_name(name), canonicalize_version(version, strip_trailing_zero=False)


def scan_wheelhouse(directory: Path) -> dict[tuple[str, str], list[Path]]:
    found: dict[tuple[str, str], list[Path]] = {}
    for entry in sorted(directory.iterdir()) if directory.is_dir() else ():
        if not entry.name.endswith(".whl") or not entry.is_file():
            continue
        try:
            name, version, _build, _tags = parse_wheel_filename(entry.name)
        except InvalidWheelFilename:
            continue
        found.setdefault(_key(name, str(version)), []).append(entry)
    return found


def _compatible(path: Path, tags: frozenset[Tag]) -> bool:
    if not tags:
        return True
    return bool(parse_wheel_filename(path.name)[3] & tags)


def _requirement_line(pin: Pin) -> str:
    if pin.kind == "direct" and pin.url:
        return f"{pin.name} @ {pin.url}"
    return f"{pin.name}=={pin.version}"


def _download(plan: LockPlan, pins: Sequence[Pin], dest: Path, pip: Sequence[str]
              ) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="envsnap-lock-") as tmp:
        reqs = Path(tmp) / "pins.txt"
        reqs.write_text("".join(_requirement_line(p) + "\n" for p in pins), encoding="utf-8")
        return _run_pip(pip, ["download", "--no-deps", "--only-binary=:all:", "--dest", str(dest),
                              *_index_args(plan), *_target_args(plan), "-r", str(reqs)])


def _local_source(source: str) -> Path | None:
    """What a build source names on this machine: a plain path, or the repository of a
    ``git+file:///repo@commit`` URL; None for a source fetched over the network."""
    if "://" not in source and "+" not in source.split("/")[0]:
        return Path(source)
    scheme, _, rest = source.partition("://")
    if not scheme.endswith("+file"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(f"file://{rest}").path)
    return Path(path.rsplit("@", 1)[0])  # the plan always appends @<commit>


def _build(plan: LockPlan, pin: Pin, dest: Path, pip: Sequence[str], *, offline: bool
           ) -> str | None:
    """Build a wheel for an editable / local / VCS dist into dest; the error text on failure.

    The build backend comes from the wheelhouse (``--find-links``) or the plan's indexes,
    never from this machine's pip configuration; ``offline``: from the wheelhouse only.
    """
    source = pin.build_from
    if source is None:
        return "its source location was not recorded"
    if source.startswith(("$", "~")):
        return f"its source was recorded anonymised ({source.split('/')[0]}/...)"
    local = _local_source(source)
    if local is not None and not local.exists():
        what = "directory" if local.suffix not in (".whl", ".zip", ".gz") else "file"
        return f"its source {what} is not on this machine"
    if local is not None and local.suffix == ".whl" and "://" not in source:
        shutil.copy2(local, dest / local.name)
        return None
    if local is None and offline:
        return "its source is fetched over the network: lock without --offline to build it"
    before = set(scan_wheelhouse(dest))
    where = ["--no-index"] if offline else _index_args(plan)
    proc = _run_pip(pip, ["wheel", "--no-deps", "--wheel-dir", str(dest), "--find-links", str(dest),
                          *where, source])
    if proc.returncode != 0:
        return f"pip wheel failed: {_last_error(proc)}"
    after = set(scan_wheelhouse(dest))
    if _key(pin.name, pin.version) in after:
        return None
    # The source changed since the capture: its wheel is not the version that was installed.
    name = canonicalize_name(pin.name)
    built = sorted(v for n, v in after - before if n == name)
    if built:
        return f"its source now builds version {', '.join(built)}, not the captured {pin.version}"
    return f"pip wheel built no {pin.name} {pin.version} wheel from its source"


def _hash_many(paths: Sequence[Path]) -> dict[Path, str]:
    # hashlib releases the GIL on large buffers, so threads overlap reading and hashing.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) + 2)) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths), strict=True))


def hash_from_wheelhouse(plan: LockPlan, wheelhouse: Path, *, pip: Sequence[str] | None = None,
                         progress: ProgressFn = _silent, offline: bool = False) -> HashedLock:
    """Air-gapped mode: every pin's wheels in ``wheelhouse`` (downloaded or built there first
    when missing, unless ``offline``), hashed from the files themselves."""
    pip = list(pip or (sys.executable, "-m", "pip"))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    tags = target_tags(plan)

    def present() -> dict[tuple[str, str], list[Path]]:
        return {k: [p for p in v if _compatible(p, tags)]
                for k, v in scan_wheelhouse(wheelhouse).items()}

    have = present()
    missing = [p for p in plan.pins if not have.get(_key(p.name, p.version))]
    reasons: dict[str, str] = {}
    if missing:
        fetch = [p for p in missing if p.kind in ("index", "direct")] if not offline else []
        if fetch:
            progress(f"downloading {len(fetch)} wheel(s) into the wheelhouse")
            proc = _download(plan, fetch, wheelhouse, pip)
            if proc.returncode != 0:
                # One bad pin fails the batch; retry one by one to name the culprits.
                for pin in fetch:
                    one = _download(plan, [pin], wheelhouse, pip)
                    if one.returncode != 0:
                        reasons[pin.name] = f"no wheel for the target: {_last_error(one)}"
        for pin in (p for p in missing if p.kind == "build"):
            progress(f"building a wheel for {pin.name} {pin.version}")
            error = _build(plan, pin, wheelhouse, pip, offline=offline)
            if error:
                reasons[pin.name] = error
        have = present()
    files = sorted({f for pin in plan.pins for f in have.get(_key(pin.name, pin.version), ())})
    progress(f"hashing {len(files)} wheel(s)")
    digests = _hash_many(files)
    pins: list[LockedPin] = []
    unlockable: list[Unlockable] = []
    for pin in plan.pins:
        found = have.get(_key(pin.name, pin.version))
        if not found:
            why = reasons.get(pin.name) or (
                "not in the wheelhouse" + (" (offline)" if offline else ""))
            if pin.kind == "build" and pin.name not in reasons:
                why = "a local/editable/VCS install: build it into the wheelhouse"
            unlockable.append(Unlockable(name=pin.name, version=pin.version, reason=why))
            continue
        pins.append(LockedPin(
            name=pin.name, version=pin.version,
            origin="built" if pin.kind == "build" else "wheelhouse",
            index=pin.index,
            files=tuple(LockedFile(filename=f.name, sha256=digests[f], size=f.stat().st_size)
                        for f in found),
        ))
    return HashedLock(plan=plan, pins=tuple(pins), unlockable=tuple(unlockable),
                      policy="wheelhouse")


def _report_files(report: Mapping[str, object]) -> dict[str, LockedFile]:
    out: dict[str, LockedFile] = {}
    for item in report.get("install", []) or []:  # type: ignore[attr-defined]
        meta = item.get("metadata", {})
        info = item.get("download_info", {})
        hashes = info.get("archive_info", {}).get("hashes", {})
        url = info.get("url")
        sha = hashes.get("sha256")
        if not (url and sha):
            continue
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        out[canonicalize_name(meta.get("name", ""))] = LockedFile(
            filename=filename, sha256=sha, url=redact_url(url.split("#", 1)[0]))
    return out


def hash_from_index(plan: LockPlan, *, pip: Sequence[str] | None = None,
                    progress: ProgressFn = _silent) -> HashedLock:
    """Online mode: pip's installation report (format version 1, stable since pip 23.0) for
    the exact pins, ``--dry-run --no-deps``: the index's hash of the file pip would install on
    the target, without resolving and (with PEP 658 metadata) without downloading wheels."""
    pip = list(pip or (sys.executable, "-m", "pip"))
    fetch = [p for p in plan.pins if p.kind == "index"]
    pins: list[LockedPin] = []
    unlockable: list[Unlockable] = []
    files: dict[str, LockedFile] = {}
    errors: dict[str, str] = {}
    if fetch:
        progress(f"asking the index for {len(fetch)} pinned wheel(s)")
        files, errors = _report(plan, fetch, pip)
    for pin in plan.pins:
        if pin.kind == "direct" and pin.url and pin.sha256:
            name = urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path.rsplit("/", 1)[-1])
            pins.append(LockedPin(name=pin.name, version=pin.version, origin="direct",
                                  url=pin.url, files=(LockedFile(filename=name, sha256=pin.sha256,
                                                                 url=pin.url),)))
        elif pin.kind == "build":
            unlockable.append(Unlockable(
                name=pin.name, version=pin.version,
                reason="a local/editable/VCS install: lock with --wheelhouse DIR to build it"))
        elif pin.name in files:
            pins.append(LockedPin(name=pin.name, version=pin.version, origin="index",
                                  index=pin.index, files=(files[pin.name],)))
        else:
            unlockable.append(Unlockable(
                name=pin.name, version=pin.version,
                reason=errors.get(pin.name, "the index gave no sha256 for it")))
    return HashedLock(plan=plan, pins=tuple(pins), unlockable=tuple(unlockable), policy="index")


def _report(plan: LockPlan, pins: Sequence[Pin], pip: Sequence[str]
            ) -> tuple[dict[str, LockedFile], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="envsnap-lock-") as tmp:
        reqs = Path(tmp) / "pins.txt"
        report = Path(tmp) / "report.json"
        reqs.write_text("".join(_requirement_line(p) + "\n" for p in pins), encoding="utf-8")
        args = ["install", "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:",
                "--quiet", "--target", str(Path(tmp) / "t"), "--report", str(report),
                *_index_args(plan), *_target_args(plan)]
        proc = _run_pip(pip, [*args, "-r", str(reqs)])
        if proc.returncode == 0:
            return _report_files(json.loads(report.read_text("utf-8"))), {}
        if len(pins) == 1:
            return {}, {pins[0].name: f"not on the index for the target: {_last_error(proc)}"}
    files: dict[str, LockedFile] = {}
    errors: dict[str, str] = {}
    for pin in pins:  # name the pins that failed the batch
        f, e = _report(plan, [pin], pip)
        files.update(f)
        errors.update(e)
    return files, errors


def hash_pins(plan: LockPlan, *, wheelhouse: Path | None = None, offline: bool = False,
              pip: Sequence[str] | None = None, progress: ProgressFn = _silent) -> HashedLock:
    if wheelhouse is not None:
        return hash_from_wheelhouse(plan, wheelhouse, pip=pip, progress=progress, offline=offline)
    if offline:
        raise BadInputError("--offline needs --wheelhouse DIR holding every wheel")
    return hash_from_index(plan, pip=pip, progress=progress)
