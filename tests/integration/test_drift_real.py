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
    # Nothing installed required gone: a top-level removal (removed_leaf).
    assert (severity["gone"], severity["gone-dep"]) == ("minor", "info")
    users = {c["name"]: c["dependents"] for c in data["changes"]}
    assert users["up-helper"] == ["up"] and users["gone-dep"] == ["gone"]

    # The default gate (critical) passes; --fail-on major fails (the +cu121 -> +cu124 variant).
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


# The triage example, for real: black, ruff and pytest-xdist removed (with what only
# they needed), scikit-learn one release back, and a package whose 25 dependencies went with it.
TOOLS = {("black", "24.10.0"): ["pathspec>=0.9"], ("pathspec", "0.12.1"): [],
         ("ruff", "0.8.0"): [], ("pytest-xdist", "3.6.1"): ["execnet>=2.1"],
         ("execnet", "2.1.1"): [], ("big", "1.0"): [f"dep{i:02d}" for i in range(25)],
         **{(f"dep{i:02d}", "1.0"): [] for i in range(25)}}


@pytest.fixture(scope="module")
def triage_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("triage")
    wheels = root / "wheels"
    for (name, version), requires in TOOLS.items():
        support.build_wheel(wheels, name, version, requires=requires)
    for version in ("1.5.2", "1.4.2"):
        support.build_wheel(wheels, "scikit-learn", version)
    python = support.make_venv(root / "venv")
    pip(python, "--find-links", wheels, "black", "ruff", "pytest-xdist", "big",
        "scikit-learn==1.5.2")
    assert cli(root, "capture", "--python", str(python), "--skip", "project", "-o",
               "a.toml").returncode == 0
    support.run([python, "-m", "pip", "uninstall", "-y", "black", "pathspec", "ruff",
                 "pytest-xdist", "execnet", "big", *(f"dep{i:02d}" for i in range(25))],
                env=support.clean_env())
    pip(python, "--find-links", wheels, "scikit-learn==1.4.2")
    assert cli(root, "capture", "--python", str(python), "--skip", "project", "-o",
               "b.toml").returncode == 0
    return root / "a.toml", root / "b.toml"


def test_top_level_removals_are_one_line_ranked_below_a_downgrade(
    triage_pair: tuple[Path, Path],
) -> None:
    a, b = triage_pair
    proc = cli(a.parent, "diff", str(a), str(b), "--fail-on", "major")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # the downgrade, not the tools
    assert ("  python.packages: 4 top-level packages removed: big 1.0, black 24.10.0, "
            "pytest-xdist 3.6.1, ruff\n      0.8.0\n") in out
    assert out.index("MAJOR (1)") < out.index("scikit-learn downgraded") < out.index(
        "MINOR (4)") < out.index("4 top-level packages removed")
    assert "python.packages: ruff removed" not in out


def test_more_than_20_removals_of_one_cause_are_one_line_and_v_lists_each(
    triage_pair: tuple[Path, Path],
) -> None:
    a, b = triage_pair
    out = cli(a.parent, "diff", str(a), str(b)).stdout
    assert "27 removed with them: dep00, dep01, dep02, dep03, dep04, dep05, dep06, dep07" in out
    assert "dep24 removed" not in out and "and 19 more\n         (-v lists each)" in out
    verbose = cli(a.parent, "diff", str(a), str(b), "-v").stdout
    assert all(f"dep{i:02d} removed  - 1.0  [info]" in verbose for i in range(25))


def test_diff_ends_with_a_remedy_and_json_gives_each_fix(triage_pair: tuple[Path, Path]) -> None:
    a, b = triage_pair
    out = cli(a.parent, "diff", str(a), str(b)).stdout
    remedy = (f"envsnap lock {a} -o envsnap-lock && python -m pip install --require-hashes "
              "--no-deps -r envsnap-lock/requirements.txt")
    assert out.endswith(f"To bring B's Python environment to A's, run:\n  {remedy}\n"), out
    data = json.loads(cli(a.parent, "diff", str(a), str(b), "--format", "json").stdout)
    assert data["remedy"] == {"command": remedy, "caveats": []}
    fixes = {c["name"]: c["fix"] for c in data["changes"]}
    assert fixes["scikit-learn"] == "python -m pip install scikit-learn==1.5.2"
    assert fixes["ruff"] == "python -m pip install ruff==0.8.0"


def test_ignore_packages_is_announced_with_what_it_hid(triage_pair: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    a, b = triage_pair
    (tmp_path / "pyproject.toml").write_text('[tool.envsnap]\nignore-packages = ["ruff", "dep*"]\n')
    proc = cli(tmp_path, "diff", str(a), str(b), "--format", "json")
    assert proc.stderr == (f"envsnap: ignoring packages ruff, dep* ([tool.envsnap] in "
                           f"{tmp_path / 'pyproject.toml'}): 26 changes hidden\n")
    data = json.loads(proc.stdout)
    assert data["ignored"] == {"packages matching the ignore list": 26}
    assert data["ignore"] == {"packages": ["ruff", "dep*"], "env": []}
    proc = cli(tmp_path, "diff", str(a), str(b), "--ignore", "black")
    assert ("ignoring packages ruff, dep*, black ([tool.envsnap] in "
            f"{tmp_path / 'pyproject.toml'} and --ignore): 27 changes hidden") in proc.stderr
    assert "ignored: 27 changes of packages matching the ignore list" in proc.stdout
