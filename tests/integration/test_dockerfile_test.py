"""Dockerfile.test on the real engine: built from the local base with a vendored wheelhouse and
no network, then the unit suite runs inside with `--network none` and passes."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import support
from packaging.markers import default_environment
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # 3.10 only

pytestmark = [pytest.mark.slow, pytest.mark.docker]

BASE = "envsnap-base:bookworm"
TAG = "envsnap-test:dockerfile-test"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"
WHEELS_IN_CONTEXT = ".test-wheels"  # where Dockerfile.test's header tells users to put them
CONTEXT_LIMIT = 10 << 20  # the sources, tests and their data are ~2.5 MiB today
INSIDE_HOME = "/home/tester"  # Dockerfile.test's user

# Unit tests that cannot run with --network none, each with the reason. Everything else in
# tests/unit runs inside the container.
DESELECT: dict[str, str] = {}


def _on_ci_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide it: {reason}")
    pytest.skip(f"SKIPPED: {reason}")


# ---------------------------------------------------------------------------------------------
# The target: the base image's interpreter, so the host downloads wheels that install there


@pytest.fixture(scope="module")
def target(docker_engine: None) -> dict[str, str]:
    code = ("import platform, sys; print(sys.version_info[0], sys.version_info[1], "
            "platform.python_version(), platform.libc_ver()[1], platform.machine())")
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", BASE, "python3", "-c", code],
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        _on_ci_or_skip(f"base image {BASE} does not run (scripts/docker-setup.sh builds it): "
                       f"{proc.stderr.strip()[-300:]}")
    major, minor, full, glibc, arch = proc.stdout.split()
    return {"major": major, "minor": minor, "full": full, "glibc": glibc, "arch": arch}


def _requirements(target: dict[str, str]) -> list[str]:
    """The project's runtime and ``test`` extra requirements (self-extras expanded, markers
    evaluated for the target) plus the build backend the editable install needs."""
    meta = tomllib.loads((support.REPO / "pyproject.toml").read_text("utf-8"))
    project = meta["project"]
    env = default_environment()
    env.update({"python_version": f"{target['major']}.{target['minor']}",
                "python_full_version": target["full"], "platform_machine": target["arch"],
                "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"})
    wanted: list[str] = []
    extras = ["test-unit"]
    seen: set[str] = set()
    raw: list[str] = list(project["dependencies"]) + list(meta["build-system"]["requires"])
    while extras:
        extra = extras.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["optional-dependencies"][extra]:
            req = Requirement(line)
            if req.name == project["name"]:
                extras.extend(req.extras)
            else:
                raw.append(line)
    for line in raw:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):  # type: ignore[arg-type]
            req.marker = None
            wanted.append(str(req))
    return sorted(set(wanted))


def _platforms(target: dict[str, str]) -> list[str]:
    """Every manylinux tag the base's glibc accepts: pip expands none of them itself."""
    arch = target["arch"]
    glibc_minor = int(target["glibc"].split(".")[1])
    tags = [f"manylinux_2_{m}_{arch}" for m in range(17, glibc_minor + 1)]
    return [*tags, f"manylinux2014_{arch}", f"linux_{arch}"]


@pytest.fixture(scope="module")
def test_wheels(target: dict[str, str]) -> Path:
    """The wheels `pip install -e .[test]` needs on the base, downloaded once on the host
    (isolated from this machine's pip config) and cached by requirements + target."""
    reqs = _requirements(target)
    platforms = _platforms(target)
    key = hashlib.sha256("\n".join([*reqs, *platforms, target["minor"]]).encode()).hexdigest()[:12]
    dest = CACHE / f"test-extras-{key}"
    if (dest / ".done").exists():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    args = ["download", "--only-binary=:all:", "--dest", str(partial),
            "--python-version", f"{target['major']}.{target['minor']}", "--implementation", "cp",
            "--abi", f"cp{target['major']}{target['minor']}"]
    for plat in platforms:
        args += ["--platform", plat]
    support.run([sys.executable, "-m", "pip", "--isolated", *args, *reqs], timeout=900)
    (partial / ".done").write_text("\n".join(reqs) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


# ---------------------------------------------------------------------------------------------
# The build context: the repository as .dockerignore leaves it, plus the wheelhouse


def _context_files() -> list[str]:
    import docker.utils.build

    ignore = support.REPO / ".dockerignore"
    patterns = [ln.strip() for ln in ignore.read_text("utf-8").splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    kept = docker.utils.build.exclude_paths(str(support.REPO), patterns, dockerfile="Dockerfile.test")
    return sorted(p for p in kept if not p.startswith(WHEELS_IN_CONTEXT)
                  and (support.REPO / p).is_file() and not (support.REPO / p).is_symlink())


def _context_tar(files: list[str], wheels: Path) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in files:
            tar.add(support.REPO / rel, arcname=rel, recursive=False)
        for whl in sorted(wheels.glob("*.whl")):
            tar.add(whl, arcname=f"{WHEELS_IN_CONTEXT}/{whl.name}", recursive=False)
    buf.seek(0)
    return buf


def test_build_context_is_small_and_complete(docker_engine: None) -> None:
    files = _context_files()
    size = sum((support.REPO / f).stat().st_size for f in files)
    assert size < CONTEXT_LIMIT, f"build context is {size >> 20} MiB: extend .dockerignore"
    tops = {f.split("/", 1)[0] for f in files}
    assert not tops & {".venv", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".bench"}
    assert not any("__pycache__" in f or f.endswith(".egg-info") for f in files)
    assert not any(".egg-info/" in f for f in files)
    for needed in ("pyproject.toml", "README.md", "Dockerfile.test", "envsnap/__init__.py",
                   "templates/Dockerfile.tmpl", "tests/conftest.py", "tests/support.py"):
        assert needed in files, needed
    assert any(f.startswith("tests/data/") for f in files)


def _host_unit_count() -> int:
    proc = support.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                        "no:cacheprovider", "tests/unit"], cwd=support.REPO, timeout=300)
    m = re.search(r"^(\d+) tests? collected", proc.stdout, re.MULTILINE)
    assert m, proc.stdout[-2000:]
    return int(m.group(1))


@pytest.fixture(scope="module")
def image(test_wheels: Path, target: dict[str, str]) -> Iterator[str]:
    """Dockerfile.test built from the local base, wheels from the context, network none."""
    import docker

    context = _context_tar(_context_files(), test_wheels)
    api = docker.APIClient(timeout=120)
    log: list[str] = []
    image_id: str | None = None
    error: str | None = None
    try:
        stream = api.build(
            fileobj=context, custom_context=True, dockerfile="Dockerfile.test", tag=TAG,
            buildargs={"BASE_IMAGE": BASE,
                       "PIP_ARGS": f"--no-index --find-links /src/{WHEELS_IN_CONTEXT}"},
            network_mode="none", pull=False, rm=True, forcerm=True, decode=True, timeout=900,
        )
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                error = str(chunk.get("error") or chunk.get("errorDetail"))
                break
            if isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            log.extend(str(chunk.get("stream", "")).splitlines())
    finally:
        api.close()
    tail = "\n".join(log[-40:])
    assert error is None, f"docker build failed: {error}\n{tail}"
    assert image_id, f"no image ID from the build\n{tail}"
    yield TAG


def test_image_has_the_test_tools_and_runs_as_non_root(image: str) -> None:
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "sh", "-c",
         # What the unit tier needs (the test-unit extra); ruff and mypy run on the host.
         "id -u && python -c 'import envsnap, pytest, hypothesis, docker, piptools, conda_lock, "
         "cyclonedx, pypi_simple; print(envsnap.__file__)'"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "10001"
    assert lines[1] == "/src/envsnap/__init__.py"  # the editable install points at the sources


def _summary(stdout: str) -> dict[str, int]:
    last = [ln for ln in stdout.splitlines() if re.search(r" in [\d.]+s", ln)][-1]
    counts = {word: int(n) for n, word in
              re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)", last)}
    counts["errors"] = counts.pop("error", 0) + counts.get("errors", 0)
    return counts


def test_unit_suite_passes_inside_without_network(image: str, pypi_wheelhouse: Path) -> None:
    expected = _host_unit_count()
    name = f"envsnap-dockerfile-test-{os.getpid()}"
    argv = ["docker", "run", "--rm", "--name", name, "--network", "none",
            # test_report builds a venv from the cached PyPI wheels (download marker included)
            "-v", f"{pypi_wheelhouse}:{INSIDE_HOME}/.cache/envsnap-tests/wheelhouse:ro",
            image, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"]
    for node in DESELECT:
        argv += ["--deselect", node]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500, check=False)
    except subprocess.TimeoutExpired:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60, check=False)
        pytest.fail("the unit suite ran past 1500 s inside the container (container removed)")
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    counts = _summary(proc.stdout)
    assert proc.returncode == 0, report
    assert counts.get("failed", 0) == 0 and counts["errors"] == 0, report
    assert counts.get("deselected", 0) == len(DESELECT), report  # a renamed test is noticed
    skipped = counts.get("skipped", 0)
    assert counts["passed"] + skipped == expected - len(DESELECT), (expected, report)
    # Every unit test runs inside: the Docker-engine tests live in tests/integration.
    assert skipped == 0, [ln for ln in proc.stdout.splitlines() if ln.startswith("SKIPPED [")]
