"""osinfo probe: /etc/os-release, libstdc++'s GLIBCXX versions, container and cluster detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.probes import osinfo
from envsnap.testing import FakeHost

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("h100-ubuntu24", ("ubuntu", "24.04")), ("h200-ubuntu24", ("ubuntu", "24.04"))],
)
def test_os_release_from_recorded_gpu_machines(machine: str, expected: tuple[str, str]) -> None:
    text = (DATA / "gpu" / machine / "os-release").read_text()
    parsed = osinfo.parse_os_release(text)
    assert (parsed["ID"], parsed["VERSION_ID"]) == expected
    assert parsed["PRETTY_NAME"].startswith("Ubuntu 24.04")


def test_os_probe_on_a_fake_container_host() -> None:
    host = FakeHost(
        files={"/etc/os-release": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n',
               "/.dockerenv": "", "/proc/version": "Linux version 6.8"},
        environ={"SLURM_JOB_ID": "42", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
    )
    found = osinfo.probe(host).value
    assert found is not None
    assert (found.distro_id, found.distro_version, found.container) == ("debian", "12", "docker")
    assert found.orchestrators == ("kubernetes", "slurm")
    assert found.glibc == "2.39" and found.wsl is False


def test_glibcxx_newest_version_numerically() -> None:
    # The strings section of a libstdc++.so.6: version nodes out of order, a two-part one, and
    # a look-alike the regex must not read past.
    blob = (b"\x00GLIBCXX_3.4\x00GLIBCXX_3.4.9\x00GLIBCXX_3.4.33\x00GLIBCXX_3.4.4\x00"
            b"CXXABI_1.3.15\x00GLIBCXX_DEBUG_MESSAGE_LENGTH\x00")
    assert osinfo.parse_glibcxx(blob) == "3.4.33"
    assert osinfo.parse_glibcxx(b"GLIBCXX_3.4") == "3.4"
    assert osinfo.parse_glibcxx(b"no symbols here") is None


def test_libstdcxx_is_read_from_the_multiarch_folder_first() -> None:
    host = FakeHost(files={"/usr/lib/x86_64-linux-gnu/libstdc++.so.6": b"GLIBCXX_3.4.32",
                           "/usr/lib64/libstdc++.so.6": b"GLIBCXX_3.4.19"})
    found = osinfo.probe(host).value
    assert found is not None and found.libstdcxx == "3.4.32"


@pytest.mark.parametrize(("files", "container"), [
    ({"/run/.containerenv": ""}, "podman"),
    ({"/.dockerenv": ""}, "docker"),
    ({"/proc/1/cgroup": "0::/kubepods/besteffort/pod1/abc\n"}, "kubernetes"),
    ({"/proc/1/cgroup": "0::/system.slice/containerd.service\n"}, "containerd"),
    ({"/proc/1/cgroup": "0::/init.scope\n"}, None),
    ({}, None),
])
def test_container_detection(files: dict[str, str], container: str | None) -> None:
    assert osinfo.detect_container(FakeHost(files=files)) == container


@pytest.mark.parametrize(("text", "expected"), [
    ('ID=debian\nVERSION_ID="12"\n', {"ID": "debian", "VERSION_ID": "12"}),
    ("# comment=x\n\nNAME='Alpine Linux'\n", {"NAME": "Alpine Linux"}),
    ('PRETTY_NAME="a=b"\nBROKEN\n', {"PRETTY_NAME": "a=b"}),
    ('X="\nY=""\n', {"X": '"', "Y": ""}),  # a lone quote is kept, an empty pair stripped
])
def test_parse_os_release_edge_cases(text: str, expected: dict[str, str]) -> None:
    assert osinfo.parse_os_release(text) == expected


def test_os_release_falls_back_to_usr_lib() -> None:
    found = osinfo.probe(FakeHost(files={"/usr/lib/os-release": "ID=fedora\nVERSION_ID=40\n"})).value
    assert found is not None and (found.distro_id, found.distro_version) == ("fedora", "40")


def test_wsl_is_detected_from_proc_version() -> None:
    host = FakeHost(files={"/proc/version": "Linux version 5.15.153.1-microsoft-standard-WSL2"})
    found = osinfo.probe(host).value
    assert found is not None and found.wsl is True
