"""Can this machine run what a snapshot describes? Pure rules over (expected, live) snapshots."""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from . import compat, rules
from .config import Ignore
from .drift import advice, names_text
from .graph import Graph, requirement, satisfied
from .snapshot import GPU, NvidiaInfo, Package, PythonEnv, Snapshot

POLICIES = ("exact", "compatible")

# Display order of rules inside one severity: what decides everything else first (the
# interpreter, a probe that could not run), then the host, then the environment's contents.
RULE_ORDER = ("python", "probe", "os", "driver", "gpu", "glibc", "cpu", "requirement", "package")

# Severities of the rules added with the dependency graph and the GPU presence checks, used
# until severity.toml [check] holds them; the shipped file wins as soon as it does.
_NEW_RULES = {
    "gpu_missing": "critical",  # the snapshot ran on GPUs, this machine has none
    "gpu_count": "critical",  # fewer GPUs than the snapshot
    "gpu_older_arch": "major",  # an older architecture the build still covers
    "gpu_memory": "major",  # less memory per GPU
    "gpu_model": "info",  # another model, same or newer architecture
    "requirement_missing": "critical",
    "requirement_broken": "major",
    "requirement_preexisting": "info",  # broken in the snapshot too
    "package_tool": "info",  # envsnap itself and what only it needs
}


def severity(name: str) -> str:
    """Severity of a named check rule: severity.toml [check], else the pending default."""
    table: Mapping[str, str] = compat.data("severity.toml")["check"]
    return str(table.get(name, _NEW_RULES.get(name, "")) or compat.check_rule(name))


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the live machine gets wrong (or cannot be told) about the snapshot."""

    rule: str  # python | probe | os | driver | gpu | glibc | cpu | requirement | package
    subject: str  # what it is about: a package name, "driver", "GPU0 NVIDIA GeForce RTX 5090"
    severity: str
    expected: str | None
    actual: str | None
    explanation: str
    fix: str | None = None
    kind: str = ""  # the group it belongs to inside its rule: missing, version, extra ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingGroup:
    """Findings of one rule and kind: '59 packages not in the snapshot'."""

    rule: str
    kind: str
    severity: str  # the worst of its findings
    findings: tuple[Finding, ...]

    @property
    def summary(self) -> str:
        n = len(self.findings)
        words = _GROUP_WORDS.get((self.rule, self.kind))
        if words is None:
            return self.findings[0].subject if n == 1 else f"{n} {self.rule} findings"
        one, many = words
        return f"{n} {one if n == 1 else many}"


_GROUP_WORDS = {
    ("package", "missing"): ("package from the snapshot is missing",
                             "packages from the snapshot are missing"),
    ("package", "version"): ("package differs from the snapshot's pin",
                             "packages differ from the snapshot's pins"),
    ("package", "variant"): ("package is another build variant", "packages are other build variants"),
    ("package", "source"): ("package was installed from elsewhere",
                            "packages were installed from elsewhere"),
    ("package", "patch"): ("package differs at patch level (allowed by --policy compatible)",
                           "packages differ at patch level (allowed by --policy compatible)"),
    ("package", "extra"): ("package not in the snapshot", "packages not in the snapshot"),
    ("package", "tool"): ("package is envsnap or only needed by it (not in the snapshot)",
                          "packages are envsnap and what only it needs (not in the snapshot)"),
    ("requirement", "broken"): ("broken requirement (pip check reports it)",
                                "broken requirements (pip check reports them)"),
    ("requirement", "preexisting"): ("broken requirement the snapshot had too",
                                     "broken requirements the snapshot had too"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Remedy:
    """One command that brings the environment to the snapshot, and what it cannot do."""

    command: str
    caveats: tuple[str, ...] = ()


LOCK_DIR = "envsnap-lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    findings: tuple[Finding, ...] = ()
    policy: str = "exact"
    host_only: bool = False
    checked: tuple[str, ...] = ()  # the rules that ran
    skipped: Mapping[str, str] = field(default_factory=dict)  # rule -> why it could not run
    ignored: Mapping[str, int] = field(default_factory=dict)  # what was left out -> how many
    python: str = "python"  # the interpreter fix commands name

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def failed(self, threshold: str) -> bool:
        return threshold != "never" and any(compat.at_least(f.severity, threshold)
                                            for f in self.findings)

    def groups(self) -> tuple[FindingGroup, ...]:
        """Findings grouped by severity, rule and kind, in the findings' order (most severe
        first): a missing requirement (critical) and a conflicting one (major) are two groups."""
        grouped: dict[tuple[str, str, str], list[Finding]] = {}
        for f in self.findings:
            grouped.setdefault((f.severity, f.rule, f.kind), []).append(f)
        return tuple(FindingGroup(rule=r, kind=k, severity=s, findings=tuple(fs))
                     for (s, r, k), fs in grouped.items())

    def remedy(self, snapshot: str) -> Remedy | None:
        """The one command that installs exactly the snapshot's packages from a hashed lock
        (and removes what it does not have); None when no package finding needs it."""
        by_kind: dict[str, list[str]] = {}
        for f in self.findings:
            if f.rule in ("package", "requirement"):
                by_kind.setdefault(f.kind, []).append(f.subject)
        fixable = ("missing", "version", "variant", "source", "broken")
        if not any(k in by_kind for k in fixable) and "extra" not in by_kind:
            return None
        pip = f"{shlex.quote(self.python)} -m pip"
        caveats: list[str] = []
        ref = snapshot
        if snapshot == "-":
            ref = "SNAPSHOT.toml"
            caveats.append("save the snapshot you piped in as SNAPSHOT.toml first")
        steps: list[str] = []
        if any(k in by_kind for k in fixable):
            steps.append(f"envsnap lock {shlex.quote(ref)} -o {LOCK_DIR}")
        # Installed from elsewhere at the same version: pip would call it satisfied.
        remove = sorted({*by_kind.get("extra", ()), *by_kind.get("source", ())})
        if remove:
            steps.append(f"{pip} uninstall -y {' '.join(map(shlex.quote, remove))}")
        if any(k in by_kind for k in fixable):
            steps.append(f"{pip} install --require-hashes --no-deps -r "
                         f"{LOCK_DIR}/requirements.txt")
        python_finding = next((f for f in self.findings if f.rule == "python"), None)
        if python_finding is not None and python_finding.kind == "version":
            caveats.append(f"recreate the environment with Python {python_finding.expected} "
                           "first: the lock holds builds for that interpreter")
        host = sorted({f.rule for f in self.findings
                       if f.rule not in ("python", "package", "requirement")
                       and compat.at_least(f.severity, "major")})
        if host:
            caveats.append(f"it does not fix the {', '.join(host)} finding(s) above")
        return Remedy(command=" && ".join(steps), caveats=tuple(caveats))


def sort_key(f: Finding) -> tuple[int, int, str, str]:
    rank = RULE_ORDER.index(f.rule) if f.rule in RULE_ORDER else len(RULE_ORDER)
    return (compat.rank(f.severity), rank, f.kind, f.subject)


# ---------------------------------------------------------------------------------------------
# check()


def check(
    expected: Snapshot, live: Snapshot, *, policy: str = "exact", host_only: bool = False,
    python: str | None = None, ignore: Ignore | None = None, ignore_extras: bool = False,
) -> CheckResult:
    """Evaluate the live machine against the snapshot. ``host_only`` checks only what a
    container cannot bring with it: the driver and the GPUs. ``python`` is the interpreter the
    fix commands name (the one --python points at; default ``python``); ``ignore`` leaves
    packages out by name; ``ignore_extras`` drops packages the snapshot does not have."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: dict[str, str] = {}
    ignored: dict[str, int] = {}
    pip = f"{shlex.quote(python or 'python')} -m pip"

    if host_only:
        skipped["python"] = "--host-only"
        skipped["glibc"] = "--host-only: the container brings its own C library"
    else:
        if expected.python is None:
            skipped["python"] = "the snapshot has no Python environment"
        else:
            checked.append("python")
            env = _PythonCheck(expected.python, live.python, policy, pip)
            findings += env.findings()
            findings += env.requirements()
            findings = _drop(findings, ignore, ignore_extras, ignored)
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
    if _probe_failed(live, "nvidia"):
        skipped["gpu"] = "the nvidia probe failed on this machine (see the probe finding)"
    else:
        checked.append("gpu")
        findings += _check_gpus(expected, live)
    findings.sort(key=sort_key)
    return CheckResult(findings=tuple(findings), policy=policy, host_only=host_only,
                       checked=tuple(checked), skipped=skipped, ignored=ignored,
                       python=python or "python")


def _drop(findings: list[Finding], ignore: Ignore | None, ignore_extras: bool,
          ignored: dict[str, int]) -> list[Finding]:
    kept: list[Finding] = []
    for f in findings:
        if ignore_extras and f.rule == "package" and f.kind in ("extra", "tool"):
            ignored["packages not in the snapshot (--ignore-extras)"] = ignored.get(
                "packages not in the snapshot (--ignore-extras)", 0) + 1
            continue
        names = [f.subject]
        if f.rule == "requirement":
            req = requirement(f.expected or "")
            names = [f.subject.partition(" ")[0], req.name if req else ""]
        if ignore and f.rule in ("package", "requirement") and any(map(ignore.package, names)):
            what = "packages" if f.rule == "package" else "requirements"
            ignored[f"{what} matching the ignore list"] = ignored.get(
                f"{what} matching the ignore list", 0) + 1
            continue
        kept.append(f)
    return kept


def _probe_failed(live: Snapshot, name: str) -> bool:
    st = live.probes.get(name)
    return st is not None and st.status == "error"


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
                expected=None, actual="error", kind="failed",
                explanation=f"The {name} probe failed on this machine ({st.error}); the rules "
                            "that read it could not be evaluated.",
                fix="run with -v or 'envsnap capture --only " + name + "' to see why",
            ))
    return out


# ---------------------------------------------------------------------------------------------
# Python


def _file_path(url: str) -> str | None:
    parsed = urllib.parse.urlsplit(url)
    return urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else None


def install_args(pkg: Package) -> tuple[str, ...]:
    """What to hand pip to get exactly this package back: the source it was installed from
    (a VCS commit, a local folder, an archive URL) where it has one, else NAME==VERSION with
    the index that serves its local label (download.pytorch.org/whl/cu121)."""
    src = pkg.source
    if src is not None and src.url:
        if src.kind == "vcs":
            ref = f"{src.vcs or 'git'}+{src.url}"
            rev = src.commit or src.requested_revision
            ref += f"@{rev}" if rev else ""
            ref += f"#subdirectory={src.subdirectory}" if src.subdirectory else ""
            return (f"{pkg.name} @ {ref}",)
        path = _file_path(src.url)
        if src.kind == "editable":
            return ("-e", path or src.url)
        return (path,) if path else (f"{pkg.name} @ {src.url}",)
    index = rules.pytorch_index(rules.local_label(pkg.version))
    return (f"{pkg.name}=={pkg.version}", *(("--index-url", index) if index else ()))


def _install(pip: str, pkg: Package, *, reinstall: bool = False) -> str:
    flags = " --force-reinstall --no-deps" if reinstall else ""
    return f"{pip} install{flags} " + " ".join(map(shlex.quote, install_args(pkg)))


def _source_kind(pkg: Package) -> str:
    return pkg.source.kind if pkg.source is not None else "index"


def _source_shown(pkg: Package) -> str:
    src = pkg.source
    if src is None:
        return "index"
    where = src.url or ""
    if src.kind == "vcs" and src.commit:
        where += f"@{src.commit[:12]}"
    return f"{src.kind} {where}".strip()


class _PythonCheck:
    def __init__(self, exp: PythonEnv, live: PythonEnv | None, policy: str, pip: str) -> None:
        self.exp, self.live, self.policy, self.pip = exp, live, policy, pip

    def findings(self) -> list[Finding]:
        exp, live = self.exp, self.live
        if live is None:
            return [Finding(
                rule="python", subject="python", severity=compat.check_rule("python_missing"),
                expected=f"Python {exp.version}", actual=None, kind="missing",
                explanation="No Python environment was captured on this machine, so none of "
                            "the snapshot's packages can be checked.",
                fix="pass --python PATH for the environment to check, or --host-only for a host",
            )]
        out: list[Finding] = []
        ev, lv = rules.major_minor(exp.version), rules.major_minor(live.version)
        if ev != lv or (self.policy == "exact" and exp.version != live.version):
            out.append(Finding(
                rule="python", subject="python", kind="version" if ev != lv else "patch",
                severity=compat.check_rule("python_version" if ev != lv else "package_mismatch"),
                expected=exp.version, actual=live.version,
                explanation=(f"The snapshot ran on Python {exp.version}, this environment has "
                             f"{live.version}"
                             + ("; compiled extensions built for one minor release do not "
                                "load in another." if ev != lv else ".")),
                fix=f"use a Python {exp.version} interpreter",
            ))
        have = {p.name: p for p in live.packages}
        for pkg in exp.packages:
            cur = have.get(pkg.name)
            if cur is None:
                shown = (f"{pkg.version} ({_source_shown(pkg)})" if pkg.source is not None
                         else pkg.version)
                out.append(Finding(
                    rule="package", subject=pkg.name, kind="missing",
                    severity=compat.check_rule("package_missing"), expected=shown, actual=None,
                    explanation=f"{pkg.name} {pkg.version} is in the snapshot but not "
                                "installed here.",
                    fix=_install(self.pip, pkg),
                ))
                continue
            out += self._package(pkg, cur)
        wanted = {p.name for p in exp.packages}
        extra = sorted(n for n in have if n not in wanted)
        if extra and self.policy == "exact":
            tool = _tool_footprint(live, wanted)
            for name in extra:
                mine = name in tool
                out.append(Finding(
                    rule="package", subject=name, kind="tool" if mine else "extra",
                    severity=severity("package_tool") if mine
                    else compat.check_rule("package_extra"),
                    expected=None, actual=have[name].version,
                    explanation=(f"{name} {have[name].version} is installed here but not in the "
                                 "snapshot" + (": envsnap itself, or a dependency only envsnap "
                                               "needs." if mine else
                                               "; it can shadow or change what gets imported.")),
                    fix=None if mine else f"{self.pip} uninstall -y {shlex.quote(name)}",
                ))
        return out

    def _package(self, exp: Package, cur: Package) -> list[Finding]:
        if exp.version == cur.version:
            if _source_kind(exp) != _source_kind(cur) or (
                    exp.source is not None and cur.source is not None
                    and (exp.source.url, exp.source.commit) != (cur.source.url, cur.source.commit)):
                return [Finding(
                    rule="package", subject=exp.name, kind="source",
                    severity=compat.check_rule("package_source"),
                    expected=f"{exp.version} ({_source_shown(exp)})",
                    actual=f"{cur.version} ({_source_shown(cur)})",
                    explanation=f"{exp.name} has the same version but was installed from "
                                "elsewhere: its code may differ.",
                    fix=_install(self.pip, exp, reinstall=True),
                )]
            return []
        ev: Version | None
        cv: Version | None
        try:
            ev, cv = Version(exp.version), Version(cur.version)
        except InvalidVersion:
            ev = cv = None
        fix = _install(self.pip, exp)
        if ev is not None and cv is not None:
            if ev == cv:
                return []  # 1.0 == 1.0.0 under PEP 440
            if ev.public == cv.public:
                return [Finding(
                    rule="package", subject=exp.name, kind="variant",
                    severity=compat.check_rule("package_variant"),
                    expected=exp.version, actual=cur.version,
                    explanation=f"{exp.name} is the same release but another build variant "
                                f"(+{ev.local or 'none'} -> +{cv.local or 'none'}): it was "
                                "compiled for a different CUDA or CPU target.",
                    fix=fix,
                )]
            patch_only = (ev.epoch == cv.epoch and ev.release[:2] == cv.release[:2]
                          and ev.local == cv.local)
            if (self.policy == "compatible" and patch_only
                    and not compat.is_abi_sensitive(exp.name)):
                return [Finding(
                    rule="package", subject=exp.name, kind="patch",
                    severity=compat.check_rule("package_patch_drift"),
                    expected=exp.version, actual=cur.version,
                    explanation=f"{exp.name} differs only at patch level, which --policy "
                                "compatible allows.",
                    fix=None,
                )]
        why = (" It is ABI-sensitive, so --policy compatible holds it to the exact pin too."
               if self.policy == "compatible" and compat.is_abi_sensitive(exp.name) else "")
        if ev is not None and cv is not None and ev.major != cv.major:
            # Seen from the snapshot: this machine moved up (an upgrade) or down.
            note, _ = advice(compat.package_policy(exp.name, "major"), downgrade=cv < ev)
            if note:
                why += f" {note}"
            elif cv < ev:
                why += (f" Code and packages made for {exp.version} may use features or a "
                        f"binary interface {cur.version} lacks.")
        if exp.source is not None:
            why += f" The snapshot installed it from {_source_shown(exp)}."
        return [Finding(
            rule="package", subject=exp.name, kind="version",
            severity=compat.check_rule("package_mismatch"),
            expected=exp.version, actual=cur.version,
            explanation=f"{exp.name} is {cur.version} here; the snapshot pins {exp.version}.{why}",
            fix=fix,
        )]

    def requirements(self) -> list[Finding]:
        """The live environment's broken requirements (what pip check reports there); those
        the snapshot had too are information, not drift."""
        if self.live is None:
            return []
        before = {b.key for b in Graph(self.exp).broken()}
        pinned = {p.name: p for p in self.exp.packages}
        out: list[Finding] = []
        for b in Graph(self.live).broken():
            old = b.key in before
            kind = "preexisting" if old else "broken"
            rule = ("requirement_preexisting" if old else
                    "requirement_missing" if b.installed is None else "requirement_broken")
            snap = pinned.get(b.required)
            req = requirement(b.requirement)
            if snap is not None and req is not None and satisfied(req, snap.version):
                fix = _install(self.pip, snap)
            else:
                fix = f"{self.pip} install {shlex.quote(b.requirement)}"
            out.append(Finding(
                rule="requirement", subject=f"{b.dependent} {b.dependent_version}",
                kind=kind, severity=severity(rule), expected=b.requirement,
                actual=f"{b.required} {b.installed}" if b.installed else "not installed",
                explanation=b.sentence() + (" The snapshot's environment had the same problem."
                                            if old else ""),
                fix=None if old else fix,
            ))
        return out


def _tool_footprint(live: PythonEnv, wanted: set[str]) -> frozenset[str]:
    """envsnap and the packages only it needs, when the snapshot had none of them: checking an
    environment means installing envsnap into it, which is not drift."""
    if "envsnap" in wanted or live.package("envsnap") is None:
        return frozenset()
    graph = Graph(live)
    tool = {"envsnap"}
    queue = ["envsnap"]
    while queue:
        for dep in graph.dependencies(queue.pop()):
            if dep not in tool and dep not in wanted and graph.dependents(dep) <= tool:
                tool.add(dep)
                queue.append(dep)
    return frozenset(tool)


def _check_glibc(expected: Snapshot, live: Snapshot) -> list[Finding]:
    need, names = rules.glibc_needs(live.python or expected.python)
    have = live.os.glibc if live.os else None
    if need is None or have is None or rules.glibc_at_least(have, need) is not False:
        return []  # met, or unknown (no wheel tags, no glibc, or a glibc that is no version)
    return [Finding(
        rule="glibc", subject="glibc", severity=compat.check_rule("glibc_below_wheels"),
        expected=f">= {need}", actual=have, kind="below_wheels",
        explanation=f"Installed wheels are tagged manylinux_{need.replace('.', '_')} "
                    f"({names_text(names, 5)}): they need glibc {need} or newer and fail to import "
                    f"on glibc {have} ('GLIBC_{need}' not found).",
        fix=f"run on a distribution with glibc {need} or newer (or in a container built from "
            "the snapshot), or install builds of those packages for an older manylinux tag",
    )]


def _check_cpu(expected: Snapshot, live: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    if expected.os and live.os and expected.os.arch != live.os.arch:
        out.append(Finding(
            rule="os", subject="architecture", severity=compat.check_rule("arch_mismatch"),
            expected=expected.os.arch, actual=live.os.arch, kind="arch",
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
                expected=" ".join(lost), actual="missing", kind="isa",
                explanation=f"This CPU lacks {', '.join(lost)}, which the snapshot's CPU had: "
                            "code compiled for them (-march=native builds, some wheels) dies "
                            "with 'Illegal instruction'.",
                fix="run on a CPU with these features, or rebuild native packages for a "
                    "baseline x86-64 level",
            ))
    return out


# ---------------------------------------------------------------------------------------------
# Driver and GPUs


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
            kind="missing",
            explanation=f"The snapshot uses CUDA {need.cuda} ({need.origin}) but no NVIDIA "
                        "driver was found on this machine: CUDA code cannot start.",
            fix=f"install NVIDIA driver {floor} or newer" if floor else "install an NVIDIA driver",
        )]
    out: list[Finding] = []
    if live is not None and live.driver_mismatch:
        out.append(Finding(
            rule="driver", subject="driver", severity=compat.check_rule("driver_mismatch"),
            expected=live.kernel_module_version, actual=live.driver_version, kind="mismatch",
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
                expected=f">= {v.floor}", actual=driver, kind="below_floor",
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
                expected=f">= {v.toolkit}", actual=driver, kind="below_toolkit",
                explanation=f"Driver {driver} runs {v.need.origin} through CUDA minor-version "
                            f"compatibility only: features that need the CUDA {v.need.cuda} "
                            f"driver ({v.toolkit}), such as PTX JIT of newer code, are missing.",
                fix=f"driver {v.toolkit} or newer",
            ))
    return out


def _gpu_text(gpu: GPU) -> str:
    cc = rules.gpu_cc(gpu)
    return f"{gpu.name} (sm_{cc.replace('.', '')})" if cc else gpu.name


def _gpus_text(gpus: Iterable[GPU]) -> str:
    gpus = tuple(gpus)
    names = sorted({_gpu_text(g) for g in gpus})
    return f"{len(gpus)} x {names[0]}" if len(names) == 1 else f"{len(gpus)}: {', '.join(names)}"


def _gib(n: int) -> str:
    return f"{n / 2**30:.0f} GiB"


def _check_gpus(expected: Snapshot, live: Snapshot) -> list[Finding]:
    want = expected.nvidia.gpus if expected.nvidia else ()
    gpus = live.nvidia.gpus if live.nvidia else ()
    out: list[Finding] = []
    if want and not gpus:
        cc = rules.gpu_cc(want[0])
        out.append(Finding(
            rule="gpu", subject="GPUs", kind="missing", severity=severity("gpu_missing"),
            expected=_gpus_text(want), actual="none",
            explanation=f"The snapshot ran on {_gpus_text(want)}; this machine has no NVIDIA "
                        "GPU" + ("" if live.nvidia else " (no driver answered either)")
                        + ": GPU code fails or, worse, runs on the CPU.",
            fix="run on a machine with " + (f"GPUs of compute capability {cc} or newer"
                                            if cc else "the snapshot's GPUs")
                + " and the NVIDIA driver",
        ))
    elif len(gpus) < len(want):
        out.append(Finding(
            rule="gpu", subject="GPUs", kind="count", severity=severity("gpu_count"),
            expected=str(len(want)), actual=str(len(gpus)),
            explanation=f"The snapshot ran on {len(want)} GPUs, this machine has {len(gpus)}: "
                        "a job sized for them (torchrun --nproc-per-node, device maps, "
                        "CUDA_VISIBLE_DEVICES lists) fails or runs with less memory and "
                        "throughput.",
            fix=f"run on a machine with {len(want)} GPUs, or resize the job",
        ))
    bad = {gpu.index for gpu, _ in rules.uncovered(gpus, expected.frameworks)}
    for gpu, fw in rules.uncovered(gpus, expected.frameworks):
        cc = rules.gpu_cc(gpu) or "?"
        archs = rules.arch_list_of(fw)
        out.append(Finding(
            rule="gpu", subject=f"GPU{gpu.index} {gpu.name}", kind="not_covered",
            severity=compat.check_rule("gpu_not_covered"),
            expected=rules.describe_arch_list(archs), actual=f"sm_{cc.replace('.', '')}",
            explanation=f"GPU{gpu.index} ({gpu.name}) has compute capability {cc}, which "
                        f"{fw.name} {fw.version} was not built for (arch list: "
                        f"{rules.describe_arch_list(archs)}): kernels fail with 'no kernel image is "
                        "available for execution on the device'.",
            fix=rules.gpu_fix(gpu, fw),
        ))
    if want:
        for gpu in gpus:
            if gpu.index not in bad:
                out += _compare_gpu(want[min(gpu.index, len(want) - 1)], gpu)
    for fw in expected.frameworks:
        if rules.framework_cuda(fw) and gpus and not rules.arch_list_of(fw):
            out.append(Finding(
                rule="gpu", subject=fw.name, severity=compat.check_rule("arch_list_unknown"),
                expected=None, actual=None, kind="arch_list_unknown",
                explanation=f"The snapshot does not record {fw.name}'s arch list, so GPU "
                            "coverage could not be checked.",
                fix="capture the snapshot with --deep",
            ))
    return out


def _compare_gpu(want: GPU, gpu: GPU) -> list[Finding]:
    """One live GPU against the snapshot's GPU in the same slot (the first, past its count)."""
    out: list[Finding] = []
    subject = f"GPU{gpu.index} {gpu.name}"
    cw, cl = rules.parse_cc(rules.gpu_cc(want)), rules.parse_cc(rules.gpu_cc(gpu))
    if cw is not None and cl is not None and cl < cw:
        out.append(Finding(
            rule="gpu", subject=subject, kind="older_arch", severity=severity("gpu_older_arch"),
            expected=_gpu_text(want), actual=_gpu_text(gpu),
            explanation=f"{gpu.name} is an older architecture than the snapshot's {want.name}; "
                        "the framework builds still have kernels for it, but features of the "
                        "newer one (FP8 from sm_89, TMA and wgmma from sm_90, hand-written "
                        "kernels compiled for it alone) are missing and numerics can differ.",
            fix=f"run on GPUs of compute capability {rules.gpu_cc(want)} or newer",
        ))
    elif want.name != gpu.name:
        same = cw is not None and cw == cl
        out.append(Finding(
            rule="gpu", subject=subject, kind="model", severity=severity("gpu_model"),
            expected=_gpu_text(want), actual=_gpu_text(gpu),
            explanation=f"Another GPU model than the snapshot's {want.name}"
                        + ("; the same architecture, so the same kernels run."
                           if same else "; a newer architecture the builds cover."),
            fix=None,
        ))
    if (want.memory_bytes and gpu.memory_bytes
            and gpu.memory_bytes < want.memory_bytes * 0.95):
        out.append(Finding(
            rule="gpu", subject=subject, kind="memory", severity=severity("gpu_memory"),
            expected=_gib(want.memory_bytes), actual=_gib(gpu.memory_bytes),
            explanation=f"{gpu.name} has {_gib(gpu.memory_bytes)} of memory, the snapshot's GPU "
                        f"had {_gib(want.memory_bytes)}: models and batch sizes that fit there can "
                        "fail with 'CUDA out of memory'.",
            fix="run on GPUs with as much memory, or reduce the batch size",
        ))
    return out
