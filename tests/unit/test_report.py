"""Renderers (pure), and golden outputs of the dependency-aware explanations in all three
formats, from snapshots built in code (offline; the goldens derived from a real capture are in
tests/integration/test_report_real.py).

Regenerate the golden files after an intended change of wording or format with

    ENVSNAP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report.py

and review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
import support
from goldenfiles import EXT, GOLDEN, assert_golden

from envsnap import capture
from envsnap.config import Ignore
from envsnap.drift import Change, SnapshotDiff, diff
from envsnap.fleet import fleet_report
from envsnap.gate import check, host_probes
from envsnap.report import (
    CHECK_SCHEMA,
    DIFF_SCHEMA,
    FLEET_SCHEMA,
    diff_data,
    render_check,
    render_diff,
    render_fleet,
)
from envsnap.snapshot import (
    GPU,
    Framework,
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    PythonEnv,
    Snapshot,
    Source,
)
from envsnap.summary import summarize
from envsnap.testing import FakeHost, gpu_fixture_host

FORMATS = ["text", "json", "markdown"]


def pkg(name: str, version: str, *requires: str, **kw: object) -> Package:
    return Package(name=name, version=version, requires=tuple(sorted(requires)), **kw)  # type: ignore[arg-type]


# A small service environment as capture records it: requirement strings with specifiers,
# markers already evaluated, requested flags from pip's REQUESTED files.
BASE_PACKAGES = (
    pkg("typer", "0.12.5", "click>=8.0.0", "rich>=10.11.0", "shellingham>=1.3.0",
        "typing-extensions>=3.7.4.3", requested=True),
    pkg("rich", "13.9.4", "markdown-it-py>=2.2.0", "pygments<3.0.0,>=2.13.0"),
    pkg("markdown-it-py", "3.0.0", "mdurl~=0.1"), pkg("mdurl", "0.1.2"),
    pkg("pygments", "2.18.0"), pkg("click", "8.1.7"), pkg("shellingham", "1.5.4"),
    pkg("typing-extensions", "4.12.2"),
    pkg("flask", "3.0.3", "blinker>=1.6.2", "click>=8.1.3", "itsdangerous>=2.1.2",
        "jinja2>=3.1.2", "werkzeug>=3.0.0", requested=True),
    pkg("werkzeug", "3.0.4", "markupsafe>=2.1.1"), pkg("jinja2", "3.1.4", "markupsafe>=2.0"),
    pkg("markupsafe", "2.1.5", native=True), pkg("itsdangerous", "2.2.0"),
    pkg("blinker", "1.8.2"),
    pkg("numpy", "2.1.3", native=True, requested=True),
    pkg("scipy", "1.14.1", "numpy<2.3,>=1.23.5", native=True, requested=True),
    pkg("pandas", "2.2.3", "numpy>=1.23.2", "python-dateutil>=2.8.2", "pytz>=2020.1",
        "tzdata>=2022.7", native=True, requested=True),
    pkg("python-dateutil", "2.9.0.post0", "six>=1.5"), pkg("six", "1.16.0"),
    pkg("pytz", "2024.2"), pkg("tzdata", "2024.2"),
    pkg("mylib", "0.3.0", "rich>=13", requested=True,
        source=Source(kind="dir", url="file:///srv/src/mylib")),
)
BASE = Snapshot(
    python=PythonEnv(version="3.11.7", implementation="CPython", abi_tag="cp311",
                     packages=BASE_PACKAGES),
    os=OSInfo(system="Linux", arch="x86_64", glibc="2.39"),
)


def _python(s: Snapshot) -> PythonEnv:
    assert s.python is not None
    return s.python


def with_packages(s: Snapshot, *, drop: tuple[str, ...] = (),
                  put: tuple[Package, ...] = ()) -> Snapshot:
    names = {p.name for p in put}
    kept = tuple(p for p in _python(s).packages if p.name not in drop and p.name not in names)
    return replace(s, python=replace(_python(s), packages=tuple(
        sorted(kept + put, key=lambda p: p.name))))


def rich_15(s: Snapshot) -> Snapshot:
    """rich 15 under a typer that says rich<14 (the issue's example; pip check would report it)."""
    typer = next(p for p in _python(s).packages if p.name == "typer")
    typer = replace(typer, requires=tuple(sorted((*typer.requires, "rich<14"))))
    return with_packages(s, put=(typer, pkg("rich", "15.0.0", "markdown-it-py>=2.2.0",
                                            "pygments<3.0.0,>=2.13.0")))


def typer_needs_rich_lt_14(s: Snapshot) -> Snapshot:
    typer = next(p for p in _python(s).packages if p.name == "typer")
    return with_packages(s, put=(replace(typer, requires=tuple(sorted(
        (*typer.requires, "rich<14")))),))


def flask_removed(s: Snapshot) -> Snapshot:
    """pip uninstall flask and the dependencies only it needed; markupsafe and click stay."""
    return with_packages(s, drop=("flask", "werkzeug", "jinja2", "itsdangerous", "blinker"))


def rich_pulls_dependencies(s: Snapshot) -> Snapshot:
    """A rich upgrade that needs two new packages (one needing the other)."""
    return with_packages(s, put=(
        pkg("rich", "14.0.0", "markdown-it-py>=2.2.0", "pygments<3.0.0,>=2.13.0",
            "wcwidth-lite>=0.2"),
        pkg("wcwidth-lite", "0.2.1", "ucd-tables>=15"), pkg("ucd-tables", "15.1.0")))


def numpy_downgrade(s: Snapshot) -> Snapshot:
    """numpy 2.1.3 -> 1.26.4 under packages built for 2.x: the downgrade's advice, not the
    upgrade's ('pin numpy<2')."""
    return with_packages(s, put=(pkg("numpy", "1.26.4", native=True, requested=True),))


TOOLS = (pkg("black", "24.10.0", "click>=8.0.0", "pathspec>=0.9", requested=True),
         pkg("pathspec", "0.12.1"), pkg("ruff", "0.8.0", requested=True),
         pkg("pytest-xdist", "3.6.1", "execnet>=2.1", requested=True), pkg("execnet", "2.1.1"),
         pkg("scikit-learn", "1.5.2", "numpy>=1.19.5", "scipy>=1.6.0", requested=True))


def with_tools(s: Snapshot) -> Snapshot:
    return with_packages(s, put=TOOLS)


def tools_removed_sklearn_downgraded(s: Snapshot) -> Snapshot:
    """The issue's example: black, ruff and pytest-xdist gone (with their own dependencies),
    scikit-learn one minor release back."""
    return with_packages(with_tools(s), drop=("black", "pathspec", "ruff", "pytest-xdist",
                                              "execnet"),
                         put=(pkg("scikit-learn", "1.4.2", "numpy>=1.19.5", "scipy>=1.6.0",
                                  requested=True),))


DIFFS: dict[str, tuple[Callable[[Snapshot], Snapshot], Callable[[Snapshot], Snapshot]]] = {
    # name: (derive A, derive B)
    "requirement-broken-by-upgrade": (typer_needs_rich_lt_14, rich_15),
    "removal-with-dependency-tail": (lambda s: s, flask_removed),
    "upgrade-pulls-dependencies": (lambda s: s, rich_pulls_dependencies),
    "numpy-2-to-1-downgrade": (lambda s: s, numpy_downgrade),
    "top-level-tools-removed": (with_tools, tools_removed_sklearn_downgraded),
}


@pytest.mark.parametrize("scenario", sorted(DIFFS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_graph_diff(scenario: str, fmt: str) -> None:
    make_a, make_b = DIFFS[scenario]
    d = diff(make_a(BASE), make_b(BASE))
    assert d.changes, scenario
    assert_golden(GOLDEN / "diff" / f"{scenario}.{EXT[fmt]}",
                  render_diff(d, fmt, a="good.toml", b="bad.toml"))


def test_the_goldens_say_what_the_issue_asked() -> None:
    d = diff(typer_needs_rich_lt_14(BASE), rich_15(BASE))
    first = d.changes[0]
    assert (first.section, first.severity, first.name) == (
        "python.requirements", "major", "typer requires rich<14")
    assert "rich 15.0.0 is installed" in first.explanation
    tail = diff(BASE, flask_removed(BASE))
    assert [c.name for c in tail.changes if c.caused_by is None] == ["flask"]
    text = render_diff(tail, "text", a="a", b="b")
    assert "MINOR (1)" in text and "├─ blinker removed" in text and "└─ werkzeug removed" in text
    down = diff(BASE, numpy_downgrade(BASE)).changes[0]
    assert "numpy<2" not in down.explanation and "reinstall numpy==2.1.3" in down.explanation


def test_top_level_removals_are_one_line_below_a_downgrade_others_feel() -> None:
    d = diff(with_tools(BASE), tools_removed_sklearn_downgraded(with_tools(BASE)))
    text = render_diff(d, "text", a="a", b="b")
    assert ("  python.packages: 3 top-level packages removed: black 24.10.0, pytest-xdist 3.6.1, "
            "ruff 0.8.0\n") in text
    assert text.index("MAJOR (1)") < text.index("scikit-learn downgraded") < text.index(
        "MINOR (3)") < text.index("3 top-level packages removed")
    # Their own dependencies went with them, under the group; JSON keeps every change flat.
    assert "├─ pathspec removed  - 0.12.1  [info]" in text
    assert {c["name"] for c in json.loads(render_diff(d, "json", a="a", b="b"))["changes"]} == {
        "black", "pathspec", "ruff", "pytest-xdist", "execnet", "scikit-learn"}
    # One leaf alone stays a change of its own.
    one = diff(with_tools(BASE), with_packages(with_tools(BASE), drop=("ruff",)))
    assert "python.packages: ruff removed  - 0.8.0" in render_diff(one, "text", a="a", b="b")


def many(prefix: str, n: int) -> tuple[Package, ...]:
    return tuple(pkg(f"{prefix}{i:02d}", "1.0") for i in range(n))


def test_more_than_20_of_one_cause_are_one_line_and_v_lists_each() -> None:
    big = pkg("big", "1.0", *(f"dep{i:02d}" for i in range(25)), requested=True)
    a = with_packages(BASE, put=(big, *many("dep", 25)))
    d = diff(a, BASE)
    text = render_diff(d, "text", a="a", b="b")
    assert ("      └─ 25 removed with it: dep00, dep01, dep02, dep03, dep04, dep05, dep06, dep07 "
            "and 17 more (-v\n         lists each)") in text
    assert "dep24 removed" not in text
    verbose = render_diff(d, "text", a="a", b="b", verbose=True)
    assert all(f"dep{i:02d} removed  - 1.0  [info]" in verbose for i in range(25))
    md = render_diff(d, "markdown", a="a", b="b")
    assert "25 removed with it: dep00" in md and "<details><summary>25 changes they caused" in md
    # 20 are still listed one by one.
    small = pkg("big", "1.0", *(f"dep{i:02d}" for i in range(20)), requested=True)
    text = render_diff(diff(with_packages(BASE, put=(small, *many("dep", 20))), BASE), "text",
                       a="a", b="b")
    assert "dep19 removed  - 1.0  [info]" in text and "-v lists each" not in text
    # 25 top-level removals: one line, names shortened.
    leaves = tuple(replace(p, requested=True) for p in many("tool", 25))
    text = render_diff(diff(with_packages(BASE, put=leaves), BASE), "text", a="a", b="b")
    assert "25 top-level packages removed: tool00 1.0, tool01 1.0," in text
    assert "and 17 more (-v lists each)" in text


def test_diff_ends_with_one_remedy_and_json_gives_a_fix_per_change() -> None:
    a = with_packages(BASE, put=(pkg("editable-lib", "1.0", requested=True, source=Source(
        kind="editable", url="file:///src/ed")),))
    b = with_packages(rich_pulls_dependencies(BASE), drop=("six",), put=(
        pkg("editable-lib", "1.0", requested=True),
        pkg("envsnap", "0.1.0", "packaging>=25.0", requested=True), pkg("packaging", "25.0")))
    b = replace(b, env={"PYTHONHASHSEED": "0", "BAD NAME": "x"})
    a = replace(a, env={"PYTHONHASHSEED": "1 2"})
    d = diff(a, b)
    text = render_diff(d, "text", a="good.toml", b="bad.toml")
    remedy = ("  envsnap lock good.toml -o envsnap-lock && python -m pip uninstall -y editable-lib "
              "ucd-tables wcwidth-lite && python -m pip install --require-hashes --no-deps -r "
              "envsnap-lock/requirements.txt")
    assert text.endswith("To bring B's Python environment to A's, run:\n" + remedy + "\n")
    data = json.loads(render_diff(d, "json", a="good.toml", b="bad.toml"))
    assert data["remedy"] == {"command": remedy.strip(), "caveats": []}
    fixes = {c["name"]: c["fix"] for c in data["changes"]}
    assert fixes == {
        "rich": "python -m pip install rich==13.9.4",
        "six": "python -m pip install six==1.16.0",
        "editable-lib": "python -m pip install --force-reinstall --no-deps -e /src/ed",
        "wcwidth-lite": "python -m pip uninstall -y wcwidth-lite",
        "ucd-tables": "python -m pip uninstall -y ucd-tables",
        # envsnap and what it needs are never removed.
        "envsnap": None, "packaging": None,
        "python-dateutil requires six>=1.5": "python -m pip install six==1.16.0",
        "PYTHONHASHSEED": "export PYTHONHASHSEED='1 2'", "BAD NAME": None,
    }
    host_only = diff(BASE, replace(BASE, os=OSInfo(system="Linux", arch="aarch64",
                                                   glibc="2.39")))
    assert host_only.remedy("a") is None
    assert render_diff(host_only, "text", a="a", b="b").endswith(
        "No command to run: no Python package differs (each change above says what matters).\n")


def test_an_ignore_list_is_said_with_what_it_hid() -> None:
    d = diff(BASE, flask_removed(BASE), ignore=Ignore(packages=("blinker", "flask"), env=("X*",)))
    assert d.ignored == {"packages matching the ignore list": 2}
    text = render_diff(d, "text", a="a", b="b")
    assert "ignored: 2 changes of packages matching the ignore list" in text
    data = json.loads(render_diff(d, "json", a="a", b="b"))
    assert data["ignore"] == {"packages": ["blinker", "flask"], "env": ["X*"]}
    assert data["ignored"] == {"packages matching the ignore list": 2}
    assert json.loads(render_diff(diff(BASE, BASE), "json", a="a", b="b"))["ignore"] is None


# ---------------------------------------------------------------------------------------------
# check: a drifted environment, read at a glance


def drifted(s: Snapshot) -> Snapshot:
    """What `check --python /opt/svc/bin/python` met in the issue: Python 3.12, envsnap and its
    own tools installed beside the service (59 extras), rich 15 under typer's rich<14, the
    local mylib missing, an editable flask, numpy a minor release ahead."""
    tools = tuple(pkg(f"tool-dep-{i:02d}", "1.0") for i in range(57))
    envsnap = pkg("envsnap", "0.1.0", "packaging>=25.0", "tomli>=2.1")
    live = with_packages(rich_15(s), drop=("mylib",), put=(
        envsnap, pkg("packaging", "25.0"), pkg("tomli", "2.2.1"), *tools,
        pkg("numpy", "2.2.0", native=True, requested=True),
        replace(next(p for p in _python(s).packages if p.name == "flask"),
                source=Source(kind="editable", url="file:///home/dev/flask"))))
    return replace(live, python=replace(_python(live), version="3.12.7", abi_tag="cp312"))


def host_only_without_gpu() -> tuple[Snapshot, Snapshot]:
    h100 = capture(host=gpu_fixture_host(support.REPO / "tests/data/gpu/h100-ubuntu24"),
                   only=("os", "cpu", "nvidia"))
    expected = replace(h100, frameworks=(Framework(name="torch", version="2.9.1+cu130",
                                                   variant="cu130", cuda="13.0"),))
    return expected, capture(host=FakeHost(), only=host_probes())


@pytest.mark.parametrize("fmt", [*FORMATS, "verbose"])
def test_golden_check_of_a_drifted_environment(fmt: str) -> None:
    r = check(typer_needs_rich_lt_14(BASE), drifted(BASE), python="/opt/svc/bin/python")
    out = render_check(r, "text" if fmt == "verbose" else fmt, snapshot="train.toml",
                       fail_on="critical", verbose=fmt == "verbose")
    name = "drifted-env-verbose.txt" if fmt == "verbose" else f"drifted-env.{EXT[fmt]}"
    assert_golden(GOLDEN / "check" / name, out)


def test_the_drifted_check_reads_at_a_glance() -> None:
    r = check(typer_needs_rich_lt_14(BASE), drifted(BASE), python="/opt/svc/bin/python")
    text = render_check(r, "text", snapshot="train.toml", fail_on="critical")
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("  "))
    assert lines[first].startswith("  python: python  expected 3.11.7, found 3.12.7")
    assert any(ln.startswith("  package: 57 packages not in the snapshot:") for ln in lines)
    assert "pip install mylib==0.3.0" not in text
    assert "fix: /opt/svc/bin/python -m pip install /srv/src/mylib" in text
    assert "tool-dep-56  expected" not in text  # collapsed: -v lists them
    verbose = render_check(r, "text", snapshot="train.toml", fail_on="critical", verbose=True)
    assert "tool-dep-56  expected -, found 1.0" in verbose
    at = lines.index("To bring this environment to the snapshot, run:")
    assert lines[at + 1].startswith("  envsnap lock train.toml -o envsnap-lock && "
                                    "/opt/svc/bin/python -m pip uninstall -y flask tool-dep-00")
    assert lines[at + 2].startswith("  note: recreate the environment with Python 3.11.7 first")
    assert len(lines) < 50  # the issue counted 70 findings of three lines each


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_check_host_only_without_gpu(fmt: str) -> None:
    expected, live = host_only_without_gpu()
    r = check(expected, live, host_only=True)
    assert r.failed("critical")
    assert_golden(GOLDEN / "check" / f"h100-snapshot-host-without-gpu.{EXT[fmt]}",
                  render_check(r, fmt, snapshot="h100.toml", fail_on="critical"))


# ---------------------------------------------------------------------------------------------
# Renderers (pure)


SAMPLE = SnapshotDiff(changes=(
    Change(section="python.packages", name="numpy", kind="upgraded", severity="critical",
           old="1.26.4", new="2.1.3", explanation="Breaks | pipes."),
    Change(section="env", name="PYTHONHASHSEED", kind="added", severity="major", old=None,
           new="0", explanation="Seeds."),
))


def test_json_schema_is_versioned_and_documented() -> None:
    data = json.loads(render_diff(SAMPLE, "json", a="a", b="b"))
    assert data["schema"] == DIFF_SCHEMA == "envsnap.diff/1"
    assert data["summary"] == {"critical": 1, "major": 1, "minor": 0, "info": 0}
    assert set(data["changes"][0]) == {"section", "name", "kind", "severity", "scope", "old",
                                       "new", "explanation", "caused_by", "fix", "dependents",
                                       "dependents_total"}
    assert set(data["changes"][1]) == {"section", "name", "kind", "severity", "scope", "old",
                                       "new", "explanation", "caused_by", "fix"}
    assert [c["scope"] for c in data["changes"]] == ["environment", "environment"]
    doc = (support.REPO / "docs" / "diff-and-check.md").read_text(encoding="utf-8")
    for schema in (DIFF_SCHEMA, CHECK_SCHEMA, FLEET_SCHEMA):
        assert schema in doc
    for field in ("caused_by", "dependents_total", "requirement", "remedy", "groups", "kind",
                  "scope", "fix", "ignored", "ignore", "thresholds"):
        assert f"`{field}`" in doc


def test_json_keeps_grouped_changes_flat_with_caused_by() -> None:
    d = diff(BASE, flask_removed(BASE))
    data = json.loads(render_diff(d, "json", a="a", b="b"))
    causes = {c["name"]: c["caused_by"] for c in data["changes"]}
    assert causes == {"flask": None, "werkzeug": "flask", "jinja2": "flask",
                      "itsdangerous": "flask", "blinker": "flask"}
    flask = next(c for c in data["changes"] if c["name"] == "flask")
    assert flask["dependents"] == [] and flask["dependents_total"] == 0


def test_text_colour_only_when_asked() -> None:
    plain = render_diff(SAMPLE, "text", a="a", b="b")
    assert "\x1b[" not in plain
    assert plain.index("CRITICAL") < plain.index("MAJOR")
    coloured = render_diff(SAMPLE, "text", a="a", b="b", color=True)
    assert "\x1b[1;31mCRITICAL (1)\x1b[0m" in coloured


def test_markdown_escapes_table_cells() -> None:
    md = render_diff(SAMPLE, "markdown", a="a", b="b")
    assert "Breaks \\| pipes." in md
    assert md.count("| Section |") == 2  # one table per severity group


def test_empty_diff() -> None:
    assert "No differences." in render_diff(SnapshotDiff(), "text", a="a", b="b")
    assert diff_data(SnapshotDiff(), a="a", b="b")["changes"] == []


def test_check_json_carries_verdict_groups_and_remedy() -> None:
    r = check(Snapshot(), Snapshot())
    data = json.loads(render_check(r, "json", snapshot="s.toml", fail_on="critical"))
    assert data["schema"] == CHECK_SCHEMA and data["passed"] is True
    assert data["findings"] == [] and data["groups"] == [] and data["remedy"] is None
    r = check(typer_needs_rich_lt_14(BASE), drifted(BASE), python="/opt/svc/bin/python")
    data = json.loads(render_check(r, "json", snapshot="-", fail_on="never"))
    assert data["passed"] is True  # never fails
    extra = next(g for g in data["groups"] if g["kind"] == "extra")
    assert (extra["count"], extra["summary"]) == (57, "57 packages not in the snapshot")
    assert data["remedy"]["command"].startswith("envsnap lock SNAPSHOT.toml -o envsnap-lock")
    assert "save the snapshot you piped in" in data["remedy"]["caveats"][0]


# ---------------------------------------------------------------------------------------------
# Captured text cannot drive the reader's terminal


HOSTILE = "\x1b]0;pwned\x07\x1b[2J"


def hostile_pair() -> tuple[Snapshot, Snapshot]:
    gpu = GPU(index=0, name=f"NVIDIA H100{HOSTILE}", compute_capability="9.0")
    a = replace(BASE, meta=Meta(hostname=f"node{HOSTILE}"),
                nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(gpu,)))
    mylib = pkg("mylib", "0.3.0", "rich>=13", requested=True,
                source=Source(kind="vcs", vcs="git", commit="b" * 40,
                              url=f"https://example.com/mylib{HOSTILE}.git"))
    b = with_packages(a, put=(mylib,))
    other = GPU(index=0, name=f"NVIDIA A100{HOSTILE}", compute_capability="8.0")
    return a, replace(b, nvidia=NvidiaInfo(driver_version="580.159.04", gpus=(other,)))


def _assert_inert(out: str, what: str) -> None:
    assert "\x1b" not in out and "\x07" not in out, (what, out)
    escaped = ("\\u001b]0;pwned\\u0007\\u001b[2J" if what.endswith("json")
               else "\\x1b]0;pwned\\x07\\x1b[2J")
    assert escaped in out, what


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_in_gpu_names_host_names_and_urls_are_escaped(fmt: str) -> None:
    a, b = hostile_pair()
    _assert_inert(render_diff(diff(a, b), fmt, a=f"a{HOSTILE}", b="b"), f"diff {fmt}")
    _assert_inert(render_check(check(a, b), fmt, snapshot="s", fail_on="critical",
                               verbose=True), f"check {fmt}")
    _assert_inert(render_check(check(b, a, python=f"/p{HOSTILE}/python"), fmt, snapshot="s",
                               fail_on="critical"), f"check fix {fmt}")
    fleet = fleet_report("golden", a, [(f"node{HOSTILE}", b)])
    _assert_inert(render_fleet(fleet, fmt), f"fleet {fmt}")
    if fmt == "json":  # escaped by json itself, and parseable back to the original
        data = json.loads(render_diff(diff(a, b), fmt, a="a", b="b"))
        assert any(HOSTILE in (c["old"] or "") for c in data["changes"])


def test_show_summary_escapes_captured_text() -> None:
    a, _ = hostile_pair()
    out = summarize(a)
    _assert_inert(out, "show")
    assert "on node\\x1b]0;pwned" in out


def test_docs_list_every_rule_with_its_severity() -> None:
    """docs/diff-and-check.md has a table row for every rule of the one severity table, with
    the severity the shipped data gives it; the rules check applies are in check's table."""
    from envsnap import compat

    doc = (support.REPO / "docs" / "diff-and-check.md").read_text(encoding="utf-8")
    diff_part, _, check_part = doc.partition("## `envsnap check SNAPSHOT`")
    data = compat.data("severity.toml")
    every = {**{k: v for k, v in data["rules"].items() if not k.startswith("cluster_")},
             **{k: v for k, v in data["packages"]["default"].items()
                if k not in ("downgrade_bump", "downgrade_cap")}}
    check_only = ("python_missing", "requirement_preexisting", "package_tool",
                  "arch_list_unknown", "binding_pin", "binding_mismatch", "binding_duplicate")
    # The [rules] check reads (gate.py), each rated as diff rates the same change.
    check_rules = ("python_minor", "python_patch", "removed", "added", "source", "variant",
                   "torch_lost_cuda", "requirement_missing", "requirement_broken",
                   "driver_removed", "driver_below_floor", "driver_below_toolkit",
                   "driver_mismatch", "gpu_removed", "gpu_not_covered", "gpu_older_arch",
                   "gpu_memory", "gpu_model", "glibc_below_wheels", "cpu_isa_lost",
                   "arch_changed", "probe_failed", *check_only)
    tables = [(diff_part, {k: v for k, v in every.items() if k not in check_only}),
              (check_part, {k: every[k] for k in check_rules})]
    for part, table in tables:
        rows = [ln for ln in part.splitlines() if ln.startswith("| `")]
        for name, severity in table.items():
            found = [r for r in rows if f"`{name}`" in r.split("|")[1]]
            assert found, f"{name} is not documented"
            assert any(f"| {severity} |" in r for r in found), (name, severity, found)
    # The rules between the nodes of one job (severity.toml [rules] cluster_NAME): docs/fleet.md.
    fleet = (support.REPO / "docs" / "fleet.md").read_text(encoding="utf-8").splitlines()
    for key, severity in data["rules"].items():
        if key.startswith("cluster_"):
            name = key.removeprefix("cluster_")
            assert any(ln.strip().startswith(f"| `{name}` |") and ln.rstrip().endswith(
                f"| {severity} |") for ln in fleet), f"{name} is not in docs/fleet.md"


def test_markdown_cells_cannot_carry_links_images_or_mentions_from_a_snapshot() -> None:
    from envsnap.report import _md

    hostile = "git+https://h.example/r.git ![t](https://t.example/p.png) [x](https://e.example) @org/team"
    cell = _md(hostile)
    assert re.search(r"(?<!\\)[\[\]@]", cell) is None  # every bracket and '@' escaped
    assert cell.replace("\\", "") == hostile  # the text itself is all still there
