"""The TOML and JSON writers proven against the standard library's readers over hostile snapshots."""

from __future__ import annotations

import json
import sys
import warnings

from hypothesis import HealthCheck, given, settings
from strategies import hostile_snapshots, valid_snapshots

from envsnap.io import dumps, dumps_json, loads
from envsnap.sanitize import sanitize
from envsnap.snapshot import Snapshot, to_dict, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# database=None: nothing written into the working tree; a failure prints its example.
ROUND_TRIP = settings(max_examples=1000, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])


def _reloaded(text: str) -> Snapshot:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a digest that no longer matches is a failure here
        return loads(text)


@ROUND_TRIP
@given(hostile_snapshots())
def test_what_the_writers_write_the_reference_readers_read_back(snapshot: Snapshot) -> None:
    data = to_dict(snapshot)
    # tomllib is the reference, never envsnap's own reader (which may pick tomli).
    assert tomllib.loads(dumps(snapshot)) == data
    assert json.loads(dumps_json(snapshot)) == data
    # And what sanitize (capture's gate) keeps of it, load accepts and reads back unchanged.
    clean, _dropped = sanitize(snapshot)
    validate(clean)
    assert to_dict(_reloaded(dumps(clean))) == to_dict(clean)


@ROUND_TRIP
@given(valid_snapshots())
def test_a_valid_snapshot_survives_dump_and_load(snapshot: Snapshot) -> None:
    validate(snapshot)  # the strategy's promise; a failure here is the strategy's bug
    # to_dict forms: Package.metadata_path is transient, never written, so never read back.
    expected = to_dict(snapshot)
    assert to_dict(_reloaded(dumps(snapshot))) == expected
    assert to_dict(_reloaded(dumps_json(snapshot))) == expected
