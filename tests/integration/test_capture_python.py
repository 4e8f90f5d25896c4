"""Capture of REAL virtual environments built with REAL pip installs, through the real CLI.

One session-scoped venv holds every awkward case the issue names: an editable install, a VCS
direct URL, a local wheel, a local-label version, and dist-infos that are broken on purpose
(no METADATA, invalid version, undecodable bytes, a duplicate, a shadowed copy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.snapshot import Snapshot

pytestmark = pytest.mark.slow

ENVSNAP = [str(Path(sys.executable).parent / "envsnap")]


def envsnap(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*ENVSNAP, *args], capture_output=True, text=True, timeout=120,
                          env=env or support.clean_env(), cwd=cwd, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"envsnap {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def awkward_venv(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> dict[str, object]:
    base = tmp_path_factory.mktemp("awkward")
    py = support.make_venv(base / "venv")
    wheels = base / "wheels"
    support.build_wheel(wheels, "labelpkg", "1.0+cu121")
    local_whl = support.build_wheel(base / "local", "localwheel", "0.3.0")
    # real wheels from the index, one of them (markupsafe) with a compiled extension
    support.pip_install(py, "--no-index", "--find-links", pypi_wheelhouse, "--find-links", wheels,
                        "six==1.16.0", "markupsafe==2.1.5", "labelpkg==1.0+cu121")
    support.pip_install(py, local_whl)
    # editable and VCS installs built by the venv's own setuptools, no network
    support.download_wheels(pypi_wheelhouse, (support.SETUPTOOLS,))
    support.pip_install(py, "--no-index", "--find-links", pypi_wheelhouse, support.SETUPTOOLS)
    editable = support.local_project(base / "src" / "editme", "editme", "0.1.0")
    support.pip_install(py, "--no-build-isolation", "-e", editable)
    repo = support.local_project(base / "src" / "vcspkg", "vcspkg", "2.0.0")
    commit = support.git_commit_all(repo)
    support.pip_install(py, "--no-build-isolation", f"git+file://{repo}@{commit}")

    site = support.site_packages(py)
    # Broken on purpose, the way real machines break (pip#12446, pip#9866, uv#2798):
    (site / "nometa-1.0.dist-info").mkdir()
    (site / "nometa-1.0.dist-info" / "RECORD").write_text("")
    bad_version = site / "badver-0.dist-info"
    bad_version.mkdir()
    (bad_version / "METADATA").write_text("Metadata-Version: 2.1\nName: badver\nVersion: main\n")
    undecodable = site / "undecodable-1.0.dist-info"
    undecodable.mkdir()
    (undecodable / "METADATA").write_bytes(
        b"Metadata-Version: 2.1\nName: undecodable\nSummary: \xff\xfe\xfa\n")
    for version in ("2.0", "1.0"):  # an interrupted upgrade's leftover beside the new copy
        dup = site / f"twinned-{version}.dist-info"
        dup.mkdir()
        (dup / "METADATA").write_text(f"Metadata-Version: 2.1\nName: twinned\nVersion: {version}\n")
    shadow_dir = base / "extra-site"
    (shadow_dir / "markupsafe-2.0.0.dist-info").mkdir(parents=True)
    (shadow_dir / "markupsafe-2.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: MarkupSafe\nVersion: 2.0.0\n")
    (site / "zz-extra.pth").write_text(str(shadow_dir) + "\n")
    return {"python": py, "site": site, "commit": commit, "editable": editable, "base": base}


@pytest.fixture(scope="session")
def awkward_snapshot(awkward_venv: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    out = tmp_path_factory.mktemp("snap") / "snap.toml"
    envsnap("capture", "--python", str(awkward_venv["python"]), "-o", str(out))
    return io.load(out)


def test_every_installed_dist_is_captured(awkward_snapshot: Snapshot) -> None:
    py = awkward_snapshot.python
    assert py is not None and py.env_kind == "venv"
    versions = {p.name: p.version for p in py.packages}
    for name, version in {"six": "1.16.0", "markupsafe": "2.1.5", "labelpkg": "1.0+cu121",
                          "localwheel": "0.3.0", "editme": "0.1.0", "vcspkg": "2.0.0",
                          "pip": versions.get("pip")}.items():
        assert versions.get(name) == version, name
    assert awkward_snapshot.probes["python"].status == "ok"


def test_local_label_is_kept(awkward_snapshot: Snapshot) -> None:
    assert awkward_snapshot.python is not None
    pkg = awkward_snapshot.python.package("labelpkg")
    assert pkg is not None and pkg.version == "1.0+cu121" and pkg.installer == "pip" and pkg.requested


def test_pep610_sources(awkward_snapshot: Snapshot, awkward_venv: dict[str, object]) -> None:
    py = awkward_snapshot.python
    assert py is not None
    editable = py.package("editme")
    assert editable is not None and editable.source is not None
    assert editable.source.kind == "editable"
    assert editable.source.url == Path(str(awkward_venv["editable"])).as_uri()
    vcs = py.package("vcspkg")
    assert vcs is not None and vcs.source is not None
    assert (vcs.source.kind, vcs.source.vcs, vcs.source.commit) == ("vcs", "git", awkward_venv["commit"])
    local = py.package("localwheel")
    assert local is not None and local.source is not None
    assert local.source.kind == "archive" and (local.source.hash or "").startswith("sha256=")
    index = py.package("six")
    assert index is not None and index.source is None  # from an index: no direct URL


def test_compiled_extension_and_wheel_tags(awkward_snapshot: Snapshot) -> None:
    assert awkward_snapshot.python is not None
    ms = awkward_snapshot.python.package("markupsafe")
    six = awkward_snapshot.python.package("six")
    assert ms is not None and ms.native and any("manylinux" in t for t in ms.tags)
    assert six is not None and not six.native and six.tags == ("py2-none-any", "py3-none-any")


def test_broken_dists_are_flagged_not_fatal(awkward_snapshot: Snapshot,
                                           awkward_venv: dict[str, object]) -> None:
    assert awkward_snapshot.python is not None
    problems = {(p.kind, p.name) for p in awkward_snapshot.python.problems}
    assert ("no-metadata", "nometa-1.0") in problems
    assert ("undecodable", "undecodable-1.0") in problems
    assert ("invalid-version", "badver") in problems
    assert ("duplicate", "twinned") in problems
    # of two copies in one folder, the one importlib.metadata reads is recorded
    twinned = awkward_snapshot.python.package("twinned")
    assert twinned is not None and twinned.version == support.run(
        [str(awkward_venv["python"]), "-c", "import importlib.metadata as m; print(m.version('twinned'))"],
        cwd=str(awkward_venv["base"])).stdout.strip()
    assert ("shadowed", "markupsafe") in problems
    # an invalid-but-safe version is still recorded raw
    badver = awkward_snapshot.python.package("badver")
    assert badver is not None and badver.version == "main"
    # the copy that Python imports wins; the shadowed one is only a problem entry
    ms = awkward_snapshot.python.package("markupsafe")
    assert ms is not None and ms.version == "2.1.5"


def test_capture_does_not_import_user_packages(awkward_venv: dict[str, object], tmp_path: Path) -> None:
    # A package whose import has a side effect: capture must never trigger it.
    site = Path(str(awkward_venv["site"]))
    marker = tmp_path / "imported"
    pkg = site / "sideeffect"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    di = site / "sideeffect-1.0.dist-info"
    di.mkdir(exist_ok=True)
    (di / "METADATA").write_text("Metadata-Version: 2.1\nName: sideeffect\nVersion: 1.0\n")
    try:
        proc = envsnap("capture", "--python", str(awkward_venv["python"]), "-o", "-")
        assert "sideeffect = {version = '1.0'" in proc.stdout
        assert not marker.exists()
    finally:
        shutil.rmtree(pkg)
        shutil.rmtree(di)


def test_active_virtualenv_is_captured_by_default(awkward_venv: dict[str, object], tmp_path: Path) -> None:
    # envsnap runs from the test runner's environment (as from pipx); the user's active venv wins.
    venv_dir = Path(str(awkward_venv["python"])).parent.parent
    env = support.clean_env({"VIRTUAL_ENV": str(venv_dir)})
    proc = envsnap("capture", "-o", "-", "--only", "python", env=env, cwd=tmp_path)
    snap = io.loads(proc.stdout)
    assert snap.python is not None and snap.python.prefix == str(venv_dir)
    assert snap.python.package("labelpkg") is not None


def test_interpreter_without_pip(tmp_path: Path) -> None:
    py = support.make_venv(tmp_path / "bare", with_pip=False)
    proc = envsnap("capture", "--python", str(py), "-o", "-", "--only", "python")
    snap = io.loads(proc.stdout)
    assert snap.python is not None and snap.python.packages == ()
    assert snap.probes["python"].status == "ok"  # an empty environment is still found


def test_two_captures_in_a_row_have_the_same_digest(awkward_venv: dict[str, object], tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    envsnap("capture", "--python", str(awkward_venv["python"]), "-o", str(a), cwd=tmp_path)
    envsnap("capture", "--python", str(awkward_venv["python"]), "-o", str(b), cwd=tmp_path)
    sa, sb = io.load(a), io.load(b)
    assert sa.digest == sb.digest
    # ...and the files differ only in capture-time metadata
    volatile = ("captured_at", "python =", "os =", "cpu =", "nvidia =", "cuda =", "env =",
                "conda =", "project =", "frameworks =")  # timestamps and per-probe timings

    def stable(p: Path) -> list[str]:
        return [line for line in p.read_text().splitlines() if not line.startswith(volatile)]

    assert stable(a) == stable(b)


def test_json_output_and_show(awkward_venv: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    envsnap("capture", "--python", str(awkward_venv["python"]), "--json", "-o", str(out))
    data = json.loads(out.read_text())
    assert data["schema"] == 2 and data["python"]["packages"]["labelpkg"]["version"] == "1.0+cu121"
    shown = envsnap("show", str(out), "--json")
    summary = json.loads(shown.stdout)
    assert summary["python"]["packages"] == len(data["python"]["packages"])
    text = envsnap("show", str(out)).stdout
    assert "editable" in text and "venv" in text


def test_missing_interpreter_is_bad_input(tmp_path: Path) -> None:
    proc = envsnap("capture", "--python", str(tmp_path / "nope" / "python"), "-o", str(tmp_path / "x.toml"),
                   check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such interpreter" in proc.stderr
    assert not (tmp_path / "x.toml").exists()


def test_anonymize(awkward_venv: dict[str, object], tmp_path: Path) -> None:
    proc = envsnap("capture", "--python", str(awkward_venv["python"]), "--anonymize", "-o", "-")
    snap = io.loads(proc.stdout)
    assert snap.meta.hostname is None and snap.meta.anonymized
    assert snap.python is not None and snap.python.prefix == "$PREFIX"
    assert str(Path(str(awkward_venv["python"])).parent.parent) not in proc.stdout
    assert os.uname().nodename not in proc.stdout.replace("nodename", "")


def test_capture_from_inside_equals_capture_with_python(
        awkward_venv: dict[str, object], tmp_path: Path) -> None:
    # envsnap importable inside the awkward venv (its source and dependencies via a .pth), so
    # that `venv/bin/python -m envsnap capture` captures the environment it runs in, while the
    # test runner's envsnap captures it from outside with --python. Same environment, same result.
    site = Path(str(awkward_venv["site"]))
    runner_site = support.site_packages(Path(sys.executable))
    pth = site / "zzz-envsnap-under-test.pth"
    pth.write_text(f"{support.REPO}\n{runner_site}\n")
    try:
        py = str(awkward_venv["python"])
        inproc = subprocess.run([py, "-m", "envsnap", "capture", "--only", "python", "-o", "-"],
                                capture_output=True, text=True, env=support.clean_env(),
                                cwd=tmp_path, timeout=120, check=True)
        child = envsnap("capture", "--python", py, "--only", "python", "-o", "-", cwd=tmp_path)
    finally:
        pth.unlink()
    a, b = io.loads(inproc.stdout), io.loads(child.stdout)
    assert a.python == b.python
    assert a.python is not None and a.python.package("labelpkg") is not None




def _shells(base: Path) -> dict[str, tuple[dict[str, str], Path]]:
    """Three shells a user might run `envsnap capture --python` from: each its own working
    folder, one with envsnap's own virtual environment activated, one inside a conda env."""
    home = base / "home"
    conda = base / "conda-env"
    (conda / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "conda-meta", conda / "conda-meta",
                    dirs_exist_ok=True)
    path = os.environ.get("PATH", "")
    own = Path(sys.prefix)  # the venv envsnap itself runs from
    shells = {
        "plain": {"HOME": str(home)},
        "envsnap's venv activated": {"HOME": str(home), "VIRTUAL_ENV": str(own),
                                     "VIRTUAL_ENV_PROMPT": "(.venv) ", "PATH": f"{own}/bin:{path}"},
        "a conda env activated": {"HOME": str(home), "CONDA_PREFIX": str(conda),
                                  "CONDA_DEFAULT_ENV": "ml", "CONDA_SHLVL": "1",
                                  "PATH": f"{conda}/bin:{path}"},
    }
    out = {}
    for i, (name, extra) in enumerate(shells.items()):
        cwd = base / f"cwd-{i}"
        cwd.mkdir(parents=True, exist_ok=True)
        out[name] = (support.clean_env(extra), cwd)
    return out


def test_one_environment_one_digest_whoever_captures_it(
        awkward_venv: dict[str, object], tmp_path: Path) -> None:
    snaps = {}
    for name, (env, cwd) in _shells(tmp_path).items():
        proc = envsnap("capture", "--python", str(awkward_venv["python"]), "-o", "-", env=env, cwd=cwd)
        snaps[name] = io.loads(proc.stdout)
    digests = {name: snap.digest for name, snap in snaps.items()}
    assert len(set(digests.values())) == 1, digests
    for snap in snaps.values():
        assert snap.python is not None and snap.python.env_kind == "venv"
        assert snap.python.prefix == str(Path(str(awkward_venv["python"])).parent.parent)
        assert snap.conda is None  # the shell's conda env is not the target's
        assert not {"VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV"} & set(snap.env)


def test_anonymize_leaves_no_path_of_the_capturing_user(
        awkward_venv: dict[str, object], tmp_path: Path) -> None:
    env, cwd = _shells(tmp_path)["envsnap's venv activated"]
    env = {**env, "LD_LIBRARY_PATH": f"{tmp_path}/home/lib"}
    proc = envsnap("capture", "--python", str(awkward_venv["python"]), "--anonymize", "-o", "-",
                   env=env, cwd=cwd)
    for path in (sys.prefix, str(tmp_path / "home"), str(cwd)):
        assert path not in proc.stdout, path
    snap = io.loads(proc.stdout)
    assert snap.env["LD_LIBRARY_PATH"] == "~/lib"


def _zip(path: Path, members: dict[str, str]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)


def _meta(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real venv holding every layout importlib.metadata reads: an .egg folder and a zipped
    egg on sys.path (through a .pth file, as easy_install left them), a zip of packages on
    sys.path, and pairs of dist-info folders of one project in one site-packages."""
    base = tmp_path_factory.mktemp("layouts")
    py = support.make_venv(base / "venv")
    site = support.site_packages(py)
    eggs = base / "eggs"
    (eggs / "eggdir-1.5-py3.egg" / "EGG-INFO").mkdir(parents=True)
    (eggs / "eggdir-1.5-py3.egg" / "EGG-INFO" / "PKG-INFO").write_text(_meta("eggdir", "1.5"))
    (eggs / "eggdir-1.5-py3.egg" / "eggdir").mkdir()
    (eggs / "eggdir-1.5-py3.egg" / "eggdir" / "__init__.py").write_text("")
    _zip(eggs / "zipegg-0.7-py3.egg", {"EGG-INFO/PKG-INFO": _meta("zipegg", "0.7"),
                                       "zipegg/__init__.py": ""})
    _zip(base / "bundle.zip", {"bundled-3.1.dist-info/METADATA": _meta("bundled", "3.1"),
                               "bundled-3.1.dist-info/RECORD": "", "bundled/__init__.py": ""})
    (site / "zz-layouts.pth").write_text(
        f"{eggs / 'eggdir-1.5-py3.egg'}\n{eggs / 'zipegg-0.7-py3.egg'}\n{base / 'bundle.zip'}\n")
    # Two dist-info folders of one project in one folder: which one importlib.metadata and pip
    # report is decided by the folder's listing order, not by the version. Pairs are added
    # (created in both orders) until the listing has put the older copy first for one and the
    # newer first for another, so the test tells "first listed" from "newest" and "oldest".
    firsts: set[str] = set()
    for i in range(64):
        for version in (("1.0", "2.0") if i % 2 else ("2.0", "1.0")):
            info = site / f"twin{i}-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(_meta(f"twin{i}", version))
        firsts.add(next(n for n in os.listdir(site) if n.startswith(f"twin{i}-")))
        if {f.split("-")[1].removesuffix(".dist-info") for f in firsts} >= {"1.0", "2.0"} and i >= 3:
            break
    return {"python": py, "site": site}


_REFERENCE = """
import importlib.metadata as m, json, re
first = {}
for d in m.distributions():
    first.setdefault(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(), d.version)
print(json.dumps(first))
"""


def test_layouts_are_read_as_importlib_metadata_and_pip_read_them(
        layouts: dict[str, Path], tmp_path: Path) -> None:
    py = layouts["python"]
    snap = io.loads(envsnap("capture", "--python", str(py), "--only", "python", "-o", "-").stdout)
    assert snap.python is not None
    ours = {p.name: p.version for p in snap.python.packages}
    reference = json.loads(support.run([py, "-c", _REFERENCE], cwd=tmp_path).stdout)
    pip_list = {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(
        support.run([py, "-m", "pip", "list", "--format", "json"], cwd=tmp_path).stdout)}
    # every distribution importlib.metadata reports, with the version it reports
    assert ours == reference
    # pip list agrees wherever it lists a distribution (eggs are importlib.metadata's alone
    # in pip versions that dropped them)
    assert {n: v for n, v in pip_list.items() if n in ours} == {n: ours[n] for n in pip_list if n in ours}
    assert set(pip_list) <= set(ours)
    for name, version in (("eggdir", "1.5"), ("zipegg", "0.7"), ("bundled", "3.1")):
        assert ours.get(name) == version, name
    twins = {n: v for n, v in ours.items() if n.startswith("twin")}
    assert set(twins.values()) == {"1.0", "2.0"}  # the first listed is reported, old or new
    problems = {(p.kind, p.name) for p in snap.python.problems}
    assert all(("duplicate", n) in problems for n in twins)
