"""The build context: a normalised tar (same plan, same bytes) and the wheels it needs.

The context sent to a real engine: tests/integration/test_engine.py, test_image_roundtrip.py."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from lock_cases import snapshot, two_wheel_lock

from envsnap.errors import BadInputError
from envsnap.image import choose_base, render
from envsnap.image.context import EPOCH, context_tar, dockerfile_tar, write_context
from envsnap.image.dockerfile import ImagePlan
from envsnap.snapshot import Package


def _plan() -> ImagePlan:
    snap = snapshot(Package(name="six", version="1.16.0"), Package(name="torch", version="2.3.1"))
    return render(snap, two_wheel_lock(snap), base=choose_base(snap), offline=True)


def _wheelhouse(root: Path, plan: ImagePlan) -> Path:
    root.mkdir()
    for names in plan.wheels.values():
        for name in names:
            (root / name).write_bytes(name.encode() * 3)
    return root


def test_the_tar_holds_the_plan_normalised(tmp_path: Path) -> None:
    plan = _plan()
    wheels = _wheelhouse(tmp_path / "w", plan)
    with context_tar(plan, wheels) as fh:
        first = fh.read()
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            members = tar.getmembers()
            assert all(m.mtime == EPOCH and m.uid == 0 and m.uname == "" for m in members)
            names = [m.name for m in members]
            extracted = tar.extractfile("Dockerfile")
            assert extracted is not None and extracted.read().decode() == plan.dockerfile
    expected_wheels = {f"wheels/{g}/{n}" for g, ns in plan.wheels.items() for n in ns}
    assert expected_wheels and expected_wheels <= set(names)
    assert set(plan.files) <= set(names)
    (wheels / next(iter(plan.wheels["heavy"]))).touch()  # a newer mtime on disk changes nothing
    with context_tar(plan, wheels) as again:
        assert again.read() == first


def test_an_offline_plan_needs_its_wheelhouse(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="needs --wheelhouse"):
        context_tar(_plan(), None)
    with pytest.raises(BadInputError, match="needs --wheelhouse"):
        write_context(_plan(), None, tmp_path / "ctx")
    assert not (tmp_path / "ctx").exists()  # nothing half-written


def test_write_context_lays_out_the_same_files(tmp_path: Path) -> None:
    plan = _plan()
    written = write_context(plan, _wheelhouse(tmp_path / "w", plan), tmp_path / "ctx")
    assert (tmp_path / "ctx" / "Dockerfile").read_text() == plan.dockerfile
    assert all(p.is_file() for p in written)
    heavy = plan.wheels["heavy"][0]
    assert (tmp_path / "ctx" / "wheels" / "heavy" / heavy).read_bytes() == heavy.encode() * 3


def test_a_dockerfile_only_context() -> None:
    with tarfile.open(fileobj=dockerfile_tar("FROM x\n")) as tar:
        assert tar.getnames() == ["Dockerfile"]
        member = tar.extractfile("Dockerfile")
        assert member is not None and member.read() == b"FROM x\n"
