"""Other processes reading snapshots (a fleet's nodes, a diff's second file), stopped at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import wait
from typing import Any, TypeVar

from . import io
from .errors import BadInputError, HostError
from .io import SnapshotEditedWarning, load
from .snapshot import PackageMemo, Snapshot

T = TypeVar("T")
R = TypeVar("R")

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_FROM = 48

# How a snapshot is read: a path (or a name the caller resolves) and the process's package memo.
ReadFn = Callable[[str, PackageMemo], Snapshot]


def _load(name: str, memo: PackageMemo) -> Snapshot:
    return load(name, memo=memo)


class WorkerCrashed(Exception):
    """A worker process ended without being asked to (killed: out of memory, a signal)."""


class WorkerDied(HostError):
    """A process reading snapshots was killed from outside (memory, a signal)."""

    exit_code = 2


def context(*modules: str) -> Any:
    """The processes the workers are: forked from this one while it runs one thread, so they
    inherit what it holds (the reference, its dependency graph, the package memo) and nothing
    is pickled or rebuilt; otherwise forked from a server process started fresh, because
    forking a process with threads can copy a lock some thread holds (that server imports
    this module and ``modules`` once)."""
    if threading.active_count() == 1 and sys.platform == "linux":
        return multiprocessing.get_context("fork")
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload(sorted({__name__, *modules}))
    # The server starts with Ctrl-C blocked (see _start): its workers inherit the mask. The
    # resource tracker is started first: starting it unblocks SIGINT on its way out.
    resource_tracker.ensure_running()
    with _sigint_blocked():
        forkserver.ensure_running()
    return server


class _sigint_blocked:
    """Ctrl-C held back while a worker is forked: the worker starts, and stays, with SIGINT
    blocked, so the terminal's Ctrl-C reaches only this process, which stops the workers. A
    worker that took it would print a traceback. A Ctrl-C in the window arrives right after."""

    def __enter__(self) -> None:
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


# ---------------------------------------------------------------------------------------------
# The pool


def _serve(tasks: Any, results: Any, initializer: Callable[..., None],
           initargs: tuple[Any, ...], fn: Callable[[Any], Any]) -> None:
    """A worker: chunks in, a list of results (or the exception that stopped it) out, until
    its task pipe closes or None arrives."""
    initializer(*initargs)
    while True:
        try:
            chunk = tasks.recv()
        except EOFError:
            return
        if chunk is None:
            return
        try:
            out: tuple[bool, Any] = (True, [fn(item) for item in chunk])
        except Exception as exc:  # a bug: shown by the parent as its own internal error
            out = (False, exc)
        try:
            results.send(out)
        except Exception:  # the exception itself does not pickle: its words do
            results.send((False, RuntimeError(f"{type(out[1]).__name__}: {out[1]}")))


def imap_chunks(ctx: Any, jobs: int, initializer: Callable[..., None],
                initargs: tuple[Any, ...], fn: Callable[[T], R],
                chunks: Sequence[Sequence[T]]) -> Generator[list[R], None, None]:
    """``fn`` over every item of every chunk in ``jobs`` processes of ``ctx``, each set up
    once by ``initializer(*initargs)``; yields each chunk's results, in order.

    Not concurrent.futures.ProcessPoolExecutor: its manager thread cannot be stopped or left.
    Once a worker is killed while writing a result, that thread blocks reading the half
    message, and the interpreter joins it at exit: Ctrl-C hung the command. Here each worker
    has its own pipe; when the caller stops early (Ctrl-C, an error, leaving the loop) every
    worker is killed and reaped at once, and no half-written message is ever read."""
    # (process, its task pipe's writing end, its result pipe's reading end). One-way pipes:
    # plain file descriptors, nothing for a Ctrl-C between two calls to leave half made.
    workers: list[tuple[Any, Any, Any]] = []
    finished = False
    try:
        # A forked worker copies this process's unwritten output buffers: written first.
        sys.stdout.flush()
        sys.stderr.flush()
        for _ in range(min(jobs, len(chunks))):
            task_r, task_w = ctx.Pipe(duplex=False)
            result_r, result_w = ctx.Pipe(duplex=False)
            workers.append((None, task_w, result_r))
            process = ctx.Process(target=_serve, daemon=True,
                                  args=(task_r, result_w, initializer, initargs, fn))
            with _sigint_blocked():
                process.start()
            workers[-1] = (process, task_w, result_r)
            task_r.close()
            result_w.close()
        by_sentinel = {p.sentinel: p for p, _, _ in workers}
        by_result = {r: (p, w) for p, w, r in workers}
        busy: dict[Any, int] = {}  # result pipe -> the chunk its worker is reading
        done: dict[int, list[R]] = {}  # finished chunks, held until their turn
        handed = 0
        window = 2 * len(workers)  # chunks handed out at most this far ahead of the one yielded
        idle = list(by_result)
        for wanted in range(len(chunks)):
            while wanted not in done:
                while idle and handed < min(len(chunks), wanted + window):
                    conn = idle.pop()
                    process, tasks = by_result[conn]
                    try:
                        tasks.send(chunks[handed])
                    except OSError:  # its worker is gone
                        _crashed(process)
                    busy[conn] = handed
                    handed += 1
                ready: list[Any] = wait([*busy, *by_sentinel])
                for conn in [r for r in ready if r in busy]:
                    try:
                        ok, value = conn.recv()
                    except (EOFError, OSError):  # its worker died before it answered
                        _crashed(by_result[conn][0])
                    if not ok:
                        raise value
                    done[busy.pop(conn)] = value
                    idle.append(conn)
                # Workers end only when told to, after the last chunk: this one was killed.
                for sentinel in [r for r in ready if r in by_sentinel]:
                    _crashed(by_sentinel[sentinel])
            yield done.pop(wanted)
        for _, tasks, _ in workers:
            tasks.send(None)
        finished = True
    finally:
        for process, tasks, results in workers:
            if process is not None and not finished:
                process.kill()
            tasks.close()
            results.close()
        for process, _, _ in workers:
            if process is not None:
                process.join()


def _crashed(process: Any) -> None:
    process.join()
    raise WorkerCrashed(f"worker process {process.pid} ended (exit code {process.exitcode})")


# ---------------------------------------------------------------------------------------------
# Many snapshots: a fleet's nodes

# Each worker process's task, reader and package memo (set by _start_worker).
_WORKER: dict[str, Any] = {}


def _start_worker(task: Callable[[Snapshot], Any], read: ReadFn, memo: PackageMemo) -> None:
    _WORKER.update(task=task, read=read, memo=memo)


def _run_worker(path: str) -> tuple[Any, str | None, list[str]]:
    """(task's result, None, warnings) or (None, the one-line error, warnings): exceptions
    are passed back as their message, which is all the command line shows of them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _WORKER["task"](_WORKER["read"](path, _WORKER["memo"]))
        except BadInputError as exc:
            return None, str(exc), _edited(caught)
    return result, None, _edited(caught)


def _edited(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SnapshotEditedWarning)]


def map_snapshots(paths: Sequence[str], task: Callable[[Snapshot], R], *, jobs: int = 1,
                  read: ReadFn = _load, memo: PackageMemo | None = None
                  ) -> Iterator[tuple[str, R]]:
    """Read each snapshot (with ``read``, io.load by default) and yield (path,
    task(snapshot)), in the order given.

    tomllib is pure Python, so reading a thousand node snapshots is CPU-bound: with ``jobs``
    > 1 the files are read in that many worker processes, and only the task's results come
    back (``task`` and ``read`` must pickle where this process runs threads; see context()).
    Each process keeps a package ``memo``, which starts as this one's, so packages the nodes
    share are converted and checked once per process. Warnings (an edited snapshot) are
    re-issued here; the first unreadable file raises BadInputError, naming it, and stops the
    rest."""
    memo = {} if memo is None else memo
    if jobs <= 1 or len(paths) < PARALLEL_FROM or "-" in paths:
        for path in paths:
            yield path, task(read(path, memo))
        return
    size = max(1, min(16, len(paths) // (jobs * 4)))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    ctx = context(type(task).__module__)
    # A forked worker starts with this process's memo; a memo would be pickled to the others.
    shared = memo if ctx.get_start_method() == "fork" else {}
    results = imap_chunks(ctx, jobs, _start_worker, (task, read, shared), _run_worker, chunks)
    try:
        for chunk, answers in zip(chunks, results, strict=True):
            for path, (result, error, said) in zip(chunk, answers, strict=True):
                for message in said:
                    warnings.warn(SnapshotEditedWarning(message), stacklevel=2)
                if error is not None:
                    raise BadInputError(error)
                yield path, result
    except WorkerCrashed:
        # Killed from outside: out of memory, a signal. Not a bug of ours to report.
        raise WorkerDied("a worker process reading the snapshots died (out of memory?); "
                         "with --jobs 1 they are read in this process") from None
    finally:
        results.close()  # the workers are stopped at once when this ends early (Ctrl-C)


# ---------------------------------------------------------------------------------------------
# A few snapshots: 'envsnap diff A B' reads B in a second process while it reads A

# A file smaller than this is read faster here than a process can be started and answer.
BACKGROUND_FROM = 512 * 1024


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def _parse_to(conn: Any, path: str) -> None:
    """A background reader: the file's data (io.read), or None for any failure, which the
    parent then meets itself, reading the file again, with the same message."""
    try:
        parsed: io.Parsed | None = io.read(path)
    except BaseException:  # said by the parent, which reads the file again
        parsed = None
    conn.send(parsed)
    conn.close()


class _Background:
    """io.read(path) in a forked process; result() is its Parsed, or None when it failed."""

    def __init__(self, ctx: Any, path: str) -> None:
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_parse_to, args=(child, path), daemon=True)
        with _sigint_blocked():
            self._process.start()
        child.close()

    def result(self) -> io.Parsed | None:
        try:
            got: io.Parsed | None = self._conn.recv()
        except (EOFError, OSError):  # it died (out of memory, a signal): read here instead
            return None
        return got

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()


def _worth_a_process(path: str) -> bool:
    """A regular file large enough to pay for a process (not '-', a FIFO or an MLflow URI:
    those are read once, here)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size >= BACKGROUND_FROM


def load_all(paths: Sequence[str], *, read: ReadFn = _load) -> list[Snapshot]:
    """The snapshots ``paths`` name, in order (``read``: see map_snapshots). With a CPU to
    spare, large files after the first are parsed by forked processes while this one reads
    the first; the models are built here, where the package memo makes the second's packages
    that equal the first's cost a comparison. Errors are the ones reading them here gives."""
    memo: PackageMemo = {}
    spare = _usable_cpus() - 1
    ahead: dict[int, _Background] = {}
    try:
        if spare > 0 and threading.active_count() == 1 and sys.platform == "linux":
            ctx = multiprocessing.get_context("fork")
            sys.stdout.flush()
            sys.stderr.flush()
            for i, path in enumerate(paths[1:], start=1):
                if len(ahead) < spare and _worth_a_process(path):
                    ahead[i] = _Background(ctx, path)
        out: list[Snapshot] = []
        for i, path in enumerate(paths):
            parsed = ahead[i].result() if i in ahead else None
            out.append(read(path, memo) if parsed is None else io.snapshot_of(parsed, memo=memo))
        return out
    finally:
        for job in ahead.values():
            job.close()
