"""Shipped compatibility data: every table sourced and dated; lookups and SASS/PTX rules."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from envsnap import compat


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
    for section in ("rules", "check"):
        for name, value in sev[section].items():
            assert value in levels, (section, name)
    for name, over in sev["packages"]["overrides"].items():
        for key, value in over.items():
            if key in ("why", "fix"):
                continue
            values = value.values() if isinstance(value, dict) else [value]
            assert set(values) <= levels, name


@pytest.mark.parametrize(("cuda", "floor", "toolkit"), [
    ("13.0", "580", "580.65.06"), ("12.8", "525.60.13", "570.26"), ("12.1.1", "525.60.13",
                                                                    "530.30.02"),
    ("11.8", "450.80.02", "520.61.05"), ("12", "525.60.13", None), ("10.2", None, None),
])
def test_driver_tables(cuda: str, floor: str | None, toolkit: str | None) -> None:
    assert compat.mvc_floor(cuda) == floor
    assert compat.toolkit_driver(cuda) == toolkit


def test_toolkit_drivers_increase_with_cuda_and_sit_above_their_floor() -> None:
    table = compat.data("cuda.toml")["toolkit_driver"]["linux"]
    rows = sorted(table.items(), key=lambda kv: compat.numeric(kv[0]))
    drivers = [compat.numeric(v) for _, v in rows]
    assert drivers == sorted(drivers)
    for cuda, driver in rows:
        if cuda == "11.0":
            continue  # 11.0 shipped before the 11.x MVC floor existed (NVIDIA's own footnote)
        floor = compat.mvc_floor(cuda)
        assert floor is None or compat.driver_at_least(driver, floor), cuda


@pytest.mark.parametrize(("archs", "cc", "covered"), [
    (["sm_80"], "8.6", True),  # same major, newer minor
    (["sm_80"], "8.7", False),  # Orin runs only sm_87 code
    (["sm_86"], "8.0", False),  # never an older minor
    (["sm_90"], "10.0", False),  # never across majors
    (["compute_90"], "12.0", True),  # PTX JITs forward
    (["compute_120"], "9.0", False),
    (["sm_90a"], "9.0", True),
    (["sm_90a"], "9.1", False),  # arch-specific code: that CC only
    (["sm_70"], "7.5", True),
    (["sm_70"], "7.2", False),  # Xavier
    (["sm_101"], "11.0", True),  # Thor renamed sm_101 -> sm_110
    (["sm_100"], "10.1", False),
    (["sm_120"], "12.1", True),
    ([], "9.0", None),
    (["sm_90"], None, None),
])
def test_arch_covers(archs: list[str], cc: str | None, covered: bool | None) -> None:
    assert compat.arch_covers(archs, cc) is covered


@pytest.mark.parametrize(("tag", "glibc"), [
    ("cp311-cp311-manylinux_2_28_x86_64", "2.28"),
    ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "2.17"),
    ("cp39-cp39-manylinux1_x86_64", "2.5"),
    ("cp39-cp39-manylinux2010_x86_64", "2.12"),
    ("py3-none-any", None),
    ("cp311-cp311-musllinux_1_2_x86_64", None),
])
def test_manylinux_glibc(tag: str, glibc: str | None) -> None:
    assert compat.manylinux_glibc(tag) == glibc


def test_gpu_names_and_first_cuda() -> None:
    assert compat.cc_for_gpu_name("NVIDIA GeForce RTX 5090") == "12.0"
    assert compat.cc_for_gpu_name("NVIDIA A100-SXM4-80GB") == "8.0"
    assert compat.cc_for_gpu_name("NVIDIA A10G") == "8.6"
    assert compat.cc_for_gpu_name("NVIDIA L40S") == "8.9"
    assert compat.cc_for_gpu_name("Unknown Accelerator") is None
    assert compat.first_cuda_for_cc("12.0") == "12.8"


def test_gpu_table_agrees_with_first_cuda_table() -> None:
    first = compat.data("cuda.toml")["first_cuda_for_cc"]["cc"]
    for name, cc in compat.data("gpus.toml")["compute_capability"].items():
        assert cc in first or cc == "3.7", name


def test_torch_tables() -> None:
    assert compat.torch_arch_list("2.9.1+cu128", "cu128")[-1] == "sm_120"
    assert compat.torch_arch_list("2.6.0", "cu126")[-1] == "sm_90"
    assert compat.torch_cuda_variants("2.9.1") == ("12.6", "12.8", "13.0")
    for key, archs in compat.data("pytorch.toml")["arch_lists"]["lists"].items():
        assert re.fullmatch(r"\d+\.\d+/cu\d+", key)
        assert all(compat.parse_arch(a) for a in archs), key


def test_cuda_variant_labels() -> None:
    assert compat.cuda_from_variant("cu128") == "12.8"
    assert compat.cuda_from_variant("cu118") == "11.8"
    assert compat.cuda_from_variant("cpu") is None
    assert compat.cuda_from_variant("rocm6.2") is None
    assert compat.cuda_major_of_wheel("nvidia-cudnn-cu12") == "12"
    assert compat.cuda_major_of_wheel("numpy") is None


def test_package_policy_overrides() -> None:
    assert compat.package_policy("numpy", "major").severity == "major"
    assert compat.package_policy("numpy", "major", native_dependents=True).severity == "critical"
    assert compat.package_policy("torch", "major").severity == "critical"
    assert compat.package_policy("nvidia-nccl-cu12", "minor").severity == "major"
    assert compat.package_policy("pip", "major").severity == "info"
    assert compat.package_policy("anything", "patch", downgrade=True).severity == "minor"
    assert compat.is_abi_sensitive("nvidia-cublas-cu12") and not compat.is_abi_sensitive("six")
