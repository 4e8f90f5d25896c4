"""OS, CPU, env-var and conda probes over recorded real files (tests/data, see SOURCE.md there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsnap.probes import conda, cpu, env_vars, osinfo
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


def test_glibcxx_scan_on_the_real_libstdcxx() -> None:
    lib = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not lib.exists():
        pytest.skip(f"SKIPPED: no {lib} on this machine")
    newest = osinfo.parse_glibcxx(lib.read_bytes())
    assert newest is not None and newest.startswith("3.4.")
    assert int(newest.split(".")[2]) >= 19  # any libstdc++ of the last decade


def test_wsl_is_detected_from_proc_version() -> None:
    host = FakeHost(files={"/proc/version": "Linux version 5.15.153.1-microsoft-standard-WSL2"})
    found = osinfo.probe(host).value
    assert found is not None and found.wsl is True


def test_cpuinfo_recorded_amd_epyc() -> None:
    model, flags = cpu.parse_cpuinfo((DATA / "proc" / "cpuinfo-amd-epyc-2core.txt").read_text())
    assert model and "EPYC" in model
    assert {"avx2", "fma", "sse4_2"} <= set(flags)
    assert "fpu" not in flags and "vme" not in flags  # only ISA flags wheels care about
    assert list(flags) == sorted(flags)


def test_meminfo_recorded() -> None:
    assert cpu.parse_meminfo((DATA / "proc" / "meminfo.txt").read_text()) == 24683656 * 1024


@pytest.mark.parametrize(
    ("name", "captured"),
    [
        ("CUBLAS_WORKSPACE_CONFIG", True), ("PYTHONHASHSEED", True), ("NCCL_DEBUG", True),
        ("LD_LIBRARY_PATH", True), ("OMP_NUM_THREADS", True), ("XLA_FLAGS", True),
        ("AWS_SECRET_ACCESS_KEY", False), ("HF_TOKEN", False), ("DATABASE_URL", False),
        ("NVIDIA_API_KEY", False), ("TF_AUTH_TOKEN", False), ("HOME", False), ("PATH", False),
    ],
)
def test_env_allowlist(name: str, captured: bool) -> None:
    assert env_vars.is_captured(name) is captured


def test_env_values_are_scrubbed() -> None:
    got = env_vars.select({"TORCHINDUCTOR_REDIS_URL": "https://me:hunter2@cache/x", "HOME": "/root",
                           "TRITON_CACHE_URL": "https://cache/x"})
    # a documented name keeps its value, scrubbed; an undocumented one is present, withheld
    assert got == {"TORCHINDUCTOR_REDIS_URL": "https://****@cache/x", "TRITON_CACHE_URL": "****"}


# conda: the real records copied from conda/conda's test data (tests/data/conda-meta/SOURCE.md)


def _record(name: str) -> dict[str, object]:
    return json.loads((DATA / "conda-meta" / name).read_text())  # type: ignore[no-any-return]


def test_modern_conda_forge_record() -> None:
    pkg = conda.parse_record(_record("python-3.13.2-hfd29fff_1_cp313t.json"))
    assert (pkg.name, pkg.version, pkg.build, pkg.channel, pkg.subdir) == (
        "python", "3.13.2", "hfd29fff_1_cp313t", "conda-forge", "osx-arm64")
    assert pkg.sha256 == "a64466b8f65b77604c3c87092c65d9e51e7db44b11eaa6c469894f0b88b1af5a"
    assert pkg.md5 == "9d0ae3f3e43c192a992827c0abffe284"
    assert pkg.requested_spec == "python=3.13"
    assert pkg.url and pkg.url.endswith("python-3.13.2-hfd29fff_1_cp313t.conda")


def test_old_defaults_record_without_sha256_and_dependency_spec() -> None:
    numpy = conda.parse_record(_record("numpy-1.15.1-py36had7ef94_0.json"))
    assert numpy.channel == "pkgs/main" and numpy.sha256 is None and numpy.md5
    openssl = conda.parse_record(_record("openssl-3.4.1-h81ee809_0.json"))
    assert openssl.requested_spec is None  # "None" in the record: pulled in as a dependency


def test_noarch_record() -> None:
    pip = conda.parse_record(_record("pip-25.0.1-pyh145f28c_0.json"))
    assert (pip.noarch, pip.subdir) == ("python", "noarch")


def test_history_requested_specs() -> None:
    specs = conda.parse_history((DATA / "conda-meta" / "history").read_text())
    assert specs == ("pip", "python=3.13", "python_abi[build=*_cp313t]")


def test_history_remove_specs() -> None:
    text = "# update specs: ['numpy', 'scipy>=1.10']\n# remove specs: ['scipy']\n"
    assert conda.parse_history(text) == ("numpy",)


def test_scan_reads_every_record_and_the_ownership_anchors() -> None:
    files = {f"/env/conda-meta/{p.name}": p.read_bytes() for p in (DATA / "conda-meta").iterdir()}
    files["/env/conda-meta/broken-1.0-0.json"] = b"{not json"
    result = conda.scan(FakeHost(files=files), "/env")
    assert [p.name for p in result.env.packages] == [
        "numpy", "openssl", "pip", "python", "python_abi", "six"]
    assert "lib/python3.6/site-packages/six-1.11.0-py3.6.egg-info" in result.anchors
    assert "lib/python3.13t/site-packages/pip-25.0.1.dist-info" in result.anchors
    # absolute paths of the recording machine are never carried into the snapshot
    assert "/Users/" not in repr(result.env)


@pytest.mark.parametrize(
    ("channel", "subdir", "expected"),
    [
        ("https://conda.anaconda.org/conda-forge/linux-64", "linux-64", "conda-forge"),
        ("https://repo.anaconda.com/pkgs/main/osx-64", "osx-64", "pkgs/main"),
        ("https://user:pw@conda.example.com/private/linux-64", "linux-64",
         "https://****@conda.example.com/private"),
    ],
)
def test_channel_names(channel: str, subdir: str, expected: str) -> None:
    assert conda.channel_name(channel, subdir) == expected


def test_conda_channel_with_a_token_keeps_its_name_not_its_token() -> None:
    record = _record("python-3.13.2-hfd29fff_1_cp313t.json")
    token = "tk-0123456789abcdef"
    record["channel"] = f"https://conda.anaconda.org/t/{token}/conda-forge/osx-arm64"
    record["url"] = str(record["url"]).replace("conda.anaconda.org/", f"conda.anaconda.org/t/{token}/")
    pkg = conda.parse_record(record)
    assert pkg.channel == "conda-forge"
    assert pkg.url is not None and token not in pkg.url and "/t/****/" in pkg.url


def test_uv_index_names_are_stripped_and_credentials_redacted() -> None:
    from envsnap.probes.python import configured_indexes

    host = FakeHost(environ={"PIP_CONFIG_FILE": "/dev/null",
                             "UV_INDEX": "corp=https://alice:s3cr3t@pypi.corp/simple"})
    assert configured_indexes(host, None) == ("https://****@pypi.corp/simple",)


def test_env_probe_withholds_undocumented_values_and_counts_them() -> None:
    from envsnap.testing import FakeHost

    host = FakeHost(environ={"CUDA_ACCESSKEY": "Zs1", "CUDA_VISIBLE_DEVICES": "0",
                             "TORCH_HOME": "ghp_" + "a1B2" * 8, "VIRTUAL_ENV": "/home/u/.venv",
                             "CONDA_PREFIX": "/opt/conda", "CONDA_DEFAULT_ENV": "base"})
    result = env_vars.probe(host)
    assert result.value == {"CUDA_ACCESSKEY": "****", "CUDA_VISIBLE_DEVICES": "0", "TORCH_HOME": "****"}
    assert "1 value(s) withheld" in result.found_via


def test_documented_names_are_allowed_and_not_secret_names() -> None:
    from envsnap.redact import is_secret_name

    names = env_vars.documented_names()
    assert len(names) > 900
    assert [n for n in names if not env_vars.is_captured(n)] == []
    assert [n for n in names - env_vars.ALLOWED_NAMES if is_secret_name(n)] == []
