"""Round trip on the real engine: real venv -> snapshot -> lock + wheelhouse -> image built
with no network -> `envsnap capture` inside the container -> same packages. Then a rebuild
after one small package changed reuses the heavy layers."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import support

from envsnap import io as snapio
from envsnap.capturing import capture
from envsnap.cli import Console, main
from envsnap.image.engine import Engine
from envsnap.snapshot import Package, Snapshot

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.usefixtures("no_user_config")]


BASE = "envsnap-base:bookworm"
# Pure-Python deps envsnap needs to run inside the image, mounted read-only (not installed:
# the image's venv must hold exactly the snapshot's packages).
RUNTIME_DEPS = ("packaging", "pynvml.py")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), Console(out, err))
    return rc, out.getvalue(), err.getvalue()


def packages(snapshot: Snapshot) -> dict[str, str]:
    assert snapshot.python is not None
    return {p.name: p.version for p in snapshot.python.packages}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> dict[str, Path]:
    """A real venv of 9 packages: 5 from PyPI (markupsafe compiled), a local-label build
    (1.0+cu121), two small local wheels, plus the venv's pip and setuptools."""
    root = tmp_path_factory.mktemp("roundtrip")
    links = root / "links"
    links.mkdir()
    for whl in pypi_wheelhouse.glob("*.whl"):
        shutil.copy2(whl, links / whl.name)
    support.build_wheel(links, "envsnap-labelled", "1.0+cu121")
    support.build_wheel(links, "envsnap-small", "1.0")
    support.build_wheel(links, "envsnap-small", "1.1")  # the rebuild's change
    support.build_wheel(links, "envsnap-other", "3.0")
    python = support.make_venv(root / "venv")
    support.pip_install(python, "--no-index", "--find-links", links, *support.PYPI_PINS,
                        "envsnap-labelled==1.0+cu121", "envsnap-small==1.0", "envsnap-other")
    snap = capture(python=str(python), only={"python"})
    path = root / "source.toml"
    snapio.dump(snap, path)
    out = root / "lock"
    wheels = out / "wheels"
    wheels.mkdir(parents=True)
    for whl in links.glob("*.whl"):  # the vendored wheels; lock downloads pip/setuptools
        shutil.copy2(whl, wheels / whl.name)
    return {"root": root, "snapshot": path, "out": out, "wheels": wheels, "python": python}


def test_source_env_has_what_the_issue_asks(source: dict[str, Path]) -> None:
    snap = snapio.load(source["snapshot"])
    pkgs = packages(snap)
    assert len(pkgs) >= 8
    assert pkgs["envsnap-labelled"] == "1.0+cu121"
    assert snap.python is not None
    assert any(p.native for p in snap.python.packages if p.name == "markupsafe")


def test_lock_with_wheelhouse(source: dict[str, Path]) -> None:
    rc, _out, err = cli("lock", str(source["snapshot"]), "-o", str(source["out"]),
                        "--wheelhouse", str(source["wheels"]))
    assert rc == 0, err
    req = (source["out"] / "requirements.txt").read_text()
    assert "envsnap-labelled==1.0+cu121 \\\n    --hash=sha256:" in req
    assert "--extra-index-url https://download.pytorch.org/whl/cu121" in req
    for text in (req, (source["out"] / "pylock.toml").read_text()):
        assert str(source["root"]) not in text and "/opt/pypi" not in text


def _capture_in(tag: str) -> Snapshot:
    deps = Path(sys.executable).parent.parent / "lib"
    site = next(deps.glob("python3*/site-packages"))
    mounts = []
    for name in RUNTIME_DEPS:
        mounts += ["-v", f"{site / name}:/deps/{name}:ro"]
    code = ("import sys; sys.path[:0] = ['/src', '/deps']; from envsnap.cli import main; "
            "sys.exit(main(['capture', '--python', '/opt/venv/bin/python', '--only', "
            "'python', '-o', '-', '-q']))")
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{support.REPO}:/src:ro",
         *mounts, tag, "python3", "-c", code],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return snapio.loads(proc.stdout)


def _build(snapshot: Path, wheels: Path, tag: str) -> str:
    rc, out, err = cli("build-image", str(snapshot), "-t", tag, "--wheelhouse", str(wheels),
                       "--offline", "--network", "none", "--base-image", BASE,
                       "--heavy", "markupsafe,attrs,idna")
    assert rc == 0, err
    assert out.strip() == tag
    return err


def test_image_reproduces_the_snapshot(source: dict[str, Path], docker_engine: None) -> None:
    log = _build(source["snapshot"], source["wheels"], "envsnap-test:roundtrip-a")
    assert "base image Python" not in log or "patch differs" in log
    inside = _capture_in("envsnap-test:roundtrip-a")
    original = snapio.load(source["snapshot"])
    assert packages(inside) == packages(original)  # every package, name and version
    assert inside.python is not None and original.python is not None
    # Only expected differences: the patch version (Debian's 3.11.x) and paths.
    assert inside.python.version.rsplit(".", 1)[0] == original.python.version.rsplit(".", 1)[0]
    with Engine.connect() as engine:
        meta = engine.inspect("envsnap-test:roundtrip-a")
    labels = meta["Config"]["Labels"]
    assert labels["io.envsnap.snapshot.digest"] == original.digest
    assert meta["Config"]["User"] == "envsnap"
    embedded = subprocess.run(["docker", "run", "--rm", "--network", "none",
                               "envsnap-test:roundtrip-a", "cat", "/opt/envsnap/snapshot.toml"],
                              capture_output=True, text=True, timeout=60, check=True).stdout
    assert str(source["root"]) not in embedded and "/root" not in embedded
    assert packages(snapio.loads(embedded)) == packages(original)


def test_rebuild_after_small_change_reuses_heavy_layers(source: dict[str, Path],
                                                       docker_engine: None) -> None:
    original = snapio.load(source["snapshot"])
    assert original.python is not None
    # A version new to this engine, so the light stage cannot come from an earlier run's cache.
    new = f"1.1.post{time.time_ns()}"
    support.build_wheel(source["wheels"], "envsnap-small", new)
    changed = original.replace(python=replace(original.python, packages=tuple(
        Package(name=p.name, version=new) if p.name == "envsnap-small" else p
        for p in original.python.packages)))
    path = source["root"] / "changed.toml"
    snapio.dump(changed, path)
    _build(source["snapshot"], source["wheels"], "envsnap-test:roundtrip-a")  # warm cache
    out, err = io.StringIO(), io.StringIO()
    rc = main(["build-image", str(path), "-t", "envsnap-test:roundtrip-b", "--wheelhouse",
               str(source["wheels"]), "--offline", "--network", "none", "--base-image", BASE,
               "--heavy", "markupsafe,attrs,idna"], Console(out, err))
    assert rc == 0, err.getvalue()
    lines = err.getvalue().splitlines()
    steps = [ln for ln in lines if "] " in ln and ln.startswith("envsnap: [")]

    def cached_after(fragment: str) -> bool:
        i = next(i for i, ln in enumerate(lines) if fragment in ln)
        return i + 1 < len(lines) and lines[i + 1].endswith("cached")

    assert steps
    assert cached_after("-r /tmp/envsnap/lock/heavy.txt")  # the heavy install reused
    assert cached_after("COPY --from=heavy /opt/venv /opt/venv")
    assert not cached_after("--prefix /opt/envsnap/light")  # the small change rebuilt
    with Engine.connect() as engine:
        a = engine.layers("envsnap-test:roundtrip-a")
        b = engine.layers("envsnap-test:roundtrip-b")
    base = len(engine_layers_of_base())
    # base layers + useradd + the heavy venv are the very same layers
    assert a[: base + 2] == b[: base + 2]
    assert a != b
    assert packages(_capture_in("envsnap-test:roundtrip-b"))["envsnap-small"] == new


def engine_layers_of_base() -> tuple[str, ...]:
    with Engine.connect() as engine:
        return engine.layers(BASE)


# ---------------------------------------------------------------------------------------------
# build-image --verify and check --image: a CPU venv (requests, tqdm, pyyaml, click) captured
# with the CLI, built air-gapped on the local base, then captured inside the image by envsnap
# mounted read-only and compared by scope.

CPU_PINS = ("requests==2.32.3", "certifi==2024.8.30", "charset-normalizer==3.4.0", "idna==3.10",
            "urllib3==2.2.3", "tqdm==4.67.1", "pyyaml==6.0.2", "click==8.1.7")
VERIFY_TAG = "envsnap-test:verify"


def envsnap(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, args)],
                          env=support.clean_env({"NO_COLOR": "1"}), capture_output=True, text=True,
                          timeout=600, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def cpu(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verify")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
    wheels = support.download_wheels(cache / "cpu-venv", CPU_PINS)
    python = support.make_venv(root / "venv", with_pip=False)  # exactly these 8 packages
    support.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                 "--find-links", wheels, *CPU_PINS], env=support.clean_env())
    snap = root / "cpu.toml"
    proc = envsnap("capture", "--python", python, "-o", snap, "-q")
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "snapshot": snap, "wheels": wheels}


def _build_verified(cpu: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return envsnap("build-image", cpu["snapshot"], "-t", VERIFY_TAG, "--wheelhouse", cpu["wheels"],
                   "--offline", "--network", "none", "--base-image", BASE, "--verify")


def _base_python() -> str:
    return subprocess.run(["docker", "run", "--rm", "--network", "none", BASE, "python3", "-c",
                           "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_build_image_verify_passes_on_a_faithful_image(cpu: dict[str, Path]) -> None:
    proc = _build_verified(cpu)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-500:]
    lines = proc.stdout.splitlines()
    assert lines[0] == VERIFY_TAG
    assert lines[-1].startswith(f"verified: image {VERIFY_TAG} (Python ")
    assert "8 package(s)) has the environment of" in lines[-1]
    # The host's CUDA and the like are listed as expected, never as drift.
    assert "drift" not in proc.stdout.split("expected for an image")[0]
    with Engine.connect() as engine:
        meta = engine.inspect(VERIFY_TAG)
    snap = snapio.load(cpu["snapshot"])
    assert snap.python is not None
    labels = meta["Config"]["Labels"]
    assert labels["io.envsnap.python"] == _base_python()  # what the image runs (Debian's 3.11.x)
    assert labels["io.envsnap.snapshot.python"] == snap.python.version
    assert labels["io.envsnap.snapshot.digest"] == snap.digest


def test_a_different_patch_is_said_on_every_build_cached_or_not(cpu: dict[str, Path]) -> None:
    snap = snapio.load(cpu["snapshot"])
    assert snap.python is not None
    real = _base_python()
    built = []
    for _ in range(2):  # the second build comes entirely from the cache: the same image
        proc = _build_verified(cpu)
        assert proc.returncode == 0, proc.stderr
        said = f"warning: the image runs Python {real}, the snapshot {snap.python.version}"
        assert (said in proc.stderr) == (real != snap.python.version), proc.stderr
        built.append(re.findall(r"built (sha256:\w+) in", proc.stderr))
    assert built[0] == built[1] and len(built[0]) == 1


def test_check_image_names_the_changed_pin(cpu: dict[str, Path]) -> None:
    assert _build_verified(cpu).returncode == 0
    snap = snapio.load(cpu["snapshot"])
    assert snap.python is not None
    changed = snap.replace(python=replace(snap.python, packages=tuple(
        replace(p, version="8.1.8") if p.name == "click" else p for p in snap.python.packages)))
    path = cpu["root"] / "changed.toml"
    snapio.dump(changed, path)
    proc = envsnap("check", path, "--image", VERIFY_TAG)
    assert proc.returncode == 1, proc.stderr
    assert "python.packages: click downgraded  8.1.8 -> 8.1.7" in proc.stdout
    assert proc.stdout.splitlines()[-1].endswith("in 1 environment fact(s)")
    # The remedy is a rebuild, never a pip command run inside the image.
    assert f"  envsnap build-image {path} -t {VERIFY_TAG} --verify\n" in proc.stdout
    assert "pip install" not in proc.stdout
    proc = envsnap("check", cpu["snapshot"], "--image", VERIFY_TAG, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "envsnap.verify/1" and data["passed"] and data["drift"] == []
    assert all(e["scope"] == "host" or e["section"] in ("python", "env") for e in data["expected"])


def test_the_image_is_not_changed_by_being_checked(cpu: dict[str, Path]) -> None:
    assert _build_verified(cpu).returncode == 0
    with Engine.connect() as engine:
        before = engine.inspect(VERIFY_TAG)["Id"]
    proc = envsnap("check", cpu["snapshot"], "--image", VERIFY_TAG, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    inside = json.loads(proc.stdout)
    assert inside["packages"] == 8  # neither envsnap nor packaging was installed to capture
    with Engine.connect() as engine:
        assert engine.inspect(VERIFY_TAG)["Id"] == before
    listed = subprocess.run(["docker", "run", "--rm", "--network", "none", VERIFY_TAG,
                             "/opt/venv/bin/python", "-c",
                             "import importlib.util as u; print(u.find_spec('envsnap'), "
                             "u.find_spec('packaging'))"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert listed.strip() == "None None"


def test_check_image_of_a_missing_image_is_bad_input(cpu: dict[str, Path]) -> None:
    proc = envsnap("check", cpu["snapshot"], "--image", "envsnap-test:no-such-image")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("--image envsnap-test:no-such-image: no such image on "
                                        "this Docker engine")
