"""Broken requirements computed from a snapshot alone equal `pip check` on real venvs, and
`envsnap diff` from the healthy capture names each one the breakage introduced."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import support
from packaging.utils import canonicalize_name

from envsnap import compat, io
from envsnap.graph import Graph, broken_requirements, dependents, transitive

pytestmark = pytest.mark.slow

ENVSNAP = str(Path(sys.executable).parent / "envsnap")

# Each venv: what pip installs with its dependencies, then what is forced over it with
# --no-deps (an incompatible version), then what is removed (a missing dependency).
BROKEN_VENVS = {
    "rich": (["rich==13.9.4"], ["markdown-it-py==1.1.0", "pygments==2.10.0"], []),
    "requests": (["requests==2.32.3"], ["idna==2.10", "urllib3==1.20"], ["certifi"]),
    "typer": (["typer==0.12.5"], ["click==7.1.2"], ["shellingham"]),
    # Downgrades below lower bounds (flask 2.2.5: Werkzeug>=2.2.2, itsdangerous>=2.0).
    "flask": (["flask==2.2.5"], ["werkzeug==2.1.2", "itsdangerous==1.1.0"], ["click"]),
    # An upgrade past an upper bound (fastapi 0.100.0: starlette<0.28.0,>=0.27.0).
    "fastapi": (["fastapi==0.100.0"], ["starlette==0.37.2"], []),
}

_MISSING = re.compile(r"^(\S+) (\S+) requires (\S+), which is not installed\.$")
_CONFLICT = re.compile(r"^(\S+) (\S+) has requirement (.+), but you have (\S+) (\S+)\.$")


def pip_check(python: Path) -> set[tuple[str, str, str | None]]:
    """(dependent, required, installed version or None) for each line `pip check` prints."""
    # pip check exits 1 when it finds something: not a failure here.
    proc = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True,
                          timeout=300, env=support.clean_env(), check=False)
    found: set[tuple[str, str, str | None]] = set()
    for line in proc.stdout.splitlines():
        if line == "No broken requirements found.":
            continue
        if m := _MISSING.match(line):
            found.add((canonicalize_name(m.group(1)), canonicalize_name(m.group(3)), None))
        elif m := _CONFLICT.match(line):
            found.add((canonicalize_name(m.group(1)), canonicalize_name(m.group(4)), m.group(5)))
        else:
            raise AssertionError(f"unexpected pip check line: {line!r}")
    return found


class Venv(NamedTuple):
    python: Path
    healthy: Path  # its capture before anything was broken
    broken: Path  # and after


def capture_to(python: Path, out: Path) -> Path:
    proc = subprocess.run([ENVSNAP, "capture", "--python", str(python), "--only", "python",
                           "-q", "-o", str(out)], capture_output=True, text=True, timeout=300,
                          env=support.clean_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module", params=sorted(BROKEN_VENVS))
def broken_venv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    install, forced, removed = BROKEN_VENVS[request.param]
    root = tmp_path_factory.mktemp(f"broken-{request.param}")
    python = support.make_venv(root / "venv")
    support.pip_install(python, "--only-binary=:all:", *install)
    healthy = capture_to(python, root / "healthy.toml")
    assert pip_check(python) == set(), "the venv must start healthy"
    support.pip_install(python, "--only-binary=:all:", "--no-deps", *forced)
    if removed:
        support.run([python, "-m", "pip", "uninstall", "-y", *removed])
    return Venv(python, healthy, capture_to(python, root / "broken.toml"))


def test_broken_requirements_equal_pip_check(broken_venv: Venv) -> None:
    snap = io.load(broken_venv.broken)
    ours = {(b.dependent, b.required, b.installed) for b in broken_requirements(snap.python)}
    reference = pip_check(broken_venv.python)
    assert reference, "the venv was meant to be broken"
    assert ours == reference


def test_diff_from_the_healthy_capture_names_every_broken_requirement(broken_venv: Venv) -> None:
    proc = subprocess.run([ENVSNAP, "diff", str(broken_venv.healthy), str(broken_venv.broken),
                           "--format", "json", "--fail-on", "major"], capture_output=True,
                          text=True, timeout=300, env=support.clean_env(), check=False)
    assert proc.returncode == 1, proc.stderr  # each is major or worse
    changes = [c for c in json.loads(proc.stdout)["changes"]
               if c["section"] == "python.requirements"]
    broken = io.load(broken_venv.broken)
    assert broken.python is not None
    graph = Graph(broken.python)
    reference = pip_check(broken_venv.python)
    got = set()
    for c in changes:
        assert c["kind"] == "broken" and compat.at_least(c["severity"], "major"), c
        dependent = c["dependents"][0]
        required = next(r.name for r in graph.requires[dependent] if r.text == c["requirement"])
        got.add((dependent, required, c["new"]))
        # The sentence names the dependent, its requirement and the version now installed.
        assert f"{dependent} {graph.versions[dependent]} requires {c['requirement']}" in \
            c["explanation"]
        if c["new"] is not None:
            said = f"{required} {c['new']} is installed"
        elif c["old"] is not None:  # it was there in the healthy venv and left
            said = f"which is no longer installed (A had {required} {c['old']})"
        else:  # a forced old release of the dependent needs something new
            said = "which is not installed"
        assert said in c["explanation"], c
    assert got == reference


def test_dependents_and_their_transitive_closure(broken_venv: Venv) -> None:
    py = io.load(broken_venv.broken).python
    assert py is not None
    users = dependents(py)
    reach = Graph(py).reach(p.name for p in py.packages)
    for pkg in py.packages:
        for name in users.get(pkg.name, ()):
            dependent = py.package(name)
            assert dependent is not None
            assert any(canonicalize_name(re.split(r"[\[<>=!~;@ ]", r, maxsplit=1)[0]) == pkg.name
                       for r in dependent.requires)
        assert pkg.name not in transitive(pkg.name, users)
        assert reach[pkg.name] == len(transitive(pkg.name, users))
