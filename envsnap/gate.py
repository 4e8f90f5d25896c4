"""Can this machine run what a snapshot describes? Pure rules over (expected, live) snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.version import InvalidVersion, Version

from . import compat
from dataclasses import dataclass, field
from .snapshot import GPU, Framework, NvidiaInfo, Package, PythonEnv, Snapshot

POLICIES = ("exact", "compatible")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the live machine gets wrong (or cannot be told) about the snapshot."""

    rule: str  # python | package | driver | gpu | glibc | cpu | os
    subject: str  # what it is about: a package name, "driver", "GPU0 NVIDIA GeForce RTX 5090"
    severity: str
    expected: str | None
    actual: str | None
    explanation: str
    fix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    findings: tuple[Finding, ...] = ()
    policy: str = "exact"
    host_only: bool = False
    checked: tuple[str, ...] = ()  # the rules that ran
    skipped: Mapping[str, str] = field(default_factory=dict)  # rule -> why it could not run

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def failed(self, threshold: str) -> bool:
        return any(compat.at_least(f.severity, threshold) for f in self.findings)


# ---------------------------------------------------------------------------------------------
# Shared predicates (diff.py uses them too)


@dataclass(frozen=True, slots=True, kw_only=True)
class CudaNeed:
    """A CUDA version some part of the snapshot was built for, and what says so."""

    cuda: str  # "12.8" or a bare major "12" when only the major is known
    origin: str  # "torch 2.9.1+cu128", "nvidia-cudnn-cu12", "libcudart 12.8.90"


def cuda_needs(snapshot: Snapshot) -> list[CudaNeed]:
    """Every CUDA version the snapshot's binaries were built for, most specific first."""
    needs: list[CudaNeed] = []
    for fw in snapshot.frameworks:
        cuda = fw.cuda or compat.cuda_from_variant(fw.variant)
        if cuda:
            needs.append(CudaNeed(cuda=cuda, origin=f"{fw.name} {fw.version} (CUDA {cuda})"))
    py = snapshot.python
    if py is not None:
        frameworks = {fw.name for fw in snapshot.frameworks}
        for pkg in py.packages:
            # Cheap string tests first: this runs over every package of large environments.
            if "+cu" in pkg.version and pkg.name not in frameworks:
                cuda = compat.cuda_from_variant(_local(pkg.version))
                if cuda:
                    needs.append(CudaNeed(cuda=cuda, origin=f"{pkg.name} {pkg.version}"))
            if pkg.name.startswith("nvidia-"):
                major = compat.cuda_major_of_wheel(pkg.name)
                if major:
                    needs.append(CudaNeed(cuda=major, origin=pkg.name))
    if snapshot.cuda is not None:
        for lib in snapshot.cuda.libraries:
            # Only the environment's own runtime (a wheel or conda package a framework pulled
            # in) is a need; a toolkit on the system is merely available, and a machine with a
            # CUDA toolkit but no GPU is a normal build host.
            if (lib.library == "cudart" and lib.version
                    and lib.found_via.startswith(("pip:", "conda:"))):
                needs.append(CudaNeed(cuda=lib.version, origin=f"libcudart {lib.version}"))
    return needs


def _local(version: str) -> str | None:
    return version.split("+", 1)[1] if "+" in version else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverVerdict:
    status: str  # ok | below_toolkit | below_floor | unknown
    need: CudaNeed
    floor: str | None
    toolkit: str | None


def driver_verdicts(driver: str | None, needs: Iterable[CudaNeed]) -> list[DriverVerdict]:
    """Evaluate a driver against each CUDA need: below the minor-version-compatibility floor
    of its major is fatal; below the toolkit's own driver runs with limited features."""
    out: list[DriverVerdict] = []
    needs = list(needs)
    specific = {compat.cuda_major(n.cuda) for n in needs if compat.major_minor(n.cuda)}
    seen: set[str] = set()
    for need in needs:
        # A bare major ("12" from nvidia-*-cu12) adds nothing beside a known 12.x need.
        if need.cuda in seen or (not compat.major_minor(need.cuda)
                                 and compat.cuda_major(need.cuda) in specific):
            continue
        seen.add(need.cuda)
        floor = compat.mvc_floor(need.cuda)
        toolkit = compat.toolkit_driver(need.cuda)
        if driver is None or floor is None:
            status = "unknown"
        elif not compat.driver_at_least(driver, floor):
            status = "below_floor"
        elif toolkit is not None and not compat.driver_at_least(driver, toolkit):
            status = "below_toolkit"
        else:
            status = "ok"
        out.append(DriverVerdict(status=status, need=need, floor=floor, toolkit=toolkit))
    return out


def worst_driver_verdict(driver: str | None, needs: Iterable[CudaNeed]) -> DriverVerdict | None:
    order = {"below_floor": 0, "below_toolkit": 1, "unknown": 2, "ok": 3}
    verdicts = driver_verdicts(driver, needs)
    return min(verdicts, key=lambda v: order[v.status]) if verdicts else None


def arch_list_of(fw: Framework) -> tuple[str, ...]:
    """The framework's captured arch list, else the shipped table's for an official wheel."""
    if fw.arch_list:
        return fw.arch_list
    if fw.name == "torch":
        return compat.torch_arch_list(fw.version, fw.variant)
    return ()


def gpu_cc(gpu: GPU) -> str | None:
    return gpu.compute_capability or compat.cc_for_gpu_name(gpu.name)


def uncovered(gpus: Iterable[GPU], frameworks: Iterable[Framework]) -> list[tuple[GPU, Framework]]:
    """(GPU, framework) pairs where the framework build has no kernels for the GPU."""
    out: list[tuple[GPU, Framework]] = []
    for fw in frameworks:
        if not (fw.cuda or compat.cuda_from_variant(fw.variant)):
            continue  # a CPU build has no arch list to miss
        archs = arch_list_of(fw)
        for gpu in gpus:
            if compat.arch_covers(archs, gpu_cc(gpu)) is False:
                out.append((gpu, fw))
    return out


def describe_arch_list(archs: Iterable[str]) -> str:
    return ", ".join(archs) or "(none)"


def gpu_fix(gpu: GPU, fw: Framework) -> str:
    cc = gpu_cc(gpu) or "?"
    first = compat.first_cuda_for_cc(cc)
    if first:
        return (f"install a {fw.name} build for CUDA {first} or newer whose arch list includes "
                f"sm_{cc.replace('.', '')}")
    return f"install a {fw.name} build whose arch list includes sm_{cc.replace('.', '')}"


def glibc_needs(py: PythonEnv | None) -> tuple[str | None, list[str]]:
    """The newest glibc the installed wheels' manylinux tags need, and the packages needing it."""
    if py is None:
        return None, []
    best: tuple[int, ...] = ()
    names: list[str] = []
    for pkg in py.packages:
        need = _package_glibc(pkg)
        if need is None:
            continue
        if need > best:
            best, names = need, [pkg.name]
        elif need == best:
            names.append(pkg.name)
    return (".".join(map(str, best)) if best else None), sorted(names)


def _package_glibc(pkg: Package) -> tuple[int, ...] | None:
    # A wheel installs under any of its tags; the one pip chose is unknown, so take the lowest.
    needs = [compat.numeric(g) for g in (compat.manylinux_glibc(t) for t in pkg.tags) if g]
    return min(needs) if needs else None


def package_glibc(pkg: Package) -> str | None:
    need = _package_glibc(pkg)
    return ".".join(map(str, need)) if need else None


def missing_isa(expected: Iterable[str], live: Iterable[str]) -> list[str]:
    wanted = compat.cpu_isa_flags()
    have = set(live)
    return sorted(f for f in set(expected) & wanted if f not in have)


# ---------------------------------------------------------------------------------------------
# check()


def check(
    expected: Snapshot, live: Snapshot, *, policy: str = "exact", host_only: bool = False
) -> CheckResult:
    """Evaluate the live machine against the snapshot. ``host_only`` checks only what a
    container cannot bring with it: the driver and the GPUs."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: dict[str, str] = {}

    if host_only:
        skipped["python"] = "--host-only"
        skipped["glibc"] = "--host-only: the container brings its own C library"
    else:
        if expected.python is None:
            skipped["python"] = "the snapshot has no Python environment"
        else:
            checked.append("python")
            findings += _check_python(expected.python, live.python, policy)
        checked.append("glibc")
        findings += _check_glibc(expected, live)
        checked.append("cpu")
        findings += _check_cpu(expected, live)
    findings += _probe_failures(live, host_only)
    checked.append("driver")
    findings += _check_driver(expected, live.nvidia)
    checked.append("gpu")
    findings += _check_gpus(expected, live)
    order = {s: i for i, s in enumerate(compat.SEVERITIES)}
    findings.sort(key=lambda f: (order[f.severity], f.rule, f.subject))
    return CheckResult(findings=tuple(findings), policy=policy, host_only=host_only,
                       checked=tuple(checked), skipped=skipped)


# Which live probes each rule reads: a rule over a failed probe is reported, never passed.
# The probes each kind of rule reads; `envsnap check --host-only` captures just HOST_PROBES.
HOST_PROBES = ("os", "cpu", "nvidia")
_RULE_PROBES = {"python": ("python",), "host": HOST_PROBES}


def _probe_failures(live: Snapshot, host_only: bool) -> list[Finding]:
    names = _RULE_PROBES["host"] + (() if host_only else _RULE_PROBES["python"])
    out: list[Finding] = []
    for name in names:
        st = live.probes.get(name)
        if st is not None and st.status == "error":
            out.append(Finding(
                rule="probe", subject=name, severity=compat.check_rule("probe_failed"),
                expected=None, actual="error",
                explanation=f"The {name} probe failed on this machine ({st.error}); the rules "
                            "that read it could not be evaluated.",
                fix="run with -v or 'envsnap capture --only " + name + "' to see why",
            ))
    return out


def _check_python(exp: PythonEnv, live: PythonEnv | None, policy: str) -> list[Finding]:
    if live is None:
        return [Finding(
            rule="python", subject="python", severity=compat.check_rule("python_missing"),
            expected=f"Python {exp.version}", actual=None,
            explanation="No Python environment was captured on this machine, so none of the "
                        "snapshot's packages can be checked.",
            fix="pass --python PATH for the environment to check, or --host-only for a host",
        )]
    out: list[Finding] = []
    ev, lv = compat.major_minor(exp.version), compat.major_minor(live.version)
    if ev != lv or (policy == "exact" and exp.version != live.version):
        severity = compat.check_rule("python_version") if ev != lv else compat.check_rule(
            "package_mismatch")
        out.append(Finding(
            rule="python", subject="python", severity=severity,
            expected=exp.version, actual=live.version,
            explanation=(f"The snapshot ran on Python {exp.version}, this environment has "
                         f"{live.version}"
                         + ("; compiled extensions built for one minor release do not load in "
                            "another." if ev != lv else ".")),
            fix=f"use a Python {exp.version} interpreter",
        ))
    have = {p.name: p for p in live.packages}
    for pkg in exp.packages:
        cur = have.get(pkg.name)
        if cur is None:
            out.append(Finding(
                rule="package", subject=pkg.name, severity=compat.check_rule("package_missing"),
                expected=pkg.version, actual=None,
                explanation=f"{pkg.name} {pkg.version} is in the snapshot but not installed here.",
                fix=f"pip install {pkg.name}=={pkg.version}",
            ))
            continue
        out += _check_package(pkg, cur, policy)
    wanted = {p.name for p in exp.packages}
    extra = sorted(n for n in have if n not in wanted)
    if extra and policy == "exact":
        for name in extra:
            out.append(Finding(
                rule="package", subject=name, severity=compat.check_rule("package_extra"),
                expected=None, actual=have[name].version,
                explanation=f"{name} {have[name].version} is installed here but not in the "
                            "snapshot; it can shadow or change what gets imported.",
                fix=f"pip uninstall {name}",
            ))
    return out


def _check_package(exp: Package, cur: Package, policy: str) -> list[Finding]:
    if exp.version == cur.version:
        if _source_kind(exp) != _source_kind(cur):
            return [Finding(
                rule="package", subject=exp.name, severity=compat.check_rule("package_source"),
                expected=f"{exp.version} ({_source_kind(exp)})",
                actual=f"{cur.version} ({_source_kind(cur)})",
                explanation=f"{exp.name} has the same version but was installed from "
                            "elsewhere: its code may differ.",
                fix=f"reinstall {exp.name} the way the snapshot records ({_source_kind(exp)})",
            )]
        return []
    ev: Version | None
    cv: Version | None
    try:
        ev, cv = Version(exp.version), Version(cur.version)
    except InvalidVersion:
        ev = cv = None
    fix = f"pip install {exp.name}=={exp.version}"
    if ev is not None and cv is not None:
        if ev == cv:
            return []  # 1.0 == 1.0.0 under PEP 440
        if ev.public == cv.public:
            return [Finding(
                rule="package", subject=exp.name, severity=compat.check_rule("package_variant"),
                expected=exp.version, actual=cur.version,
                explanation=f"{exp.name} is the same release but another build variant "
                            f"(+{ev.local or 'none'} -> +{cv.local or 'none'}): it was compiled "
                            "for a different CUDA or CPU target.",
                fix=fix + _index_hint(ev.local),
            )]
        patch_only = (ev.epoch == cv.epoch and ev.release[:2] == cv.release[:2]
                      and ev.local == cv.local)
        if policy == "compatible" and patch_only and not compat.is_abi_sensitive(exp.name):
            return [Finding(
                rule="package", subject=exp.name,
                severity=compat.check_rule("package_patch_drift"),
                expected=exp.version, actual=cur.version,
                explanation=f"{exp.name} differs only at patch level, which --policy "
                            "compatible allows.",
                fix=None,
            )]
    why = (" It is ABI-sensitive, so --policy compatible holds it to the exact pin too."
           if policy == "compatible" and compat.is_abi_sensitive(exp.name) else "")
    if ev is not None and cv is not None and ev.major != cv.major:
        note = compat.package_policy(exp.name, "major").why
        why += f" {note}" if note else ""
    return [Finding(
        rule="package", subject=exp.name, severity=compat.check_rule("package_mismatch"),
        expected=exp.version, actual=cur.version,
        explanation=f"{exp.name} is {cur.version} here; the snapshot pins {exp.version}.{why}",
        fix=fix,
    )]


def _index_hint(local: str | None) -> str:
    cuda = compat.cuda_from_variant(local)
    if local and (cuda or local == "cpu"):
        return f" --index-url https://download.pytorch.org/whl/{local}"
    return ""


def _source_kind(pkg: Package) -> str:
    return pkg.source.kind if pkg.source is not None else "index"


def _check_glibc(expected: Snapshot, live: Snapshot) -> list[Finding]:
    need, names = glibc_needs(live.python or expected.python)
    have = live.os.glibc if live.os else None
    if need is None or have is None or compat.numeric(have) >= compat.numeric(need):
        return []
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return [Finding(
        rule="glibc", subject="glibc", severity=compat.check_rule("glibc_below_wheels"),
        expected=f">= {need}", actual=have,
        explanation=f"Installed wheels are tagged manylinux_{need.replace('.', '_')} ({shown}): "
                    f"they need glibc {need} or newer and fail to import on glibc {have} "
                    f"('GLIBC_{need}' not found).",
        fix=f"run on a distribution with glibc {need} or newer (or in a container built from "
            "the snapshot), or install builds of those packages for an older manylinux tag",
    )]


def _check_cpu(expected: Snapshot, live: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    if expected.os and live.os and expected.os.arch != live.os.arch:
        out.append(Finding(
            rule="os", subject="architecture", severity=compat.check_rule("arch_mismatch"),
            expected=expected.os.arch, actual=live.os.arch,
            explanation=f"The snapshot was captured on {expected.os.arch}; binary wheels for it "
                        f"do not run on {live.os.arch}.",
            fix=f"run on an {expected.os.arch} machine",
        ))
        return out
    if expected.cpu and live.cpu and live.cpu.flags:
        lost = missing_isa(expected.cpu.flags, live.cpu.flags)
        if lost:
            out.append(Finding(
                rule="cpu", subject="cpu", severity=compat.check_rule("cpu_isa_missing"),
                expected=" ".join(lost), actual="missing",
                explanation=f"This CPU lacks {', '.join(lost)}, which the snapshot's CPU had: "
                            "code compiled for them (-march=native builds, some wheels) dies "
                            "with 'Illegal instruction'.",
                fix="run on a CPU with these features, or rebuild native packages for a "
                    "baseline x86-64 level",
            ))
    return out


def _check_driver(expected: Snapshot, live: NvidiaInfo | None) -> list[Finding]:
    needs = cuda_needs(expected)
    if not needs:
        return []
    driver = live.driver_version if live else None
    if driver is None:
        need = needs[0]
        floor = compat.mvc_floor(need.cuda)
        return [Finding(
            rule="driver", subject="driver", severity=compat.check_rule("driver_missing"),
            expected=f">= {floor}" if floor else f"CUDA {need.cuda}", actual=None,
            explanation=f"The snapshot uses CUDA {need.cuda} ({need.origin}) but no NVIDIA "
                        "driver was found on this machine.",
            fix=f"install NVIDIA driver {floor} or newer" if floor else "install an NVIDIA driver",
        )]
    out: list[Finding] = []
    if live is not None and live.driver_mismatch:
        out.append(Finding(
            rule="driver", subject="driver", severity=compat.check_rule("driver_mismatch"),
            expected=live.kernel_module_version, actual=live.driver_version,
            explanation="The user-space driver and the loaded kernel module differ; CUDA fails "
                        "with 'Driver/library version mismatch'.",
            fix="reboot (or reload the nvidia kernel module) after the driver upgrade",
        ))
    floors_reported: set[str | None] = set()
    for v in driver_verdicts(driver, needs):
        if v.status == "below_floor" and v.floor not in floors_reported:
            floors_reported.add(v.floor)
            out.append(Finding(
                rule="driver", subject="driver", severity=compat.check_rule("driver_below_floor"),
                expected=f">= {v.floor}", actual=driver,
                explanation=f"{v.need.origin} needs CUDA {compat.cuda_major(v.need.cuda)}.x, "
                            f"which needs driver {v.floor} or newer (minor-version "
                            f"compatibility); driver {driver} cannot run it ('The NVIDIA "
                            "driver on your system is too old').",
                fix=f"driver {v.floor} or newer ({v.toolkit} or newer for all CUDA "
                    f"{v.need.cuda} features)" if v.toolkit else f"driver {v.floor} or newer",
            ))
        elif v.status == "below_toolkit":
            out.append(Finding(
                rule="driver", subject="driver",
                severity=compat.check_rule("driver_below_toolkit"),
                expected=f">= {v.toolkit}", actual=driver,
                explanation=f"Driver {driver} runs {v.need.origin} through CUDA minor-version "
                            f"compatibility only: features that need the CUDA {v.need.cuda} "
                            f"driver ({v.toolkit}), such as PTX JIT of newer code, are missing.",
                fix=f"driver {v.toolkit} or newer",
            ))
    return out


def _check_gpus(expected: Snapshot, live: Snapshot) -> list[Finding]:
    gpus = live.nvidia.gpus if live.nvidia else ()
    out: list[Finding] = []
    for gpu, fw in uncovered(gpus, expected.frameworks):
        cc = gpu_cc(gpu) or "?"
        archs = arch_list_of(fw)
        out.append(Finding(
            rule="gpu", subject=f"GPU{gpu.index} {gpu.name}",
            severity=compat.check_rule("gpu_not_covered"),
            expected=describe_arch_list(archs), actual=f"sm_{cc.replace('.', '')}",
            explanation=f"GPU{gpu.index} ({gpu.name}) has compute capability {cc}, which "
                        f"{fw.name} {fw.version} was not built for (arch list: "
                        f"{describe_arch_list(archs)}): kernels fail with 'no kernel image is "
                        "available for execution on the device'.",
            fix=gpu_fix(gpu, fw),
        ))
    for fw in expected.frameworks:
        if (fw.cuda or compat.cuda_from_variant(fw.variant)) and gpus and not arch_list_of(fw):
            out.append(Finding(
                rule="gpu", subject=fw.name, severity=compat.check_rule("arch_list_unknown"),
                expected=None, actual=None,
                explanation=f"The snapshot does not record {fw.name}'s arch list, so GPU "
                            "coverage could not be checked.",
                fix="capture the snapshot with --deep",
            ))
    return out
