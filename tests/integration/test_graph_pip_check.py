"""Broken requirements computed from a snapshot alone equal `pip check` on the real venv."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import support
from packaging.utils import canonicalize_name

from envsnap import io
from envsnap.graph import broken_requirements, dependents, transitive

pytestmark = pytest.mark.slow

ENVSNAP = str(Path(sys.executable).parent / "envsnap")

# Each venv: what pip installs with its dependencies, then what is forced over it with
# --no-deps (an incompatible version), then what is removed (a missing dependency).
BROKEN_VENVS = {
    "rich": (["rich==13.9.4"], ["markdown-it-py==1.1.0", "pygments==2.10.0"], []),
    "requests": (["requests==2.32.3"], ["idna==2.10", "urllib3==1.20"], ["certifi"]),
    "typer": (["typer==0.12.5"], ["click==7.1.2"], ["shellingham"]),
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
        if m := _MISSING.match(line):
            found.add((canonicalize_name(m.group(1)), canonicalize_name(m.group(3)), None))
        elif m := _CONFLICT.match(line):
            found.add((canonicalize_name(m.group(1)), canonicalize_name(m.group(4)), m.group(5)))
        else:
            raise AssertionError(f"unexpected pip check line: {line!r}")
    return found


@pytest.fixture(scope="module", params=sorted(BROKEN_VENVS))
def broken_venv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    install, forced, removed = BROKEN_VENVS[request.param]
    python = support.make_venv(tmp_path_factory.mktemp(f"broken-{request.param}") / "venv")
    support.pip_install(python, "--only-binary=:all:", *install)
    support.pip_install(python, "--only-binary=:all:", "--no-deps", *forced)
    if removed:
        support.run([python, "-m", "pip", "uninstall", "-y", *removed])
    return python


def test_broken_requirements_equal_pip_check(broken_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    proc = subprocess.run([ENVSNAP, "capture", "--python", str(broken_venv), "--only", "python",
                           "-q", "-o", str(out)], capture_output=True, text=True, timeout=300,
                          env=support.clean_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    snap = io.load(out)
    ours = {(b.dependent, b.required, b.installed) for b in broken_requirements(snap.python)}
    reference = pip_check(broken_venv)
    assert reference, "the venv was meant to be broken"
    assert ours == reference


def test_dependents_and_their_transitive_closure(broken_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap.toml"
    subprocess.run([ENVSNAP, "capture", "--python", str(broken_venv), "--only", "python", "-q",
                    "-o", str(out)], check=True, timeout=300, env=support.clean_env())
    py = io.load(out).python
    assert py is not None
    users = dependents(py)
    for pkg in py.packages:
        for name in users.get(pkg.name, ()):
            dependent = py.package(name)
            assert dependent is not None
            assert any(canonicalize_name(re.split(r"[\[<>=!~;@ ]", r, maxsplit=1)[0]) == pkg.name
                       for r in dependent.requires)
        assert pkg.name not in transitive(pkg.name, users)
