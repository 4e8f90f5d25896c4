"""sanitize: what capture writes, load accepts. validate is the reference: every hostile
snapshot comes out valid, a valid one comes out unchanged, and each drop is named."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from strategies import hostile_snapshots, valid_snapshots

from envsnap.errors import SnapshotFormatError
from envsnap.sanitize import sanitize
from envsnap.snapshot import CondaEnv, CudaInfo, Package, Snapshot, Source, validate
from envsnap.testing import cpu_venv_snapshot


@settings(max_examples=80, deadline=None)
@given(hostile_snapshots())
def test_what_sanitize_keeps_validate_accepts(snapshot: Snapshot) -> None:
    clean, warnings = sanitize(snapshot)
    validate(clean)  # raises on anything unsafe left behind
    if clean != snapshot:
        assert warnings
    assert sanitize(clean) == (clean, {})  # nothing left to drop


@settings(max_examples=60, deadline=None)
@given(valid_snapshots())
def test_a_valid_snapshot_is_kept_whole(snapshot: Snapshot) -> None:
    clean, warnings = sanitize(snapshot)
    assert (clean, warnings) == (snapshot, {})


def test_each_drop_is_named_with_its_probe() -> None:
    snap = cpu_venv_snapshot(
        Package(name="ok", version="1.0", requires=("numpy>=1", "evil\nRUN x")),
        Package(name="bad\x1bname", version="1.0"),
        Package(name="src", version="1.0", source=Source(kind="archive", url="https://h/\nx")),
        env={"GOOD": "1", "BAD": "a\nb"}, cuda=CudaInfo(declared={"CUDA_VERSION": "12\r4"}))
    clean, warnings = sanitize(snap)
    assert clean.python is not None
    assert [p.name for p in clean.python.packages] == ["ok", "src"]
    assert clean.python.packages[0].requires == ("numpy>=1",)
    assert clean.python.packages[1].source is None
    assert clean.env == {"GOOD": "1"}
    assert clean.cuda is not None and dict(clean.cuda.declared) == {}
    said = "\n".join(w for ws in warnings.values() for w in ws)
    assert set(warnings) == {"python", "env", "cuda"}
    assert "'bad\\x1bname 1.0'" in said and "evil\\nRUN x" in said and "BAD" in said
    assert "\n" not in "".join(warnings["python"])  # each warning is one line


def test_undecodable_bytes_are_escaped_not_dropped() -> None:
    snap = cpu_venv_snapshot(Package(name="p", version="1",
                                     source=Source(kind="dir", url="file:///src/caf\udce9")))
    clean, warnings = sanitize(snap)
    assert clean.python is not None and clean.python.packages[0].source is not None
    assert clean.python.packages[0].source.url == "file:///src/caf\\udce9"
    assert warnings["python"][0].startswith("escaped undecodable bytes in 1 value(s)")
    validate(clean)
    assert sanitize(replace(clean)) == (clean, {})


def test_validate_and_sanitize_agree_on_conda_requested_specs() -> None:
    # Hypothesis found them apart: validate accepted a requested spec holding a newline that
    # sanitize dropped. One predicate (is_safe_text) now decides for both.
    snap = Snapshot(conda=CondaEnv(prefix="/opt/conda", requested_specs=("pip", "\n[python]\n")))
    with pytest.raises(SnapshotFormatError, match=r"conda\.requested_specs\[1\]"):
        validate(snap)
    clean, warnings = sanitize(snap)
    assert clean.conda is not None and clean.conda.requested_specs == ("pip",)
    assert set(warnings) == {"conda"}
    validate(clean)
