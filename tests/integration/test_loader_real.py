"""Each loader rule on a real layout built with cc: envsnap's answer against the real loader's, live."""

from __future__ import annotations

import json
from pathlib import Path

import loader_cases
import pytest

RECORDED = {c["name"]: c for c in json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "loader" / "cases.json").read_text())}


@pytest.mark.parametrize("case", loader_cases.CASES, ids=[c.name for c in loader_cases.CASES])
def test_envsnap_binds_what_the_loader_binds(case: loader_cases.Case, tmp_path: Path) -> None:
    truth, ours, record = loader_cases.run_case(case, tmp_path / case.name)
    assert loader_cases.disagreement(case, truth, ours) is None
    assert truth.bound or truth.failed
    # The unit tier replays a recording of this case: the real loader still says what it says.
    assert record["truth"] == RECORDED[case.name]["truth"]
