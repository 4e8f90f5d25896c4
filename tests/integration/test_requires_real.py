"""capture's `requires` against importlib.metadata + packaging, over a real venv of 200+ PyPI dists.

The expected side is computed inside the target venv by its own interpreter, with its own
``importlib.metadata`` and ``packaging`` (https://packaging.python.org/en/latest/specifications/
dependency-specifiers/#environment-markers): nothing of envsnap runs there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import support
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import envsnap
from envsnap.snapshot import PythonEnv

pytestmark = pytest.mark.slow

ENVSNAP = Path(sys.executable).parent / "envsnap"

# The first five come to about 160 distributions; the rest of a working ML environment
# (notebooks, Hugging Face, dask, tensorboard, optuna, test and docs tools) to some 230.
# packaging is named so the reference script below can rely on it whatever the others need.
REQUIREMENTS = (
    "pandas", "scipy", "matplotlib", "jupyterlab", "mlflow",
    "jupyter", "seaborn", "statsmodels", "sympy", "datasets", "transformers", "tensorboard",
    "dask[complete]", "optuna", "pytest", "sphinx", "packaging",
)
# Wheels only: a source build would make the venv depend on this machine's compilers.
PIP_ARGS = ("--only-binary", ":all:")
MIN_DISTS = 200
# Their METADATA carries a License header folded over dozens to a thousand lines before
# Requires-Dist: a header reader that stops early inside it loses every requirement.
LONG_LICENSE = ("matplotlib", "scipy", "contourpy", "mlflow", "nbconvert")
# A partial folder older than this was left by a killed build, not one still running.
STALE_PARTIAL_S = 3 * 3600

# Run by the venv's interpreter: {canonical name: {"raw": Requires-Dist, "requires": [...]}}
# plus the marker environment the requirements were evaluated against.
REFERENCE = r'''
import importlib.metadata
import json
import sys

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

sys.path.pop(0)  # this script's own folder: not part of the environment
markers = default_environment()
env = dict(markers, extra="")
dists = {}
for dist in importlib.metadata.distributions():
    name = canonicalize_name(dist.metadata["Name"])
    if name in dists:  # a later copy on sys.path is never imported
        continue
    raw = list(dist.requires or ())
    kept = set()
    for line in raw:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
        kept.add(canonicalize_name(req.name) + (f"[{extras}]" if extras else "") + str(req.specifier))
    dists[name] = {"raw": raw, "requires": sorted(kept)}
json.dump({"markers": markers, "dists": dists}, sys.stdout)
'''


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-tests"


def _venv_key() -> str:
    recipe = [sys.implementation.name, f"{sys.version_info.major}.{sys.version_info.minor}",
              *PIP_ARGS, *REQUIREMENTS]
    return hashlib.sha256("\n".join(recipe).encode()).hexdigest()[:12]


def _remove_stale_partials(root: Path, prefix: str) -> None:
    for partial in root.glob(f"{prefix}*"):
        try:
            age = time.time() - partial.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > STALE_PARTIAL_S:
            shutil.rmtree(partial, ignore_errors=True)


def cached_venv(root: Path) -> Path:
    """The venv holding REQUIREMENTS, built once per machine; returns its python.

    It is built in a partial folder and renamed into place only once pip has succeeded, so
    a killed run leaves no venv that a later run would take as complete. A renamed venv
    works through ``bin/python`` (its prefix is found from the executable's location at
    start-up); its console-script shebangs keep the partial path, and nothing here runs them.
    """
    final = root / f"venv-{MIN_DISTS}-{_venv_key()}"
    python = final / "bin" / "python"
    if python.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(root, f"{final.name}.partial-")
    partial = Path(tempfile.mkdtemp(prefix=f"{final.name}.partial-", dir=root))
    try:
        partial_python = support.make_venv(partial)
        support.run([partial_python, "-m", "pip", "install", "--no-input", *PIP_ARGS, *REQUIREMENTS],
                    timeout=1800)
        try:
            partial.rename(final)
        except OSError:
            if not python.exists():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def real_venv() -> Path:
    return cached_venv(_cache_root())


def _env() -> dict[str, str]:
    # Both sides must see the same sys.path: no PYTHONPATH from whoever runs the tests.
    env = support.clean_env()
    for var in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH"):
        env.pop(var, None)
    return env


@dataclass(frozen=True, slots=True, kw_only=True)
class Dist:
    raw: list[str]  # Requires-Dist as importlib.metadata gives it, markers included
    requires: list[str]  # those that hold for the interpreter, in the snapshot's spelling


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    markers: dict[str, str]  # packaging.markers.default_environment() of the venv's python
    dists: dict[str, Dist]  # by canonical name


@pytest.fixture(scope="module")
def reference(real_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    script = tmp_path_factory.mktemp("reference") / "reference.py"
    script.write_text(REFERENCE)
    data = json.loads(support.run([real_venv, script], env=_env(), timeout=120).stdout)
    return Reference(markers=data["markers"],
                     dists={name: Dist(**d) for name, d in data["dists"].items()})


@pytest.fixture(scope="module")
def captured(real_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> PythonEnv:
    """The venv's python section, captured by the real CLI and read back by ``envsnap.load``."""
    out = tmp_path_factory.mktemp("capture") / "snapshot.toml"
    support.run([ENVSNAP, "capture", "-q", "--only", "python", "--python", real_venv, "-o", out],
                env=_env(), timeout=120)
    python = envsnap.load(out).python
    assert python is not None
    assert not python.problems, python.problems
    return python


@pytest.fixture(scope="module")
def captured_requires(captured: PythonEnv) -> dict[str, tuple[str, ...]]:
    return {pkg.name: pkg.requires for pkg in captured.packages}


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def _differences(expected: Mapping[str, list[str]], got: Mapping[str, tuple[str, ...]]) -> list[str]:
    lines = []
    for name in sorted(expected.keys() | got.keys()):
        if name not in got:
            lines.append(f"{name}: not captured")
        elif name not in expected:
            lines.append(f"{name}: captured, but importlib.metadata has no such distribution")
        elif list(got[name]) != expected[name]:
            missing = sorted(set(expected[name]) - set(got[name]))
            extra = sorted(set(got[name]) - set(expected[name]))
            lines.append(f"{name}: missing {missing}, unexpected {extra}"
                         + ("" if missing or extra else f" (order or duplicates: {list(got[name])})"))
    return lines


def test_venv_is_large_and_holds_the_named_packages(reference: Reference) -> None:
    assert len(reference.dists) >= MIN_DISTS, f"only {len(reference.dists)} distributions in the venv"
    missing = [n for n in ("pandas", "scipy", "matplotlib", "jupyterlab", "mlflow", *LONG_LICENSE)
               if n not in reference.dists]
    assert not missing, f"not installed: {missing}"


def test_requires_match_importlib_metadata_and_packaging(
        reference: Reference, captured_requires: dict[str, tuple[str, ...]]) -> None:
    expected = {name: d.requires for name, d in reference.dists.items()}
    differences = _differences(expected, captured_requires)
    assert not differences, (
        f"{len(differences)} of {len(expected)} distributions differ from the reference:\n"
        + "\n".join(differences))


def test_long_license_headers_do_not_hide_requirements(captured_requires: dict[str, tuple[str, ...]]) -> None:
    empty = [name for name in LONG_LICENSE if not captured_requires.get(name)]
    assert not empty, f"no requires captured for {empty}"


def test_false_markers_are_filtered_out(reference: Reference,
                                        captured_requires: dict[str, tuple[str, ...]]) -> None:
    # Requirements whose environment marker is false here (no `extra` involved), on a package
    # the distribution requires in no other line: the capture must not name that package.
    env = {**reference.markers, "extra": ""}
    filtered = []
    for name, dist in reference.dists.items():
        kept = {_name(r) for r in dist.requires}
        for line in dist.raw:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if (req.marker is None or "extra" in str(req.marker) or req.marker.evaluate(env)
                    or canonicalize_name(req.name) in kept):
                continue
            filtered.append(f"{name}: {line}")
            assert canonicalize_name(req.name) not in {_name(r) for r in captured_requires[name]}, (
                f"{name}: {line!r} does not hold here, yet was captured")
    assert filtered, "no Requires-Dist with a false environment marker in the whole venv"


def test_markers_are_the_interpreters_own(reference: Reference, captured: PythonEnv) -> None:
    # What `requires` was evaluated against must be the target's own marker environment.
    assert dict(captured.markers) == reference.markers
