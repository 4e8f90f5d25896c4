"""envsnap fleet report: cluster rules, grouping by identical drift, the majority reference,
the worker-process reader (against the in-process one), bad nodes, and the package memo."""

from __future__ import annotations

import copy
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import valid_snapshots

from envsnap import io as snapio
from envsnap import pool
from envsnap.cli import Console, main
from envsnap.drift import Change
from envsnap.errors import SnapshotFormatError
from envsnap.fleet import SAMPLE, Tally, cluster_rule_of, fleet_report, majority_report
from envsnap.snapshot import (
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    PackageMemo,
    PythonEnv,
    Snapshot,
    from_dict,
    to_dict,
)
from envsnap.testing import h100_gpu, torch_framework

TORCH = torch_framework()


def node(i: int, *, nccl: str = "2.27.5", ifname: str = "eth0", numpy: str = "2.1.3",
         driver: str = "580.159.04", gpus: int = 8) -> Snapshot:
    """A node as capture writes it: its own host name, capture time and GPU UUIDs."""
    return Snapshot(
        meta=Meta(envsnap_version="test", captured_at=f"2026-11-29T10:{i % 60:02d}:00Z",
                  hostname=f"gpu-{i:03d}"),
        python=PythonEnv(version="3.11.7", implementation="CPython", packages=(
            Package(name="numpy", version=numpy, installer="pip"),
            Package(name="nvidia-nccl-cu12", version=nccl, installer="pip"),
            Package(name="torch", version="2.9.1+cu128", installer="pip",
                    requires=(f"nvidia-nccl-cu12=={nccl}", "numpy")),
        )),
        nvidia=NvidiaInfo(driver_version=driver, gpus=tuple(
            h100_gpu(index=g, uuid=f"GPU-{i:04x}{g:04x}-0000-0000-0000-000000000000")
            for g in range(gpus))),
        frameworks=(replace(TORCH, nccl=nccl),),
        env={"NCCL_SOCKET_IFNAME": ifname, "NCCL_IB_DISABLE": "0"},
    )


def envsnap(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out=out, err=err))
    return rc, out.getvalue(), err.getvalue()


def write_fleet(d: Path, nodes: list[Snapshot]) -> list[str]:
    d.mkdir(exist_ok=True)
    paths = []
    for i, snap in enumerate(nodes):
        p = d / f"gpu-{i:03d}.toml"
        snapio.dump(snap, p)
        paths.append(str(p))
    return paths


def change(section: str, name: str, old: str | None = "1", new: str | None = "2") -> Change:
    return Change(section=section, name=name, kind="changed", severity="info", old=old, new=new,
                  explanation="x")


@pytest.mark.parametrize(("c", "rule"), [
    (change("frameworks", "torch.nccl"), "nccl"),
    (change("cuda.libraries", "nccl (pip:nvidia-nccl-cu12)"), "nccl"),
    (change("python.packages", "nvidia-nccl-cu12"), "nccl"),
    (change("conda.packages", "nccl"), "nccl"),
    (change("env", "NCCL_SOCKET_IFNAME"), "nccl_env"),
    (change("env", "CUBLAS_WORKSPACE_CONFIG"), None),
    (change("frameworks", "torch"), "framework"),
    (change("frameworks", "torch.cuda"), "framework"),
    (change("frameworks", "torch.arch_list"), None),
    (change("frameworks", "torch.cudnn"), None),
    (change("cuda.libraries", "cudnn (pip:nvidia-cudnn-cu12)"), None),
    (change("python.packages", "numpy"), None),
    (change("nvidia", "driver", "580.159.04", "570.172.08"), "driver_major"),
    (change("nvidia", "driver", "580.95.05", "580.159.04"), None),
    (change("nvidia", "driver", "580.95.05", None), "driver_major"),
    (change("nvidia.gpus", "GPU7", "NVIDIA H100", None), "gpu"),
    (change("python", "python", "3.11.7", "3.12.1"), "python_minor"),
    (change("python", "python", "3.11.7", "3.11.9"), None),
])
def test_cluster_rules_match_what_breaks_a_multi_node_job(c: Change, rule: str | None) -> None:
    assert cluster_rule_of(c) == rule


def test_nodes_are_grouped_by_identical_drift_and_cluster_rules_rank_them() -> None:
    base = node(0)
    nodes = [(f"n{i}", node(i)) for i in range(10)]
    nodes[3] = ("n3", node(3, nccl="2.21.5"))
    nodes[7] = ("n7", node(7, nccl="2.21.5"))
    nodes[5] = ("n5", node(5, ifname="eth9", numpy="2.2.0"))
    nodes[9] = ("n9", node(9, gpus=4))
    f = fleet_report("golden", base, nodes)
    assert f.agree == ("n0", "n1", "n2", "n4", "n6", "n8")
    # Fewer GPUs is critical (gpu_removed), as check rates it.
    assert [(g.worst, g.nodes) for g in f.groups] == [
        ("critical", ("n3", "n7")), ("critical", ("n9",)), ("major", ("n5",))]
    nccl = {(c.section, c.name): c for c in f.groups[0].changes}
    # The same NCCL seen three ways (framework build, pip wheel, torch's pin) is one group.
    assert nccl[("frameworks", "torch.nccl")].severity == "critical"
    assert nccl[("python.packages", "nvidia-nccl-cu12")].severity == "critical"
    assert "every rank must load the same NCCL" in nccl[("frameworks", "torch.nccl")].explanation
    odd = {(c.section, c.name): c.severity for c in f.groups[2].changes}
    assert odd[("env", "NCCL_SOCKET_IFNAME")] == "major"
    assert ("python.packages", "numpy") in odd
    assert {c.section for c in f.groups[1].changes} == {"nvidia.gpus"}
    assert f.summary() == {"critical": 3, "major": 1, "minor": 0, "info": 0}
    assert f.failed("critical") and f.failed("major")
    assert f.drifted == ("n3", "n5", "n7", "n9")


def test_identity_alone_is_not_drift() -> None:
    """Host names, capture times and GPU UUIDs differ on every node of a real fleet."""
    f = fleet_report("golden", node(0), [(f"n{i}", node(i)) for i in range(1, 20)])
    assert not f.groups and len(f.agree) == 19 and not f.failed("info")


def test_majority_wins_and_agreement_wins_a_tie() -> None:
    tally = Tally()
    empty: tuple[Change, ...] = ()
    other = (change("env", "NCCL_X"),)
    tally.add("a", other)
    tally.add("b", empty)
    assert tally.majority() == ((), "b")  # one each: agreeing with the reference wins
    tally.add("c", other)
    key, first = tally.majority()
    assert key and first == "a"


def test_tally_memory_grows_with_distinct_drifts_not_nodes() -> None:
    tally = Tally()
    drift = (change("env", "NCCL_X"),)
    for i in range(5_000):
        tally.add(f"n{i}", drift if i % 2 else ())
    assert len(tally.groups) == 2
    report = tally.report("ref", majority=True)
    assert len(report.agree) == 2_500 and report.groups[0].nodes[0] == "n1"


def test_report_without_baseline_takes_the_majority(tmp_path: Path) -> None:
    snaps = [node(i) for i in range(9)]
    snaps[4] = node(4, nccl="2.21.5")
    write_fleet(tmp_path / "snaps", snaps)
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--format", "json",
                           "--fail-on", "critical")
    data = json.loads(out)
    assert rc == 1, err
    assert data["reference_kind"] == "majority" and data["agree"] == 8
    assert [g["nodes"] for g in data["groups"]] == [[str(tmp_path / "snaps" / "gpu-004.toml")]]
    rc, out, _ = envsnap("fleet", "report", str(tmp_path / "snaps"))
    assert "against the majority configuration (8 of 9 nodes" in out
    assert "CRITICAL: 1 node of 9" in out


def test_a_wrong_first_guess_is_corrected_by_a_second_pass(tmp_path: Path) -> None:
    """The sampled nodes (every second one of 15, up to the 7th) share a configuration only
    they have; the other 8 agree on another NCCL, which must become the reference."""
    sampled = range(0, 14, 2)
    snaps = [node(i) if i in sampled else node(i, nccl="2.21.5") for i in range(15)]
    paths = write_fleet(tmp_path / "snaps", snaps)
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--format", "json")
    data = json.loads(out)
    assert rc == 1, err
    assert data["reference"] == paths[1] and data["agree"] == 8
    assert data["groups"][0]["nodes"] == [paths[i] for i in sampled]
    nccl = next(c for c in data["groups"][0]["changes"] if c["name"] == "torch.nccl")
    assert (nccl["old"], nccl["new"]) == ("2.21.5", "2.27.5")


def test_baseline_in_the_directory_is_not_compared_with_itself(tmp_path: Path) -> None:
    paths = write_fleet(tmp_path / "snaps", [node(i) for i in range(3)])
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--baseline", paths[0],
                           "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["nodes"] == 2 and json.loads(out)["reference_kind"] == "baseline"


def test_worker_processes_give_the_same_report_as_one_process(tmp_path: Path) -> None:
    """Above PARALLEL_FROM files the nodes are read in worker processes."""
    count = pool.PARALLEL_FROM + 12
    snaps = [node(i, nccl="2.21.5" if i % 9 == 4 else "2.27.5",
                  ifname="eth9" if i % 17 == 3 else "eth0") for i in range(count)]
    write_fleet(tmp_path / "snaps", snaps)
    outputs = {}
    for jobs in ("1", "2"):
        rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", jobs,
                               "--format", "json")
        assert rc == 1 and err == "", err
        outputs[jobs] = json.loads(out)
    assert outputs["1"] == outputs["2"]
    assert outputs["2"]["agree"] == count - len(outputs["2"]["groups"][0]["nodes"]) - sum(
        g["count"] for g in outputs["2"]["groups"][1:])


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_bad_node_is_named_in_one_line_exit_2(tmp_path: Path, jobs: str) -> None:
    paths = write_fleet(tmp_path / "snaps", [node(i) for i in range(pool.PARALLEL_FROM + 2)])
    Path(paths[30]).write_text("schema = 2\n[python]\nversion = 3\n")
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", jobs,
                           "--baseline", paths[0])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and paths[30] in err and "python.version" in err, err


def test_edited_node_warnings_come_back_from_the_workers_once(tmp_path: Path) -> None:
    """gpu-008 is not among the nodes sampled in this process (every 7th of 50): its warning
    can only come from a worker; gpu-007 is sampled and read again by a worker: one warning."""
    paths = write_fleet(tmp_path / "snaps", [node(i) for i in range(pool.PARALLEL_FROM + 2)])
    for i in (7, 8):
        text = Path(paths[i]).read_text().replace("NCCL_IB_DISABLE = '0'", "NCCL_IB_DISABLE = '1'")
        Path(paths[i]).write_text(text)
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", "2")
    assert rc == 0, err
    for i in (7, 8):
        assert err.count(f"{paths[i]}: content does not match its digest") == 1, err
    assert "NCCL_IB_DISABLE" in out


def test_the_worker_pool_really_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real = pool.imap_chunks

    def counting(context: Any, jobs: int, *args: Any) -> Any:
        started.append(jobs)
        return real(context, jobs, *args)

    monkeypatch.setattr(pool, "imap_chunks", counting)
    # The sampled nodes are read once, in this process; the pool reads the others.
    write_fleet(tmp_path / "snaps", [node(i) for i in range(pool.PARALLEL_FROM + SAMPLE)])
    rc, _, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", "2")
    assert rc == 0 and started == [2], err
    rc, _, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", "1")
    assert rc == 0 and started == [2], err  # one process: no pool


def _die(snapshot: Snapshot) -> None:
    os._exit(3)  # a worker killed from outside (out of memory) looks like this


def test_a_worker_that_dies_is_a_one_line_error(tmp_path: Path) -> None:
    paths = write_fleet(tmp_path / "snaps", [node(i) for i in range(pool.PARALLEL_FROM)])
    with pytest.raises(pool.WorkerDied, match="worker process reading the snapshots died"):
        list(pool.map_snapshots(paths, _die, jobs=2))


def test_same_change_with_another_impact_is_another_group() -> None:
    """numpy 2.1.3 -> 2.2.0 on two nodes; on one its wheel needs a newer glibc than the node
    has. The nodes must not share a group, whichever is read first."""
    def with_numpy(i: int, tag: str, glibc: str = "2.17") -> Snapshot:
        s = node(i)
        assert s.python is not None
        pkgs = tuple(replace(p, version="2.2.0", tags=(tag,), native=True) if p.name == "numpy"
                     else p for p in s.python.packages)
        return replace(s, python=replace(s.python, packages=pkgs),
                       os=OSInfo(system="Linux", arch="x86_64", glibc=glibc))
    base = replace(node(0), os=OSInfo(system="Linux", arch="x86_64", glibc="2.17"))
    a = with_numpy(1, "cp311-cp311-manylinux_2_17_x86_64")
    b = with_numpy(2, "cp311-cp311-manylinux_2_28_x86_64")
    for order in ([("a", a), ("b", b)], [("b", b), ("a", a)]):
        f = fleet_report("golden", base, order)
        assert sorted(g.nodes for g in f.groups) == [("a",), ("b",)]
        assert {g.nodes[0]: g.worst for g in f.groups}["b"] == "critical"
        assert f.failed("critical")


def test_the_reference_is_the_first_node_of_the_majority() -> None:
    snaps = [(f"n{i:02d}", node(i, nccl="2.21.5") if i == 0 else node(i)) for i in range(15)]
    f = majority_report(snaps)
    assert f.majority and f.reference == "n01" == f.agree[0] and len(f.agree) == 14


def test_a_tie_between_two_drifts_goes_to_the_drift_seen_first() -> None:
    snaps = [(f"n{i}", node(i, nccl="2.21.5") if i in (0, 1) else
              node(i, ifname="eth9") if i in (2, 3) else node(i)) for i in range(5)]
    f = majority_report(snaps)  # 2 + 2 + 1: the first two-node configuration wins
    assert f.reference == "n0" and f.agree == ("n0", "n1")


def test_a_second_pass_in_worker_processes(tmp_path: Path) -> None:
    """56 nodes: the 7 sampled ones (every 8th) share a configuration the other 49 do not."""
    count = pool.PARALLEL_FROM + 8
    sampled = range(0, count - 1, 8)
    snaps = [node(i) if i in sampled else node(i, ifname="eth9") for i in range(count)]
    paths = write_fleet(tmp_path / "snaps", snaps)
    rc, out, err = envsnap("fleet", "report", str(tmp_path / "snaps"), "--jobs", "2",
                           "--format", "json")
    data = json.loads(out)
    assert rc == 0 and err == "", err
    assert data["reference"] == paths[1] and data["agree"] == count - len(sampled)
    assert data["groups"][0]["nodes"] == [paths[i] for i in sampled]


def test_stdin_needs_a_baseline_and_bad_jobs_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = envsnap("fleet", "report", "-")
    assert rc == 2 and "needs --baseline" in err
    rc, _, _ = envsnap("fleet", "report", str(tmp_path), "--jobs", "0")
    assert rc == 2 and "argument --jobs: expected 1 to 256" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(valid_snapshots(), st.data())
def test_the_package_memo_never_changes_what_is_read(snap: Snapshot, data: st.DataObject) -> None:
    """The same snapshot read twice (every package a memo hit), then a copy with one package
    entry changed in one value, or in its type only."""
    memo: PackageMemo = {}
    plain = to_dict(snap)
    assert from_dict(plain, memo=memo) == from_dict(plain)
    assert from_dict(plain, memo=memo) == from_dict(plain)
    packages = plain.get("python", {}).get("packages", {})
    if not packages:
        return
    name = data.draw(st.sampled_from(sorted(packages)))
    edited = copy.deepcopy(plain)
    entry = edited["python"]["packages"][name]
    entry.update(data.draw(st.sampled_from([
        {"version": "99.0"}, {"requested": not entry.get("requested", False)},
        {"requested": 1}, {"native": 0}, {"tags": ["py3-none-any"]}])))
    try:
        expected = from_dict(edited)
    except SnapshotFormatError as exc:
        with pytest.raises(SnapshotFormatError, match=re.escape(exc.message)):
            from_dict(edited, memo=memo)
    else:
        assert from_dict(edited, memo=memo) == expected


def test_the_package_memo_does_not_let_an_unsafe_entry_through() -> None:
    memo: PackageMemo = {}
    good = to_dict(node(0))
    from_dict(good, memo=memo)
    bad = to_dict(node(0))
    bad["python"]["packages"]["numpy"]["version"] = "1.0\n; rm -rf /"
    with pytest.raises(SnapshotFormatError, match=r"python\.packages\.numpy"):
        from_dict(bad, memo=memo)


def test_a_long_drift_is_cut_in_text_and_markdown_but_not_json() -> None:
    from envsnap.report import CHANGES_SHOWN, render_fleet

    base = node(0)
    many = replace(base, env={**base.env, **{f"NCCL_X{i}": "1" for i in range(30)}})
    f = fleet_report("golden", base, [("odd", many)])
    assert len(f.groups[0].changes) == 30
    for fmt in ("text", "markdown"):
        out = render_fleet(f, fmt)
        assert f"and {30 - CHANGES_SHOWN} more changes on these nodes" in out
        shown = {line.split("NCCL_X")[1].split()[0].strip("`|")
                 for line in out.splitlines() if "env: NCCL_X" in line or "`NCCL_X" in line}
        assert len(shown) == CHANGES_SHOWN, out
    assert len(json.loads(render_fleet(f, "json"))["groups"][0]["changes"]) == 30


@pytest.mark.parametrize("value", [1, 1.0])
def test_the_package_memo_keeps_exact_types(value: object) -> None:
    """1 == True in Python: a cached `requested = true` must not let `requested = 1` through."""
    memo: PackageMemo = {}
    good = to_dict(replace(node(0), python=PythonEnv(
        version="3.11.7", implementation="CPython",
        packages=(Package(name="numpy", version="2.1.3", requested=True),))))
    from_dict(good, memo=memo)
    bad = to_dict(node(0))
    bad["python"]["packages"] = {"numpy": {"version": "2.1.3", "requested": value}}
    with pytest.raises(SnapshotFormatError, match=r"expected a boolean.*python\.packages\.numpy"):
        from_dict(bad, memo=memo)


def _counting_fleet(snaps: dict[str, Snapshot]) -> tuple[Any, Any, dict[str, int]]:
    """A load and a Reader over held snapshots that count how often each node is read."""
    reads = dict.fromkeys(snaps, 0)

    def load(label: str) -> Snapshot:
        reads[label] += 1
        return snaps[label]

    def read(labels: Any, compare: Any) -> Any:
        for label in labels:
            yield label, compare(load(label))
    return load, read, reads


def test_each_node_is_read_once_when_the_first_sampled_node_is_of_the_majority() -> None:
    from envsnap.fleet import against_majority

    snaps = {f"n{i:02d}": node(i, nccl="2.21.5") if i % 5 == 3 else node(i) for i in range(30)}
    load, read, reads = _counting_fleet(snaps)
    report = against_majority(list(snaps), load, read)
    assert reads == dict.fromkeys(snaps, 1)
    assert report.reference == "n00" and len(report.agree) == 24
    assert report.groups[0].nodes == tuple(n for n in snaps if int(n[1:]) % 5 == 3)
    assert report == majority_report(snaps.items())


def test_a_wrong_guess_reads_the_nodes_again_against_the_right_one() -> None:
    from envsnap.fleet import against_majority

    sampled = range(0, 14, 2)
    snaps = {f"n{i:02d}": node(i) if i in sampled else node(i, nccl="2.21.5") for i in range(15)}
    load, read, reads = _counting_fleet(snaps)
    report = against_majority(list(snaps), load, read)
    assert report.reference == "n01" and report.groups[0].nodes == tuple(
        f"n{i:02d}" for i in sampled)
    # Every node against n00 (the sample's pick), each once; then n01, the first node of the
    # configuration the count shows is more common, and every node again against it.
    assert max(reads.values()) <= 3 and reads["n01"] == 3


def test_forked_workers_share_the_reference_as_it_is(tmp_path: Path) -> None:
    """The workers are forked from this process: the reference (and its dependency graph) is
    theirs without being pickled, rebuilt or checked again. In a fresh interpreter: a process
    forks only while it runs one thread, and a test process may hold threads other tests left."""
    import subprocess
    import sys

    paths = write_fleet(tmp_path / "snaps", [node(i) for i in range(pool.PARALLEL_FROM)])
    code = """if True:
        import json, sys
        from envsnap import io, pool
        from envsnap.fleet import Comparison

        def no_pickling(self):
            raise AssertionError("the reference was pickled to a worker")

        Comparison.__getstate__ = no_pickling
        paths = sys.argv[1:]
        got = list(pool.map_snapshots(paths, Comparison(io.load(paths[0])), jobs=2))
        print(json.dumps([[p, list(changes)] for p, changes in got]))
    """
    proc = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[p, []] for p in paths]
