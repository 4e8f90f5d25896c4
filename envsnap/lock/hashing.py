"""The hashing edge: each pin's sha256 from the index's Simple API, or from a wheelhouse."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..errors import BadInputError
from ..progress import SILENT, Reporter, Transfer
from ..redact import redact_url
from .build import (
    add_build_tools,
    build_reason,
    build_wheel,
    describe_build,
    pip_env,
    require_build_consent,
)
from .index import IndexClient, IndexUnreachable, OffIndexRedirect, Source, source, sources
from .model import TOOLS, HashedLock, LockedFile, LockedPin, LockError, LockPlan, Pin, Unlockable
from .pages import IndexFile, choose, well_formed_sha256
from .safety import is_safe_filename, scrub
from .settings import IndexSettings, is_trusted
from .threads import each
from .wheels import compatible, hash_many, scan_wheelhouse, target, target_tags, wheel_key

FAST_ANSWER_S = 0.02


ProgressFn = Callable[[str], None]  # kept for callers of the 0.1 API: Reporter.info's shape


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
        return {k: [p for p in v if compatible(p, tags)]
                for k, v in scan_wheelhouse(wheelhouse).items()}

    have = present()
    missing = [p for p in plan.pins if not have.get(wheel_key(p.name, p.version))]
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
                add_build_tools(builds, wheelhouse, pip, env, reporter)
            for pin in builds:
                reporter.info(f"building a wheel for {pin.name} {pin.version} from its "
                              f"{describe_build(pin).split(': ', 1)[1]} (--allow-build)")
                error = build_wheel(pin, wheelhouse, pip, env=env, offline=offline)
                if error:
                    reasons[pin.name] = error
        finally:
            cancel.set()
            if owned and client is not None:
                client.close()
        have = present()
    files = sorted({f for pin in plan.pins for f in have.get(wheel_key(pin.name, pin.version), ())})
    reporter.info(f"hashing {len(files)} wheel(s)")
    digests = hash_many(files)
    pins: list[LockedPin] = []
    unlockable: list[Unlockable] = []
    for pin in plan.pins:
        found = have.get(wheel_key(pin.name, pin.version))
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
