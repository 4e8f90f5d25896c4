"""host: the pure parts of the edge (the bounded file reader, text decoding, the NVML read over
a fake NVML replaying the recorded H100). LocalHost's subprocesses and /proc:
tests/integration/test_host_probes_real.py and test_process_groups.py."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from envsnap import host
from envsnap.errors import FileTooLarge
from envsnap.testing import FakeHost

GPU_DATA = Path(__file__).resolve().parents[1] / "data" / "gpu"


def test_read_regular_file_reads_what_open_reads(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(bytes(range(256)) * 10)
    assert host.read_regular_file(str(f)) == f.read_bytes()
    f.write_bytes(b"")
    assert host.read_regular_file(str(f)) == b""


def test_read_regular_file_none_for_what_is_not_a_regular_file(tmp_path: Path) -> None:
    assert host.read_regular_file(str(tmp_path / "missing")) is None
    assert host.read_regular_file(str(tmp_path)) is None  # a folder


def test_read_regular_file_does_not_wait_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes | None] = []
    reader = threading.Thread(target=lambda: got.append(host.read_regular_file(str(fifo))),
                              daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "opening a FIFO waited for a writer"
    assert got == [None]


def test_read_regular_file_caps_the_size(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    assert host.read_regular_file(str(f), limit=100) == b"x" * 100
    with pytest.raises(FileTooLarge, match="larger than 99 bytes"):
        host.read_regular_file(str(f), limit=99)


def test_read_text_replaces_undecodable_bytes() -> None:
    fake = FakeHost(files={"/a": b"caf\xc3\xa9 \xff", "/b": "plain"})
    assert host.read_text(fake, "/a") == b"caf\xc3\xa9 \xff".decode("utf-8", errors="replace")
    assert host.read_text(fake, "/b") == "plain"
    assert host.read_text(fake, "/missing") is None


# ---------------------------------------------------------------------------------------------
# _read_nvml over a fake pynvml module that answers from the recorded nvml-values.json


class _NVMLError(Exception):
    pass


def _fake_nvml(rec: dict[str, Any], *, unsupported: frozenset[str] = frozenset()) -> Any:
    gpus = rec["gpus"]

    def call(name: str, value: Any) -> Any:
        def fn(*args: Any) -> Any:
            if name in unsupported:
                raise _NVMLError(f"{name}: Not Supported")
            return value(*args) if callable(value) else value
        return fn

    return SimpleNamespace(
        NVMLError=_NVMLError,
        nvmlSystemGetDriverVersion=call("driver", rec["driver"].encode()),  # old bindings: bytes
        nvmlSystemGetCudaDriverVersion_v2=call("cuda_driver", rec["cuda_driver"]),
        nvmlSystemGetNVMLVersion=call("nvml_version", rec["nvml_version"]),
        nvmlDeviceGetCount=call("count", len(gpus)),
        nvmlDeviceGetHandleByIndex=call("handle", lambda i: i),
        nvmlDeviceGetName=call("name", lambda h: gpus[h]["name"]),
        nvmlDeviceGetUUID=call("uuid", lambda h: gpus[h]["uuid"].encode()),
        nvmlDeviceGetCudaComputeCapability=call("cc", lambda h: tuple(gpus[h]["cc"])),
        nvmlDeviceGetMemoryInfo=call("mem", lambda h: SimpleNamespace(total=gpus[h]["mem"])),
        nvmlDeviceGetPciInfo=call("pci", lambda h: SimpleNamespace(busId=gpus[h]["pci"].encode())),
        nvmlDeviceGetVbiosVersion=call("vbios", lambda h: gpus[h]["vbios"]),
        nvmlDeviceGetMigMode=call("mig", lambda h: tuple(gpus[h]["mig"])),
        nvmlDeviceGetPersistenceMode=call("persistence", lambda h: gpus[h]["persistence"]),
    )


READ = ("name", "uuid", "cc", "mem", "pci", "vbios", "mig", "persistence")


@pytest.mark.parametrize("machine", ["h100-ubuntu24", "h200-ubuntu24"])
def test_read_nvml_returns_the_recorded_fields(machine: str) -> None:
    rec = json.loads((GPU_DATA / machine / "nvml-values.json").read_text())
    got = host._read_nvml(_fake_nvml(rec))
    assert {k: got[k] for k in ("driver", "cuda_driver", "nvml_version")} == {
        k: rec[k] for k in ("driver", "cuda_driver", "nvml_version")}
    assert got["gpus"] == [{k: g[k] for k in READ} for g in rec["gpus"]]


def test_read_nvml_leaves_out_what_a_gpu_does_not_support() -> None:
    rec = json.loads((GPU_DATA / "h100-ubuntu24" / "nvml-values.json").read_text())
    unsupported = frozenset({"uuid", "vbios", "mig", "pci", "cuda_driver"})
    got = host._read_nvml(_fake_nvml(rec, unsupported=unsupported))
    assert got["cuda_driver"] is None and got["driver"] == rec["driver"]
    (gpu,) = got["gpus"]
    assert all(gpu[k] is None for k in ("uuid", "vbios", "mig", "pci"))
    assert gpu["name"] == rec["gpus"][0]["name"] and gpu["cc"] == rec["gpus"][0]["cc"]


def test_read_nvml_fails_on_the_required_fields() -> None:
    rec = json.loads((GPU_DATA / "h100-ubuntu24" / "nvml-values.json").read_text())
    with pytest.raises(_NVMLError):
        host._read_nvml(_fake_nvml(rec, unsupported=frozenset({"name"})))
