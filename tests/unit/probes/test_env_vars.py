"""env_vars probe: the allow-list of documented names, values scrubbed or withheld."""

from __future__ import annotations

import pytest

from envsnap.probes import env_vars
from envsnap.redact import is_secret_name
from envsnap.testing import FakeHost


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


@pytest.mark.parametrize(
    ("name", "captured"),
    [
        ("TF_CPP_MIN_LOG_LEVEL", True), ("TF_ENABLE_ONEDNN_OPTS", True), ("TF_FORCE_GPU_ALLOW_GROWTH", True),
        ("TF_GPU_ALLOCATOR", True), ("TF_XLA_FLAGS", True), ("TF_DETERMINISTIC_OPS", True),
        ("TF_NUM_INTRAOP_THREADS", True), ("TF_CUDNN_USE_AUTOTUNE", True), ("TF_USE_LEGACY_KERAS", True),
        ("CUDA_VISIBLE_DEVICES", True), ("TOKENIZERS_PARALLELISM", True), ("XLA_FLAGS", True),
        ("TF_VAR_db_pass", False), ("TF_TOKEN_app_terraform_io", False), ("TF_LOG", False),
        ("TF_CLI_ARGS", False), ("TORCH_HUB_PAT", False), ("NVIDIA_LICENSE_KEY", False),
        ("TRITON_PASSWD", False), ("NCCL_PWD", False), ("HOME", False), ("PATH", False),
    ],
)
def test_env_allowlist_framework_and_secret_shaped_names(name: str, captured: bool) -> None:
    assert env_vars.is_captured(name) is captured


def test_env_values_are_checked_for_credential_shapes() -> None:
    got = env_vars.select({
        "XLA_FLAGS": "--xla_gpu_autotune_level=4 --auth_token=Zsecret1",
        "TORCHINDUCTOR_REDIS_URL": "https://me:p@ss@cache/x?sig=Zsecret2",
        "CUDA_VISIBLE_DEVICES": "0,1", "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    assert got == {"CUDA_VISIBLE_DEVICES": "0,1", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "TORCHINDUCTOR_REDIS_URL": "https://****@cache/x?sig=****",
                   "XLA_FLAGS": "--xla_gpu_autotune_level=4 --auth_token=****"}


def test_env_probe_withholds_undocumented_values_and_counts_them() -> None:
    host = FakeHost(environ={"CUDA_ACCESSKEY": "Zs1", "CUDA_VISIBLE_DEVICES": "0",
                             "TORCH_HOME": "ghp_" + "a1B2" * 8, "VIRTUAL_ENV": "/home/u/.venv",
                             "CONDA_PREFIX": "/opt/conda", "CONDA_DEFAULT_ENV": "base"})
    result = env_vars.probe(host)
    assert result.value == {"CUDA_ACCESSKEY": "****", "CUDA_VISIBLE_DEVICES": "0", "TORCH_HOME": "****"}
    assert "1 value(s) withheld" in result.found_via


def test_documented_names_are_allowed_and_not_secret_names() -> None:
    names = env_vars.documented_names()
    assert len(names) > 900
    assert [n for n in names if not env_vars.is_captured(n)] == []
    assert [n for n in names - env_vars.ALLOWED_NAMES if is_secret_name(n)] == []
