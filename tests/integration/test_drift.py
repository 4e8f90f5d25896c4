"""Real drift: two real venvs built with real pip; `envsnap diff` of their captures, grouped
by what caused each change."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap.cli import Console, main

pytestmark = pytest.mark.slow

EDITABLE_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "edpkg"
version = "1.0"
"""


def envsnap(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out=out, err=err))
    return rc, out.getvalue(), err.getvalue()


def pip(python: Path, *args: str | Path) -> None:
    support.pip_install(python, "--isolated", "--no-index", *args)


BUILD_BACKEND = (support.SETUPTOOLS,)


@pytest.fixture(scope="module")
def venv_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("drift")
    backend = support.download_wheels(
        Path.home() / ".cache" / "envsnap-tests" / "build-backend", BUILD_BACKEND)
    wheels = root / "wheels"
    # up 1.1 needs a new helper; gone takes gone-dep with it but shares shared-dep with steady.
    requires = {("up", "1.1"): ["up-helper>=1"], ("gone", "1.0"): ["gone-dep", "shared-dep>=1"],
                ("steady", "3.2.1"): ["shared-dep"]}
    for name, version in [("up", "1.0"), ("up", "1.1"), ("up-helper", "1.0"), ("down", "2.0"),
                          ("down", "1.5"), ("gone", "1.0"), ("gone-dep", "1.0"),
                          ("shared-dep", "1.0"), ("fresh", "0.3"), ("mypkg", "1.0+cu121"),
                          ("mypkg", "1.0+cu124"), ("edpkg", "1.0"), ("steady", "3.2.1")]:
        support.build_wheel(wheels, name, version, requires=requires.get((name, version), ()))
    project = root / "edpkg-src"
    (project / "edpkg").mkdir(parents=True)
    (project / "edpkg" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(EDITABLE_PYPROJECT)

    a = support.make_venv(root / "a")
    pip(a, "--find-links", wheels, "up==1.0", "down==2.0", "gone==1.0", "mypkg==1.0+cu121",
        "steady==3.2.1")
    # An editable install of a local project (PEP 660), built offline with a real setuptools.
    pip(a, "--find-links", backend, *BUILD_BACKEND)
    pip(a, "--no-build-isolation", "-e", project)

    b = support.make_venv(root / "b")
    pip(b, "--find-links", backend, *BUILD_BACKEND)  # the same build tools on both sides
    pip(b, "--find-links", wheels, "up==1.1", "down==1.5", "fresh==0.3", "mypkg==1.0+cu124",
        "steady==3.2.1", "edpkg==1.0")
    return a, b


def capture_pair(venv_pair: tuple[Path, Path], tmp_path: Path) -> tuple[str, str]:
    paths = []
    for python, out in zip(venv_pair, ("a.toml", "b.toml"), strict=True):
        rc, _, err = envsnap("capture", "--python", str(python), "--skip", "project",
                             "-o", str(tmp_path / out))
        assert rc == 0, err
        paths.append(str(tmp_path / out))
    return paths[0], paths[1]


def test_diff_of_two_real_venvs_reports_exactly_the_drift(
    venv_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = capture_pair(venv_pair, tmp_path)
    rc, out, err = envsnap("diff", a, b, "--format", "json", "--fail-on", "never")
    assert rc == 0, err
    data = json.loads(out)
    assert data["schema"] == "envsnap.diff/1"
    got = {(c["section"], c["name"], c["kind"], c["old"], c["new"], c["caused_by"])
           for c in data["changes"]}
    edpkg_old = next(c["old"] for c in data["changes"] if c["name"] == "edpkg")
    assert got == {
        ("python.packages", "up", "upgraded", "1.0", "1.1", None),
        ("python.packages", "up-helper", "added", None, "1.0", "up"),
        ("python.packages", "down", "downgraded", "2.0", "1.5", None),
        ("python.packages", "gone", "removed", "1.0", None, None),
        ("python.packages", "gone-dep", "removed", "1.0", None, "gone"),
        ("python.packages", "fresh", "added", None, "0.3", None),
        ("python.packages", "mypkg", "variant", "1.0+cu121", "1.0+cu124", None),
        ("python.packages", "edpkg", "source", edpkg_old, "1.0 (index)", None),
    }, json.dumps(data["changes"], indent=1)
    assert edpkg_old.startswith("1.0 (editable file://")
    assert sum(data["summary"].values()) == 8
    severity = {c["name"]: c["severity"] for c in data["changes"]}
    assert (severity["gone"], severity["gone-dep"]) == ("major", "info")
    users = {c["name"]: c["dependents"] for c in data["changes"]}
    assert users["up-helper"] == ["up"] and users["gone-dep"] == ["gone"]

    # The default gate (critical) passes; --fail-on major fails on the removal.
    assert envsnap("diff", a, b)[0] == 0
    rc, text, _ = envsnap("diff", a, b, "--fail-on", "major")
    assert rc == 1 and "gone removed" in text
    # Text and Markdown show the tail under its removal, not as a change of its own.
    assert "  python.packages: gone removed  - 1.0\n" in text
    assert "      └─ gone-dep removed  - 1.0  [info]\n" in text
    assert "python.packages: gone-dep" not in text
    rc, md, _ = envsnap("diff", a, b, "--format", "markdown", "--fail-on", "never")
    assert "| ↳ | `gone-dep` | removed (⚪ info) | `1.0` |" in md


def test_diff_reads_a_snapshot_from_stdin(venv_pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = capture_pair(venv_pair, tmp_path)
    proc = subprocess.run([str(Path(sys.executable).parent / "envsnap"), "diff", "-", b,
                           "--format", "json", "--fail-on", "never"],
                          input=Path(a).read_bytes(), capture_output=True, timeout=120,
                          env=support.clean_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["changes"]) == 8


# ---------------------------------------------------------------------------------------------
# Through `python -m envsnap`, as CI runs it: a CPU-only venv against the same venv captured
# where the host's CUDA is not (an image built from the snapshot).

# The host's CUDA as this project's build machine recorded it (/usr/local/cuda-13.0, its
# libcudart found by ldconfig): a host fact, whatever machine runs the test.
HOST_CUDA = {"toolkit_version": "13.0.88", "toolkit_path": "/usr/local/cuda-13.0",
             "toolkit_found_via": "/usr/local/cuda", "nvcc_version": "13.0.88",
             "libraries": [{"library": "cudart", "version": "13.0.96",
                            "path": "/usr/local/cuda-13.0/lib/libcudart.so.13",
                            "found_via": "ldconfig", "soname": "libcudart.so.13"}]}
CPU_ONLY = ("requests", "tqdm", "pyyaml", "click")


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m envsnap ARGV` in ``cwd`` (no pyproject.toml above it but the test's own)."""
    return subprocess.run([sys.executable, "-m", "envsnap", *argv], cwd=cwd,
                          env=support.clean_env(), capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def cpu_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One real CPU-only venv captured three times: on the host (with the host's CUDA), in its
    image (no CUDA there), and in the image after click was upgraded."""
    root = tmp_path_factory.mktemp("cpu-only")
    wheels = root / "wheels"
    for name in CPU_ONLY:
        support.build_wheel(wheels, name, "1.0")
    support.build_wheel(wheels, "click", "1.1")
    python = support.make_venv(root / "venv")
    pip(python, "--find-links", wheels, *(f"{name}==1.0" for name in CPU_ONLY))
    snaps = []
    for out, cuda in (("host.json", HOST_CUDA), ("image.json", None), ("drifted.json", None)):
        if out == "drifted.json":
            pip(python, "--find-links", wheels, "click==1.1")
        proc = cli(root, "capture", "--python", str(python), "--skip", "project,cuda",
                   "--json", "-o", str(root / "raw.json"))
        assert proc.returncode == 0, proc.stderr
        data = json.loads((root / "raw.json").read_text())
        if cuda is not None:
            data["cuda"] = cuda
            del data["digest"]  # edited on purpose: no digest rather than a wrong one
        (root / out).write_text(json.dumps(data))
        snaps.append(root / out)
    return snaps[0], snaps[1], snaps[2]


def test_diff_tells_host_facts_from_environment_facts(
    cpu_only: tuple[Path, Path, Path],
) -> None:
    host, _, drifted = cpu_only
    proc = cli(host.parent, "diff", str(host), str(drifted), "--format", "json", "--fail-on",
               "never")
    assert proc.returncode == 0, proc.stderr
    scopes = {(c["section"], c["name"]): c["scope"] for c in json.loads(proc.stdout)["changes"]}
    assert scopes == {("cuda", "toolkit"): "host", ("cuda", "nvcc"): "host",
                      ("cuda.libraries", "cudart (ldconfig)"): "host",
                      ("python.packages", "click"): "environment"}, proc.stdout


def test_a_perfect_image_of_a_cpu_only_venv_passes_a_major_gate(
    cpu_only: tuple[Path, Path, Path],
) -> None:
    # Issue 18: the host's /usr/local/cuda, which nothing in the venv uses, failed the gate.
    host, image, _ = cpu_only
    proc = cli(host.parent, "diff", str(host), str(image), "--fail-on", "minor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 critical, 0 major, 0 minor, 3 info" in proc.stdout
    assert "cuda.libraries: cudart (ldconfig) removed" in proc.stdout
    assert "nothing in the environment uses CUDA" in proc.stdout
