"""Malformed and hostile inputs through the real CLI: each exits 2 (or completes correctly)
within 5 s with one line on stderr, no traceback, nothing partial written, memory bounded."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.snapshot import (
    GPU,
    Framework,
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    PythonEnv,
    Snapshot,
    Source,
)

ENVSNAP = str(Path(sys.executable).parent / "envsnap")
LIMIT_S = 5.0
MEMORY_BYTES = 1 << 30  # address space: a runaway read or recursion dies, it does not swap

BASE = Snapshot(
    meta=Meta(envsnap_version="0.1.0", captured_at="2026-11-29T10:00:00Z", hostname="node"),
    python=PythonEnv(version="3.11.7", implementation="cpython", abi_tag="cp311",
                     platform_tag="linux_x86_64", env_kind="venv",
                     packages=(Package(name="numpy", version="2.1.0", requires=()),
                               Package(name="pandas", version="2.2.3", requires=("numpy>=1.26",),
                                       tags=("cp311-cp311-manylinux_2_17_x86_64",), native=True),
                               Package(name="mylib", version="0.1", source=Source(
                                   kind="vcs", url="git+https://github.com/o/r.git", vcs="git",
                                   commit="a" * 40)))),
    os=OSInfo(system="Linux", arch="x86_64", glibc="2.36"),
    nvidia=NvidiaInfo(driver_version="580.65.06", gpus=(GPU(index=0, name="NVIDIA H100 80GB HBM3",
                                                            compute_capability="9.0"),)),
    frameworks=(Framework(name="torch", version="2.8.0+cu128", variant="cu128", cuda="12.8"),),
    env={"PYTHONHASHSEED": "0"},
)
# The cases below edit basic strings ("..."), as users write TOML by hand; envsnap itself
# writes literal strings ('...') where it can. Both are TOML: the reader must take both.
TEXT = re.sub(r"'([^'\\\"\n]*)'", r'"\1"', io.dumps(BASE))
assert io.loads(TEXT) == io.loads(io.dumps(BASE))
JSON = io.dumps_json(BASE)


def _replace_line(prefix: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.splitlines()
        i = next(n for n, line in enumerate(lines) if line.startswith(prefix))
        lines[i] = new
        return "\n".join(lines) + "\n"
    return edit


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


# Each: a snapshot text (bytes) built from the valid one. Every one of them must be refused.
MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\t\n",
    "binary": bytes(range(256)) * 4,
    "utf-16": TEXT.encode("utf-16"),
    "latin-1 byte": TEXT.encode() + b"\nhostname = \"\xe9\"\n",
    "nul byte": TEXT.encode().replace(b"[os]", b"[os]\x00", 1),
    "no schema": TEXT.replace("schema = 2\n", "").encode(),
    "schema 99": TEXT.replace("schema = 2", "schema = 99").encode(),
    "schema string": TEXT.replace("schema = 2", 'schema = "2"').encode(),
    "schema bool": TEXT.replace("schema = 2", "schema = true").encode(),
    "schema float": TEXT.replace("schema = 2", "schema = 2.0").encode(),
    "schema date": TEXT.replace("schema = 2", "schema = 2026-11-29").encode(),
    "duplicate package line": _append('\n')(TEXT).replace(
        "[python.packages]\n", '[python.packages]\nnumpy = {version = "1.0"}\n').encode(),
    "duplicate packages table": _append('\n[python.packages]\nevil = {version = "1.0"}\n')(TEXT).encode(),
    "repeated python header": _append('\n[python]\nversion = "3.11.7"\n')(TEXT).encode(),
    "repeated os header": _append('\n[os]\nsystem = "Linux"\n')(TEXT).encode(),
    "duplicate key": TEXT.replace('system = "Linux"', 'system = "Linux"\nsystem = "Linux"').encode(),
    "NaN": TEXT.replace('hostname = "node"', "hostname = NaN").encode(),
    "Infinity": TEXT.replace('hostname = "node"', "hostname = Infinity").encode(),
    "nan lowercase": TEXT.replace('hostname = "node"', "hostname = nan").encode(),
    "inf lowercase": TEXT.replace('hostname = "node"', "hostname = inf").encode(),
    "json-style colon": TEXT.replace('hostname = "node"', 'hostname: "node"').encode(),
    "unterminated string": TEXT.replace('hostname = "node"', 'hostname = "node').encode(),
    "unterminated table": TEXT.replace("[os]", "[os").encode(),
    "unterminated array": TEXT.replace('["numpy>=1.26"]', '["numpy>=1.26"').encode(),
    "truncated": TEXT[: len(TEXT) // 2].rstrip('"').encode(),
    "date as version": TEXT.replace('version = "3.11.7"', "version = 2026-11-29", 1).encode(),
    "time as hostname": TEXT.replace('hostname = "node"', "hostname = 10:00:00").encode(),
    "int as version": TEXT.replace('numpy = {version = "2.1.0"', "numpy = {version = 2").encode(),
    "float as version": TEXT.replace('numpy = {version = "2.1.0"', "numpy = {version = 2.1").encode(),
    "bool as name": TEXT.replace('name = "NVIDIA H100 80GB HBM3"', "name = true").encode(),
    "string as index": TEXT.replace("index = 0", 'index = "0"').encode(),
    "bool as index": TEXT.replace("index = 0", "index = false").encode(),
    "array as os": TEXT.replace('system = "Linux"', 'system = ["Linux"]').encode(),
    "table as requires": TEXT.replace('requires = ["numpy>=1.26"]', "requires = {a = 1}").encode(),
    "string as requires": TEXT.replace('requires = ["numpy>=1.26"]', 'requires = "numpy"').encode(),
    "int in requires": TEXT.replace('requires = ["numpy>=1.26"]', "requires = [1]").encode(),
    "packages as array": TEXT.replace("[python.packages]\n", "[python]\npackages = [1]\n[x]\n").encode(),
    "package as string": TEXT.replace('numpy = {version = "2.1.0"}', 'numpy = "2.1.0"').encode(),
    "python as string": TEXT.replace("[python]\n", "python = 1\n[python_]\n").encode(),
    "missing python version": _replace_line('version = "3.11.7"', "")(TEXT).encode(),
    "missing package version": TEXT.replace('numpy = {version = "2.1.0"}', "numpy = {}").encode(),
    "missing gpu name": TEXT.replace('name = "NVIDIA H100 80GB HBM3", ', "").encode(),
    "name with newline": TEXT.replace("numpy = {", '"numpy\\nRUN id" = {').encode(),
    "name with semicolon": TEXT.replace("numpy = {", '"numpy;id" = {').encode(),
    "name with space": TEXT.replace("numpy = {", '"num py" = {').encode(),
    "name empty": TEXT.replace("numpy = {", '"" = {').encode(),
    "name unicode": TEXT.replace("numpy = {", '"nümpy" = {').encode(),
    "version newline": TEXT.replace('version = "2.1.0"', 'version = "2.1.0\\n"').encode(),
    "version trailing newline 3.20": TEXT.replace('version = "2.1.0"', 'version = "3.20\\n"').encode(),
    "version cr": TEXT.replace('version = "2.1.0"', 'version = "2.1.0\\r"').encode(),
    "version shell": TEXT.replace('version = "2.1.0"', 'version = "$(id)"').encode(),
    "version space": TEXT.replace('version = "2.1.0"', 'version = "2.1 .0"').encode(),
    "version too long": TEXT.replace('version = "2.1.0"', f'version = "{"1" * 300}"').encode(),
    "python version shell": TEXT.replace('version = "3.11.7"', 'version = "3.11;id"', 1).encode(),
    "requirement with marker": TEXT.replace('"numpy>=1.26"', '"numpy>=1.26; os_name == \'nt\'"').encode(),
    "requirement with space": TEXT.replace('"numpy>=1.26"', '"numpy >=1.26"').encode(),
    "requirement with newline": TEXT.replace('"numpy>=1.26"', '"numpy\\n>=1.26"').encode(),
    "source url newline": TEXT.replace("git+https://github.com/o/r.git", "git+https://x\\n/r.git").encode(),
    "source url escape": TEXT.replace("git+https://github.com/o/r.git", "git+https://x\\u001b[2J").encode(),
    "env value newline": TEXT.replace('PYTHONHASHSEED = "0"', 'PYTHONHASHSEED = "0\\nRUN id"').encode(),
    "env value tab": TEXT.replace('PYTHONHASHSEED = "0"', 'PYTHONHASHSEED = "0\\t1"').encode(),
    "env name dot": TEXT.replace('PYTHONHASHSEED = "0"', '"A.B" = "0"').encode(),
    "env name dash": TEXT.replace('PYTHONHASHSEED = "0"', '"A-B" = "0"').encode(),
    "env name newline": TEXT.replace('PYTHONHASHSEED = "0"', '"A\\nB" = "0"').encode(),
    "env name empty": TEXT.replace('PYTHONHASHSEED = "0"', '"" = "0"').encode(),
    "env value int": TEXT.replace('PYTHONHASHSEED = "0"', "PYTHONHASHSEED = 0").encode(),
    "framework name shell": TEXT.replace('name = "torch"', 'name = "torch;id"').encode(),
    "framework version newline": TEXT.replace('version = "2.8.0+cu128"', 'version = "2.8.0\\n"', 1).encode(),
    "deep arrays": TEXT.replace('hostname = "node"', "hostname = " + "[" * 100_000 + "]" * 100_000).encode(),
    "deep inline tables": TEXT.replace('hostname = "node"',
                                       "hostname = " + "{a=" * 50_000 + "1" + "}" * 50_000).encode(),
    "deep dotted keys": (TEXT + "\n[" + ".".join(["a"] * 5000) + "]\n").encode(),
    "json duplicate key": JSON.replace('{\n', '{\n  "schema": 2,\n', 1).encode(),
    "json NaN": JSON.replace('"hostname": "node"', '"hostname": NaN').encode(),
    "json Infinity": JSON.replace('"hostname": "node"', '"hostname": -Infinity').encode(),
    "json lone surrogate": JSON.replace('"hostname": "node"', '"hostname": "\\ud800"').encode(),
    "json deep": ('{"schema": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(),
    "json truncated": JSON[: len(JSON) // 2].encode(),
    "json array": b"[1, 2, 3]",
    "json wrong type": JSON.replace('"hostname": "node"', '"hostname": 5').encode(),
    "toml array at top": b"schema = 2\n[[python]]\nversion = \"3.11.7\"\n",
    "huge string": TEXT.replace('hostname = "node"', f'hostname = "{"x" * (70 << 20)}"').encode(),
}


def run(*argv: str, cwd: Path | None = None, stdin: bytes | None = None) -> tuple[int, str, str, float]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))

    start = time.monotonic()
    proc = subprocess.run([ENVSNAP, *argv], capture_output=True, timeout=60, cwd=cwd,
                          input=stdin, env=support.clean_env(), preexec_fn=limit, check=False)
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"), time.monotonic() - start)


def assert_refused(rc: int, err: str, elapsed: float, what: str) -> None:
    assert rc == 2, (what, rc, err[-2000:])
    assert "Traceback" not in err, (what, err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envsnap: error: "), (what, err[-2000:])
    assert elapsed < LIMIT_S, (what, elapsed)


def _commands(snap: Path, out: Path, good: Path) -> dict[str, list[str]]:
    return {
        "show": ["show", str(snap)],
        "show --json": ["show", "--json", str(snap)],
        "diff A": ["diff", str(snap), str(good)],
        "diff B": ["diff", str(good), str(snap), "--format", "json"],
        "check": ["check", str(snap), "--host-only"],
        "lock": ["lock", str(snap), "-o", str(out), "--offline", "--wheelhouse", str(out.parent)],
        "build-image": ["build-image", str(snap), "--dockerfile-only", "-o", str(out)],
    }


# Every malformed file through show; a spread of them through every other command.
_SPREAD = ("duplicate package line", "duplicate packages table", "NaN", "date as version",
           "version trailing newline 3.20", "env name dot", "deep arrays", "json lone surrogate",
           "binary", "python version shell", "name with newline", "huge string")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_show_refuses_every_malformed_snapshot(case: str, tmp_path: Path) -> None:
    snap = tmp_path / "bad.toml"
    snap.write_bytes(MALFORMED[case])
    rc, out, err, elapsed = run("show", str(snap))
    assert_refused(rc, err, elapsed, case)
    assert out == ""
    assert str(snap) in err


@pytest.mark.parametrize("command", ["show --json", "diff A", "diff B", "check", "lock", "build-image"])
@pytest.mark.parametrize("case", _SPREAD)
def test_every_command_refuses_malformed_snapshots_and_writes_nothing(
        case: str, command: str, tmp_path: Path) -> None:
    snap, good, out = tmp_path / "bad.toml", tmp_path / "good.toml", tmp_path / "out"
    snap.write_bytes(MALFORMED[case])
    good.write_text(TEXT)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, _, err, elapsed = run(*_commands(snap, out, good)[command])
    assert_refused(rc, err, elapsed, f"{command}: {case}")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no folder made


def test_a_snapshot_on_stdin_is_read_and_refused_alike(tmp_path: Path) -> None:
    for case in ("NaN", "binary", "empty"):
        rc, _, err, elapsed = run("show", "-", stdin=MALFORMED[case])
        assert_refused(rc, err, elapsed, case)
    rc, out, err, _ = run("show", "-", stdin=TEXT.encode())
    assert rc == 0 and "numpy" not in err and "3.11.7" in out


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/proc/self/mem", "/", "/nonexistent/x",
                                  "/etc/shadow-not-there"])
def test_devices_folders_and_missing_files(path: str) -> None:
    rc, _, err, elapsed = run("show", path)
    assert_refused(rc, err, elapsed, path)


def _good(tmp_path: Path) -> Path:
    snap = tmp_path / "good.toml"
    snap.write_text(TEXT)
    return snap


def _hostile_args(tmp_path: Path) -> dict[str, list[str]]:
    snap = _good(tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "target.toml")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    s = str(snap)
    return {
        "capture -o existing dir": ["capture", "--only", "os", "-o", str(a_dir)],
        "capture -o symlink": ["capture", "--only", "os", "-o", str(link)],
        "capture -o unwritable": ["capture", "--only", "os", "-o", "/proc/envsnap/x.toml"],
        "capture unknown probe": ["capture", "--only", "nope"],
        "capture --python missing": ["capture", "--python", "/nonexistent/python"],
        "capture --python a file": ["capture", "--python", str(a_file)],
        "lock -o a file": ["lock", s, "-o", str(a_file), "--offline", "--wheelhouse", str(a_dir)],
        "lock --wheelhouse a file": ["lock", s, "-o", str(tmp_path / "o1"), "--offline", "--wheelhouse",
                                     str(a_file)],
        "lock --offline missing wheelhouse": ["lock", s, "-o", str(tmp_path / "o2"), "--offline",
                                              "--wheelhouse", str(tmp_path / "missing" / "dir")],
        "lock unknown format": ["lock", s, "--format", "nope"],
        "lock conda without conda": ["lock", s, "-o", str(tmp_path / "o3"), "--format", "conda"],
        "build-image base newline": ["build-image", s, "--dockerfile-only", "-o", str(tmp_path / "o4"),
                                     "--base-image", "img\n", "--offline", "--wheelhouse", str(a_dir)],
        "build-image base-python newline": ["build-image", s, "--dockerfile-only", "-o",
                                            str(tmp_path / "o5"), "--base-python", "python3\n",
                                            "--offline", "--wheelhouse", str(a_dir)],
        "build-image label newline": ["build-image", s, "--dockerfile-only", "-o", str(tmp_path / "o6"),
                                      "--label", "a=b\nRUN id", "--offline", "--wheelhouse", str(a_dir)],
        "diff one file": ["diff", s],
        "diff three files": ["diff", s, s, s],
        "diff bad format": ["diff", s, s, "--format", "yaml"],
        "check bad fail-on": ["check", s, "--fail-on", "sometimes"],
        "unknown command": ["frobnicate"],
    }


def test_wrong_arguments_exit_2_with_one_line_and_create_nothing(tmp_path: Path) -> None:
    cases = _hostile_args(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for what, argv in cases.items():
        rc, _, err, elapsed = run(*argv, cwd=tmp_path)
        assert rc == 2, (what, rc, err)
        assert "Traceback" not in err and elapsed < LIMIT_S, (what, err)
        # argparse's own usage errors print a usage line before the error line
        error_lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
        assert len(error_lines) == 1, (what, err)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "target.toml").exists()


@pytest.mark.parametrize("field,value", [
    ("python.version", "3.999999999"), ("python.version", "abc"), ("python.version", "3"),
    ("os.glibc", "2.999999999"), ("tag", "cp311-cp311-manylinux_2_99999999_x86_64"),
    ("python.version", "999999999999999999999.1"),
])
def test_implausible_numbers_are_refused_or_ignored_fast(field: str, value: str, tmp_path: Path) -> None:
    # Written with a true digest: the numbers alone are what is odd about the file.
    assert BASE.python is not None and BASE.os is not None
    if field == "python.version":
        odd = replace(BASE, python=replace(BASE.python, version=value))
    elif field == "os.glibc":
        odd = replace(BASE, os=replace(BASE.os, glibc=value))
    else:
        odd = replace(BASE, python=replace(BASE.python, packages=tuple(
            replace(p, tags=(value,)) if p.tags else p for p in BASE.python.packages)))
    snap = tmp_path / "odd.toml"
    snap.write_text(io.dumps(odd))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for argv in (["lock", str(snap), "-o", str(tmp_path / "o"), "--offline", "--wheelhouse", str(wheels)],
                 ["build-image", str(snap), "--dockerfile-only", "-o", str(tmp_path / "ctx"), "--offline",
                  "--wheelhouse", str(wheels)],
                 ["check", str(snap), "--host-only"], ["diff", str(snap), str(snap)], ["show", str(snap)]):
        rc, _, err, elapsed = run(*argv)
        assert "Traceback" not in err and elapsed < LIMIT_S, (argv[0], err, elapsed)
        assert rc in (0, 1, 2), (argv[0], rc, err)
        if rc == 2:  # progress lines may precede it; the error is one line
            assert len([ln for ln in err.splitlines() if "error:" in ln]) == 1, (argv[0], err)


# --------------------------------------------------------------------------------------------
# Hostile dist-info folders: capture completes, records each as a problem, in bounded time.


def _touch(path: Path) -> Path:
    path.touch()
    return path


def _hostile_site(site: Path) -> dict[str, str]:
    """Plant hostile dist-infos; returns entry -> the problem kind capture must record
    (or "" when it must capture the package cleanly)."""
    expect: dict[str, str] = {}

    def dist(name: str, files: dict[str, bytes | Callable[[Path], None]], problem: str) -> None:
        d = site / f"{name}.dist-info"
        d.mkdir()
        for fname, content in files.items():
            if callable(content):
                content(d / fname)
            else:
                (d / fname).write_bytes(content)
        expect[d.name] = problem

    meta = b"Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n\n"
    dist("fifo-1.0", {"METADATA": lambda p: os.mkfifo(p)}, "no-metadata")
    dist("zero-1.0", {"METADATA": lambda p: p.symlink_to("/dev/zero")}, "no-metadata")
    dist("loop-1.0", {"METADATA": lambda p: p.symlink_to(p)}, "no-metadata")
    dist("dirmeta-1.0", {"METADATA": lambda p: p.mkdir()}, "no-metadata")
    dist("big-1.0", {"METADATA": lambda p: os.truncate(_touch(p), (16 << 20) + 1)}, "too-large")
    dist("latin-1.0", {"METADATA": b"Name: l\xe9\nVersion: 1\n"}, "undecodable")
    dist("noname-1.0", {"METADATA": b"Version: 1.0\n\n"}, "no-name")
    dist("badname-1.0", {"METADATA": b"Name: a;id\nVersion: 1.0\n\n"}, "invalid-name")
    dist("badver-1.0", {"METADATA": b"Name: badver\nVersion: 1.0;id\n\n"}, "invalid-version")
    dist("deepurl-1.0", {"METADATA": meta % b"deepurl",
                         "direct_url.json": b"[" * 100_000 + b"]" * 100_000}, "invalid-direct-url")
    dist("ctrlurl-1.0", {"METADATA": meta % b"ctrlurl",
                         "direct_url.json": json.dumps({"url": "file:///x\n/y", "dir_info": {}}).encode()},
         "")
    dist("fifoinstaller-1.0", {"METADATA": meta % b"fifoinstaller",
                               "INSTALLER": lambda p: os.mkfifo(p)}, "")
    dist("zerowheel-1.0", {"METADATA": meta % b"zerowheel", "WHEEL": lambda p: p.symlink_to("/dev/zero")},
         "")
    dist("padded-1.0", {"METADATA": b"Name: padded\nVersion: 1.0\nSummary: " + b" " * 2_000_000 + b"x\n\n"},
         "")
    dist("reqbomb-1.0", {"METADATA": meta.replace(b"\n\n", b"\n") % b"reqbomb"
                         + b"".join(b"Requires-Dist: dep%d (>=1.0) ; python_version >= '3'\n" % i
                                    for i in range(20_000)) + b"\n"}, "")
    return expect


def test_capture_of_hostile_dist_infos_completes_and_records_each(tmp_path: Path) -> None:
    python = support.make_venv(tmp_path / "venv", with_pip=False)
    site = support.site_packages(python)
    expect = _hostile_site(site)
    out = tmp_path / "snap.toml"
    start = time.monotonic()
    proc = subprocess.run([ENVSNAP, "capture", "--python", str(python), "--only", "python", "-q",
                           "-o", str(out)], capture_output=True, text=True, timeout=60,
                          env=support.clean_env(), check=False,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES,) * 2))
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and elapsed < 3 * LIMIT_S, elapsed
    snap = io.load(out)  # what capture wrote, load accepts
    assert snap.python is not None
    problems = {p.path.rsplit("/", 1)[-1]: p.kind for p in snap.python.problems}
    for entry, kind in expect.items():
        if kind:
            assert problems.get(entry) == kind, (entry, problems.get(entry))
        else:
            name = entry.split("-")[0]
            assert snap.python.package(name) is not None, entry
    ctrl = snap.python.package("ctrlurl")
    assert ctrl is not None and ctrl.source is None  # the URL with a newline was dropped...
    assert any("ctrlurl" in w for w in snap.probes["python"].warnings)  # ...and named
