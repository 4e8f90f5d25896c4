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
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar, cast

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from .. import tomlreader
from ..errors import BadInputError, CommandNotFound, CommandTimeout, EnvsnapError, HostError
from ..host import LocalHost, RunResult
from ..progress import SILENT, Reporter, Transfer
from ..redact import redact_text, redact_url
from .index import (
    Cancelled,
    IndexClient,
    IndexFile,
    IndexUnreachable,
    OffIndexRedirect,
    Source,
    Target,
    choose,
    source,
    sources,
    tag_ranks,
    well_formed_sha256,
)
from .plan import TOOLS, LockPlan, Pin
from .safety import is_safe_filename
from .settings import IndexSettings, is_trusted

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
    index: str | None = None  # the index the lockfile names for it, when not the primary
    url: str | None = None  # direct URL requirement (name @ url)
    via: str | None = None  # the mirror or find-links location it was found through (shown)
    # What ``via`` is, in words a lockfile may hold (never the URL or path itself):
    # "a find-links location of the pip configuration"; None when found where the lock says.
    via_note: str | None = None


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
    # pip / setuptools / wheel that no source has: a warning, not a failure (a new venv brings
    # its own installer); every other package missing is in ``unlockable``.
    tools_missing: tuple[Unlockable, ...] = ()

    def subset(self, names: Iterable[str]) -> HashedLock:
        keep = set(names)
        return replace(self, pins=tuple(p for p in self.pins if p.name in keep),
                       unlockable=tuple(u for u in self.unlockable if u.name in keep),
                       tools_missing=tuple(u for u in self.tools_missing if u.name in keep))


class LockError(EnvsnapError):
    """pip could not fetch or build what the lock needs."""


class BuildRefused(BadInputError):
    """A snapshot names sources this run would build on this machine, without consent."""

    def __init__(self, pins: Sequence[Pin]) -> None:
        self.pins = tuple(pins)
        names = ", ".join(f"{p.name} {p.version}" for p in self.pins)
        super().__init__(
            f"not building {len(self.pins)} source(s) the snapshot names ({names}): building "
            "runs the source's own code (its build backend) on this machine, and a snapshot is "
            "someone else's data. Review them, then pass --allow-build (or set allow-build = "
            "true in [tool.envsnap]); nothing was built, fetched or installed")


def describe_build(pin: Pin) -> str:
    """``payload 1.0: vcs git+https://host/repo@abc1234``: what would be built, and from where
    (credentials redacted), for the list a refusal shows."""
    where = redact_url(pin.build_from) if pin.build_from else "(location not recorded)"
    return f"{pin.name} {pin.version}: {pin.source_kind or 'source'} {where}"


def builds_needed(plan: LockPlan, wheelhouse: Path | None) -> tuple[Pin, ...]:
    """The snapshot-named sources a wheelhouse run would build (or copy) on this machine:
    every ``build`` pin whose wheel is not in ``wheelhouse`` yet (all of them without one)."""
    builds = [p for p in plan.pins if p.kind == "build"]
    if not builds or wheelhouse is None:
        return tuple(builds)
    tags = target_tags(plan)
    have = {k for k, paths in scan_wheelhouse(wheelhouse).items()
            if any(_compatible(p, tags) for p in paths)}
    return tuple(p for p in builds if _key(p.name, p.version) not in have)


def require_build_consent(plan: LockPlan, wheelhouse: Path | None, allow_build: bool) -> None:
    """Raise BuildRefused (exit 2) before anything runs when this run would build a source
    the snapshot names and the user did not pass --allow-build."""
    if allow_build:
        return
    needed = builds_needed(plan, wheelhouse)
    if needed:
        raise BuildRefused(needed)


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
    digests = each(sha256_file, paths, workers=min(8, (os.cpu_count() or 2) + 2),
                   name="envsnap-hash", cancel=threading.Event())
    return dict(zip(paths, digests, strict=True))


# ---------------------------------------------------------------------------------------------
# the index: every pin's file from the Simple API, concurrently


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """The file chosen for a pin and where it was found."""

    file: IndexFile
    source: Source
    sha256: str | None  # as served; None only from a local source (hashed from the bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Miss:
    """Why no file was chosen for a pin; ``absent``: no source has it (rather than refusing
    what it has), which for pip / setuptools / wheel is a warning only."""

    reason: str
    absent: bool = True


def _written(plan: LockPlan) -> frozenset[str]:
    return frozenset(u.rstrip("/") for u in (plan.index_url, *plan.extra_index_urls))


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where a run may go, decided before its first request: the user's indexes (or pip's
    default), the snapshot's only when the user allowed them, find-links; and whether the
    built-in index of a local-label build (download.pytorch.org/whl/cu121) is asked first."""

    base: tuple[Source, ...]
    labels: bool

    def for_pin(self, pin: Pin) -> list[Source]:
        if pin.index and self.labels:
            label = source(pin.index, "index", origin="built in: the index of "
                           f"+{pin.version.rpartition('+')[2]} builds")
            return [label, *(s for s in self.base if s.url != label.url)]
        return list(self.base)


def make_route(plan: LockPlan, settings: IndexSettings) -> Route:
    """The Route for ``plan`` under the user's ``settings``. A snapshot index over plain http
    needs the ``trusted-host`` pip would ask for, loopback included (a snapshot pointing at a
    service of this machine is the attack): BadInputError (exit 2) otherwise, said before any
    request."""
    snapshot = plan.snapshot_indexes if plan.use_snapshot_indexes else ()
    for url in snapshot:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "http" and not is_trusted(url, settings.trusted_hosts):
            host = parts.hostname or "?"
            raise BadInputError(
                f"--use-snapshot-indexes: the snapshot's index on {host} is plain http, which "
                f"pip uses only for a trusted-host: add 'trusted-host = {host}' to your pip "
                "configuration (or PIP_TRUSTED_HOST) if you trust it; nothing was contacted")
    # A configured index-url (or no-index) is the user's decision of where packages come from:
    # the built-in label indexes are then not asked, like PyPI.
    return Route(base=tuple(sources(settings, snapshot_indexes=snapshot)),
                 labels=not settings.index_url and not settings.no_index)


def contacts(route: Route, pins: Sequence[Pin], plan: LockPlan | None = None) -> str:
    """Every host a run asks, and who named it, and the snapshot's indexes it does not ask:
    said on stderr before the first request."""
    labels: dict[str, tuple[Source, list[str]]] = {}
    for pin in pins if route.labels else ():
        if pin.index:
            label = route.for_pin(pin)[0]
            labels.setdefault(label.url, (label, []))[1].append(pin.name)
    hosts: dict[str, str] = {}
    for label, names in labels.values():
        hosts.setdefault(_netloc(label.url), f"{label.origin}, for {', '.join(names)}")
    for src in route.base:
        if src.remote:
            what = "index" if src.kind == "index" else "find-links page"
            hosts.setdefault(_netloc(src.url), f"{what} {src.shown}: {src.origin}")
    for pin in pins:
        if pin.kind == "direct" and pin.url:
            hosts.setdefault(_netloc(pin.url), f"the URL the snapshot records for {pin.name}")
    local = [s.shown for s in route.base if not s.remote]
    said = "; ".join(f"{h} ({why})" for h, why in hosts.items()) or "no host"
    text = f"contacting {said}" + (f"; reading {', '.join(local)} on this machine"
                                   if local else "")
    if plan is not None and plan.snapshot_indexes and not plan.use_snapshot_indexes:
        shown = ", ".join(redact_url(u) for u in plan.snapshot_indexes)
        text += (f". Not contacting the index(es) the snapshot records ({shown}): "
                 "--use-snapshot-indexes asks them after yours")
    return text


def _netloc(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def _describe_target(plan: LockPlan) -> str:
    plats = [p for p in plan.platforms if not p.startswith("manylinux_2_")]
    shown = ", ".join(plats[:3]) + (", ..." if len(plats) > 3 else "")
    return f"Python {plan.python_minor or '?'}" + (f", {plan.abi}" if plan.abi else "") + (
        f", {shown}" if shown else "")


T = TypeVar("T")
R = TypeVar("R")


def each(fn: Callable[[T], R], items: Sequence[T], *, workers: int, name: str,
         cancel: threading.Event) -> list[R]:
    """``fn`` over ``items`` on up to ``workers`` daemon threads, results in order. The first
    failure stops the rest (``cancel`` is set; running ones stop at their next chunk) and is
    raised. Ctrl-C in the caller sets ``cancel`` and returns at once: daemon threads never
    hold the interpreter's exit the way a ThreadPoolExecutor's joined workers do."""
    results: list[R | None] = [None] * len(items)
    errors: list[BaseException] = []
    todo = iter(enumerate(items))
    lock = threading.Lock()
    done = threading.Event()
    left = [len(items)]

    def work() -> None:
        while not cancel.is_set():
            with lock:
                nxt = next(todo, None)
            if nxt is None:
                return
            i, item = nxt
            try:
                results[i] = fn(item)
            except BaseException as exc:  # handed to the caller
                with lock:
                    errors.append(exc)
                cancel.set()
            finally:
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        done.set()

    if not items:
        return []
    threads = [threading.Thread(target=work, name=f"{name}-{n}", daemon=True)
               for n in range(max(1, min(workers, len(items))))]
    for t in threads:
        t.start()
    try:
        # The first failure is raised at once: the others stop at their next chunk (a
        # download's partial file is removed by its own thread).
        while not done.wait(0.05):
            with lock:
                real = [e for e in errors if not isinstance(e, Cancelled)]
            if real or (cancel.is_set() and not any(t.is_alive() for t in threads)):
                break
    except BaseException:
        cancel.set()
        raise
    with lock:
        real = [e for e in errors if not isinstance(e, Cancelled)]
        if real or errors:
            raise (real or errors)[0]
    if not done.is_set():
        raise Cancelled
    return cast(list[R], results)


def locate(plan: LockPlan, pins: Sequence[Pin], client: IndexClient, *,
           reporter: Reporter = SILENT, route: Route | None = None,
           cancel: threading.Event | None = None) -> dict[str, Located | Miss]:
    """name -> the chosen file, or why none was found. The first pin is asked alone (an index
    that does not answer is named after one request, not after every pin timed out), the rest
    on bounded daemon threads. Raises IndexUnreachable for an index that does not answer,
    refuses access or fails (a label index that does not answer only fails its own pins,
    which then look in the user's indexes: said on stderr)."""
    route = route or make_route(plan, client.settings)
    cancel = cancel or threading.Event()
    tgt = target(plan)
    describe = _describe_target(plan)

    def one(pin: Pin) -> Located | Miss:
        misses: list[Miss] = []
        asked = route.for_pin(pin)
        for n, src in enumerate(asked):
            try:
                files = client.project_files(src, pin.name)
            except IndexUnreachable as exc:
                if route.labels and pin.index and n == 0:
                    misses.append(Miss(reason=str(exc)))
                    reporter.info(f"{pin.name} {pin.version}: {exc}; looking in "
                                  f"{', '.join(s.shown for s in asked[1:]) or 'nothing else'}")
                    continue
                raise
            except OffIndexRedirect as exc:
                misses.append(Miss(reason=str(exc)))
                continue
            if files is None:
                misses.append(Miss(reason=f"{src.shown} has no {pin.name}"))
                continue
            installed = plan.installed_tags.get(pin.name, ())
            chosen = choose(files, name=pin.name, version=pin.version, target=tgt,
                            installed=installed)
            if chosen is None:
                versions = sum(1 for f in files if _version_of(f.filename, pin.version))
                misses.append(Miss(reason=f"{src.shown} has {versions} file(s) of "
                                          f"{pin.version}, no wheel for {describe}"
                                   if versions else f"{src.shown} has no {pin.version}"))
                continue
            sha = well_formed_sha256(chosen.sha256)
            if chosen.sha256 is not None and sha is None:
                return Miss(reason=f"{src.shown} served a malformed sha256 for "
                                   f"{chosen.filename}", absent=False)
            if sha is None and src.remote:
                # The bytes alone prove nothing about a remote file: hashing what arrived
                # would write whatever the server (or a proxy) sent into the lockfile.
                misses.append(Miss(reason=f"{src.shown} states no sha256 for "
                                          f"{chosen.filename} (a remote file is locked only "
                                          "with the hash its index states)", absent=False))
                continue
            if src.kind == "links" and any(s.kind == "index" for s in asked[:n]):
                reporter.info(f"{pin.name} {pin.version}: not on "
                              f"{', '.join(s.shown for s in asked[:n] if s.kind == 'index')}; "
                              f"found in find-links {src.shown} instead")
            return Located(file=chosen, source=src, sha256=sha)
        if not misses:
            return Miss(reason="no index to ask")
        hint = ""
        if pin.index and not route.labels and all(m.absent for m in misses):
            hint = (f" (the index of its local label, {pin.index}, is not asked when an index "
                    "is configured: add it with --extra-index-url to use it)")
        return Miss(reason="; ".join(m.reason for m in misses) + hint,
                    absent=all(m.absent for m in misses))

    if not pins:
        return {}
    if not route.base and not (route.labels and any(p.index for p in pins)):
        raise BadInputError("no index to ask: the configuration sets no-index and no "
                            "find-links (pass --index-url or --find-links, or --wheelhouse)")
    reporter.info(f"asking for {len(pins)} pinned wheel(s) ({client.settings.origin})")
    started = time.monotonic()
    found: dict[str, Located | Miss] = {pins[0].name: one(pins[0])}
    # Threads hide network latency; against an index that answers within a few milliseconds
    # (a local mirror) they only contend for the GIL, so a handful suffices.
    workers = client.workers if time.monotonic() - started > FAST_ANSWER_S else min(
        2, client.workers)
    rest = list(pins[1:])
    for pin, res in zip(rest, each(one, rest, workers=workers, name="envsnap-index",
                                   cancel=cancel), strict=True):
        found[pin.name] = res
    return found


def _version_of(filename: str, version: str) -> bool:
    return f"-{version}-" in filename or f"-{version}." in filename


def _locked_file(loc: Located, sha: str, written: frozenset[str]) -> LockedFile:
    portable = loc.source.kind == "index" and loc.source.url in written
    return LockedFile(filename=loc.file.filename, sha256=sha, size=loc.file.size,
                      url=loc.file.url if portable else None)


def _locked(pin: Pin, loc: Located, sha: str, plan: LockPlan) -> LockedPin:
    """The pin as found: its index is where the file really came from when the lockfile names
    that index; otherwise ``via`` says (on stderr) and ``via_note`` (in the lockfile) how."""
    written = _written(plan)
    if loc.source.kind == "index" and loc.source.url in written:
        index = None if loc.source.url == plan.index_url else loc.source.url
        return LockedPin(name=pin.name, version=pin.version, origin="index", index=index,
                         files=(_locked_file(loc, sha, written),))
    kind = "find-links location" if loc.source.kind == "links" else "index"
    note = f"a {kind} of this machine's configuration ({loc.source.origin or 'configured'})"
    return LockedPin(name=pin.name, version=pin.version, origin="index", index=pin.index,
                     via=loc.source.shown, via_note=note,
                     files=(_locked_file(loc, sha, written),))


def _split_tools(unlockable: Sequence[Unlockable], absent: Iterable[str]
                 ) -> tuple[tuple[Unlockable, ...], tuple[Unlockable, ...]]:
    """(unlockable, tools_missing): pip / setuptools / wheel that no source has are a warning,
    because a new venv (and an image's) brings its own installer."""
    gone = set(absent)
    tools = tuple(u for u in unlockable if u.name in TOOLS and u.name in gone)
    return tuple(u for u in unlockable if u not in tools), tools


def hash_from_index(plan: LockPlan, *, settings: SettingsArg = None,
                    client: IndexClient | None = None,
                    progress: Reporter | ProgressFn | None = None) -> HashedLock:
    """Online mode: each pin's file and sha256 from the Simple API, no resolver (the versions
    are exact) and no download (a local find-links file the user configured is hashed from
    its bytes; a remote file without a stated sha256 is not locked)."""
    reporter = _reporter(progress)
    fetch = [p for p in plan.pins if p.kind == "index"]
    owned = client is None
    if client is None:
        client = IndexClient(_settings(settings) if fetch else IndexSettings())
    cancel = threading.Event()
    try:
        found: dict[str, Located | Miss] = {}
        digests: dict[str, str] = {}
        if fetch:
            route = make_route(plan, client.settings)
            reporter.info(contacts(route, fetch, plan))
            found = locate(plan, fetch, client, reporter=reporter, route=route, cancel=cancel)
            local = [(n, loc) for n, loc in found.items()
                     if isinstance(loc, Located) and loc.sha256 is None]
            digests = {n: loc.sha256 for n, loc in found.items()
                       if isinstance(loc, Located) and loc.sha256 is not None}
            hashed = each(lambda job: client.stream(job[1].source, job[1].file, None,
                                                    cancel=cancel),
                          local, workers=4, name="envsnap-hash", cancel=cancel)
            digests.update({n: h for (n, _loc), h in zip(local, hashed, strict=True)})
    finally:
        cancel.set()
        if owned:
            client.close()
    pins: list[LockedPin] = []
    unlockable: list[Unlockable] = []
    for pin in plan.pins:
        if pin.kind == "direct" and pin.url and pin.sha256:
            pins.append(_direct(pin))
        elif pin.kind == "build":
            unlockable.append(Unlockable(name=pin.name, version=pin.version,
                                         reason=build_reason(pin)))
        else:
            loc = found.get(pin.name, Miss(reason="not looked up", absent=False))
            if isinstance(loc, Located):
                pins.append(_locked(pin, loc, digests[pin.name], plan))
            else:
                unlockable.append(Unlockable(name=pin.name, version=pin.version,
                                             reason=scrub(loc.reason)))
    absent = [n for n, loc in found.items() if isinstance(loc, Miss) and loc.absent]
    left, tools = _split_tools(unlockable, absent)
    return HashedLock(plan=plan, pins=tuple(pins), unlockable=left, policy="index",
                      tools_missing=tools)


BUILD_REASON = ("built from its source, which runs the source's code: envsnap builds a "
                "snapshot's sources only with --allow-build, into a wheelhouse")


def build_reason(pin: Pin) -> str:
    return f"a {pin.source_kind or 'source'} install: {BUILD_REASON}"


def _direct(pin: Pin) -> LockedPin:
    assert pin.url and pin.sha256
    name = urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path.rsplit("/", 1)[-1])
    return LockedPin(name=pin.name, version=pin.version, origin="direct", url=pin.url,
                     files=(LockedFile(filename=name, sha256=pin.sha256, url=pin.url),))


# ---------------------------------------------------------------------------------------------
# the wheelhouse


def _download(client: IndexClient, loc: Located, dest: Path, reporter: Reporter,
              cancel: threading.Event | None = None) -> None:
    """Stream the chosen file into ``dest`` under a temporary name, check its sha256 against
    the index's, then rename it into place: a broken download never looks like a wheel. The
    name is checked before it becomes a path (an index page is not trusted)."""
    name = loc.file.filename
    if not is_safe_filename(name):  # parse_*_page already leaves such names out
        raise LockError(f"{loc.source.shown} lists a file whose name is not a wheel or sdist "
                        "name (not shown): refused")
    if loc.sha256 is None and loc.source.remote:
        raise LockError(f"{loc.source.shown} states no sha256 for {name}: not downloaded")
    final = dest / name
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    transfer = reporter.transfer(name, loc.file.size)
    ok = False
    try:
        with os.fdopen(fd, "wb") as sink:
            got = client.stream(loc.source, loc.file, sink, transfer, cancel=cancel)
        if loc.sha256 is not None and got != loc.sha256:
            raise LockError(f"{name} from {loc.source.shown} does not match the sha256 the "
                            f"index states ({got[:12]}... != {loc.sha256[:12]}...): not kept")
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        ok = True
    finally:
        transfer.close(ok)
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _download_direct(client: IndexClient, pin: Pin, dest: Path, reporter: Reporter,
                     cancel: threading.Event | None = None) -> str | None:
    """A direct URL the snapshot records (``name @ https://...`` with its PEP 610 sha256),
    downloaded and checked; the reason when it is not."""
    assert pin.url is not None
    filename = urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return "a remote source archive: envsnap locks wheels; build it into the wheelhouse"
    if not is_safe_filename(filename):
        return "its URL does not end in a wheel file name"
    origin = urllib.parse.urlsplit(pin.url)
    if origin.scheme == "http" and not is_trusted(pin.url, client.settings.trusted_hosts):
        return (f"the snapshot records a plain-http URL on {origin.hostname}: not fetched "
                "without a trusted-host for it in your pip configuration")
    src = Source(url=f"{origin.scheme}://{origin.netloc}", kind="index",
                 origin="the URL the snapshot records")
    loc = Located(file=IndexFile(filename=filename, url=pin.url, sha256=pin.sha256),
                  source=src, sha256=pin.sha256)
    _download(client, loc, dest, reporter, cancel)
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
    requires: list[str] = ["setuptools>=40.8.0"]
    backend = "setuptools.build_meta:__legacy__"
    try:
        data = tomlreader.loads((project / "pyproject.toml").read_text("utf-8"))
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
                         settings: SettingsArg = None, client: IndexClient | None = None,
                         allow_build: bool = False) -> HashedLock:
    """Air-gapped mode: every pin's wheels in ``wheelhouse`` (downloaded or built there first
    when missing, unless ``offline``), hashed from the files themselves.

    A source the snapshot names (VCS, URL archive, local folder) is built only with
    ``allow_build``; otherwise BuildRefused (exit 2) before anything is fetched or run.
    """
    require_build_consent(plan, wheelhouse, allow_build)
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
    absent: set[str] = set()
    if missing:
        resolved = client.settings if client is not None else (
            IndexSettings() if offline else _settings(settings))
        owned = client is None and not offline
        client = client or (IndexClient(resolved) if not offline else None)
        cancel = threading.Event()
        try:
            route = make_route(plan, resolved) if not offline else Route(base=(), labels=False)
            builds = [p for p in missing if p.kind == "build"]
            fetch = [p for p in missing if p.kind in ("index", "direct")]
            if not offline and (fetch or builds):
                reporter.info(contacts(route, fetch, plan))
            if client is not None:
                _fetch_missing(plan, missing, wheelhouse, client, reporter, reasons, absent,
                               route=route, cancel=cancel)
            env = pip_env(resolved, indexes=route.base, offline=offline)
            if builds and not offline:
                _add_build_tools(builds, wheelhouse, pip, env, reporter)
            for pin in builds:
                reporter.info(f"building a wheel for {pin.name} {pin.version} from its "
                              f"{describe_build(pin).split(': ', 1)[1]} (--allow-build)")
                error = _build(pin, wheelhouse, pip, env=env, offline=offline)
                if error:
                    reasons[pin.name] = error
        finally:
            cancel.set()
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
            if offline and pin.name not in reasons:
                absent.add(pin.name)
            unlockable.append(Unlockable(name=pin.name, version=pin.version, reason=why))
            continue
        pins.append(LockedPin(
            name=pin.name, version=pin.version,
            origin="built" if pin.kind == "build" else "wheelhouse",
            index=pin.index,
            files=tuple(LockedFile(filename=f.name, sha256=digests[f], size=f.stat().st_size)
                        for f in found),
        ))
    left, tools = _split_tools(unlockable, absent)
    return HashedLock(plan=plan, pins=tuple(pins), unlockable=left, policy="wheelhouse",
                      tools_missing=tools)


def _fetch_missing(plan: LockPlan, missing: Sequence[Pin], dest: Path, client: IndexClient,
                   reporter: Reporter, reasons: dict[str, str], absent: set[str], *,
                   route: Route, cancel: threading.Event) -> None:
    """Download the chosen file of every missing index / direct pin into ``dest``."""
    index_pins = [p for p in missing if p.kind == "index"]
    found = (locate(plan, index_pins, client, reporter=reporter, route=route, cancel=cancel)
             if index_pins else {})
    jobs: list[tuple[Pin, Located | None]] = []
    for pin in index_pins:
        loc = found[pin.name]
        if isinstance(loc, Located):
            jobs.append((pin, loc))
        else:
            reasons[pin.name] = f"no wheel for the target: {scrub(loc.reason)}"
            if loc.absent:
                absent.add(pin.name)
    jobs += [(p, None) for p in missing if p.kind == "direct" and p.url]
    if not jobs:
        return
    total = sum(loc.file.size or 0 for _p, loc in jobs if loc is not None)
    reporter.info(f"downloading {len(jobs)} wheel(s) into the wheelhouse"
                  + (f" ({total / 2**20:.1f} MiB)" if total else ""))

    def fetch(job: tuple[Pin, Located | None]) -> None:
        pin, loc = job
        if loc is None:
            why = _download_direct(client, pin, dest, reporter, cancel)
            if why:
                reasons[pin.name] = why
        else:
            _download(client, loc, dest, reporter, cancel)

    each(fetch, jobs, workers=min(8, client.workers), name="envsnap-download", cancel=cancel)


def hash_pins(plan: LockPlan, *, wheelhouse: Path | None = None, offline: bool = False,
              pip: Sequence[str] | None = None, progress: Reporter | ProgressFn | None = None,
              settings: SettingsArg = None, allow_build: bool = False) -> HashedLock:
    if wheelhouse is not None:
        return hash_from_wheelhouse(plan, wheelhouse, pip=pip, progress=progress,
                                    offline=offline, settings=settings, allow_build=allow_build)
    if offline:
        raise BadInputError("--offline needs --wheelhouse DIR holding every wheel")
    return hash_from_index(plan, settings=settings, progress=progress)
