"""gpuarch: arch-list entries and compute capabilities parsed, which builds run on which GPU
(PyTorch's capability table, the shipped compat tables), and the GPU-change rules."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap import compat, gpuarch
from envsnap.gpuarch import Arch
from envsnap.snapshot import GPU, Framework


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
    (["sm_" + "9" * 5000], "9.0", None),
])
def test_arch_covers(archs: list[str], cc: str | None, covered: bool | None) -> None:
    assert gpuarch.arch_covers(archs, cc) is covered


def test_gpu_names_first_cuda_and_the_fix() -> None:
    assert gpuarch.cc_for_gpu_name("NVIDIA GeForce RTX 5090") == "12.0"
    assert gpuarch.cc_for_gpu_name("NVIDIA A100-SXM4-80GB") == "8.0"
    assert gpuarch.cc_for_gpu_name("NVIDIA A10G") == "8.6"
    assert gpuarch.cc_for_gpu_name("NVIDIA L40S") == "8.9"
    assert gpuarch.cc_for_gpu_name("Unknown Accelerator") is None
    assert gpuarch.first_cuda_for_cc("12.0") == "12.8"
    gpu = GPU(index=0, name="NVIDIA GeForce RTX 5090")
    fw = Framework(name="torch", version="2.6.0+cu126", variant="cu126")
    assert gpuarch.uncovered([gpu], [fw]) == [(gpu, fw)]  # the shipped cu126 list ends at sm_90
    assert gpuarch.gpu_fix(gpu, fw) == ("install a torch build for CUDA 12.8 or newer whose arch "
                                      "list includes sm_120")
    cpu = Framework(name="torch", version="2.6.0+cpu", variant="cpu")
    assert gpuarch.uncovered([gpu], [cpu]) == []  # a CPU build has no arch list to miss


def test_torch_tables() -> None:
    assert gpuarch.torch_arch_list("2.9.1+cu128", "cu128")[-1] == "sm_120"
    assert gpuarch.torch_arch_list("2.6.0", "cu126")[-1] == "sm_90"
    assert gpuarch.torch_cuda_variants("2.9.1") == ("12.6", "12.8", "13.0")


# ---------------------------------------------------------------------------------------------
# Parsers: the nvcc spelling round-trips for every CC the regexes admit; nothing else parses

CCS = st.tuples(st.integers(1, 99), st.integers(0, 9))


@given(st.sampled_from(["sm", "compute"]), CCS, st.sampled_from(["", "a", "f"]))
def test_parse_arch_round_trips_the_nvcc_spelling(kind: str, cc: tuple[int, int], suffix: str) -> None:
    entry = f"{kind}_{cc[0]}{cc[1]}{suffix}"
    assert gpuarch.parse_arch(entry) == Arch(kind=kind, cc=cc, suffix=suffix)
    assert gpuarch.parse_arch(f"  {entry}\n") == gpuarch.parse_arch(entry)  # as a list splits


@pytest.mark.parametrize("entry", ["sm90", "sm_9", "sm_", "lto_90", "sm_90b", "SM_90", "sm_1000",
                                   "compute_90 sm_90", "", "sm_9x"])
def test_parse_arch_refuses_what_nvcc_does_not_write(entry: str) -> None:
    assert gpuarch.parse_arch(entry) is None


@given(CCS)
def test_parse_cc_round_trips(cc: tuple[int, int]) -> None:
    assert gpuarch.parse_cc(f"{cc[0]}.{cc[1]}") == cc


@pytest.mark.parametrize("cc", [None, "", "9", "9.10", "100.0", "nine", "-1.0"])
def test_parse_cc_refuses_what_no_gpu_reports(cc: str | None) -> None:
    assert gpuarch.parse_cc(cc) is None


# ---------------------------------------------------------------------------------------------
# arch_runs_on against a plain restatement of PyTorch's rule and the shipped exact-only list

def _runs_on_reference(arch: Arch, device: tuple[int, int]) -> bool:
    sass = compat.data("cuda.toml")["sass"]
    exact = {tuple(map(int, cc.split("."))) for cc in sass["exact_only"]}
    also = {tuple(map(int, k.split("."))): {tuple(map(int, v.split("."))) for v in vs}
            for k, vs in sass["also_runs_on"].items()}
    if arch.kind == "compute":
        return device >= arch.cc
    if arch.suffix == "a" or arch.cc in exact:
        return device == arch.cc or device in also.get(arch.cc, set())
    if device in exact:
        return device == arch.cc
    return device[0] == arch.cc[0] and device[1] >= arch.cc[1]


@given(st.sampled_from(["sm", "compute"]), CCS, st.sampled_from(["", "a", "f"]), CCS)
def test_arch_runs_on_agrees_with_the_reference(kind: str, cc: tuple[int, int], suffix: str,
                                               device: tuple[int, int]) -> None:
    arch = Arch(kind=kind, cc=cc, suffix=suffix)
    assert gpuarch.arch_runs_on(arch, device) is _runs_on_reference(arch, device)


@given(st.lists(st.tuples(st.sampled_from(["sm", "compute"]), CCS), max_size=6), CCS)
def test_a_list_covers_when_one_entry_does(entries: list[tuple[str, tuple[int, int]]],
                                           device: tuple[int, int]) -> None:
    archs = [f"{k}_{c[0]}{c[1]}" for k, c in entries]
    cc = f"{device[0]}.{device[1]}"
    got = gpuarch.arch_covers(archs, cc)
    if not archs:
        assert got is None
    else:
        assert got is any(gpuarch.arch_covers([a], cc) for a in archs)


def test_every_sass_arch_runs_on_its_own_cc() -> None:
    for cc in [*compat.data("cuda.toml")["first_cuda_for_cc"]["cc"], "8.7", "10.1"]:
        parsed = gpuarch.parse_cc(cc)
        assert parsed is not None
        assert gpuarch.arch_covers([f"sm_{cc.replace('.', '')}"], cc) is True, cc


# ---------------------------------------------------------------------------------------------
# Names and tables

def _gpu_table() -> Mapping[str, str]:
    table: Mapping[str, str] = compat.data("gpus.toml")["compute_capability"]
    return table


@pytest.mark.parametrize("key", sorted(_gpu_table()))
def test_every_gpu_table_name_is_found_in_a_marketing_name(key: str) -> None:
    table = _gpu_table()
    longest = max((k for k in table if k.lower() in key.lower()), key=len)
    assert longest == key or len(longest) > len(key)
    for name in (f"NVIDIA {key}", f"NVIDIA {key.upper()} 80GB", key.lower()):
        assert gpuarch.cc_for_gpu_name(name) == table[longest], name


def test_the_captured_cc_wins_over_the_name() -> None:
    assert gpuarch.gpu_cc(GPU(index=0, name="NVIDIA H100", compute_capability="8.0")) == "8.0"
    assert gpuarch.gpu_cc(GPU(index=0, name="NVIDIA H100")) == "9.0"
    assert gpuarch.gpu_cc(GPU(index=0, name="Unknown")) is None


def test_arch_list_of_prefers_the_captured_list() -> None:
    captured = Framework(name="torch", version="2.6.0+cu126", variant="cu126", arch_list=("sm_80",))
    assert gpuarch.arch_list_of(captured) == ("sm_80",)
    shipped = Framework(name="torch", version="2.6.0+cu126", variant="cu126")
    assert gpuarch.arch_list_of(shipped) == gpuarch.torch_arch_list("2.6.0", "cu126") != ()
    assert gpuarch.arch_list_of(Framework(name="jax", version="0.4.30", variant="cuda12")) == ()


@pytest.mark.parametrize(("version", "variant"), [("2.6.0", None), ("", "cu126"), ("x", "cu126"),
                                                  ("1.0.0", "cu126"), ("2.6.0", "cu999")])
def test_torch_arch_list_is_empty_where_the_table_has_no_row(version: str, variant: str | None) -> None:
    assert gpuarch.torch_arch_list(version, variant) == ()


def test_torch_cuda_variants_unknown_release() -> None:
    assert gpuarch.torch_cuda_variants("0.1") == ()
    assert gpuarch.torch_cuda_variants("") == ()


def test_describe_arch_list() -> None:
    assert gpuarch.describe_arch_list(["sm_80", "sm_90"]) == "sm_80, sm_90"
    assert gpuarch.describe_arch_list([]) == "(none)"


def test_gpu_fix_without_a_first_cuda_names_only_the_arch() -> None:
    fw = Framework(name="torch", version="2.6.0", variant="cu126")
    gpu = GPU(index=0, name="Mystery", compute_capability="4.2")
    assert gpuarch.first_cuda_for_cc("4.2") is None
    assert gpuarch.gpu_fix(gpu, fw) == "install a torch build whose arch list includes sm_42"


# ---------------------------------------------------------------------------------------------
# gpu_change: which [rules] another GPU in the same slot falls under

H100 = GPU(index=0, name="NVIDIA H100 80GB HBM3", memory_bytes=80 * 2**30, compute_capability="9.0")


@pytest.mark.parametrize(("have", "rules"), [
    (H100, ()),
    (GPU(index=0, name="NVIDIA H100 80GB HBM3", memory_bytes=80 * 2**30), ()),  # CC from the name
    (GPU(index=0, name="NVIDIA A100-SXM4-80GB", memory_bytes=80 * 2**30, compute_capability="8.0"),
     ("gpu_older_arch",)),
    (GPU(index=0, name="NVIDIA A100-SXM4-40GB", memory_bytes=40 * 2**30, compute_capability="8.0"),
     ("gpu_older_arch", "gpu_memory")),
    (GPU(index=0, name="NVIDIA H200", memory_bytes=141 * 2**30, compute_capability="9.0"),
     ("gpu_model",)),
    (GPU(index=0, name="NVIDIA H100 NVL", memory_bytes=int(80 * 2**30 * 0.94),
         compute_capability="9.0"), ("gpu_memory", "gpu_model")),
    (GPU(index=0, name="NVIDIA H100 80GB HBM3", memory_bytes=int(80 * 2**30 * 0.96),
         compute_capability="9.0"), ()),  # within 5%
    (GPU(index=0, name="NVIDIA B200", compute_capability="10.0"), ("gpu_model",)),
    (GPU(index=0, name="Unknown"), ("gpu_model",)),  # no CC: never called older
])
def test_gpu_change(have: GPU, rules: tuple[str, ...]) -> None:
    assert gpuarch.gpu_change(H100, have) == rules
