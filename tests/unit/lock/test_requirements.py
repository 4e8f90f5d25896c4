"""HashedLock -> requirements.txt in pip-tools' format (pure)."""

from __future__ import annotations

import sys

from envsnap.lock import render
from envsnap.lock.model import HashedLock, Unlockable
from envsnap.snapshot import Package

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


from lock_cases import H1, H2, snapshot, two_wheel_lock


def test_requirements_is_pip_tools_format_and_lists_unlockable() -> None:
    snap = snapshot(Package(name="six", version="1.16.0"),
                     Package(name="torch", version="2.3.1+cu121"))
    hashed = two_wheel_lock(snap)
    hashed = HashedLock(plan=hashed.plan, pins=hashed.pins, policy="wheelhouse", unlockable=(
        Unlockable(name="mine", version="0.1", reason="editable"),))
    text = render(snap, hashed, ["requirements"], command="envsnap lock s.toml")[
        "requirements.txt"]
    assert "#    envsnap lock s.toml\n" in text
    assert f"six==1.16.0 \\\n    --hash=sha256:{H1} \\\n    --hash=sha256:{H2}\n" in text
    assert "--extra-index-url https://download.pytorch.org/whl/cu121\n" in text
    assert "#   mine==0.1: editable" in text
    assert snap.digest in text
