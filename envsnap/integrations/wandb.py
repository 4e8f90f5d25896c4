"""Weights & Biases (envsnap[wandb]): a snapshot as an artifact of a run, its summary in the config."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EnvsnapError
from ..io import dump
from . import require
from .tracking import ARTIFACT_NAME, capture_for_tracking, summary_fields

if TYPE_CHECKING:
    from ..snapshot import Snapshot

__all__ = ["ARTIFACT_TYPE", "CONFIG_KEY", "log_snapshot"]

ARTIFACT_TYPE = "environment"
CONFIG_KEY = "envsnap"  # run.config["envsnap"] = {"digest": ..., "python": ..., "gpu": ...}


def log_snapshot(snapshot: Snapshot | None = None, *, run: Any = None,
                 name: str = "envsnap-snapshot") -> Snapshot:
    """Log ``snapshot`` (captured now when None) to ``run`` (the active ``wandb.run`` when
    None): an artifact ``name`` of type ``environment`` holding ``envsnap.toml``, with the
    summary fields (digest, python, torch, torch_cuda, driver, gpu, gpu_count) as its metadata
    and under ``config["envsnap"]``, so runs can be filtered and grouped by them.

    W&B versions an artifact by its content: runs in the same environment share one version.
    Works offline (``WANDB_MODE=offline``); ``wandb sync`` uploads it later.
    """
    wandb = require("wandb", "wandb")
    run = run if run is not None else wandb.run
    if run is None:
        raise EnvsnapError("no active W&B run: call log_snapshot() after wandb.init(), or pass run=")
    snapshot = snapshot if snapshot is not None else capture_for_tracking()
    # A number where it is one, so the W&B UI can filter gpu_count >= 8.
    fields: dict[str, str | int] = {k: int(v) if k == "gpu_count" else v
                                    for k, v in summary_fields(snapshot).items()}
    artifact = wandb.Artifact(name, type=ARTIFACT_TYPE, metadata=fields,
                              description="envsnap environment snapshot")
    with tempfile.TemporaryDirectory(prefix="envsnap-wandb-") as tmp:
        local = Path(tmp) / ARTIFACT_NAME
        dump(snapshot, local)
        # The default (mutable) policy copies the file into W&B's staging area at once, so
        # the temporary folder can go before the upload happens.
        artifact.add_file(str(local), name=ARTIFACT_NAME)
    run.log_artifact(artifact)
    run.config.update({CONFIG_KEY: fields}, allow_val_change=True)
    return snapshot
