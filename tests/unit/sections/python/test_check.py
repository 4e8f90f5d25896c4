"""The python rule of `envsnap check`: the interpreter, each package (rated as diff rates it) and
the live environment's broken requirements."""

from __future__ import annotations

from dataclasses import replace

from envsnap import compat
from envsnap.gate import CheckResult, check
from envsnap.sections.base import CheckContext
from envsnap.sections.python.check import RULE
from envsnap.snapshot import Package, Snapshot, Source
from envsnap.testing import cpu_venv_snapshot, h100_snapshot, python_env, torch_framework

# The recorded H100 machine's driver and GPU: a CUDA package in the environment is runnable.
BASE = cpu_venv_snapshot(Package(name="numpy", version="1.26.4"),
                         Package(name="six", version="1.16.0"),
                         Package(name="attrs", version="23.2.0"),
                         nvidia=h100_snapshot().nvidia,
                         frameworks=(torch_framework(arch_list=("sm_80", "sm_86", "sm_90")),))
LOCAL = Package(name="mylib", version="0.3.0",
                source=Source(kind="dir", url="file:///src/my%20lib"))
EDITABLE = Package(name="ed", version="1.0", source=Source(kind="editable", url="file:///work/ed"))
VCS = Package(name="tool", version="2.0", source=Source(
    kind="vcs", vcs="git", url="https://github.com/org/tool", commit="a" * 40))


def rules(r: CheckResult) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in r.findings]


def _run(expected: Snapshot, live: Snapshot, *, policy: str = "exact") -> list[tuple[str, str]]:
    ctx = CheckContext(expected, live, policy=policy, host_only=False, python="python", tool=())
    return [(f.subject, f.kind) for f in RULE.run(ctx)]


def test_the_rule_on_its_own_and_its_skip() -> None:
    assert RULE.name == "python" and RULE.host_only == "--host-only"
    no_python = replace(BASE, python=None)
    ctx = CheckContext(no_python, BASE, policy="exact", host_only=False, python="python", tool=())
    assert RULE.skip(ctx) == "the snapshot has no Python environment"
    assert _run(BASE, BASE) == []
    live = replace(BASE, python=python_env(Package(name="numpy", version="1.26.4"),
                                           Package(name="six", version="1.16.0"),
                                           Package(name="attrs", version="23.2.0"),
                                           Package(name="stray", version="1.0")))
    assert _run(BASE, live) == [("stray", "extra")]
    assert _run(BASE, live, policy="compatible") == []  # extras fail the exact policy only


def test_the_same_version_spelt_otherwise_is_no_finding() -> None:
    exp = cpu_venv_snapshot(Package(name="six", version="1.0"))
    assert _run(exp, cpu_venv_snapshot(Package(name="six", version="1.0.0"))) == []


def test_a_patch_release_of_the_interpreter_fails_only_the_exact_policy() -> None:
    assert BASE.python is not None
    patch = replace(BASE, python=replace(BASE.python, version="3.11.9"))
    assert _run(BASE, patch) == [("python", "patch")]
    assert _run(BASE, patch, policy="compatible") == []


def test_a_broken_requirement_the_snapshot_had_is_preexisting() -> None:
    typer = Package(name="typer", version="0.12.5", requires=("rich<14",))
    broken = cpu_venv_snapshot(typer, Package(name="rich", version="15.0.0"))
    ctx = CheckContext(broken, broken, policy="exact", host_only=False, python="python", tool=())
    (f,) = RULE.run(ctx)
    assert (f.rule, f.kind, f.severity, f.fix) == (
        "requirement", "preexisting", compat.severity("requirement_preexisting"), None)


# Moved from tests/unit/test_gate.py (through the check engine).


def test_missing_extra_variant_and_source() -> None:
    exp = replace(BASE, python=python_env(Package(name="torch", version="2.9.1+cu128"),
                                   Package(name="gone", version="1.0"),
                                   Package(name="ed", version="1.0",
                                           source=Source(kind="editable", url="file:///x"))))
    live = replace(BASE, python=python_env(Package(name="torch", version="2.9.1+cpu"),
                                    Package(name="ed", version="1.0"),
                                    Package(name="extra", version="2.0")))
    r = check(exp, live)
    # The severities diff gives the same changes: lost CUDA, removed, source, added.
    # gone: nothing in the snapshot required it (removed_leaf, minor).
    assert rules(r) == [("package", "torch", "critical"), ("package", "gone", "minor"),
                        ("package", "ed", "minor"), ("package", "extra", "info")]
    torch = r.findings[0]
    assert "whl/cu128" in (torch.fix or "")
    assert r.failed("critical")  # exact: the extra package alone would fail it
    assert rules(check(exp, live, policy="compatible"))[-1] != ("package", "extra", "info")


def test_python_minor_change() -> None:
    assert BASE.python is not None
    r = check(BASE, replace(BASE, python=replace(BASE.python, version="3.12.1")))
    assert rules(r) == [("python", "python", "critical")]


def test_no_live_python_is_critical_not_a_pass() -> None:
    r = check(BASE, replace(BASE, python=None))
    assert rules(r) == [("python", "python", "critical")]
    assert "--python" in (r.findings[0].fix or "")


def test_variant_fix_names_the_pytorch_index_for_rocm_too() -> None:
    exp = replace(BASE, python=python_env(Package(name="torch", version="2.5.1+rocm6.2")))
    live = replace(BASE, python=python_env(Package(name="torch", version="2.5.1+cpu")))
    torch = next(f for f in check(exp, live).findings if f.subject == "torch")
    assert torch.fix == ("python -m pip install torch==2.5.1+rocm6.2 "
                         "--index-url https://download.pytorch.org/whl/rocm6.2")


def test_fix_hints_name_the_target_interpreter_and_the_source() -> None:
    exp = replace(BASE, python=python_env(LOCAL, EDITABLE, VCS, Package(name="six", version="1.16.0")))
    live = replace(BASE, python=python_env(Package(name="mylib", version="0.4.0")))
    python = "/opt/my venv/bin/python"
    fixes = {f.subject: f.fix for f in check(exp, live, python=python).findings}
    pip = "'/opt/my venv/bin/python' -m pip"
    assert fixes == {
        "mylib": f"{pip} install '/src/my lib'",
        "ed": f"{pip} install -e /work/ed",
        "tool": f"{pip} install 'tool @ git+https://github.com/org/tool@{'a' * 40}'",
        "six": f"{pip} install six==1.16.0",
    }
    assert not any("pip install mylib==0.3.0" in (f or "") for f in fixes.values())


def test_broken_requirements_of_the_live_environment() -> None:
    typer = Package(name="typer", version="0.12.5", requires=("rich<14",))
    exp = replace(BASE, python=python_env(typer, Package(name="rich", version="13.9.4")))
    live = replace(BASE, python=python_env(typer, Package(name="rich", version="15.0.0")))
    r = check(exp, live, python="/v/bin/python")
    broken = next(f for f in r.findings if f.rule == "requirement")
    assert (broken.kind, broken.severity, broken.expected, broken.actual) == (
        "broken", "major", "rich<14", "rich 15.0.0")
    assert broken.fix == "/v/bin/python -m pip install rich==13.9.4"
    assert broken.explanation == "typer 0.12.5 has requirement rich<14, but you have rich 15.0.0."
    # Broken in the snapshot too: reported, not counted against this machine.
    r = check(live, live)
    assert [(f.kind, f.severity, f.fix) for f in r.findings] == [("preexisting", "info", None)]
