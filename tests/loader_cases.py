"""Small real ELF layouts, one per loader rule, built with cc; and the real loader's answer for each.

Used live by tests/integration/test_loader_real.py and, through scripts/record_loader_cases.py,
recorded into tests/data/loader/cases.json for the offline unit tier.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from envsnap import ldso
from envsnap.elf import read_info
from envsnap.host import LocalHost

ROOT_LABEL = "/case"  # recorded paths are relative to this


@dataclass(frozen=True)
class Lib:
    """One shared object: its SONAME, where it lies (relative to the case root), the SONAMEs
    it links against, and the dynamic tags that steer their search."""

    soname: str
    file: str
    needs: tuple[str, ...] = ()
    rpath: str | None = None
    runpath: str | None = None
    nodeflib: bool = False
    tag: int = 1  # what its id function returns: tells copies apart in a failure message


@dataclass(frozen=True)
class Case:
    name: str
    rule: str  # what it shows
    libs: tuple[Lib, ...]
    needs: tuple[str, ...] = ()  # the program's own DT_NEEDED
    rpath: str | None = None  # the program's
    runpath: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # {root} is the case's folder
    cache_dirs: tuple[str, ...] = ()  # folders a private ld.so.cache indexes (unshare + bind mount)
    dlopen: str | None = None  # load this object from Python with ctypes instead of a program
    link_only: tuple[str, ...] = ()  # files present at link time only (a library gone missing)


def _stem(soname: str) -> str:
    return re.sub(r"\W", "_", soname.split(".so")[0].removeprefix("lib"))


CASES: tuple[Case, ...] = (
    Case(name="rpath", rule="DT_RPATH is searched before LD_LIBRARY_PATH",
         libs=(Lib(soname="libfoo.so.1", file="a/libfoo.so.1", tag=1),
               Lib(soname="libfoo.so.1", file="b/libfoo.so.1", tag=2)),
         needs=("libfoo.so.1",), rpath="$ORIGIN/a", env={"LD_LIBRARY_PATH": "{root}/b"}),
    Case(name="runpath", rule="LD_LIBRARY_PATH is searched before DT_RUNPATH",
         libs=(Lib(soname="libfoo.so.1", file="a/libfoo.so.1", tag=1),
               Lib(soname="libfoo.so.1", file="b/libfoo.so.1", tag=2)),
         needs=("libfoo.so.1",), runpath="$ORIGIN/a", env={"LD_LIBRARY_PATH": "{root}/b"}),
    Case(name="rpath-inherited", rule="a library without RUNPATH searches its loader's RPATH",
         libs=(Lib(soname="libbar.so.1", file="a/libbar.so.1", needs=("libfoo.so.1",)),
               Lib(soname="libfoo.so.1", file="c/libfoo.so.1", tag=3)),
         needs=("libbar.so.1",), rpath="$ORIGIN/a:$ORIGIN/c"),
    Case(name="runpath-not-inherited",
         rule="a library with RUNPATH ignores every RPATH, its loader's too",
         libs=(Lib(soname="libbar.so.1", file="a/libbar.so.1", needs=("libfoo.so.1",),
                   runpath="$ORIGIN/../d"),
               Lib(soname="libfoo.so.1", file="c/libfoo.so.1", tag=3),
               Lib(soname="libfoo.so.1", file="d/libfoo.so.1", tag=4)),
         needs=("libbar.so.1",), rpath="$ORIGIN/a:$ORIGIN/c"),
    Case(name="ld-library-path", rule="LD_LIBRARY_PATH, with an empty element and a trailing slash",
         libs=(Lib(soname="libfoo.so.1", file="b/libfoo.so.1", tag=2),),
         needs=("libfoo.so.1",), env={"LD_LIBRARY_PATH": "{root}/nothere::{root}/b/"}),
    Case(name="preload", rule="a SONAME already loaded by LD_PRELOAD wins over DT_RPATH",
         libs=(Lib(soname="libfoo.so.1", file="a/libfoo.so.1", tag=1),
               Lib(soname="libfoo.so.1", file="b/libfoo.so.1", tag=2)),
         needs=("libfoo.so.1",), rpath="$ORIGIN/a", env={"LD_PRELOAD": "{root}/b/libfoo.so.1"}),
    Case(name="ld-cache", rule="ld.so.cache, its glibc-hwcaps entry first, after LD_LIBRARY_PATH",
         libs=(Lib(soname="libfoo.so.1", file="e/libfoo.so.1", tag=5),
               Lib(soname="libfoo.so.1", file="e/glibc-hwcaps/x86-64-v2/libfoo.so.1", tag=6),
               Lib(soname="libqux.so.1", file="e/libqux.so.1", tag=7)),
         needs=("libfoo.so.1", "libqux.so.1"), cache_dirs=("e",)),
    Case(name="origin", rule="$ORIGIN, ${ORIGIN} and $LIB expanded, in RUNPATH",
         libs=(Lib(soname="libbar.so.1", file="x/libbar.so.1", needs=("libfoo.so.1",),
                   runpath="${ORIGIN}/../y/$LIB"),
               Lib(soname="libfoo.so.1", file="y/{LIB}/libfoo.so.1", tag=8)),
         needs=("libbar.so.1",), runpath="$ORIGIN/x"),
    Case(name="missing", rule="a library found nowhere fails the load",
         libs=(Lib(soname="libgone.so.1", file="gone/libgone.so.1"),),
         needs=("libgone.so.1",), rpath="$ORIGIN/a", link_only=("gone/libgone.so.1",)),
    Case(name="dlopen-python", rule="a library dlopened from Python searches its own RPATH, "
         "then its loaders' (none: it was dlopened)",
         libs=(Lib(soname="libroot.so", file="r/libroot.so", needs=("libbar.so.1",),
                   rpath="$ORIGIN/../a:$ORIGIN/../c"),
               Lib(soname="libbar.so.1", file="a/libbar.so.1", needs=("libfoo.so.1",)),
               Lib(soname="libfoo.so.1", file="c/libfoo.so.1", tag=3),
               Lib(soname="libfoo.so.1", file="b/libfoo.so.1", tag=2)),
         dlopen="r/libroot.so", env={"LD_LIBRARY_PATH": "{root}/b"}),
    Case(name="nodeflib", rule="DF_1_NODEFLIB skips the cache's system entries and the "
         "default directories",
         libs=(Lib(soname="libbar.so.1", file="a/libbar.so.1", needs=("libfoo.so.1", "libz.so.1"),
                   nodeflib=True),
               Lib(soname="libfoo.so.1", file="e/libfoo.so.1", tag=5)),
         needs=("libbar.so.1",), rpath="$ORIGIN/a", cache_dirs=("e",)),
)


# ---------------------------------------------------------------------------------------------
# Building


def _cc(args: Sequence[str | os.PathLike[str]]) -> None:
    proc = subprocess.run(["cc", *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"cc failed: {proc.stderr}")


def _dtags(rpath: str | None, runpath: str | None) -> list[str]:
    if rpath is not None:
        return ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
    if runpath is not None:
        return ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
    return []


def _calls(needs: Sequence[str]) -> tuple[str, str]:
    decls = "".join(f"extern int {_stem(n)}_id(void);\n" for n in needs if n != "libz.so.1")
    decls += "extern const char *zlibVersion(void);\n" if "libz.so.1" in needs else ""
    body = " + ".join([f"{_stem(n)}_id()" for n in needs if n != "libz.so.1"] or ["0"])
    body += " + (int)zlibVersion()[0]" if "libz.so.1" in needs else ""
    return decls, body


def build(case: Case, root: Path, lib_dir: str) -> Path:
    """The case's files under ``root`` (``{LIB}`` in a file name is the loader's $LIB)."""
    root.mkdir(parents=True, exist_ok=True)
    src = root / "src"
    src.mkdir(exist_ok=True)
    by_soname: dict[str, Path] = {}
    local = {lib.soname for lib in case.libs}
    pending = list(enumerate(case.libs))
    order: list[tuple[int, Lib]] = []
    while pending:  # a library is linked after the ones it needs exist
        ready = [(i, lib) for i, lib in pending
                 if all(n in {o.soname for _, o in order} or n not in local for n in lib.needs)]
        assert ready, f"{case.name}: libraries need each other"
        order += ready
        pending = [p for p in pending if p not in ready]
    for i, lib in order:
        out = root / lib.file.replace("{LIB}", lib_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        decls, body = _calls(lib.needs)
        c = src / f"lib{i}.c"
        c.write_text(f"{decls}int {_stem(lib.soname)}_id(void) {{ return {lib.tag}; }}\n"
                     f"int {_stem(lib.soname)}_uses_{i}(void) {{ return {body}; }}\n")
        deps: list[str | Path] = [by_soname[n] for n in lib.needs if n in by_soname]
        deps += ["-lz"] if "libz.so.1" in lib.needs else []
        flags = ["-Wl,-z,nodefaultlib"] if lib.nodeflib else []
        _cc(["-shared", "-fPIC", "-o", out, c, f"-Wl,-soname,{lib.soname}", "-Wl,--no-as-needed",
             *deps, *_dtags(lib.rpath, lib.runpath), *flags])
        by_soname.setdefault(lib.soname, out)
    if case.dlopen is None:
        decls, body = _calls(case.needs)
        c = src / "main.c"
        c.write_text(f"{decls}int main(void) {{ return ({body}) == -1; }}\n")
        _cc(["-o", root / "prog", c, "-Wl,--allow-shlib-undefined", "-Wl,--no-as-needed",
             *[by_soname[n] for n in case.needs], *_dtags(case.rpath, case.runpath)])
    for gone in case.link_only:
        (root / gone).unlink()
    return root


def env_of(case: Case, root: Path) -> dict[str, str]:
    return {k: v.replace("{root}", str(root)) for k, v in case.env.items()}


# ---------------------------------------------------------------------------------------------
# The real loader


_BINDING = re.compile(r"binding file (?P<from>\S+) \[\d+\] to (?P<to>\S+) \[\d+\]: "
                      r"normal symbol `(?P<sym>[^']+)'")


@dataclass(frozen=True)
class Truth:
    """What the real loader did: for each (object, SONAME it needs) the file it bound, by
    real path; and whether the load failed, naming the library it could not find."""

    bound: dict[str, str]  # "object-realpath needs soname" -> bound file's real path
    failed: str | None


def _key(obj: str, soname: str) -> str:
    return f"{obj} needs {soname}"


def cache_listing(root: Path, case: Case) -> str:
    """``ldconfig -p`` of the cache the case runs under: for cache cases a private one, built
    with ``ldconfig -C -f`` from the case's folders and the machine's own configuration (so
    libc is still found), else the machine's."""
    if not case.cache_dirs:
        return _run_text(["ldconfig", "-p"])
    conf = root / "ld.so.conf"
    conf.write_text("".join(f"{root / d}\n" for d in case.cache_dirs) + "include /etc/ld.so.conf\n")
    cache = root / "ld.so.cache"
    _run_text(["ldconfig", "-C", str(cache), "-f", str(conf)])
    return _run_text(["ldconfig", "-C", str(cache), "-p"])


def _run_text(argv: Sequence[str]) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def real_loader(case: Case, root: Path, objects: Sequence[ldso.ElfInfo]) -> Truth:
    """Run the case under ``LD_DEBUG=bindings LD_BIND_NOW=1`` and read which copy of each
    needed library each of the case's objects bound its symbols to."""
    out = root / "ld-debug"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_BIND_NOW": "1",
           "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(out), **env_of(case, root)}
    if case.dlopen is not None:
        argv = [sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(root / case.dlopen)!r})"]
    else:
        argv = [str(root / "prog")]
    if case.cache_dirs:
        # The loader reads /etc/ld.so.cache only: the private cache is mounted over it in a
        # mount namespace of this command alone.
        cache = root / "ld.so.cache"
        argv = ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/ld.so.cache && exec "$@"', str(cache), *argv]
    for old in root.glob("ld-debug.*"):
        old.unlink()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    failed = None
    m = re.search(r"error while loading shared libraries: (\S+?):", proc.stderr) or re.search(
        r"OSError: (\S+?): cannot open shared object file", proc.stderr)
    if m:
        failed = m.group(1)
    elif proc.returncode not in (0, 1):
        raise AssertionError(f"{case.name}: exited {proc.returncode}: {proc.stderr[-2000:]}")
    ours = {o.realpath: o for o in objects}
    stems = {_stem(n): n for o in objects for n in o.needed}
    bound: dict[str, str] = {}
    for trace in root.glob("ld-debug.*"):
        for line in trace.read_text(errors="replace").splitlines():
            b = _BINDING.search(line)
            if b is None:
                continue
            src = os.path.realpath(b.group("from"))
            sym = b.group("sym")
            if src in ours and sym.endswith("_id") and sym[:-3] in stems:
                bound[_key(src, stems[sym[:-3]])] = os.path.realpath(b.group("to"))
            elif src in ours and sym == "zlibVersion":
                bound[_key(src, "libz.so.1")] = os.path.realpath(b.group("to"))
    return Truth(bound=bound, failed=failed)


# ---------------------------------------------------------------------------------------------
# envsnap's answer


class RecordingLookup:
    """The ELF edge on the real files, remembering every answer for the recorded unit tier."""

    def __init__(self) -> None:
        self.host = LocalHost()
        self.seen: dict[str, ldso.ElfInfo | None] = {}

    def __call__(self, path: str) -> ldso.ElfInfo | None:
        if path not in self.seen:
            opened = self.host.open_binary(path)
            if opened is None:
                self.seen[path] = None
            else:
                stream, ident = opened
                with stream:
                    self.seen[path] = read_info(stream, path=path, realpath=os.path.realpath(path),
                                                ident=ident)
        return self.seen[path]


def loader_config() -> ldso.LoaderConfig:
    env = {"PATH": "/usr/bin:/bin", "LD_DEBUG": "libs", "LD_LIBRARY_PATH": ldso.PROBE_LIBRARY_PATH,
           "LD_PRELOAD": ldso.PROBE_PRELOAD}
    proc = subprocess.run([sys.executable, "-S", "-c", ""], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    config = ldso.parse_loader_trace(proc.stderr)
    assert config is not None, proc.stderr[-2000:]
    return config


def executable_path(case: Case, root: Path) -> str:
    return os.path.realpath(sys.executable if case.dlopen is not None else root / "prog")


def predict(case: Case, root: Path, lookup: Callable[[str], ldso.ElfInfo | None],
            config: ldso.LoaderConfig, listing: str) -> ldso.Process:
    env = env_of(case, root)
    search = ldso.SearchEnv(ld_library_path=env.get("LD_LIBRARY_PATH", ""),
                            ld_preload=env.get("LD_PRELOAD", ""),
                            cache=ldso.parse_ldconfig(listing), config=config)
    exe = lookup(executable_path(case, root))
    assert exe is not None
    process = ldso.Process(search, lookup, exe)
    if case.dlopen is not None:
        process.dlopen(str(root / case.dlopen))
    return process


def answer(process: ldso.Process, root: Path | str) -> Truth:
    """envsnap's answer in the same shape as the real loader's, for the case's own objects."""
    bound: dict[str, str] = {}
    for obj in process.objects:
        if not obj.info.realpath.startswith(str(root) + "/"):
            continue
        for name in obj.info.needed:
            dep = process.find(name)
            if dep is not None:
                bound[_key(obj.info.realpath, name)] = dep.info.realpath
    failed = process.failures[0].name if process.failures else None
    return Truth(bound=bound, failed=failed)


# ---------------------------------------------------------------------------------------------
# Recording for the unit tier: paths relative to ROOT_LABEL, identities made path-based.


def _relabel(text: str, root: Path, label: str = ROOT_LABEL) -> str:
    return text.replace(str(root), label)


def recorded_files(seen: Mapping[str, ldso.ElfInfo | None], root: Path,
                   label: str = ROOT_LABEL) -> dict[str, object]:
    """Every file the resolver found, relabelled; a path not listed did not exist."""
    files: dict[str, object] = {}
    for path, info in sorted(seen.items()):
        if info is None:
            continue
        data = asdict(info)
        data["ident"] = info.realpath  # device and inode are this machine's: the path stands in
        files[_relabel(path, root, label)] = json.loads(_relabel(json.dumps(data), root, label))
    return files


def record(case: Case, root: Path, lookup: RecordingLookup, config: ldso.LoaderConfig,
           listing: str, truth: Truth) -> dict[str, object]:
    """One case as committed data: every ELF answer the resolver asked for, the cache entries
    for the names involved, the loader's configuration and the real loader's answer."""
    names = {lib.soname for lib in case.libs} | set(case.needs) | {
        n for info in lookup.seen.values() if info is not None for n in info.needed}
    cache = [line for line in listing.splitlines() if line.strip().split(" ")[0] in names]
    return {
        "name": case.name,
        "rule": case.rule,
        "executable": _relabel(executable_path(case, root), root),
        "dlopen": _relabel(str(root / case.dlopen), root) if case.dlopen else None,
        "env": {k: _relabel(v, root) for k, v in env_of(case, root).items()},
        "config": asdict(config),
        "cache": _relabel("\n".join(cache), root),
        "files": recorded_files(lookup.seen, root),
        "truth": {"bound": {_relabel(k, root): _relabel(v, root) for k, v in truth.bound.items()},
                  "failed": truth.failed},
    }


def replay(data: Mapping[str, object]) -> tuple[ldso.Process, Truth]:
    """A recorded case run again through the resolver, offline: (envsnap's process, the
    recorded real loader's answer)."""
    files = cast(Mapping[str, Mapping[str, object]], data["files"])

    def lookup(path: str) -> ldso.ElfInfo | None:
        info = files.get(path)
        if info is None:
            return None
        fields = dict(info)
        fields["needed"] = tuple(cast(list[str], fields["needed"]))
        return ldso.ElfInfo(**fields)  # type: ignore[arg-type]

    config = dict(cast(Mapping[str, object], data["config"]))
    for key in ("subdirs", "hwcaps", "system_dirs"):
        config[key] = tuple(cast(list[str], config[key]))
    env = cast(Mapping[str, str], data["env"])
    search = ldso.SearchEnv(ld_library_path=env.get("LD_LIBRARY_PATH", ""),
                            ld_preload=env.get("LD_PRELOAD", ""),
                            cache=ldso.parse_ldconfig(cast(str, data["cache"])),
                            config=ldso.LoaderConfig(**config))  # type: ignore[arg-type]
    exe = lookup(cast(str, data["executable"]))
    assert exe is not None
    process = ldso.Process(search, lookup, exe)
    if data.get("dlopen"):
        process.dlopen(cast(str, data["dlopen"]))
    truth = cast(Mapping[str, object], data["truth"])
    return process, Truth(bound=dict(cast(Mapping[str, str], truth["bound"])),
                          failed=cast("str | None", truth["failed"]))


def disagreement(case: Case, truth: Truth, ours: Truth) -> str | None:
    """None when envsnap's answer is the real loader's: the same failure, or the same file for
    every SONAME the case's own objects need (the real loader binds nothing after a failure)."""
    if truth.failed or ours.failed:
        same = truth.failed == ours.failed
        return None if same else f"{case.name}: loader failed on {truth.failed}, envsnap on {ours.failed}"
    sonames = {lib.soname for lib in case.libs} | {"libz.so.1"}
    mine = {k: v for k, v in ours.bound.items() if k.split(" needs ")[1] in sonames}
    if mine != truth.bound:
        return f"{case.name}: loader bound {truth.bound}, envsnap says {mine}"
    return None


def run_case(case: Case, root: Path) -> tuple[Truth, Truth, dict[str, object]]:
    """Build, ask the real loader, ask envsnap: (real, envsnap's, recorded form)."""
    if root.exists():
        shutil.rmtree(root)
    config = loader_config()
    build(case, root, config.lib)
    listing = cache_listing(root, case)
    lookup = RecordingLookup()
    process = predict(case, root, lookup, config, listing)
    ours = answer(process, root)
    objects = [o.info for o in process.objects]
    truth = real_loader(case, root, objects)
    return truth, ours, record(case, root, lookup, config, listing, truth)
