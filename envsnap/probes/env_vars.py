"""Environment variables that change results: an allowlist, values scrubbed of credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..host import Host
from ..redact import redact_text
from . import Probed

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# An allowlist, never a denylist: a denylist records DATABASE_URL and every variable nobody
# thought of (the pycheckem failure mode; see docs/snapshot-format.md#env).
ALLOWED_PREFIXES = (
    "CUDA_", "CUDNN_", "CUBLAS_", "CUBLASLT_", "NCCL_", "NVIDIA_", "NV_", "TORCH_", "PYTORCH_",
    "TORCHINDUCTOR_", "TF_", "XLA_", "JAX_", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "NUMEXPR_",
    "TRITON_", "HIP_", "ROCM_", "HSA_", "ONEDNN_", "DNNL_",
)
ALLOWED_NAMES = frozenset({
    "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHASHSEED", "PYTHONPATH", "PYTHONNOUSERSITE",
    "PYTHONOPTIMIZE", "PYTHONUTF8", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
    "LANG", "LC_ALL", "TZ",
})
# Even an allowlisted prefix can carry a secret (NVIDIA_API_KEY, TF_..._TOKEN): never read those.
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH",
                  "PRIVATE", "COOKIE", "SESSION", "SIGNATURE")


def is_captured(name: str) -> bool:
    upper = name.upper()
    if any(marker in upper for marker in SECRET_MARKERS):
        return False
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def select(environ: Mapping[str, str]) -> dict[str, str]:
    # Values with control characters are dropped: a snapshot must never carry a newline
    # into an ENV line of a generated Dockerfile.
    return {
        k: redact_text(v)
        for k, v in sorted(environ.items())
        if is_captured(k) and not _CONTROL.search(v)
    }


def probe(host: Host) -> Probed[dict[str, str]]:
    return Probed(value=select(dict(host.environ)), found_via="process environment (allowlist)")
