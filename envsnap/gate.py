"""Can this machine run what a snapshot describes? Pure rules over (expected, live) snapshots."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import compat, rules
from .config import Ignore
from .drift import IGNORED_PACKAGES, IGNORED_REQUIREMENTS, names_text
from .graph import Graph, requirement, satisfied
from .rules import classify_version
from .snapshot import GPU, NvidiaInfo, Package, PythonEnv, Snapshot

POLICIES = ("exact", "compatible")

# Display order of rules inside one severity: what decides everything else first (the
# interpreter, a probe that could not run), then the host, then the environment's contents.
RULE_ORDER = ("python", "probe", "os", "driver", "gpu", "glibc", "cpu", "requirement", "package")

# How strict each policy is with the environment: the mildest severity of an environment
# difference that fails the gate (docs/diff-and-check.md#the-gate). exact: the environment is
# the snapshot's, every difference fails; compatible: differences rated info (patch and post
# releases of packages that are not ABI-sensitive) pass.
POLICY_THRESHOLD = {"exact": "info", "compatible": "minor"}

# Findings that are no difference between the snapshot and this machine, said and never
# failed: envsnap itself installed to run the check, a requirement the snapshot broke too, a
# rule that could not be evaluated for lack of data.
NOT_DIFFERENCES = frozenset({("package", "tool"), ("requirement", "preexisting"),
                             ("gpu", "arch_list_unknown")})

# The snapshot section each rule reads, for its scope (rules.scope_of); a probe's is its own.
_RULE_SECTION = {"python": "python", "package": "python.packages",
                 "requirement": "python.requirements", "os": "os", "glibc": "os", "cpu": "cpu",
                 "driver": "nvidia", "gpu": "nvidia.gpus"}


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
    scope: str = ""  # host | environment (rules.scope_of); left out, the rule decides

    def __post_init__(self) -> None:
        if not self.scope:
            section = self.subject if self.rule == "probe" else _RULE_SECTION.get(self.rule, "")
            object.__setattr__(self, "scope", rules.scope_of(section))

    @property
    def difference(self) -> bool:
        """Whether it is a difference at all (NOT_DIFFERENCES are said, never failed)."""
        return (self.rule, self.kind) not in NOT_DIFFERENCES


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
    ("package", "tool"): ("package is envsnap or needed by it (not in the snapshot)",
                          "packages are envsnap and what it needs (not in the snapshot)"),
    ("requirement", "broken"): ("broken requirement (pip check reports it)",
                                "broken requirements (pip check reports them)"),
    ("requirement", "preexisting"): ("broken requirement the snapshot had too",
                                     "broken requirements the snapshot had too"),
}


Remedy = rules.Remedy
LOCK_DIR = rules.LOCK_DIR


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    findings: tuple[Finding, ...] = ()
    policy: str = "exact"
    host_only: bool = False
    checked: tuple[str, ...] = ()  # the rules that ran
    skipped: Mapping[str, str] = field(default_factory=dict)  # rule -> why it could not run
    ignored: Mapping[str, int] = field(default_factory=dict)  # what was left out -> how many
    ignore: Ignore | None = None  # the ignore lists applied
    python: str = "python"  # the interpreter fix commands name
    own: frozenset[str] = frozenset()  # envsnap and what it needs here: never uninstalled

    @property
    def policy_threshold(self) -> str:
        return POLICY_THRESHOLD[self.policy]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(compat.SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def thresholds(self, fail_on: str) -> dict[str, str | None]:
        """The mildest severity that fails the gate, per scope (None: nothing fails). The
        policy sets the environment's, and ``fail_on`` can only make it stricter; ``fail_on``
        sets the host's. ``never`` turns the gate off."""
        if fail_on == "never":
            return {rules.ENVIRONMENT: None, rules.HOST: None}
        policy = POLICY_THRESHOLD[self.policy]
        return {rules.ENVIRONMENT: max(policy, fail_on, key=compat.rank), rules.HOST: fail_on}

    def fails(self, f: Finding, fail_on: str) -> bool:
        threshold = self.thresholds(fail_on)[f.scope]
        return f.difference and threshold is not None and compat.at_least(f.severity, threshold)

    def failed(self, fail_on: str) -> bool:
        return any(self.fails(f, fail_on) for f in self.findings)

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
        (and removes what it does not have); None when no package finding the policy fails
        on needs it. It never removes envsnap or what envsnap needs (``own``)."""
        by_kind: dict[str, list[str]] = {}
        for f in self.findings:
            # The policy's gate alone: --fail-on decides the exit code, not what is drift.
            if f.rule in ("package", "requirement") and self.fails(f, self.policy_threshold):
                by_kind.setdefault(f.kind, []).append(f.subject)
        fixable = ("missing", "version", "variant", "source", "broken")
        python_finding = next((f for f in self.findings if f.rule == "python"), None)
        return rules.remedy(
            snapshot, python=self.python, install=any(k in by_kind for k in fixable),
            # Installed from elsewhere at the same version: pip would call it satisfied.
            remove={*by_kind.get("extra", ()), *by_kind.get("source", ())} - self.own,
            recreate=python_finding.expected if python_finding is not None
            and python_finding.kind == "version" else None,
            unfixed=[f.rule for f in self.findings
                     if f.rule not in ("python", "package", "requirement")
                     and compat.at_least(f.severity, "major")], what="finding(s)")


def sort_key(f: Finding) -> tuple[int, int, str, str]:
    rank = RULE_ORDER.index(f.rule) if f.rule in RULE_ORDER else len(RULE_ORDER)
    return (compat.rank(f.severity), rank, f.kind, f.subject)


# ---------------------------------------------------------------------------------------------
# check()


def check(
    expected: Snapshot, live: Snapshot, *, policy: str = "exact", host_only: bool = False,
    python: str | None = None, ignore: Ignore | None = None, ignore_extras: bool = False,
    tool: Iterable[str] = (),
) -> CheckResult:
    """Evaluate the live machine against the snapshot. ``host_only`` checks only what a
    container cannot bring with it: the driver and the GPUs. ``python`` is the interpreter the
    fix commands name (the one --python points at; default ``python``); ``ignore`` leaves
    packages out by name; ``ignore_extras`` drops packages the snapshot does not have;
    ``tool`` names what envsnap needs with all its extras (resources.own_distributions()):
    where envsnap is installed, the check never counts them as drift or removes them."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: dict[str, str] = {}
    ignored: dict[str, int] = {}
    own: frozenset[str] = frozenset()
    pip = f"{shlex.quote(python or 'python')} -m pip"

    if host_only:
        skipped["python"] = "--host-only"
        skipped["glibc"] = "--host-only: the container brings its own C library"
    else:
        if expected.python is None:
            skipped["python"] = "the snapshot has no Python environment"
        else:
            checked.append("python")
            env = _PythonCheck(expected.python, live.python, policy, pip, frozenset(tool))
            own = env.own
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
                       python=python or "python", own=own, ignore=ignore or None)


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
            what = IGNORED_PACKAGES if f.rule == "package" else IGNORED_REQUIREMENTS
            ignored[what] = ignored.get(what, 0) + 1
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
                rule="probe", subject=name, severity=compat.rule("probe_failed"),
                expected=None, actual="error", kind="failed",
                explanation=f"The {name} probe failed on this machine ({st.error}); the rules "
                            "that read it could not be evaluated.",
                fix="run with -v or 'envsnap capture --only " + name + "' to see why",
            ))
    return out


# ---------------------------------------------------------------------------------------------
# Python


# What to hand pip to get a package back, and the one-line remedy: rules.py, shared with diff.
install_args = rules.install_args


def _install(pip: str, pkg: Package, *, reinstall: bool = False) -> str:
    return rules.pip_install(pip, pkg, reinstall=reinstall)


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
    """The snapshot's Python environment against this machine's, each package difference
    rated as diff rates the same change (rules.rate_package) over this machine's graph."""

    def __init__(self, exp: PythonEnv, live: PythonEnv | None, policy: str, pip: str,
                 tool: frozenset[str]) -> None:
        self.exp, self.live, self.policy, self.pip = exp, live, policy, pip
        self.graph = Graph(live)
        self.exp_graph = Graph(exp)
        self.native = frozenset(p.name for p in live.packages if p.native) if live else frozenset()
        # Checking an environment means installing envsnap into it, which is not drift.
        self.own = rules.envsnap_footprint((p.name for p in live.packages), self.graph.dependencies,
                                           tool) if live is not None else frozenset()

    def findings(self) -> list[Finding]:
        exp, live = self.exp, self.live
        if live is None:
            return [Finding(
                rule="python", subject="python", severity=compat.rule("python_missing"),
                expected=f"Python {exp.version}", actual=None, kind="missing",
                explanation="No Python environment was captured on this machine, so none of "
                            "the snapshot's packages can be checked.",
                fix="pass --python PATH for the environment to check, or --host-only for a host",
            )]
        out: list[Finding] = []
        ev, lv = rules.major_minor(exp.version), rules.major_minor(live.version)
        if ev != lv or (self.policy == "exact" and exp.version != live.version):
            vc = classify_version(exp.version, live.version)
            level = vc.level if vc is not None and vc.level in ("major", "minor") else "patch"
            out.append(Finding(
                rule="python", subject="python", kind="version" if ev != lv else "patch",
                severity=compat.rule(f"python_{level}"),
                expected=exp.version, actual=live.version,
                explanation=(f"The snapshot ran on Python {exp.version}, this environment has "
                             f"{live.version}"
                             + ("; compiled extensions built for one minor release do not "
                                "load in another." if ev != lv else ".")),
                fix=f"use a Python {exp.version} interpreter",
            ))
        have = {p.name: p for p in live.packages}
        changed = [p.name for p in exp.packages if p.name in have
                   and p.version != have[p.name].version]
        self.reach = self.graph.reach(changed) if changed else {}
        for pkg in exp.packages:
            cur = have.get(pkg.name)
            if cur is None:
                shown = (f"{pkg.version} ({_source_shown(pkg)})" if pkg.source is not None
                         else pkg.version)
                out.append(Finding(
                    rule="package", subject=pkg.name, kind="missing",
                    severity=rules.rate_package(
                        pkg.name, "removed", required=bool(self.exp_graph.dependents(pkg.name))
                    ).severity,
                    expected=shown, actual=None,
                    explanation=f"{pkg.name} {pkg.version} is in the snapshot but not "
                                "installed here.",
                    fix=_install(self.pip, pkg),
                ))
                continue
            out += self._package(pkg, cur)
        wanted = {p.name for p in exp.packages}
        extra = sorted(n for n in have if n not in wanted)
        if extra and self.policy == "exact":
            for name in extra:
                mine = name in self.own
                out.append(Finding(
                    rule="package", subject=name, kind="tool" if mine else "extra",
                    severity=compat.rule("package_tool") if mine
                    else rules.rate_package(name, "added").severity,
                    expected=None, actual=have[name].version,
                    explanation=(f"{name} {have[name].version} is installed here but not in the "
                                 "snapshot" + (": envsnap itself, or a package envsnap needs."
                                               if mine else
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
                    severity=rules.rate_package(exp.name, "source").severity,
                    expected=f"{exp.version} ({_source_shown(exp)})",
                    actual=f"{cur.version} ({_source_shown(cur)})",
                    explanation=f"{exp.name} has the same version but was installed from "
                                "elsewhere: its code may differ.",
                    fix=_install(self.pip, exp, reinstall=True),
                )]
            return []
        vc = classify_version(exp.version, cur.version)
        if vc is None:
            return []  # 1.0 == 1.0.0 under PEP 440
        fix = _install(self.pip, exp)
        if vc.kind == "variant":
            return [Finding(
                rule="package", subject=exp.name, kind="variant",
                severity=rules.rate_package(exp.name, vc).severity,
                expected=exp.version, actual=cur.version,
                explanation=f"{exp.name} is the same release but another build variant "
                            f"(+{vc.old_local or 'none'} -> +{vc.new_local or 'none'}): it was "
                            "compiled for a different CUDA or CPU target.",
                fix=fix,
            )]
        # Seen from the snapshot: this machine moved up (an upgrade) or down.
        users = self.graph.dependents(exp.name)
        rating = rules.rate_package(
            exp.name, vc, native_dependents=not users.isdisjoint(self.native),
            reach=self.reach.get(exp.name, 0), required=bool(users),
            requested=exp.requested or cur.requested)
        why = ""
        if vc.level in ("patch", "post") and compat.is_abi_sensitive(exp.name):
            why += (" It is ABI-sensitive: even a patch release can change the binary interface "
                    "compiled packages use.")
        if vc.level in ("epoch", "major"):
            if rating.why:
                why += f" {rating.why}"
            elif vc.kind == "downgraded":
                why += (f" Code and packages made for {exp.version} may use features or a "
                        f"binary interface {cur.version} lacks.")
        if exp.source is not None:
            why += f" The snapshot installed it from {_source_shown(exp)}."
        return [Finding(
            rule="package", subject=exp.name, kind="version", severity=rating.severity,
            expected=exp.version, actual=cur.version,
            explanation=f"{exp.name} is {cur.version} here; the snapshot pins {exp.version}: "
                        f"{rules.LEVEL_WORDS.get(vc.level, 'another version')}.{why}",
            fix=fix,
        )]

    def requirements(self) -> list[Finding]:
        """The live environment's broken requirements (what pip check reports there); those
        the snapshot had too are information, not drift."""
        if self.live is None:
            return []
        before = {b.key for b in self.exp_graph.broken()}
        pinned = {p.name: p for p in self.exp.packages}
        out: list[Finding] = []
        for b in self.graph.broken():
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
                kind=kind, severity=compat.rule(rule), expected=b.requirement,
                actual=f"{b.required} {b.installed}" if b.installed else "not installed",
                explanation=b.sentence() + (" The snapshot's environment had the same problem."
                                            if old else ""),
                fix=None if old else fix,
            ))
        return out


def _check_glibc(expected: Snapshot, live: Snapshot) -> list[Finding]:
    need, names = rules.glibc_needs(live.python or expected.python)
    have = live.os.glibc if live.os else None
    if need is None or have is None or rules.glibc_at_least(have, need) is not False:
        return []  # met, or unknown (no wheel tags, no glibc, or a glibc that is no version)
    return [Finding(
        rule="glibc", subject="glibc", severity=compat.rule("glibc_below_wheels"),
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
            rule="os", subject="architecture", severity=compat.rule("arch_changed"),
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
                rule="cpu", subject="cpu", severity=compat.rule("cpu_isa_lost"),
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
            rule="driver", subject="driver", severity=compat.rule("driver_removed"),
            expected=f">= {floor}" if floor else f"CUDA {need.cuda}", actual=None,
            kind="missing",
            explanation=f"The snapshot uses CUDA {need.cuda} ({need.origin}) but no NVIDIA "
                        "driver was found on this machine: CUDA code cannot start.",
            fix=f"install NVIDIA driver {floor} or newer" if floor else "install an NVIDIA driver",
        )]
    out: list[Finding] = []
    if live is not None and live.driver_mismatch:
        out.append(Finding(
            rule="driver", subject="driver", severity=compat.rule("driver_mismatch"),
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
                rule="driver", subject="driver", severity=compat.rule("driver_below_floor"),
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
                severity=compat.rule("driver_below_toolkit"),
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
            rule="gpu", subject="GPUs", kind="missing", severity=compat.rule("gpu_removed"),
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
            rule="gpu", subject="GPUs", kind="count", severity=compat.rule("gpu_removed"),
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
            severity=compat.rule("gpu_not_covered"),
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
                rule="gpu", subject=fw.name, severity=compat.rule("arch_list_unknown"),
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
    found = rules.gpu_change(want, gpu)  # one rule with diff's
    if "gpu_older_arch" in found:
        out.append(Finding(
            rule="gpu", subject=subject, kind="older_arch", severity=compat.rule("gpu_older_arch"),
            expected=_gpu_text(want), actual=_gpu_text(gpu),
            explanation=f"{gpu.name} is an older architecture than the snapshot's {want.name}; "
                        "the framework builds still have kernels for it, but features of the "
                        "newer one (FP8 from sm_89, TMA and wgmma from sm_90, hand-written "
                        "kernels compiled for it alone) are missing and numerics can differ.",
            fix=f"run on GPUs of compute capability {rules.gpu_cc(want)} or newer",
        ))
    elif "gpu_model" in found:
        same = rules.gpu_cc(want) is not None and rules.gpu_cc(want) == rules.gpu_cc(gpu)
        out.append(Finding(
            rule="gpu", subject=subject, kind="model", severity=compat.rule("gpu_model"),
            expected=_gpu_text(want), actual=_gpu_text(gpu),
            explanation=f"Another GPU model than the snapshot's {want.name}"
                        + ("; the same architecture, so the same kernels run."
                           if same else "; a newer architecture the builds cover."),
            fix=None,
        ))
    if "gpu_memory" in found:
        assert want.memory_bytes and gpu.memory_bytes
        out.append(Finding(
            rule="gpu", subject=subject, kind="memory", severity=compat.rule("gpu_memory"),
            expected=_gib(want.memory_bytes), actual=_gib(gpu.memory_bytes),
            explanation=f"{gpu.name} has {_gib(gpu.memory_bytes)} of memory, the snapshot's GPU "
                        f"had {_gib(want.memory_bytes)}: models and batch sizes that fit there can "
                        "fail with 'CUDA out of memory'.",
            fix="run on GPUs with as much memory, or reduce the batch size",
        ))
    return out
