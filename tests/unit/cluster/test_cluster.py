"""Fleet capture's pure parts: per-node file names (unique, safe, stable), outcomes and their summary."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from envsnap.cli.capture import output_path
from envsnap.cluster import MAX_NAME, NodeOutcome, file_names, short_name, summary

SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
HEX = "0123456789abcdef"

node_ids = st.text(HEX, min_size=56, max_size=56)
# Host names as nodes report them, hostile ones included; few distinct values, so they repeat.
hostnames = st.one_of(st.sampled_from(["vm", "gpu-07.cluster.local", "GPU-07", "localhost", "",
                                       "..", "a/b", "vm-0000aaaa", "ünï", "x" * 300]),
                      st.text(max_size=20))
clusters = st.dictionaries(node_ids, hostnames, max_size=40)


@given(clusters)
def test_names_are_unique_file_name_safe_and_short(nodes: dict[str, str]) -> None:
    names = file_names(nodes)
    assert set(names) == set(nodes)
    assert len({n.casefold() for n in names.values()}) == len(nodes)  # case-insensitive FS too
    for name in names.values():
        assert SAFE_NAME.fullmatch(name), name
        assert len(name) <= MAX_NAME


@given(clusters, st.randoms(use_true_random=False))
def test_names_are_stable(nodes: dict[str, str], rnd: object) -> None:
    """The same nodes get the same names whatever order Ray lists them in."""
    items = list(nodes.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    assert file_names(dict(items)) == file_names(nodes)


@given(clusters)
def test_a_unique_host_keeps_its_plain_name(nodes: dict[str, str]) -> None:
    names = file_names(nodes)
    shorts = [short_name(h).casefold() for h in nodes.values()]
    for node_id, host in nodes.items():
        if shorts.count(short_name(host).casefold()) == 1:
            assert names[node_id] == short_name(host)


def test_repeated_host_names_get_the_node_id() -> None:
    a, b, c = "61114709" + "0" * 48, "e2838157" + "1" * 48, "0badc0de" + "2" * 48
    assert file_names({a: "vm", b: "vm", c: "gpu-07.cluster.local"}) == {
        a: "vm-61114709", b: "vm-e2838157", c: "gpu-07"}


def test_ids_sharing_a_prefix_are_lengthened() -> None:
    a, b = "12345678a" + "0" * 47, "12345678b" + "0" * 47
    assert file_names({a: "vm", b: "vm"}) == {a: "vm-12345678a", b: "vm-12345678b"}


def test_a_host_named_like_another_nodes_name_does_not_collide() -> None:
    a, b, c = "12345678" + "0" * 48, "12345678" + "1" * 48, "ffffffff" + "0" * 48
    names = file_names({a: "vm", b: "vm-12345678", c: "vm"})
    assert names[b] == "vm-12345678"  # the unique host name keeps its name
    assert len(set(names.values())) == 3


def test_short_name_is_capture_placeholders_rule() -> None:
    """A Ray capture names a node's file as `capture -o snaps/{hostname}.toml` would."""
    for host in ("gpu-07.cluster.local", "..", "a b", "ünï", ".hidden"):
        assert short_name(host) == output_path("{hostname}", environ={}, hostname=host)


def test_outcomes_and_summary() -> None:
    ok = NodeOutcome(node_id="ab" * 28, hostname="vm", name="vm-abababab", ok=True,
                     path="snaps/vm-abababab.toml", seconds=1.234)
    bad = NodeOutcome(node_id="cd" * 28, hostname="vm", name="vm-cdcdcdcd", ok=False,
                      reason="the node died during capture")
    assert ok.to_dict() == {"name": "vm-abababab", "node_id": "ab" * 28, "hostname": "vm",
                            "path": "snaps/vm-abababab.toml", "ok": True, "reason": None,
                            "seconds": 1.23}
    assert summary([ok], "snaps/") == "1 of 1 nodes captured -> snaps/"
    assert summary([ok, bad], "snaps/") == ("1 of 2 nodes captured -> snaps/; "
                                            "failed: vm-cdcdcdcd")
