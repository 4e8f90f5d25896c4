"""Renderers for diff, fleet and check results: text, Markdown and versioned JSON; all pure."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import compat
from .drift import Change, SnapshotDiff
from .fleet import FleetDiff, FleetGroup
from .gate import CheckResult, Finding

FORMATS = ("text", "json", "markdown")

# JSON output schemas (docs/diff-and-check.md#json-output). Bump on incompatible changes;
# consumers must check `schema` before reading anything else.
DIFF_SCHEMA = "envsnap.diff/1"
FLEET_SCHEMA = "envsnap.fleet/1"
CHECK_SCHEMA = "envsnap.check/1"

WIDTH = 100  # wrap explanations to the project's line length
_INDENT = "      "

# ANSI SGR colours per severity (ECMA-48); used only when the caller asks for colour.
_COLOURS = {"critical": "1;31", "major": "33", "minor": "36", "info": "2"}
_RESET = "\x1b[0m"
_MD_MARK = {"critical": "🔴", "major": "🟠", "minor": "🟡", "info": "⚪"}


def _paint(text: str, severity: str, color: bool) -> str:
    return f"\x1b[{_COLOURS[severity]}m{text}{_RESET}" if color else text


def _summary_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in compat.SEVERITIES)


def _arrow(old: str | None, new: str | None) -> str:
    if old is None:
        return f"+ {new}"
    if new is None:
        return f"- {old}"
    return f"{old} -> {new}"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT,
                         break_long_words=False, break_on_hyphens=False)


def _by_severity(items: Iterable[Any], sev: Callable[[Any], str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {s: [] for s in compat.SEVERITIES}
    for item in items:
        groups[sev(item)].append(item)
    return groups


def _md(text: str | None) -> str:
    """A Markdown table cell: pipes escaped, no line breaks, code spans kept short."""
    if text is None:
        return ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_code(text: str | None) -> str:
    return f"`{_md(text).replace('`', chr(39))}`" if text else ""


# ---------------------------------------------------------------------------------------------
# diff


def change_data(c: Change) -> dict[str, Any]:
    return {"section": c.section, "name": c.name, "kind": c.kind, "severity": c.severity,
            "old": c.old, "new": c.new, "explanation": c.explanation}


def diff_data(d: SnapshotDiff, *, a: str, b: str) -> dict[str, Any]:
    return {"schema": DIFF_SCHEMA, "a": a, "b": b, "summary": d.summary(),
            "changes": [change_data(c) for c in d.changes]}


def diff_json(d: SnapshotDiff, *, a: str, b: str) -> str:
    return json.dumps(diff_data(d, a=a, b=b), indent=2, ensure_ascii=False) + "\n"


def diff_text(d: SnapshotDiff, *, a: str, b: str, color: bool = False) -> str:
    lines = [f"envsnap diff {a} -> {b}", _summary_line(d.summary())]
    if not d.changes:
        lines.append("")
        lines.append("No differences.")
        return "\n".join(lines) + "\n"
    for severity, changes in _by_severity(d.changes, lambda c: c.severity).items():
        if not changes:
            continue
        lines.append("")
        lines.append(_paint(f"{severity.upper()} ({len(changes)})", severity, color))
        for c in changes:
            lines.append(f"  {c.section}: {c.name} {c.kind}  {_arrow(c.old, c.new)}")
            lines.extend(_wrap(c.explanation))
    return "\n".join(lines) + "\n"


def diff_markdown(d: SnapshotDiff, *, a: str, b: str) -> str:
    counts = d.summary()
    lines = [f"### envsnap diff `{_md(a)}` → `{_md(b)}`", "",
             " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES)]
    if not d.changes:
        return "\n".join([*lines, "", "No differences."]) + "\n"
    for severity, changes in _by_severity(d.changes, lambda c: c.severity).items():
        if not changes:
            continue
        lines += ["", f"#### {_MD_MARK[severity]} {severity.capitalize()} ({len(changes)})", "",
                  "| Section | Name | Change | Old | New | Why |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {_md(c.section)} | `{_md(c.name)}` | {c.kind} | {_md_code(c.old)} | "
                  f"{_md_code(c.new)} | {_md(c.explanation)} |" for c in changes]
    return "\n".join(lines) + "\n"


def render_diff(d: SnapshotDiff, fmt: str, *, a: str, b: str, color: bool = False) -> str:
    if fmt == "json":
        return diff_json(d, a=a, b=b)
    if fmt == "markdown":
        return diff_markdown(d, a=a, b=b)
    return diff_text(d, a=a, b=b, color=color)


# ---------------------------------------------------------------------------------------------
# fleet


def _group_headline(g: FleetGroup, total: int) -> str:
    c = g.change
    what = {
        "added": f"{c.name} {c.new} added",
        "removed": f"{c.name} {c.old} missing",
    }.get(c.kind, f"{c.name} {c.new} instead of {c.old}")
    return f"{len(g.nodes)} of {total} nodes: {c.section}: {what}"


def fleet_data(f: FleetDiff) -> dict[str, Any]:
    return {
        "schema": FLEET_SCHEMA, "baseline": f.baseline, "nodes": len(f.nodes),
        "drifted": len(f.drifted), "summary": f.summary(),
        "changes": [{**change_data(g.change), "count": len(g.nodes), "nodes": list(g.nodes)}
                    for g in f.groups],
    }


def fleet_json(f: FleetDiff) -> str:
    return json.dumps(fleet_data(f), indent=2, ensure_ascii=False) + "\n"


def _node_list(nodes: tuple[str, ...], limit: int) -> str:
    shown = ", ".join(nodes[:limit])
    return shown + (f" and {len(nodes) - limit} more" if len(nodes) > limit else "")


NODES_SHOWN = 8  # node names listed per group before "and N more"


def fleet_text(f: FleetDiff, *, color: bool = False) -> str:
    total = len(f.nodes)
    lines = [f"envsnap fleet diff against {f.baseline}: {len(f.drifted)} of {total} nodes drifted",
             _summary_line(f.summary())]
    if not f.groups:
        return "\n".join([*lines, "", "No drift."]) + "\n"
    for severity, groups in _by_severity(f.groups, lambda g: g.change.severity).items():
        if not groups:
            continue
        lines += ["", _paint(f"{severity.upper()} ({len(groups)})", severity, color)]
        for g in groups:
            lines.append(f"  {_group_headline(g, total)}")
            lines.append(f"{_INDENT}nodes: {_node_list(g.nodes, NODES_SHOWN)}")
            lines.extend(_wrap(g.change.explanation))
    return "\n".join(lines) + "\n"


def fleet_markdown(f: FleetDiff) -> str:
    total = len(f.nodes)
    counts = f.summary()
    lines = [f"### envsnap fleet diff against `{_md(f.baseline)}`", "",
             f"{len(f.drifted)} of {total} nodes drifted · "
             + " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES)]
    if not f.groups:
        return "\n".join([*lines, "", "No drift."]) + "\n"
    lines += ["", "| Severity | Nodes | Section | Name | Baseline | Drifted to | Why |",
              "|---|---|---|---|---|---|---|"]
    for g in f.groups:
        c = g.change
        lines.append(f"| {_MD_MARK[c.severity]} {c.severity} | {len(g.nodes)} of {total}: "
                     f"{_md(_node_list(g.nodes, NODES_SHOWN))} | {_md(c.section)} | "
                     f"`{_md(c.name)}` | {_md_code(c.old)} | {_md_code(c.new)} | "
                     f"{_md(c.explanation)} |")
    return "\n".join(lines) + "\n"


def render_fleet(f: FleetDiff, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return fleet_json(f)
    if fmt == "markdown":
        return fleet_markdown(f)
    return fleet_text(f, color=color)


# ---------------------------------------------------------------------------------------------
# check


def finding_data(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "subject": f.subject, "severity": f.severity,
            "expected": f.expected, "actual": f.actual, "explanation": f.explanation,
            "fix": f.fix}


def check_data(r: CheckResult, *, snapshot: str, fail_on: str) -> dict[str, Any]:
    return {
        "schema": CHECK_SCHEMA, "snapshot": snapshot, "policy": r.policy,
        "host_only": r.host_only, "fail_on": fail_on,
        "passed": fail_on == "never" or not r.failed(fail_on),
        "summary": r.summary(), "checked": list(r.checked), "skipped": dict(r.skipped),
        "findings": [finding_data(f) for f in r.findings],
    }


def check_json(r: CheckResult, *, snapshot: str, fail_on: str) -> str:
    return json.dumps(check_data(r, snapshot=snapshot, fail_on=fail_on), indent=2,
                      ensure_ascii=False) + "\n"


def _verdict(r: CheckResult, fail_on: str) -> str:
    failed = fail_on != "never" and r.failed(fail_on)
    return "FAIL" if failed else "OK"


def check_text(r: CheckResult, *, snapshot: str, fail_on: str, color: bool = False) -> str:
    verdict = _verdict(r, fail_on)
    head = f"envsnap check {snapshot}: {verdict} (policy {r.policy}" + (
        ", host only)" if r.host_only else ")")
    lines = [_paint(head, "critical", color) if verdict == "FAIL" else head,
             _summary_line(r.summary()),
             f"checked: {', '.join(r.checked) or 'nothing'}"]
    lines += [f"skipped {rule}: {why}" for rule, why in sorted(r.skipped.items())]
    for severity, findings in _by_severity(r.findings, lambda f: f.severity).items():
        if not findings:
            continue
        lines += ["", _paint(f"{severity.upper()} ({len(findings)})", severity, color)]
        for f in findings:
            lines.append(f"  {f.rule}: {f.subject}  expected {f.expected or '-'}, "
                         f"found {f.actual or '-'}")
            lines.extend(_wrap(f.explanation))
            if f.fix:
                lines.extend(_wrap(f"fix: {f.fix}"))
    return "\n".join(lines) + "\n"


def check_markdown(r: CheckResult, *, snapshot: str, fail_on: str) -> str:
    counts = r.summary()
    verdict = _verdict(r, fail_on)
    lines = [f"### envsnap check `{_md(snapshot)}`: {'❌' if verdict == 'FAIL' else '✅'} "
             f"{verdict}", "",
             f"policy `{r.policy}`{' · host only' if r.host_only else ''} · "
             + " · ".join(f"{_MD_MARK[s]} **{counts[s]}** {s}" for s in compat.SEVERITIES)]
    if r.findings:
        lines += ["", "| Severity | Rule | Subject | Expected | Found | Why | Fix |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {_MD_MARK[f.severity]} {f.severity} | {f.rule} | {_md(f.subject)} | "
                  f"{_md_code(f.expected)} | {_md_code(f.actual)} | {_md(f.explanation)} | "
                  f"{_md(f.fix)} |" for f in r.findings]
    return "\n".join(lines) + "\n"


def render_check(r: CheckResult, fmt: str, *, snapshot: str, fail_on: str,
                 color: bool = False) -> str:
    if fmt == "json":
        return check_json(r, snapshot=snapshot, fail_on=fail_on)
    if fmt == "markdown":
        return check_markdown(r, snapshot=snapshot, fail_on=fail_on)
    return check_text(r, snapshot=snapshot, fail_on=fail_on, color=color)
