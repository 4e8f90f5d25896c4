"""Snapshot -> Dockerfile text and build-context layout (pure: no Docker, no file writes)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import compat, rules
from ..errors import BadInputError
from ..io import dumps_data
from ..lock.model import TOOLS, HashedLock
from ..lock.requirements import render_requirements
from ..lock.safety import SAFE_URL, check_labels, check_planned, check_value, scrub
from ..redact import REDACTED
from ..resources import template_text
from ..snapshot import Snapshot, content_digest, to_dict
from ..version import __version__

SNAPSHOT_PATH = "/opt/envsnap/snapshot.toml"
LABEL_PREFIX = "io.envsnap"
PYTHON_LABEL = f"{LABEL_PREFIX}.python"  # the Python the image really runs
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")

# Docker image references: [registry/]name[:tag][@sha256:hex]. Nothing a shell or the
# Dockerfile parser gives meaning to can pass.
_IMAGE_REF = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
_PYTHON_CMD = re.compile(r"^(/[a-z0-9/._-]+/)?python3(\.\d+)?$")

# Variables that change numerical results, set in the image when the snapshot recorded them.
# Sources: PyTorch reproducibility notes (CUBLAS_WORKSPACE_CONFIG, CUDA_LAUNCH_BLOCKING,
# https://pytorch.org/docs/stable/notes/randomness.html), TensorFlow determinism
# (TF_DETERMINISTIC_OPS, TF_CUDNN_DETERMINISTIC), NVIDIA TF32 (NVIDIA_TF32_OVERRIDE),
# Python's hash seed (PYTHONHASHSEED), thread counts of OpenMP/BLAS.
REPRO_ENV = (
    "PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING", "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC", "TF_ENABLE_ONEDNN_OPTS", "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "PYTORCH_CUDA_ALLOC_CONF", "OMP_NUM_THREADS",
    "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_CBWR", "XLA_FLAGS",
)

# Big, rarely changing wheels: frameworks and NVIDIA's CUDA library wheels (torch pulls
# nvidia-*-cu12 wheels of several hundred MB each).
HEAVY_NAMES = frozenset({
    "torch", "torchvision", "torchaudio", "triton", "tensorflow", "tensorflow-cpu",
    "tensorflow-gpu", "tf-keras", "jax", "jaxlib", "xformers", "flash-attn", "onnxruntime",
    "onnxruntime-gpu", "tensorrt", "cupy-cuda12x", "cupy-cuda11x", "paddlepaddle",
    "paddlepaddle-gpu", "mxnet", "deepspeed", "bitsandbytes", "vllm",
})
HEAVY_PREFIXES = ("nvidia-", "jax-cuda", "tensorrt-")
HEAVY_BYTES = 32 * 1024 * 1024  # a wheel this big is heavy whatever its name


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImage:
    ref: str  # image:tag[@sha256:...]
    python: str  # the interpreter command inside the image
    reason: str  # why this base, with its source
    apt_python: tuple[str, ...] = ()  # apt packages that provide Python (CUDA images ship none)
    pinned: bool = False
    python_version: str | None = None  # what the base provides, when known


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePlan:
    """Everything the build context holds, as text; wheels are named, not read."""

    dockerfile: str
    base: BaseImage
    files: Mapping[str, str]  # context path -> text (lock files, snapshot)
    wheels: Mapping[str, tuple[str, ...]]  # "heavy"/"light" -> wheel file names
    heavy: tuple[str, ...]
    light: tuple[str, ...]
    notes: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # as the Dockerfile sets them


def cuda_of(snapshot: Snapshot) -> str | None:
    """The CUDA version the snapshot's frameworks were built for ("12.1", or a bare major
    "12" when only that is known), if any."""
    for fw in snapshot.frameworks:
        if fw.cuda and rules.cuda_version(fw.cuda):
            return rules.major_minor(fw.cuda) or rules.cuda_major(fw.cuda)
    py = snapshot.python
    for pkg in py.packages if py else ():
        if pkg.name in HEAVY_NAMES:
            cuda = rules.cuda_of_version(pkg.version)
            if cuda:
                return cuda
    return None


def _brings_own_cudnn(snapshot: Snapshot) -> bool:
    # torch wheels ship cuDNN as nvidia-cudnn-cu12; a system copy beside it clashes
    # (replicate/cog#1430). TensorFlow without those wheels links the system's.
    py = snapshot.python
    names = {p.name for p in py.packages} if py else set()
    if any(n.startswith("nvidia-cudnn") for n in names) or "torch" in names:
        return True
    return not ({"tensorflow", "tensorflow-gpu"} & names)


def choose_base(snapshot: Snapshot, override: str | None = None,
                python_cmd: str | None = None) -> BaseImage:
    """Pick the base image from shipped data (envsnap/compat/images_base.toml)."""
    py = snapshot.python
    version = py.version if py else "3"
    minor = rules.major_minor(version) or version
    if override:
        return BaseImage(ref=override, python=python_cmd or "python3",
                         reason="chosen with --base-image", pinned="@sha256:" in override)
    data = compat.data("images_base.toml")
    cuda = cuda_of(snapshot)
    if cuda is None:
        cpu = data["cpu"]
        return BaseImage(ref=cpu["image"].format(python=version),
                         python=python_cmd or cpu["python"],
                         reason=f"CPU snapshot: the official slim Python image ({cpu['source']})",
                         python_version=version)
    rows = [r for r in data["cuda"] if r["version"].startswith(cuda + ".")]
    if not rows:
        known = ", ".join(r["version"] for r in data["cuda"])
        raise BadInputError(f"no nvidia/cuda base image known for CUDA {cuda} (known: {known}); "
                            "pass --base-image")
    row = rows[-1]
    own = _brings_own_cudnn(snapshot)
    flavor = "runtime" if own or not row["cudnn"] else f"{row['cudnn']}-runtime"
    ubuntu = row["ubuntu"][0]
    cmd, apt = "python3", ("python3", "python3-venv")
    pyver = data["ubuntu"][ubuntu]["python3"]
    for candidate in row["ubuntu"]:
        info = data["ubuntu"][candidate]
        if info["python3"] == minor:
            ubuntu, cmd, apt, pyver = candidate, "python3", ("python3", "python3-venv"), minor
            break
        if minor in info["extra"]:
            extra = info["extra"][minor]
            ubuntu, cmd, apt, pyver = candidate, extra, (extra, f"{extra}-venv"), minor
            break
    why = ("the framework brings its own CUDA libraries as wheels: no cuDNN in the base"
           if own else "the framework links the system's cuDNN")
    return BaseImage(
        ref=f"nvidia/cuda:{row['version']}-{flavor}-ubuntu{ubuntu}", python=python_cmd or cmd,
        reason=f"GPU snapshot built for CUDA {cuda}; {why} (tags: cog cuda_compatibility.json)",
        apt_python=apt, python_version=pyver,
    )


def python_note(image: str, snapshot: str) -> str:
    """What build-image says, on every build, when the image's Python is not the snapshot's."""
    return f"the image runs Python {image}, the snapshot {snapshot} (patch differs)"


def is_heavy(name: str, size: int | None = None, extra: Iterable[str] = ()) -> bool:
    return (name in HEAVY_NAMES or name.startswith(HEAVY_PREFIXES) or name in TOOLS
            or name in set(extra) or (size is not None and size >= HEAVY_BYTES))


def _q(value: str) -> str:
    """A Dockerfile double-quoted word. Values were checked against SAFE_VALUE already; the
    escaping is a second line of defence (JSON escapes \\ and \", and $ is escaped for ENV/LABEL
    variable expansion)."""
    return json.dumps(value, ensure_ascii=True).replace("$", "\\$")


def portable_snapshot(snapshot: Snapshot) -> str:
    """The snapshot as embedded in the image: capture metadata and every absolute path or
    file:// URL of the capturing machine removed."""
    data = to_dict(snapshot)
    data.pop("meta", None)
    data.pop("digest", None)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith(("/", "file:", "~", "$PREFIX")) or "\\" in value:
                return "<local path>"
            return scrub(value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    cleaned = clean(data)
    cleaned["digest"] = content_digest(cleaned)
    return dumps_data(cleaned)


PIP = "/opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check"


def _source_args(offline: bool, lock: HashedLock) -> str:
    if offline:
        return "--no-index --find-links /tmp/envsnap/wheels"
    urls = [lock.plan.index_url, *lock.plan.extra_index_urls]
    for url in urls:
        if not SAFE_URL.fullmatch(url):
            raise BadInputError("refusing an index URL with spaces, quotes or shell characters "
                                "in a Dockerfile")  # never echoed: it may hold a credential
    return " ".join([f"--index-url {urls[0]}", *(f"--extra-index-url {u}" for u in urls[1:])])


def render(snapshot: Snapshot, lock: HashedLock, *, base: BaseImage, offline: bool,
           labels: Mapping[str, str] | None = None, heavy_extra: Iterable[str] = ()) -> ImagePlan:
    """The Dockerfile and context files for ``snapshot`` installed from ``lock``.

    Raises BadInputError before rendering anything unsafe (names, versions, env values,
    labels, the base reference); the snapshot is checked here unless ``lock`` was planned
    from it (plan() checked it then).
    """
    check_planned(snapshot, lock)
    user_labels = dict(labels or {})
    check_labels(user_labels)
    if not _IMAGE_REF.fullmatch(base.ref):
        raise BadInputError(f"refusing base image reference {base.ref!r}")
    if not _PYTHON_CMD.fullmatch(base.python):
        raise BadInputError(f"refusing Python command {base.python!r}")
    py = snapshot.python
    if py is None:
        raise BadInputError("the snapshot has no Python environment to build an image from")
    minor = rules.major_minor(py.version) or py.version
    if lock.unlockable:
        names = ", ".join(f"{u.name} ({u.reason})" for u in lock.unlockable)
        raise BadInputError(f"cannot build an image: not locked: {names}")
    extra = set(heavy_extra)
    heavy = tuple(sorted(p.name for p in lock.pins
                         if is_heavy(p.name, max((f.size or 0 for f in p.files), default=0),
                                     extra)))
    light = tuple(sorted(p.name for p in lock.pins if p.name not in heavy))
    # The group locks name neither the snapshot file nor its digest: the heavy lock must stay
    # byte-identical when only a light package changes, or its COPY breaks the layer cache.
    same = {"command": "envsnap build-image", "digest": f"embedded at {SNAPSHOT_PATH}"}
    files: dict[str, str] = {
        "lock/heavy.txt": render_requirements(lock.subset(heavy), filename="heavy.txt", **same),
        "lock/light.txt": render_requirements(lock.subset(light), filename="light.txt", **same),
        "snapshot.toml": portable_snapshot(snapshot),
    }
    wheels = {
        group: tuple(sorted(f.filename for p in lock.pins if p.name in names for f in p.files))
        for group, names in (("heavy", heavy), ("light", light))
    } if offline else {"heavy": (), "light": ()}
    src = _source_args(offline, lock)
    pip = PIP
    flags = "--require-hashes --no-deps --only-binary=:all:"
    heavy_lines = ["COPY lock/heavy.txt /tmp/envsnap/lock/heavy.txt"]
    if offline:
        heavy_lines.append("COPY wheels/heavy/ /tmp/envsnap/wheels/")
    if heavy:
        heavy_lines.append(f"RUN {pip} {src} {flags} -r /tmp/envsnap/lock/heavy.txt")
    light_dir = "/opt/envsnap/light"
    site = f"{light_dir}/lib/python{minor}/site-packages"
    light_lines = ["COPY lock/light.txt /tmp/envsnap/lock/light.txt"]
    if offline:
        light_lines.append("COPY wheels/light/ /tmp/envsnap/wheels/")
    run = f"RUN mkdir -p {light_dir}/bin {site}"
    if light:
        # --prefix keeps these files apart so the final stage copies them over the heavy venv
        # without copying the heavy layer again; .pyc files are compiled for their final path.
        run += (f" \\\n && {pip} {src} {flags} --ignore-installed --no-compile"
                f" --prefix {light_dir} -r /tmp/envsnap/lock/light.txt"
                f" \\\n && /opt/venv/bin/python -m compileall -q"
                f" -d /opt/venv/lib/python{minor}/site-packages {site}")
    light_lines.append(run)
    notes: list[str] = []
    if (base.python_version and _EXACT_VERSION.fullmatch(base.python_version)
            and base.python_version != py.version):
        notes.append(python_note(base.python_version, py.version))
    # ensurepip puts pip/setuptools into the venv; remove the ones the snapshot did not have.
    present = {p.name for p in py.packages}
    absent = [t for t in ("setuptools", "wheel", "pip") if t not in present]
    cleanup = (f"RUN /opt/venv/bin/python -m pip uninstall --yes --quiet {' '.join(absent)}"
               if absent else "")
    env_lines = []
    for name in REPRO_ENV:
        if name in snapshot.env:
            value = snapshot.env[name]
            if REDACTED in value:  # the capture masked a credential: there is no value to set
                notes.append(f"{name} left out: it held a credential")
                continue
            check_value(value, f"env.{name}")
            env_lines.append(f"ENV {name}={_q(value)}")
    all_labels = {
        "org.opencontainers.image.title": "envsnap environment",
        "org.opencontainers.image.description": "Python environment rebuilt from an envsnap "
                                                "snapshot",
        "org.opencontainers.image.version": snapshot.digest.removeprefix("sha256:")[:12],
        "org.opencontainers.image.base.name": base.ref.split("@")[0],
        f"{LABEL_PREFIX}.snapshot.digest": snapshot.digest,
        f"{LABEL_PREFIX}.snapshot.path": SNAPSHOT_PATH,
        f"{LABEL_PREFIX}.snapshot.python": py.version,
        f"{LABEL_PREFIX}.version": __version__,
    }
    if base.python_version and _EXACT_VERSION.fullmatch(base.python_version):
        # The Python the image runs, when the base says it exactly (python:3.11.7-slim runs
        # 3.11.7); otherwise build-image labels it from the built image's own interpreter.
        all_labels[PYTHON_LABEL] = base.python_version
    if "@sha256:" in base.ref:
        all_labels["org.opencontainers.image.base.digest"] = base.ref.split("@", 1)[1]
    all_labels.update(user_labels)
    for key, value in all_labels.items():
        check_value(value, f"label {key}")
    label_text = "LABEL " + " \\\n      ".join(f"{_q(k)}={_q(v)}"
                                               for k, v in sorted(all_labels.items()))
    python_setup = ""
    if base.apt_python:
        python_setup = ("RUN apt-get update && apt-get install --yes --no-install-recommends "
                        + " ".join(base.apt_python) + " && rm -rf /var/lib/apt/lists/*")
    values = {
        "digest": snapshot.digest,
        "snapshot_python": py.version,
        "python_minor": minor,
        "n_packages": str(len(lock.pins)),
        "envsnap_version": __version__,
        "base_ref": base.ref,
        "base_reason": base.reason,
        "base_pin_note": ("pinned by digest" if base.pinned else
                          "not pinned by digest (none known): pin it with --base-image "
                          "IMAGE:TAG@sha256:..."),
        "heavy_summary": f"{len(heavy)} package(s)" + (f": {', '.join(heavy[:6])}"
                                                      + (", ..." if len(heavy) > 6 else "")
                                                      if heavy else ""),
        "python": base.python,
        "python_setup": python_setup,
        "heavy_install": "\n".join(heavy_lines),
        "light_install": "\n".join(light_lines),
        "cleanup": cleanup,
        "env": "\n".join(env_lines),
        "labels": label_text,
    }
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template_text("Dockerfile.tmpl"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return ImagePlan(dockerfile=text, base=base, files=files, wheels=wheels, heavy=heavy,
                     light=light, notes=tuple(notes), labels=all_labels)


def label_dockerfile(image_id: str, labels: Mapping[str, str]) -> str:
    """A Dockerfile that only sets labels on an image built before: no layer, so the image
    keeps its content and gains what was learnt by running it (the Python it runs)."""
    if not _IMAGE_ID.fullmatch(image_id):
        raise BadInputError(f"refusing image ID {image_id!r}")
    check_labels(labels)
    return (f"FROM {image_id}\nLABEL "
            + " \\\n      ".join(f"{_q(k)}={_q(v)}" for k, v in sorted(labels.items())) + "\n")
