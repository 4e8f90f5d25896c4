"""envsnap.rules: one copy of each domain rule, table-tested, and bounded on hostile numbers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from envsnap import changes, gpuarch, rules
from envsnap.errors import BadInputError
from envsnap.image.dockerfile import cuda_of
from envsnap.lock.plan import label_index, plan
from envsnap.snapshot import (
    CudaInfo,
    Framework,
    LibraryCopy,
    OSInfo,
    Package,
    PythonEnv,
    Snapshot,
)

# ---------------------------------------------------------------------------------------------
# Local labels and cuXYZ. The old copies disagreed: compat said cu92 -> 9.2 and missed jaxlib's
# cuda12.cudnn89; the frameworks probe said cu92 -> nothing; the Dockerfile's said cu12 -> 1.2.


@pytest.mark.parametrize(("label", "cuda"), [
    ("cu92", "9.2"), ("cu100", "10.0"), ("cu118", "11.8"), ("cu121", "12.1"),
    ("cu128", "12.8"), ("cu130", "13.0"), ("cu75", "7.5"),
    ("cpu", None), ("rocm6.2", None), ("xpu", None), (None, None), ("", None),
    ("cu12", None),  # would be CUDA 1.2: no such build exists
    ("cu1234", None), ("cu", None), ("cu12x", None), ("cu121torch2.3", None),
    ("cuda12.cudnn89", "12"), ("cuda11.cudnn86", "11"),  # jaxlib 0.4.x
    ("cuda111", "11.1"), ("cuda92", "9.2"), ("cuda101", "10.1"),  # jaxlib 0.1.x
])
def test_cuda_from_label(label: str | None, cuda: str | None) -> None:
    assert rules.cuda_from_label(label) == cuda


@pytest.mark.parametrize(("version", "label"), [
    ("2.5.1+cu121", "cu121"), ("2.5.1", None), ("2.5.1+", None), ("0.4.23+cuda12.cudnn89",
                                                                  "cuda12.cudnn89"),
    (None, None),
])
def test_local_label(version: str | None, label: str | None) -> None:
    assert rules.local_label(version) == label


@pytest.mark.parametrize(("cuda", "label"), [
    ("12.8", "cu128"), ("13.0", "cu130"), ("9.2", "cu92"), ("12.8.90", "cu128"),
    ("12", None), (None, None), ("abc", None),
])
def test_cuda_label_is_the_inverse(cuda: str | None, label: str | None) -> None:
    assert rules.cuda_label(cuda) == label
    if label is not None:
        assert rules.cuda_from_label(label) == rules.major_minor(cuda)


@pytest.mark.parametrize(("label", "index"), [
    ("cu128", "https://download.pytorch.org/whl/cu128"),
    ("cu92", "https://download.pytorch.org/whl/cu92"),
    ("cpu", "https://download.pytorch.org/whl/cpu"),
    ("rocm6.2", "https://download.pytorch.org/whl/rocm6.2"),
    ("rocm6.2.4", "https://download.pytorch.org/whl/rocm6.2.4"),
    ("xpu", "https://download.pytorch.org/whl/xpu"),
    ("cu12", None), ("cuda12.cudnn89", None), ("mycorp", None), (None, None),
])
def test_pytorch_index(label: str | None, index: str | None) -> None:
    assert rules.pytorch_index(label) == index


def test_lock_index_and_dockerfile_cuda_use_the_same_label_rule() -> None:
    # lock: a label PyTorch does not publish goes to the configured private index.
    assert label_index("1.4.0+cu92", ()) == "https://download.pytorch.org/whl/cu92"
    assert label_index("1.0+cu12", ("https://pypi.example/simple",)) == \
        "https://pypi.example/simple"
    # image: the base image follows the label's CUDA, cu92 included.
    py = PythonEnv(version="3.8.10", implementation="CPython",
                   packages=(Package(name="torch", version="1.4.0+cu92"),))
    assert cuda_of(Snapshot(python=py)) == "9.2"
    py = PythonEnv(version="3.11.7", implementation="CPython",
                   packages=(Package(name="jaxlib", version="0.4.23+cuda12.cudnn89"),))
    assert cuda_of(Snapshot(python=py)) == "12"


@pytest.mark.parametrize(("name", "cuda"), [
    ("nvidia-cudnn-cu12", "12"), ("nvidia-cublas-cu11", "11"), ("nvidia-nccl-cu13", "13"),
    ("cupy-cuda12x", "12"), ("cupy-cuda11x", "11"), ("cupy-cuda118", "11.8"),
    ("cupy-cuda102", "10.2"), ("jax-cuda12-plugin", "12"), ("jax-cuda13-pjrt", "13"),
    ("cupy", None), ("numpy", None), ("nvidia-ml-py", None), ("nvidia-cudnn-cu" + "9" * 500, None),
])
def test_cuda_of_dist(name: str, cuda: str | None) -> None:
    assert rules.cuda_of_dist(name) == cuda


@pytest.mark.parametrize(("old", "new", "lost"), [
    ("cu121", "cpu", True), ("cu121", None, True), ("cu92", "cpu", True),
    ("cuda12.cudnn89", None, True), ("cu121", "cu124", False), ("cpu", None, False),
    ("rocm6.2", "cpu", False),
])
def test_lost_cuda(old: str | None, new: str | None, lost: bool) -> None:
    assert rules.lost_cuda(old, new) is lost


def test_framework_cuda_prefers_what_the_build_said() -> None:
    fw = Framework(name="torch", version="1.4.0+cu92", variant="cu92")
    assert rules.framework_cuda(fw) == "9.2"
    assert rules.framework_cuda(Framework(name="torch", version="2", variant="cu121",
                                          cuda="12.1.1")) == "12.1.1"
    assert rules.framework_cuda(Framework(name="torch", version="2+cpu", variant="cpu")) is None


# ---------------------------------------------------------------------------------------------
# Versions


@pytest.mark.parametrize(("version", "nums"), [
    ("580.159.04", (580, 159, 4)), ("2.5.1+cu121", (2, 5, 1)), ("1.0rc1", (1, 0)),
    ("12", (12,)), ("abc", ()), (None, ()), ("", ()), ("1.0-9639", (1, 0)),
    ("2." + "9" * 5000, ()), ("1" * 10, ()), ("1.2.3.4.5.6.7.8.9.10", (1, 2, 3, 4, 5, 6, 7, 8)),
])
def test_numeric(version: str | None, nums: tuple[int, ...]) -> None:
    assert rules.numeric(version) == nums


@pytest.mark.parametrize(("version", "mm", "major"), [
    ("12.8.90", "12.8", "12"), ("12", None, "12"), ("3.11.7", "3.11", "3"), (None, None, None),
])
def test_major_minor_and_cuda_major(version: str | None, mm: str | None,
                                    major: str | None) -> None:
    assert rules.major_minor(version) == mm
    assert rules.cuda_major(version) == major


@pytest.mark.parametrize(("version", "parsed"), [
    ("3.11.7", (3, 11)), ("3.13.0rc1", (3, 13)), ("3.14.0a1+", (3, 14)), ("3.100", (3, 100)),
    ("3.101", None), ("3.999999999", None), ("3", None), ("10.1", None), ("", None),
])
def test_python_version_is_bounded(version: str, parsed: tuple[int, int] | None) -> None:
    assert rules.python_version(version) == parsed


@pytest.mark.parametrize(("version", "parsed"), [
    ("2.39", (2, 39)), ("2.5", (2, 5)), ("2.200", (2, 200)), ("2.201", None),
    ("2.999999999", None), ("2", None), (None, None), ("2." + "9" * 5000, None),
])
def test_glibc_version_is_bounded(version: str | None, parsed: tuple[int, int] | None) -> None:
    assert rules.glibc_version(version) == parsed


@pytest.mark.parametrize(("have", "need", "ok"), [
    ("2.39", "2.28", True), ("2.26", "2.28", False), ("2.28", "2.28", True),
    ("2.9", "2.17", False),  # numeric, not text: 9 < 17
    ("2.999999999", "2.28", None), (None, "2.28", None), ("2.39", None, None),
])
def test_glibc_at_least(have: str | None, need: str | None, ok: bool | None) -> None:
    assert rules.glibc_at_least(have, need) is ok


# ---------------------------------------------------------------------------------------------
# Driver (cuda.toml)


@pytest.mark.parametrize(("cuda", "floor", "toolkit"), [
    ("13.0", "580", "580.65.06"), ("12.8", "525.60.13", "570.26"),
    ("12.1.1", "525.60.13", "530.30.02"), ("11.8", "450.80.02", "520.61.05"),
    ("12", "525.60.13", None), ("10.2", None, None), ("9.2", None, None), (None, None, None),
])
def test_driver_tables(cuda: str | None, floor: str | None, toolkit: str | None) -> None:
    assert rules.mvc_floor(cuda) == floor
    assert rules.toolkit_driver(cuda) == toolkit


@pytest.mark.parametrize(("driver", "status"), [
    ("470.256.02", "below_floor"), ("535.104.05", "below_toolkit"), ("570.26", "ok"),
    ("580.65.06", "ok"), (None, "unknown"), ("9" * 5000, "unknown"), ("n/a", "unknown"),
])
def test_driver_verdicts(driver: str | None, status: str) -> None:
    need = rules.CudaNeed(cuda="12.8", origin="torch")
    verdict = rules.worst_driver_verdict(driver, [need])
    assert verdict is not None and verdict.status == status


def test_bare_major_need_adds_nothing_beside_a_specific_one() -> None:
    needs = [rules.CudaNeed(cuda="12.8", origin="torch"),
             rules.CudaNeed(cuda="12", origin="nvidia-cudnn-cu12"),
             rules.CudaNeed(cuda="12.8", origin="libcudart 12.8")]
    assert [v.need.origin for v in rules.driver_verdicts("580.65.06", needs)] == ["torch"]


def test_cuda_needs_ignore_a_system_toolkit_and_implausible_versions() -> None:
    libs = (LibraryCopy(library="cudart", version="12.8.90", path="/x", found_via="pip:w"),
            LibraryCopy(library="cudart", version="12.4.1", path="/y", found_via="ldconfig"),
            LibraryCopy(library="cudart", version="999.1", path="/z", found_via="conda:c"))
    needs = rules.cuda_needs(Snapshot(cuda=CudaInfo(libraries=libs)))
    assert [n.cuda for n in needs] == ["12.8.90"]


# ---------------------------------------------------------------------------------------------
# glibc and platform tags


@pytest.mark.parametrize(("tag", "glibc"), [
    ("cp311-cp311-manylinux_2_28_x86_64", "2.28"),
    ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "2.17"),
    ("cp39-cp39-manylinux1_x86_64", "2.5"),
    ("cp39-cp39-manylinux2010_x86_64", "2.12"),
    ("py3-none-any", None),
    ("cp311-cp311-musllinux_1_2_x86_64", None),
    ("cp311-cp311-manylinux_2_99999999_x86_64", None),
    ("cp311-cp311-manylinux_2_" + "9" * 5000 + "_x86_64", None),
    ("cp311-cp311-manylinux_2_99999999_x86_64.manylinux_2_17_x86_64", "2.17"),
])
def test_manylinux_glibc(tag: str, glibc: str | None) -> None:
    assert rules.manylinux_glibc(tag) == glibc


def test_glibc_needs_names_the_packages_needing_the_newest() -> None:
    py = PythonEnv(version="3.11.7", implementation="CPython", packages=(
        Package(name="a", version="1", tags=("py3-none-manylinux_2_28_x86_64",)),
        Package(name="b", version="1", tags=("py3-none-manylinux_2_9_x86_64",)),
        Package(name="c", version="1", tags=("py3-none-manylinux_2_28_x86_64",)),
        Package(name="d", version="1", tags=("py3-none-manylinux_2_999999_x86_64",)),
    ))
    assert rules.glibc_needs(py) == ("2.28", ["a", "c"])
    assert rules.package_glibc(py.packages[1]) == "2.9"
    assert rules.glibc_needs(None) == (None, [])


def test_manylinux_platforms() -> None:
    tags = rules.manylinux_platforms("x86_64", (2, 17))
    assert tags[0] == "manylinux_2_5_x86_64" and "manylinux_2_17_x86_64" in tags
    assert "manylinux_2_18_x86_64" not in tags
    assert {"manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"} <= set(tags)
    assert rules.manylinux_platforms("x86_64", (3, 0)) == ()


def test_missing_isa() -> None:
    assert rules.missing_isa(["avx", "avx2", "fma", "ht"], ["avx"]) == ["avx2", "fma"]


# ---------------------------------------------------------------------------------------------
# Hostile numbers return promptly (lock once ran for minutes and raised MemoryError on them)


@contextmanager
def prompt(limit_s: float = 1.0) -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < limit_s


HUGE = "9" * 5000  # past int()'s 4,300-digit limit, too


@pytest.mark.parametrize(("fn", "arg"), [
    (rules.manylinux_glibc, "cp311-cp311-manylinux_2_99999999_x86_64"),
    (rules.manylinux_glibc, f"cp311-cp311-manylinux_2_{HUGE}_x86_64"),
    (rules.glibc_version, "2.999999999"),
    (rules.glibc_version, f"2.{HUGE}"),
    (rules.python_version, "3.999999999"),
    (rules.python_version, f"3.{HUGE}"),
    (rules.cuda_from_label, f"cu{HUGE}"),
    (rules.cuda_from_label, f"cuda{HUGE}"),
    (rules.cuda_version, HUGE),
    (rules.driver_version, HUGE),
    (rules.numeric, ".".join(["1"] * 100_000)),
    (gpuarch.parse_arch, f"sm_{HUGE}"),
    (gpuarch.parse_cc, f"{HUGE}.0"),
])
def test_hostile_values_are_invalid_and_prompt(fn: Callable[[str], Any], arg: str) -> None:
    with prompt():
        result = fn(arg)
    assert result in (None, ()) or fn is rules.numeric


def _hostile_snapshot(*, glibc: str = "2.39", python: str = "3.11.7",
                      tag: str = "cp311-cp311-manylinux_2_17_x86_64") -> Snapshot:
    py = PythonEnv(version=python, implementation="CPython", abi_tag="cp311",
                   platform_tag="linux_x86_64",
                   packages=(Package(name="numpy", version="2.1.0", tags=(tag,)),))
    return Snapshot(python=py, os=OSInfo(system="Linux", arch="x86_64", glibc=glibc))


@pytest.mark.parametrize(("snapshot", "top"), [
    (_hostile_snapshot(tag="cp311-cp311-manylinux_2_99999999_x86_64"), 39),
    (_hostile_snapshot(tag=f"cp311-cp311-manylinux_2_{HUGE}_x86_64"), 39),
    (_hostile_snapshot(glibc="2.999999999"), 17),
    (_hostile_snapshot(glibc=f"2.{HUGE[:100]}"), 17),
], ids=["tag", "huge-tag", "glibc", "huge-glibc"])
def test_lock_plan_bounded_on_hostile_tags_and_glibc(snapshot: Snapshot, top: int) -> None:
    with prompt():
        platforms = plan(snapshot).platforms
    assert not any("99999999" in p for p in platforms)  # not passed on to pip either
    # Only the plausible evidence (the captured glibc, the real tags) sets the top level.
    assert f"manylinux_2_{top}_x86_64" in platforms
    assert f"manylinux_2_{top + 1}_x86_64" not in platforms


def test_lock_plan_platforms_follow_the_captured_glibc() -> None:
    platforms = plan(_hostile_snapshot(glibc="2.35")).platforms
    assert "manylinux_2_35_x86_64" in platforms and "manylinux_2_36_x86_64" not in platforms
    assert "manylinux2014_x86_64" in platforms and "linux_x86_64" in platforms


@pytest.mark.parametrize("version", ["3.999999999", "3." + "9" * 120])
def test_lock_refuses_an_implausible_python_version_promptly(version: str) -> None:
    with prompt(), pytest.raises(BadInputError, match=r"python\.version"):
        plan(_hostile_snapshot(python=version[:128]))


def test_a_library_copy_the_environment_brought_is_a_cuda_need_and_its_scope() -> None:
    # One rule for both: the cudart a wheel or conda package brought is the environment's and
    # a need; the host's (ldconfig) is neither.
    for via, scope in (("pip:nvidia-cuda-runtime-cu12", "environment"), ("conda:cuda-cudart",
                                                                          "environment"),
                       ("ldconfig", "host"), ("cuda_home", "host")):
        copy = LibraryCopy(library="cudart", version="12.8.90", path="/x", found_via=via)
        assert changes.scope_of("cuda.libraries", found_via=via) == scope
        needs = rules.cuda_needs(Snapshot(cuda=CudaInfo(libraries=(copy,))))
        assert bool(needs) == (scope == "environment")
