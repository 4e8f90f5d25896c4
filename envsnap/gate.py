"""Can this machine run what a snapshot describes? Pure rules over (expected, live) snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from . import compat, rules
from .snapshot import NvidiaInfo, Package, PythonEnv, Snapshot

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
        glibc = live.os.glibc if live.os else None
        if glibc is not None and rules.glibc_version(glibc) is None:
            skipped["glibc"] = f"this machine's glibc {glibc[:40]!r} is not a version to compare"
        else:
            checked.append("glibc")
            findings += _check_glibc(expected, live)
        checked.append("cpu")
        findings += _check_cpu(expected, live)
    findings += _probe_failures(live, host_only)
    driver = live.nvidia.driver_version if live.nvidia else None
    if driver is not None and rules.driver_version(driver) is None:
        skipped["driver"] = f"driver {driver[:40]!r} is not a version to compare"
    else:
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
    ev, lv = rules.major_minor(exp.version), rules.major_minor(live.version)
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
    index = rules.pytorch_index(local)
    return f" --index-url {index}" if index else ""


def _source_kind(pkg: Package) -> str:
    return pkg.source.kind if pkg.source is not None else "index"


def _check_glibc(expected: Snapshot, live: Snapshot) -> list[Finding]:
    need, names = rules.glibc_needs(live.python or expected.python)
    have = live.os.glibc if live.os else None
    if need is None or have is None or rules.glibc_at_least(have, need) is not False:
        return []  # met, or unknown (no wheel tags, no glibc, or a glibc that is no version)
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
        lost = rules.missing_isa(expected.cpu.flags, live.cpu.flags)
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
    needs = rules.cuda_needs(expected)
    if not needs:
        return []
    driver = live.driver_version if live else None
    if driver is None:
        need = needs[0]
        floor = rules.mvc_floor(need.cuda)
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
    for v in rules.driver_verdicts(driver, needs):
        if v.status == "below_floor" and v.floor not in floors_reported:
            floors_reported.add(v.floor)
            out.append(Finding(
                rule="driver", subject="driver", severity=compat.check_rule("driver_below_floor"),
                expected=f">= {v.floor}", actual=driver,
                explanation=f"{v.need.origin} needs CUDA {rules.cuda_major(v.need.cuda)}.x, "
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
    for gpu, fw in rules.uncovered(gpus, expected.frameworks):
        cc = rules.gpu_cc(gpu) or "?"
        archs = rules.arch_list_of(fw)
        out.append(Finding(
            rule="gpu", subject=f"GPU{gpu.index} {gpu.name}",
            severity=compat.check_rule("gpu_not_covered"),
            expected=rules.describe_arch_list(archs), actual=f"sm_{cc.replace('.', '')}",
            explanation=f"GPU{gpu.index} ({gpu.name}) has compute capability {cc}, which "
                        f"{fw.name} {fw.version} was not built for (arch list: "
                        f"{rules.describe_arch_list(archs)}): kernels fail with 'no kernel image is "
                        "available for execution on the device'.",
            fix=rules.gpu_fix(gpu, fw),
        ))
    for fw in expected.frameworks:
        if rules.framework_cuda(fw) and gpus and not rules.arch_list_of(fw):
            out.append(Finding(
                rule="gpu", subject=fw.name, severity=compat.check_rule("arch_list_unknown"),
                expected=None, actual=None,
                explanation=f"The snapshot does not record {fw.name}'s arch list, so GPU "
                            "coverage could not be checked.",
                fix="capture the snapshot with --deep",
            ))
    return out
