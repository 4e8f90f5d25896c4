"""Each loader rule on a real layout built with cc: envsnap's answer against the real loader's, live."""

from __future__ import annotations

import ctypes.util
import json
import sys
from pathlib import Path

import loader_cases
import pytest

from envsnap.host import LocalHost
from envsnap.probes import frameworks
from envsnap.snapshot import Binding, Framework

RECORDED = {c["name"]: c for c in json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "loader" / "cases.json").read_text())}


@pytest.mark.parametrize("case", loader_cases.CASES, ids=[c.name for c in loader_cases.CASES])
def test_envsnap_binds_what_the_loader_binds(case: loader_cases.Case, tmp_path: Path) -> None:
    truth, ours, record = loader_cases.run_case(case, tmp_path / case.name)
    assert loader_cases.disagreement(case, truth, ours) is None
    assert truth.bound or truth.failed
    # The unit tier replays a recording of this case: the real loader still says what it says.
    assert record["truth"] == RECORDED[case.name]["truth"]


def test_deep_child_really_answers_for_a_real_library(tmp_path: Path) -> None:
    # The --deep child script itself, in a real interpreter: libz answers to its SONAME once
    # loaded, by the real path the loader opened.
    libz = ctypes.util.find_library("z")
    assert libz is not None
    fw = Framework(name="zlib-user", version="1", bindings=(
        Binding(soname="libz.so.1", path="/nowhere/libz.so.1", via="ld_cache"),
        Binding(soname="libnotloaded.so.7", via="missing")))
    (checked,), why = frameworks._deep(LocalHost(), sys.executable, [fw], {"zlib-user": (libz,)})
    assert why is None
    z, absent = checked.bindings
    assert z.verified is False and z.loaded is not None and "libz.so" in z.loaded
    assert (absent.verified, absent.loaded) == (True, None)  # predicted missing: it is
