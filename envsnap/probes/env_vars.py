"""Environment variables that change results: an allowlist, values scrubbed of credentials."""

from __future__ import annotations

from collections.abc import Mapping

from ..host import Host
from ..redact import is_secret_name, redact_text
from . import Probed

# An allowlist, never a denylist: a denylist records DATABASE_URL and every variable nobody
# thought of (the pycheckem failure mode; see docs/security.md#environment-variables).
# Each prefix belongs to one framework or runtime that reads it; a prefix two projects share
# is narrowed to the first's own families (TF_ is also Terraform's: TF_VAR_db_pass, TF_TOKEN_*).
ALLOWED_PREFIXES = (
    # NVIDIA: CUDA runtime/driver, cuDNN, cuBLAS, NCCL, container toolkit, CUDA base images
    "CUDA_", "CUDNN_", "CUBLAS_", "CUBLASLT_", "NCCL_", "NVIDIA_", "NV_",
    # PyTorch and its compiler stack
    "TORCH_", "PYTORCH_", "TORCHINDUCTOR_", "TRITON_",
    # TensorFlow (tensorflow/core/util/env_var.cc and friends): logging, op determinism,
    # oneDNN/XLA switches, GPU allocator and threads, cuDNN, thread pools, Keras 2
    "TF_CPP_", "TF_ENABLE_", "TF_FORCE_", "TF_GPU_", "TF_XLA_", "TF_DETERMINISTIC_",
    "TF_CUDNN_", "TF_NUM_", "TF_USE_",
    # JAX / XLA
    "XLA_", "JAX_",
    # threading and BLAS back ends
    "OMP_", "MKL_", "KMP_", "OPENBLAS_", "NUMEXPR_", "ONEDNN_", "DNNL_",
    # AMD ROCm
    "HIP_", "ROCM_", "HSA_",
)
ALLOWED_NAMES = frozenset({
    "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHASHSEED", "PYTHONPATH", "PYTHONNOUSERSITE",
    "PYTHONOPTIMIZE", "PYTHONUTF8", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
    "LANG", "LC_ALL", "TZ",
})


def is_captured(name: str) -> bool:
    # Exact names are vetted one by one (TOKENIZERS_PARALLELISM is a switch); a prefix can
    # still reach a secret (NVIDIA_API_KEY, TORCH_HUB_PAT), so there the name is checked too.
    return name in ALLOWED_NAMES or (name.startswith(ALLOWED_PREFIXES) and not is_secret_name(name))


def select(environ: Mapping[str, str]) -> dict[str, str]:
    # Every kept value gets the credential rules: an allowlisted name can hold a URL with a
    # token (TRITON_CACHE_URL). Values the model refuses (control characters: a newline in a
    # Dockerfile ENV line) are dropped by capture's sanitize step, which names them in a warning.
    return {k: redact_text(v) for k, v in sorted(environ.items()) if is_captured(k)}


def probe(host: Host) -> Probed[dict[str, str]]:
    return Probed(value=select(dict(host.environ)), found_via="process environment (allowlist)")
