"""Lock renderers: pip-tools requirements, PEP 751 pylock, conda-lock v1 + @EXPLICIT (pure)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from envsnap.errors import BadInputError
from envsnap.lock import LockedFile, LockedPin, plan, render, render_conda, validate_conda_lock
from envsnap.lock.model import HashedLock, Unlockable
from envsnap.lock.pylock import validate_pylock
from envsnap.lock.safety import scrub
from envsnap.probes.conda import parse_record
from envsnap.snapshot import CondaEnv, Package, PythonEnv, Snapshot, Source
from envsnap.testing import cpu_venv_snapshot, python_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONDA_META = Path(__file__).resolve().parent.parent / "data" / "conda-meta"
H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


def _snapshot(*packages: Package, indexes: tuple[str, ...] = ()) -> Snapshot:
    return cpu_venv_snapshot(python=python_env(*packages, indexes=indexes))


def _lock(snapshot: Snapshot, policy: str = "wheelhouse") -> HashedLock:
    p = plan(snapshot)
    pins = tuple(
        LockedPin(name=pin.name, version=pin.version, origin="wheelhouse", index=pin.index,
                  files=(LockedFile(filename=f"{pin.name}-{pin.version}-py3-none-any.whl",
                                    sha256=H1, size=10),
                         LockedFile(filename=f"{pin.name}-{pin.version}-cp311-cp311-manylinux_2_17_x86_64.whl",
                                    sha256=H2, size=20)))
        for pin in p.pins if pin.kind == "index")
    return HashedLock(plan=p, pins=pins, unlockable=(), policy=policy)


def test_plan_routes_local_label_to_its_index_and_keeps_file_indexes_out() -> None:
    snap = _snapshot(Package(name="torch", version="2.3.1+cu121"),
                     Package(name="six", version="1.16.0"),
                     indexes=("file:///opt/pypi/simple", "https://user:****@corp/simple"))
    p = plan(snap)
    torch = next(x for x in p.pins if x.name == "torch")
    assert torch.index == "https://download.pytorch.org/whl/cu121"
    assert p.index_url == "https://pypi.org/simple"  # the machine's file:// index is not used
    assert p.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert "manylinux2014_x86_64" in p.platforms and "linux_x86_64" in p.platforms


def test_plan_classifies_sources() -> None:
    snap = _snapshot(
        Package(name="mine", version="0.1", source=Source(kind="editable", url="file:///h/mine")),
        Package(name="gitpkg", version="1.0", source=Source(
            kind="vcs", vcs="git", url="https://github.com/o/r", commit="abc123")),
        Package(name="remote", version="2.0", source=Source(
            kind="archive", url="https://example.org/remote-2.0.tar.gz", hash="sha256=" + H3)),
        Package(name="conda-owned", version="1.0", owner="conda"),
    )
    kinds = {p.name: (p.kind, p.build_from) for p in plan(snap).pins}
    assert kinds["mine"] == ("build", "/h/mine")
    assert kinds["gitpkg"] == ("build", "git+https://github.com/o/r@abc123")
    assert kinds["remote"][0] == "direct"
    assert "conda-owned" not in kinds and plan(snap).conda_owned == ("conda-owned",)


def test_requirements_is_pip_tools_format_and_lists_unlockable() -> None:
    snap = _snapshot(Package(name="six", version="1.16.0"),
                     Package(name="torch", version="2.3.1+cu121"))
    hashed = _lock(snap)
    hashed = HashedLock(plan=hashed.plan, pins=hashed.pins, policy="wheelhouse", unlockable=(
        Unlockable(name="mine", version="0.1", reason="editable"),))
    text = render(snap, hashed, ["requirements"], command="envsnap lock s.toml")[
        "requirements.txt"]
    assert "#    envsnap lock s.toml\n" in text
    assert f"six==1.16.0 \\\n    --hash=sha256:{H1} \\\n    --hash=sha256:{H2}\n" in text
    assert "--extra-index-url https://download.pytorch.org/whl/cu121\n" in text
    assert "#   mine==0.1: editable" in text
    assert snap.digest in text


def test_pylock_validates_with_packaging_and_has_no_absolute_paths() -> None:
    snap = _snapshot(Package(name="six", version="1.16.0"),
                     Package(name="attrs", version="23.2.0"))
    text = render(snap, _lock(snap), ["pylock"], command="envsnap lock s.toml",
                  wheel_dir="wheels")["pylock.toml"]
    pylock = validate_pylock(text)
    assert [p.name for p in pylock.packages] == ["attrs", "six"]
    wheels = pylock.packages[1].wheels
    assert wheels is not None and {w.hashes["sha256"] for w in wheels} == {H1, H2}
    assert all(w.path and w.path.startswith("wheels/") for w in wheels)
    assert tomllib.loads(text)["requires-python"] == "==3.11.*"


def test_pylock_direct_archive() -> None:
    url = "https://example.org/remote-2.0-py3-none-any.whl"
    snap = _snapshot(Package(name="remote", version="2.0",
                             source=Source(kind="archive", url=url, hash="sha256=" + H3)))
    p = plan(snap)
    hashed = HashedLock(plan=p, policy="index", unlockable=(), pins=(LockedPin(
        name="remote", version="2.0", origin="direct", url=url,
        files=(LockedFile(filename="remote-2.0-py3-none-any.whl", sha256=H3, url=url),)),))
    files = render(snap, hashed, ["pylock", "requirements"], command="x")
    archive = validate_pylock(files["pylock.toml"]).packages[0].archive
    assert archive is not None and archive.url == url and archive.hashes["sha256"] == H3
    assert f"remote @ {url} \\\n    --hash=sha256:{H3}" in files["requirements.txt"]


def _conda_env() -> CondaEnv:
    records = [json.loads(p.read_text("utf-8")) for p in sorted(CONDA_META.glob("*.json"))]
    return CondaEnv(prefix="/opt/conda", packages=tuple(parse_record(r) for r in records))


def test_conda_lock_from_shared_records_loads_with_conda_lock_models() -> None:
    env = _conda_env()
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
    env = _conda_env()
    bad = env.packages[0].__class__(name="nohash", version="1", build="0",
                                    url="https://x.org/ch/linux-64/nohash-1-0.conda",
                                    subdir="linux-64")
    snap = Snapshot(conda=CondaEnv(prefix="/p", packages=(*env.packages, bad)))
    out = render_conda(snap, None, command="x")
    assert out.skipped == ("nohash=1=0: no md5/sha256 recorded",)
    assert "#   nohash=1=0: no md5/sha256 recorded" in out.files["conda-lock.yml"]


@pytest.mark.parametrize("field,value", [
    ("name", "six;rm -rf /"), ("name", "six\nRUN x"), ("version", "1.0 || curl x"),
    ("version", '1.0"'),
])
def test_hostile_package_refused_before_rendering(field: str, value: str) -> None:
    fields = {"name": "six", "version": "1.0", field: value}
    pkg = Package(name=fields["name"], version=fields["version"])
    with pytest.raises(BadInputError):
        plan(_snapshot(pkg))


def test_hostile_env_value_refused() -> None:
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython"),
                    env={"PYTHONHASHSEED": "0$(id)"})
    with pytest.raises(BadInputError, match=r"env\.PYTHONHASHSEED") as refused:
        plan(snap)
    assert "$(id)" not in str(refused.value)  # the refused value is never echoed


def test_scrub_hides_paths_and_credentials_but_keeps_urls() -> None:
    text = scrub("ERROR: no such file /home/alice/src/pkg from https://u:pw@h.org/simple/x")
    assert "/home/alice" not in text and "pw@" not in text
    assert "https://****@h.org/simple/x" in text


def test_ordinary_env_values_do_not_block_a_lock() -> None:
    from envsnap.lock.safety import check_snapshot
    from envsnap.snapshot import Snapshot as _Snapshot

    # Real values: an arch list with ';' and '+', a URL the capture redacted.
    check_snapshot(_Snapshot(env={"TORCH_CUDA_ARCH_LIST": "8.0;8.6+PTX",
                                  "TRITON_CACHE_URL": "https://svc:****@cache.internal/t"}))


@pytest.mark.parametrize("url", [
    "https://files.example/a.whl --trusted-host evil",
    'https://files.example/a.whl"',
    "https://files.example/$(id).whl",
])
def test_urls_that_could_carry_pip_options_are_refused(url: str) -> None:
    from envsnap.errors import BadInputError
    from envsnap.lock.safety import check_snapshot
    from envsnap.snapshot import Package, PythonEnv, Source
    from envsnap.snapshot import Snapshot as _Snapshot

    snap = _Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="a", version="1.0", source=Source(kind="archive", url=url)),)))
    with pytest.raises(BadInputError, match=r"refusing the URL at 'python\.packages\.a\.source\.url'"
                       ) as refused:
        check_snapshot(snap)
    assert "files.example" not in str(refused.value)  # the refused value is never echoed


def test_plan_normalises_names_so_both_hashing_modes_agree() -> None:
    from envsnap.lock.plan import plan
    from envsnap.snapshot import Package, PythonEnv
    from envsnap.snapshot import Snapshot as _Snapshot

    snap = _Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="PyYAML", version="6.0.2"), Package(name="Typing_Extensions", version="4.12.2"))))
    assert sorted(p.name for p in plan(snap).pins) == ["pyyaml", "typing-extensions"]


# ---------------------------------------------------------------------------------------------
# Whole, or named: what each file lacks


def test_lacking_names_what_each_file_cannot_hold() -> None:
    from envsnap.lock import lacking

    snap = _snapshot(Package(name="six", version="1.16.0"), Package(name="idna", version="3.7"),
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

    env = _conda_env()
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
    snapio.dump(Snapshot(conda=_conda_env()), path)
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
