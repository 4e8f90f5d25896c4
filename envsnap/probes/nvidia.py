"""NVIDIA driver and GPUs: NVML first, then nvidia-smi, then /proc."""

from __future__ import annotations

from ..host import Host
from ..snapshot import NvidiaInfo
from . import Probed


def probe(host: Host) -> Probed[NvidiaInfo]:
    return Probed(None, "not implemented yet")
