"""The lock package's API: render and lacking (what each file cannot hold), and one check per snapshot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envsnap.lock import LockedFile, LockedPin, plan, render, render_conda
from envsnap.lock.model import HashedLock, Unlockable
from envsnap.snapshot import CondaEnv, Package, Snapshot

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


from lock_cases import H3, conda_env, snapshot

from envsnap.lock import wheel_dir_for

# ---------------------------------------------------------------------------------------------
# Whole, or named: what each file lacks


def test_lacking_names_what_each_file_cannot_hold() -> None:
    from envsnap.lock import lacking

    snap = snapshot(Package(name="six", version="1.16.0"), Package(name="idna", version="3.7"),
                     Package(name="gone", version="1.0"), Package(name="pip", version="24.0"))
    p = plan(snap)
    hashed = HashedLock(plan=p, policy="index", pins=(
        LockedPin(name="six", version="1.16.0", origin="index", files=(LockedFile(
            filename="six-1.16.0-py2.py3-none-any.whl", sha256=H3,
            url="https://files.example/six-1.16.0-py2.py3-none-any.whl"),)),
        LockedPin(name="idna", version="3.7", origin="index", via="/srv/wheels",
                  via_note="a find-links location of this machine's configuration (pip "
                           "configuration)",
                  files=(LockedFile(filename="idna-3.7-py3-none-any.whl", sha256=H3),))),
        unlockable=(Unlockable(name="gone", version="1.0", reason="not found on X"),),
        tools_missing=(Unlockable(name="pip", version="24.0", reason="not found on X"),))
    files = render(snap, hashed, ["requirements", "pylock"], command="envsnap lock s.toml")
    gaps = lacking(snap, hashed, files)
    assert gaps["requirements.txt"] == ("gone==1.0: not found on X",)
    assert gaps["pylock.toml"][0] == "gone==1.0: not found on X"
    assert gaps["pylock.toml"][1].startswith("idna==3.7: found through a find-links location "
                                             "of this machine's configuration")
    req = files["requirements.txt"]
    assert ("idna==3.7 \\\n    --hash=sha256:" + H3 + "\n    # found through a find-links "
            "location of this machine's configuration (pip configuration), not from an index "
            "this file names") in req
    assert "/srv/wheels" not in req and "/srv/wheels" not in files["pylock.toml"]
    assert "#   pip==24.0: not found on X" in req.split("# Installer packages not locked")[1]


def test_a_conda_lock_that_lacks_a_record_exits_1_naming_it(tmp_path: Path) -> None:
    import io
    from dataclasses import replace

    from envsnap import io as snapio
    from envsnap.cli import Console, main

    env = conda_env()
    broken = env.packages[0]
    nourl = CondaEnv(prefix=env.prefix, packages=(*env.packages[1:], replace(broken, url=None)))
    path = tmp_path / "conda.toml"
    snapio.dump(Snapshot(conda=nourl), path)
    err = io.StringIO()
    rc = main(["lock", str(path), "-o", str(tmp_path / "out"), "--format", "conda"],
              Console(io.StringIO(), err))
    assert rc == 1, err.getvalue()
    assert (f"conda-lock.yml lacks 1 package(s): {broken.name}={broken.version}={broken.build}: "
            "no download URL recorded") in err.getvalue()
    assert (tmp_path / "out" / "conda-lock.yml").is_file()  # written, and said to be partial


def test_each_command_checks_its_snapshot_once(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """lock plans once and checks the snapshot once (the model's validation, then the lock's
    stricter rules): render, render_conda and lacking are handed the plan's own snapshot.
    A snapshot the plan did not check is checked by the renderer."""
    import io
    from dataclasses import replace

    from envsnap import io as snapio
    from envsnap.cli import Console, main
    from envsnap.snapshot import validate as real

    checked: list[int] = []

    def counting(snapshot: Snapshot, **kw: bool) -> None:
        checked.append(id(snapshot))
        real(snapshot, **kw)

    # check_snapshot's first step, looked up in its module's names whoever calls it.
    monkeypatch.setattr("envsnap.lock.safety.validate", counting)
    path = tmp_path / "conda.toml"
    snapio.dump(Snapshot(conda=conda_env()), path)
    err = io.StringIO()
    rc = main(["lock", str(path), "-o", str(tmp_path / "out"), "--format", "conda"],
              Console(io.StringIO(), err))
    assert rc == 0 and len(checked) == 1, err.getvalue()
    snap = snapio.load(path)
    hashed = HashedLock(plan=plan(snap), pins=(), unlockable=(), policy="index")
    checked.clear()
    render(snap, hashed, ["conda"], command="x")
    render_conda(snap, hashed, command="x")
    assert checked == []
    other = replace(snap, env={"CUDA_VISIBLE_DEVICES": "0"})
    render_conda(other, hashed, command="x")
    assert checked == [id(other)]


def test_wheel_dir_is_relative_to_the_lock_file(tmp_path: Path) -> None:
    assert wheel_dir_for(tmp_path / "lock", tmp_path / "lock" / "wheels") == "wheels"
    assert wheel_dir_for(tmp_path / "lock", tmp_path / "wheels") == "../wheels"
    assert wheel_dir_for(Path("/tmp/x/lock"), Path("/srv/wheels")) is None  # only / in common
