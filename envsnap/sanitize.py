"""What capture writes, load accepts: each value snapshot.validate would refuse, dropped and named."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .records import escape_surrogates
from .snapshot import (
    Snapshot,
    conda_problem,
    framework_problem,
    is_safe_requirement,
    is_safe_text,
    is_safe_version,
    package_problem,
    source_ok,
    variable_ok,
)


def sanitize(snapshot: Snapshot) -> tuple[Snapshot, dict[str, tuple[str, ...]]]:
    """What capture writes, load accepts: every value ``validate`` would refuse is dropped.

    Returns the snapshot and, per probe, the warnings naming what was dropped (control
    characters shown escaped). Uses the same predicates as ``validate``.
    """
    warnings: dict[str, list[str]] = {}

    def warn(probe: str, what: str, value: str) -> None:
        warnings.setdefault(probe, []).append(f"dropped {what} {ascii(value)[:120]}")

    # Undecodable bytes (a file name, a path, a probe's message) arrive as lone surrogates;
    # free text keeps them escaped (\udcff), so the file is UTF-8 and says what was there.
    escaped: list[str] = []
    snapshot = escape_surrogates(snapshot, escaped)
    if escaped:
        warnings.setdefault("python" if snapshot.python else "os", []).append(
            f"escaped undecodable bytes in {len(escaped)} value(s), e.g. {escaped[0][:120]}")

    changes: dict[str, Any] = {}
    py = snapshot.python
    if py is not None:
        if not is_safe_version(py.version):
            warn("python", "Python version", py.version)
            changes["python"] = None
        else:
            packages = []
            for pkg in py.packages:
                problem = package_problem(pkg)
                if problem in ("package name", "version"):
                    warn("python", f"package with unsafe {problem}", f"{pkg.name} {pkg.version}")
                    continue
                if problem == "requirement":
                    kept = tuple(r for r in pkg.requires if is_safe_requirement(r))
                    for r in pkg.requires:
                        if r not in kept:
                            warn("python", f"requirement of {pkg.name}", r)
                    pkg = replace(pkg, requires=kept)
                if not source_ok(pkg.source):
                    warn("python", f"source of {pkg.name} (control characters)",
                         pkg.source.url or "" if pkg.source else "")
                    pkg = replace(pkg, source=None)
                packages.append(pkg)
            indexes = tuple(i for i in py.indexes if is_safe_text(i))
            for i in py.indexes:
                if i not in indexes:
                    warn("python", "index URL", i)
            if len(packages) != len(py.packages) or indexes != py.indexes or any(
                    a is not b for a, b in zip(packages, py.packages, strict=True)):
                changes["python"] = replace(py, packages=tuple(packages), indexes=indexes)
    conda = snapshot.conda
    if conda is not None:
        kept_conda = []
        for cpkg in conda.packages:
            problem = conda_problem(cpkg)
            if problem is not None:
                warn("conda", f"record with unsafe {problem}", f"{cpkg.name} {cpkg.version}")
            else:
                kept_conda.append(cpkg)
        specs = tuple(s for s in conda.requested_specs if is_safe_text(s))
        for spec in conda.requested_specs:
            if not is_safe_text(spec):
                warn("conda", "requested spec", spec)
        if len(kept_conda) != len(conda.packages) or specs != conda.requested_specs:
            changes["conda"] = replace(conda, packages=tuple(kept_conda), requested_specs=specs)
    env = {}
    for name, value in snapshot.env.items():
        if variable_ok(name, value):
            env[name] = value
        else:
            warn("env", "variable", name)
    if len(env) != len(snapshot.env):
        changes["env"] = env
    frameworks = []
    for fw in snapshot.frameworks:
        if framework_problem(fw) is None:
            frameworks.append(fw)
        else:
            warn("frameworks", "framework", f"{fw.name} {fw.version}")
    if len(frameworks) != len(snapshot.frameworks):
        changes["frameworks"] = tuple(frameworks)
    cuda = snapshot.cuda
    if cuda is not None:
        declared = {n: v for n, v in cuda.declared.items() if variable_ok(n, v)}
        for name in cuda.declared:
            if name not in declared:
                warn("cuda", "declared variable", name)
        if len(declared) != len(cuda.declared):
            changes["cuda"] = replace(cuda, declared=declared)
    if changes:
        snapshot = replace(snapshot, **changes)
    return snapshot, {k: tuple(v) for k, v in warnings.items()}
