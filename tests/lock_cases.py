"""Hashed locks and conda records the lock, image and SBOM unit tests share (no index, no pip)."""

from __future__ import annotations

import json
from pathlib import Path

from envsnap.lock import LockedFile, LockedPin, plan
from envsnap.lock.model import HashedLock
from envsnap.probes.conda import parse_record
from envsnap.snapshot import CondaEnv, Package, Snapshot
from envsnap.testing import cpu_venv_snapshot, python_env

CONDA_META = Path(__file__).resolve().parent / "data" / "conda-meta"
H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


def snapshot(*packages: Package, indexes: tuple[str, ...] = ()) -> Snapshot:
    return cpu_venv_snapshot(python=python_env(*packages, indexes=indexes))


def two_wheel_lock(snap: Snapshot, policy: str = "wheelhouse") -> HashedLock:
    """Each index pin of the plan locked to a pure wheel (H1) and a manylinux wheel (H2)."""
    p = plan(snap)
    pins = tuple(
        LockedPin(name=pin.name, version=pin.version, origin="wheelhouse", index=pin.index,
                  files=(LockedFile(filename=f"{pin.name}-{pin.version}-py3-none-any.whl",
                                    sha256=H1, size=10),
                         LockedFile(filename=f"{pin.name}-{pin.version}-cp311-cp311-manylinux_2_17_x86_64.whl",
                                    sha256=H2, size=20)))
        for pin in p.pins if pin.kind == "index")
    return HashedLock(plan=p, pins=pins, unlockable=(), policy=policy)


def conda_env() -> CondaEnv:
    """The recorded real conda-meta records in tests/data/conda-meta."""
    records = [json.loads(p.read_text("utf-8")) for p in sorted(CONDA_META.glob("*.json"))]
    return CondaEnv(prefix="/opt/conda", packages=tuple(parse_record(r) for r in records))
