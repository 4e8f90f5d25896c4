"""Worker processes for many files: results in order, and a stop that is immediate."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerCrashed(Exception):
    """A worker process ended without being asked to (killed: out of memory, a signal)."""


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


def imap_chunks(context: Any, jobs: int, initializer: Callable[..., None],
                initargs: tuple[Any, ...], fn: Callable[[T], R],
                chunks: Sequence[Sequence[T]]) -> Generator[list[R], None, None]:
    """``fn`` over every item of every chunk in ``jobs`` processes of ``context``, each set up
    once by ``initializer(*initargs)``; yields each chunk's results, in order.

    Not concurrent.futures.ProcessPoolExecutor: its manager thread cannot be stopped or left.
    Once a worker is killed while writing a result, that thread blocks reading the half
    message, and the interpreter joins it at exit: Ctrl-C hung the command. Here each worker
    has its own pipe; when the caller stops early (Ctrl-C, an error, leaving the loop) every
    worker is killed and reaped at once, and no half-written message is ever read."""
    from multiprocessing.connection import wait

    # (process, its task pipe's writing end, its result pipe's reading end). One-way pipes:
    # plain file descriptors, nothing for a Ctrl-C between two calls to leave half made.
    workers: list[tuple[Any, Any, Any]] = []
    finished = False
    try:
        for _ in range(min(jobs, len(chunks))):
            task_r, task_w = context.Pipe(duplex=False)
            result_r, result_w = context.Pipe(duplex=False)
            workers.append((None, task_w, result_r))
            process = context.Process(target=_serve, daemon=True,
                                      args=(task_r, result_w, initializer, initargs, fn))
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
