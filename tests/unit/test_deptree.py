"""deptree.py (show --packages / --tree, why): the tree and the paths agree with their plain
recursive definitions over random graphs, cycles included; the bounds hold; the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from envsnap import deptree
from envsnap.cli import Console, main
from envsnap.graph import Graph
from envsnap.io import dump
from envsnap.snapshot import Package, PythonEnv, Snapshot, Source

_NAMES = ["a", "b", "c", "d", "e", "f"]


@st.composite
def envs(draw: st.DrawFn) -> PythonEnv:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, unique=True))
    spec = st.sampled_from(["", ">=1", "<2,>=1"])
    return PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=n, version="1.0", requested=draw(st.booleans()),
                requires=tuple(sorted({f"{t}{draw(spec)}" for t in draw(
                    st.lists(st.sampled_from(_NAMES), max_size=3))})))
        for n in sorted(names)))


def _expand(graph: Graph, name: str, depth: int, path: tuple[str, ...]
            ) -> list[tuple[int, str, bool]]:
    """The tree under ``name`` by plain recursion: (depth, name, cycle) per line."""
    out = []
    for child in sorted(graph.dependencies(name)):
        cycle = child in path
        out.append((depth, child, cycle))
        if not cycle:
            out += _expand(graph, child, depth + 1, (*path, child))
    return out


@settings(max_examples=300, deadline=None)
@given(envs())
def test_tree_is_the_recursive_expansion_of_every_root(py: PythonEnv) -> None:
    graph = Graph(py)
    roots = graph.roots()
    # every package is under a root, and the roots nothing requires come first, by name
    reached = set(roots)
    for r in roots:
        reached |= {n for _, n, _ in _expand(graph, r, 1, (r,))}
    assert reached == set(graph.versions)
    unrequired = sorted(n for n in graph.versions if not graph.dependents(n))
    assert roots[:len(unrequired)] == unrequired
    want = []
    for r in roots:
        want += [(0, r, False), *_expand(graph, r, 1, (r,))]
    tree = deptree.tree(graph)
    assert tree.complete
    assert [(line.depth, line.name, line.cycle) for line in tree.lines] == want


def _all_paths(graph: Graph, name: str) -> set[tuple[str, ...]]:
    starts = {n for n, p in graph.packages.items() if p.requested} | set(graph.roots())
    found: set[tuple[str, ...]] = set()

    def walk(path: tuple[str, ...]) -> None:
        if path[0] in starts and len(path) > 1:
            found.add(path)
        for user in graph.dependents(path[0]):
            if user not in path:
                walk((user, *path))

    walk((name,))
    return found


@settings(max_examples=300, deadline=None)
@given(envs(), st.sampled_from(_NAMES))
def test_why_finds_every_simple_path_from_a_start(py: PythonEnv, name: str) -> None:
    graph = Graph(py)
    if name not in graph:
        return
    answer = deptree.why(graph, name, limit=10_000)
    assert answer.complete
    chains = [p for p in answer.paths if len(p) > 1]
    assert len(chains) == len(set(chains))
    assert set(chains) == _all_paths(graph, name)
    assert answer.requested == graph.packages[name].requested


def _chain_graph(n: int) -> Graph:
    return Graph(PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"p{i}", version="1.0", requires=(f"p{i + 1}",) if i + 1 < n else ())
        for i in range(n))))


def _ladder_graph(levels: int) -> Graph:
    # Each level's two packages require both of the next: 2**levels paths to the bottom.
    return Graph(PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=f"{s}{i}", version="1.0",
                requires=(f"a{i + 1}", f"b{i + 1}") if i + 1 < levels else ())
        for i in range(levels) for s in "ab")))


def test_a_tree_exponential_in_paths_stops_at_its_line_limit() -> None:
    tree = deptree.tree(_ladder_graph(40), limit=500)
    assert len(tree.lines) == 500 and not tree.complete
    assert deptree.render_tree(tree).endswith("... stopped at 500 lines (--limit, --depth or "
                                              "--json --depth to see less at a time)\n")
    deep = deptree.tree(_chain_graph(1000), depth=5)
    assert [line.name for line in deep.lines] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert deep.lines[-1].cut and deep.complete


def test_why_stops_at_its_limit_and_shows_long_paths_by_their_ends() -> None:
    ladder = _ladder_graph(40)
    answer = deptree.why(ladder, "a39", limit=7)
    assert len(answer.paths) == 7 and not answer.complete
    assert all(len(p) == 40 for p in answer.paths)  # every path is 40 packages long
    assert "more exist" in deptree.render_why(answer, ladder)
    chain = _chain_graph(50)
    text = deptree.render_why(deptree.why(chain, "p49"), chain)
    assert text.splitlines()[1] == ("  p0 1.0 -> p1 1.0 -> p2 1.0 -> p3 1.0 -> p4 1.0 -> p5 1.0 -> "
                                    "... 38 more ... -> p44 1.0 -> p45 1.0 -> p46 1.0 -> p47 1.0 "
                                    "-> p48 1.0 -> p49 1.0")


def _snapshot() -> Snapshot:
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=(
        Package(name="requests", version="2.32.3", requested=True,
                requires=("certifi>=2017.4.17", "idna<4,>=2.5", "urllib3<3,>=1.21.1")),
        Package(name="certifi", version="2024.8.30", license="MPL-2.0"),
        Package(name="idna", version="3.7",
                license_classifiers=("License :: OSI Approved :: BSD License",)),
        Package(name="urllib3", version="2.2.3"),
        Package(name="mylib", version="0.1", requested=True, requires=("requests",),
                source=Source(kind="editable", url="file:///src/mylib")),
    )))


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out, err))
    return rc, out.getvalue(), err.getvalue()


def test_show_tree_as_pipdeptree_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    dump(_snapshot(), path)
    rc, out, _ = _run("show", str(path), "--tree")
    assert rc == 0
    assert out == (
        "mylib==0.1\n"
        "└── requests [required: Any, installed: 2.32.3]\n"
        "    ├── certifi [required: >=2017.4.17, installed: 2024.8.30]\n"
        "    ├── idna [required: <4,>=2.5, installed: 3.7]\n"
        "    └── urllib3 [required: <3,>=1.21.1, installed: 2.2.3]\n")
    empty = tmp_path / "empty.toml"
    dump(Snapshot(), empty)
    assert _run("show", str(empty), "--tree")[1] == "no Python packages in this snapshot\n"
    assert _run("show", str(empty), "--packages")[1] == "no Python packages in this snapshot\n"
    rc, out, _ = _run("show", str(path), "--tree", "--json")
    (top,) = json.loads(out)["tree"]
    assert (top["key"], top["installed_version"], top["required_version"]) == ("mylib", "0.1", "0.1")
    (req,) = top["dependencies"]
    assert [d["key"] for d in req["dependencies"]] == ["certifi", "idna", "urllib3"]
    assert req["dependencies"][1]["required_version"] == "<4,>=2.5"


def test_show_packages(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    dump(_snapshot(), path)
    rc, out, _ = _run("show", str(path), "--packages")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Package", "Version", "Notes"]
    assert "mylib     0.1        requested, editable: file:///src/mylib" in lines
    assert lines[-1] == "5 packages, 2 requested"
    rows = {r["name"]: r for r in json.loads(_run("show", str(path), "--packages", "--json")[1])}
    assert rows["certifi"]["license"] == {"expression": "MPL-2.0", "classifiers": []}
    assert rows["idna"]["license"] == {"expression": None,
                                       "classifiers": ["License :: OSI Approved :: BSD License"]}
    assert rows["mylib"]["source"] == {"kind": "editable", "url": "file:///src/mylib"}


def test_why_command(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    dump(_snapshot(), path)
    rc, out, _ = _run("why", str(path), "IDNA")
    assert rc == 0
    assert out == ("idna 3.7 is required through 2 paths from a top-level or requested package:\n"
                   "  requests 2.32.3 -> idna 3.7\n"
                   "  mylib 0.1 -> requests 2.32.3 -> idna 3.7\n")
    rc, out, _ = _run("why", str(path), "requests", "--json")
    data = json.loads(out)
    assert data["requested"] and data["complete"]
    assert data["paths"] == [[{"name": "mylib", "version": "0.1"},
                              {"name": "requests", "version": "2.32.3"}]]
    rc, out, err = _run("why", str(path), "urllib")
    assert rc == 2 and out == ""
    assert err == f"envsnap: error: urllib is not installed in {path} (did you mean urllib3?)\n"


def test_values_are_redacted_one_by_one(tmp_path: Path) -> None:
    # Each value goes through the redaction rules on its own: a token-shaped pin is masked,
    # while names the whole-line rules would read as assignments to secret names
    # ("oauthlib==3.2.2", pipdeptree's "key": "secretstorage") are shown as they are.
    token = "ghp_" + "a1B2c3D4e5" * 4
    path = tmp_path / "s.toml"
    dump(Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=(
        Package(name="oauthlib", version="3.2.2", requested=True,
                requires=(f"secretstorage==={token}",)),
        Package(name="secretstorage", version=token)))), path)
    outputs = [_run("show", str(path), "--tree")[1], _run("show", str(path), "--tree", "--json")[1],
               _run("show", str(path), "--packages")[1],
               _run("show", str(path), "--packages", "--json")[1],
               _run("why", str(path), "secretstorage")[1],
               _run("why", str(path), "secretstorage", "--json")[1]]
    for out in outputs:
        assert token not in out and "****" in out, out
        assert "oauthlib" in out and "secretstorage" in out, out
    assert outputs[0].splitlines() == ["oauthlib==3.2.2",
                                       "└── secretstorage [required: ===****, installed: ****]"]
    assert json.loads(outputs[1])["tree"][0]["key"] == "oauthlib"
