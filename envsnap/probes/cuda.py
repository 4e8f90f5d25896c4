"""CUDA toolkit and every copy of cudart, cuDNN, NCCL and cuBLAS, with where each came from."""

from __future__ import annotations

import json
import posixpath
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..elf import find_in_section
from ..errors import CommandNotFound, CommandTimeout, HostError
from ..host import Host, read_text
from ..ldso import parse_ldconfig
from ..loadrules import versions_disagree
from ..redact import redact_text
from ..snapshot import CudaInfo, LibraryCopy, PythonEnv
from . import Probed
from .binding import ElfFiles, read_ldconfig

NVCC_TIMEOUT = 10.0
# Loading cuDNN, cudart and cuBLAS to ask their version takes ~0.2 s; a library whose
# constructor hangs must not hold capture.
VERSION_TIMEOUT = 10.0

# Values an NVIDIA CUDA base image bakes into its environment (nvidia/cuda Dockerfiles). They
# describe the image build, not what is on disk, so they are kept apart from the observed
# copies (shared/reference/capture-anchors.md 2.1), verbatim but for the credential rules every
# environment value gets (NVIDIA_REQUIRE_CUDA is free text a derived image can extend).
DECLARED_ENV = (
    "CUDA_VERSION",
    "NV_CUDA_CUDART_VERSION",
    "NV_CUDNN_VERSION",
    "NV_LIBCUBLAS_VERSION",
    "NV_LIBNCCL_PACKAGE_VERSION",
    "NVIDIA_REQUIRE_CUDA",
)

LIBRARIES = ("cudart", "cudnn", "nccl", "cublas")

# The main shared object of each library, any soname depth: libcudnn.so, libcudnn.so.9,
# libcudnn.so.9.14.0. cuDNN 9's sub-libraries (libcudnn_ops.so.9 ...) and cublasLt are left out.
_LIB_FILE_RE = re.compile(r"^lib(cudart|cudnn|nccl|cublas)\.so(?:\.\d+)*$")
# System copies are named by full version (libcudnn.so.9.14.0, libcublas.so.13.1.0.3);
# a bare major (libcudnn.so.9) is a soname, not a version.
_FILE_VERSION_RE = re.compile(r"\.so\.(\d+(?:\.\d+)+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class _WheelDir:
    """Where a pip wheel puts a library, and which distributions may own that directory."""

    subdir: str
    library: str
    dists: tuple[str, ...]


# The wheel layouts (shared/reference/capture-anchors.md 2.4). CUDA 13 consolidated the toolkit
# libraries under nvidia/cu13/lib and dropped the -cuNN suffix (microsoft/onnxruntime#29202,
# NVIDIA/cuda-python#864); cuDNN and NCCL keep their own directories in both layouts.
_WHEEL_DIRS = (
    _WheelDir(subdir="nvidia/cudnn/lib", library="cudnn",
              dists=("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "nvidia-cudnn-cu11")),
    _WheelDir(subdir="nvidia/nccl/lib", library="nccl",
              dists=("nvidia-nccl-cu13", "nvidia-nccl-cu12", "nvidia-nccl-cu11")),
    _WheelDir(subdir="nvidia/cublas/lib", library="cublas",
              dists=("nvidia-cublas-cu12", "nvidia-cublas-cu11")),
    _WheelDir(subdir="nvidia/cuda_runtime/lib", library="cudart",
              dists=("nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu11")),
    _WheelDir(subdir="nvidia/cu13/lib", library="cublas", dists=("nvidia-cublas",)),
    _WheelDir(subdir="nvidia/cu13/lib", library="cudart", dists=("nvidia-cuda-runtime",)),
)

# conda-meta record names that ship each library (conda-forge / nvidia channels; cudatoolkit
# is the pre-CUDA-12 bundle of every toolkit library).
_CONDA_RECORDS = {
    "cudart": ("cuda-cudart", "cudatoolkit"),
    "cudnn": ("cudnn",),
    "nccl": ("nccl",),
    "cublas": ("libcublas", "cudatoolkit"),
}


# version.json components that version the toolkit's own copies.
_TOOLKIT_COMPONENT = {"cudart": "cuda_cudart", "cublas": "libcublas"}


# ---------------------------------------------------------------------------------------------
# Pure parsers


def _library_of(filename: str) -> str | None:
    """``libcudnn.so.9.14.0`` -> ``cudnn``; anything that is not one of LIBRARIES -> None."""
    m = _LIB_FILE_RE.match(filename)
    return m.group(1) if m else None


def _version_from_filename(filename: str) -> str | None:
    """``libcudart.so.13.0.96`` -> ``13.0.96``; ``libcudnn.so.9`` -> None (a soname only)."""
    m = _FILE_VERSION_RE.search(filename)
    return m.group(1) if m else None


def _parse_version_json(text: str) -> dict[str, str]:
    """The toolkit's ``version.json`` (CUDA >= 11.1) as component -> version::

        {
           "cuda" : {
              "name" : "CUDA SDK",
              "version" : "11.5.2"
           },
           "cuda_cudart" : {
              "name" : "CUDA Runtime (cudart)",
              "version" : "11.5.117"
           },
           ...
        }

    ``cuda`` is the toolkit; ``cuda_cudart`` and ``libcublas`` version the toolkit's own
    copies, whose files are often named by soname only.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for component, entry in data.items():
        version = entry.get("version") if isinstance(entry, dict) else None
        if isinstance(version, str) and version:
            out[component] = version
    return out


def _parse_nvcc_version(text: str) -> str | None:
    """``nvcc --version``; the full version is the ``V`` field::

        nvcc: NVIDIA (R) Cuda compiler driver
        Copyright (c) 2005-2025 NVIDIA Corporation
        Built on Wed_Aug_20_01:58:59_PM_PDT_2025
        Cuda compilation tools, release 13.0, V13.0.88
        Build cuda_13.0.r13.0/compiler.36424714_0
    """
    m = re.search(r"Cuda compilation tools, release (\d+\.\d+), V(\d+(?:\.\d+)+)", text)
    if m:
        return m.group(2)
    m = re.search(r"Cuda compilation tools, release (\d+\.\d+)", text)
    return m.group(1) if m else None


def _conda_record_name(filename: str) -> tuple[str, str] | None:
    """``conda-meta/cudnn-9.1.1.17-h8b6c9a5_0.json`` -> (``cudnn``, ``9.1.1.17``)."""
    if not filename.endswith(".json"):
        return None
    parts = filename[: -len(".json")].rsplit("-", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else None


# ---------------------------------------------------------------------------------------------
# Toolkit


@dataclass(frozen=True, slots=True, kw_only=True)
class _Toolkit:
    path: str | None = None
    version: str | None = None
    found_via: str | None = None
    nvcc_version: str | None = None
    components: Mapping[str, str] = field(default_factory=dict)  # version.json


def _run_nvcc(host: Host, nvcc: str) -> str | None:
    try:
        result = host.run([nvcc, "--version"], timeout=NVCC_TIMEOUT)
    except (CommandNotFound, CommandTimeout, HostError):
        return None
    return _parse_nvcc_version(result.stdout) if result.returncode == 0 else None


def _find_toolkit(host: Host) -> _Toolkit:
    path = via = None
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = host.environ.get(var)
        if value and host.is_dir(value):
            path, via = host.realpath(value), f"env:{var}"
            break
    if path is None and host.is_dir("/usr/local/cuda"):
        # The symlink target names the toolkit actually selected (/usr/local/cuda-13.0).
        path, via = host.realpath("/usr/local/cuda"), "/usr/local/cuda"

    nvcc_version = None
    on_path = host.which("nvcc")
    candidates = [on_path] if on_path else []
    if path is not None:
        candidates.append(posixpath.join(path, "bin", "nvcc"))
    for nvcc in candidates:
        nvcc_version = _run_nvcc(host, nvcc)
        if nvcc_version is not None:
            if path is None:
                # nvcc on PATH is the only sign of a toolkit: its prefix is two levels up.
                path = posixpath.dirname(posixpath.dirname(host.realpath(nvcc)))
                via = "nvcc"
            break

    components: dict[str, str] = {}
    if path is not None:
        text = read_text(host, posixpath.join(path, "version.json"))
        components = _parse_version_json(text) if text else {}
    # version.json is absent in some images (capture-anchors.md 2.3); nvcc's is next best.
    version = components.get("cuda") or (nvcc_version if path is not None else None)
    return _Toolkit(
        path=path, version=version, found_via=via, nvcc_version=nvcc_version,
        components=components,
    )


# ---------------------------------------------------------------------------------------------
# Library copies


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hit:
    library: str
    soname: str
    realpath: str
    version: str | None
    found_via: str
    version_via: str | None = None
    claimed_by: tuple[str, ...] = ()


def _scan_dir(
    host: Host, directory: str, libraries: Iterable[str] = LIBRARIES
) -> Iterator[tuple[str, str, str]]:
    """(library, soname, realpath) per distinct file in ``directory``. The soname is the link
    the loader opens (libcudnn.so.9): the shortest name with a version suffix."""
    wanted = set(libraries)
    groups: dict[str, tuple[str, list[str]]] = {}
    for name in host.listdir(directory):
        library = _library_of(name)
        if library is not None and library in wanted:
            real = host.realpath(posixpath.join(directory, name))
            groups.setdefault(real, (library, []))[1].append(name)
    for real, (library, names) in groups.items():
        versioned = [n for n in names if not n.endswith(".so")] or names
        yield library, min(versioned, key=lambda n: (n.count("."), n)), real


def _pip_hits(host: Host, pyenv: PythonEnv) -> Iterator[_Hit]:
    installed = {p.name: p.version for p in pyenv.packages}
    for site in pyenv.site_packages:
        for wd in _WHEEL_DIRS:
            directory = posixpath.join(site, wd.subdir)
            for library, soname, real in _scan_dir(host, directory, (wd.library,)):
                owners = [d for d in wd.dists if d in installed]
                owner = owners[0] if owners else None
                # Wheel copies are named by soname only; the owning wheel's version is the
                # library's (nvidia-cudnn-cu12 9.1.0.70 ships cuDNN 9.1.0). The cu12 and cu13
                # wheels of NCCL write the same file: both stay installed, one wrote it.
                version = installed[owner] if owner else _version_from_filename(real)
                via = f"pip:{owner}" if owner else "pip"
                yield _Hit(library=library, soname=soname, realpath=real, version=version,
                           found_via=via, version_via="metadata" if owner else (
                               "filename" if version else None),
                           claimed_by=tuple(f"{d}=={installed[d]}" for d in sorted(owners))
                           if len(owners) > 1 else ())


def _conda_hits(host: Host, prefix: str) -> Iterator[_Hit]:
    records: dict[str, tuple[str, str]] = {}
    for filename in host.listdir(posixpath.join(prefix, "conda-meta")):
        parsed = _conda_record_name(filename)
        if parsed is not None:
            records[parsed[0]] = parsed
    for library, soname, real in _scan_dir(host, posixpath.join(prefix, "lib")):
        record = next((records[r] for r in _CONDA_RECORDS[library] if r in records), None)
        from_name = _version_from_filename(real)
        version = from_name or (record[1] if record else None)
        via = f"conda:{record[0]}" if record else "conda:lib"
        yield _Hit(library=library, soname=soname, realpath=real, version=version, found_via=via,
                   version_via="filename" if from_name else ("metadata" if version else None))


# Wheel distribution names (dist-info spelling) per library, for toolkits assembled from
# wheels: NVIDIA's CUDA 13 layout keeps the wheels' dist-info folders in <toolkit>/dist-info/.
_DIST_INFO_PREFIX = {
    "cudart": ("nvidia_cuda_runtime",),
    "cublas": ("nvidia_cublas",),
    "cudnn": ("nvidia_cudnn",),
    "nccl": ("nvidia_nccl",),
}


def _dist_info_version(host: Host, library_path: str, library: str) -> str | None:
    """The owning wheel's version from a ``dist-info/`` folder beside the library's folder:
    ``cuda-13.0/lib/libcudart.so.13`` + ``cuda-13.0/dist-info/nvidia_cuda_runtime-13.0.96.dist-info``."""
    root = posixpath.dirname(posixpath.dirname(library_path))
    for name in host.listdir(posixpath.join(root, "dist-info")):
        dist, _, version = name.removesuffix(".dist-info").rpartition("-")
        if name.endswith(".dist-info") and dist.startswith(_DIST_INFO_PREFIX[library]):
            return version or None
    return None


def _dir_hits(host: Host, directories: Iterable[str], via: str) -> Iterator[_Hit]:
    for directory in directories:
        for library, soname, real in _scan_dir(host, directory):
            version = _version_from_filename(real)
            yield _Hit(library=library, soname=soname, realpath=real, version=version,
                       found_via=via, version_via="filename" if version else None)


def _file_hits(host: Host, paths: Iterable[str], via: str) -> Iterator[_Hit]:
    for path in paths:
        library = _library_of(posixpath.basename(path))
        if library is not None and host.is_file(path):
            real = host.realpath(path)
            version = _version_from_filename(real)
            yield _Hit(library=library, soname=posixpath.basename(path), realpath=real,
                       version=version, found_via=via, version_via="filename" if version else None)


def _ldconfig_hits(host: Host, text: str) -> Iterator[_Hit]:
    # The cache ignores LD_LIBRARY_PATH and never sees wheel or conda copies
    # (NVIDIA/TransformerEngine#2373), which is why it is one source among several.
    for entry in parse_ldconfig(text):
        library = _library_of(entry.name)
        if library is not None:
            real = host.realpath(entry.path)
            version = _version_from_filename(real)
            yield _Hit(library=library, soname=entry.name, realpath=real, version=version,
                       found_via="ldconfig", version_via="filename" if version else None)


# ---------------------------------------------------------------------------------------------
# Identity from the file: its ELF build-id and the version it carries


# NCCL prints its version in its init banner, from a string in .rodata:
# "NCCL version 2.30.7+cuda13.3" (nccl src/init.cc).
_NCCL_VERSION = re.compile(rb"NCCL version (\d+\.\d+\.\d+[0-9A-Za-z.+_-]*)")

# The libraries whose version only a call answers: each loaded by path in one short child, its
# version function called (none needs a GPU or a driver), the answers printed as JSON. Stdlib
# only, isolated (-I -S): nothing of the environment's own Python code runs. cuBLAS is not
# asked: cublasGetProperty needs libcublasLt loaded (500 MB, ~0.1 s of relocations, the
# largest single cost of a capture); its build-id identifies the file. The script still
# answers for it, for a caller that asks.
_VERSION_CALLS = {"cudnn": "cudnnGetVersion", "cudart": "cudaRuntimeGetVersion"}
_VERSION_SCRIPT = """
import ctypes, json, sys
out = {}
for kind, path in json.loads(sys.argv[1]):
    try:
        lib = ctypes.CDLL(path)
        v = ctypes.c_int(0)
        if kind == "cudnn":
            lib.cudnnGetVersion.restype = ctypes.c_size_t
            out[path] = int(lib.cudnnGetVersion())
        elif kind == "cudart":
            if lib.cudaRuntimeGetVersion(ctypes.byref(v)) == 0:
                out[path] = v.value
        elif kind == "cublas":
            parts = []
            for prop in (0, 1, 2):
                if lib.cublasGetProperty(prop, ctypes.byref(v)) == 0:
                    parts.append(v.value)
            if len(parts) == 3:
                out[path] = parts
    except Exception as exc:
        out[path] = {"error": type(exc).__name__}
print(json.dumps(out))
"""


def cudnn_version_text(value: object) -> str | None:
    """cudnnGetVersion(): 92400 -> ``9.24.0`` (cuDNN 9: x10000), 8907 -> ``8.9.7`` (cuDNN <= 8:
    x1000) (capture-anchors.md 2.4)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    if value >= 90000:
        return f"{value // 10000}.{(value % 10000) // 100}.{value % 100}"
    return f"{value // 1000}.{(value % 1000) // 100}.{value % 100}"


def _called_version(library: str, value: object) -> str | None:
    """A version call's answer as text: cudaRuntimeGetVersion 13000 -> ``13.0``,
    cublasGetProperty [13, 1, 1] -> ``13.1.1``."""
    if library == "cudnn":
        return cudnn_version_text(value)
    if library == "cudart" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value // 1000}.{(value % 1000) // 10}"
    if library == "cublas" and isinstance(value, list) and len(value) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return ".".join(str(v) for v in value)
    return None


def _call_versions(host: Host, python: str | None,
                   wanted: Sequence[tuple[str, str]]) -> tuple[dict[str, str], str | None]:
    if not wanted:
        return {}, None
    if python is None:
        return {}, "no Python to ask library versions with"
    env = {"PATH": host.environ.get("PATH", "/usr/bin:/bin"), "CUDA_VISIBLE_DEVICES": ""}
    try:
        result = host.run([python, "-I", "-S", "-c", _VERSION_SCRIPT, json.dumps(wanted)],
                          timeout=VERSION_TIMEOUT, env=env)
    except CommandTimeout:
        return {}, f"library version calls timed out after {VERSION_TIMEOUT:g}s"
    except HostError as exc:
        return {}, f"library version calls failed: {exc}"
    try:
        answers = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    except ValueError:
        answers = None
    if not isinstance(answers, dict):
        said = result.stderr.strip().splitlines()[-1:] or ["no answer"]
        return {}, f"library version calls exited with {result.returncode}: {said[0][:200]}"
    kinds = dict((p, k) for k, p in wanted)
    out = {}
    for path, value in answers.items():
        text = _called_version(kinds.get(path, ""), value)
        if text is not None:
            out[path] = text
    return out, None


def identify(host: Host, copies: Sequence[LibraryCopy],
             python: str | None) -> tuple[list[LibraryCopy], str | None]:
    """Each copy's build-id and the version the file itself carries: NCCL's string from its
    .rodata (never the whole 250 MB file), the others' version calls in one child. When the
    label disagrees with the file, both stay and ``metadata_mismatch`` says so."""
    files = ElfFiles(host)
    out = []
    wanted = [(c.library, c.path) for c in copies if c.library in _VERSION_CALLS]
    # The child runs while this thread reads the files (it waits on a subprocess, not the GIL).
    asked: dict[str, tuple[dict[str, str], str | None]] = {}
    child = threading.Thread(target=lambda: asked.update(calls=_call_versions(host, python, wanted)),
                             name="cuda-version-calls", daemon=True)
    child.start()
    found: dict[str, tuple[str, str]] = {}
    for copy in copies:
        files(copy.path)  # the build-id, while the child runs
        if copy.library == "nccl":
            opened = host.open_binary(copy.path)
            if opened is not None:
                stream, _ = opened
                with stream:
                    m = find_in_section(stream, ".rodata", _NCCL_VERSION)
                parsed = _NCCL_VERSION.match(m) if m is not None else None
                if parsed is not None:
                    found[copy.path] = (parsed.group(1).decode("ascii", "replace"), "string")
    child.join()
    called, why = asked.get("calls", ({}, "library version calls did not finish"))
    for path, version in called.items():
        library = next(k for k, p in wanted if p == path)
        found[path] = (version, _VERSION_CALLS[library])
    for copy in copies:
        info = files(copy.path)
        file_version, how = found.get(copy.path, (None, None))
        out.append(LibraryCopy(
            library=copy.library, version=copy.version, path=copy.path, found_via=copy.found_via,
            soname=copy.soname, version_via=copy.version_via, file_version=file_version,
            file_version_via=how, build_id=info.build_id if info is not None else None,
            metadata_mismatch=versions_disagree(copy.version, file_version),
            claimed_by=copy.claimed_by))
    return out, why


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemSurvey:
    """The half of the probe that does not depend on the Python environment: the toolkit (it
    runs nvcc) and the ldconfig cache. Capture runs it alongside the Python scan."""

    toolkit: _Toolkit
    ldconfig: str | None
    ldconfig_error: str | None


def survey(host: Host) -> SystemSurvey:
    ldconfig, why = read_ldconfig(host)
    return SystemSurvey(toolkit=_find_toolkit(host), ldconfig=ldconfig, ldconfig_error=why)


def probe(host: Host, pyenv: PythonEnv | None, system: SystemSurvey | None = None) -> Probed[CudaInfo]:
    """The toolkit, image-declared versions, and every library copy in search order.

    LD_PRELOAD's files come first (they load before anything else); then the order NVIDIA's
    cuda.pathfinder reports (NVIDIA/cuda-python ``cuda_pathfinder/.../search_steps.py``):
    wheels, conda prefix, LD_LIBRARY_PATH, the ldconfig cache, CUDA_HOME. Each copy carries
    its build-id and, where the file says, its own version (``identify``). A file reached
    twice (a symlinked directory, a dir listed twice) is one copy, kept with the provenance of
    its first sighting.
    """
    system = system or survey(host)
    toolkit = system.toolkit
    declared = {k: redact_text(host.environ[k]) for k in DECLARED_ENV if host.environ.get(k)}
    looked: list[str] = []
    notes: list[str] = []

    hits: list[_Hit] = []
    preloaded = [p for p in re.split(r"[ :]+", host.environ.get("LD_PRELOAD", "")) if "/" in p]
    if preloaded:
        # A preloaded copy is loaded before anything else and wins its SONAME (ld.so(8)).
        looked.append("LD_PRELOAD")
        hits.extend(_file_hits(host, preloaded, "ld_preload"))
    if pyenv is not None and pyenv.site_packages:
        looked.append("site-packages")
        hits.extend(_pip_hits(host, pyenv))
    if pyenv is not None and pyenv.env_kind == "conda" and pyenv.prefix:
        looked.append("conda prefix")
        hits.extend(_conda_hits(host, pyenv.prefix))
    ld_path = [d for d in host.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    if ld_path:
        looked.append("LD_LIBRARY_PATH")
        hits.extend(_dir_hits(host, ld_path, "ld_library_path"))
    if system.ldconfig is not None:
        looked.append("ldconfig")
        hits.extend(_ldconfig_hits(host, system.ldconfig))
    else:
        notes.append(system.ldconfig_error or "ldconfig unavailable")
    if toolkit.path is not None:
        looked.append("CUDA_HOME")
        hits.extend(_dir_hits(host, [posixpath.join(toolkit.path, "lib64")], "cuda_home"))

    seen: set[str] = set()
    copies = []
    toolkit_real = host.realpath(toolkit.path) if toolkit.path else None
    for hit in hits:
        if hit.realpath in seen:
            continue
        seen.add(hit.realpath)
        version, version_via = hit.version, hit.version_via
        if version is None and toolkit_real and hit.realpath.startswith(toolkit_real + "/"):
            version = toolkit.components.get(_TOOLKIT_COMPONENT.get(hit.library, ""))
            version_via = "version.json" if version else None
        if version is None:
            version = _dist_info_version(host, hit.realpath, hit.library)
            version_via = "dist-info" if version else None
        copies.append(
            LibraryCopy(
                library=hit.library,
                version=version,
                path=hit.realpath,
                found_via=hit.found_via,
                soname=hit.soname,
                version_via=version_via,
                claimed_by=hit.claimed_by,
            )
        )
    if copies:
        python = pyenv.executable if pyenv is not None and pyenv.executable else host.which("python3")
        copies, why = identify(host, copies, python)
        if why:
            notes.append(why)

    summary = f"searched {', '.join(looked) or 'nothing'}"
    if notes:
        summary += f" ({'; '.join(notes)})"
    if toolkit.path is None and not copies and not declared:
        return Probed(value=None, found_via=f"no CUDA toolkit or libraries: {summary}")
    if toolkit.found_via:
        summary = f"toolkit via {toolkit.found_via}; {summary}"
    return Probed(
        value=CudaInfo(
            toolkit_version=toolkit.version,
            toolkit_path=toolkit.path,
            toolkit_found_via=toolkit.found_via,
            nvcc_version=toolkit.nvcc_version,
            libraries=tuple(copies),
            declared=declared,
        ),
        found_via=summary,
    )
