"""pool.load_all: a second large file parsed in a forked process while the first is read here,
with the same snapshots, errors and warnings as reading both here. Each case runs in a fresh
interpreter: a process forks only while it runs one thread, and a test process may hold
threads other tests left."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from envsnap import io as snapio
from envsnap.snapshot import Package, PythonEnv, Snapshot

# Counts the files handed to background processes; a lower size from which one pays (the
# real one is half a megabyte, 8,000 packages) keeps the files small.
PRELUDE = """
import json, sys, warnings
from envsnap import io, pool
pool.BACKGROUND_FROM = 8192
pool._usable_cpus = lambda: 2
started = []
_real = pool._Background
def _counting(ctx, path):
    started.append(path)
    return _real(ctx, path)
pool._Background = _counting
a, b = sys.argv[1:3]
"""


def fresh(code: str, *files: str) -> Any:
    """Run PRELUDE + ``code`` in a new interpreter; what it prints as JSON."""
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), *files],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def big(n: int, *, bump: int | None = None) -> Snapshot:
    """n packages, each requiring the next (about 70 bytes of TOML a package)."""
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"package-{i:05d}", version="2.0" if i == bump else "1.0", installer="pip",
                requires=(f"package-{i + 1:05d}>=1.0",) if i + 1 < n else ())
        for i in range(n))))


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[str, str]:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    snapio.dump(big(400), a)
    snapio.dump(big(400, bump=7), b)
    assert min(a.stat().st_size, b.stat().st_size) >= 8192
    return str(a), str(b)


def test_the_second_file_is_read_in_the_background_and_reads_the_same(
        pair: tuple[str, str]) -> None:
    got = fresh("""
        x, y = pool.load_all([a, b])
        print(json.dumps({"started": started, "same": [x == io.load(a), y == io.load(b)],
                          "digest": y.digest == io.read(b).data["digest"]}))
    """, *pair)
    assert got == {"started": [pair[1]], "same": [True, True], "digest": True}


def test_one_cpu_small_files_and_threads_read_here(pair: tuple[str, str], tmp_path: Path) -> None:
    small = tmp_path / "small.toml"
    snapio.dump(big(10), small)
    assert small.stat().st_size < 8192
    got = fresh("""
        import threading
        pool.load_all([a, sys.argv[3]])
        pool._usable_cpus = lambda: 1
        pool.load_all([a, b])
        pool._usable_cpus = lambda: 2
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        pool.load_all([a, b])  # never fork a process that runs threads
        stop.set()
        thread.join()
        pool.load_all([a, b])
        print(json.dumps(started))
    """, *pair, str(small))
    assert got == [pair[1]]  # the last call only


@pytest.mark.parametrize("damage", ["schema = 2\n[python]\nversion = 3\n", "not toml [",
                                    "\udcff"])
def test_a_bad_second_file_gives_the_message_reading_it_here_gives(
        pair: tuple[str, str], damage: str) -> None:
    Path(pair[1]).write_text(Path(pair[1]).read_text() + "\n" + damage, errors="surrogateescape")
    got = fresh("""
        from envsnap.errors import EnvsnapError
        said = []
        for call in (lambda: io.load(b), lambda: pool.load_all([a, b])):
            try:
                call()
            except EnvsnapError as exc:
                said.append(f"{type(exc).__name__}: {exc}")
        print(json.dumps({"started": started, "said": said}))
    """, *pair)
    here, background = got["said"]
    assert got["started"] == [pair[1]] and background == here and pair[1] in here


def test_an_edited_second_file_warns_once(pair: tuple[str, str]) -> None:
    Path(pair[1]).write_text(Path(pair[1]).read_text().replace("version = '2.0'", "version = '3.0'"))
    got = fresh("""
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            pool.load_all([a, b])
        print(json.dumps({"started": started, "said": [str(w.message) for w in said]}))
    """, *pair)
    assert got == {"started": [pair[1]], "said": [
        f"{pair[1]}: content does not match its digest (it was edited after capture)"]}


def test_a_background_process_that_dies_is_read_here_instead(pair: tuple[str, str]) -> None:
    got = fresh("""
        import os
        pool._parse_to = lambda conn, path: os._exit(9)  # out of memory looks like this
        x, y = pool.load_all([a, b])
        print(json.dumps({"started": started, "same": y == io.load(b)}))
    """, *pair)
    assert got == {"started": [pair[1]], "same": True}


def test_diff_of_two_large_files(pair: tuple[str, str]) -> None:
    got = fresh("""
        import io as text
        from envsnap.cli import Console, main
        out, err = text.StringIO(), text.StringIO()
        code = main(["diff", a, b, "--format", "json"], Console(out=out, err=err))
        print(json.dumps({"started": started, "code": code, "err": err.getvalue(),
                          "names": [c["name"] for c in json.loads(out.getvalue())["changes"]]}))
    """, *pair)
    assert got == {"started": [pair[1]], "code": 0, "err": "", "names": ["package-00007"]}

