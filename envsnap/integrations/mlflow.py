"""MLflow (envsnap[mlflow]): log a snapshot with a run or model, read runs:/ and models:/ back."""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError, EnvsnapError, SnapshotFormatError
from . import require
from .tracking import ARTIFACT_DIR, ARTIFACT_NAME, capture_for_tracking, summary_fields

if TYPE_CHECKING:
    from ..snapshot import Snapshot

__all__ = ["ENABLE_VAR", "EnvsnapRunContext", "load_uri", "log_snapshot", "tags"]

TAG_PREFIX = "envsnap."
# The run-context plugin tags runs only when this is "1": installing the extra alone must not
# add a capture to every `mlflow.start_run()` of every project in that environment.
ENABLE_VAR = "ENVSNAP_MLFLOW"
ARTIFACT_PATH = f"{ARTIFACT_DIR}/{ARTIFACT_NAME}"

# models:/<name>/<version or stage> and models:/<name>@<alias>, optionally followed by a path
# inside the model's artifacts (MLflow's own models:/ URI forms).
_MODEL_URI = re.compile(r"models:/(?:(?P<alias_name>[^/@]+)@(?P<alias>[^/]+)"
                        r"|(?P<name>[^/@]+)/(?P<version>[^/]+))(?:/(?P<path>.+))?")
_RUN_URI = re.compile(r"runs:/(?P<run_id>[^/]+)(?:/(?P<path>.+))?")


def tags(snapshot: Snapshot) -> dict[str, str]:
    """The searchable run tags: ``envsnap.digest``, ``envsnap.python``, ``envsnap.torch``,
    ``envsnap.torch_cuda``, ``envsnap.driver``, ``envsnap.gpu``, ``envsnap.gpu_count``
    (search with ``tags."envsnap.digest" = 'sha256:...'``)."""
    return {TAG_PREFIX + key: value for key, value in summary_fields(snapshot).items()}


def log_snapshot(snapshot: Snapshot | None = None, *, run_id: str | None = None,
                 model_id: str | None = None) -> Snapshot:
    """Log ``snapshot`` (captured now when None) as ``envsnap/envsnap.toml`` among the run's
    artifacts and set :func:`tags` on the run: the active run unless ``run_id`` is given.

    With ``model_id`` (an MLflow 3 LoggedModel, ``model_info.model_id``) the file and tags go
    to the model instead, so ``models:/<name>/<version>`` finds them once it is registered; pass
    ``run_id`` too to log to both. Returns the snapshot that was logged.
    """
    mlflow = require("mlflow", "mlflow")
    if run_id is None and model_id is None:
        active = mlflow.active_run()
        if active is None:
            raise EnvsnapError("no active MLflow run: call log_snapshot() inside "
                               "`with mlflow.start_run():`, or pass run_id= or model_id=")
        run_id = active.info.run_id
    from mlflow.entities import RunTag  # the mlflow extra: see EnvsnapRunContext

    # Local import: every `import mlflow` imports this module (the run-context plugin); the
    # snapshot file edge (io, 7-9 ms) loads when a snapshot is logged or read.
    from ..io import dump, dumps

    snapshot = snapshot if snapshot is not None else capture_for_tracking()
    run_tags = tags(snapshot)
    client = mlflow.MlflowClient()
    if run_id is not None:
        client.log_text(run_id, dumps(snapshot), ARTIFACT_PATH)
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in run_tags.items()])
    if model_id is not None:
        with tempfile.TemporaryDirectory(prefix="envsnap-mlflow-") as tmp:
            local = Path(tmp) / ARTIFACT_NAME
            dump(snapshot, local)
            client.log_model_artifact(model_id, str(local), ARTIFACT_DIR)
        client.set_logged_model_tags(model_id, run_tags)
    return snapshot


# ---------------------------------------------------------------------------------------------
# Reading: `envsnap diff runs:/A runs:/B` (the command line hands these URIs here)


def _reason(exc: Exception) -> str:
    # MLflow's messages run over several lines; the last one says what was missing.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _download(artifact_uri: str, dst: str) -> str:
    from mlflow.artifacts import download_artifacts  # the mlflow extra, checked by _fetch

    os.makedirs(dst, exist_ok=True)
    return str(download_artifacts(artifact_uri=artifact_uri, dst_path=dst))


def _model_run_id(m: re.Match[str]) -> str | None:
    """The run that logged a registered model version, or None when MLflow cannot say."""
    # The mlflow extra, checked by _fetch.
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if m["alias"] is not None:
            version = client.get_model_version_by_alias(m["alias_name"], m["alias"])
        elif m["version"].isdigit():
            version = client.get_model_version(m["name"], m["version"])
        else:  # a stage (deprecated in MLflow): only its own artifacts are looked at
            return None
    except MlflowException:
        return None
    run_id: str | None = version.run_id
    return run_id or None


def _fetch(uri: str, dst: str) -> str:
    """Download the snapshot a runs:/ or models:/ URI names; returns the local file."""
    require("mlflow", "mlflow")
    from mlflow.exceptions import MlflowException  # the extra require() just named if missing

    uri = uri.rstrip("/")
    if (run := _RUN_URI.fullmatch(uri)) is not None:
        target = uri if run["path"] else f"{uri}/{ARTIFACT_PATH}"
        try:
            return _download(target, dst)
        except MlflowException as exc:
            what = run["path"] or ARTIFACT_PATH
            raise BadInputError(f"{uri}: no snapshot at {what} ({_reason(exc)}); log one with "
                                "envsnap.integrations.mlflow.log_snapshot()") from None
    model = _MODEL_URI.fullmatch(uri)
    if model is None:
        raise BadInputError(f"{uri}: expected runs:/<run_id>[/path], models:/<name>/<version>"
                            "[/path] or models:/<name>@<alias>[/path]")
    if model["path"]:
        try:
            return _download(uri, dst)
        except MlflowException as exc:
            raise BadInputError(f"{uri}: no such snapshot ({_reason(exc)})") from None
    # The model's own artifacts first (log_snapshot(model_id=...)), then the run that logged it
    # (log_snapshot() in the training run).
    try:
        return _download(f"{uri}/{ARTIFACT_PATH}", os.path.join(dst, "model"))
    except MlflowException as exc:
        first = _reason(exc)
    run_id = _model_run_id(model)
    if run_id is not None:
        try:
            return _download(f"runs:/{run_id}/{ARTIFACT_PATH}", os.path.join(dst, "run"))
        except MlflowException:
            pass
    where = f"in the model and in run {run_id}" if run_id else "in the model"
    raise BadInputError(f"{uri}: no snapshot logged with this model (looked for {ARTIFACT_PATH} "
                        f"{where}: {first})")


def load_uri(uri: str) -> Snapshot:
    """The snapshot logged with an MLflow run or model (the tracking server is the one
    ``MLFLOW_TRACKING_URI`` names). Errors name the URI in one line, like ``io.load``'s.
    io.load reads files only: every command resolves these URIs itself (cli/_input.py)."""
    # Local import, as in log_snapshot.
    from ..io import MAX_SNAPSHOT_BYTES, loads

    with tempfile.TemporaryDirectory(prefix="envsnap-mlflow-") as tmp:
        local = _fetch(uri, tmp)
        if os.path.isdir(local):
            raise BadInputError(f"{uri}: is a directory of artifacts; name the snapshot file "
                                f"in it ({posixpath.join(uri, ARTIFACT_NAME)})")
        if os.path.getsize(local) > MAX_SNAPSHOT_BYTES:
            raise BadInputError(f"{uri}: larger than {MAX_SNAPSHOT_BYTES // 2**20} MiB, "
                                "not a snapshot")
        raw = Path(local).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError(f"not UTF-8 text (byte {exc.start})", file=uri) from None
    return loads(text, source=uri)


# ---------------------------------------------------------------------------------------------
# The run-context plugin ([project.entry-points."mlflow.run_context_provider"])


class EnvsnapRunContext:
    """Tags every ``mlflow.start_run()`` with :func:`tags` when ``ENVSNAP_MLFLOW=1``.

    MLflow instantiates each ``mlflow.run_context_provider`` entry point while ``mlflow`` is
    imported and calls only ``in_context()`` and ``tags()`` on it
    (mlflow/tracking/context/registry.py). It is not a subclass of MLflow's
    ``RunContextProvider``: that would make importing this module, which ``envsnap diff
    runs:/...`` does first, fail with a raw ImportError where the extra is missing.
    """

    def in_context(self) -> bool:
        # Called on every start_run of every project in the environment: one dict lookup.
        return os.environ.get(ENABLE_VAR) == "1"

    def tags(self) -> dict[str, str]:
        # MLflow catches and logs an exception here; capture itself records probe failures.
        return tags(capture_for_tracking())
