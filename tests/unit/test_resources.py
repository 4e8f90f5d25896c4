"""envsnap.resources: the shipped files, and envsnap's own distributions and modules as its
installed metadata names them (compared with pyproject.toml and with what imports)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envsnap import resources
from envsnap.tomlreader import loads

ROOT = Path(__file__).resolve().parents[2]
PROJECT = loads((ROOT / "pyproject.toml").read_text())["project"]


def _required() -> set[str]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    return {canonicalize_name(r.name) for r in reqs if r.marker is None or r.marker.evaluate()}


def test_templates_and_compat_tables_are_the_files_in_the_tree() -> None:
    for name in ("Dockerfile.tmpl", "requirements-header.txt"):
        assert resources.template_text(name) == (ROOT / "templates" / name).read_text()
    for name in ("severity.toml", "pytorch.toml"):
        assert resources.compat_text(name) == (ROOT / "envsnap" / "compat" / name).read_text()


def test_own_distributions_hold_every_requirement_and_are_all_installed() -> None:
    own = resources.own_distributions()
    assert {"envsnap"} | _required() <= own
    for name in own:
        importlib.metadata.distribution(name)  # raises for one not installed


def test_an_installed_extra_brings_all_of_its_distributions() -> None:
    own = resources.own_distributions()
    for extra, reqs in PROJECT["optional-dependencies"].items():
        names = {canonicalize_name(Requirement(r).name) for r in reqs}
        if "envsnap" in names:
            continue  # an extra of extras: its parts are checked one by one
        installed = all(_installed(n) for n in names)
        assert (names <= own) == installed, extra


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_runtime_modules_are_importable_and_cover_every_requirement() -> None:
    modules = resources.runtime_modules()
    assert "envsnap" in modules and list(modules) == sorted(modules)
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module
    by_dist = importlib.metadata.packages_distributions()
    covered = {canonicalize_name(d) for m in modules for d in by_dist.get(m, ())}
    assert _required() <= covered
    assert "docker" not in modules  # an extra's module is not mounted into an image
