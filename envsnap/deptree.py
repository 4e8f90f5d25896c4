"""Looking inside one snapshot: its packages, its dependency tree, why a package is there (pure)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

from .graph import Graph
from .redact import redact_text
from .snapshot import PythonEnv
from .text import printable

# Bounds on what one command prints, whatever the graph: a tree repeats a shared dependency
# under every package that requires it (as pipdeptree does), which a hostile graph can turn
# into exponentially many lines, and a 150,000-package chain is 150,000 levels deep.
MAX_LINES = 10_000
MAX_DEPTH = 100
MAX_PATHS = 50
MAX_STEPS = 1_000_000  # how far `why` searches for paths before it says it stopped
PATH_SHOWN = 12  # a longer path is shown as its first and last PATH_SHOWN // 2 packages
_CLASSIFIER_PREFIX = "License :: "


@lru_cache(maxsize=65536)
def _v(value: str) -> str:
    """One value as it may be shown: the redaction rules applied to it alone. These views are
    not passed through them line by line: "secretstorage==1.0", "license": "MIT" or
    pipdeptree's "key": "oauthlib" read to them as assignments to secret names."""
    return redact_text(value)


def _classifier(value: str) -> str:
    rest = value.removeprefix(_CLASSIFIER_PREFIX)  # "License :" reads as an assignment too
    return value[:len(value) - len(rest)] + _v(rest)


# ---------------------------------------------------------------------------------------------
# Packages


def package_rows(py: PythonEnv | None) -> list[dict[str, Any]]:
    """Every package as plain data, by name: what `show --packages --json` prints."""
    rows = []
    for p in py.packages if py is not None else ():
        row: dict[str, Any] = {"name": _v(p.name), "version": _v(p.version),
                               "requested": p.requested, "installer": p.installer and _v(p.installer),
                               "owner": p.owner}
        if p.source is not None:
            row["source"] = {"kind": p.source.kind, "url": p.source.url and _v(p.source.url)}
        row["license"] = {"expression": p.license and _v(p.license),
                          "classifiers": [_classifier(c) for c in p.license_classifiers]}
        row["requires"] = [_v(r) for r in p.requires]
        rows.append(row)
    return rows


def render_packages(py: PythonEnv | None) -> str:
    """`pip list`'s two columns, and what else a package was: requested, its source, conda's."""
    pkgs = py.packages if py is not None else ()
    if not pkgs:
        return "no Python packages in this snapshot\n"
    width_n = max(7, *(len(p.name) for p in pkgs))
    width_v = max(7, *(len(p.version) for p in pkgs))
    lines = [f"{'Package':<{width_n}}  {'Version':<{width_v}}  Notes",
             f"{'-' * width_n}  {'-' * width_v}  -----"]
    for p in pkgs:
        notes = []
        if p.requested:
            notes.append("requested")
        if p.source is not None:
            notes.append(f"{p.source.kind}: {_v(p.source.url)}" if p.source.url else p.source.kind)
        if p.owner:
            notes.append(f"owned by {p.owner}")
        lines.append(f"{_v(p.name):<{width_n}}  {_v(p.version):<{width_v}}  {', '.join(notes)}"
                     .rstrip())
    requested = sum(p.requested for p in pkgs)
    lines.append(f"{len(pkgs)} package{'s' if len(pkgs) != 1 else ''}, {requested} requested")
    return "".join(printable(line) + "\n" for line in lines)


# ---------------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One line of the tree: a package at a depth, as its parent requires it."""

    depth: int
    name: str
    version: str
    required: str | None  # the parent's specifier ("Any" when it has none); None at the top
    cycle: bool = False  # already on the way down to it: not expanded again
    cut: bool = False  # at the depth limit, with dependencies not shown


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    lines: tuple[Line, ...]
    complete: bool  # False when MAX_LINES (or the caller's limit) stopped it


def required_spec(graph: Graph, parent: str, child: str) -> str:
    """How ``parent`` requires ``child``: its specifier ("Any" for none), several joined."""
    specs = [str(r.specifier) for r in graph.requires.get(parent, ())
             if r.name == child and r.specifier is not None]
    return ",".join(specs) or "Any"


def tree(graph: Graph, *, depth: int = MAX_DEPTH, limit: int = MAX_LINES) -> Tree:
    """pipdeptree's tree: each top-level package (Graph.roots) with everything it requires
    below it, a shared dependency under each package that requires it, children by name. A
    package already on the way down is shown and not expanded (a dependency cycle). At most
    ``depth`` levels below the top and ``limit`` lines."""
    lines = list(islice(_lines(graph, depth), limit + 1))
    return Tree(lines=tuple(lines[:limit]), complete=len(lines) <= limit)


def _lines(graph: Graph, depth: int) -> Iterator[Line]:
    for root in graph.roots():
        # Depth first, one iterator per level: no recursion, however deep the graph.
        yield Line(depth=0, name=root, version=graph.versions[root], required=None)
        path = [root]
        on_path = {root}
        stack: list[Iterator[str]] = [iter(graph.children(root))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            deps = graph.children(child)
            cycle = child in on_path
            cut = not cycle and bool(deps) and len(stack) >= depth
            yield Line(depth=len(stack), name=child, version=graph.versions[child],
                       required=required_spec(graph, path[-1], child), cycle=cycle, cut=cut)
            if not cycle and not cut:
                path.append(child)
                on_path.add(child)
                stack.append(iter(deps))


def render_tree(t: Tree) -> str:
    """pipdeptree's text layout: ``name==version`` at the top, then
    ``├── name [required: >=2, installed: 3.0]`` with ``│`` rules down each open level."""
    if not t.lines:
        return "no Python packages in this snapshot\n"
    out: list[str] = []
    # For each line, whether a later sibling follows it: scan from the end, one open flag per
    # depth (a line at depth d closes every deeper level).
    last: list[bool] = [True] * len(t.lines)
    sibling_after: dict[int, bool] = {}
    for i in range(len(t.lines) - 1, -1, -1):
        d = t.lines[i].depth
        last[i] = not sibling_after.get(d, False)
        sibling_after = {k: v for k, v in sibling_after.items() if k < d}
        sibling_after[d] = True
    open_levels: list[bool] = []  # per depth above: whether its rule continues
    for line, is_last in zip(t.lines, last, strict=True):
        if line.depth == 0:
            out.append(f"{_v(line.name)}=={_v(line.version)}")
            open_levels = []
            continue
        del open_levels[line.depth - 1:]
        prefix = "".join("│   " if more else "    " for more in open_levels)
        mark = "└── " if is_last else "├── "
        note = " (cycle: not expanded again)" if line.cycle else (
            " (deeper levels not shown)" if line.cut else "")
        out.append(f"{prefix}{mark}{_v(line.name)} [required: {_v(line.required or '')}, "
                   f"installed: {_v(line.version)}]{note}")
        open_levels.append(not is_last)
    if not t.complete:
        out.append(f"... stopped at {len(t.lines):,} lines (--limit, --depth or --json "
                   "--depth to see less at a time)")
    return "".join(printable(line) + "\n" for line in out)


def tree_data(graph: Graph, *, depth: int = MAX_DEPTH, limit: int = MAX_LINES) -> dict[str, Any]:
    """The tree in pipdeptree's ``--json-tree`` shape (key, package_name, installed_version,
    required_version, dependencies), so either tool's output feeds the same scripts; the
    same bounds as the text."""
    t = tree(graph, depth=depth, limit=limit)
    top: list[dict[str, Any]] = []
    chain: list[list[dict[str, Any]]] = [top]
    for line in t.lines:
        node: dict[str, Any] = {"key": _v(line.name), "package_name": _v(line.name),
                                "installed_version": _v(line.version),
                                "required_version": _v(line.required or line.version),
                                "dependencies": []}
        if line.cycle:
            node["cycle"] = True
        if line.cut:
            node["truncated"] = True
        del chain[line.depth + 1:]
        chain[line.depth].append(node)
        chain.append(node["dependencies"])
    return {"tree": top, "complete": t.complete}


# ---------------------------------------------------------------------------------------------
# Why


@dataclass(frozen=True, slots=True, kw_only=True)
class Why:
    name: str
    version: str
    requested: bool
    top_level: bool  # nothing installed requires it
    paths: tuple[tuple[str, ...], ...]  # each from a top-level or requested package down to name
    complete: bool  # False when MAX_PATHS or MAX_STEPS stopped the search


def why(graph: Graph, name: str, *, limit: int = MAX_PATHS, steps: int = MAX_STEPS) -> Why:
    """Every path by which ``name`` is installed: from each package installed on request or
    at the top of the environment (Graph.roots), down the requirements to ``name``, simple
    paths only; the shortest first as far as a depth-first search allows (each step goes to
    the requirer nearest a start). At most ``limit`` paths and ``steps`` steps."""
    requirers = graph.requirers()
    starts = {n for n, p in graph.packages.items() if p.requested} | set(graph.roots())
    # Distance from the nearest start, down the requirements: breadth first from every start.
    # A requirer no start reaches is a dead end (only a dependency cycle requires it).
    near: dict[str, int] = dict.fromkeys(starts, 0)
    queue = deque(sorted(starts))
    while queue:
        n = queue.popleft()
        for dep in graph.children(n):
            if dep not in near:
                near[dep] = near[n] + 1
                queue.append(dep)

    def up(n: str) -> list[str]:
        return sorted((r for r in requirers.get(n, ()) if r != n and r in near),
                      key=lambda r: (near[r], r))

    paths: list[tuple[str, ...]] = []
    path = [name]
    on_path = {name}
    stack = [iter(up(name))]
    if name in starts:
        paths.append((name,))
    complete = True
    while stack:
        steps -= 1
        if len(paths) >= limit or steps < 0:
            complete = False
            break
        user = next(stack[-1], None)
        if user is None:
            stack.pop()
            on_path.discard(path.pop())
            continue
        if user in on_path:
            continue
        path.append(user)
        on_path.add(user)
        if user in starts:
            paths.append(tuple(reversed(path)))
        stack.append(iter(up(user)))
    pkg = graph.packages[name]
    return Why(name=name, version=pkg.version, requested=pkg.requested,
               top_level=not requirers.get(name, set()) - {name}, paths=tuple(paths),
               complete=complete)


def render_why(w: Why, graph: Graph) -> str:
    head = f"{_v(w.name)} {_v(w.version)}"
    lines = []
    if w.requested:
        lines.append(f"{head} was installed on request (REQUESTED).")
    elif w.top_level:
        lines.append(f"{head} is at the top: nothing installed requires it, and it was not "
                     "recorded as requested.")
    chains = [p for p in w.paths if len(p) > 1]
    if chains:
        more = "" if w.complete else " (more exist: the search stopped; --limit N to see more)"
        lines.append(f"{head} is required through {len(chains)} path"
                     f"{'s' if len(chains) != 1 else ''} from a top-level or requested "
                     f"package{more}:")
        lines += ["  " + _path_text(p, graph) for p in chains]
    elif not (w.requested or w.top_level):
        lines.append(f"{head}: no path from a top-level or requested package found.")
    return "".join(printable(line) + "\n" for line in lines)


def _path_text(path: tuple[str, ...], graph: Graph) -> str:
    def step(n: str) -> str:
        return f"{_v(n)} {_v(graph.versions[n])}"

    if len(path) <= PATH_SHOWN:
        return " -> ".join(map(step, path))
    half = PATH_SHOWN // 2
    return (" -> ".join(map(step, path[:half])) + f" -> ... {len(path) - PATH_SHOWN:,} more ... -> "
            + " -> ".join(map(step, path[-half:])))


def why_data(w: Why, graph: Graph) -> dict[str, Any]:
    return {"name": _v(w.name), "version": _v(w.version), "requested": w.requested,
            "top_level": w.top_level, "complete": w.complete,
            "paths": [[{"name": _v(n), "version": _v(graph.versions[n])} for n in p]
                      for p in w.paths if len(p) > 1]}
