"""The phrases diff and check share: lists cut at "and N more", sources, GPUs, version classes, advice."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .gpuarch import gpu_cc
from .snapshot import GPU, Binding, Source

NAMES_SHOWN = 5  # names in an explanation before "and N more"
PIP = "python -m pip"  # B's interpreter, in diff's fix commands


def more_text(shown: Sequence[str], limit: int) -> str:
    """``a, b, c and 4 more``: the first ``limit`` in the order given."""
    head = ", ".join(shown[:limit])
    return head + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def names_text(names: Iterable[str], limit: int = NAMES_SHOWN) -> str:
    """``a, b, c and 4 more``, sorted."""
    return more_text(sorted(names), limit)


def source_text(src: Source | None) -> str:
    """Where a package came from, in one phrase: ``index``, ``editable file:///src/x``,
    ``git https://github.com/o/r@1a2b3c4d5e6f``."""
    if src is None:
        return "index"
    if src.kind == "vcs":
        rev = (src.commit or src.requested_revision or "")[:12]
        return f"{src.vcs or 'vcs'} {src.url or ''}@{rev}".replace(" @", "@").strip()
    if src.kind == "editable":
        return f"editable {src.url}" if src.url else "editable"
    return f"{src.kind} {src.url}" if src.url else src.kind


def gpu_text(gpu: GPU) -> str:
    """``NVIDIA H100 80GB HBM3 (sm_90)``; the bare name when its compute capability is unknown."""
    cc = gpu_cc(gpu)
    return f"{gpu.name} (sm_{cc.replace('.', '')})" if cc else gpu.name


def gpus_text(gpus: Iterable[GPU]) -> str:
    """``8 x NVIDIA H100 80GB HBM3 (sm_90)``, or the count and each model."""
    gpus = tuple(gpus)
    names = sorted({gpu_text(g) for g in gpus})
    return f"{len(gpus)} x {names[0]}" if len(names) == 1 else f"{len(gpus)}: {', '.join(names)}"


def gib(n: int | None) -> str:
    """``80 GiB``; ``?`` when unknown."""
    return f"{n / 2**30:.0f} GiB" if n else "?"


def plain_text(value: Any) -> str:
    """A value of a section without wording of its own, as one short line."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


# How diff and check name a version class (rules.classify_version) in a sentence.
LEVEL_WORDS = {
    "epoch": "an epoch change (the version numbering restarted)",
    "major": "a major version change",
    "minor": "a minor version change",
    "patch": "a patch-level change",
    "pre": "a pre-release or development build change",
    "post": "a post-release change",
    "unparseable": "a change between versions that are not PEP 440",
}


def generic_fix(name: str, old: str, new: str, *, downgrade: bool,
                dependents: Iterable[str] = ()) -> str:
    """Direction-aware advice for a version change with no shipped fix of its own."""
    users = sorted(dependents)
    if downgrade:
        return (f"{name} {new} is older than the {old} that A ran: code and installed packages "
                f"written for {old}" + (f" ({names_text(users)})" if users else "")
                + " may use features or a binary interface it lacks. Fix: reinstall "
                f"{name}=={old}, or install releases of its dependents made for {new}.")
    return (f"Code written for {name} {old}" + (f" (and {names_text(users)})" if users else "")
            + f" may rely on behaviour {new} changed. Fix: pin {name}=={old} (A's version), or "
            f"update the code and packages that use it for {new}.")


# How diff and check name what an ignore list left out (SnapshotDiff.ignored, CheckResult.ignored).
IGNORED_PACKAGES = "packages matching the ignore list"
IGNORED_REQUIREMENTS = "requirements matching the ignore list"
IGNORED_ENV = "environment variables matching the ignore list"
IGNORED_EXTRAS = "packages not in the snapshot (--ignore-extras)"
IGNORED_LISTS = (IGNORED_PACKAGES, IGNORED_REQUIREMENTS, IGNORED_ENV)


# ---------------------------------------------------------------------------------------------
# Which copy loads (the frameworks section's binding rules, docs/which-copy-loads.md)


def how_bound(b: Binding) -> str:
    """How the loader found the bound file: ``LD_PRELOAD``, ``torch._preload_cuda_deps``,
    ``DT_RPATH of .../libtorch_cuda.so``."""
    if b.via == "preload" or not b.found_by:
        return b.found_by or b.via
    return {"rpath": "DT_RPATH of ", "runpath": "DT_RUNPATH of ",
            "ld_library_path": "LD_LIBRARY_PATH, for ", "ld_cache": "ld.so.cache, for ",
            "default": "the default directories, for ", "missing": "needed by "
            }.get(b.via, f"{b.via}, for ") + b.found_by


def binding_text(b: Binding, *, build: bool = False) -> str:
    """One bound copy in one phrase: ``9.10.2 at /opt/cudnn/libcudnn.so.9 (LD_PRELOAD)``;
    ``build``: with its build-id (12 digits), for copies that differ in it alone."""
    if b.path is None:
        return f"not found ({how_bound(b)})"
    text = f"{b.version or '?'} at {b.path} ({how_bound(b)})"
    return text + (f" build-id {b.build_id[:12]}" if build and b.build_id else "")


def rebound_text(framework: str, old: Binding | None, new: Binding | None) -> str:
    """Why another bound copy matters, for diff (A's copy -> B's)."""
    b = new or old
    assert b is not None
    lib = b.soname
    if new is None:
        return f"{framework} no longer loads {lib}."
    if new.path is None:
        return (f"{framework} needs {lib} and nothing answers to it ({how_bound(new)}): "
                f"importing {framework} fails.")
    if old is None:
        return f"{framework} now loads {lib}: {binding_text(new)}."
    if old.version and new.version and old.version != new.version:
        what = f"{lib} {new.version} instead of {old.version}"
    elif old.build_id and new.build_id and old.build_id != new.build_id and old.path == new.path:
        what = (f"another build of {lib} at the same path and version (build-id "
                f"{old.build_id[:12]} -> {new.build_id[:12]}): the file was rebuilt or "
                "overwritten, often by another wheel that ships the same folder")
    else:
        what = f"{lib} from another file"
    return (f"{framework} now binds {what}: {binding_text(new)}, where A bound "
            f"{binding_text(old)}. Every later load of {lib} in the process gets that copy; "
            "another cuDNN or NCCL than the build was made with fails with 'undefined symbol' "
            "or a version-mismatch status, or changes results silently.")
