"""Which copy of each CUDA library a framework binds: its ELF files, glibc's rules, its own preload."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .. import ldso
from ..elf import read_info
from ..errors import CommandNotFound, CommandTimeout, HostError
from ..host import Host
from ..redact import redact_text
from ..rules import local_label
from ..snapshot import Binding, Framework, LibraryCopy, Package, PythonEnv

LDCONFIG_TIMEOUT = 10.0
TRACE_TIMEOUT = 10.0
RECORD_LIMIT = 64 * 2**20

# The CUDA family: libraries of the CUDA toolkit, its math and communication libraries, and the
# driver's. A framework whose own code needs one of these SONAMEs is a consumer; which copy it
# binds is the question (docs/which-copy-loads.md).
_FAMILY = re.compile(
    r"^lib(cuda|cudart|cublas|cublasLt|cudnn(_[a-z_]+)?|nccl|cufft|cufftw|curand|cusparse|"
    r"cusparseLt|cusolver|cusolverMg|nvrtc|nvrtc-builtins|nvJitLink|cupti|nvToolsExt|"
    r"nvtx3interop|nvperf_host|nvshmem_host|nvshmem|cufile|cufile_rdma|nvidia-ml|nvblas|"
    r"npp[a-z]*|nvjpeg|cudla|cutensor|cutensorMg|cudss)\.so(\.[0-9]+)*$")

# Python extension modules, as importlib names them (EXTENSION_SUFFIXES: a tagged suffix, or a
# bare ".so"); a bare "lib*.so" is taken for a library the modules link, not a module.
_EXTENSION = re.compile(r"\.(cpython-[^./]+|abi3|pypy[^./]*)\.so$|^(?!lib)[^./]+\.so$")
_ELF_NAME = re.compile(r"\.so(\.[0-9]+)*$")


def in_family(soname: str) -> bool:
    return _FAMILY.match(soname) is not None


# ---------------------------------------------------------------------------------------------
# The host edge: ld.so.cache, the loader's own configuration, ELF files


def read_ldconfig(host: Host) -> tuple[str | None, str | None]:
    """``ldconfig -p`` output, or None and why. ldconfig lives in /sbin, often off PATH."""
    why = "ldconfig not found"
    for argv in (["ldconfig", "-p"], ["/sbin/ldconfig", "-p"]):
        try:
            result = host.run(argv, timeout=LDCONFIG_TIMEOUT)
        except CommandNotFound:
            continue
        except CommandTimeout:
            return None, f"ldconfig timed out after {LDCONFIG_TIMEOUT:g}s"
        except HostError as exc:
            return None, str(exc)
        if result.returncode == 0:
            return result.stdout, None
        why = f"ldconfig exited with {result.returncode}"
    return None, why


def read_loader_config(host: Host, python: str) -> tuple[ldso.LoaderConfig | None, str | None]:
    """The target interpreter's loader describing its own search: the subdirectories it tries
    in each directory (glibc-hwcaps levels, legacy hwcaps), $LIB, $PLATFORM and the default
    directories, from an ``LD_DEBUG=libs`` trace of ``python -S -c ''``."""
    env = {"LD_DEBUG": "libs", "LD_LIBRARY_PATH": ldso.PROBE_LIBRARY_PATH,
           "LD_PRELOAD": ldso.PROBE_PRELOAD, "PATH": host.environ.get("PATH", "/usr/bin:/bin")}
    try:
        result = host.run([python, "-S", "-c", ""], timeout=TRACE_TIMEOUT, env=env)
    except CommandTimeout:
        return None, f"loader trace timed out after {TRACE_TIMEOUT:g}s"
    except HostError as exc:  # CommandNotFound too
        return None, str(exc)
    config = ldso.parse_loader_trace(result.stderr)
    return (config, None) if config is not None else (None, "the loader printed no search trace")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderSurvey:
    """The machine-wide inputs of the search, read once per capture beside the Python scan."""

    cache: tuple[ldso.CacheEntry, ...] = ()
    config: ldso.LoaderConfig | None = None
    etc_preload: str = ""
    notes: tuple[str, ...] = ()


def survey(host: Host, python: str | None) -> LoaderSurvey:
    notes = []
    text, why = read_ldconfig(host)
    if why:
        notes.append(f"ld.so.cache unread: {why}")
    config = None
    if python is not None:
        config, why = read_loader_config(host, python)
        if why:
            notes.append(f"loader configuration unread ({why}): no hwcaps subdirectories searched")
    raw = host.read_bytes("/etc/ld.so.preload")
    return LoaderSurvey(cache=ldso.parse_ldconfig(text or ""), config=config,
                        etc_preload=raw.decode("utf-8", "replace") if raw else "",
                        notes=tuple(notes))


class ElfFiles:
    """``ldso.Lookup`` on a Host: each path opened once, each file (by identity) parsed once."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._by_path: dict[str, ldso.ElfInfo | None] = {}
        self._by_ident: dict[str, ldso.ElfInfo] = {}

    def __call__(self, path: str) -> ldso.ElfInfo | None:
        if path in self._by_path:
            return self._by_path[path]
        info = None
        opened = self._host.open_binary(path)
        if opened is not None:
            stream, ident = opened
            with stream:
                known = self._by_ident.get(ident)
                if known is not None:
                    info = replace(known, path=path)
                else:
                    info = read_info(stream, path=path, realpath=self._host.realpath(path),
                                     ident=ident)
                    self._by_ident[ident] = info
        self._by_path[path] = info
        return info


# ---------------------------------------------------------------------------------------------
# Which distributions consume CUDA libraries


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumer:
    """A distribution whose own ELF files need CUDA-family SONAMEs."""

    package: Package
    site: str  # the folder its RECORD paths are relative to
    modules: tuple[str, ...]  # its Python extension modules, absolute paths
    needing: tuple[str, ...]  # its files that need a CUDA-family SONAME themselves


def _record_paths(host: Host, pyenv: PythonEnv, pkg: Package) -> tuple[str, list[str]] | None:
    """The site folder and the ELF-named files a distribution's RECORD lists."""
    if not pkg.metadata_path:
        return None
    meta = pkg.metadata_path
    if not posixpath.isabs(meta):
        if not pyenv.prefix:
            return None
        meta = posixpath.join(pyenv.prefix, meta)
    raw = host.read_bytes(posixpath.join(meta, "RECORD"), limit=RECORD_LIMIT)
    if raw is None:
        return None
    site = posixpath.dirname(meta)
    files = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if ".so" not in line:  # most of torch's 20,000 lines: skipped before any parsing
            continue
        rel = line.split(",", 1)[0].strip().strip('"')
        if rel and _ELF_NAME.search(rel) and not posixpath.isabs(rel):
            files.append(posixpath.normpath(posixpath.join(site, rel)))
    return site, files


def consumers(host: Host, pyenv: PythonEnv, files: ldso.Lookup) -> list[Consumer]:
    """Installed distributions with a Python extension module whose ELF files (other than
    CUDA libraries themselves) need a CUDA-family SONAME, found from DT_NEEDED: no name list
    of frameworks. The nvidia-* wheels ship libraries only, no extension module."""
    found = []
    for pkg in pyenv.packages:
        if not pkg.native:
            continue
        listed = _record_paths(host, pyenv, pkg)
        if listed is None:
            continue
        site, paths = listed
        modules = sorted(p for p in paths if _EXTENSION.search(posixpath.basename(p)))
        if not modules:
            continue
        needing = []
        for path in sorted(paths):
            info = files(path)
            if info is None or (info.soname and in_family(info.soname)):
                continue
            if any(in_family(n) for n in info.needed):
                needing.append(path)
        if needing:
            found.append(Consumer(package=pkg, site=site, modules=tuple(modules),
                                  needing=tuple(needing)))
    return found


# ---------------------------------------------------------------------------------------------
# What importing a framework loads (pure over the Process and a directory listing)


# torch/__init__.py's _preload_cuda_deps list, in its order (identical in 2.13.0 and 2.14.1):
# (folder under nvidia/, glob). libnvToolsExt is preloaded last and only when present.
TORCH_PRELOAD = (
    ("cublas", "libcublasLt.so.*[0-9]"), ("cublas", "libcublas.so.*[0-9]"),
    ("cudnn", "libcudnn.so.*[0-9]"), ("cuda_nvrtc", "libnvrtc.so.*[0-9]"),
    ("cuda_nvrtc", "libnvrtc-builtins.so.*[0-9]"), ("cuda_runtime", "libcudart.so.*[0-9]"),
    ("cuda_cupti", "libcupti.so.*[0-9]"), ("cufft", "libcufft.so.*[0-9]"),
    ("curand", "libcurand.so.*[0-9]"), ("nvjitlink", "libnvJitLink.so.*[0-9]"),
    ("cusparse", "libcusparse.so.*[0-9]"), ("cusparselt", "libcusparseLt.so.*[0-9]"),
    ("cusolver", "libcusolver.so.*[0-9]"), ("nccl", "libnccl.so.*[0-9]"),
    ("nvshmem", "libnvshmem_host.so.*[0-9]"), ("cufile", "libcufile.so.*[0-9]"),
)
TORCH_PRELOAD_OPTIONAL = (("nvtx", "libnvToolsExt.so.*[0-9]"),)
TORCH_PRELOADER = "torch._preload_cuda_deps"

Listdir = Callable[[str], Sequence[str]]


def _torch_version(version: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _glob(listdir: Listdir, directory: str, pattern: str) -> list[str]:
    # glob.glob lists in directory order; sorted here (a wheel ships one file per pattern).
    return [posixpath.join(directory, n) for n in sorted(listdir(directory))
            if fnmatch.fnmatchcase(n, pattern)]


def torch_preload_path(listdir: Listdir, sys_path: Sequence[str], folder: str, pattern: str,
                       cuda: str | None) -> str | None:
    """torch's _get_cuda_dep_paths over sys.path: the first entry with a hit wins, and in it
    nvidia/<folder>/lib, then nvidia/cu<major>/lib, then <folder>/lib."""
    for entry in sys_path:
        hits = _glob(listdir, posixpath.join(entry, "nvidia", folder, "lib"), pattern)
        if cuda:
            hits += _glob(listdir, posixpath.join(entry, "nvidia", f"cu{cuda.split('.')[0]}", "lib"),
                          pattern)
        hits += _glob(listdir, posixpath.join(entry, folder, "lib"), pattern)
        if hits:
            return hits[0]
    return None


def _preload(process: ldso.Process, listdir: Listdir, sys_path: Sequence[str], cuda: str | None,
             *, best_effort: bool) -> str | None:
    """torch's _preload_cuda_deps: each library by full path, in order. Returns the missing
    library's pattern when a required one is not found (torch then raises)."""
    for folder, pattern in TORCH_PRELOAD:
        path = torch_preload_path(listdir, sys_path, folder, pattern, cuda)
        if path is None:
            if best_effort:
                continue
            return pattern
        process.dlopen(path, found_by=TORCH_PRELOADER)
    for folder, pattern in TORCH_PRELOAD_OPTIONAL:
        path = torch_preload_path(listdir, sys_path, folder, pattern, cuda)
        if path is not None:
            process.dlopen(path, found_by=TORCH_PRELOADER)
    return None


def import_torch(process: ldso.Process, *, torch_dir: str, module: str, version: str,
                 cuda: str | None, sys_path: Sequence[str], listdir: Listdir) -> str:
    """What ``import torch`` loads, as torch/__init__.py does it, and a sentence saying which
    model applied. Read from torch 2.13.0 and 2.14.1:

    1. ``_load_global_deps`` loads torch/lib/libtorch_global_deps.so (it needs libcudart).
    2. When that worked and /proc/self/maps then names libcudart.so, ``_preload_cuda_deps``
       loads each CUDA library it finds under sys.path by full path (2.14: each one it finds;
       2.13: in order, stopping at the first it cannot find). When it failed,
       ``_preload_cuda_deps(err)`` must find every one, then the global deps load again.
    3. ``from torch._C import *`` loads the extension module and its DT_NEEDED.
    """
    parsed = _torch_version(version)
    steps = []
    if parsed is None or parsed < (2, 13):
        process.dlopen(module)
        return (f"torch {version}: import modelled as loading torch._C only (its Python-level "
                "preload is modelled from torch 2.13 on)")
    before = len(process.failures)
    global_deps = posixpath.join(torch_dir, "lib", "libtorch_global_deps.so")
    loaded = process.dlopen(global_deps)
    if loaded is not None and len(process.failures) == before:
        mapped = any("libcudart.so" in o.info.realpath for o in process.objects)
        if mapped:
            missing = _preload(process, listdir, sys_path, cuda, best_effort=parsed >= (2, 14))
            steps.append("torch._preload_cuda_deps (libcudart mapped after libtorch_global_deps)")
            if missing is not None:
                steps.append(f"preload stopped at {missing}")
        else:
            steps.append("no Python-level preload (libcudart not mapped)")
    else:
        missing = _preload(process, listdir, sys_path, cuda, best_effort=False)
        steps.append("torch._preload_cuda_deps after libtorch_global_deps failed to load")
        if missing is not None:
            return f"torch {version}: import fails: {missing} not found on sys.path"
        process.dlopen(global_deps)
    process.dlopen(module)
    return f"torch {version} import: libtorch_global_deps, " + ", ".join(steps) + ", torch._C"


def load_generic(process: ldso.Process, consumer: Consumer) -> str:
    """A framework without a modelled import: its extension modules loaded in path order (what
    importing them does), then its other files that need CUDA libraries (what it dlopens
    later), each by path."""
    for path in consumer.modules:
        process.dlopen(path)
    later = [p for p in consumer.needing if not any(o.info.realpath == p for o in process.objects)]
    for path in later:
        process.dlopen(path)
    return ("its extension modules loaded in path order, then its other libraries that need "
            "CUDA libraries")


# ---------------------------------------------------------------------------------------------
# From the simulated process to the snapshot


def bindings_of(process: ldso.Process) -> tuple[Binding, ...]:
    """One Binding per CUDA-family SONAME the process loaded or failed to find, sorted."""
    out: dict[str, Binding] = {}
    for obj in process.objects:
        soname = obj.info.soname or (obj.names[0] if obj.names else "")
        if not in_family(posixpath.basename(soname)) or soname in out:
            continue
        others = tuple(o.info.realpath for o in process.objects
                       if o is not obj and (o.info.soname or "") == soname)
        out[soname] = Binding(soname=soname, path=obj.info.realpath, via=obj.via,
                              found_by=obj.found_by, build_id=obj.info.build_id,
                              also_loaded=others)
    for failure in process.failures:
        name = failure.name
        if in_family(posixpath.basename(name)) and name not in out and process.find(name) is None:
            out[name] = Binding(soname=name, via=ldso.MISSING, found_by=failure.requester)
    return tuple(out[k] for k in sorted(out))


def search_env(env: Mapping[str, str], loader: LoaderSurvey) -> ldso.SearchEnv:
    return ldso.SearchEnv(ld_library_path=env.get("LD_LIBRARY_PATH", ""),
                          ld_preload=env.get("LD_PRELOAD", ""), etc_preload=loader.etc_preload,
                          cache=loader.cache, config=loader.config or ldso.LoaderConfig())


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """One framework's answer: its bindings, how they were worked out, and the files --deep
    loads by path to check them (none for torch, whose import it repeats)."""

    bindings: tuple[Binding, ...]
    via: str
    loads: tuple[str, ...] = ()


def resolve(host: Host, pyenv: PythonEnv, loader: LoaderSurvey,
            files: ldso.Lookup | None = None) -> dict[str, Resolution]:
    """Each consumer distribution's bindings, by distribution name, for the target
    environment's LD_PRELOAD and LD_LIBRARY_PATH."""
    files = files or ElfFiles(host)
    exe_path = host.realpath(pyenv.executable) if pyenv.executable else None
    exe = files(exe_path) if exe_path else None
    if exe is None or exe.elf_class == 0:
        return {}
    env = search_env(host.environ, loader)
    sys_path = pyenv.sys_path or pyenv.site_packages
    out: dict[str, Resolution] = {}
    for consumer in consumers(host, pyenv, files):
        process = ldso.Process(env, files, exe)
        pkg = consumer.package
        torch_c = [m for m in consumer.modules
                   if posixpath.dirname(m) == posixpath.join(consumer.site, "torch")
                   and posixpath.basename(m).startswith("_C.")]
        loads: tuple[str, ...] = ()
        if pkg.name == "torch" and torch_c:
            torch_dir = posixpath.join(consumer.site, "torch")
            how = import_torch(process, torch_dir=torch_dir, module=torch_c[0], version=pkg.version,
                               cuda=torch_cuda_version(host, torch_dir), sys_path=sys_path,
                               listdir=host.listdir)
        else:
            how = load_generic(process, consumer)
            loads = consumer.modules + tuple(p for p in consumer.needing if p not in consumer.modules)
        # The notes quote commands' messages: scrubbed like every other free text.
        notes = redact_text("; ".join(loader.notes))
        out[pkg.name] = Resolution(
            bindings=bindings_of(process), loads=loads,
            via=f"{how}; glibc search rules" + (f" ({notes})" if notes else ""))
    return out


def torch_cuda_version(host: Host, torch_dir: str) -> str | None:
    """torch.version.cuda, read (never imported) from torch/version.py."""
    raw = host.read_bytes(posixpath.join(torch_dir, "version.py"))
    if raw is None:
        return None
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([0-9.]+)['\"]", raw.decode("utf-8", "replace"), re.M)
    return m.group(1) if m else None


def attach(frameworks: Sequence[Framework], resolved: Mapping[str, Resolution],
           pyenv: PythonEnv) -> list[Framework]:
    """Bindings into the entry of the framework of the same name; a consumer with no entry
    (a CUDA extension outside the frameworks envsnap reads build facts of) gets one."""
    out = []
    for fw in frameworks:
        res = resolved.get(fw.name)
        out.append(replace(fw, bindings=res.bindings, bindings_via=res.via) if res else fw)
    named = {fw.name for fw in frameworks}
    for name, res in resolved.items():
        pkg = pyenv.package(name)
        if name not in named and pkg is not None:
            # Its local label (+cu121) still tells the CUDA it was built for (rules.cuda_needs).
            out.append(Framework(name=name, version=pkg.version, variant=local_label(pkg.version),
                                 bindings=res.bindings, bindings_via=res.via))
    return out


def with_copies(frameworks: Sequence[Framework], copies: Sequence[LibraryCopy]) -> tuple[Framework, ...]:
    """Each binding's version from the library copy at its path: the version the file itself
    carries where it was read, else the copy's label."""
    by_path = {c.path: c for c in copies}
    out = []
    for fw in frameworks:
        if not fw.bindings:
            out.append(fw)
            continue
        bound = []
        for b in fw.bindings:
            copy = by_path.get(b.path or "")
            if copy is not None:
                b = replace(b, version=copy.file_version or copy.version,
                            build_id=b.build_id or copy.build_id)
            bound.append(b)
        out.append(replace(fw, bindings=tuple(bound)))
    return tuple(out)

