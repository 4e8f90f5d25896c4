"""OS, kernel, glibc, libstdc++, container and cluster detection."""

from __future__ import annotations

import re

from ..host import Host, read_text
from ..snapshot import OSInfo
from . import Probed

_GLIBCXX = re.compile(rb"GLIBCXX_(\d+)\.(\d+)(?:\.(\d+))?")
_LIBSTDCXX_DIRS = ("/usr/lib/{arch}-linux-gnu", "/lib/{arch}-linux-gnu", "/usr/lib64", "/lib64",
                   "/usr/lib", "/lib")


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` (freedesktop.org format) -> key/value dict.

    Sample: ``PRETTY_NAME="Ubuntu 24.04.3 LTS"`` / ``ID=ubuntu`` / ``VERSION_ID="24.04"``
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


def parse_glibcxx(blob: bytes) -> str | None:
    """Newest ``GLIBCXX_x.y.z`` symbol version named in a libstdc++ binary."""
    best: tuple[int, ...] | None = None
    for m in _GLIBCXX.finditer(blob):
        v = tuple(int(g) for g in m.groups() if g is not None)
        if best is None or v > best:
            best = v
    return ".".join(map(str, best)) if best else None


def detect_container(host: Host) -> str | None:
    if host.read_bytes("/run/.containerenv") is not None:
        return "podman"
    if host.read_bytes("/.dockerenv") is not None:
        return "docker"
    cgroup = read_text(host, "/proc/1/cgroup") or ""
    for marker, name in (("docker", "docker"), ("kubepods", "kubernetes"),
                         ("containerd", "containerd"), ("libpod", "podman"), ("lxc", "lxc")):
        if marker in cgroup:
            return name
    return None


def _libstdcxx(host: Host, arch: str) -> str | None:
    for d in _LIBSTDCXX_DIRS:
        blob = host.read_bytes(f"{d.format(arch=arch)}/libstdc++.so.6")
        if blob is not None:
            return parse_glibcxx(blob)
    return None


def probe(host: Host) -> Probed[OSInfo]:
    info = host.system_info()
    release = parse_os_release(read_text(host, "/etc/os-release")
                               or read_text(host, "/usr/lib/os-release") or "")
    env = host.environ
    orchestrators = []
    if env.get("KUBERNETES_SERVICE_HOST"):
        orchestrators.append("kubernetes")
    if env.get("SLURM_JOB_ID") or env.get("SLURM_CLUSTER_NAME"):
        orchestrators.append("slurm")
    proc_version = read_text(host, "/proc/version") or ""
    wsl = "microsoft" in proc_version.lower() or bool(env.get("WSL_DISTRO_NAME"))
    value = OSInfo(
        system=info.system,
        arch=info.machine,
        kernel=info.kernel,
        distro_id=release.get("ID"),
        distro_version=release.get("VERSION_ID"),
        pretty_name=release.get("PRETTY_NAME"),
        glibc=info.glibc,
        libstdcxx=_libstdcxx(host, info.machine) if info.system == "Linux" else None,
        container=detect_container(host),
        orchestrators=tuple(orchestrators),
        wsl=wsl,
    )
    return Probed(value=value, found_via="uname, confstr, /etc/os-release, /proc/1/cgroup")
