"""The one hashing edge: each pin's sha256 from the index's Simple API, or from wheels
downloaded (or built, with pip) into a wheelhouse."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from ..errors import BadInputError, CommandNotFound, CommandTimeout, EnvsnapError, HostError
from ..host import LocalHost, RunResult
from ..progress import SILENT, Reporter, Transfer
from ..redact import redact_text
from .index import (
    IndexClient,
    IndexFile,
    IndexUnreachable,
    Source,
    Target,
    choose,
    source,
    sources,
    tag_ranks,
    well_formed_sha256,
)
from .plan import LockPlan, Pin
from .settings import IndexSettings

PIP_TIMEOUT_S = 1800.0
FAST_ANSWER_S = 0.02
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedFile:
    filename: str
    sha256: str
    size: int | None = None
    # Where the index the lockfile names serves it; None for wheelhouse files and for files
    # found through a mirror or find-links location (never written: machine-local).
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPin:
    name: str
    version: str
    origin: str  # index | wheelhouse | built | direct
    files: tuple[LockedFile, ...]
    index: str | None = None
    url: str | None = None  # direct URL requirement (name @ url)
    via: str | None = None  # the mirror or find-links location it was found through (shown)


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


ProgressFn = Callable[[str], None]  # kept for callers of the 0.1 API: Reporter.info's shape


def _silent(_msg: str) -> None:
    return None


class _InfoOnly:
    """A plain ``progress(text)`` callable seen as a Reporter (no download display)."""

    def __init__(self, fn: ProgressFn) -> None:
        self._fn = fn

    def info(self, text: str) -> None:
        self._fn(text)

    def transfer(self, name: str, total: int | None) -> Transfer:
        return SILENT.transfer(name, total)


def _reporter(progress: Reporter | ProgressFn | None) -> Reporter:
    if progress is None:
        return SILENT
    if hasattr(progress, "transfer"):
        return cast(Reporter, progress)
    return _InfoOnly(progress)


SettingsArg = IndexSettings | Callable[[], IndexSettings] | None


def _settings(value: SettingsArg) -> IndexSettings:
    """Settings given, or read now from a factory (the user's configuration is read only
    when the network is needed)."""
    if value is None:
        return IndexSettings()
    return value if isinstance(value, IndexSettings) else value()


# ---------------------------------------------------------------------------------------------
# pip (builds only), isolated from this machine's configuration except how it reaches indexes


def pip_env(settings: IndexSettings | None = None, *, indexes: Sequence[Source] = (),
            offline: bool = False) -> dict[str, str]:
    """The environment pip runs in: every configuration file and PIP_* variable removed
    (PIP_CONFIG_FILE=os.devnull skips every file; --isolated alone still reads the global
    one), then only how to reach indexes put back from ``settings`` (index URLs with their
    credentials go through the environment, never the command line others can read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1"})
    if settings is None or offline:
        return env
    urls = [_with_auth(s) for s in indexes if s.kind == "index"]
    links = [_with_auth(s) for s in indexes if s.kind == "links"]
    if urls:
        env["PIP_INDEX_URL"] = urls[0]
        if urls[1:]:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(urls[1:])
    else:
        env["PIP_NO_INDEX"] = "1"
    if links:
        env["PIP_FIND_LINKS"] = " ".join(links)
    for var, value in (("PIP_CERT", settings.cert), ("PIP_CLIENT_CERT", settings.client_cert),
                       ("PIP_PROXY", settings.proxy)):
        if value:
            env[var] = value
    if settings.trusted_hosts:
        env["PIP_TRUSTED_HOST"] = " ".join(settings.trusted_hosts)
    return env


def _with_auth(src: Source) -> str:
    if src.auth is None or "://" not in src.url:
        return src.url
    user, password = (urllib.parse.quote(x, safe="") for x in src.auth)
    scheme, rest = src.url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def _run_pip(pip: Sequence[str], args: Sequence[str], env: Mapping[str, str]) -> RunResult:
    # The Host seam runs it (timeout, named outcomes); this edge only says what a failure means.
    try:
        return LocalHost(environ=env).run([*pip, "--isolated", *args], timeout=PIP_TIMEOUT_S)
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


def target(plan: LockPlan) -> Target:
    """The snapshot's interpreter and the wheel tags it accepts, best first."""
    return Target(python_version=plan.python_version,
                  ranks=tag_ranks(plan.python_version, plan.abi, plan.platforms,
                                  plan.implementation) if plan.python_version else {})


def target_tags(plan: LockPlan) -> frozenset[Tag]:
    """Every wheel tag the snapshot's interpreter accepts (order irrelevant here)."""
    return frozenset(target(plan).ranks)


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


def _hash_many(paths: Sequence[Path]) -> dict[Path, str]:
    # hashlib releases the GIL on large buffers, so threads overlap reading and hashing.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) + 2)) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths), strict=True))


# ---------------------------------------------------------------------------------------------
# the index: every pin's file from the Simple API, concurrently


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """The file chosen for a pin and where it was found."""

    file: IndexFile
    source: Source
    sha256: str | None  # as served; None when the source gave none (hashed from the bytes)


def _written(plan: LockPlan) -> frozenset[str]:
    return frozenset(u.rstrip("/") for u in (plan.index_url, *plan.extra_index_urls))


def network_sources(plan: LockPlan, settings: IndexSettings) -> list[Source]:
    """Where this machine looks, in order: the configured (or flagged) indexes, else the
    lockfile's own; then find-links. Local-label indexes are asked first for their pins."""
    labels = {p.index for p in plan.pins if p.index}
    own = [plan.index_url, *(u for u in plan.extra_index_urls if u not in labels)]
    return sources(settings, indexes=own)


def _sources_for(pin: Pin, base: Sequence[Source], settings: IndexSettings) -> list[Source]:
    if pin.index and not settings.no_index:
        label = source(pin.index, "index")
        return [label, *(s for s in base if s.url != label.url)]
    return list(base)


def _describe_target(plan: LockPlan) -> str:
    plats = [p for p in plan.platforms if not p.startswith("manylinux_2_")]
    shown = ", ".join(plats[:3]) + (", ..." if len(plats) > 3 else "")
    return f"Python {plan.python_minor or '?'}" + (f", {plan.abi}" if plan.abi else "") + (
        f", {shown}" if shown else "")


def locate(plan: LockPlan, pins: Sequence[Pin], client: IndexClient, *,
           reporter: Reporter = SILENT) -> dict[str, Located | str]:
    """name -> the chosen file, or why none was found. The first pin is asked alone (an index
    that does not answer is named after one request, not after every pin timed out), the rest
    on a bounded thread pool. Raises IndexUnreachable for an index that does not answer,
    refuses access or fails (a label index that does not answer only fails its own pins)."""
    settings = client.settings
    base = network_sources(plan, settings)
    tgt = target(plan)
    describe = _describe_target(plan)

    def one(pin: Pin) -> Located | str:
        misses: list[str] = []
        for src in _sources_for(pin, base, settings):
            try:
                files = client.project_files(src, pin.name)
            except IndexUnreachable as exc:
                if src.url == (pin.index or "") and src not in base:
                    misses.append(str(exc))
                    continue
                raise
            if files is None:
                continue
            installed = plan.installed_tags.get(pin.name, ())
            chosen = choose(files, name=pin.name, version=pin.version, target=tgt,
                            installed=installed)
            if chosen is None:
                versions = sum(1 for f in files if _version_of(f.filename, pin.version))
                misses.append(f"{src.shown} has {versions} file(s) of {pin.version}, no wheel "
                              f"for {describe}" if versions else
                              f"{src.shown} has no {pin.version}")
                continue
            sha = well_formed_sha256(chosen.sha256)
            if chosen.sha256 is not None and sha is None:
                return f"{src.shown} served a malformed sha256 for {chosen.filename}"
            return Located(file=chosen, source=src, sha256=sha)
        where = ", ".join(s.shown for s in _sources_for(pin, base, settings)) or "no index"
        return "; ".join(misses) if misses else f"not found on {where}"

    if not pins:
        return {}
    if not base and not any(p.index for p in pins):
        raise BadInputError("no index to ask: the configuration sets no-index and no "
                            "find-links (pass --index-url or --find-links, or --wheelhouse)")
    reporter.info(f"asking {', '.join(s.shown for s in base) or 'the label indexes'} for "
                  f"{len(pins)} pinned wheel(s) ({settings.origin})")
    started = time.monotonic()
    found: dict[str, Located | str] = {pins[0].name: one(pins[0])}
    # Threads hide network latency; against an index that answers within a few milliseconds
    # (a local mirror) they only contend for the GIL, so a handful suffices.
    workers = client.workers if time.monotonic() - started > FAST_ANSWER_S else min(
        2, client.workers)
    rest = pins[1:]
    if rest:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="envsnap-index")
        try:
            futures: dict[Future[Located | str], Pin] = {pool.submit(one, p): p for p in rest}
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in done:
                if fut.exception() is not None:
                    raise fut.exception()  # type: ignore[misc]
            for fut, pin in futures.items():
                found[pin.name] = fut.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return found


def _version_of(filename: str, version: str) -> bool:
    return f"-{version}-" in filename or f"-{version}." in filename


def _locked_file(loc: Located, sha: str, written: frozenset[str]) -> LockedFile:
    portable = loc.source.kind == "index" and loc.source.url in written
    return LockedFile(filename=loc.file.filename, sha256=sha, size=loc.file.size,
                      url=loc.file.url if portable else None)


def _via(loc: Located, written: frozenset[str]) -> str | None:
    if loc.source.kind == "index" and loc.source.url in written:
        return None
    return loc.source.shown


def hash_from_index(plan: LockPlan, *, settings: SettingsArg = None,
                    client: IndexClient | None = None,
                    progress: Reporter | ProgressFn | None = None) -> HashedLock:
    """Online mode: each pin's file and sha256 from the Simple API, no resolver (the versions
    are exact) and no download (a source that serves no sha256, such as a find-links folder,
    has the chosen file hashed from its bytes)."""
    reporter = _reporter(progress)
    fetch = [p for p in plan.pins if p.kind == "index"]
    owned = client is None
    if client is None:
        client = IndexClient(_settings(settings) if fetch else IndexSettings())
    written = _written(plan)
    try:
        found = locate(plan, fetch, client, reporter=reporter)
        digests: dict[str, str] = {}
        for name, loc in found.items():
            if isinstance(loc, Located):
                digests[name] = loc.sha256 or client.stream(loc.source, loc.file, None)
    finally:
        if owned:
            client.close()
    pins: list[LockedPin] = []
    unlockable: list[Unlockable] = []
    for pin in plan.pins:
        if pin.kind == "direct" and pin.url and pin.sha256:
            pins.append(_direct(pin))
        elif pin.kind == "build":
            unlockable.append(Unlockable(name=pin.name, version=pin.version, reason=BUILD_REASON))
        else:
            loc = found.get(pin.name, "not looked up")
            if isinstance(loc, Located):
                pins.append(LockedPin(name=pin.name, version=pin.version, origin="index",
                                      index=pin.index, via=_via(loc, written),
                                      files=(_locked_file(loc, digests[pin.name], written),)))
            else:
                unlockable.append(Unlockable(name=pin.name, version=pin.version,
                                             reason=scrub(loc)))
    return HashedLock(plan=plan, pins=tuple(pins), unlockable=tuple(unlockable), policy="index")


BUILD_REASON = "a local/editable/VCS install: lock with --wheelhouse DIR to build it"


def _direct(pin: Pin) -> LockedPin:
    assert pin.url and pin.sha256
    name = urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path.rsplit("/", 1)[-1])
    return LockedPin(name=pin.name, version=pin.version, origin="direct", url=pin.url,
                     files=(LockedFile(filename=name, sha256=pin.sha256, url=pin.url),))


# ---------------------------------------------------------------------------------------------
# the wheelhouse


def _download(client: IndexClient, loc: Located, dest: Path, reporter: Reporter) -> None:
    """Stream the chosen file into ``dest`` under a temporary name, check its sha256 against
    the index's, then rename it into place: a broken download never looks like a wheel."""
    final = dest / loc.file.filename
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{loc.file.filename}.", suffix=".part")
    transfer = reporter.transfer(loc.file.filename, loc.file.size)
    ok = False
    try:
        with os.fdopen(fd, "wb") as sink:
            got = client.stream(loc.source, loc.file, sink, transfer)
        if loc.sha256 is not None and got != loc.sha256:
            raise LockError(f"{loc.file.filename} from {loc.source.shown} does not match the "
                            f"sha256 the index states ({got[:12]}... != {loc.sha256[:12]}...)")
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        ok = True
    finally:
        transfer.close(ok)
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _download_direct(client: IndexClient, pin: Pin, dest: Path, reporter: Reporter) -> str | None:
    assert pin.url is not None
    filename = urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return "a remote source archive: envsnap locks wheels; build it into the wheelhouse"
    origin = urllib.parse.urlsplit(pin.url)
    src = Source(url=f"{origin.scheme}://{origin.netloc}", kind="index")
    loc = Located(file=IndexFile(filename=filename, url=pin.url, sha256=pin.sha256),
                  source=src, sha256=pin.sha256)
    _download(client, loc, dest, reporter)
    return None


def _local_source(source_ref: str) -> Path | None:
    """What a build source names on this machine: a plain path, or the repository of a
    ``git+file:///repo@commit`` URL; None for a source fetched over the network."""
    if "://" not in source_ref and "+" not in source_ref.split("/")[0]:
        return Path(source_ref)
    scheme, _, rest = source_ref.partition("://")
    if not scheme.endswith("+file"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(f"file://{rest}").path)
    return Path(path.rsplit("@", 1)[0])  # the plan always appends @<commit>


def build_requirements(project: Path) -> list[str]:
    """What a PEP 517 build of ``project`` installs first: ``[build-system] requires`` (PEP 518;
    ``setuptools>=40.8.0`` without one), plus ``wheel`` for setuptools, whose
    get_requires_for_build_wheel asks for it before setuptools 70.1."""
    from ..io import parse_toml

    requires: list[str] = ["setuptools>=40.8.0"]
    backend = "setuptools.build_meta:__legacy__"
    try:
        data = parse_toml((project / "pyproject.toml").read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        data = {}
    system = data.get("build-system")
    if isinstance(system, Mapping):
        reqs = system.get("requires")
        if isinstance(reqs, list) and all(isinstance(r, str) for r in reqs):
            requires = list(reqs)
        if isinstance(system.get("build-backend"), str):
            backend = system["build-backend"]
    if backend.startswith("setuptools") and not any(
            canonicalize_name(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) == "wheel"
            for r in requires):
        requires.append("wheel")
    return requires


_MISSING = re.compile(r"No matching distribution found for ([^\s(]+)")


def _build(pin: Pin, dest: Path, pip: Sequence[str], *, env: Mapping[str, str],
           offline: bool) -> str | None:
    """Build a wheel for an editable / local / VCS dist into dest; the error text on failure.

    The build backend comes from the wheelhouse (``--find-links``) or the indexes this machine
    reaches, never from the rest of this machine's pip configuration; ``offline``: from the
    wheelhouse only.
    """
    source_ref = pin.build_from
    if source_ref is None:
        return "its source location was not recorded"
    if source_ref.startswith(("$", "~")):
        return f"its source was recorded anonymised ({source_ref.split('/')[0]}/...)"
    local = _local_source(source_ref)
    if local is not None and not local.exists():
        what = "directory" if local.suffix not in (".whl", ".zip", ".gz") else "file"
        return f"its source {what} is not on this machine"
    if local is not None and local.suffix == ".whl" and "://" not in source_ref:
        shutil.copy2(local, dest / local.name)
        return None
    if local is None and offline:
        return "its source is fetched over the network: lock without --offline to build it"
    before = set(scan_wheelhouse(dest))
    where = ["--no-index"] if offline else []
    proc = _run_pip(pip, ["wheel", "--no-deps", "--wheel-dir", str(dest), "--find-links",
                          str(dest), *where, source_ref], env)
    if proc.returncode != 0:
        missing = _MISSING.search(proc.stderr + proc.stdout)
        if missing and offline:
            need = missing.group(1)
            return (f"its build needs {need} (a PEP 517 build requirement), which is not in the "
                    f"wheelhouse: lock once without --offline (that adds the build tools) or "
                    f"'pip download {need} -d WHEELHOUSE'")
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


def _add_build_tools(builds: Sequence[Pin], dest: Path, pip: Sequence[str],
                     env: Mapping[str, str], reporter: Reporter) -> None:
    """Put what the local sources' PEP 517 builds need into the wheelhouse, so a later
    ``--offline`` lock or image build can build them with no index."""
    wanted: list[str] = []
    for pin in builds:
        local = _local_source(pin.build_from or "")
        if local is not None and local.is_dir():
            wanted += [r for r in build_requirements(local) if r not in wanted]
    if not wanted:
        return
    reporter.info(f"adding the build requirements {', '.join(wanted)} to the wheelhouse")
    proc = _run_pip(pip, ["download", "--only-binary=:all:", "--dest", str(dest), *wanted], env)
    if proc.returncode != 0:
        reporter.info(f"could not add the build requirements: {_last_error(proc)} (an "
                      "--offline build from this wheelhouse may miss them)")


def hash_from_wheelhouse(plan: LockPlan, wheelhouse: Path, *, pip: Sequence[str] | None = None,
                         progress: Reporter | ProgressFn | None = None, offline: bool = False,
                         settings: SettingsArg = None,
                         client: IndexClient | None = None) -> HashedLock:
    """Air-gapped mode: every pin's wheels in ``wheelhouse`` (downloaded or built there first
    when missing, unless ``offline``), hashed from the files themselves."""
    reporter = _reporter(progress)
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
        resolved = client.settings if client is not None else (
            IndexSettings() if offline else _settings(settings))
        owned = client is None and not offline
        client = client or (IndexClient(resolved) if not offline else None)
        try:
            if client is not None:
                _fetch_missing(plan, missing, wheelhouse, client, reporter, reasons)
            builds = [p for p in missing if p.kind == "build"]
            env = pip_env(resolved, indexes=network_sources(plan, resolved), offline=offline)
            if builds and not offline:
                _add_build_tools(builds, wheelhouse, pip, env, reporter)
            for pin in builds:
                reporter.info(f"building a wheel for {pin.name} {pin.version}")
                error = _build(pin, wheelhouse, pip, env=env, offline=offline)
                if error:
                    reasons[pin.name] = error
        finally:
            if owned and client is not None:
                client.close()
        have = present()
    files = sorted({f for pin in plan.pins for f in have.get(_key(pin.name, pin.version), ())})
    reporter.info(f"hashing {len(files)} wheel(s)")
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


def _fetch_missing(plan: LockPlan, missing: Sequence[Pin], dest: Path, client: IndexClient,
                   reporter: Reporter, reasons: dict[str, str]) -> None:
    """Download the chosen file of every missing index / direct pin into ``dest``."""
    index_pins = [p for p in missing if p.kind == "index"]
    found = locate(plan, index_pins, client, reporter=reporter) if index_pins else {}
    jobs: list[tuple[Pin, Located | None]] = []
    for pin in index_pins:
        loc = found[pin.name]
        if isinstance(loc, Located):
            jobs.append((pin, loc))
        else:
            reasons[pin.name] = f"no wheel for the target: {scrub(loc)}"
    jobs += [(p, None) for p in missing if p.kind == "direct" and p.url]
    if not jobs:
        return
    total = sum(loc.file.size or 0 for _p, loc in jobs if loc is not None)
    reporter.info(f"downloading {len(jobs)} wheel(s) into the wheelhouse"
                  + (f" ({total / 2**20:.1f} MiB)" if total else ""))

    def fetch(job: tuple[Pin, Located | None]) -> None:
        pin, loc = job
        if loc is None:
            why = _download_direct(client, pin, dest, reporter)
            if why:
                reasons[pin.name] = why
        else:
            _download(client, loc, dest, reporter)

    with ThreadPoolExecutor(max_workers=min(8, client.workers),
                            thread_name_prefix="envsnap-download") as pool:
        futures = [pool.submit(fetch, job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            raise failed[0]  # type: ignore[misc]


def hash_pins(plan: LockPlan, *, wheelhouse: Path | None = None, offline: bool = False,
              pip: Sequence[str] | None = None, progress: Reporter | ProgressFn | None = None,
              settings: SettingsArg = None) -> HashedLock:
    if wheelhouse is not None:
        return hash_from_wheelhouse(plan, wheelhouse, pip=pip, progress=progress,
                                    offline=offline, settings=settings)
    if offline:
        raise BadInputError("--offline needs --wheelhouse DIR holding every wheel")
    return hash_from_index(plan, settings=settings, progress=progress)
