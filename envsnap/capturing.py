"""Run every probe once against a Host, record failures, and assemble a Snapshot."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import BadInputError, EnvsnapError
from dataclasses import dataclass, replace
from .host import Host, LocalHost
from .probes import PROBE_NAMES, Probed
from .probes import python as python_probe
from .redact import redact_text

if TYPE_CHECKING:
    from .snapshot import ProbeStatus, PythonEnv, Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureOptions:
    python: str | None = None  # target interpreter; None = the environment the user is in
    deep: bool = False  # import frameworks in a child process for live build facts
    anonymize: bool = False
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()
    cwd: str | None = None  # where to look for the project's git repository


def _selected(options: CaptureOptions) -> list[str]:
    for name in (options.only or frozenset()) | options.skip:
        if name not in PROBE_NAMES:
            raise BadInputError(
                f"unknown probe {name!r}; probes are: {', '.join(PROBE_NAMES)}"
            )
    names = [n for n in PROBE_NAMES if options.only is None or n in options.only]
    return [n for n in names if n not in options.skip]


class _Ledger:
    """Collects each probe's value, status and time; a probe that raises becomes an entry.

    Statuses are kept as plain tuples until the end: importing the model here would make the
    Python probe's thread import it before starting the target interpreter.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.raw_status: dict[str, tuple[str, str | None, str | None]] = {}
        self.elapsed: dict[str, int] = {}

    def run(self, name: str, fn: Callable[[], Probed[Any]]) -> Any:
        start = time.perf_counter()
        try:
            result = fn()
        except EnvsnapError as exc:
            self.raw_status[name] = ("error", None, redact_text(str(exc)))
        except Exception as exc:  # a probe bug must not lose the other probes' results
            self.raw_status[name] = (
                "error", None, redact_text(f"probe crashed: {type(exc).__name__}: {exc}"))
        else:
            found = result.value not in (None, (), {})
            # Error text can quote a command line or a URL: scrubbed like every other value.
            self.raw_status[name] = ("ok" if found else "absent", redact_text(result.found_via),
                                     None)
            self.values[name] = result.value
        self.elapsed[name] = round((time.perf_counter() - start) * 1000)
        return self.values.get(name)

    def statuses(self, wanted: list[str]) -> dict[str, ProbeStatus]:
        from .snapshot import ProbeStatus

        return {
            name: ProbeStatus(status=st, found_via=via, error=err)
            for name, (st, via, err) in self.raw_status.items()
            if name in wanted
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
    named in their probe's warnings (snapshot.sanitize holds the rules, shared with load)."""
    from .snapshot import sanitize

    clean, dropped = sanitize(snapshot)
    if not dropped:
        return clean
    probes = dict(clean.probes)
    for name, warnings in dropped.items():
        status = probes.get(name)
        if status is not None:
            probes[name] = replace(status, warnings=status.warnings + warnings)
    return replace(clean, probes=probes)


def capture_with(host: Host, options: CaptureOptions) -> Snapshot:
    wanted = _selected(options)
    ledger = _Ledger()
    python_exe = python_probe.resolve_interpreter(host, options.python)

    # Phase 1: independent probes in parallel. The Python probe spawns the target interpreter
    # and dominates the wall time, so it starts first and the other probes' modules are only
    # imported while that child runs: start-up is most of a capture's cost.
    # Probes that need the Python environment's layout run once it is known, whether or not
    # the python section itself is wanted in the output.
    need_python = any(n in wanted for n in ("python", "conda", "cuda", "frameworks"))
    # Plain threads: concurrent.futures (and the logging it imports) would cost every capture
    # more start-up time than the pool saves.
    threads: list[threading.Thread] = []

    def start(name: str, fn: Callable[[], Probed[Any]]) -> None:
        t = threading.Thread(target=ledger.run, args=(name, fn), name=f"probe-{name}", daemon=True)
        t.start()
        threads.append(t)

    if need_python:
        start("python", lambda: python_probe.probe(host, python_exe))
    from .probes import cpu, env_vars, nvidia, osinfo, project

    independent: dict[str, Callable[[], Probed[Any]]] = {
        "os": lambda: osinfo.probe(host),
        "cpu": lambda: cpu.probe(host),
        "nvidia": lambda: nvidia.probe(host),
        "env": lambda: env_vars.probe(host),
        "project": lambda: project.probe(host, options.cwd),
    }
    for name, fn in independent.items():
        if name in wanted:
            start(name, fn)
    # The CUDA probe's system half (nvcc, ldconfig: two subprocesses) needs no Python layout,
    # so it runs now, beside the scan, instead of after it. A failure here is not recorded:
    # the probe then runs it again in phase 2, where its error is.
    cuda_system: list[Any] = []
    survey_ms: list[int] = []
    if "cuda" in wanted:
        from .probes import cuda as cuda_probe

        def survey() -> None:
            start = time.perf_counter()
            with contextlib.suppress(Exception):  # recorded when phase 2 runs it again
                cuda_system.append(cuda_probe.survey(host))
            survey_ms.append(round((time.perf_counter() - start) * 1000))

        t = threading.Thread(target=survey, name="probe-cuda-system", daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    pyenv: PythonEnv | None = ledger.values.get("python")

    # Phase 2: probes that read the Python environment's layout (imported only when wanted).
    conda_env = None
    if "conda" in wanted:
        from .probes import conda as conda_probe

        conda_prefix = conda_probe.find_prefix(host, pyenv, python_exe)
        scan = ledger.run("conda", lambda: conda_probe.probe(host, conda_prefix))
        if scan is not None:
            conda_env = scan.env
            if pyenv is not None:
                pyenv = conda_probe.mark_ownership(pyenv, scan.anchors)
    if "cuda" in wanted:
        ledger.run("cuda", lambda: cuda_probe.probe(host, pyenv, *cuda_system))
        ledger.elapsed["cuda"] += sum(survey_ms)  # the probe's time is both of its halves
    if "frameworks" in wanted:
        from .probes import frameworks as frameworks_probe

        ledger.run(
            "frameworks",
            lambda: frameworks_probe.probe(host, pyenv, deep=options.deep, python=python_exe),
        )

    from .snapshot import Meta, Snapshot

    values = ledger.values
    snapshot = Snapshot(
        meta=Meta(
            envsnap_version=__version__,
            captured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            hostname=host.system_info().hostname,
            elapsed_ms={k: v for k, v in ledger.elapsed.items() if k in wanted},
        ),
        probes=ledger.statuses(wanted),
        python=pyenv if "python" in wanted else None,
        conda=conda_env,
        os=values.get("os"),
        cpu=values.get("cpu"),
        nvidia=values.get("nvidia"),
        cuda=values.get("cuda"),
        frameworks=values.get("frameworks") or (),
        env=values.get("env") or {},
        project=values.get("project"),
    )
    snapshot = _drop_unrepresentable(snapshot)
    if options.anonymize:
        from .privacy import anonymize as _anonymize

        snapshot = _anonymize(snapshot, home=host.environ.get("HOME"))
        snapshot = replace(snapshot, meta=replace(snapshot.meta, hostname=None, anonymized=True))
    return snapshot
