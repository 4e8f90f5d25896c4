"""graph.py: the requirement split agrees with packaging; reach, broken_among and the Graph's
edges agree with their plain definitions (the pip check equivalence runs in integration)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import support
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from envsnap.graph import (
    Graph,
    broken_requirements,
    parse_requirement,
    requirement,
    satisfied,
    transitive,
)
from envsnap.probes.python import requirement_string
from envsnap.snapshot import Package, PythonEnv

CORPUS = support.REPO / "tests" / "data" / "metadata-corpus"


def _corpus_requirements() -> list[str]:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    out: set[str] = set()
    for entry in expected.values():
        for text in entry.get("requires") or ():
            out.add(text)
    return sorted(out)


def _agrees(text: str) -> None:
    ref = parse_requirement(text)
    ours = requirement(text)
    if ref is None:
        assert ours is None, text
        return
    assert ours is not None, text
    assert ours.name == canonicalize_name(ref.name), text
    assert str(ours.specifier or "") == str(ref.specifier), text


def test_requirement_split_agrees_with_packaging_over_the_metadata_corpus() -> None:
    raw = _corpus_requirements()
    assert len(raw) > 1000  # the corpus's Requires-Dist lines, markers and all
    recorded = set()
    for text in raw:
        _agrees(text)  # the raw line (markers, spaces, URLs: packaging's path)
        ref = parse_requirement(text)
        if ref is not None and ref.url is None:
            recorded.add(requirement_string(ref))
    assert len(recorded) > 1000
    for text in sorted(recorded):  # the form capture writes
        _agrees(text)


_REQ_CHARS = st.sampled_from([*list("aZ09._-[],<>=!~*+ ;@"), "1.0", "2", ".*", "rc1", "post1"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_REQ_CHARS, min_size=1, max_size=14).map("".join))
def test_requirement_split_agrees_with_packaging_on_generated_strings(text: str) -> None:
    _agrees(text)


@pytest.mark.parametrize("text", ["a>=1,", "a>=1,,<2", "a<" * 40 + " ", "a" * 500 + "!"])
def test_strings_packaging_refuses_are_refused(text: str) -> None:
    _agrees(text)


def test_satisfied_follows_pip_check() -> None:
    rich = requirement("rich<14")
    assert rich is not None
    assert satisfied(rich, "13.9.4") and not satisfied(rich, "15.0.0")
    assert not satisfied(rich, None)
    assert satisfied(rich, "not a version")  # pip does not judge what it cannot parse
    pre = requirement("x>=1.0")
    assert pre is not None and satisfied(pre, "2.0rc1")  # pre-releases allowed


def env(**requires: tuple[str, ...]) -> PythonEnv:
    return PythonEnv(version="3.11.7", implementation="CPython", packages=tuple(
        Package(name=name, version="1.0", requires=reqs) for name, reqs in requires.items()))


_NAMES = ["a", "b", "c", "d", "e", "f", "g"]


@st.composite
def graphs(draw: st.DrawFn) -> PythonEnv:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, unique=True))
    spec = st.sampled_from(["", ">=1", "<1", "==1.0", ">=2"])
    reqs = {n: tuple(sorted({f"{t}{draw(spec)}" for t in draw(st.lists(st.sampled_from(_NAMES),
                                                                        max_size=4))}))
            for n in names}
    return env(**reqs)


@settings(max_examples=400, deadline=None)
@given(graphs())
def test_reach_counts_the_transitive_dependents(py: PythonEnv) -> None:
    graph = Graph(py)
    edges = graph.dependents_map()
    reach = graph.reach(graph.versions)
    assert reach == {n: len(transitive(n, edges)) for n in graph.versions}
    assert reach.at_least == frozenset()
    assert graph.reach(["nope"]) == {}


@settings(max_examples=400, deadline=None)
@given(graphs(), st.sampled_from([0, 64, 256, 1024]), st.sets(st.sampled_from(_NAMES)))
def test_past_the_budget_counts_are_flagged_lower_bounds(py: PythonEnv, budget: int,
                                                          asked: set[str]) -> None:
    graph = Graph(py)
    edges = graph.dependents_map()
    reach = graph.reach(sorted(asked), budget=budget)
    assert set(reach) == asked & set(graph.versions)
    for name, count in reach.items():
        exact = len(transitive(name, edges))
        if name in reach.at_least:
            assert count <= exact
        else:
            assert count == exact, name


@settings(max_examples=400, deadline=None)
@given(graphs(), st.sets(st.sampled_from(_NAMES)), st.sets(st.sampled_from(_NAMES)))
def test_broken_among_is_the_full_set_restricted(py: PythonEnv, who: set[str],
                                                 required: set[str]) -> None:
    graph = Graph(py)
    full = broken_requirements(py)
    want = [b for b in full if b.dependent in who or b.required in required]
    assert list(graph.broken_among(who, required)) == want


def test_edges_ignore_self_requirements_and_missing_packages() -> None:
    graph = Graph(env(a=("a", "b>=1", "zz"), b=()))
    assert graph.dependencies("a") == {"b"}
    assert graph.dependents("b") == {"a"} and graph.dependents("zz") == frozenset()
    assert graph.requirers()["zz"] == {"a"}
    assert [b.sentence() for b in graph.broken()] == ["a 1.0 requires zz, which is not installed."]


def test_reach_is_one_pass_on_a_long_chain() -> None:
    # 3,000 packages in a chain plus a cycle at the top: no recursion limit, each counted once.
    n = 3000
    reqs = {f"p{i}": (f"p{i - 1}",) for i in range(1, n)}
    reqs["p0"] = (f"p{n - 1}",)  # close the cycle: everyone depends on everyone
    graph = Graph(env(**reqs))
    assert graph.reach(["p0", "p1500"]) == {"p0": n - 1, "p1500": n - 1}
    open_chain = Graph(env(**{**reqs, "p0": ()}))
    assert open_chain.reach(["p0", "p2999"]) == {"p0": n - 1, "p2999": 0}


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reach_of_a_long_chain_is_exact_and_linear_in_memory() -> None:
    # A hostile snapshot's chain (the command-line test runs 150,000): every package's count,
    # exactly, in memory that grows with the chain (a set per package: n²/2 bits, 225 MB here).
    n = 60_000
    graph = Graph(env(**{f"p{i}": (f"p{i + 1}",) for i in range(n)}))
    graph.requirers()
    reach = graph.reach(graph.versions)
    assert reach == {f"p{i}": i for i in range(n)} and not reach.at_least
    assert _peak_bytes(lambda: graph.reach(graph.versions)) < 120 * n * 8


def test_a_ladder_past_the_budget_gives_lower_bounds_in_bounded_memory() -> None:
    # Two packages per level, each required by both of the level above: every count is a
    # union of two sets, 2i for level i. Exact bitsets would take n²/4 bits; past the budget
    # the counts are lower bounds, flagged, and the memory stays linear.
    levels = 30_000
    reqs = {f"{side}{i}": (f"a{i + 1}", f"b{i + 1}") if i + 1 < levels else ()
            for i in range(levels) for side in "ab"}
    graph = Graph(env(**reqs))
    graph.requirers()
    reach = graph.reach(graph.versions)
    assert reach.at_least and len(reach) == 2 * levels
    for name, count in reach.items():
        exact = 2 * int(name[1:])
        assert count == exact if name not in reach.at_least else count <= exact
    assert reach["a1"] == 2 and "a1" not in reach.at_least  # near the top: exact
    assert _peak_bytes(lambda: graph.reach(graph.versions)) < graph.budget() + 400 * levels * 8


def test_corpus_is_where_the_docstring_says() -> None:
    assert Path(CORPUS, "SOURCES.md").exists()
