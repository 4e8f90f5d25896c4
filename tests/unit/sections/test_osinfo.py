"""The os section: system, arch, glibc and libstdc++ diff, the glibc check rule, show."""

from __future__ import annotations

from dataclasses import replace

import pytest

from envsnap import compat
from envsnap.changes import Change
from envsnap.gate import CheckResult, check
from envsnap.sections.base import CheckContext
from envsnap.sections.osinfo import SECTION
from envsnap.snapshot import OSInfo, Package, Snapshot
from envsnap.testing import conda_snapshot, cpu_venv_snapshot, h100_snapshot, python_env, section_diff

BASE = cpu_venv_snapshot(Package(name="numpy", version="1.26.4"),
                         Package(name="six", version="1.16.0"),
                         Package(name="attrs", version="23.2.0"),
                         nvidia=h100_snapshot().nvidia)
TAGGED = cpu_venv_snapshot(Package(name="torch", version="2.9.1",
                                   tags=("cp311-cp311-manylinux_2_28_x86_64",)))


def rules(r: CheckResult) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in r.findings]


def _os(s: Snapshot, **kw: str | None) -> Snapshot:
    assert s.os is not None
    return replace(s, os=replace(s.os, **kw))  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[Change]:
    out = section_diff(SECTION, a, b)
    return out


def test_another_system_and_arch() -> None:
    # The recorded conda environment is on macOS arm64; the venv on Linux x86_64.
    changes = {c.name: c.severity for c in _diff(BASE, conda_snapshot())}
    assert changes["system"] == compat.severity("system_changed")
    assert changes["arch"] == compat.severity("arch_changed")


@pytest.mark.parametrize(("old", "new", "kind", "rule"), [
    ("2.35", "2.39", "upgraded", "glibc_higher"),
    ("2.39", "2.35", "downgraded", "glibc_lower"),  # the wheels' tags (none) are met
    ("2.39", "musl", "changed", "glibc_lower"),  # not comparable: treated as possibly older
])
def test_glibc_change(old: str, new: str, kind: str, rule: str) -> None:
    (c,) = _diff(_os(BASE, glibc=old), _os(BASE, glibc=new))
    assert (c.name, c.kind, c.severity) == ("glibc", kind, compat.severity(rule))


def test_an_older_glibc_than_the_wheels_tags_need() -> None:
    (c,) = _diff(TAGGED, _os(TAGGED, glibc="2.26"))
    assert (c.kind, c.severity) == ("downgraded", compat.severity("glibc_below_wheels"))
    assert "manylinux_2_28" in c.explanation and "torch" in c.explanation


def test_libstdcxx_and_informational_fields() -> None:
    a = _os(BASE, libstdcxx="3.4.33", kernel="6.8.0")
    lower = {c.name: (c.kind, c.severity) for c in _diff(a, _os(a, libstdcxx="3.4.30",
                                                                kernel="6.11.0"))}
    assert lower == {"libstdcxx": ("downgraded", compat.severity("libstdcxx_lower")),
                     "kernel": ("changed", compat.severity("os_changed"))}
    (c,) = _diff(_os(a, libstdcxx="3.4.30"), a)
    assert (c.kind, c.severity) == ("upgraded", compat.severity("libstdcxx_higher"))


def test_no_os_on_either_side_is_silent() -> None:
    assert _diff(BASE, replace(BASE, os=None)) == [] and _diff(BASE, BASE) == []


def _ctx(expected: Snapshot, live: Snapshot) -> CheckContext:
    return CheckContext(expected, live, policy="exact", host_only=False, python="python", tool=())


def test_glibc_rule_on_its_own() -> None:
    (rule,) = SECTION.checks
    (f,) = rule.run(_ctx(TAGGED, _os(TAGGED, glibc="2.26")))
    assert (f.kind, f.expected, f.actual) == ("below_wheels", ">= 2.28", "2.26")
    assert rule.run(_ctx(TAGGED, TAGGED)) == []
    assert rule.run(_ctx(TAGGED, _os(TAGGED, glibc=None))) == []  # unknown: not a failure
    assert rule.skip(_ctx(TAGGED, _os(TAGGED, glibc="x" * 60))) == (
        f"this machine's glibc {'x' * 40!r} is not a version to compare")
    assert isinstance(rule.host_only, str) and "own C library" in rule.host_only


def test_show_line() -> None:
    assert SECTION.summary is not None and SECTION.summary_data is not None
    data = SECTION.summary_data(BASE)
    assert SECTION.summary(BASE, data) == ["os        Ubuntu 24.04.3 LTS, glibc 2.39"]
    mac = conda_snapshot()
    assert SECTION.summary(mac, SECTION.summary_data(mac)) == ["os        Darwin"]
    bare = replace(BASE, os=None)
    assert SECTION.summary(bare, SECTION.summary_data(bare)) == []


# Moved from tests/unit/test_gate.py (through the check engine).


def test_glibc_below_wheel_tags() -> None:
    exp = replace(BASE, python=python_env(Package(name="torch", version="2.9.1",
                                           tags=("cp311-cp311-manylinux_2_28_x86_64",))))
    live = replace(exp, os=OSInfo(system="Linux", arch="x86_64", glibc="2.26"))
    r = check(exp, live)
    assert rules(r) == [("glibc", "glibc", "critical")]
    assert r.findings[0].expected == ">= 2.28" and "torch" in r.findings[0].explanation
    assert check(exp, live, host_only=True).findings == ()  # a container brings its own glibc
