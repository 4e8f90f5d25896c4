"""pool.load_all: a second large file parsed in a forked process while the first is read here,
with the same snapshots, errors and warnings as reading both here."""

from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from envsnap import io as snapio
from envsnap import pool
from envsnap.cli import Console, main
from envsnap.errors import BadInputError, SnapshotFormatError
from envsnap.snapshot import Package, PythonEnv, Snapshot


def big(n: int, *, bump: int | None = None) -> Snapshot:
    """n packages, each requiring the next (about 70 bytes of TOML a package)."""
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"package-{i:05d}", version="2.0" if i == bump else "1.0", installer="pip",
                requires=(f"package-{i + 1:05d}>=1.0",) if i + 1 < n else ())
        for i in range(n))))


@pytest.fixture()
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two files past the size from which a background process pays (lowered: the real one
    is half a megabyte, 8,000 packages)."""
    monkeypatch.setattr(pool, "BACKGROUND_FROM", 8192)
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    snapio.dump(big(400), a)
    snapio.dump(big(400, bump=7), b)
    assert min(a.stat().st_size, b.stat().st_size) >= pool.BACKGROUND_FROM
    return str(a), str(b)


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files handed to background processes."""
    assert threading.active_count() == 1, "a thread left over from another test"
    monkeypatch.setattr(pool, "_usable_cpus", lambda: 2)
    seen: list[str] = []
    real = pool._Background

    def counting(ctx: Any, path: str) -> Any:
        seen.append(path)
        return real(ctx, path)

    monkeypatch.setattr(pool, "_Background", counting)
    return seen


def test_the_second_file_is_read_in_the_background_and_reads_the_same(
        pair: tuple[str, str], started: list[str]) -> None:
    a, b = pool.load_all(list(pair))
    assert started == [pair[1]]
    assert a == snapio.load(pair[0]) and b == snapio.load(pair[1])
    assert b.digest == snapio.read(pair[1]).data["digest"]


def test_one_cpu_small_files_stdin_and_threads_read_here(
        pair: tuple[str, str], started: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "small.toml"
    snapio.dump(big(10), small)
    assert small.stat().st_size < pool.BACKGROUND_FROM
    pool.load_all([pair[0], str(small)])
    monkeypatch.setattr(pool, "_usable_cpus", lambda: 1)
    pool.load_all(list(pair))
    monkeypatch.setattr(pool, "_usable_cpus", lambda: 2)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        pool.load_all(list(pair))  # never fork a process that runs threads
    finally:
        stop.set()
        thread.join()
    assert started == []


@pytest.mark.parametrize("damage", ["schema = 2\n[python]\nversion = 3\n", "not toml [",
                                    "\udcff"])
def test_a_bad_second_file_gives_the_message_reading_it_here_gives(
        pair: tuple[str, str], started: list[str], damage: str) -> None:
    Path(pair[1]).write_text(Path(pair[1]).read_text() + "\n" + damage, errors="surrogateescape")
    with pytest.raises((BadInputError, SnapshotFormatError)) as here:
        snapio.load(pair[1])
    with pytest.raises(type(here.value)) as background:
        pool.load_all(list(pair))
    assert started == [pair[1]] and str(background.value) == str(here.value)
    assert pair[1] in str(background.value)


def test_an_edited_second_file_warns_once(pair: tuple[str, str], started: list[str]) -> None:
    Path(pair[1]).write_text(Path(pair[1]).read_text().replace("version = '2.0'", "version = '3.0'"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        pool.load_all(list(pair))
    assert started == [pair[1]]
    assert [str(w.message) for w in said] == [
        f"{pair[1]}: content does not match its digest (it was edited after capture)"]


def test_a_background_process_that_dies_is_read_here_instead(
        pair: tuple[str, str], started: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(conn: Any, path: str) -> None:
        os._exit(9)  # out of memory looks like this

    monkeypatch.setattr(pool, "_parse_to", killed)
    _, b = pool.load_all(list(pair))
    assert started == [pair[1]] and b == snapio.load(pair[1])


def test_diff_of_two_large_files(pair: tuple[str, str], started: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["diff", *pair, "--format", "json"], Console(out=out, err=err))
    assert rc == 0 and err.getvalue() == "" and started == [pair[1]]
    assert '"name": "package-00007"' in out.getvalue()
