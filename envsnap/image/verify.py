"""An image against its snapshot: capture inside it (envsnap mounted read-only), then compare."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from .. import rules
from ..drift import Change, SnapshotDiff, diff
from ..errors import BadInputError, EngineError
from ..io import loads
from ..remedy import Remedy
from ..report import change_data, render_diff
from ..resources import runtime_modules
from ..text import printable
from .dockerfile import REPRO_ENV

if TYPE_CHECKING:
    from ..snapshot import Snapshot
    from .engine import Engine

VERIFY_SCHEMA = "envsnap.verify/1"
# Where build-image puts the environment: check --image's default interpreter.
IMAGE_PYTHON = "/opt/venv/bin/python"
# envsnap and the modules it imports to capture (resources.runtime_modules: its required
# dependencies, from its installed metadata), bound read-only under one folder that only the
# capturing interpreter's sys.path names: nothing is installed into the image, nothing is
# written to it, and the environment variables the capture records are the image's own.
RUN_ROOT = "/opt/envsnap-run"
CAPTURE_TIMEOUT_S = 300.0
_VERSION_CODE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


def runtime_mounts() -> dict[str, str]:
    """Host path -> path inside the container, for each module resources.runtime_modules names
    that is found here (a package's folder, or a single-file module)."""
    out: dict[str, str] = {}
    for module in runtime_modules():
        spec = find_spec(module)
        if spec is None:
            continue  # pynvml: without it the GPU probe records that it could not run
        if spec.submodule_search_locations:
            path = next(iter(spec.submodule_search_locations))
        elif spec.origin and os.path.isfile(spec.origin):
            path = spec.origin
        else:
            continue
        out[os.path.realpath(path)] = f"{RUN_ROOT}/{os.path.basename(path)}"
    return out


def capture_argv(python: str) -> list[str]:
    """The capture, run by the image's own interpreter: -B writes no bytecode, sys.path gets
    the mounted folder first (no PYTHONPATH, which the capture would record)."""
    code = (f"import runpy, sys; sys.path.insert(0, {RUN_ROOT!r}); "
            "runpy.run_module('envsnap', run_name='__main__')")
    return [python, "-B", "-c", code, "capture", "--python", python, "--skip", "project",
            "-o", "-", "-q"]


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return printable(lines[-1]) if lines else "no output"


def image_python(engine: Engine, image: str, python: str = IMAGE_PYTHON) -> str:
    """The Python version the image's interpreter reports (x.y.z)."""
    result = engine.run(image, [python, "-c", _VERSION_CODE], timeout=60)
    version = result.stdout.strip()
    if result.exit_code != 0 or not rules.major_minor(version):
        raise BadInputError(f"{image}: cannot run {python} in it ({_last_line(result.stderr)})")
    return version


def capture_in_image(engine: Engine, image: str, *, python: str = IMAGE_PYTHON) -> Snapshot:
    """A snapshot of ``python``'s environment inside ``image``, taken by envsnap mounted
    read-only and run by that interpreter (it needs Python 3.10 or newer)."""
    result = engine.run(image, capture_argv(python), mounts=runtime_mounts(),
                        timeout=CAPTURE_TIMEOUT_S)
    if result.exit_code != 0:
        raise EngineError(f"capturing inside {image} with {python} failed (exit "
                          f"{result.exit_code}): {_last_line(result.stderr)}")
    return loads(result.stdout, source=f"the capture inside {image}")


# ---------------------------------------------------------------------------------------------
# Comparing (pure)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """A difference an image has by design, and why."""

    change: Change
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    image: str
    python: str | None  # the Python the image runs
    packages: int  # packages found inside
    drift: tuple[Change, ...]  # environment differences: the image is not the snapshot's
    expected: tuple[Expected, ...]

    @property
    def passed(self) -> bool:
        return not self.drift


def why_expected(change: Change) -> str | None:
    """Why an image differs from its snapshot here by design, or None (then it is drift).
    An image brings the environment, not the host (the semantics' scope, changes.scope_of);
    beyond that it runs its base image's interpreter, sets only the variables that change
    results, installs each package from the lock's wheel and holds no project checkout."""
    if change.scope == rules.HOST:
        return "the host's, not the image's"
    if change.section == "python" and change.name == "python" and change.old and change.new \
            and rules.major_minor(change.old) == rules.major_minor(change.new):
        return "the base image's Python (patch differs)"
    if change.section == "env" and change.name not in REPRO_ENV:
        return "not a variable that changes results (an image sets only those)"
    if change.section == "python.packages" and change.kind == "source":
        return "installed from the lock's wheel"
    if change.section == "project" or (change.section == "probes" and change.name == "project"):
        return "the project checkout is not part of an image"
    return None


def verify(expected: Snapshot, inside: Snapshot, *, image: str) -> Verification:
    drift: list[Change] = []
    known: list[Expected] = []
    for change in diff(expected, inside).changes:
        why = why_expected(change)
        if why is None:
            drift.append(change)
        else:
            known.append(Expected(change=change, why=why))
    py = inside.python
    return Verification(image=image, python=py.version if py else None,
                        packages=len(py.packages) if py else 0, drift=tuple(drift),
                        expected=tuple(known))


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDrift(SnapshotDiff):
    """Drift found in an image: the remedy is a rebuild from the snapshot, not a pip command
    run inside an image."""

    image: str = ""

    def remedy(self, a: str) -> Remedy | None:
        if not self.changes:
            return None
        ref = "SNAPSHOT.toml" if a == "-" else a
        return Remedy(command=f"envsnap build-image {shlex.quote(ref)} -t "
                                    f"{shlex.quote(self.image)} --verify")


def _arrow(c: Change) -> str:
    return f"{c.old or '-'} -> {c.new or '-'}"


def verification_data(v: Verification, *, snapshot: str) -> dict[str, Any]:
    remedy = ImageDrift(changes=v.drift, image=v.image).remedy(snapshot)
    return {
        "schema": VERIFY_SCHEMA, "snapshot": snapshot, "image": v.image, "python": v.python,
        "packages": v.packages, "passed": v.passed,
        # An image is fixed by rebuilding it, not by pip inside it: no per-change fix.
        "drift": [{**change_data(c), "fix": None} for c in v.drift],
        "expected": [{**change_data(e.change), "fix": None, "why": e.why} for e in v.expected],
        "remedy": {"command": remedy.command} if remedy else None,
    }


def render_verification(v: Verification, fmt: str, *, snapshot: str,
                        color: bool = False) -> str:
    """text (drift as `envsnap diff` shows it, then one line per expected difference), json or
    markdown (the diff's Markdown, then the expected list)."""
    if fmt == "json":
        return json.dumps(verification_data(v, snapshot=snapshot), indent=2,
                          ensure_ascii=False) + "\n"
    where = f"image {v.image}"
    lines: list[str] = []
    if v.drift:
        drift = ImageDrift(changes=v.drift, image=v.image)
        lines.append(render_diff(drift, fmt, a=snapshot, b=where, color=color).rstrip("\n"))
        lines.append("")
    bullet = "- " if fmt == "markdown" else "  "
    if v.expected:
        lines.append(f"expected for an image, not drift ({len(v.expected)}):")
        lines.extend(printable(f"{bullet}{e.change.section}: {e.change.name} {e.change.kind} "
                               f"({_arrow(e.change)}): {e.why}") for e in v.expected)
        lines.append("")
    inside = f"Python {v.python or '?'}, {v.packages} package(s)"
    if v.passed:
        lines.append(printable(f"verified: {where} ({inside}) has the environment of {snapshot}"))
    else:
        lines.append(printable(f"drift: {where} ({inside}) differs from {snapshot} in "
                               f"{len(v.drift)} environment fact(s)"))
    return "\n".join(lines) + "\n"
