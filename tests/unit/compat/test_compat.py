"""Shipped compatibility data: every table sourced and dated, consistent, and the severity policy.

The rules over these tables are tested in test_rules.py."""

from __future__ import annotations

import datetime as dt

from envsnap import compat, gpuarch, rules


def test_every_table_has_a_source_url_and_retrieval_date() -> None:
    tables = compat.sources()
    assert {t.file for t in tables} == set(compat.DATA_FILES)
    for t in tables:
        assert t.source.startswith("https://"), t
        dt.date.fromisoformat(t.retrieved)


def test_docs_list_every_table() -> None:
    from support import REPO

    doc = (REPO / "docs" / "compat-data.md").read_text(encoding="utf-8")
    for t in compat.sources():
        assert t.source in doc, f"docs/compat-data.md lacks {t.file} [{t.table}] {t.source}"


def test_severity_values_are_known_levels() -> None:
    sev = compat.data("severity.toml")
    levels = set(compat.SEVERITIES)
    for name, value in sev["rules"].items():  # one table for diff and check
        assert value in levels, name
    assert sev["abi_sensitive"]["severity"] in levels
    for name, over in sev["packages"]["overrides"].items():
        for key, value in over.items():
            if key in ("why", "fix"):
                continue
            values = value.values() if isinstance(value, dict) else [value]
            assert set(values) <= levels, name


def test_toolkit_drivers_increase_with_cuda_and_sit_above_their_floor() -> None:
    table = compat.data("cuda.toml")["toolkit_driver"]["linux"]
    rows = sorted(table.items(), key=lambda kv: rules.numeric(kv[0]))
    drivers = [rules.numeric(v) for _, v in rows]
    assert drivers == sorted(drivers)
    for cuda, driver in rows:
        if cuda == "11.0":
            continue  # 11.0 shipped before the 11.x MVC floor existed (NVIDIA's own footnote)
        floor = rules.mvc_floor(cuda)
        assert floor is None or rules.driver_at_least(driver, floor), cuda


def test_every_table_value_parses_within_the_rules_bounds() -> None:
    cuda = compat.data("cuda.toml")
    for major, floor in cuda["minor_version_compat"]["floor"].items():
        assert rules.cuda_version(major) and rules.driver_version(floor), major
    for version, driver in cuda["toolkit_driver"]["linux"].items():
        assert rules.cuda_version(version) and rules.driver_version(driver), version
    for cc, first in cuda["first_cuda_for_cc"]["cc"].items():
        assert gpuarch.parse_cc(cc) and rules.cuda_version(first), cc
    for name, glibc in compat.data("platform.toml")["manylinux_legacy"]["glibc"].items():
        assert rules.glibc_version(glibc), name
    for key in compat.data("pytorch.toml")["arch_lists"]["lists"]:
        assert rules.cuda_from_label(key.split("/")[1]), key


def test_gpu_table_agrees_with_first_cuda_table() -> None:
    first = compat.data("cuda.toml")["first_cuda_for_cc"]["cc"]
    for name, cc in compat.data("gpus.toml")["compute_capability"].items():
        assert cc in first or cc == "3.7", name


def test_package_policy_overrides() -> None:
    assert compat.package_policy("numpy", "major").severity == "major"
    assert compat.package_policy("numpy", "major", native_dependents=True).severity == "critical"
    assert compat.package_policy("torch", "major").severity == "critical"
    assert compat.package_policy("nvidia-nccl-cu12", "minor").severity == "major"
    assert compat.package_policy("pip", "major").severity == "info"
    assert compat.package_policy("anything", "patch", downgrade=True).severity == "minor"
    assert compat.is_abi_sensitive("nvidia-cublas-cu12") and not compat.is_abi_sensitive("six")
