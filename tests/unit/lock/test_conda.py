"""Conda records -> conda-lock.yml v1 and @EXPLICIT, checked with conda-lock's own models (pure)."""

from __future__ import annotations

import sys

from envsnap.lock import LockedFile, LockedPin, plan, render_conda, validate_conda_lock
from envsnap.lock.model import HashedLock
from envsnap.snapshot import CondaEnv, Package, PythonEnv, Snapshot

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


from lock_cases import H3, conda_env


def test_conda_lock_from_shared_records_loads_with_conda_lock_models() -> None:
    env = conda_env()
    snap = Snapshot(conda=env, python=PythonEnv(
        version="3.13.2", implementation="cpython", env_kind="conda",
        packages=(Package(name="six", version="1.11.0", owner="conda"),
                  Package(name="imagesize", version="1.4.1"))))
    p = plan(snap)
    url = "https://files.pythonhosted.org/packages/x/imagesize-1.4.1-py2.py3-none-any.whl"
    hashed = HashedLock(plan=p, policy="index", unlockable=(), pins=(LockedPin(
        name="imagesize", version="1.4.1", origin="index",
        files=(LockedFile(filename="imagesize-1.4.1-py2.py3-none-any.whl", sha256=H3,
                          url=url),)),))
    out = render_conda(snap, hashed, command="envsnap lock s.toml")
    lockfile = validate_conda_lock(out.files["conda-lock.yml"])
    by_name = {(d.name, d.manager): d for d in lockfile.package}
    assert len([d for d in lockfile.package if d.manager == "conda"]) == len(env.packages)
    numpy = by_name[("numpy", "conda")]
    assert numpy.hash.md5 == "53f0204756123cbe9acef5710dce7096" and numpy.platform == "osx-64"
    pip_rec = by_name[("pip", "conda")]  # noarch record -> the env's platform
    assert pip_rec.platform in ("osx-64", "osx-arm64")
    assert by_name[("imagesize", "pip")].hash.sha256 == H3
    assert set(lockfile.metadata.platforms) == {"osx-64", "osx-arm64"}
    explicit = out.files["conda-osx-64.lock"]
    assert "@EXPLICIT\n" in explicit
    assert ("https://repo.anaconda.com/pkgs/main/osx-64/numpy-1.15.1-py36had7ef94_0.tar.bz2"
            "#53f0204756123cbe9acef5710dce7096") in explicit
    assert "/opt/conda" not in out.files["conda-lock.yml"]


def test_conda_record_without_hash_is_reported_not_dropped() -> None:
    env = conda_env()
    bad = env.packages[0].__class__(name="nohash", version="1", build="0",
                                    url="https://x.org/ch/linux-64/nohash-1-0.conda",
                                    subdir="linux-64")
    snap = Snapshot(conda=CondaEnv(prefix="/p", packages=(*env.packages, bad)))
    out = render_conda(snap, None, command="x")
    assert out.skipped == ("nohash=1=0: no md5/sha256 recorded",)
    assert "#   nohash=1=0: no md5/sha256 recorded" in out.files["conda-lock.yml"]
