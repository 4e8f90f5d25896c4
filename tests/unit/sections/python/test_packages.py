"""PackageDiff: python.packages and python.requirements over both dependency graphs (more through
diff(): tests/unit/test_drift.py)."""

from __future__ import annotations

from envsnap import compat
from envsnap.changes import Change
from envsnap.sections.python.packages import PackageDiff
from envsnap.snapshot import Package, PythonEnv, Source
from envsnap.testing import python_env

TYPER = Package(name="typer", version="0.12.5", requires=("rich<14", "shellingham"),
                requested=True)
RICH = Package(name="rich", version="13.9.4")
SHELL = Package(name="shellingham", version="1.5.4")


def _run(a: PythonEnv, b: PythonEnv, glibc: str | None = None) -> dict[str, Change]:
    out: list[Change] = []
    PackageDiff(a, b, glibc, None).run(out)
    return {c.name: c for c in out}


def test_nothing_changed_builds_nothing() -> None:
    env = python_env(TYPER, RICH, SHELL)
    out: list[Change] = []
    diff = PackageDiff(env, env, None, None)
    diff.run(out)
    assert out == [] and not hasattr(diff, "ga")  # no graph was built


def test_a_removal_nothing_else_needed_is_grouped_under_its_cause() -> None:
    changes = _run(python_env(TYPER, RICH, SHELL), python_env())
    assert changes["typer"].caused_by is None
    assert changes["rich"].caused_by == "typer" and changes["shellingham"].caused_by == "typer"
    assert changes["rich"].severity == compat.severity("removed_with_dependent")
    assert "2 dependencies nothing else needs went with it" in changes["typer"].explanation


def test_an_upgrade_that_breaks_a_requirement() -> None:
    changes = _run(python_env(TYPER, RICH, SHELL),
                   python_env(TYPER, Package(name="rich", version="15.0.0"), SHELL))
    broken = changes["typer requires rich<14"]
    assert (broken.section, broken.kind, broken.severity) == (
        "python.requirements", "broken", compat.severity("requirement_broken"))
    assert broken.fix == "python -m pip install rich==13.9.4"
    assert changes["rich"].dependents == ("typer",)
    fixed = _run(python_env(TYPER, Package(name="rich", version="15.0.0"), SHELL),
                 python_env(TYPER, RICH, SHELL))
    assert fixed["typer requires rich<14"].kind == "fixed"


def test_a_wheel_tagged_for_a_newer_glibc_than_b_has() -> None:
    new = Package(name="torch", version="2.9.1", tags=("cp311-cp311-manylinux_2_28_x86_64",))
    changes = _run(python_env(), python_env(new), glibc="2.26")
    assert changes["torch"].severity == compat.severity("glibc_below_wheels")
    assert "GLIBC_2.28" in changes["torch"].explanation
    assert _run(python_env(), python_env(new), glibc="2.39")["torch"].severity != \
        compat.severity("glibc_below_wheels")


def test_same_version_from_elsewhere_is_a_source_change() -> None:
    ed = Package(name="ed", version="1.0", source=Source(kind="editable", url="file:///w/ed"))
    (c,) = _run(python_env(ed), python_env(Package(name="ed", version="1.0"))).values()
    assert (c.kind, c.fix) == ("source", "python -m pip install --force-reinstall --no-deps -e /w/ed")
