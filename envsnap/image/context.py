"""The build context: ImagePlan + wheelhouse -> a folder or a normalised tar (file edge)."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from ..errors import BadInputError
from ..io import write_files_atomic
from .dockerfile import ImagePlan

# Fixed metadata for every entry, so identical content gives identical cache keys on every
# rebuild (repo2docker normalises its context the same way, `_filter_tar`). 1980-01-01 is
# the earliest time a zip/wheel can hold.
EPOCH = 315532800


def _info(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def _wheel_paths(plan: ImagePlan, wheelhouse: Path | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for group, names in plan.wheels.items():
        for name in names:
            if wheelhouse is None:
                raise BadInputError("an offline image plan needs --wheelhouse DIR")
            out[f"wheels/{group}/{name}"] = wheelhouse / name
    return out


def context_tar(plan: ImagePlan, wheelhouse: Path | None) -> IO[bytes]:
    """The context as an uncompressed tar in a temporary file (wheelhouses can be GBs)."""
    fh = tempfile.TemporaryFile(prefix="envsnap-context-")  # noqa: SIM115 - returned open
    try:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
            texts = {"Dockerfile": plan.dockerfile, **plan.files}
            for d in ("lock", "wheels", "wheels/heavy", "wheels/light"):
                tar.addfile(_info(d, directory=True))
            for name in sorted(texts):
                data = texts[name].encode("utf-8")
                tar.addfile(_info(name, size=len(data)), io.BytesIO(data))
            for name, path in sorted(_wheel_paths(plan, wheelhouse).items()):
                with path.open("rb") as src:
                    tar.addfile(_info(name, size=path.stat().st_size), src)
    except BaseException:
        fh.close()  # a wheelhouse-sized temporary file must not outlive a failed build
        raise
    fh.seek(0)
    return fh


def dockerfile_tar(dockerfile: str) -> IO[bytes]:
    """A context holding only a Dockerfile (relabelling a built image)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = dockerfile.encode("utf-8")
        tar.addfile(_info("Dockerfile", size=len(data)), io.BytesIO(data))
    buf.seek(0)
    return buf


def write_context(plan: ImagePlan, wheelhouse: Path | None, dest: Path, *,
                  force: bool = False) -> list[Path]:
    """Write the context as a folder (--dockerfile-only), as one set through the file edge:
    nothing replaces a file envsnap did not write, nothing goes through a symlinked folder."""
    texts = {**plan.files, "Dockerfile": plan.dockerfile}
    wheels = _wheel_paths(plan, wheelhouse)
    write_files_atomic(dest, texts, copies=wheels, folders=("lock", "wheels/heavy", "wheels/light"),
                       force=force)
    return [dest / name for name in [*sorted(texts), *sorted(wheels)]]
