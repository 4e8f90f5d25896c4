"""One module per probe, and the registry capture runs: one entry per probe."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ..host import Host
    from ..snapshot import Project
    from .conda import CondaScan

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Probed(Generic[T]):
    """A probe's answer: ``value`` None means looked and found nothing (absence is data).

    ``found_via`` says how the value was found, or where the probe looked when it found
    nothing. A probe that cannot look at all raises, and capture records the error.
    """

    value: T | None
    found_via: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureOptions:
    python: str | None = None  # target interpreter; None = the environment the user is in
    deep: bool = False  # import frameworks in a child process for live build facts
    anonymize: bool = False
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()
    cwd: str | None = None  # where to look for the project's git repository


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeContext:
    """What a probe may know besides the Host: the capture options (after every entry's
    ``setup``), the values of the probes it ``needs`` and what its own ``prepare`` returned."""

    options: CaptureOptions
    results: Mapping[str, Any]  # name -> value; None when that probe failed or found nothing
    prepared: Any = None  # None also when prepare raised: the probe then does that work itself

    def result(self, name: str) -> Any:
        return self.results.get(name)


Fields = Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    """One registry entry: everything capture and io need to know of a probe, and the scope of
    its section (the section's rules are its entry in envsnap/sections, in this order).

    ``probe(host, ctx)`` runs once per capture, in its own thread, as soon as the probes it
    ``needs`` have finished (whether they found anything or failed). ``field`` names the
    Snapshot field its value fills; ``store``, when given, maps the value to the fields it
    sets instead, seeing the fields set by entries before it. ``setup`` turns the options into
    what the probes read (it may raise BadInputError: a bad argument, not a probe failure) and
    runs for every entry, selected or not, before any probe. ``prepare`` is work that needs no
    other probe, started at once so it overlaps them; its time counts as the probe's.
    """

    name: str
    probe: Callable[[Host, ProbeContext], Probed[Any]]
    field: str | None = None  # None: the value only feeds other probes
    needs: tuple[str, ...] = ()
    setup: Callable[[Host, CaptureOptions], CaptureOptions] | None = None
    prepare: Callable[[Host, CaptureOptions], Any] | None = None
    store: Callable[[Any, Fields], Fields] | None = None
    bulky: bool = False  # a long list: written after the small sections, for the reader
    # It describes the machine, not the environment (docs/diff-and-check.md#scope): an image
    # built from the snapshot does not bring it. Its changes and findings are the host's.
    host: bool = False


# ---------------------------------------------------------------------------------------------
# The entries. Probe modules are imported inside their entry, in the probe's own thread: the
# Python probe's child interpreter dominates a capture's wall time, and the other modules load
# while it runs.


def _resolve_python(host: Host, options: CaptureOptions) -> CaptureOptions:
    from . import python

    return replace(options, python=python.resolve_interpreter(host, options.python))


def _python(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import python

    assert ctx.options.python is not None  # _resolve_python ran
    return python.probe(host, ctx.options.python)


def _conda(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import conda

    prefix = conda.find_prefix(host, ctx.result("python"), ctx.options.python)
    return conda.probe(host, prefix)


def _store_conda(scan: CondaScan, fields: Fields) -> Fields:
    # conda owns some of the Python distributions: mark them in the python section.
    from . import conda

    py = fields.get("python")
    if py is None:
        return {"conda": scan.env}
    return {"conda": scan.env, "python": conda.mark_ownership(py, scan.anchors)}


def _os(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import osinfo

    return osinfo.probe(host)


def _cpu(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import cpu

    return cpu.probe(host)


def _nvidia(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import nvidia

    return nvidia.probe(host)


def _cuda_system(host: Host, options: CaptureOptions) -> Any:
    # nvcc and ldconfig (two subprocesses) need no Python layout: they run beside the scan.
    from . import cuda

    return cuda.survey(host)


def _cuda(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import cuda

    return cuda.probe(host, ctx.result("python"), ctx.prepared)


def _frameworks_loader(host: Host, options: CaptureOptions) -> Any:
    # ldconfig -p and the loader's own search trace need no Python layout: they run beside it.
    from . import binding

    return binding.survey(host, options.python)


def _frameworks(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import frameworks

    return frameworks.probe(host, ctx.result("python"), deep=ctx.options.deep,
                            python=ctx.options.python, loader=ctx.prepared)


def _store_frameworks(value: Any, fields: Fields) -> Fields:
    # Each bound file's version from the cuda probe's copy of it (the two probes run side by
    # side; their answers meet here).
    from . import binding

    cuda = fields.get("cuda")
    return {"frameworks": binding.with_copies(value, cuda.libraries if cuda else ())}


def _env(host: Host, ctx: ProbeContext) -> Probed[Any]:
    from . import env_vars

    return env_vars.probe(host)


def _project(host: Host, ctx: ProbeContext) -> Probed[Project]:
    from . import project

    return project.probe(host, ctx.options.cwd)


# Reading order: `envsnap show`, diff's sections (envsnap/sections) and the CLI's probe list
# follow it.
REGISTRY: tuple[ProbeSpec, ...] = (
    ProbeSpec(name="python", field="python", probe=_python, setup=_resolve_python, bulky=True),
    ProbeSpec(name="conda", field="conda", probe=_conda, needs=("python",), store=_store_conda,
              bulky=True),
    ProbeSpec(name="os", field="os", probe=_os, host=True),
    ProbeSpec(name="cpu", field="cpu", probe=_cpu, host=True),
    ProbeSpec(name="nvidia", field="nvidia", probe=_nvidia, host=True),
    ProbeSpec(name="cuda", field="cuda", probe=_cuda, needs=("python",), prepare=_cuda_system,
              host=True),
    ProbeSpec(name="frameworks", field="frameworks", probe=_frameworks, needs=("python",),
              prepare=_frameworks_loader, store=_store_frameworks),
    ProbeSpec(name="env", field="env", probe=_env),
    ProbeSpec(name="project", field="project", probe=_project),
)

PROBE_NAMES = tuple(spec.name for spec in REGISTRY)


def registry() -> tuple[ProbeSpec, ...]:
    """The registry as it is now (tests and plugins may extend ``REGISTRY``)."""
    return REGISTRY


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in registry())


def fields() -> tuple[str, ...]:
    """The Snapshot fields probes fill, in reading order."""
    return tuple(spec.field for spec in registry() if spec.field is not None)


def file_sections() -> tuple[str, ...]:
    """The order of a snapshot file's probe sections: small ones first, long lists last."""
    specs = [s for s in registry() if s.field is not None]
    return tuple(s.field for s in specs if not s.bulky and s.field) + tuple(
        s.field for s in specs if s.bulky and s.field)
