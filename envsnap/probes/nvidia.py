"""NVIDIA driver and GPUs: NVML first, then nvidia-smi, then /proc."""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import CommandNotFound, CommandTimeout, HostError
from ..host import Host, read_text
from ..snapshot import GPU, NvidiaInfo
from . import Probed

# The exact query the recorded fixtures captured (tests/data/gpu/*/nvidia-smi-query-gpu.csv),
# so a recorded machine replays byte for byte. The stable CSV form, never the table.
NVIDIA_SMI_QUERY = (
    "--query-gpu=index,name,uuid,driver_version,memory.total,compute_cap,pci.bus_id,vbios_version",
    "--format=csv",
)

# Without persistence mode nvidia-smi can take 24-30 s to answer, and on a sick node it hangs
# for good (NVIDIA/nvidia-container-toolkit#1053, Azure/aks-gpu#105). Ten seconds covers a
# healthy driver; past that /proc still answers. Tests monkeypatch this constant.
NVIDIA_SMI_TIMEOUT = 10.0

PROC_VERSION = "/proc/driver/nvidia/version"
PROC_GPUS = "/proc/driver/nvidia/gpus"

_MIB = 2**20
# The field names nvidia-smi echoes back as the CSV header, in query order.
_SMI_FIELDS = tuple(NVIDIA_SMI_QUERY[0].removeprefix("--query-gpu=").split(","))


# ---------------------------------------------------------------------------------------------
# Pure parsers


def _cuda_version_from_int(value: Any) -> str | None:
    """NVML and cudart encode CUDA versions as 1000*major + 10*minor: 13000 -> "13.0"."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_nvml(values: Mapping[str, Any]) -> NvidiaInfo | None:
    """The dict ``Host.nvml()`` returns, shaped like the fixtures' nvml-values.json::

        {"driver": "580.159.04", "cuda_driver": 13000, "nvml_version": "13.580.159.04",
         "gpus": [{"name": "NVIDIA H100 80GB HBM3",
                   "uuid": "GPU-5a1e0000-1111-2222-3333-444444444444", "cc": [9, 0],
                   "mem": 85520809984, "pci": "00000000:00:06.0", "vbios": "96.00.DA.00.0C",
                   "mig": [0, 0], "persistence": 1, ...}]}

    None when the driver version or a GPU's name is missing: such a read is unusable.
    """
    driver = _opt_str(values.get("driver"))
    raw_gpus = values.get("gpus")
    if driver is None or not isinstance(raw_gpus, list):
        return None
    gpus = []
    for index, g in enumerate(raw_gpus):  # NVML's index order is the enumeration order
        if not isinstance(g, Mapping) or not _opt_str(g.get("name")):
            return None
        cc = g.get("cc")
        mig = g.get("mig")
        persistence = g.get("persistence")
        mem = g.get("mem")
        gpus.append(
            GPU(
                index=index,
                name=g["name"],
                uuid=_opt_str(g.get("uuid")),
                memory_bytes=mem if isinstance(mem, int) and not isinstance(mem, bool) else None,
                compute_capability=f"{cc[0]}.{cc[1]}"
                if isinstance(cc, list) and len(cc) == 2
                else None,
                # nvmlDeviceGetMigMode returns (current, pending); NVML_DEVICE_MIG_ENABLE == 1.
                mig_mode=bool(mig[0]) if isinstance(mig, list) and mig else None,
                pci_bus_id=_opt_str(g.get("pci")),
                vbios=_opt_str(g.get("vbios")),
                # nvmlDeviceGetPersistenceMode: NVML_FEATURE_ENABLED == 1.
                persistence_mode=bool(persistence) if isinstance(persistence, int) else None,
            )
        )
    return NvidiaInfo(
        driver_version=driver,
        cuda_driver_version=_cuda_version_from_int(values.get("cuda_driver")),
        nvml_version=_opt_str(values.get("nvml_version")),
        gpus=tuple(gpus),
    )


def _smi_value(value: str) -> str | None:
    # nvidia-smi prints "[N/A]" / "N/A" (and "[Not Supported]") for fields a GPU lacks.
    value = value.strip()
    if not value or value.strip("[]") in ("N/A", "Not Supported", "Unknown Error"):
        return None
    return value


def _parse_mib(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)\s*MiB", value)
    return int(m.group(1)) * _MIB if m else None


def _parse_nvidia_smi_csv(text: str) -> NvidiaInfo | None:
    """Output of ``nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,
    compute_cap,pci.bus_id,vbios_version --format=csv``::

        index, name, uuid, driver_version, memory.total [MiB], compute_cap, pci.bus_id, vbios_version
        0, NVIDIA H100 80GB HBM3, GPU-5a1e0000-1111-2222-3333-444444444444, 580.159.04, 81559 MiB, 9.0, 00000000:00:06.0, 96.00.DA.00.0C

    None for anything else (an error message, a truncated table, no GPU rows), so the
    caller falls through to the next source instead of recording garbage.
    """  # noqa: E501 -- the sample is nvidia-smi's exact output, long lines included
    import csv  # only when nvidia-smi answered

    rows = list(csv.reader(io.StringIO(text.strip()), skipinitialspace=True))
    if len(rows) < 2:
        return None
    # Header cells carry a unit suffix ("memory.total [MiB]"); key on the field name.
    header = [cell.split(" [", 1)[0].strip() for cell in rows[0]]
    if header != list(_SMI_FIELDS):
        return None
    gpus = []
    drivers = set()
    for row in rows[1:]:
        if len(row) != len(header):
            return None
        cell = dict(zip(header, (_smi_value(v) for v in row), strict=True))
        index, name = cell["index"], cell["name"]
        if index is None or not index.isdigit() or name is None:
            return None
        memory = _parse_mib(cell["memory.total"])
        if cell["memory.total"] is not None and memory is None:
            return None
        if cell["driver_version"]:
            drivers.add(cell["driver_version"])
        gpus.append(
            GPU(
                index=int(index),
                name=name,
                uuid=cell["uuid"],
                memory_bytes=memory,
                compute_capability=cell["compute_cap"],
                pci_bus_id=cell["pci.bus_id"],
                vbios=cell["vbios_version"],
            )
        )
    if len(drivers) > 1:  # one driver serves every GPU; two values means a garbled read
        return None
    return NvidiaInfo(driver_version=drivers.pop() if drivers else None, gpus=tuple(gpus))


_PROC_VERSION_RE = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+([0-9][0-9.\-]*[0-9])")


def _parse_proc_version(text: str | None) -> str | None:
    """``/proc/driver/nvidia/version``, the loaded kernel module::

        NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)
        GCC version:  gcc version 15.3.0 (GCC)

    Older proprietary modules print ``NVIDIA UNIX x86_64 Kernel Module  535.104.05  <date>``.
    """
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("NVRM version:"):
            m = _PROC_VERSION_RE.search(line)
            return m.group(1) if m else None
    return None


def _parse_proc_information(text: str, index: int) -> GPU | None:
    """One ``/proc/driver/nvidia/gpus/<bus id>/information`` file::

        Model:           Tesla V100-SXM2-16GB
        IRQ:             107
        GPU UUID:        GPU-8eaaebb8-bb64-8489-fda2-62256e821983
        Video BIOS:      88.00.4f.00.09
        Bus Type:        PCIe
        ...
        Bus Location:    0000:00:1e.0

    The driver prints ``??`` placeholders for UUID and VBIOS when it cannot read them
    (a GPU it failed to initialise); those become None.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    name = fields.get("Model")
    if not name:
        return None

    def known(key: str) -> str | None:
        value = fields.get(key)
        return None if not value or "?" in value else value

    return GPU(
        index=index,
        name=name,
        uuid=known("GPU UUID"),
        vbios=known("Video BIOS"),
        pci_bus_id=known("Bus Location"),
    )


# ---------------------------------------------------------------------------------------------
# Sources. Each returns (info, None) when it answered, or (None, why it could not).

_Source = tuple[NvidiaInfo | None, str | None]


def _from_nvml(host: Host) -> _Source:
    try:
        values = host.nvml()
    except HostError as exc:
        return None, str(exc)
    info = _parse_nvml(values)
    return (info, None) if info is not None else (None, "NVML returned no driver version")


def _read_nvidia_smi(host: Host) -> tuple[str | None, str | None]:
    """nvidia-smi's stdout, or None and why there is none."""
    try:
        result = host.run(["nvidia-smi", *NVIDIA_SMI_QUERY], timeout=NVIDIA_SMI_TIMEOUT)
    except CommandNotFound:
        return None, "nvidia-smi not found"
    except CommandTimeout:
        return None, f"nvidia-smi timed out after {NVIDIA_SMI_TIMEOUT:g}s"
    except HostError as exc:
        return None, str(exc)
    if result.returncode != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        detail = f": {said[0][:160]}" if said else ""
        return None, f"nvidia-smi exited with {result.returncode}{detail}"
    return result.stdout, None


def _from_nvidia_smi(host: Host) -> _Source:
    text, why = _read_nvidia_smi(host)
    if text is None:
        return None, why
    info = _parse_nvidia_smi_csv(text)
    if info is not None:
        return info, None
    first = text.strip().splitlines()[:1]
    if not first:
        return None, "nvidia-smi printed nothing"
    return None, f"nvidia-smi printed unexpected output: {first[0][:160]!r}"


def _from_proc(host: Host) -> _Source:
    # Entry names are PCI bus ids ("0000:00:06.0", fixed-width hex), so sorting them gives
    # PCI bus order, the order NVML and nvidia-smi enumerate in by default.
    gpus: list[GPU] = []
    for entry in host.listdir(PROC_GPUS):
        text = read_text(host, posixpath.join(PROC_GPUS, entry, "information"))
        gpu = _parse_proc_information(text, len(gpus)) if text else None
        if gpu is not None:
            gpus.append(gpu)
    if not gpus:
        return None, f"no GPUs under {PROC_GPUS}"
    return NvidiaInfo(gpus=tuple(gpus)), None


_SOURCES: tuple[tuple[str, Callable[[Host], _Source]], ...] = (
    ("NVML", _from_nvml),
    ("nvidia-smi", _from_nvidia_smi),
    ("/proc", _from_proc),
)


def probe(host: Host) -> Probed[NvidiaInfo]:
    """Driver, kernel module and GPUs from the first source that answers.

    ``found_via`` names that source and, after a fallback, why each earlier one failed:
    ``"nvidia-smi (NVML unavailable: ...)"``. No driver at all is absence, not an error.
    """
    kernel = _parse_proc_version(read_text(host, PROC_VERSION))
    failures: list[str] = []
    for name, source in _SOURCES:
        info, why = source(host)
        if info is not None:
            found = f"{name} ({'; '.join(failures)})" if failures else name
            return Probed(value=replace(info, kernel_module_version=kernel), found_via=found)
        failures.append(why or f"{name} did not answer")
    if kernel is not None:
        # The module is loaded but nothing enumerates GPUs: still worth recording, since a
        # loaded module with a broken user space is exactly the case a snapshot must show.
        why = "; ".join(failures)
        return Probed(value=NvidiaInfo(kernel_module_version=kernel), found_via=f"{PROC_VERSION} ({why})")
    return Probed(value=None, found_via=f"no NVIDIA driver: {'; '.join(failures)}; no {PROC_VERSION}")
