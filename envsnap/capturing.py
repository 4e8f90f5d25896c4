"""Run every probe once against a Host, record failures, and assemble a Snapshot."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import probes
from .errors import BadInputError, EnvsnapError
from .host import Host, LocalHost
from .probes import CaptureOptions, ProbeContext, Probed, ProbeSpec
from .redact import redact_text
from .sanitize import sanitize
from .snapshot import Meta, ProbeStatus, Snapshot
from .version import __version__

__all__ = ["CaptureOptions", "capture", "capture_with"]


def _selected(options: CaptureOptions, registry: Sequence[ProbeSpec]) -> list[str]:
    known = [spec.name for spec in registry]
    for name in (options.only or frozenset()) | options.skip:
        if name not in known:
            raise BadInputError(f"unknown probe {name!r}; probes are: {', '.join(known)}")
    names = [n for n in known if options.only is None or n in options.only]
    return [n for n in names if n not in options.skip]


def _run_order(registry: Sequence[ProbeSpec], wanted: Iterable[str]) -> list[ProbeSpec]:
    """The wanted probes and every probe they need, probes others wait for first (so the
    Python scan starts before the rest). Raises ValueError on an unknown need or a cycle:
    a broken registry is a programming error, not a probe failure."""
    by_name = {spec.name: spec for spec in registry}
    run: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in run:
            continue
        run.add(name)
        for need in by_name[name].needs:
            if need not in by_name:
                raise ValueError(f"probe {name!r} needs {need!r}, which is not registered")
            stack.append(need)
    waiting: dict[str, int] = dict.fromkeys(run, 0)
    for name in run:
        for need in by_name[name].needs:
            waiting[need] += 1
    placed: list[str] = []
    remaining = [spec.name for spec in registry if spec.name in run]
    while remaining:
        ready = [n for n in remaining if all(d in placed for d in by_name[n].needs)]
        if not ready:
            raise ValueError(f"probes {', '.join(remaining)} need each other (a cycle)")
        placed += ready
        remaining = [n for n in remaining if n not in ready]
    # Stable: registry order among probes nothing waits for.
    placed.sort(key=lambda n: -waiting[n])
    return [by_name[n] for n in placed]


class _Ledger:
    """Collects each probe's value, status and time; a probe that raises becomes an entry.

    Statuses are kept as plain tuples until the end: importing the model here would make the
    Python probe's thread import it before starting the target interpreter.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.raw_status: dict[str, tuple[str, str | None, str | None]] = {}
        self.elapsed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._timed_out: set[str] = set()

    def fail(self, name: str, message: str) -> None:
        """Record a probe that ran past the capture's deadline; its late result is ignored."""
        with self._lock:
            self._timed_out.add(name)
            self.values.pop(name, None)
            self.raw_status[name] = ("error", None, message)

    def run(self, name: str, fn: Callable[[], Probed[Any]], *, extra_ms: int = 0) -> Any:
        start = time.perf_counter()
        try:
            result = fn()
        except EnvsnapError as exc:
            self._record(name, ("error", None, redact_text(str(exc))))
        except Exception as exc:  # a probe bug must not lose the other probes' results
            self._record(name, (
                "error", None, redact_text(f"probe crashed: {type(exc).__name__}: {exc}")))
        else:
            found = result.value not in (None, (), {})
            # Error text can quote a command line or a URL: scrubbed like every other value.
            self._record(name, ("ok" if found else "absent", redact_text(result.found_via), None),
                         result.value, has_value=True)
        self.elapsed[name] = round((time.perf_counter() - start) * 1000) + extra_ms
        return self.values.get(name)

    def _record(self, name: str, status: tuple[str, str | None, str | None],
                value: Any = None, *, has_value: bool = False) -> None:
        with self._lock:
            if name in self._timed_out:
                return
            self.raw_status[name] = status
            if has_value:
                self.values[name] = value

    def statuses(self, wanted: Sequence[str]) -> dict[str, ProbeStatus]:
        return {
            name: ProbeStatus(status=st, found_via=via, error=err)
            for name in wanted if name in self.raw_status
            for st, via, err in (self.raw_status[name],)
        }


def capture(
    *,
    python: str | None = None,
    deep: bool = False,
    anonymize: bool = False,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    cwd: str | None = None,
    host: Host | None = None,
) -> Snapshot:
    """Probe the machine (or ``host``) into a Snapshot. Probe failures are recorded in
    ``snapshot.probes``; only bad arguments raise."""
    options = CaptureOptions(
        python=python,
        deep=deep,
        anonymize=anonymize,
        only=frozenset(only) if only is not None else None,
        skip=frozenset(skip),
        cwd=cwd,
    )
    return capture_with(host or LocalHost(), options)


def _drop_unrepresentable(snapshot: Snapshot) -> Snapshot:
    """What capture writes, load accepts: values the loader would refuse are dropped here and
    named in their probe's warnings (sanitize.py, over the rules load applies)."""
    clean, dropped = sanitize(snapshot)
    if not dropped:
        return clean
    statuses = dict(clean.probes)
    for name, warnings in dropped.items():
        status = statuses.get(name)
        if status is not None:
            statuses[name] = replace(status, warnings=status.warnings + warnings)
    return replace(clean, probes=statuses)


CAPTURE_DEADLINE_S = 300.0


def _run_all(host: Host, options: CaptureOptions, order: Sequence[ProbeSpec]) -> _Ledger:
    """Every probe in its own thread, each starting once the probes it needs are done.

    Plain threads: concurrent.futures (and the logging it imports) would cost every capture
    more start-up time than a pool saves.
    """
    ledger = _Ledger()
    done = {spec.name: threading.Event() for spec in order}

    def work(spec: ProbeSpec) -> None:
        try:
            prepared, prepare_ms = None, 0
            if spec.prepare is not None:
                start = time.perf_counter()
                with contextlib.suppress(Exception):  # the probe redoes it and records why
                    prepared = spec.prepare(host, options)
                prepare_ms = round((time.perf_counter() - start) * 1000)
            for need in spec.needs:
                done[need].wait()
            ctx = ProbeContext(options=options, prepared=prepared,
                               results={n: ledger.values.get(n) for n in spec.needs})
            ledger.run(spec.name, lambda: spec.probe(host, ctx), extra_ms=prepare_ms)
        finally:
            done[spec.name].set()  # dependents run even when this probe failed

    threads = [threading.Thread(target=work, args=(spec,), name=f"probe-{spec.name}",
                                daemon=True) for spec in order]
    for t in threads:
        t.start()
    # Every subprocess has its own timeout; this bounds what has none (a read blocked on a hung
    # network mount): the probe is recorded as failed and the capture goes on without it.
    stop_at = time.monotonic() + CAPTURE_DEADLINE_S
    for spec, t in zip(order, threads, strict=True):
        t.join(max(0.0, stop_at - time.monotonic()))
        if t.is_alive():
            ledger.fail(spec.name, f"did not finish within {CAPTURE_DEADLINE_S:g}s")
    return ledger


def _fields(registry: Sequence[ProbeSpec], wanted: Sequence[str],
            values: Mapping[str, Any]) -> dict[str, Any]:
    """The Snapshot fields the wanted probes' values fill, in registry order."""
    fields: dict[str, Any] = {}
    for spec in registry:
        value = values.get(spec.name)
        if spec.name not in wanted or value is None:
            continue
        if spec.store is not None:
            fields.update(spec.store(value, fields))
        elif spec.field is not None:
            fields[spec.field] = value
    return fields


def capture_with(host: Host, options: CaptureOptions) -> Snapshot:
    registry = probes.registry()
    wanted = _selected(options, registry)
    order = _run_order(registry, wanted)
    for spec in order:  # only what runs: `--only os` does not resolve an interpreter
        if spec.setup is not None:
            options = spec.setup(host, options)
    ledger = _run_all(host, options, order)

    snapshot = Snapshot(
        meta=Meta(
            envsnap_version=__version__,
            captured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            hostname=host.system_info().hostname,
            elapsed_ms={k: v for k, v in ledger.elapsed.items() if k in wanted},
        ),
        probes=ledger.statuses(wanted),
        **_fields(registry, wanted, ledger.values),
    )
    snapshot = _drop_unrepresentable(snapshot)
    if options.anonymize:
        # Local import: only --anonymize needs privacy, which applies every section's hook
        # and so loads their rules: 45-80 ms that other captures need not pay (issue 19.6).
        from .privacy import anonymize as _anonymize

        snapshot = _anonymize(snapshot, home=host.environ.get("HOME"))
        snapshot = replace(snapshot, meta=replace(snapshot.meta, hostname=None, anonymized=True))
    return snapshot
