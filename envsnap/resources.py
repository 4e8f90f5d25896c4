"""Shipped data files: templates/ (packaged as envsnap.templates) and compat tables."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

# In a source checkout (an editable install maps only the envsnap/ folder), templates/ sits
# beside the package; in a wheel it is the envsnap.templates package.
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_text(name: str) -> str:
    """The text of ``templates/<name>``."""
    try:
        return importlib.resources.files("envsnap.templates").joinpath(name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (_CHECKOUT_TEMPLATES / name).read_text("utf-8")


def compat_text(name: str) -> str:
    """The text of ``envsnap/compat/<name>`` (shipped compatibility data)."""
    return importlib.resources.files("envsnap.compat").joinpath(name).read_text("utf-8")


def own_distributions() -> frozenset[str]:
    """envsnap and what its installed metadata requires, with every extra that is installed
    (all of the extra's requirements are: pip installs them together, so `envsnap[lock]` brings
    conda-lock and pip-tools), and what the extras named in those requirements add
    (``pypiserver[passlib]``: passlib), as canonical names. `check` follows the rest through
    the checked environment's graph: it never counts these as drift where envsnap is
    installed, nor removes them (issue 18.6)."""
    # Local imports: only check needs them, and packaging's requirement parser costs start-up.
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    def installed(name: str) -> bool:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return False
        return True

    out = {"envsnap"}
    queue: list[tuple[str, tuple[str, ...] | None]] = [("envsnap", None)]  # None: every extra
    seen: set[tuple[str, tuple[str, ...] | None]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        offered = tuple(dist.metadata.get_all("Provides-Extra") or ()) if extras is None else extras
        by_extra: dict[str, list[Requirement]] = {}
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            for extra in ("", *offered):
                if req.marker is None or req.marker.evaluate({"extra": extra}):
                    by_extra.setdefault(extra, []).append(req)
                    break
        for extra, reqs in by_extra.items():
            if extra and not all(installed(r.name) for r in reqs):
                continue  # an extra this environment does not have
            for req in reqs:
                dep = canonicalize_name(req.name)
                out.add(dep)
                if req.extras:
                    queue.append((dep, tuple(sorted(req.extras))))
    return frozenset(out)


def runtime_modules() -> tuple[str, ...]:
    """envsnap and the top-level modules of its required (not optional) dependencies, as its
    installed metadata names them: what a capture imports. ``build-image --verify`` mounts
    these into the image, so a dependency added to pyproject.toml is mounted too."""
    # Local imports: as in own_distributions (build-image --verify only).
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requires = metadata.distribution("envsnap").requires or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        requires = []
    wanted: set[str] = set()
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            wanted.add(canonicalize_name(req.name))
    modules = {"envsnap"}
    for module, dists in metadata.packages_distributions().items():
        if module.isidentifier() and any(canonicalize_name(d) in wanted for d in dists):
            modules.add(module)
    return tuple(sorted(modules))
