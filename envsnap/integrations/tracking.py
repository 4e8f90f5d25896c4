"""What the experiment trackers (MLflow, W&B) share: where the file goes, and what is searched by."""

from __future__ import annotations

from .. import rules
from ..redact import redact_text
from ..snapshot import Snapshot

# Where a snapshot file goes among a run's (or a model's) artifacts; `envsnap diff runs:/ID`
# reads it back from there.
ARTIFACT_DIR = "envsnap"


ARTIFACT_NAME = "envsnap.toml"


def capture_for_tracking() -> Snapshot:
    """The snapshot a tracker logs when none is passed in: this environment, project left out.

    MLflow and W&B record the git commit themselves; without it the digest stays the same for
    runs in the same environment across commits, which is what makes it worth searching by.
    """
    # Local import: the MLflow run-context plugin imports this module in every process that
    # imports mlflow; the probes load only when a capture is made.
    from ..capturing import capture

    return capture(skip=("project",))


def summary_fields(snapshot: Snapshot) -> dict[str, str]:
    """The few facts worth searching runs by, the same for every tracker: the content digest,
    Python, torch and the CUDA it was built for, the NVIDIA driver, GPU model and count.
    Facts the snapshot lacks are left out, not written as empty strings."""
    fields: dict[str, str] = {"digest": snapshot.digest}
    if snapshot.python is not None:
        fields["python"] = snapshot.python.version
    torch = next((f for f in snapshot.frameworks if f.name == "torch"), None)
    if torch is not None:
        fields["torch"] = torch.version
        # The local label when there is one (cu128, rocm6.2, cpu), else PyTorch's spelling of
        # the CUDA the build reports (12.8 -> cu128); a build without CUDA is "cpu".
        fields["torch_cuda"] = torch.variant or (
            (rules.cuda_label(torch.cuda) or "cpu") if torch.cuda else "cpu")
    elif snapshot.python is not None and (pkg := snapshot.python.package("torch")) is not None:
        fields["torch"] = pkg.version
    nvidia = snapshot.nvidia
    if nvidia is not None and nvidia.driver_version:
        fields["driver"] = nvidia.driver_version
    if nvidia is not None and nvidia.gpus:
        # One model on almost every machine; a mixed one lists each model once, in index order.
        fields["gpu"] = ", ".join(dict.fromkeys(g.name for g in nvidia.gpus))
    fields["gpu_count"] = str(len(nvidia.gpus) if nvidia is not None else 0)
    # Everything a tracker stores goes through the one rule set (a GPU name is not a secret,
    # but a hostile snapshot's values are not trusted to be what their keys say).
    return {k: redact_text(v) for k, v in fields.items()}
