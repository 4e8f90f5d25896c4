"""Progress on stderr: bytes per download and build steps with their time; rich bars on a
terminal, plain lines otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

# rich (https://github.com/Textualize/rich) draws the terminal display: downloads run on a
# thread pool, and rich.progress.Progress is the well-kept display that renders several live
# tasks updated from many threads (tqdm needs a `position` per bar managed by hand for that).
# It is imported only when a terminal shows bars: capture, and every run whose stderr is a file
# or a pipe, never load it.


class Transfer(Protocol):
    """One file being downloaded."""

    def advance(self, n: int) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class Reporter(Protocol):
    """Where the lock, restore and image code report what they do; the CLI picks one."""

    def info(self, text: str) -> None: ...

    def transfer(self, name: str, total: int | None) -> Transfer: ...


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'`` (IEC units, as pip and uv print sizes)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop returns


class _NoTransfer:
    def advance(self, n: int) -> None:
        return None

    def close(self, ok: bool = True) -> None:
        return None


class Silent:
    """Reports nothing (the library default)."""

    def info(self, text: str) -> None:
        return None

    def transfer(self, name: str, total: int | None) -> Transfer:
        return _NoTransfer()


SILENT = Silent()


class _LineTransfer:
    def __init__(self, write: Callable[[str], None], name: str) -> None:
        self._write = write
        self._name = name
        self._bytes = 0
        self._start = time.monotonic()

    def advance(self, n: int) -> None:
        self._bytes += n

    def close(self, ok: bool = True) -> None:
        if ok:
            took = time.monotonic() - self._start
            self._write(f"downloaded {self._name} ({human_bytes(self._bytes)} in {took:.1f}s)")


class Lines:
    """One plain line per message and per finished download (stderr is not a terminal)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._lock = threading.Lock()

    def _locked(self, text: str) -> None:
        with self._lock:  # lines from download threads never interleave
            self._write(text)

    def info(self, text: str) -> None:
        self._locked(text)

    def transfer(self, name: str, total: int | None) -> Transfer:
        return _LineTransfer(self._locked, name)


class _BarTransfer:
    def __init__(self, bars: Bars, task: Any, name: str) -> None:
        self._bars = bars
        self._task = task
        self._name = name
        self._bytes = 0
        self._start = time.monotonic()

    def advance(self, n: int) -> None:
        self._bytes += n
        self._bars.progress.advance(self._task, n)

    def close(self, ok: bool = True) -> None:
        self._bars.progress.remove_task(self._task)
        if ok:
            took = time.monotonic() - self._start
            self._bars.info(f"downloaded {self._name} ({human_bytes(self._bytes)} in {took:.1f}s)")


class Bars:
    """A live display on a terminal: one bar with bytes and speed per download in flight,
    finished downloads and messages printed above it. Use as a context manager."""

    def __init__(self, stream: TextIO, *, color: bool) -> None:
        # Local import: rich comes with the lock extra, and only a terminal draws bars.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        # rich also honours NO_COLOR and TERM=dumb itself (https://no-color.org).
        console = Console(file=stream, no_color=not color, highlight=False, soft_wrap=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
            TransferSpeedColumn(), TimeElapsedColumn(), console=console, transient=True)

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def info(self, text: str) -> None:
        self.progress.console.print(f"envsnap: {text}", markup=False)

    def transfer(self, name: str, total: int | None) -> Transfer:
        return _BarTransfer(self, self.progress.add_task(name, total=total), name)


class Steps:
    """Steps of a long job (a Docker build) with the time each took.

    A terminal gets one line that updates in place with the running step and its elapsed
    time; otherwise each step is a line when it starts and ``[N] <seconds>s`` (or
    ``[N] cached``) when it ends.
    """

    def __init__(self, stream: TextIO, *, tty: bool, width: int = 100) -> None:
        self._stream = stream
        self._tty = tty
        self._width = width
        self._current: tuple[int, int, str] | None = None
        self._started = 0.0
        self._cached = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if tty:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _line(self) -> str:
        assert self._current is not None
        step, total, text = self._current
        took = time.monotonic() - self._started
        return f"[{step}/{total}] {took:5.1f}s {text}"

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._current is not None:
                    self._stream.write("\r\x1b[2K" + self._line()[: self._width - 1])
                    self._stream.flush()

    def _finish(self) -> None:
        if self._current is None:
            return
        step, total, text = self._current
        took = time.monotonic() - self._started
        if self._tty:
            end = "cached" if self._cached else f"{took:.1f}s"
            self._stream.write("\r\x1b[2K" + f"envsnap: [{step}/{total}] {end:>7} {text}"[
                : self._width - 1] + "\n")
        else:
            self._stream.write(f"envsnap: [{step}] " + ("cached" if self._cached
                                                        else f"{took:.1f}s") + "\n")
        self._current = None

    def step(self, step: int, total: int, text: str) -> None:
        with self._lock:
            self._finish()
            self._current = (step, total, text)
            self._started = time.monotonic()
            self._cached = False
            if not self._tty:
                self._stream.write(f"envsnap: [{step}/{total}] {text}\n")

    def cached(self) -> None:
        with self._lock:
            self._cached = True

    def message(self, text: str) -> None:
        with self._lock:
            self._stream.write(("\r\x1b[2K" if self._tty else "") + text + "\n")

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._finish()
        if self._ticker is not None:
            self._ticker.join(timeout=2)


def reporter(stream: TextIO, *, tty: bool, color: bool,
             write: Callable[[str], None] | None = None) -> Reporter:
    """Bars on a terminal, plain lines (through ``write``) otherwise. A Bars reporter must be
    entered (``with``) to draw; see :func:`envsnap.cli.lock`."""
    if tty:
        return Bars(stream, color=color)

    def line(text: str) -> None:
        stream.write(f"envsnap: {text}\n")

    return Lines(write or line)
