"""Work on a few daemon threads, results in order, that Ctrl-C or the first failure stops at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast


class Cancelled(Exception):
    """Raised in a worker whose run was cancelled (Ctrl-C, or another worker failed)."""


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
