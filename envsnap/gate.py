"""Can this machine run what a snapshot describes? check(expected, live) -> CheckResult, pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from . import compat, probes, rules, sections
from .changes import Finding, scope_of
from .config import Ignore
from .remedy import Remedy, remedy
from .sections.base import CheckContext
from .snapshot import Snapshot
from .wording import IGNORED_EXTRAS, IGNORED_PACKAGES, IGNORED_REQUIREMENTS

__all__ = ["POLICIES", "CheckResult", "Finding", "FindingGroup", "check", "host_probes"]

POLICIES = ("exact", "compatible")

# Display order of rules inside one severity: what decides everything else first (the
# interpreter, a probe that could not run), then the host, then the environment's contents.
# binding before the packages: a wrong copy of a library loaded breaks the framework at import.
RULE_ORDER = ("python", "probe", "os", "driver", "gpu", "glibc", "cpu", "binding", "requirement",
              "package")

# How strict each policy is with the environment: the mildest severity of an environment
# difference that fails the gate (docs/diff-and-check.md#the-gate). exact: the environment is
# the snapshot's, every difference fails; compatible: differences rated info (patch and post
# releases of packages that are not ABI-sensitive) pass.
POLICY_THRESHOLD = {"exact": "info", "compatible": "minor"}


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
        host = compat.threshold(fail_on)
        env = None if host is None else max(self.policy_threshold, host, key=compat.rank)
        return {rules.ENVIRONMENT: env, rules.HOST: host}

    def fails(self, f: Finding, fail_on: str) -> bool:
        return f.difference and compat.fails(f.severity, self.thresholds(fail_on)[f.scope])

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
        return remedy(
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


def _probes(host_only: bool) -> tuple[str, ...]:
    """The probes check's rules read: those of the sections with rules (only the host's under
    --host-only). A rule over a probe that failed is reported, never passed."""
    wanted = {s.name for s in sections.registry()
              if s.checks and (not host_only or scope_of(s.name) == rules.HOST)}
    return tuple(p.name for p in probes.registry() if p.field in wanted)


def host_probes() -> tuple[str, ...]:
    """The probes `envsnap check --host-only` captures: what its rules read there."""
    return _probes(host_only=True)


# ---------------------------------------------------------------------------------------------
# check()


def check(
    expected: Snapshot, live: Snapshot, *, policy: str = "exact", host_only: bool = False,
    python: str | None = None, ignore: Ignore | None = None, ignore_extras: bool = False,
    tool: Iterable[str] = (),
) -> CheckResult:
    """Evaluate the live machine against the snapshot: each section's rules
    (envsnap/sections), in reading order. ``host_only`` checks only what a container cannot
    bring with it: the driver and the GPUs. ``python`` is the interpreter the fix commands
    name (the one --python points at; default ``python``); ``ignore`` leaves packages out by
    name; ``ignore_extras`` drops packages the snapshot does not have; ``tool`` names what
    envsnap needs with all its extras (resources.own_distributions()): where envsnap is
    installed, the check never counts them as drift or removes them."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    ctx = CheckContext(expected, live, policy=policy, host_only=host_only,
                       python=python or "python", tool=tool)
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: dict[str, str] = {}
    for section in sections.registry():
        scope = scope_of(section.name)
        for rule in section.checks:
            why = rule.host_only if host_only and rule.host_only is not True else rule.skip(ctx)
            if why is False:
                continue  # left out under --host-only, and not said
            if why:
                skipped[rule.name] = str(why)
                continue
            checked.append(rule.name)
            findings += [f if f.scope else replace(f, scope=scope) for f in rule.run(ctx)]
    findings += _probe_failures(live, host_only)
    ignored: dict[str, int] = {}
    findings = _drop(findings, ignore, ignore_extras, ignored)
    findings.sort(key=sort_key)
    return CheckResult(findings=tuple(findings), policy=policy, host_only=host_only,
                       checked=tuple(checked), skipped=skipped, ignored=ignored,
                       python=python or "python", own=ctx.own if "python" in checked
                       else frozenset(), ignore=ignore or None)


def _drop(findings: list[Finding], ignore: Ignore | None, ignore_extras: bool,
          ignored: dict[str, int]) -> list[Finding]:
    kept: list[Finding] = []
    for f in findings:
        if ignore_extras and f.rule == "package" and f.kind in ("extra", "tool"):
            ignored[IGNORED_EXTRAS] = ignored.get(IGNORED_EXTRAS, 0) + 1
            continue
        what = _ignored(f, ignore) if ignore else None
        if what is not None:
            ignored[what] = ignored.get(what, 0) + 1
            continue
        kept.append(f)
    return kept


def _ignored(f: Finding, ignore: Ignore) -> str | None:
    if f.rule == "package":
        return IGNORED_PACKAGES if ignore.package(f.subject) else None
    if f.rule == "requirement":  # subject: "DEPENDENT VERSION", expected: the requirement
        hit = rules.ignores_requirement(ignore.package, f.subject.partition(" ")[0],
                                         f.expected)
        return IGNORED_REQUIREMENTS if hit else None
    return None


def _probe_failures(live: Snapshot, host_only: bool) -> list[Finding]:
    out: list[Finding] = []
    for name in _probes(host_only):
        st = live.probes.get(name)
        if st is not None and st.status == "error":
            out.append(Finding(
                rule="probe", subject=name, severity=compat.severity("probe_failed"),
                expected=None, actual="error", kind="failed", scope=scope_of(name),
                explanation=f"The {name} probe failed on this machine ({st.error}); the rules "
                            "that read it could not be evaluated.",
                fix="run with -v or 'envsnap capture --only " + name + "' to see why",
            ))
    return out
