"""The snapshot model: frozen dataclasses, from_dict/to_dict, validation and digest; no I/O."""

from __future__ import annotations

import hashlib
import json
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SnapshotFormatError, UnsupportedSchemaError
from .records import TRANSIENT, converter, record_to_dict, what
from .text import has_control, has_surrogate

# 2: `requires` holds requirement strings with their specifiers ("numpy>=1.26"), only those
# whose markers hold for the captured interpreter. Schema 1 held bare names, which read as
# requirements without a specifier, so schema-1 files load unchanged.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = frozenset({1, 2})

# Names and versions end up in lockfiles, Dockerfiles and shell-adjacent places, so the model
# refuses anything outside these alphabets: one gate, used by load (refuse) and by capture
# (drop with a warning), before any renderer runs. Every pattern must match the whole value
# (fullmatch): `$` would let a trailing newline through.
# PEP 508 names (https://packaging.python.org/en/latest/specifications/name-normalization/).
_NAME_RE = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
# Versions are kept raw (an unparseable one is still recorded), but only in a safe alphabet
# that covers PEP 440, legacy versions and conda's version strings.
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_*-]{0,127}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_CONDA_FIELD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+*-]{0,127}")
# A requirement as capture writes it: name, extras, specifiers; no spaces, quotes or markers.
_REQUIREMENT_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]*\])?[A-Za-z0-9.*+!<>=~,_-]{0,256}")


def _freeze_mappings(obj: Any, *names: str) -> None:
    """Frozen all the way down: a mapping field becomes a read-only view of its own copy, so
    ``snap.env["X"] = ...`` raises instead of silently changing what the digest covers."""
    for name in names:
        value = getattr(obj, name)
        if type(value) is not types.MappingProxyType:
            object.__setattr__(obj, name, types.MappingProxyType(dict(value)))


# ---------------------------------------------------------------------------------------------
# Probe bookkeeping


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeStatus:
    """How one probe ended: ``ok`` (found), ``absent`` (looked, nothing there) or ``error``."""

    status: str
    found_via: str | None = None
    error: str | None = None
    # Values the probe found but could not record (a variable name TOML-hostile tools would
    # choke on, a URL with a newline): named here instead of being written.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Meta:
    """Capture-time facts. Excluded from the digest: they change on every run."""

    envsnap_version: str = ""
    captured_at: str = ""
    hostname: str | None = None
    anonymized: bool = False
    elapsed_ms: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_mappings(self, "elapsed_ms")


# ---------------------------------------------------------------------------------------------
# Python


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a distribution came from (PEP 610 ``direct_url.json``); URLs already redacted.

    ``kind`` is one of ``vcs``, ``editable``, ``archive`` (a local or remote wheel/sdist),
    ``dir`` (a non-editable local directory) or ``url``.
    """

    kind: str
    url: str | None = None
    vcs: str | None = None
    commit: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None
    hash: str | None = None

    def vcs_reference(self, *, requested: bool = False, subdirectory: bool = True) -> str | None:
        """pip's direct reference to a VCS source (https://pip.pypa.io/en/stable/topics/vcs-support/):
        ``git+https://github.com/o/r@1a2b3c4d#subdirectory=pkg``, pinned to the recorded commit
        (``requested``: else to the revision asked for); ``subdirectory=False`` leaves the
        fragment out (a package URL carries it apart). None for a source that is not VCS."""
        if self.kind != "vcs" or not self.url:
            return None
        vcs = self.vcs or "git"
        ref = self.url if self.url.startswith(f"{vcs}+") else f"{vcs}+{self.url}"
        revision = self.commit or (self.requested_revision if requested else None)
        ref += f"@{revision}" if revision else ""
        if subdirectory and self.subdirectory:
            ref += f"#subdirectory={self.subdirectory}"
        return ref


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """One installed distribution, keyed by its canonical (PEP 503) name."""

    name: str
    version: str
    installer: str | None = None
    requested: bool = False
    source: Source | None = None
    owner: str | None = None  # "conda" when a conda-meta record owns it, else None
    location: str | None = None  # site dir, relative to the environment prefix where possible
    # The requirements that hold in this environment: PEP 508 strings without markers
    # ("numpy>=1.26", "requests[socks]"), canonical names, sorted. See docs/snapshot-format.md.
    requires: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # WHEEL "Tag:" lines, for glibc / ABI checks
    native: bool = False  # ships compiled extension modules (RECORD lists .so/.pyd)
    # The declared license (docs/snapshot-format.md#licenses): an SPDX expression from
    # License-Expression, else from License when it reads as one; else the "License ::" trove
    # classifiers, as written.
    license: str | None = None
    license_classifiers: tuple[str, ...] = ()
    # Where the metadata lives, relative to the prefix: needed at capture time to decide conda
    # ownership, but machine layout rather than environment content, so never written.
    metadata_path: str | None = field(default=None, compare=False, repr=False,
                                      metadata={TRANSIENT: True})


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageProblem:
    """A dist-info that could not be read cleanly, a duplicate or a shadowed copy."""

    kind: str  # no-metadata | no-name | invalid-version | undecodable | duplicate | invalid-name
    path: str
    name: str | None = None
    version: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonEnv:
    version: str
    implementation: str
    abi_tag: str | None = None
    platform_tag: str | None = None
    executable: str | None = None
    prefix: str | None = None
    base_prefix: str | None = None
    env_kind: str = "system"  # venv | conda | system
    site_packages: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()  # configured index URLs, credentials redacted
    # The interpreter's PEP 508 marker environment (python_version, sys_platform, ...): what
    # `requires` was evaluated against.
    markers: Mapping[str, str] = field(default_factory=dict)
    packages: tuple[Package, ...] = ()
    problems: tuple[PackageProblem, ...] = ()
    # The interpreter's sys.path: where a framework's own Python-level preload looks (torch's
    # _preload_cuda_deps). Machine layout, needed at capture time only, so never written.
    sys_path: tuple[str, ...] = field(default=(), compare=False, repr=False,
                                      metadata={TRANSIENT: True})

    def __post_init__(self) -> None:
        _freeze_mappings(self, "markers")

    def package(self, name: str) -> Package | None:
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        return None


# ---------------------------------------------------------------------------------------------
# conda


@dataclass(frozen=True, slots=True, kw_only=True)
class CondaPackage:
    name: str
    version: str
    build: str
    build_number: int = 0
    channel: str | None = None
    subdir: str | None = None
    url: str | None = None
    md5: str | None = None
    sha256: str | None = None
    requested_spec: str | None = None
    noarch: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CondaEnv:
    prefix: str
    packages: tuple[CondaPackage, ...] = ()
    requested_specs: tuple[str, ...] = ()  # from conda-meta/history "# update specs"


# ---------------------------------------------------------------------------------------------
# Host


@dataclass(frozen=True, slots=True, kw_only=True)
class OSInfo:
    system: str
    arch: str
    kernel: str | None = None
    distro_id: str | None = None
    distro_version: str | None = None
    pretty_name: str | None = None
    glibc: str | None = None
    libstdcxx: str | None = None  # newest GLIBCXX_x.y.z symbol version
    container: str | None = None  # docker | podman | containerd | None
    orchestrators: tuple[str, ...] = ()  # kubernetes, slurm
    wsl: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CPUInfo:
    model: str | None = None
    logical_cores: int | None = None
    usable_cores: int | None = None
    flags: tuple[str, ...] = ()  # only ISA flags wheels care about
    memory_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GPU:
    index: int
    name: str
    uuid: str | None = None
    memory_bytes: int | None = None
    compute_capability: str | None = None  # "9.0"
    mig_mode: bool | None = None
    pci_bus_id: str | None = None
    vbios: str | None = None
    persistence_mode: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NvidiaInfo:
    driver_version: str | None = None  # user-mode driver, from NVML or nvidia-smi
    kernel_module_version: str | None = None  # /proc/driver/nvidia/version
    cuda_driver_version: str | None = None  # the newest CUDA the driver supports, "13.0"
    nvml_version: str | None = None
    gpus: tuple[GPU, ...] = ()

    @property
    def driver_mismatch(self) -> bool:
        """User-space and kernel module disagree: CUDA fails with 'Driver/library version mismatch'."""
        return bool(
            self.driver_version
            and self.kernel_module_version
            and self.driver_version != self.kernel_module_version
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryCopy:
    """One copy of a CUDA library on disk, how it was found, and what the file itself says.

    ``version`` is the label (the owning wheel's or conda record's version, the file name, the
    toolkit's version.json); ``version_via`` says which. ``file_version`` is read from the file
    (NCCL's embedded "NCCL version" string, or the library's own version call in a child
    process), ``file_version_via`` says how. ``metadata_mismatch``: the two disagree, as when
    the cu12 and cu13 NCCL wheels overwrite each other's ``libnccl.so.2``. Schema notes:
    docs/snapshot-format.md (fields added in schema 2 without a bump; older readers ignore them).
    """

    library: str  # cudart | cudnn | nccl | cublas
    version: str | None
    path: str
    found_via: str  # pip:<dist> | conda:<pkg> | ld_preload | ld_library_path | ldconfig | cuda_home
    soname: str | None = None
    version_via: str | None = None  # metadata | filename | version.json | dist-info
    file_version: str | None = None
    # string | cudnnGetVersion | cudaRuntimeGetVersion | cublasGetProperty
    file_version_via: str | None = None
    build_id: str | None = None  # the ELF NT_GNU_BUILD_ID note, hex
    metadata_mismatch: bool = False
    # Every installed wheel whose folder holds this file ("nvidia-nccl-cu12==2.27.5"), when
    # more than one does: the last one installed wrote it.
    claimed_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CudaInfo:
    toolkit_version: str | None = None
    toolkit_path: str | None = None
    toolkit_found_via: str | None = None
    nvcc_version: str | None = None
    libraries: tuple[LibraryCopy, ...] = ()
    declared: Mapping[str, str] = field(default_factory=dict)  # image env: CUDA_VERSION, ...

    def __post_init__(self) -> None:
        _freeze_mappings(self, "declared")


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """The file the dynamic loader binds for one CUDA-family SONAME a framework needs, predicted
    from the ELF files and glibc's search rules (docs/which-copy-loads.md)."""

    soname: str
    path: str | None = None  # the bound file (real path); None when none is found
    via: str  # preload | rpath | ld_library_path | runpath | ld_cache | default | path | missing
    # Whose search found it: the path of the object whose DT_RPATH/DT_RUNPATH held it, or that
    # needed it (ld_library_path, ld_cache, default, missing); LD_PRELOAD; /etc/ld.so.preload;
    # or a framework's own Python-level preload (torch._preload_cuda_deps).
    found_by: str | None = None
    version: str | None = None  # the bound file's version, read from the file where it can be
    build_id: str | None = None
    also_loaded: tuple[str, ...] = ()  # other files with this SONAME in the same process
    verified: bool | None = None  # --deep: the real loader bound ``path`` (False: see ``loaded``)
    loaded: str | None = None  # --deep: what the real loader bound, when it differs


@dataclass(frozen=True, slots=True, kw_only=True)
class Framework:
    """An ML framework build: what it was compiled for, as far as files (or --deep) tell, and
    which copy of each CUDA library it binds."""

    name: str
    version: str
    variant: str | None = None  # local label: cu121, cpu, rocm6.2
    cuda: str | None = None  # CUDA it was built for, "12.1"; None for CPU builds
    cudnn: str | None = None
    nccl: str | None = None
    arch_list: tuple[str, ...] = ()  # sm_80, sm_90, compute_90 ...
    found_via: str = "metadata"
    bindings: tuple[Binding, ...] = ()
    bindings_via: str | None = None  # how the bindings were worked out (the import modelled)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    commit: str | None = None
    dirty: bool | None = None
    branch: str | None = None
    remote: str | None = None


# ---------------------------------------------------------------------------------------------
# The snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    schema: int = SCHEMA_VERSION
    meta: Meta = field(default_factory=Meta)
    probes: Mapping[str, ProbeStatus] = field(default_factory=dict)
    python: PythonEnv | None = None
    conda: CondaEnv | None = None
    os: OSInfo | None = None
    cpu: CPUInfo | None = None
    nvidia: NvidiaInfo | None = None
    cuda: CudaInfo | None = None
    frameworks: tuple[Framework, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    project: Project | None = None
    # The digest, once known: computed by to_dict, or the one a file states when its content
    # matches it (io.loads). A cache on a frozen record, so never compared, written or passed.
    _digest: str | None = field(default=None, init=False, compare=False, repr=False,
                                metadata={TRANSIENT: True})

    @property
    def digest(self) -> str:
        """sha256 over the canonical content, capture-time metadata excluded; computed once.
        A snapshot read from a file whose content matches the digest it states has that digest
        (the same for every file this version writes; a newer version's keys this one does not
        know stay in it)."""
        if self._digest is None:
            return str(to_dict(self)["digest"])
        return self._digest

    def replace(self, **changes: Any) -> Snapshot:
        return replace(self, **changes)

    def __post_init__(self) -> None:
        _freeze_mappings(self, "probes", "env")


# Top-level keys whose values change on every capture and so stay out of the digest.
_VOLATILE_KEYS = frozenset({"meta", "digest"})


def _as_json(value: Any) -> str:
    # TOML dates and times a newer schema may hold under keys this version ignores.
    isoformat = getattr(value, "isoformat", None)
    if isoformat is None:
        raise TypeError(f"cannot digest {type(value).__name__}")
    return str(isoformat())


def content_digest(data: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything but capture-time facts."""
    content = {k: v for k, v in data.items() if k not in _VOLATILE_KEYS}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_as_json)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# The plain-data form (records.py converts, by the annotations)

def to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The plain-data form: what the TOML and JSON writers serialise, plus the digest."""
    data = record_to_dict(snapshot)
    data["schema"] = snapshot.schema  # always present, even though it equals the default
    # Packages are a table keyed by name: one line per package in the TOML file.
    py = data.get("python")
    if py is not None and "packages" in py:
        py["packages"] = {p.pop("name"): p for p in py["packages"]}
    # Always the digest of what is written here: a digest remembered from a file may cover
    # keys this version does not keep.
    data["digest"] = content_digest(data)
    if snapshot._digest is None:
        remember_digest(snapshot, data["digest"])
    return data


def remember_digest(snapshot: Snapshot, digest: str) -> None:
    """Record ``snapshot``'s digest, known without computing it (see Snapshot.digest)."""
    object.__setattr__(snapshot, "_digest", digest)  # frozen: the one cache it holds


# Raw package entries already converted and checked, by name: nodes of one fleet share most
# of their packages, and an equal entry converts to an equal record.
# Python's == holds for 1 == True: the bool-valued keys of each cached entry are kept, and an
# equal entry must hold bools there too (a valid entry's other values are strings, lists and
# tables of strings, which equal only their own kind).
PackageMemo = dict[str, tuple[Mapping[str, Any], "Package", tuple[str, ...]]]


def from_dict(data: Mapping[str, Any], *, memo: PackageMemo | None = None) -> Snapshot:
    """Build and validate a Snapshot from its plain-data form (as read from TOML or JSON).

    ``memo`` (one per process, for many snapshots) reuses the records of package entries equal
    to ones converted before, instead of converting and checking them again."""
    if not isinstance(data, Mapping):
        raise SnapshotFormatError("a snapshot must be a table")
    schema = data.get("schema")
    if schema is None:
        raise SnapshotFormatError("not an envsnap snapshot (no 'schema' key)")
    if type(schema) is not int:
        raise SnapshotFormatError(f"expected an integer, got {what(schema)}", path="schema")
    if schema not in READABLE_SCHEMAS:
        raise UnsupportedSchemaError(
            f"snapshot schema {schema} is not supported by this envsnap "
            f"(it reads schemas {', '.join(map(str, sorted(READABLE_SCHEMAS)))}); "
            "upgrade envsnap to read it"
        )
    body = {k: v for k, v in data.items() if k != "digest"}
    py = body.get("python")
    packages: tuple[Package, ...] | None = None
    if isinstance(py, Mapping) and "packages" in py:
        packages = _packages(py["packages"], memo)
        body["python"] = {**py, "packages": []}
    snapshot: Snapshot = converter(Snapshot)(body, "")
    # Read as written: a schema-1 file stays schema 1 until captured again.
    snapshot = replace(snapshot, schema=schema)
    if packages is not None and snapshot.python is not None:
        snapshot = replace(snapshot, python=replace(snapshot.python, packages=packages))
    validate(snapshot, packages_checked=packages is not None)
    return snapshot


def _packages(table: Any, memo: PackageMemo | None) -> tuple[Package, ...]:
    """python.packages, written as a table keyed by name: each entry converted and checked
    (validate's package rule), or reused from the memo when equal to an entry seen before."""
    if not isinstance(table, Mapping):
        raise SnapshotFormatError(f"expected a table, got {what(table)}", path="python.packages")
    convert = converter(Package)
    out: list[Package] = []
    for name, entry in table.items():
        where = f"python.packages.{name}"
        hit = memo.get(name) if memo is not None else None
        if hit is not None and hit[0] == entry and all(type(entry[k]) is bool for k in hit[2]):
            out.append(hit[1])
            continue
        if not isinstance(entry, Mapping):
            raise SnapshotFormatError(f"expected a table, got {what(entry)}", path=where)
        pkg: Package = convert({**entry, "name": name}, where)
        problem = package_problem(pkg)
        if problem is not None:
            raise SnapshotFormatError(f"refusing unsafe {problem}", path=where)
        if memo is not None:
            memo[name] = (entry, pkg, tuple(k for k, v in entry.items() if type(v) is bool))
        out.append(pkg)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Validation: everything later written into a lockfile, Dockerfile or shell-adjacent file must
# pass here first, so renderers can trust the model. Each rule is one predicate, used by load
# (validate: refuse, naming the key path) and by capture (sanitize.py: drop the value, naming
# it in a warning). Both stay below the sections: from_dict refuses by itself, and capture must
# not load the diff and check rules to clean what it writes.


def is_safe_name(name: str) -> bool:
    return _NAME_RE.fullmatch(name) is not None


def is_safe_version(version: str) -> bool:
    return _VERSION_RE.fullmatch(version) is not None


def is_safe_env_name(name: str) -> bool:
    return _ENV_NAME_RE.fullmatch(name) is not None


def is_safe_conda_field(value: str) -> bool:
    return _CONDA_FIELD_RE.fullmatch(value) is not None


def is_safe_requirement(value: str) -> bool:
    return _REQUIREMENT_RE.fullmatch(value) is not None


def is_safe_text(value: str | None) -> bool:
    """Free text (paths, URLs, env values) may hold spaces but never control characters:
    a newline in a label or env value is how a Dockerfile instruction gets injected."""
    return value is None or not (has_control(value) or has_surrogate(value))


_SOURCE_TEXT = ("url", "vcs", "commit", "requested_revision", "subdirectory", "hash")


def source_ok(source: Source | None) -> bool:
    """No control characters in any text of a package's source."""
    return source is None or all(is_safe_text(getattr(source, a)) for a in _SOURCE_TEXT)


def package_problem(pkg: Package) -> str | None:
    """What makes a package unsafe to render (``package name``, ``version``, ``requirement``,
    ``source``), or None."""
    if not is_safe_name(pkg.name):
        return "package name"
    if not is_safe_version(pkg.version):
        return "version"
    if not all(is_safe_requirement(r) for r in pkg.requires):
        return "requirement"
    if not source_ok(pkg.source):
        return "source"
    return None


def conda_problem(cpkg: CondaPackage) -> str | None:
    """What makes a conda record unsafe to render, or None."""
    if not is_safe_name(cpkg.name):
        return "conda package name"
    if not is_safe_conda_field(cpkg.version):
        return "conda version"
    if not is_safe_conda_field(cpkg.build):
        return "conda build string"
    if not (is_safe_text(cpkg.url) and is_safe_text(cpkg.channel)
            and is_safe_text(cpkg.requested_spec)):
        return "conda record text"
    return None


def framework_problem(fw: Framework) -> str | None:
    """What makes a framework entry unsafe to render, or None."""
    if not is_safe_name(fw.name):
        return "framework name"
    if not is_safe_version(fw.version):
        return "version"
    return None


def variable_ok(name: str, value: str) -> bool:
    """An environment variable a shell and a Dockerfile can take: a shell name, a one-line value."""
    return is_safe_env_name(name) and is_safe_text(value)


def _refuse(what: str, value: str, path: str) -> SnapshotFormatError:
    return SnapshotFormatError(f"refusing unsafe {what} {value!r}", path=path)


def validate(snapshot: Snapshot, *, packages_checked: bool = False) -> None:
    """Raise SnapshotFormatError on any name, version or value that is unsafe to render.
    ``packages_checked``: from_dict has already checked each package (names are unique there:
    they are the keys of one table)."""
    py = snapshot.python
    if py is not None:
        if not is_safe_version(py.version):
            raise _refuse("Python version", py.version, "python.version")
        seen: set[str] = set()
        for pkg in () if packages_checked else py.packages:
            where = f"python.packages.{pkg.name}"
            problem = package_problem(pkg)
            if problem is not None:
                raise SnapshotFormatError(f"refusing unsafe {problem}", path=where)
            if pkg.name in seen:
                raise SnapshotFormatError("duplicate package", path=where)
            seen.add(pkg.name)
        for i, idx in enumerate(py.indexes):
            if not is_safe_text(idx):
                raise SnapshotFormatError("refusing a value with control characters",
                                          path=f"python.indexes[{i}]")
    if snapshot.conda is not None:
        for i, cpkg in enumerate(snapshot.conda.packages):
            problem = conda_problem(cpkg)
            if problem is not None:
                raise SnapshotFormatError(f"refusing unsafe {problem}", path=f"conda.packages[{i}]")
        for i, spec in enumerate(snapshot.conda.requested_specs):
            if not is_safe_text(spec):
                raise SnapshotFormatError("refusing a value with control characters",
                                          path=f"conda.requested_specs[{i}]")
    for name, value in snapshot.env.items():
        if not variable_ok(name, value):
            raise SnapshotFormatError("refusing unsafe environment variable", path=f"env.{name}")
    for i, fw in enumerate(snapshot.frameworks):
        problem = framework_problem(fw)
        if problem is not None:
            raise SnapshotFormatError(f"refusing unsafe {problem}", path=f"frameworks[{i}]")
    if snapshot.cuda is not None:
        for name, value in snapshot.cuda.declared.items():
            if not variable_ok(name, value):
                raise SnapshotFormatError("refusing unsafe environment variable",
                                          path=f"cuda.declared.{name}")
