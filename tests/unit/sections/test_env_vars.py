"""The env section: variable diff with its fix, the NCCL_* cluster rule, anonymize."""

from __future__ import annotations

import shlex

from envsnap import compat
from envsnap.changes import Change
from envsnap.sections.base import Relabel
from envsnap.sections.env_vars import SECTION
from envsnap.snapshot import Snapshot
from envsnap.testing import cpu_venv_snapshot, section_diff


def _diff(a: dict[str, str], b: dict[str, str]) -> list[Change]:
    out = section_diff(SECTION, cpu_venv_snapshot(env=a), cpu_venv_snapshot(env=b))
    return out


def test_a_reproducibility_variable_outranks_another() -> None:
    repro = sorted(compat.reproducibility_vars())[0]
    changes = {c.name: c for c in _diff({repro: "1", "EDITOR": "vi"},
                                        {repro: "0", "EDITOR": "nano"})}
    assert changes[repro].severity == compat.severity("env_reproducibility")
    assert changes["EDITOR"].severity == compat.severity("env_other")
    assert compat.rank(changes[repro].severity) <= compat.rank(changes["EDITOR"].severity)


def test_kinds_and_the_fix_that_puts_as_value_back() -> None:
    value = "a b'c"
    changes = {c.name: c for c in _diff({"GONE": value, "SAME": "1"},
                                        {"NEW": "x", "SAME": "1"})}
    assert sorted(changes) == ["GONE", "NEW"]
    assert (changes["GONE"].kind, changes["GONE"].fix) == (
        "removed", f"export GONE={shlex.quote(value)}")
    assert (changes["NEW"].kind, changes["NEW"].fix) == ("added", "unset NEW")
    # A name no shell takes gets no command.
    (odd,) = _diff({"A-B": "1"}, {"A-B": "2"})
    assert odd.kind == "changed" and odd.fix is None


def test_cluster_rule_is_nccl_env_for_nccl_variables_only() -> None:
    assert SECTION.cluster is not None
    rules = {c.name: SECTION.cluster(c) for c in _diff({"NCCL_IB_HCA": "mlx5_0", "OMP": "4"},
                                                       {"NCCL_IB_HCA": "mlx5_1", "OMP": "8"})}
    assert rules == {"NCCL_IB_HCA": "nccl_env", "OMP": None}


def test_anonymize_relabels_roots_inside_values() -> None:
    assert SECTION.anonymize is not None
    rel = Relabel([("/home/me", "~")], prefix=False)
    env = {"LD_LIBRARY_PATH": "/home/me/lib:/home/me2/lib:/usr/lib", "X": "1"}
    assert SECTION.anonymize(env, rel) == {
        "LD_LIBRARY_PATH": "~/lib:/home/me2/lib:/usr/lib", "X": "1"}


def test_show_has_no_line() -> None:
    assert SECTION.summary is not None
    s: Snapshot = cpu_venv_snapshot(env={"CUDA_VISIBLE_DEVICES": "0"})
    assert SECTION.summary(s, {}) == []
