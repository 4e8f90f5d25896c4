"""glibc's dynamic loader as a pure model: which file each SONAME binds, found how and by whom."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

# Every rule below follows glibc's elf/dl-load.c (_dl_map_new_object, open_path, fillin_rpath,
# _dl_dst_substitute), elf/dl-object.c (l_origin), elf/dl-deps.c (breadth-first DT_NEEDED),
# elf/dl-cache.c (search_cache) and elf/get-dynamic-info.h, as of glibc 2.36-2.41, and ld.so(8).
# docs/which-copy-loads.md walks through them with the exact places.

# How a loaded object was found.
PRELOAD = "preload"  # LD_PRELOAD, /etc/ld.so.preload, or a framework's own preload by path
RPATH = "rpath"
LD_LIBRARY_PATH = "ld_library_path"
RUNPATH = "runpath"
LD_CACHE = "ld_cache"
DEFAULT = "default"
PATH = "path"  # a name with a slash (dlopen by path, a DT_NEEDED with $ORIGIN/...)
MISSING = "missing"
EXECUTABLE = "executable"

# DF_1_NODEFLIB (elf.h): the object's dependencies skip ld.so.cache's system entries and the
# default directories.
DF_1_NODEFLIB = 0x800

# The cache entries a process of each machine accepts: glibc's _DL_CACHE_DEFAULT_ID per
# architecture (sysdeps/*/dl-cache.h), as `ldconfig -p` spells the flags. e_machine numbers
# from elf.h.
_CACHE_FLAGS = {
    (64, 62): "libc6,x86-64",  # EM_X86_64
    (32, 3): "libc6",  # EM_386
    (64, 183): "libc6,AArch64",  # EM_AARCH64
    (64, 21): "libc6,64bit",  # EM_PPC64
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ElfInfo:
    """What the loader reads from one file's ELF headers (envsnap.elf reads them).

    ``ident`` is the file's identity (device and inode on a real machine): glibc reuses an
    object already loaded from the same file, whatever path reached it. ``elf_class`` 0 marks
    a file that is not ELF at all, which makes the loader fail, not skip it.
    """

    path: str  # as opened
    realpath: str
    ident: str
    elf_class: int  # 32 | 64 | 0 (not ELF)
    machine: int = 0  # e_machine
    soname: str | None = None
    needed: tuple[str, ...] = ()
    rpath: str | None = None
    runpath: str | None = None
    flags_1: int = 0
    build_id: str | None = None

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)


# path -> its ELF facts, None when nothing can be opened there (absent, a directory, unreadable).
Lookup = Callable[[str], ElfInfo | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """One line of ``ldconfig -p``: a name, the flags it was built for and where it lies."""

    name: str
    flags: str  # "libc6,x86-64"
    hwcap: str | None  # a glibc-hwcaps subdirectory ("x86-64-v3") or None
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderConfig:
    """What this machine's ld.so does, learned from its own ``LD_DEBUG=libs`` trace.

    ``subdirs``: what open_path tries in each search directory, in order ("" is the directory
    itself): glibc-hwcaps levels and, before glibc 2.37, the legacy hwcap directories.
    ``hwcaps``: the glibc-hwcaps levels this CPU supports, best first (for cache entries).
    """

    subdirs: tuple[str, ...] = ("",)
    hwcaps: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ("/lib", "/usr/lib")
    lib: str = "lib"  # $LIB
    platform: str | None = None  # $PLATFORM; None drops paths that use it, as glibc does


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchEnv:
    """The target environment's search inputs."""

    ld_library_path: str = ""
    ld_preload: str = ""
    etc_preload: str = ""  # /etc/ld.so.preload's text
    cache: tuple[CacheEntry, ...] = ()
    config: LoaderConfig = field(default_factory=LoaderConfig)


@dataclass(slots=True, eq=False)
class Loaded:
    """One object in the simulated process (a link_map)."""

    info: ElfInfo
    names: list[str]  # every name it was requested by (l_libname)
    loader: Loaded | None  # l_loader: whose DT_NEEDED brought it in; None when dlopened
    via: str
    found_by: str | None  # the object (or variable, or Python function) whose search found it
    origin: str | None  # $ORIGIN: the directory of the path it was opened by

    def matches(self, name: str) -> bool:
        """glibc's _dl_lookup_map: the path it was opened by, a name it was asked for, or its
        SONAME."""
        return name == self.info.path or name in self.names or name == self.info.soname


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A name the loader could not open, and for whom."""

    name: str
    requester: str  # the path of the object that needed it, or the preload source
    why: str


@dataclass(slots=True)
class _Found:
    info: ElfInfo
    path: str  # as opened (realname)
    via: str
    found_by: str | None


# ---------------------------------------------------------------------------------------------
# Pure parsers of what the host edge reads


_LDCONFIG_LINE = re.compile(r"^\s+(?P<name>\S+)\s+\((?P<flags>[^)]*)\)\s+=>\s+(?P<path>\S.*?)\s*$")


def parse_ldconfig(text: str) -> tuple[CacheEntry, ...]:
    """``ldconfig -p``, in cache order (the order glibc's search_cache walks). Inside the
    parentheses, elf/cache.c's print_entry writes the flags, then a glibc-hwcaps name (or a
    legacy hwcap mask in hex), then the OS ABI::

        549 libs found in cache `/etc/ld.so.cache'
        \tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
        \tlibfoo.so.1 (libc6,x86-64, hwcap: "x86-64-v3") => /opt/x/glibc-hwcaps/x86-64-v3/libfoo.so.1
        \tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
    """
    entries = []
    for line in text.splitlines():
        m = _LDCONFIG_LINE.match(line)
        if m is None:
            continue
        flags, *extra = m.group("flags").split(", ")
        hwcap = None
        for part in extra:
            if part.startswith("hwcap: \""):
                hwcap = part[len("hwcap: \""):].rstrip('"')
        entries.append(CacheEntry(name=m.group("name"), flags=flags.strip(), hwcap=hwcap,
                                  path=m.group("path")))
    return tuple(entries)


# What envsnap asks the loader to search when it traces it (envsnap.probes.loading): three
# directories that cannot exist, whose expansions reveal the subdirectories tried, $LIB and
# $PLATFORM, and a preload that cannot be found, whose search shows the system directories.
PROBE_BASE = "/envsnap-probe-none"
PROBE_LIBRARY_PATH = f"{PROBE_BASE}:{PROBE_BASE}-lib/$LIB:{PROBE_BASE}-platform/$PLATFORM"
PROBE_PRELOAD = "libenvsnap-probe-none.so"

_SEARCH_LINE = re.compile(r"search path=(?P<dirs>\S*)\s+\((?P<what>[^)]*)\)")


def _groups(dirs: list[str], n: int) -> list[list[str]]:
    return [dirs[i:i + n] for i in range(0, len(dirs), n)]


def parse_loader_trace(text: str) -> LoaderConfig | None:
    """The loader's own ``LD_DEBUG=libs`` trace of a program run with LD_LIBRARY_PATH set to
    PROBE_LIBRARY_PATH and LD_PRELOAD to PROBE_PRELOAD (glibc 2.36, x86-64-v4 machine)::

        27952:  find library=libenvsnap-probe-none.so [0]; searching
        27952:   search path=/envsnap-probe-none/glibc-hwcaps/x86-64-v4:...:/envsnap-probe-none/tls:\
/envsnap-probe-none/x86_64:/envsnap-probe-none:/envsnap-probe-none-lib/lib/x86_64-linux-gnu/...\
:/envsnap-probe-none-platform/x86_64            (LD_LIBRARY_PATH)
        27952:   search cache=/etc/ld.so.cache
        27952:   search path=/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v4:...:/usr/lib  (system search path)

    Each directory is listed once per subdirectory tried, the directory itself last.
    """
    env_dirs: list[str] | None = None
    system: list[str] | None = None
    for m in _SEARCH_LINE.finditer(text):
        dirs = m.group("dirs").split(":")
        if m.group("what") == "LD_LIBRARY_PATH" and env_dirs is None and dirs[0].startswith(PROBE_BASE):
            env_dirs = dirs
        elif m.group("what") == "system search path" and system is None:
            system = dirs
    if env_dirs is None or system is None:
        return None
    try:
        n = env_dirs.index(PROBE_BASE) + 1
    except ValueError:
        return None
    subdirs = (*(d[len(PROBE_BASE) + 1:] for d in env_dirs[: n - 1]), "")
    groups = _groups(env_dirs, n)
    lib = platform = None
    for group in groups[1:]:
        plain = group[-1]
        if plain.startswith(f"{PROBE_BASE}-lib/"):
            lib = plain[len(f"{PROBE_BASE}-lib/"):]
        elif plain.startswith(f"{PROBE_BASE}-platform/"):
            platform = plain[len(f"{PROBE_BASE}-platform/"):]
    if lib is None or len(system) % n:
        return None
    hwcaps = tuple(s[len("glibc-hwcaps/"):] for s in subdirs if s.startswith("glibc-hwcaps/"))
    return LoaderConfig(subdirs=subdirs, hwcaps=hwcaps, lib=lib, platform=platform,
                        system_dirs=tuple(g[-1] for g in _groups(system, n)))


# ---------------------------------------------------------------------------------------------
# Search paths


def _dst(text: str, origin: str | None, config: LoaderConfig) -> str | None:
    """``$ORIGIN``, ``$LIB`` and ``$PLATFORM`` (and their ``${...}`` forms) expanded, as
    _dl_dst_substitute does; None when a token has no value (glibc drops that path)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        rest = text[i + 1:]
        for token, value in (("ORIGIN", origin), ("PLATFORM", config.platform), ("LIB", config.lib)):
            length = _is_dst(rest, token)
            if length:
                if value is None:
                    return None
                out.append(value)
                i += 1 + length
                break
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _is_dst(rest: str, token: str) -> int:
    """glibc's is_dst: the length of ``token`` or ``{token}`` at the start of ``rest`` when it
    is not followed by more identifier characters, else 0."""
    curly = rest.startswith("{")
    body = rest[1:] if curly else rest
    if not body.startswith(token):
        return 0
    after = body[len(token):len(token) + 1]
    if curly:
        return len(token) + 2 if after == "}" else 0
    return 0 if after and (after.isascii() and (after.isalnum() or after == "_")) else len(token)


def search_dirs(value: str, separators: str, origin: str | None, config: LoaderConfig) -> list[str]:
    """A DT_RPATH/DT_RUNPATH (":") or LD_LIBRARY_PATH (":;") as fillin_rpath makes it: tokens
    expanded, paths whose token has no value dropped, trailing slashes removed, an empty
    element meaning the current directory, each directory once."""
    out: list[str] = []
    if not value:
        return out  # unset or empty: no list at all (decompose_rpath, _dl_init_paths)
    for part in re.split(f"[{re.escape(separators)}]", value):
        if part:
            expanded = _dst(part, origin, config)
            if not expanded:
                continue
            part = expanded.rstrip("/") or "/"
        # An empty element is "" + name: a path relative to the working directory.
        if part not in out:
            out.append(part)
    return out


def cache_flags(executable: ElfInfo) -> str | None:
    """The ``ldconfig -p`` flags of entries a process of this executable accepts."""
    return _CACHE_FLAGS.get((executable.elf_class, executable.machine))


def cache_lookup(cache: Sequence[CacheEntry], name: str, flags: str | None,
                 hwcaps: Sequence[str]) -> str | None:
    """glibc's search_cache: among the entries for ``name`` with the process's flags, the
    glibc-hwcaps one of the best level this CPU supports, else the first plain one."""
    best: str | None = None
    best_rank = len(hwcaps)
    for entry in cache:
        if entry.name != name or (flags is not None and entry.flags != flags):
            continue
        if entry.hwcap is not None:
            if entry.hwcap in hwcaps and hwcaps.index(entry.hwcap) < best_rank:
                best, best_rank = entry.path, hwcaps.index(entry.hwcap)
        elif best is None:
            return entry.path
    return best


# ---------------------------------------------------------------------------------------------
# The process


class Process:
    """One process as the loader builds it: the executable and its preloads at start, then
    each ``dlopen``. Objects load breadth-first over DT_NEEDED (elf/dl-deps.c); a name some
    loaded object already answers to is never searched again (elf/dl-load.c _dl_lookup_map)."""

    def __init__(self, env: SearchEnv, lookup: Lookup, executable: ElfInfo) -> None:
        self.env = env
        self._lookup = lookup
        self._flags = cache_flags(executable)
        self.objects: list[Loaded] = []
        self.failures: list[Failure] = []
        self.main = Loaded(info=executable, names=[], loader=None, via=EXECUTABLE,
                           found_by=None, origin=posixpath.dirname(executable.realpath))
        self.objects.append(self.main)
        cfg = env.config
        # LD_LIBRARY_PATH's $ORIGIN is the executable's (_dl_init_paths passes the main map).
        self._env_dirs = search_dirs(env.ld_library_path, ":;", self.main.origin, cfg)
        # rtld.c: LD_PRELOAD (spaces or colons), then /etc/ld.so.preload (whitespace), each
        # loaded as if the executable needed it, then the executable's dependencies.
        preloads: list[Loaded] = []
        for source, text, seps in (("LD_PRELOAD", env.ld_preload, r"[ :]+"),
                                   ("/etc/ld.so.preload", env.etc_preload, r"\s+")):
            for name in (n for n in re.split(seps, text) if n):
                obj = self._map(self.main, name, preload=source)
                if obj is not None and obj not in preloads:
                    preloads.append(obj)
        self._deps([self.main, *preloads])

    # -- what glibc does -----------------------------------------------------------------

    def dlopen(self, name: str, *, caller: Loaded | None = None,
               found_by: str | None = None) -> Loaded | None:
        """``dlopen(name)`` from ``caller`` (the object whose code calls it; the executable when
        None), then its dependencies. ``found_by`` labels a load by path (a framework's own
        preload). None when the object itself cannot be opened."""
        obj = self._map(caller or self.main, name, dlopen=True, label=found_by)
        if obj is not None:
            self._deps([obj])
        return obj

    def find(self, name: str) -> Loaded | None:
        """What a DT_NEEDED of ``name`` binds to now: the first loaded object answering to it."""
        return next((o for o in self.objects if o.matches(name)), None)

    def with_soname(self, soname: str) -> list[Loaded]:
        """Every loaded object whose SONAME is ``soname``, in load order."""
        return [o for o in self.objects if o.info.soname == soname]

    def _deps(self, roots: Iterable[Loaded]) -> None:
        queue = list(roots)
        seen = {id(o) for o in queue}
        i = 0
        while i < len(queue):
            obj = queue[i]
            i += 1
            for name in obj.info.needed:
                dep = self._map(obj, name)
                if dep is not None and id(dep) not in seen:
                    seen.add(id(dep))
                    queue.append(dep)

    def _map(self, loader: Loaded, name: str, *, preload: str | None = None,
             dlopen: bool = False, label: str | None = None) -> Loaded | None:
        """_dl_map_object: an object already answering to ``name``, or a new one."""
        known = self.find(name)
        if known is not None:
            return known
        found = self._open(loader, name)
        if isinstance(found, str):
            self.failures.append(Failure(name=name, requester=preload or loader.info.realpath,
                                         why=found))
            return None
        if preload is not None:
            found.via, found.found_by = PRELOAD, preload
        elif label is not None:
            found.via, found.found_by = PRELOAD, label
        # The same file reached by another path is the object already loaded
        # (_dl_map_object_from_fd compares the file's identity).
        for obj in self.objects:
            if obj.info.ident == found.info.ident:
                if name not in obj.names:
                    obj.names.append(name)
                return obj
        obj = Loaded(info=found.info, names=[name], loader=None if dlopen else loader,
                     via=found.via, found_by=found.found_by,
                     origin=posixpath.dirname(found.path) or "/")
        self.objects.append(obj)
        return obj

    def _open(self, loader: Loaded, name: str) -> _Found | str:
        """_dl_map_new_object's search; the reason as text when nothing usable is found."""
        cfg = self.env.config
        if "/" in name:
            path = _dst(name, loader.origin, cfg)
            info = self._lookup(path) if path else None
            if info is None or not self._usable(info):
                return "cannot open shared object file"
            if info.elf_class == 0:
                return "invalid ELF header"
            return _Found(info=info, path=path or name, via=PATH, found_by=loader.info.realpath)

        requester = loader.info.realpath
        if loader.info.runpath is None:
            # DT_RPATH of the loader, then of its loader, and on up; then the executable's
            # (get-dynamic-info.h: an object with DT_RUNPATH has no DT_RPATH).
            chain: list[Loaded] = []
            node: Loaded | None = loader
            while node is not None:
                chain.append(node)
                node = node.loader
            if self.main not in chain:
                chain.append(self.main)
            for obj in chain:
                if obj.info.rpath is None or obj.info.runpath is not None:
                    continue
                dirs = search_dirs(obj.info.rpath, ":", obj.origin, cfg)
                hit = self._in_dirs(dirs, name)
                if hit is not None:
                    return hit if isinstance(hit, str) else _Found(
                        info=hit[0], path=hit[1], via=RPATH, found_by=obj.info.realpath)
        hit = self._in_dirs(self._env_dirs, name)
        if hit is not None:
            return hit if isinstance(hit, str) else _Found(
                info=hit[0], path=hit[1], via=LD_LIBRARY_PATH, found_by=requester)
        if loader.info.runpath is not None:
            dirs = search_dirs(loader.info.runpath, ":", loader.origin, cfg)
            hit = self._in_dirs(dirs, name)
            if hit is not None:
                return hit if isinstance(hit, str) else _Found(
                    info=hit[0], path=hit[1], via=RUNPATH, found_by=requester)
        cached = cache_lookup(self.env.cache, name, self._flags, cfg.hwcaps)
        if cached is not None and loader.info.nodeflib and any(
                cached.startswith(d.rstrip("/") + "/") for d in cfg.system_dirs):
            cached = None  # DF_1_NODEFLIB: no cache entry from the default directories
        if cached is not None:
            info = self._lookup(cached)
            if info is not None and self._usable(info):
                if info.elf_class == 0:
                    return "invalid ELF header"
                return _Found(info=info, path=cached, via=LD_CACHE, found_by=requester)
        if not loader.info.nodeflib:
            hit = self._in_dirs(list(cfg.system_dirs), name)
            if hit is not None:
                return hit if isinstance(hit, str) else _Found(
                    info=hit[0], path=hit[1], via=DEFAULT, found_by=requester)
        return "cannot open shared object file"

    def _in_dirs(self, dirs: Sequence[str], name: str) -> tuple[ElfInfo, str] | str | None:
        """open_path: each directory's subdirectories, then the directory. A file of another
        ELF class or machine is skipped; a file that is not ELF stops the load (a string)."""
        for d in dirs:
            for sub in self.env.config.subdirs:
                base = posixpath.join(d, sub) if sub else d
                path = posixpath.join(base, name)
                info = self._lookup(path)
                if info is None or not self._usable(info):
                    continue
                if info.elf_class == 0:
                    return "invalid ELF header"
                return info, path
        return None

    def _usable(self, info: ElfInfo) -> bool:
        """open_verify skips (ENOENT) files of another ELF class or machine."""
        if info.elf_class == 0:
            return True  # not skipped: the caller reports the error
        exe = self.main.info
        return info.elf_class == exe.elf_class and (not exe.machine or info.machine == exe.machine)
