"""The domain rules diff, check, fleet, lock and image share: one copy each, pure, over compat's data."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from . import compat
from .graph import requirement
from .snapshot import Framework, Package, PythonEnv, Snapshot

# ---------------------------------------------------------------------------------------------
# Bounds. Every number below comes from a file someone else wrote (a snapshot, a wheel tag, a
# tool's output), so none is trusted to be small: a tag like manylinux_2_99999999_x86_64 once
# made `lock` enumerate a hundred million platform tags. A value outside these limits is not a
# version of that thing; the parsers return None and callers report "unknown".

MAX_DIGITS = 9  # per dotted component: "580.159.04" needs 3; int() of 5,000 digits raises
MAX_COMPONENTS = 8  # "12.8.90" or "2024.2.0.post1": nothing real has more
CUDA_MAJOR_MAX = 99
# The oldest CUDA a package label names: PyTorch's cu75 (https://download.pytorch.org/whl/cu75).
# Below it "cu12" would read as CUDA 1.2, which no wheel was ever built for.
LABEL_CUDA_MAJOR_MIN = 7
GLIBC_MAJOR_MAX = 9  # glibc has been 2.x since 1997; PEP 600 leaves room for a 3.x
GLIBC_MINOR_MAX = 200  # glibc 2.42 is 2025's; a minor release a year
PYTHON_MAJOR_MAX = 9
PYTHON_MINOR_MAX = 100  # CPython 3.14 is 2025's; a minor release a year
DRIVER_MAJOR_MAX = 9999  # NVIDIA drivers are 3-digit majors (580.159.04)

_LEADING_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def numeric(version: str | None) -> tuple[int, ...]:
    """The leading dotted integers of a version string: ``'580.159.04'`` -> ``(580, 159, 4)``,
    ``'2.5.1+cu121'`` -> ``(2, 5, 1)``, ``'1.0rc1'`` -> ``(1, 0)``.

    ``()`` when there are none, or when a component has more than MAX_DIGITS digits (then the
    string is no version and must not compare as one); at most MAX_COMPONENTS components.
    """
    if not version:
        return ()
    m = _LEADING_NUMBERS.match(version)
    if m is None:
        return ()
    parts = m.group(0).split(".", MAX_COMPONENTS)[:MAX_COMPONENTS]
    if any(len(p) > MAX_DIGITS for p in parts):
        return ()
    return tuple(int(p) for p in parts)


def major_minor(version: str | None) -> str | None:
    """``'3.11.7'`` -> ``'3.11'``, ``'12.8.90'`` -> ``'12.8'``; None without a minor."""
    nums = numeric(version)
    return f"{nums[0]}.{nums[1]}" if len(nums) >= 2 else None


def major(version: str | None) -> str | None:
    """``'8.9.7'`` -> ``'8'``: the major of any dotted version (a library's soname major)."""
    nums = numeric(version)
    return str(nums[0]) if nums else None


def _dotted(nums: Iterable[int]) -> str:
    return ".".join(map(str, nums))


def python_version(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of an interpreter version (``'3.11.7'`` -> ``(3, 11)``); None when absent
    or implausible (``'3.999999999'``), which lock and image then refuse.

    Bounded because packaging's tag generators (``cpython_tags``, ``compatible_tags``) loop
    once per minor release below the one asked for.
    """
    nums = numeric(version)
    if len(nums) < 2 or not 1 <= nums[0] <= PYTHON_MAJOR_MAX or nums[1] > PYTHON_MINOR_MAX:
        return None
    return nums[0], nums[1]


def glibc_version(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a glibc version as ``gnu_get_libc_version()`` prints it (``'2.39'``);
    None when absent or implausible (``'2.999999999'``)."""
    nums = numeric(version)
    if len(nums) < 2 or not 1 <= nums[0] <= GLIBC_MAJOR_MAX or nums[1] > GLIBC_MINOR_MAX:
        return None
    return nums[0], nums[1]


def glibc_at_least(have: str | None, need: str | None) -> bool | None:
    """Whether glibc ``have`` satisfies ``need``; None when either is unknown or implausible."""
    h, n = glibc_version(have), glibc_version(need)
    return None if h is None or n is None else h >= n


def driver_version(version: str | None) -> tuple[int, ...] | None:
    """An NVIDIA driver version as NVML reports it (``'580.159.04'`` -> ``(580, 159, 4)``); None
    when absent or implausible."""
    nums = numeric(version)
    return nums if nums and nums[0] <= DRIVER_MAJOR_MAX else None


def driver_at_least(driver: str | None, minimum: str) -> bool | None:
    """Whether ``driver`` is at or above ``minimum``; None when the driver cannot be read."""
    have, need = driver_version(driver), driver_version(minimum)
    return None if have is None or need is None else have >= need


def cuda_version(version: str | None) -> tuple[int, ...] | None:
    """A CUDA version (``'12.8'``, ``'12.8.90'`` or a bare major ``'12'``) as integers; None
    when absent or its major is outside 1..CUDA_MAJOR_MAX."""
    nums = numeric(version)
    return nums if nums and 1 <= nums[0] <= CUDA_MAJOR_MAX else None


def cuda_major(version: str | None) -> str | None:
    """``'12.8.90'`` -> ``'12'``; None when not a plausible CUDA version."""
    nums = cuda_version(version)
    return str(nums[0]) if nums else None


# ---------------------------------------------------------------------------------------------
# Local version labels and cuXYZ


def local_label(version: str | None) -> str | None:
    """The PEP 440 local label (https://peps.python.org/pep-0440/#local-version-identifiers):
    ``'2.5.1+cu121'`` -> ``'cu121'``; None without one."""
    if not version:
        return None
    return version.partition("+")[2] or None


def _cuda_digits(major: str, minor: str | None) -> str | None:
    m = int(major)
    if not LABEL_CUDA_MAJOR_MIN <= m <= CUDA_MAJOR_MAX:
        return None
    return f"{m}.{minor}" if minor is not None else str(m)


# PyTorch's index names put the last digit after the dot: cu92 -> 9.2, cu121 -> 12.1,
# cu130 -> 13.0 (https://download.pytorch.org/whl/ lists cu75 ... cu130; cog derives it the
# same way in pkg/config/compatibility.go).
_CU_LABEL = re.compile(r"cu(\d{1,2})(\d)")
# jaxlib's labels: 0.1.x wrote cuda92 / cuda101 / cuda111 (same digits rule), 0.4.x before
# the plugin wheels wrote the major and the cuDNN (0.4.23+cuda12.cudnn89)
# (https://storage.googleapis.com/jax-releases/jax_cuda_releases.html).
_CUDA_LABEL_DIGITS = re.compile(r"cuda(\d{1,2})(\d)")
_CUDA_LABEL_MAJOR = re.compile(r"cuda(\d{1,2})\.")


def cuda_from_label(label: str | None) -> str | None:
    """The CUDA a local label names: ``cu92`` -> ``9.2``, ``cu118`` -> ``11.8``, ``cu121`` ->
    ``12.1``, ``cu128`` -> ``12.8``, ``cu130`` -> ``13.0``; jaxlib's ``cuda111`` -> ``11.1``
    and ``cuda12.cudnn89`` -> ``12`` (major only). None for ``cpu``, ``rocm6.2``, other
    labels, and majors outside LABEL_CUDA_MAJOR_MIN..CUDA_MAJOR_MAX (``cu12`` would be CUDA 1.2)."""
    if not label or len(label) > 64:
        return None
    m = _CU_LABEL.fullmatch(label) or _CUDA_LABEL_DIGITS.fullmatch(label)
    if m:
        return _cuda_digits(m.group(1), m.group(2))
    m = _CUDA_LABEL_MAJOR.match(label)
    return _cuda_digits(m.group(1), None) if m else None


def cuda_of_version(version: str | None) -> str | None:
    """The CUDA a package version's local label names: ``'2.5.1+cu121'`` -> ``'12.1'``."""
    return cuda_from_label(local_label(version))


def cuda_label(cuda: str | None) -> str | None:
    """The PyTorch index label of a CUDA version, the inverse of cuda_from_label:
    ``'12.8'`` -> ``'cu128'``; None for a bare major or an implausible version."""
    nums = cuda_version(cuda)
    return f"cu{nums[0]}{nums[1]}" if nums and len(nums) >= 2 and nums[1] <= 9 else None


PYTORCH_INDEX = "https://download.pytorch.org/whl/{label}"
# The other labels PyTorch's install selector serves an index for
# (https://pytorch.org/get-started/locally/): CPU, ROCm and Intel XPU builds.
_PYTORCH_OTHER_LABEL = re.compile(r"cpu|xpu|rocm\d{1,2}(?:\.\d{1,3}){0,3}")


def pytorch_index(label: str | None) -> str | None:
    """The PyTorch index that serves builds with this local label (``cu128`` ->
    https://download.pytorch.org/whl/cu128, also ``cpu``, ``rocm6.2``, ``xpu``); None for
    labels PyTorch does not publish (jaxlib's ``cuda12.cudnn89``, a private ``+mycorp``)."""
    if not label:
        return None
    is_cuda = _CU_LABEL.fullmatch(label) is not None and cuda_from_label(label) is not None
    if is_cuda or _PYTORCH_OTHER_LABEL.fullmatch(label):
        return PYTORCH_INDEX.format(label=label)
    return None


# Distribution names that carry the CUDA they were built for:
# NVIDIA's runtime wheels (nvidia-cudnn-cu12, https://pypi.org/user/nvidia/),
# CuPy's (cupy-cuda12x: any 12.x; cupy-cuda118: 11.8, https://docs.cupy.dev/en/stable/install.html)
# and JAX's plugins (jax-cuda12-plugin, https://docs.jax.dev/en/latest/installation.html).
_DIST_CUDA_MAJOR = re.compile(r"nvidia-[a-z0-9-]+-cu(\d{1,2})|cupy-cuda(\d{1,2})x|"
                              r"jax-cuda(\d{1,2})-(?:plugin|pjrt)")
_DIST_CUDA_DIGITS = re.compile(r"cupy-cuda(\d{1,2})(\d)")


_CUDA_DIST_PREFIXES = ("nvidia-", "cupy-cuda", "jax-cuda")  # what _DIST_CUDA_* can match


def cuda_of_dist(name: str) -> str | None:
    """The CUDA a distribution's name says it was built for: ``nvidia-cudnn-cu12`` -> ``12``,
    ``cupy-cuda12x`` -> ``12``, ``cupy-cuda118`` -> ``11.8``, ``cupy-cuda102`` -> ``10.2``,
    ``jax-cuda12-plugin`` -> ``12``; None for other names."""
    if len(name) > 128:
        return None
    m = _DIST_CUDA_MAJOR.fullmatch(name)
    if m:
        return _cuda_digits(next(g for g in m.groups() if g is not None), None)
    m = _DIST_CUDA_DIGITS.fullmatch(name)
    return _cuda_digits(m.group(1), m.group(2)) if m else None


def framework_cuda(fw: Framework) -> str | None:
    """The CUDA a framework build targets: what the build said, else what its label says."""
    return fw.cuda or cuda_from_label(fw.variant)


def lost_cuda(old_label: str | None, new_label: str | None) -> bool:
    """A CUDA build replaced by one that is not (``+cu121`` -> ``+cpu`` or no label)."""
    return cuda_from_label(old_label) is not None and cuda_from_label(new_label) is None


# ---------------------------------------------------------------------------------------------
# CUDA needs and the driver (cuda.toml: NVIDIA's minor-version-compatibility floors and the
# toolkit release notes' driver table)


def mvc_floor(cuda: str | None) -> str | None:
    """The minimum driver for any binary of this CUDA major (minor-version compatibility,
    https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html)."""
    major = cuda_major(cuda)
    floors: Mapping[str, str] = compat.data("cuda.toml")["minor_version_compat"]["floor"]
    return floors.get(major) if major else None


def toolkit_driver(cuda: str | None) -> str | None:
    """The driver this CUDA toolkit release ships with, full features without MVC
    (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html, Table 3)."""
    mm = major_minor(cuda) if cuda_version(cuda) else None
    table: Mapping[str, str] = compat.data("cuda.toml")["toolkit_driver"]["linux"]
    return table.get(mm) if mm else None


# ---------------------------------------------------------------------------------------------
# Scope: a fact of the host or of the environment (docs/diff-and-check.md#scope). An image built
# from a snapshot brings the environment (the interpreter, its packages, conda, the framework
# builds, the variables the environment sets) and runs on whatever host is under it: the
# kernel, C library, CPU, driver, GPUs and the system's CUDA toolkit and libraries are the
# host's, and differ between a capture on the machine and one inside the image by design.

HOST = "host"
ENVIRONMENT = "environment"
SCOPES = (HOST, ENVIRONMENT)

# Which sections describe the host is the probe registry's (ProbeSpec.host; changes.scope_of).
# How a CUDA library copy found inside the environment says so (LibraryCopy.found_via):
# a pip wheel (nvidia-cudnn-cu12) or a conda package. ldconfig, cuda_home, system:<dpkg> and
# ld_library_path copies belong to the host.
_ENVIRONMENT_VIA = ("pip:", "conda:")


def library_scope(found_via: str) -> str:
    """The scope of one CUDA library copy, by how it was found."""
    return ENVIRONMENT if found_via.startswith(_ENVIRONMENT_VIA) else HOST


@dataclass(frozen=True, slots=True, kw_only=True)
class CudaNeed:
    """A CUDA version some part of the snapshot was built for, and what says so."""

    cuda: str  # "12.8" or a bare major "12" when only the major is known
    origin: str  # "torch 2.9.1+cu128", "nvidia-cudnn-cu12", "libcudart 12.8.90"


def cuda_needs(snapshot: Snapshot) -> list[CudaNeed]:
    """Every CUDA version the snapshot's binaries were built for, most specific first: the
    frameworks' builds, packages with a CUDA local label, the CUDA wheels (NVIDIA's runtime,
    CuPy's, JAX's plugins: cuda_of_dist) and the environment's own cudart."""
    needs: list[CudaNeed] = []
    for fw in snapshot.frameworks:
        cuda = framework_cuda(fw)
        if cuda:
            needs.append(CudaNeed(cuda=cuda, origin=f"{fw.name} {fw.version} (CUDA {cuda})"))
    py = snapshot.python
    if py is not None:
        frameworks = {fw.name for fw in snapshot.frameworks}
        for pkg in py.packages:
            # Cheap string tests first: this runs over every package of large environments.
            if "+cu" in pkg.version and pkg.name not in frameworks:
                cuda = cuda_of_version(pkg.version)
                if cuda:
                    needs.append(CudaNeed(cuda=cuda, origin=f"{pkg.name} {pkg.version}"))
            if pkg.name.startswith(_CUDA_DIST_PREFIXES):
                major = cuda_of_dist(pkg.name)
                if major:
                    needs.append(CudaNeed(cuda=major, origin=pkg.name))
    if snapshot.cuda is not None:
        for lib in snapshot.cuda.libraries:
            # Only the environment's own runtime (a wheel or conda package a framework pulled
            # in) is a need; a toolkit on the system is merely available, and a machine with a
            # CUDA toolkit but no GPU is a normal build host.
            if (lib.library == "cudart" and cuda_version(lib.version)
                    and library_scope(lib.found_via) == ENVIRONMENT):
                needs.append(CudaNeed(cuda=str(lib.version), origin=f"libcudart {lib.version}"))
    return needs


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverVerdict:
    status: str  # ok | below_toolkit | below_floor | unknown
    need: CudaNeed
    floor: str | None
    toolkit: str | None


DRIVER_ORDER = {"below_floor": 0, "below_toolkit": 1, "unknown": 2, "ok": 3}


def driver_verdicts(driver: str | None, needs: Iterable[CudaNeed]) -> list[DriverVerdict]:
    """Evaluate a driver against each CUDA need: below the minor-version-compatibility floor
    of its major is fatal; below the toolkit's own driver runs with limited features; a
    driver or need that cannot be read is ``unknown``, never a pass or a failure."""
    out: list[DriverVerdict] = []
    needs = list(needs)
    specific = {cuda_major(n.cuda) for n in needs if major_minor(n.cuda)}
    seen: set[str] = set()
    for need in needs:
        # A bare major ("12" from nvidia-*-cu12) adds nothing beside a known 12.x need.
        if need.cuda in seen or (not major_minor(need.cuda)
                                 and cuda_major(need.cuda) in specific):
            continue
        seen.add(need.cuda)
        floor = mvc_floor(need.cuda)
        toolkit = toolkit_driver(need.cuda)
        above_floor = driver_at_least(driver, floor) if floor is not None else None
        if above_floor is None:
            status = "unknown"
        elif not above_floor:
            status = "below_floor"
        elif toolkit is not None and driver_at_least(driver, toolkit) is False:
            status = "below_toolkit"
        else:
            status = "ok"
        out.append(DriverVerdict(status=status, need=need, floor=floor, toolkit=toolkit))
    return out


def worst_driver_verdict(driver: str | None, needs: Iterable[CudaNeed]) -> DriverVerdict | None:
    """The most severe of driver_verdicts (below_floor, below_toolkit, unknown, ok)."""
    verdicts = driver_verdicts(driver, needs)
    return min(verdicts, key=lambda v: DRIVER_ORDER[v.status]) if verdicts else None


# ---------------------------------------------------------------------------------------------
# glibc and wheel platform tags (PEP 600, https://peps.python.org/pep-0600/; platform.toml)

_MANYLINUX = re.compile(r"manylinux_(\d{1,9})_(\d{1,9})_([A-Za-z0-9_]{1,32})")
_LEGACY_TAG = re.compile(r"(manylinux\d{1,4})_([A-Za-z0-9_]{1,32})")


def _legacy_manylinux() -> Mapping[str, str]:
    table: Mapping[str, str] = compat.data("platform.toml")["manylinux_legacy"]["glibc"]
    return table


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxPlatform:
    glibc: tuple[int, int]
    arch: str


def parse_manylinux(platform: str) -> LinuxPlatform | None:
    """One platform tag: ``'manylinux_2_28_x86_64'`` -> glibc (2, 28) on x86_64; the legacy
    aliases ``manylinux1/2010/2014`` through platform.toml; None for other tags and for glibc
    numbers glibc_version would refuse (``manylinux_2_99999999_x86_64``)."""
    m = _MANYLINUX.fullmatch(platform)
    if m:
        glibc = glibc_version(f"{m.group(1)}.{m.group(2)}")
        return LinuxPlatform(glibc=glibc, arch=m.group(3)) if glibc else None
    m = _LEGACY_TAG.fullmatch(platform)
    if m:
        legacy = _legacy_manylinux().get(m.group(1))
        glibc = glibc_version(legacy)
        return LinuxPlatform(glibc=glibc, arch=m.group(2)) if glibc else None
    return None


def manylinux_glibc(tag: str) -> str | None:
    """The glibc a wheel tag promises to need: ``'cp311-cp311-manylinux_2_28_x86_64'`` ->
    ``'2.28'``. A compressed tag set (``manylinux_2_17_x86_64.manylinux2014_x86_64``) installs
    under any of its platforms, so it needs the lowest."""
    platform = tag.rsplit("-", 1)[-1]
    found = [p.glibc for p in map(parse_manylinux, platform.split(".")) if p is not None]
    return _dotted(min(found)) if found else None


def package_glibc(pkg: Package) -> str | None:
    """The glibc an installed wheel needs: the lowest of its tags (the one pip chose is
    unknown, and it installs under any of them)."""
    needs = [g for g in (glibc_version(manylinux_glibc(t)) for t in pkg.tags) if g]
    return _dotted(min(needs)) if needs else None


def glibc_needs(py: PythonEnv | None) -> tuple[str | None, list[str]]:
    """The newest glibc the installed wheels' manylinux tags need, and the packages needing it."""
    if py is None:
        return None, []
    best: tuple[int, int] | None = None
    names: list[str] = []
    for pkg in py.packages:
        need = glibc_version(package_glibc(pkg))
        if need is None:
            continue
        if best is None or need > best:
            best, names = need, [pkg.name]
        elif need == best:
            names.append(pkg.name)
    return (_dotted(best) if best else None), sorted(names)


# manylinux2014 (glibc 2.17) is the floor every current Linux wheel targets; manylinux1
# (glibc 2.5) is the oldest tag PEP 600 defines.
MANYLINUX_FLOOR = (2, 17)
_MANYLINUX_OLDEST_MINOR = 5


def manylinux_platforms(arch: str, glibc: tuple[int, int]) -> tuple[str, ...]:
    """Every manylinux platform tag an interpreter on ``glibc`` accepts for ``arch`` (PEP 600:
    each older glibc 2.x level, plus the legacy aliases at or below it). Bounded: ``glibc``
    passed glibc_version, so there are at most GLIBC_MINOR_MAX tags."""
    major, minor = glibc
    if major != 2:
        return ()
    top = min(minor, GLIBC_MINOR_MAX)
    out = [f"manylinux_2_{m}_{arch}" for m in range(_MANYLINUX_OLDEST_MINOR, top + 1)]
    out += [f"{name}_{arch}" for name, version in _legacy_manylinux().items()
            if (g := glibc_version(version)) is not None and g <= glibc]
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# CPU


def missing_isa(expected: Iterable[str], live: Iterable[str]) -> list[str]:
    """ISA flags wheels can require (platform.toml [cpu_isa], the x86-64 psABI levels) that
    ``expected`` has and ``live`` lacks."""
    wanted = frozenset(compat.data("platform.toml")["cpu_isa"]["flags"])
    have = set(live)
    return sorted(f for f in set(expected) & wanted if f not in have)


# ---------------------------------------------------------------------------------------------
# Versions, and the one severity of a package change (docs/diff-and-check.md#one-severity):
# diff rates A -> B with it, check rates the snapshot -> this machine with it.


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionChange:
    """How two version strings differ under PEP 440 (https://peps.python.org/pep-0440/)."""

    kind: str  # upgraded | downgraded | variant | changed
    level: str  # epoch | major | minor | patch | pre | post | variant | unparseable
    old_local: str | None = None
    new_local: str | None = None


_RAW_PART = re.compile(r"\d+|[^\d]+")


def _raw_key(v: str) -> tuple[tuple[int, int | str], ...]:
    # Unparseable versions still compare: digit runs numerically, the rest as text.
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in _RAW_PART.findall(v))


def classify_version(old: str, new: str) -> VersionChange | None:
    """None when equal under PEP 440 (1.0 == 1.0.0); a local-label-only change is a variant."""
    if old == new:
        return None
    try:
        vo, vn = Version(old), Version(new)
    except InvalidVersion:
        ko, kn = _raw_key(old), _raw_key(new)
        kind = "changed" if ko == kn else ("upgraded" if kn > ko else "downgraded")
        return VersionChange(kind=kind, level="unparseable")
    if vo == vn:
        return None
    if vo.public == vn.public:
        return VersionChange(kind="variant", level="variant", old_local=vo.local,
                             new_local=vn.local)
    kind = "upgraded" if Version(vn.public) > Version(vo.public) else "downgraded"
    ro, rn = vo.release, vn.release
    if vo.epoch != vn.epoch:
        level = "epoch"
    elif ro[0] != rn[0]:
        level = "major"
    elif _at(ro, 1) != _at(rn, 1):
        level = "minor"
    elif ro[2:] + (0,) * (len(rn) - len(ro)) != rn[2:] + (0,) * (len(ro) - len(rn)):
        level = "patch"
    elif vo.pre != vn.pre or vo.dev != vn.dev:
        level = "pre"
    else:
        level = "post"
    return VersionChange(kind=kind, level=level, old_local=vo.local, new_local=vn.local)


def _at(release: tuple[int, ...], i: int) -> int:
    return release[i] if i < len(release) else 0


def version_kind(old: str | None, new: str | None) -> str:
    """added, removed, upgraded, downgraded, or changed (equal under PEP 440, another build,
    or not comparable): how a versioned value moved."""
    if old is None:
        return "added"
    if new is None:
        return "removed"
    vc = classify_version(old, new)
    return vc.kind if vc is not None and vc.kind in ("upgraded", "downgraded") else "changed"


def interpreter_level(change: VersionChange | None) -> str:
    """How far an interpreter moved: ``major`` or ``minor`` (a new extension ABI, cpXY) or
    ``patch`` (the same ABI) for severity.toml's python_LEVEL rules."""
    return change.level if change is not None and change.level in ("major", "minor") else "patch"



# How far a change reaches, by the graph (docs/diff-and-check.md#dependents): a major or epoch
# change that this many installed packages depend on, directly or through others, is one level
# more severe.
WIDE_REACH = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageRating:
    """The severity of one package change and what set it, for the explanation."""

    severity: str
    why: str | None = None  # the shipped advice for this direction (an upgrade's only)
    fix: str | None = None
    adjusted: str | None = None  # wide | leftover | lost_cuda | leaf: what moved it off its class


def rate_package(name: str, change: str | VersionChange, *, native_dependents: bool = False,
                 reach: int = 0, required: bool = True, requested: bool = False
                 ) -> PackageRating:
    """The severity of a package change: ``change`` is ``added``, ``removed``, ``source``,
    ``variant`` (a build whose local label is not known) or how the version moved.
    ``reach``: installed packages that depend on it, directly or not; ``required``: some
    installed package requires it directly (for a removal: on the side that had it);
    ``requested``: installed on request (a REQUESTED record on either side)."""
    if isinstance(change, str):  # added, removed, source, variant: not adjusted by reach
        severity = compat.package_policy(name, change).severity
        if change == "removed" and not required:
            # A leaf: nothing installed required it, so no other package breaks; only code and
            # commands that use it directly notice, and loudly (ModuleNotFoundError).
            return PackageRating(severity=max(severity, compat.severity("removed_leaf"),
                                              key=compat.rank), adjusted="leaf")
        return PackageRating(severity=severity)
    lost = lost_cuda(change.old_local, change.new_local)
    if change.kind == "variant":
        if lost:
            return PackageRating(severity=compat.severity("torch_lost_cuda"), adjusted="lost_cuda")
        return PackageRating(severity=compat.package_policy(name, "variant").severity)
    downgrade = change.kind == "downgraded"
    policy = compat.package_policy(name, change.level, native_dependents=native_dependents,
                                   downgrade=downgrade)
    severity, adjusted = policy.severity, None
    if change.level in ("epoch", "major") and reach >= WIDE_REACH:
        severity, adjusted = compat.bump(severity, 1), "wide"
    elif not required and not requested and severity != "info":
        # A leftover nothing requires and nobody asked for: only code that imports it
        # undeclared can notice.
        severity, adjusted = compat.SEVERITIES[compat.rank(severity) + 1], "leftover"
    if lost:
        severity, adjusted = compat.severity("torch_lost_cuda"), "lost_cuda"
    # severity.toml's why/fix describe an upgrade; a downgrade gets the generic advice.
    return PackageRating(severity=severity, why=None if downgrade else policy.why,
                         fix=None if downgrade else policy.fix, adjusted=adjusted)



# ---------------------------------------------------------------------------------------------
# Names


# NCCL as a package: NVIDIA's pip wheels (nvidia-nccl-cu12) and conda's nccl.
_NCCL_PACKAGES = ("nvidia-nccl-*", "nccl")


def is_nccl_package(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in _NCCL_PACKAGES)


def ignores_requirement(ignored: Callable[[str], bool], dependent: str, text: str | None) -> bool:
    """Whether an ignore list (``ignored``: its package test, config.Ignore.package) leaves out
    a requirement: the package that has it, or the one it names, is ignored. diff and check
    leave out the same requirements."""
    req = requirement(text or "")
    return ignored(dependent) or (req is not None and ignored(req.name))
