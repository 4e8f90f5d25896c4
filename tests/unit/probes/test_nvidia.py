"""nvidia probe: parsers table-tested over the recorded H100 and H200, and the fallback chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from envsnap.errors import CommandTimeout, HostError
from envsnap.host import RunResult
from envsnap.probes import nvidia
from envsnap.snapshot import GPU, NvidiaInfo
from envsnap.testing import NVIDIA_SMI_QUERY, FakeHost, gpu_fixture_host

DATA = Path(__file__).resolve().parents[2] / "data" / "gpu"


@dataclass(frozen=True)
class Machine:
    """What each recorded machine's README and outputs say (tests/data/gpu/SOURCE.md)."""

    folder: str
    name: str
    uuid: str
    memory_mib: int
    memory_bytes: int
    vbios: str


MACHINES = [
    Machine(
        "h100-ubuntu24", "NVIDIA H100 80GB HBM3", "GPU-5a1e0000-1111-2222-3333-444444444444",
        81559, 85520809984, "96.00.DA.00.0C",
    ),
    Machine(
        "h200-ubuntu24", "NVIDIA H200", "GPU-5a1e0000-5555-6666-7777-888888888888",
        143771, 150754820096, "96.00.A5.00.1A",
    ),
]
IDS = [m.folder for m in MACHINES]


def text(machine: Machine, name: str) -> str:
    return (DATA / machine.folder / name).read_text(encoding="utf-8")


def nvml_values(machine: Machine) -> dict[str, object]:
    values: dict[str, object] = json.loads(text(machine, "nvml-values.json"))
    return values


# ---------------------------------------------------------------------------------------------
# Pure parsers over both recorded machines


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_parse_nvml(machine: Machine) -> None:
    info = nvidia._parse_nvml(nvml_values(machine))
    assert info is not None
    assert info.driver_version == "580.159.04"
    assert info.cuda_driver_version == "13.0"  # cuda_driver 13000
    assert info.nvml_version == "13.580.159.04"
    (gpu,) = info.gpus
    assert gpu == GPU(
        index=0,
        name=machine.name,
        uuid=machine.uuid,
        memory_bytes=machine.memory_bytes,
        compute_capability="9.0",
        mig_mode=False,
        pci_bus_id="00000000:00:06.0",
        vbios=machine.vbios,
        persistence_mode=True,
    )


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_parse_nvidia_smi_csv(machine: Machine) -> None:
    info = nvidia._parse_nvidia_smi_csv(text(machine, "nvidia-smi-query-gpu.csv"))
    assert info is not None
    assert info.driver_version == "580.159.04"
    (gpu,) = info.gpus
    assert (gpu.index, gpu.name, gpu.uuid) == (0, machine.name, machine.uuid)
    assert gpu.memory_bytes == machine.memory_mib * 2**20
    assert gpu.compute_capability == "9.0"
    assert gpu.pci_bus_id == "00000000:00:06.0"
    assert gpu.vbios == machine.vbios
    # The CSV query does not carry these; unknown, not False.
    assert gpu.mig_mode is None and gpu.persistence_mode is None


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_nvml_and_nvidia_smi_agree(machine: Machine) -> None:
    a = nvidia._parse_nvml(nvml_values(machine))
    b = nvidia._parse_nvidia_smi_csv(text(machine, "nvidia-smi-query-gpu.csv"))
    assert a is not None and b is not None
    assert a.driver_version == b.driver_version
    shared = ("index", "name", "uuid", "memory_bytes", "compute_capability", "pci_bus_id", "vbios")
    for ga, gb in zip(a.gpus, b.gpus, strict=True):
        assert {f: getattr(ga, f) for f in shared} == {f: getattr(gb, f) for f in shared}


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_parse_proc_version(machine: Machine) -> None:
    assert nvidia._parse_proc_version(text(machine, "proc-driver-nvidia-version.txt")) == (
        "580.159.04"
    )


def test_parse_proc_version_absent_or_foreign() -> None:
    assert nvidia._parse_proc_version(None) is None
    # os-release is real text that is not the driver's.
    assert nvidia._parse_proc_version(text(MACHINES[0], "os-release")) is None


@pytest.mark.parametrize(
    ("filename", "name", "uuid", "vbios", "bus"),
    [
        ("tesla-v100-sxm2-16gb.txt", "Tesla V100-SXM2-16GB",
         "GPU-8eaaebb8-bb64-8489-fda2-62256e821983", "88.00.4f.00.09", "0000:00:1e.0"),
        ("tesla-t4.txt", "Tesla T4",
         "GPU-415fe7a8-f784-6e3d-a958-92ecffacafe2", "90.04.84.00.06", "0000:00:1b.0"),
    ],
)
def test_parse_proc_information(filename: str, name: str, uuid: str, vbios: str, bus: str) -> None:
    raw = (DATA / "proc-information" / filename).read_text(encoding="utf-8")
    gpu = nvidia._parse_proc_information(raw, 3)
    assert gpu == GPU(index=3, name=name, uuid=uuid, vbios=vbios, pci_bus_id=bus)


@pytest.mark.parametrize(
    "garbage",
    [
        # The header alone: the recorded CSV cut after its first line.
        "index, name, uuid, driver_version, memory.total [MiB], compute_cap, pci.bus_id, "
        "vbios_version\n",
        # The recorded CSV cut mid-row.
        "index, name, uuid, driver_version, memory.total [MiB], compute_cap, pci.bus_id, "
        "vbios_version\n0, NVIDIA H100 80GB HBM3, GPU-5a1e0000-1111-2222-3333-444444444444, 58",
        # What nvidia-smi prints without a working driver (lyulyul/shine-cluster#50).
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n",
        "",
    ],
    ids=["header-only", "truncated-row", "driver-error", "empty"],
)
def test_parse_nvidia_smi_rejects_garbage(garbage: str) -> None:
    assert nvidia._parse_nvidia_smi_csv(garbage) is None


def test_parse_nvml_rejects_a_read_without_driver() -> None:
    values = nvml_values(MACHINES[0])
    del values["driver"]
    assert nvidia._parse_nvml(values) is None


# ---------------------------------------------------------------------------------------------
# probe(): the fallback chain over a replayed machine


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_probe_prefers_nvml(machine: Machine) -> None:
    host = gpu_fixture_host(DATA / machine.folder)
    result = nvidia.probe(host)
    assert result.found_via == "NVML"
    assert result.value is not None
    assert result.value.kernel_module_version == "580.159.04"
    assert result.value.driver_mismatch is False
    assert result.value.gpus[0].name == machine.name
    assert host.calls == []  # NVML answered: nvidia-smi never ran


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_probe_falls_back_to_nvidia_smi_when_nvml_is_missing(machine: Machine) -> None:
    host = gpu_fixture_host(
        DATA / machine.folder, nvml=HostError("NVML unavailable: NVML Shared Library Not Found")
    )
    result = nvidia.probe(host)
    assert result.found_via == (
        "nvidia-smi (NVML unavailable: NVML Shared Library Not Found)"
    )
    assert result.value is not None
    assert result.value.driver_version == "580.159.04"
    assert result.value.kernel_module_version == "580.159.04"
    assert result.value.gpus[0].memory_bytes == machine.memory_bytes
    assert host.calls == [("nvidia-smi", *NVIDIA_SMI_QUERY)]


def test_probe_hung_nvidia_smi_falls_through_to_proc() -> None:
    v100 = (DATA / "proc-information" / "tesla-v100-sxm2-16gb.txt").read_text(encoding="utf-8")
    t4 = (DATA / "proc-information" / "tesla-t4.txt").read_text(encoding="utf-8")
    host = FakeHost(
        files={
            # Listed out of bus order on purpose: the probe enumerates in PCI bus order.
            "/proc/driver/nvidia/gpus/0000:00:1e.0/information": v100,
            "/proc/driver/nvidia/gpus/0000:00:1b.0/information": t4,
        },
        commands={"nvidia-smi": CommandTimeout("nvidia-smi did not answer within 10s")},
    )
    result = nvidia.probe(host)
    assert result.found_via.startswith("/proc (")
    assert "nvidia-smi timed out after 10s" in result.found_via
    assert result.value is not None
    assert [(g.index, g.name) for g in result.value.gpus] == [(0, "Tesla T4"),
                                                             (1, "Tesla V100-SXM2-16GB")]
    assert result.value.driver_version is None  # /proc does not name the user-space driver


@pytest.mark.parametrize("machine", MACHINES, ids=IDS)
def test_probe_nvidia_smi_error_output_falls_through(machine: Machine) -> None:
    # nvidia-smi's return code 9 means "NVIDIA driver is not loaded" (nvidia-smi(1)).
    failing = RunResult(
        returncode=9,
        stdout="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n",
    )
    host = gpu_fixture_host(
        DATA / machine.folder, nvml=HostError("NVML unavailable: Driver Not Loaded"),
        commands={"nvidia-smi": failing},
    )
    result = nvidia.probe(host)
    # The kernel module file is still there, so the driver is recorded as half-present.
    assert result.value == NvidiaInfo(kernel_module_version="580.159.04")
    assert "nvidia-smi exited with 9: NVIDIA-SMI has failed" in result.found_via


def test_probe_truncated_csv_falls_through() -> None:
    machine = MACHINES[0]
    header = text(machine, "nvidia-smi-query-gpu.csv").splitlines()[0] + "\n"
    host = gpu_fixture_host(
        DATA / machine.folder, nvml=HostError("NVML unavailable: x"),
        commands={"nvidia-smi": RunResult(returncode=0, stdout=header)},
    )
    result = nvidia.probe(host)
    assert result.value is not None and result.value.gpus == ()
    assert "nvidia-smi printed unexpected output" in result.found_via


def test_probe_without_any_driver_is_absent() -> None:
    result = nvidia.probe(FakeHost())
    assert result.value is None
    for looked in ("NVML", "nvidia-smi not found", "/proc/driver/nvidia/gpus",
                   "/proc/driver/nvidia/version"):
        assert looked in result.found_via
