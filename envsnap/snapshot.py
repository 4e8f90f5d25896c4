"""The snapshot model: frozen records, their dict form, validation and digest; no file I/O."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .errors import SnapshotFormatError, UnsupportedSchemaError
from .frozen import MISSING, field, fields, frozen, is_frozen_class, replace, values_getter

T = TypeVar("T")

SCHEMA_VERSION = 1

# Names and versions end up in lockfiles, Dockerfiles and shell-adjacent places, so the model
# refuses anything outside these alphabets at load time: one gate, before any renderer runs.
# PEP 508 names (https://packaging.python.org/en/latest/specifications/name-normalization/).
_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
# Versions are kept raw (an unparseable one is still recorded), but only in a safe alphabet
# that covers PEP 440, legacy versions and conda's version strings.
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_*-]{0,127}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONDA_FIELD_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+*-]{0,127}$")

# ---------------------------------------------------------------------------------------------
# Probe bookkeeping


@frozen
class ProbeStatus:
    """How one probe ended: ``ok`` (found), ``absent`` (looked, nothing there) or ``error``."""

    status: str
    found_via: str | None = None
    error: str | None = None


@frozen
class Meta:
    """Capture-time facts. Excluded from the digest: they change on every run."""

    envsnap_version: str = ""
    captured_at: str = ""
    hostname: str | None = None
    anonymized: bool = False
    elapsed_ms: Mapping[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Python


@frozen
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


@frozen
class Package:
    """One installed distribution, keyed by its canonical (PEP 503) name."""

    name: str
    version: str
    installer: str | None = None
    requested: bool = False
    source: Source | None = None
    owner: str | None = None  # "conda" when a conda-meta record owns it, else None
    location: str | None = None  # site dir, relative to the environment prefix where possible
    requires: tuple[str, ...] = ()  # canonical names of Requires-Dist (markers dropped)
    tags: tuple[str, ...] = ()  # WHEEL "Tag:" lines, for glibc / ABI checks
    native: bool = False  # ships compiled extension modules (RECORD lists .so/.pyd)
    # Where the metadata lives, relative to the prefix: needed at capture time to decide conda
    # ownership, but machine layout rather than environment content, so never written.
    metadata_path: str | None = field(default=None, transient=True)


@frozen
class PackageProblem:
    """A dist-info that could not be read cleanly, a duplicate or a shadowed copy."""

    kind: str  # no-metadata | no-name | invalid-version | undecodable | duplicate | invalid-name
    path: str
    name: str | None = None
    version: str | None = None
    detail: str | None = None


@frozen
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
    packages: tuple[Package, ...] = ()
    problems: tuple[PackageProblem, ...] = ()

    def package(self, name: str) -> Package | None:
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        return None


# ---------------------------------------------------------------------------------------------
# conda


@frozen
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


@frozen
class CondaEnv:
    prefix: str
    packages: tuple[CondaPackage, ...] = ()
    requested_specs: tuple[str, ...] = ()  # from conda-meta/history "# update specs"


# ---------------------------------------------------------------------------------------------
# Host


@frozen
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


@frozen
class CPUInfo:
    model: str | None = None
    logical_cores: int | None = None
    usable_cores: int | None = None
    flags: tuple[str, ...] = ()  # only ISA flags wheels care about
    memory_bytes: int | None = None


@frozen
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


@frozen
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


@frozen
class LibraryCopy:
    """One copy of a CUDA library on disk and how it was found."""

    library: str  # cudart | cudnn | nccl | cublas
    version: str | None
    path: str
    found_via: str  # pip:<dist> | conda:<pkg> | system:<dpkg pkg> | cuda_home | ld_library_path | ldconfig
    soname: str | None = None


@frozen
class CudaInfo:
    toolkit_version: str | None = None
    toolkit_path: str | None = None
    toolkit_found_via: str | None = None
    nvcc_version: str | None = None
    libraries: tuple[LibraryCopy, ...] = ()
    declared: Mapping[str, str] = field(default_factory=dict)  # image env: CUDA_VERSION, ...


@frozen
class Framework:
    """An ML framework build: what it was compiled for, as far as files (or --deep) tell."""

    name: str
    version: str
    variant: str | None = None  # local label: cu121, cpu, rocm6.2
    cuda: str | None = None  # CUDA it was built for, "12.1"; None for CPU builds
    cudnn: str | None = None
    nccl: str | None = None
    arch_list: tuple[str, ...] = ()  # sm_80, sm_90, compute_90 ...
    found_via: str = "metadata"


@frozen
class Project:
    commit: str | None = None
    dirty: bool | None = None
    branch: str | None = None
    remote: str | None = None


# ---------------------------------------------------------------------------------------------
# The snapshot


@frozen
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

    @property
    def digest(self) -> str:
        """sha256 over the canonical content, capture-time metadata excluded."""
        return content_digest(to_dict(self))

    def replace(self, **changes: Any) -> Snapshot:
        return replace(self, **changes)


# Top-level keys whose values change on every capture and so stay out of the digest.
_VOLATILE_KEYS = frozenset({"meta", "digest"})


def _find_sha256() -> Callable[[bytes], Any]:
    # CPython's built-in SHA-256 gives hashlib's digest without loading OpenSSL, whose
    # start-up is ~2% of a capture; hashlib remains the fallback on other interpreters.
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]  # CPython 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found]  # CPython <= 3.11
        except ImportError:
            from hashlib import sha256
    return sha256  # type: ignore[no-any-return]


_sha256 = _find_sha256()  # once: a failed import is not cached, and fleet diffs hash 1,000 files


def content_digest(data: Mapping[str, Any]) -> str:
    content = {k: v for k, v in data.items() if k not in _VOLATILE_KEYS}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    hexdigest: str = _sha256(blob.encode("utf-8")).hexdigest()
    return "sha256:" + hexdigest


# ---------------------------------------------------------------------------------------------
# dict <-> model. One reflective converter instead of a hand-written pair per class, so a new
# field cannot be forgotten in one direction. Fields equal to their default are omitted: TOML has
# no null, and short lines keep `git diff` of two snapshots readable.

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


# Values written as they are; checked by exact type first, the cheap test for most values.
_PLAIN = frozenset({str, int, bool, float})


def _dump_value(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple or kind is list:
        return [_dump_value(v) for v in value]
    if is_frozen_class(kind):
        return _dump_record(value)
    if isinstance(value, Mapping):
        return {k: _dump_value(v) for k, v in sorted(value.items())}
    return value


_DUMP_SPECS: dict[type, tuple[tuple[str, ...], tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _dump_spec(cls: type) -> tuple[tuple[str, ...], tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]:
    """Names, defaults and a C-speed getter of the fields to write (transient ones left out);
    computed once per class (a 10,000-package snapshot dumps 10,000 Package records)."""
    spec = _DUMP_SPECS.get(cls)
    if spec is None:
        written = [f for f in fields(cls) if not f.transient]
        names = tuple(f.name for f in written)
        spec = (names, tuple(f.default_value() for f in written), values_getter(names))
        _DUMP_SPECS[cls] = spec
    return spec


def _dump_record(obj: Any) -> dict[str, Any]:
    names, defaults, getter = _dump_spec(type(obj))
    out: dict[str, Any] = {}
    for name, default, value in zip(names, defaults, getter(obj), strict=True):
        if value is None or value is default or value == default:
            continue
        out[name] = value if type(value) in _PLAIN else _dump_value(value)
    return out


def to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The plain-data form: what the TOML and JSON writers serialise, plus the digest."""
    data = _dump_record(snapshot)
    data["schema"] = snapshot.schema  # always present, even though it equals the default
    # Packages are written as a table keyed by name: one line per package in the TOML file.
    py = data.get("python")
    if py is not None and "packages" in py:
        py["packages"] = {p.pop("name"): p for p in py["packages"]}
    data["digest"] = content_digest(data)
    return data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _item_path(path: str, index: int, item: Any) -> str:
    # Packages are a table keyed by name in the file; report them the way the user sees them.
    if path == "python.packages" and isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return f"{path}.{item['name']}"
    return f"{path}[{index}]"


def _shape(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """An annotation's (origin, args), with ``X | None`` and ``Optional[X]`` both as _UNION and
    None left out of a union's args."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _UNION, tuple(a for a in args if a is not type(None))
    return origin, args


_UNION = "union"


def _nullable(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _load(tp: Any, value: Any, path: str) -> Any:
    origin, args = _shape(tp)
    if origin is _UNION:
        if value is None:
            return None
        return _load(args[0], value, path)
    if is_frozen_class(tp):
        if not isinstance(value, Mapping):
            raise SnapshotFormatError(f"expected a table, got {type(value).__name__}", path=path)
        return _load_record(tp, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise SnapshotFormatError(f"expected an array, got {type(value).__name__}", path=path)
        item_tp = args[0]
        return tuple(_load(item_tp, v, _item_path(path, i, v)) for i, v in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise SnapshotFormatError(f"expected a table, got {type(value).__name__}", path=path)
        val_tp = args[1]
        return {str(k): _load(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    # bool is an int subclass; keep them apart so `requested = 1` is refused.
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SnapshotFormatError(f"expected an integer, got {type(value).__name__}", path=path)
    if tp is not int and not isinstance(value, tp):
        raise SnapshotFormatError(
            f"expected {_type_name(tp)}, got {type(value).__name__}", path=path
        )
    return value


def _load_record(cls: type[T], data: Mapping[str, Any], path: str) -> T:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name: f for f in fields(cls)}
    for key, value in data.items():
        f = names.get(key)
        sub = f"{path}.{key}" if path else key
        if f is None:
            # Unknown keys from a newer minor schema are tolerated, not guessed at.
            continue
        kwargs[key] = _load(hints[key], value, sub)
    for name, f in names.items():
        if name not in kwargs and f.default_value() is MISSING:
            if _nullable(hints[name]):
                kwargs[name] = None  # None is never written (TOML has no null)
                continue
            sub = f"{path}.{name}" if path else name
            raise SnapshotFormatError("missing required key", path=sub)
    return cls(**kwargs)


class _Mismatch(Exception):
    """Raised by the fast converters; the slow path then finds and reports the key path."""


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {}


def _converter(tp: Any) -> Callable[[Any], Any]:
    """A converter specialised for one annotated type, built once. The fast path for valid
    files: no per-value typing introspection and no key-path strings (a 10,000-package
    snapshot holds ~100,000 values)."""
    conv = _CONVERTERS.get(tp)
    if conv is None:
        conv = _build_converter(tp)
        _CONVERTERS[tp] = conv
    return conv


def _build_converter(tp: Any) -> Callable[[Any], Any]:
    origin, args = _shape(tp)
    if origin is _UNION:
        inner = _converter(args[0])
        return lambda v: None if v is None else inner(v)
    if is_frozen_class(tp):
        return _record_converter(tp)
    if origin is tuple:
        item = args[0]
        if item is str:
            def str_tuple(v: Any) -> tuple[str, ...]:
                if type(v) is not list or not all(type(x) is str for x in v):
                    raise _Mismatch
                return tuple(v)
            return str_tuple
        item_conv = _converter(item)

        def any_tuple(v: Any) -> tuple[Any, ...]:
            if type(v) is not list:
                raise _Mismatch
            return tuple(map(item_conv, v))
        return any_tuple
    if origin in (Mapping, dict):
        val_conv = _converter(args[1])

        def mapping(v: Any) -> dict[str, Any]:
            if not isinstance(v, Mapping):
                raise _Mismatch
            return {str(k): val_conv(x) for k, x in v.items()}
        return mapping

    def scalar(v: Any) -> Any:
        # exact type checks: bool is an int subclass and must not pass as one (or vice versa)
        if type(v) is not tp:
            raise _Mismatch
        return v
    return scalar


def _scalar_type(tp: Any) -> type | None:
    """``str``/``int``/``bool`` (or Optional of one) -> that type; anything else -> None."""
    if tp in (str, int, bool):
        scalar: type = tp
        return scalar
    origin, args = _shape(tp)
    if origin is _UNION and len(args) == 1 and args[0] in (str, int, bool):
        member: type = args[0]
        return member
    return None


def _record_converter(cls: Any) -> Callable[[Any], Any]:
    hints = _hints(cls)
    # Scalar fields are checked inline (most of a package's fields): a converter call per
    # value would double the cost of loading 10,000 packages.
    simple: dict[str, type] = {}
    complex_: dict[str, Callable[[Any], Any]] = {}
    required: list[str] = []
    nullable: list[str] = []
    for f in fields(cls):
        scalar = _scalar_type(hints[f.name])
        if scalar is not None:
            simple[f.name] = scalar
        else:
            complex_[f.name] = _converter(hints[f.name])
        if f.default_value() is MISSING:
            (nullable if _nullable(hints[f.name]) else required).append(f.name)

    def convert(data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise _Mismatch
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            t = simple.get(k)
            if t is not None:
                if type(v) is not t:
                    raise _Mismatch
                kwargs[k] = v
            else:
                c = complex_.get(k)
                if c is not None:
                    kwargs[k] = c(v)
        for name in required:
            if name not in kwargs:
                raise _Mismatch
        for name in nullable:
            kwargs.setdefault(name, None)
        return cls(**kwargs)
    return convert


def from_dict(data: Mapping[str, Any]) -> Snapshot:
    """Build and validate a Snapshot from its plain-data form (as read from TOML or JSON)."""
    if not isinstance(data, Mapping):
        raise SnapshotFormatError("a snapshot must be a table")
    schema = data.get("schema")
    if schema is None:
        raise SnapshotFormatError("not an envsnap snapshot (no 'schema' key)")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise SnapshotFormatError("expected an integer", path="schema")
    if schema != SCHEMA_VERSION:
        raise UnsupportedSchemaError(
            f"snapshot schema {schema} is not supported by this envsnap "
            f"(it reads schema {SCHEMA_VERSION}); upgrade envsnap to read it"
        )
    body = dict(data)
    body.pop("digest", None)
    py = body.get("python")
    if isinstance(py, Mapping) and isinstance(py.get("packages"), Mapping):
        packages = []
        for name, pkg in py["packages"].items():
            if not isinstance(pkg, Mapping):
                raise SnapshotFormatError("expected a table", path=f"python.packages.{name}")
            packages.append({**pkg, "name": name})
        body["python"] = {**py, "packages": packages}
    try:
        snapshot: Snapshot = _converter(Snapshot)(body)
    except _Mismatch:
        # Slow path, only for broken files: walks the data again to name the key path.
        snapshot = _load_record(Snapshot, body, "")
    validate(snapshot)
    return snapshot


# ---------------------------------------------------------------------------------------------
# Validation: everything later written into a lockfile, Dockerfile or shell-adjacent file must
# pass here first, so renderers can trust the model.


def _check(pattern: re.Pattern[str], value: str | None, what: str, path: str) -> None:
    if value is not None and not pattern.match(value):
        raise SnapshotFormatError(f"refusing unsafe {what} {value!r}", path=path)


def _check_text(value: str | None, path: str) -> None:
    # Free text (paths, URLs, env values) may hold spaces but never control characters:
    # a newline in a label or env value is how a Dockerfile instruction gets injected.
    if value is not None and _CONTROL.search(value):
        raise SnapshotFormatError("refusing a value with control characters", path=path)


def validate(snapshot: Snapshot) -> None:
    """Raise SnapshotFormatError on any name, version or value that is unsafe to render."""
    py = snapshot.python
    if py is not None:
        _check(_VERSION_RE, py.version, "Python version", "python.version")
        seen: set[str] = set()
        for pkg in py.packages:
            where = f"python.packages.{pkg.name}"
            _check(_NAME_RE, pkg.name, "package name", where)
            _check(_VERSION_RE, pkg.version, "version", f"{where}.version")
            if pkg.name in seen:
                raise SnapshotFormatError("duplicate package", path=where)
            seen.add(pkg.name)
            if pkg.source is not None:
                for attr in ("url", "vcs", "commit", "requested_revision", "subdirectory", "hash"):
                    _check_text(getattr(pkg.source, attr), f"{where}.source.{attr}")
        for i, idx in enumerate(py.indexes):
            _check_text(idx, f"python.indexes[{i}]")
    if snapshot.conda is not None:
        for i, cpkg in enumerate(snapshot.conda.packages):
            where = f"conda.packages[{i}]"
            _check(_NAME_RE, cpkg.name, "conda package name", f"{where}.name")
            _check(_CONDA_FIELD_RE, cpkg.version, "conda version", f"{where}.version")
            _check(_CONDA_FIELD_RE, cpkg.build, "conda build string", f"{where}.build")
            _check_text(cpkg.url, f"{where}.url")
            _check_text(cpkg.channel, f"{where}.channel")
    for name, value in snapshot.env.items():
        _check(_ENV_NAME_RE, name, "environment variable name", f"env.{name}")
        _check_text(value, f"env.{name}")
    for fw in snapshot.frameworks:
        _check(_NAME_RE, fw.name, "framework name", f"frameworks.{fw.name}")
        _check(_VERSION_RE, fw.version, "version", f"frameworks.{fw.name}.version")
    if snapshot.cuda is not None:
        for name, value in snapshot.cuda.declared.items():
            _check(_ENV_NAME_RE, name, "environment variable name", f"cuda.declared.{name}")
            _check_text(value, f"cuda.declared.{name}")


def is_safe_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))


def is_safe_version(version: str) -> bool:
    return bool(_VERSION_RE.match(version))
