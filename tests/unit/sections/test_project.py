"""The project section: the git state diff (commit shortened, dirty) and its show line."""

from __future__ import annotations

from envsnap import compat
from envsnap.sections.project import SECTION
from envsnap.snapshot import Project, Snapshot
from envsnap.testing import cpu_venv_snapshot, section_diff

A = "0123456789abcdef0123456789abcdef01234567"
B = "fedcba9876543210fedcba9876543210fedcba98"


def _snap(**kw: object) -> Snapshot:
    return cpu_venv_snapshot(project=Project(**kw))  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[tuple[str, str | None, str | None]]:
    out = section_diff(SECTION, a, b)
    assert all(c.severity == compat.severity("project") for c in out)
    return [(c.name, c.old, c.new) for c in out]


def test_commit_branch_and_dirty() -> None:
    a = _snap(commit=A, branch="main", dirty=False)
    b = _snap(commit=B, branch="exp", dirty=True)
    assert _diff(a, b) == [("commit", A[:12], B[:12]), ("branch", "main", "exp"),
                           ("dirty", "false", "true")]
    assert _diff(a, a) == []
    # The same commit spelt to another length is the same commit.
    assert _diff(a, _snap(commit=A[:12], branch="main", dirty=False)) == []


def test_no_project_on_one_side_is_silent() -> None:
    assert _diff(_snap(commit=A), cpu_venv_snapshot()) == []


def test_show_line() -> None:
    assert SECTION.summary is not None
    dirty = _snap(commit=A, dirty=True, remote="https://github.com/org/repo")
    assert SECTION.summary(dirty, {}) == [f"project   {A[:12]} (dirty) https://github.com/org/repo"]
    assert SECTION.summary(_snap(commit=A), {}) == [f"project   {A[:12]}"]
    assert SECTION.summary(_snap(), {}) == [] and SECTION.summary(cpu_venv_snapshot(), {}) == []
