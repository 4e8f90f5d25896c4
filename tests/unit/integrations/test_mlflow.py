"""MLflow's pure part: the searchable run tags (the tracker's fields, prefixed).

Logging to and reading back from real MLflow stores: tests/integration/test_mlflow.py and
tests/integration/test_mlflow_stores.py."""

from __future__ import annotations

from envsnap.integrations.mlflow import TAG_PREFIX, tags
from envsnap.integrations.tracking import summary_fields
from envsnap.testing import h100_snapshot, python_env, torch_framework


def test_tags_are_the_summary_fields_under_the_prefix() -> None:
    snap = h100_snapshot(python=python_env(), frameworks=(torch_framework(),))
    got = tags(snap)
    assert TAG_PREFIX == "envsnap."
    assert got == {f"envsnap.{k}": v for k, v in summary_fields(snap).items()}
    assert got["envsnap.digest"] == snap.digest
