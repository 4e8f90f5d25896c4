"""Environment variables that change results: an allowlist; values only for documented names."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from .. import compat
from ..host import Host
from ..redact import REDACTED, is_secret_name, redact_text
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
# Vetted one by one. VIRTUAL_ENV, CONDA_PREFIX and CONDA_DEFAULT_ENV are not here: they describe
# the shell that runs envsnap, not the environment captured ([python] records its prefix and
# kind, [conda] its packages), and recording them gave one environment a digest per shell.
ALLOWED_NAMES = frozenset({
    "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHASHSEED", "PYTHONPATH", "PYTHONNOUSERSITE",
    "PYTHONOPTIMIZE", "PYTHONUTF8", "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "LANG", "LC_ALL", "TZ",
})
# The value standing for a variable that is set under an allowed prefix but whose name no
# framework documents: present, value withheld. It is the redaction mark, so every renderer
# (diff, check, lock, Dockerfile) already treats it as "no value to show or replay".
WITHHELD = REDACTED


@functools.cache
def documented_names() -> frozenset[str]:
    """The names whose values are recorded: the exact names above and
    envsnap/compat/env_names.toml, each list with the framework documentation (or sources) it
    was read from."""
    return ALLOWED_NAMES | frozenset(name for table in compat.data("env_names.toml").values()
                                     for name in table["names"])


def is_captured(name: str) -> bool:
    # Exact names are vetted one by one (TOKENIZERS_PARALLELISM is a switch); a prefix can
    # still reach a secret (NVIDIA_API_KEY, TORCH_HUB_PAT), so there the name is checked too.
    return name in ALLOWED_NAMES or (name.startswith(ALLOWED_PREFIXES) and not is_secret_name(name))


def select(environ: Mapping[str, str]) -> dict[str, str]:
    documented = documented_names()
    # A name under an allowed prefix that no framework reads (CUDA_ACCESSKEY, JAX_PRIVKEY,
    # TORCH_HUB_BEARER) is someone's own variable: the rule is the name, not a guess at the value.
    # Every recorded value still gets the credential rules: a documented name can hold a URL
    # with a token (TORCHINDUCTOR_REDIS_URL). Values the model refuses (control characters: a
    # newline in a Dockerfile ENV line) are dropped by capture's sanitize step, which names
    # them in a warning.
    return {k: redact_text(v) if k in documented else WITHHELD
            for k, v in sorted(environ.items()) if is_captured(k)}


def probe(host: Host) -> Probed[dict[str, str]]:
    value = select(dict(host.environ))
    documented = documented_names()
    withheld = sum(1 for k in value if k not in documented)
    how = "process environment (allowlist)"
    if withheld:
        how += f"; {withheld} value(s) withheld: names no framework documents"
    return Probed(value=value, found_via=how)
