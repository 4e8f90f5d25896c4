"""Weights & Biases in offline mode: the offline run folder's transaction log holds the snapshot
artifact (name, type, manifest, metadata) and the summary fields in the run config."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envsnap.errors import EnvsnapError
from envsnap.integrations import wandb as envsnap_wandb
from envsnap.io import dumps
from envsnap.snapshot import Framework, Package, PythonEnv, Snapshot
from envsnap.testing import gpu_fixture_host

DATA = Path(__file__).resolve().parents[1] / "data"


def _h100() -> Snapshot:
    from envsnap.capturing import capture

    snap = capture(host=gpu_fixture_host(DATA / "gpu" / "h100-ubuntu24"), only=["nvidia", "cuda", "os"])
    return snap.replace(
        python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
            Package(name="torch", version="2.8.0+cu128", installer="pip", requested=True),)),
        frameworks=(Framework(name="torch", version="2.8.0+cu128", variant="cu128", cuda="12.8"),))


def _records(path: Path) -> Iterator[Any]:
    """The protobuf records of a run's ``.wandb`` file: W&B's LevelDB-style log (a 7-byte
    header ``:W&B`` + magic + version, then 32 KiB blocks of chunks: crc32, length, type), each
    record a ``wandb_internal_pb2.Record``. W&B ships no Python reader for it any more."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:  # zero padding to the block's end
            pos += block - pos % block if pos % block else 0
            continue
        if kind in (1, 2):  # FULL, FIRST
            pending = chunk
        else:  # MIDDLE, LAST
            pending += chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]  # generated protobuf
            record.ParseFromString(pending)
            yield record


@pytest.fixture()
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, sub in (("WANDB_DIR", "runs"), ("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"),
                     ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path


@pytest.mark.slow
def test_offline_run_holds_the_artifact_and_the_config(offline: Path) -> None:
    import wandb

    snap = _h100()
    run = wandb.init(project="envsnap-test")
    try:
        assert envsnap_wandb.log_snapshot(snap) is snap
        run_id = run.id
    finally:
        run.finish()
        wandb.teardown()
    (folder,) = (offline / "runs" / "wandb").glob(f"offline-run-*-{run_id}")
    records = list(_records(folder / f"run-{run_id}.wandb"))

    fields = {"digest": snap.digest, "python": "3.11.7", "torch": "2.8.0+cu128", "torch_cuda": "cu128",
              "driver": "580.159.04", "gpu": "NVIDIA H100 80GB HBM3"}
    (artifact,) = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert artifact.name == "envsnap-snapshot" and artifact.type == "environment"
    assert json.loads(artifact.metadata) == {**fields, "gpu_count": 1}
    (entry,) = artifact.manifest.contents
    assert entry.path == "envsnap.toml"
    # the staged copy W&B uploads on `wandb sync` is the snapshot, byte for byte
    assert Path(entry.local_path).read_text(encoding="utf-8") == dumps(snap)
    assert str(offline / "data") in entry.local_path  # staged under WANDB_DATA_DIR

    config = {item.key: json.loads(item.value_json)
              for r in records if r.WhichOneof("record_type") == "config" for item in r.config.update}
    assert config["envsnap"] == {**fields, "gpu_count": 1}


def test_needs_an_active_run(offline: Path) -> None:
    import wandb

    assert wandb.run is None
    with pytest.raises(EnvsnapError, match=r"no active W&B run"):
        envsnap_wandb.log_snapshot(Snapshot())
