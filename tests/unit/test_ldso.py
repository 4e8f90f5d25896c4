"""ldso: glibc's search rules over recorded ELF facts, checked against the real loader's recorded answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import loader_cases
import pytest

from envsnap import ldso

DATA = Path(__file__).resolve().parent.parent / "data" / "loader"
CASES = {c["name"]: c for c in json.loads((DATA / "cases.json").read_text())}
TRACE = (DATA / "ld-debug-libs-glibc2.36.txt").read_text()


# ---------------------------------------------------------------------------------------------
# Recorded real layouts: envsnap's answer is the real loader's


@pytest.mark.parametrize("name", sorted(CASES))
def test_recorded_case_agrees_with_the_real_loader(name: str) -> None:
    case = next(c for c in loader_cases.CASES if c.name == name)
    process, truth = loader_cases.replay(CASES[name])
    ours = loader_cases.answer(process, loader_cases.ROOT_LABEL)
    assert loader_cases.disagreement(case, truth, ours) is None
    assert truth.bound or truth.failed  # the recording holds an answer to compare with


def _via(name: str, obj: str, soname: str) -> tuple[str, str | None, str]:
    """How the object that ``obj`` binds for ``soname`` was found, in a replayed case."""
    process, _ = loader_cases.replay(CASES[name])
    found = process.find(soname)
    assert found is not None
    assert any(o.info.realpath == f"/case/{obj}" for o in process.objects)
    return found.via, found.found_by, found.info.realpath


@pytest.mark.parametrize(("case", "soname", "expected"), [
    ("rpath", "libfoo.so.1", ("rpath", "/case/prog", "/case/a/libfoo.so.1")),
    ("runpath", "libfoo.so.1", ("ld_library_path", "/case/prog", "/case/b/libfoo.so.1")),
    ("rpath-inherited", "libfoo.so.1", ("rpath", "/case/prog", "/case/c/libfoo.so.1")),
    ("runpath-not-inherited", "libfoo.so.1",
     ("runpath", "/case/a/libbar.so.1", "/case/d/libfoo.so.1")),
    ("ld-library-path", "libfoo.so.1", ("ld_library_path", "/case/prog", "/case/b/libfoo.so.1")),
    ("preload", "libfoo.so.1", ("preload", "LD_PRELOAD", "/case/b/libfoo.so.1")),
    ("ld-cache", "libfoo.so.1",
     ("ld_cache", "/case/prog", "/case/e/glibc-hwcaps/x86-64-v2/libfoo.so.1")),
    ("ld-cache", "libqux.so.1", ("ld_cache", "/case/prog", "/case/e/libqux.so.1")),
    ("origin", "libfoo.so.1",
     ("runpath", "/case/x/libbar.so.1", "/case/y/lib/x86_64-linux-gnu/libfoo.so.1")),
    ("dlopen-python", "libfoo.so.1", ("rpath", "/case/r/libroot.so", "/case/c/libfoo.so.1")),
])
def test_recorded_case_says_how(case: str, soname: str, expected: tuple[str, str, str]) -> None:
    assert _via(case, "prog" if case != "dlopen-python" else "r/libroot.so", soname) == expected


def test_recorded_failures_name_the_missing_library() -> None:
    for name, missing in (("missing", "libgone.so.1"), ("nodeflib", "libz.so.1")):
        process, truth = loader_cases.replay(CASES[name])
        assert [f.name for f in process.failures] == [missing] == [truth.failed]
    # DF_1_NODEFLIB still takes a cache entry outside the default directories.
    process, _ = loader_cases.replay(CASES["nodeflib"])
    foo = process.find("libfoo.so.1")
    assert foo is not None and (foo.via, foo.info.realpath) == ("ld_cache", "/case/e/libfoo.so.1")


def _torch() -> Mapping[str, Any]:
    data: Mapping[str, Any] = json.loads((DATA / "torch-2.14.1.json").read_text())
    return data


def test_recorded_torch_import_agrees_with_the_real_loader() -> None:
    from envsnap.probes import binding

    data = _torch()

    def lookup(path: str) -> ldso.ElfInfo | None:
        info = data["files"].get(path)
        return None if info is None else ldso.ElfInfo(**{**info, "needed": tuple(info["needed"])})

    raw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                           for k, v in data["config"].items()}
    config = ldso.LoaderConfig(**raw)
    env = ldso.SearchEnv(cache=ldso.parse_ldconfig(data["cache"]), config=config)
    exe = lookup(data["executable"])
    assert exe is not None
    process = ldso.Process(env, lookup, exe)
    how = binding.import_torch(process, torch_dir=data["torch_dir"], module=data["module"],
                               version=data["torch"], cuda=data["cuda"],
                               sys_path=data["sys_path"], listdir=lambda d: data["listdir"].get(d, []))
    assert how == data["how"]
    bound = {b.soname: b for b in binding.bindings_of(process)}
    assert len(data["truth"]) >= 10
    for soname, path in data["truth"].items():
        assert bound[soname].path == path, soname
    assert bound["libcudart.so.13"].via == "rpath"  # libtorch_global_deps found it first
    assert bound["libcudnn.so.9"].found_by == binding.TORCH_PRELOADER


# ---------------------------------------------------------------------------------------------
# The loader's own configuration and cache, parsed


def test_parse_loader_trace_of_glibc_236() -> None:
    config = ldso.parse_loader_trace(TRACE)
    assert config is not None
    assert config.subdirs[:3] == ("glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3",
                                  "glibc-hwcaps/x86-64-v2")
    assert "tls" in config.subdirs and config.subdirs[-1] == ""  # legacy hwcaps, then the dir
    assert config.hwcaps == ("x86-64-v4", "x86-64-v3", "x86-64-v2")
    assert (config.lib, config.platform) == ("lib/x86_64-linux-gnu", "x86_64")
    assert config.system_dirs == ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib",
                                  "/usr/lib")


@pytest.mark.parametrize("text", ["", "Segmentation fault\n",
                                  TRACE.replace("(system search path)", "(RUNPATH)")])
def test_parse_loader_trace_without_its_lines(text: str) -> None:
    assert ldso.parse_loader_trace(text) is None


LDCONFIG = """\
4 libs found in cache `/etc/ld.so.cache'
\tlibfoo.so.1 (libc6,x86-64, hwcap: "x86-64-v2") => /opt/e/glibc-hwcaps/x86-64-v2/libfoo.so.1
\tlibfoo.so.1 (libc6,x86-64) => /opt/e/libfoo.so.1
\tlibfoo.so.1 (libc6) => /opt/e32/libfoo.so.1
\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
Cache generated by: ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36
"""


def test_parse_ldconfig_flags_hwcap_and_os_abi() -> None:
    entries = ldso.parse_ldconfig(LDCONFIG)
    assert [(e.name, e.flags, e.hwcap) for e in entries] == [
        ("libfoo.so.1", "libc6,x86-64", "x86-64-v2"), ("libfoo.so.1", "libc6,x86-64", None),
        ("libfoo.so.1", "libc6", None), ("libc.so.6", "libc6,x86-64", None)]


@pytest.mark.parametrize(("hwcaps", "flags", "expected"), [
    (("x86-64-v3", "x86-64-v2"), "libc6,x86-64", "/opt/e/glibc-hwcaps/x86-64-v2/libfoo.so.1"),
    ((), "libc6,x86-64", "/opt/e/libfoo.so.1"),  # the level is not supported here
    (("x86-64-v2",), "libc6", "/opt/e32/libfoo.so.1"),  # a 32-bit process
    ((), "libc6,AArch64", None),
])
def test_cache_lookup(hwcaps: tuple[str, ...], flags: str, expected: str | None) -> None:
    assert ldso.cache_lookup(ldso.parse_ldconfig(LDCONFIG), "libfoo.so.1", flags, hwcaps) == expected


# ---------------------------------------------------------------------------------------------
# Search paths as fillin_rpath builds them

CFG = ldso.LoaderConfig(lib="lib64", platform="x86_64")


@pytest.mark.parametrize(("value", "seps", "expected"), [
    ("$ORIGIN/../lib:${ORIGIN}/x", ":", ["/o/rig/../lib", "/o/rig/x"]),
    ("$LIB/a:/b/$PLATFORM/", ":", ["lib64/a", "/b/x86_64"]),
    ("/a::/b", ":", ["/a", "", "/b"]),  # an empty element is the working directory
    ("/a/:/a//:/a", ":", ["/a"]),  # trailing slashes dropped, each directory once
    ("/a;/b", ":", ["/a;/b"]),  # RPATH splits on colons only
    ("/a;/b", ":;", ["/a", "/b"]),  # LD_LIBRARY_PATH on both
    ("$ORIGINAL/x:$FOO/y", ":", ["$ORIGINAL/x", "$FOO/y"]),  # not tokens: kept as written
    ("/", ":", ["/"]),
    ("", ":;", []),  # unset or empty: no list at all
])
def test_search_dirs(value: str, seps: str, expected: list[str]) -> None:
    assert ldso.search_dirs(value, seps, "/o/rig", CFG) == expected


def test_a_token_without_a_value_drops_the_path() -> None:
    assert ldso.search_dirs("$ORIGIN/a:/b", ":", None, CFG) == ["/b"]
    assert ldso.search_dirs("$PLATFORM/a:/b", ":", "/o", ldso.LoaderConfig(platform=None)) == ["/b"]


# ---------------------------------------------------------------------------------------------
# The process, on hand-made facts


def _info(path: str, **kw: Any) -> ldso.ElfInfo:
    return ldso.ElfInfo(path=path, realpath=kw.pop("realpath", path),
                        ident=kw.pop("ident", path), elf_class=kw.pop("elf_class", 64),
                        machine=kw.pop("machine", 62), **kw)


def _process(files: Mapping[str, ldso.ElfInfo], env: ldso.SearchEnv | None = None) -> ldso.Process:
    return ldso.Process(env or ldso.SearchEnv(config=ldso.LoaderConfig(system_dirs=("/usr/lib",))),
                        files.get, files["/bin/exe"])


def test_the_same_file_by_two_paths_is_one_object() -> None:
    files = {
        "/bin/exe": _info("/bin/exe", needed=("liba.so.1", "libb.so.1"), rpath="/x:/y"),
        "/x/liba.so.1": _info("/x/liba.so.1", soname="liba.so.1", ident="inode-7"),
        # libb.so.1 is a hard link to the same file: glibc compares device and inode.
        "/y/libb.so.1": _info("/y/libb.so.1", soname="liba.so.1", ident="inode-7"),
    }
    process = _process(files)
    assert process.find("liba.so.1") is process.find("libb.so.1")
    assert len(process.objects) == 2


def test_another_class_or_machine_is_skipped_and_a_non_elf_file_fails() -> None:
    files = {
        "/bin/exe": _info("/bin/exe", needed=("liba.so.1",), rpath="/x:/y:/z"),
        "/x/liba.so.1": _info("/x/liba.so.1", elf_class=32),
        "/y/liba.so.1": _info("/y/liba.so.1", machine=183),
        "/z/liba.so.1": _info("/z/liba.so.1", soname="liba.so.1"),
    }
    found = _process(files).find("liba.so.1")
    assert found is not None and found.info.path == "/z/liba.so.1"
    files["/y/liba.so.1"] = _info("/y/liba.so.1", elf_class=0)
    process = _process(files)
    assert [(f.name, f.why) for f in process.failures] == [("liba.so.1", "invalid ELF header")]


def test_rpath_chain_stops_at_a_runpath_and_ends_with_the_executable() -> None:
    files = {
        "/bin/exe": _info("/bin/exe", needed=("liba.so.1",), rpath="/x:/e"),
        "/x/liba.so.1": _info("/x/liba.so.1", soname="liba.so.1", needed=("libb.so.1",)),
        "/e/libb.so.1": _info("/e/libb.so.1", soname="libb.so.1"),
    }
    b = _process(files).find("libb.so.1")
    assert b is not None and (b.via, b.found_by) == ("rpath", "/bin/exe")
    files["/x/liba.so.1"] = _info("/x/liba.so.1", soname="liba.so.1", needed=("libb.so.1",),
                                  runpath="/nowhere")
    process = _process(files)
    assert process.find("libb.so.1") is None
    assert [f.requester for f in process.failures] == ["/x/liba.so.1"]


def test_a_dlopened_object_searches_its_own_rpath_not_its_callers() -> None:
    files = {
        "/bin/exe": _info("/bin/exe"),
        "/p/libcaller.so": _info("/p/libcaller.so", rpath="/c"),
        "/p/libroot.so": _info("/p/libroot.so", needed=("libdep.so.1",)),
        "/c/libdep.so.1": _info("/c/libdep.so.1", soname="libdep.so.1"),
    }
    process = _process(files)
    caller = process.dlopen("/p/libcaller.so")
    process.dlopen("/p/libroot.so", caller=caller)
    assert process.find("libdep.so.1") is None  # dlopen leaves l_loader empty
    # A name without a slash is searched with the caller's paths.
    dep = process.dlopen("libdep.so.1", caller=caller)
    assert dep is not None and (dep.via, dep.found_by) == ("rpath", "/p/libcaller.so")


def test_preloads_by_variable_and_by_file_and_a_missing_one() -> None:
    files = {
        "/bin/exe": _info("/bin/exe", needed=("liba.so.1",)),
        "/p/liba.so.1": _info("/p/liba.so.1", soname="liba.so.1"),
        "/usr/lib/liba.so.1": _info("/usr/lib/liba.so.1", soname="liba.so.1"),
        "/q/libq.so": _info("/q/libq.so", soname="libq.so"),
    }
    env = ldso.SearchEnv(ld_preload="/p/liba.so.1 libnothere.so", etc_preload="/q/libq.so\n",
                         config=ldso.LoaderConfig(system_dirs=("/usr/lib",)))
    process = _process(files, env)
    a = process.find("liba.so.1")
    assert a is not None and (a.info.path, a.via, a.found_by) == ("/p/liba.so.1", "preload", "LD_PRELOAD")
    q = process.find("libq.so")
    assert q is not None and q.found_by == "/etc/ld.so.preload"
    assert [(f.name, f.requester) for f in process.failures] == [("libnothere.so", "LD_PRELOAD")]


def test_origin_is_the_directory_as_opened_not_resolved() -> None:
    files = {
        "/bin/exe": _info("/bin/exe", needed=("liba.so.1",), rpath="/v/lib/../x"),
        # Opened through ../: $ORIGIN keeps the path as written (dl-object.c).
        "/v/lib/../x/liba.so.1": _info("/v/lib/../x/liba.so.1", realpath="/v/x/liba.so.1",
                                       soname="liba.so.1", needed=("libb.so.1",), rpath="$ORIGIN/b"),
        "/v/lib/../x/b/libb.so.1": _info("/v/lib/../x/b/libb.so.1", realpath="/v/x/b/libb.so.1",
                                         soname="libb.so.1"),
    }
    b = _process(files).find("libb.so.1")
    assert b is not None and b.info.realpath == "/v/x/b/libb.so.1"
