"""HashedLock -> PEP 751 pylock.toml, checked with packaging's pylock model (pure)."""

from __future__ import annotations

import sys

from envsnap.lock import LockedFile, LockedPin, plan, render
from envsnap.lock.model import HashedLock
from envsnap.lock.pylock import validate_pylock
from envsnap.snapshot import Package, Source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


from lock_cases import H1, H2, H3, snapshot, two_wheel_lock


def test_pylock_validates_with_packaging_and_has_no_absolute_paths() -> None:
    snap = snapshot(Package(name="six", version="1.16.0"),
                     Package(name="attrs", version="23.2.0"))
    text = render(snap, two_wheel_lock(snap), ["pylock"], command="envsnap lock s.toml",
                  wheel_dir="wheels")["pylock.toml"]
    pylock = validate_pylock(text)
    assert [p.name for p in pylock.packages] == ["attrs", "six"]
    wheels = pylock.packages[1].wheels
    assert wheels is not None and {w.hashes["sha256"] for w in wheels} == {H1, H2}
    assert all(w.path and w.path.startswith("wheels/") for w in wheels)
    assert tomllib.loads(text)["requires-python"] == "==3.11.*"


def test_pylock_direct_archive() -> None:
    url = "https://example.org/remote-2.0-py3-none-any.whl"
    snap = snapshot(Package(name="remote", version="2.0",
                             source=Source(kind="archive", url=url, hash="sha256=" + H3)))
    p = plan(snap)
    hashed = HashedLock(plan=p, policy="index", unlockable=(), pins=(LockedPin(
        name="remote", version="2.0", origin="direct", url=url,
        files=(LockedFile(filename="remote-2.0-py3-none-any.whl", sha256=H3, url=url),)),))
    files = render(snap, hashed, ["pylock", "requirements"], command="x")
    archive = validate_pylock(files["pylock.toml"]).packages[0].archive
    assert archive is not None and archive.url == url and archive.hashes["sha256"] == H3
    assert f"remote @ {url} \\\n    --hash=sha256:{H3}" in files["requirements.txt"]
