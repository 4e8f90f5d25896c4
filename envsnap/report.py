"""Renderers for diff, fleet and check results: text, Markdown and versioned JSON; all pure."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import compat
from .changes import Change, Finding
from .config import Ignore
from .drift import SnapshotDiff
from .fleet import FleetReport, NodeGroup
from .gate import CheckResult, FindingGroup
from .remedy import Remedy
from .rules import ENVIRONMENT, HOST
from .text import printable
from .wording import more_text

FORMATS = ("text", "json", "markdown")

# JSON output schemas (docs/diff-and-check.md#json-output). Bump on incompatible changes;
# consumers must check `schema` before reading anything else. New fields may appear within a
# version (dependents, caused_by, kind, groups, remedy did).
DIFF_SCHEMA = "envsnap.diff/1"
FLEET_SCHEMA = "envsnap.fleet/2"
CHECK_SCHEMA = "envsnap.check/1"

WIDTH = 100  # wrap explanations to the project's line length
_INDENT = "      "
GROUP_SHOWN = 3  # a check group this small is always listed finding by finding
SUBJECTS_SHOWN = 8  # names in a collapsed group's line before "and N more"

# ANSI SGR colours per severity (ECMA-48); used only when the caller asks for colour.
_COLOURS = {"critical": "1;31", "major": "33", "minor": "36", "info": "2"}
_RESET = "\x1b[0m"
_MD_MARK = {"critical": "🔴", "major": "🟠", "minor": "🟡", "info": "⚪"}


def _paint(text: str, severity: str, color: bool) -> str:
    return f"\x1b[{_COLOURS[severity]}m{text}{_RESET}" if color else text


class _Text:
    """Lines of human output. Every piece of captured text (a GPU name, a host name, a source
    URL, a path given on the command line) passes through printable() on its way in, so a
    value holding terminal escapes cannot retitle or clear the reader's terminal; colour is
    added after, by us."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def add(self, text: str = "") -> None:
        self.lines.append(printable(text))

    def heading(self, text: str, severity: str) -> None:
        self.lines.append(_paint(printable(text), severity, self.color))

    def wrap(self, text: str, indent: str = _INDENT, then: str | None = None) -> None:
        self.lines.extend(textwrap.wrap(printable(text), WIDTH, initial_indent=indent,
                                        subsequent_indent=indent if then is None else then,
                                        break_long_words=False, break_on_hyphens=False))

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _json(data: Mapping[str, Any]) -> str:
    # ASCII-only: json escapes C0 controls either way, and this escapes C1 (\x9b is a one-byte
    # CSI on some terminals) and everything else a terminal could act on.
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def _summary_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in compat.SEVERITIES)


def _arrow(old: str | None, new: str | None) -> str:
    if old is None:
        return f"+ {new}"
    if new is None:
        return f"- {old}"
    return f"{old} -> {new}"


def _by_severity(items: Iterable[Any], sev: Callable[[Any], str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {s: [] for s in compat.SEVERITIES}
    for item in items:
        groups[sev(item)].append(item)
    return groups


def _md(text: str | None) -> str:
    """Markdown text in a table cell: control characters escaped (one line), pipes and
    backslashes escaped, '<' as an entity so captured text cannot open an HTML tag, and the
    brackets and '@' escaped so a snapshot's text (a source URL) cannot add a link, an image
    (a tracking pixel in a pull-request comment) or a team mention."""
    if text is None:
        return ""
    return printable(text).translate(_MD_ESCAPES)


_MD_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "&lt;", "[": "\\[", "]": "\\]",
                             "@": "\\@"})


def _md_code(text: str | None) -> str:
    """A code span: taken literally by Markdown (no entities), so only pipes (table cells) and
    backticks (the span's own end) need care."""
    if not text:
        return ""
    return "`" + printable(text).replace("|", "\\|").replace("`", "'") + "`"


# ---------------------------------------------------------------------------------------------
# diff


def change_data(c: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        "section": c.section, "name": c.name, "kind": c.kind, "severity": c.severity,
        "scope": c.scope, "old": c.old, "new": c.new, "explanation": c.explanation,
        "caused_by": c.caused_by, "fix": c.fix}
    if c.section in ("python.packages", "python.requirements"):
        data["dependents"] = list(c.dependents)
        data["dependents_total"] = c.dependents_total
    if c.requirement is not None:
        data["requirement"] = c.requirement
    return data


def diff_data(d: SnapshotDiff, *, a: str, b: str) -> dict[str, Any]:
    return {"schema": DIFF_SCHEMA, "a": a, "b": b, "summary": d.summary(),
            "ignore": _ignore_data(d.ignore), "ignored": dict(d.ignored),
            "changes": [change_data(c) for c in d.changes],
            "remedy": _remedy_data(d.remedy(a))}


def _ignore_data(ignore: Ignore | None) -> dict[str, list[str]] | None:
    return None if ignore is None else {"packages": list(ignore.packages),
                                        "env": list(ignore.env)}


def diff_json(d: SnapshotDiff, *, a: str, b: str) -> str:
    return _json(diff_data(d, a=a, b=b))


def _tree(changes: Sequence[Change]) -> list[tuple[Change, list[Change]]]:
    """Headline changes in order, each with the changes it caused (JSON keeps them flat)."""
    heads = {c.name for c in changes if c.caused_by is None and c.section == "python.packages"}
    children: dict[str, list[Change]] = {}
    out: list[tuple[Change, list[Change]]] = []
    for c in changes:
        if c.caused_by is not None and c.caused_by in heads:
            children.setdefault(c.caused_by, []).append(c)
    for c in changes:
        if c.caused_by is None or c.caused_by not in heads:
            out.append((c, children.get(c.name, []) if c.section == "python.packages" else []))
    return out


def _grouped_note(d: SnapshotDiff) -> str:
    n = sum(1 for c in d.changes if c.caused_by is not None)
    return f" ({n} shown under the change that caused them)" if n else ""


# More changes of one cause than this are one line; -v lists each (docs/diff-and-check.md).
COLLAPSE_FROM = 20

_LEAVES = "top-level packages removed"
_LEAVES_WHY = ("Nothing installed required them (tools, or libraries your own code imports): no "
               "other package breaks; code and commands that use them fail (ModuleNotFoundError, "
               "command not found).")
_REQUIRED = "packages removed that other packages required"
_REQUIRED_WHY = ("Code importing them fails with ModuleNotFoundError; what still requires them "
                 "is in the broken requirements above.")


@dataclass(frozen=True, slots=True)
class _Block:
    """One headline of a diff's text or Markdown: a change with the changes it caused, or a
    group of changes of one cause (``title``) shown as one."""

    change: Change | None
    kids: tuple[Change, ...] = ()
    members: tuple[Change, ...] = ()
    title: str = ""
    why: str = ""


def _removal(c: Change) -> str | None:
    """Which group a headline removal of a Python package joins: a leaf (nothing installed
    required it) or one others required."""
    if c.section != "python.packages" or c.kind != "removed" or c.caused_by is not None:
        return None
    return _LEAVES if not c.dependents else _REQUIRED


def _blocks(entries: Sequence[tuple[Change, list[Change]]], verbose: bool) -> list[_Block]:
    """The headlines of one severity. Two or more removed leaves are always one group ('3
    top-level packages removed: black, pytest-xdist, ruff'); more than COLLAPSE_FROM removals
    others required are one line unless ``verbose``."""
    by_group: dict[str, list[tuple[Change, list[Change]]]] = {}
    for e in entries:
        group = _removal(e[0])
        if group is not None:
            by_group.setdefault(group, []).append(e)
    grouped = {g for g, es in by_group.items()
               if (g == _LEAVES and len(es) > 1) or (len(es) > COLLAPSE_FROM and not verbose)}
    out: list[_Block] = []
    for c, kids in entries:
        group = _removal(c)
        if group not in grouped:
            out.append(_Block(change=c, kids=tuple(kids)))
        elif c is by_group[group][0][0]:  # the group stands where its first member would
            members = by_group[group]
            out.append(_Block(change=None, members=tuple(m for m, _ in members),
                              kids=tuple(k for _, ks in members for k in ks), title=group,
                              why=_LEAVES_WHY if group == _LEAVES else _REQUIRED_WHY))
    return out


def _collapsed_kids(kids: Sequence[Change], them: bool = False) -> list[str]:
    """Changes one change (a group: ``them``) caused, one line per kind: '23 removed with it:
    a, b, ...'."""
    lines = []
    for kind, words in (("removed", f"removed with {'them' if them else 'it'}"),
                        ("added", "pulled in")):
        names = sorted(k.name for k in kids if k.kind == kind)
        if names:
            lines.append(f"{len(names)} {words}: {more_text(names, SUBJECTS_SHOWN)}")
    rest = sorted(k.name for k in kids if k.kind not in ("removed", "added"))
    if rest:
        lines.append(f"{len(rest)} more: {more_text(rest, SUBJECTS_SHOWN)}")
    return [f"{line} (-v lists each)" for line in lines]


def _membermore_text(b: _Block, verbose: bool) -> str:
    names = [f"{m.name} {m.old}" for m in b.members]
    if verbose or len(names) <= COLLAPSE_FROM:
        return ", ".join(names)
    return f"{more_text(names, SUBJECTS_SHOWN)} (-v lists each)"


def _remedy_text(d: SnapshotDiff, a: str) -> list[str]:
    remedy = d.remedy(a)
    if remedy is None:
        return ["No command to run: no Python package differs (each change above says what "
                "matters)."]
    return ["To bring B's Python environment to A's, run:", f"  {remedy.command}",
            *(f"  note: {c}" for c in remedy.caveats)]


def diff_text(d: SnapshotDiff, *, a: str, b: str, color: bool = False,
              verbose: bool = False) -> str:
    out = _Text(color)
    out.add(f"envsnap diff {a} -> {b}")
    out.add(_summary_line(d.summary()) + _grouped_note(d))
    for what, n in sorted(d.ignored.items()):
        out.add(f"ignored: {n} {'change' if n == 1 else 'changes'} of {what}")
    if not d.changes:
        out.add()
        out.add("No differences.")
        return out.render()
    for severity, entries in _by_severity(_tree(d.changes), lambda e: e[0].severity).items():
        if not entries:
            continue
        out.add()
        out.heading(f"{severity.upper()} ({len(entries)})", severity)
        for block in _blocks(entries, verbose):
            c = block.change
            if c is None:
                out.wrap(f"python.packages: {len(block.members)} {block.title}: "
                         f"{_membermore_text(block, verbose)}", "  ", _INDENT)
                out.wrap(block.why)
            else:
                out.add(f"  {c.section}: {c.name} {c.kind}  {_arrow(c.old, c.new)}")
                out.wrap(c.explanation)
            kids = block.kids
            if len(kids) > COLLAPSE_FROM and not verbose:
                lines = _collapsed_kids(kids, them=c is None)
                for i, line in enumerate(lines):
                    last = i == len(lines) - 1
                    out.wrap(f"{'└─' if last else '├─'} {line}", "      ",
                             "         " if last else "      │  ")
                continue
            for i, k in enumerate(kids):
                branch = "└─" if i == len(kids) - 1 else "├─"
                out.add(f"      {branch} {k.name} {k.kind}  {_arrow(k.old, k.new)}  [{k.severity}]")
                out.wrap(k.explanation, "         " if i == len(kids) - 1 else "      │  ")
    # A command is never wrapped: it must survive copy and paste.
    out.add()
    for line in _remedy_text(d, a):
        out.add(line)
    return out.render()


def diff_markdown(d: SnapshotDiff, *, a: str, b: str) -> str:
    counts = d.summary()
    lines = [f"### envsnap diff {_md_code(a)} → {_md_code(b)}", "",
             " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES)
             + _md(_grouped_note(d))]
    lines += [f"ignored: {n} {'change' if n == 1 else 'changes'} of {_md(what)}"
              for what, n in sorted(d.ignored.items())]
    if not d.changes:
        return "\n".join([*lines, "", "No differences."]) + "\n"
    details: list[str] = []
    for severity, entries in _by_severity(_tree(d.changes), lambda e: e[0].severity).items():
        if not entries:
            continue
        lines += ["", f"#### {_MD_MARK[severity]} {severity.capitalize()} ({len(entries)})", "",
                  "| Section | Name | Change | Old | New | Why |",
                  "|---|---|---|---|---|---|"]
        for block in _blocks(entries, verbose=False):
            c = block.change
            if c is None:
                names = [f"{m.name} {m.old}" for m in block.members]
                lines.append(f"| python.packages | **{len(names)} {block.title}** | removed | "
                             f"{_md(more_text(names, SUBJECTS_SHOWN))} | | {_md(block.why)} |")
                if len(names) > SUBJECTS_SHOWN:
                    details += _md_details(f"{len(names)} {block.title}", names)
            else:
                lines.append(f"| {_md(c.section)} | {_md_code(c.name)} | {c.kind} | "
                             f"{_md_code(c.old)} | {_md_code(c.new)} | {_md(c.explanation)} |")
            kids = block.kids
            if len(kids) > COLLAPSE_FROM:
                lines += [f"| ↳ | | | | | {_md(line.replace(' (-v lists each)', ''))} |"
                          for line in _collapsed_kids(kids, them=c is None)]
                details += _md_details(f"{len(kids)} changes they caused",
                                       [f"{k.name} {k.kind} {_arrow(k.old, k.new)}" for k in kids])
                continue
            lines += [f"| ↳ | {_md_code(k.name)} | {k.kind} ({_MD_MARK[k.severity]} {k.severity}) | "
                      f"{_md_code(k.old)} | {_md_code(k.new)} | {_md(k.explanation)} |"
                      for k in kids]
    lines += details
    lines += _md_remedy(d.remedy(a), "To bring B's Python environment to A's:")
    return "\n".join(lines) + "\n"


def _md_remedy(remedy: Remedy | None, heading: str) -> list[str]:
    if remedy is None:
        return []
    return (["", f"**{heading}**", "", "```sh", printable(remedy.command), "```"]
            + [f"- {_md(c)}" for c in remedy.caveats])


def _md_details(summary: str, items: Sequence[str]) -> list[str]:
    return ["", f"<details><summary>{_md(summary)}</summary>", "",
            *(f"- {_md(item)}" for item in items), "", "</details>"]


def render_diff(d: SnapshotDiff, fmt: str, *, a: str, b: str, color: bool = False,
                verbose: bool = False) -> str:
    if fmt == "json":
        return diff_json(d, a=a, b=b)
    if fmt == "markdown":
        return diff_markdown(d, a=a, b=b)
    return diff_text(d, a=a, b=b, color=color, verbose=verbose)


# ---------------------------------------------------------------------------------------------
# fleet


def _reference_line(f: FleetReport) -> str:
    if f.majority:
        return (f"against the majority configuration ({len(f.agree)} of {len(f.nodes)} nodes, "
                f"as on {f.reference})")
    return f"against {f.reference}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def fleet_data(f: FleetReport) -> dict[str, Any]:
    return {
        "schema": FLEET_SCHEMA, "reference": f.reference,
        "reference_kind": "majority" if f.majority else "baseline",
        "nodes": len(f.nodes), "agree": len(f.agree), "drifted": len(f.drifted),
        "summary": f.summary(), "agreeing_nodes": list(f.agree),
        "groups": [{"worst": g.worst, "count": len(g.nodes), "nodes": list(g.nodes),
                    "changes": [change_data(c) for c in g.changes]} for g in f.groups],
    }


def fleet_json(f: FleetReport) -> str:
    return _json(fleet_data(f))


NODES_SHOWN = 8  # node names listed per group before "and N more"
CHANGES_SHOWN = 20  # changes listed per group of nodes (JSON lists every one)


def _more_changes(g: NodeGroup) -> str | None:
    hidden = len(g.changes) - CHANGES_SHOWN
    return (f"... and {_plural(hidden, 'more change')} on these nodes (--format json lists "
            "them all)") if hidden > 0 else None


def fleet_text(f: FleetReport, *, color: bool = False) -> str:
    total = len(f.nodes)
    out = _Text(color)
    out.add(f"envsnap fleet report: {_plural(total, 'node')} {_reference_line(f)}")
    counts = f.summary()
    out.add(f"{len(f.drifted)} drifted (nodes by worst change: {_summary_line(counts)}); "
            f"{len(f.agree)} agree with the reference")
    if not f.groups:
        out.add()
        out.add("No drift: every node matches the reference.")
        return out.render()
    for g in f.groups:
        out.add()
        out.heading(f"{g.worst.upper()}: {_plural(len(g.nodes), 'node')} of {total}: "
                    f"{more_text(g.nodes, NODES_SHOWN)}", g.worst)
        for c in g.changes[:CHANGES_SHOWN]:
            out.add(f"  [{c.severity}] {c.section}: {c.name} {c.kind}  {_arrow(c.old, c.new)}")
            out.wrap(c.explanation)
        more = _more_changes(g)
        if more:
            out.add(f"  {more}")
    return out.render()


def fleet_markdown(f: FleetReport) -> str:
    total = len(f.nodes)
    counts = f.summary()
    reference = (f"the majority configuration ({len(f.agree)} of {total} nodes, as on "
                 f"{_md_code(f.reference)})" if f.majority else _md_code(f.reference))
    lines = [f"### envsnap fleet report: {_plural(total, 'node')} against {reference}", "",
             f"{len(f.drifted)} drifted · {len(f.agree)} agree · nodes by worst change: "
             + " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES)]
    if not f.groups:
        return "\n".join([*lines, "", "No drift: every node matches the reference."]) + "\n"
    for g in f.groups:
        lines += ["", f"#### {_MD_MARK[g.worst]} {_plural(len(g.nodes), 'node')} of {total}: "
                      f"{_md(more_text(g.nodes, NODES_SHOWN))}", "",
                  "| Severity | Section | Name | Change | Reference | Node | Why |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {_MD_MARK[c.severity]} {c.severity} | {_md(c.section)} | "
                  f"{_md_code(c.name)} | {c.kind} | {_md_code(c.old)} | {_md_code(c.new)} | "
                  f"{_md(c.explanation)} |" for c in g.changes[:CHANGES_SHOWN]]
        more = _more_changes(g)
        if more:
            lines += ["", _md(more)]
    return "\n".join(lines) + "\n"


def render_fleet(f: FleetReport, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return fleet_json(f)
    if fmt == "markdown":
        return fleet_markdown(f)
    return fleet_text(f, color=color)


# ---------------------------------------------------------------------------------------------
# check


def finding_data(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "kind": f.kind, "subject": f.subject, "severity": f.severity,
            "scope": f.scope, "expected": f.expected, "actual": f.actual,
            "explanation": f.explanation, "fix": f.fix}


def _remedy_data(r: Remedy | None) -> dict[str, Any] | None:
    return None if r is None else {"command": r.command, "caveats": list(r.caveats)}


def check_data(r: CheckResult, *, snapshot: str, fail_on: str) -> dict[str, Any]:
    return {
        "schema": CHECK_SCHEMA, "snapshot": snapshot, "policy": r.policy,
        "host_only": r.host_only, "fail_on": fail_on, "passed": not r.failed(fail_on),
        "thresholds": r.thresholds(fail_on),
        "summary": r.summary(), "checked": list(r.checked), "skipped": dict(r.skipped),
        "ignore": _ignore_data(r.ignore), "ignored": dict(r.ignored),
        "groups": [{"rule": g.rule, "kind": g.kind, "severity": g.severity,
                    "count": len(g.findings), "summary": g.summary,
                    "subjects": [f.subject for f in g.findings]} for g in r.groups()],
        "findings": [finding_data(f) for f in r.findings],
        "remedy": _remedy_data(r.remedy(snapshot)),
    }


def check_json(r: CheckResult, *, snapshot: str, fail_on: str) -> str:
    return _json(check_data(r, snapshot=snapshot, fail_on=fail_on))


def _verdict(r: CheckResult, fail_on: str) -> str:
    return "FAIL" if r.failed(fail_on) else "OK"


def gate_text(r: CheckResult, fail_on: str) -> str:
    """What fails the gate, in one line: the policy's threshold for the environment and the
    --fail-on threshold for the host (docs/diff-and-check.md#the-gate)."""
    t = r.thresholds(fail_on)
    env, host = t[ENVIRONMENT], t[HOST]
    if env is None or host is None:
        return "fails on: nothing (--fail-on never)"

    def level(s: str) -> str:
        return "any severity" if s == "info" else f"{s} or worse"

    by = f"policy {r.policy}" if env == r.policy_threshold else f"--fail-on {fail_on}"
    return (f"fails on: environment differences at {level(env)} ({by}), host findings at "
            f"{level(host)} (--fail-on {fail_on})")


def _finding_line(f: Finding) -> str:
    return f"{f.subject}  expected {f.expected or '-'}, found {f.actual or '-'}"


def _collapsed(g: FindingGroup) -> str:
    items = [f.subject if f.actual is None or f.expected is None
             else f"{f.subject} {f.actual}" for f in g.findings]
    return f"{g.summary}: {more_text(items, SUBJECTS_SHOWN)} (-v lists each with its fix)"


def check_text(r: CheckResult, *, snapshot: str, fail_on: str, color: bool = False,
               verbose: bool = False) -> str:
    verdict = _verdict(r, fail_on)
    out = _Text(color)
    head = f"envsnap check {snapshot}: {verdict} (policy {r.policy}" + (
        ", host only)" if r.host_only else ")")
    if verdict == "FAIL":
        out.heading(head, "critical")
    else:
        out.add(head)
    out.add(_summary_line(r.summary()))
    out.add(gate_text(r, fail_on))
    out.add(f"checked: {', '.join(r.checked) or 'nothing'}")
    for rule, why in sorted(r.skipped.items()):
        out.add(f"skipped {rule}: {why}")
    for what, n in sorted(r.ignored.items()):
        out.add(f"ignored: {n} {what}")
    for severity, groups in _by_severity(r.groups(), lambda g: g.severity).items():
        if not groups:
            continue
        out.add()
        out.heading(f"{severity.upper()} ({sum(len(g.findings) for g in groups)})", severity)
        for g in groups:
            if len(g.findings) == 1:
                f = g.findings[0]
                out.add(f"  {f.rule}: {_finding_line(f)}")
                out.wrap(f.explanation)
                if f.fix:  # never wrapped: a command must survive copy and paste
                    out.add(f"{_INDENT}fix: {f.fix}")
            elif verbose or len(g.findings) <= GROUP_SHOWN:
                out.add(f"  {g.rule}: {g.summary}")
                for f in g.findings:
                    out.add(f"    {_finding_line(f)}")
                    out.wrap(f.explanation, "        ")
                    if f.fix:
                        out.add(f"        fix: {f.fix}")
            else:
                out.wrap(f"{g.rule}: {_collapsed(g)}", "  ", _INDENT)
    remedy = r.remedy(snapshot)
    if remedy is not None:
        out.add()
        out.add("To bring this environment to the snapshot, run:")
        out.add(f"  {remedy.command}")
        for caveat in remedy.caveats:
            out.wrap(f"note: {caveat}", "  ", _INDENT)
    return out.render()


def check_markdown(r: CheckResult, *, snapshot: str, fail_on: str) -> str:
    counts = r.summary()
    verdict = _verdict(r, fail_on)
    lines = [f"### envsnap check {_md_code(snapshot)}: {'❌' if verdict == 'FAIL' else '✅'} "
             f"{verdict}", "",
             f"policy `{r.policy}`{' · host only' if r.host_only else ''} · "
             + " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES),
             "", _md(gate_text(r, fail_on))]
    lines += [f"ignored: {n} {_md(what)}" for what, n in sorted(r.ignored.items())]
    groups = r.groups()
    if groups:
        lines += ["", "| Severity | Rule | Subject | Expected | Found | Why | Fix |",
                  "|---|---|---|---|---|---|---|"]
        for g in groups:
            mark = f"{_MD_MARK[g.severity]} {g.severity}"
            if len(g.findings) == 1:
                f = g.findings[0]
                lines.append(f"| {mark} | {f.rule} | {_md(f.subject)} | {_md_code(f.expected)} | "
                             f"{_md_code(f.actual)} | {_md(f.explanation)} | {_md(f.fix)} |")
            else:
                lines.append(f"| {mark} | {g.rule} | **{_md(g.summary)}** (below) | | | | |")
        for g in groups:
            if len(g.findings) == 1:
                continue
            lines += ["", f"<details><summary>{_MD_MARK[g.severity]} {_md(g.summary)}</summary>",
                      "", "| Subject | Expected | Found | Why | Fix |", "|---|---|---|---|---|"]
            lines += [f"| {_md(f.subject)} | {_md_code(f.expected)} | {_md_code(f.actual)} | "
                      f"{_md(f.explanation)} | {_md(f.fix)} |" for f in g.findings]
            lines += ["", "</details>"]
    lines += _md_remedy(r.remedy(snapshot), "To bring this environment to the snapshot:")
    return "\n".join(lines) + "\n"


def render_check(r: CheckResult, fmt: str, *, snapshot: str, fail_on: str,
                 color: bool = False, verbose: bool = False) -> str:
    if fmt == "json":
        return check_json(r, snapshot=snapshot, fail_on=fail_on)
    if fmt == "markdown":
        return check_markdown(r, snapshot=snapshot, fail_on=fail_on)
    return check_text(r, snapshot=snapshot, fail_on=fail_on, color=color, verbose=verbose)
