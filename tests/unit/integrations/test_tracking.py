"""What MLflow and W&B record to search runs by: the same few facts, absent ones left out, redacted."""

from __future__ import annotations

from envsnap.integrations.tracking import summary_fields
from envsnap.snapshot import Framework, Package, Snapshot
from envsnap.testing import cpu_venv_snapshot, h100_snapshot, python_env, torch_framework


def test_a_gpu_machine_with_torch() -> None:
    snap = h100_snapshot(python=python_env(), frameworks=(torch_framework(),))
    fields = summary_fields(snap)
    assert snap.nvidia is not None and snap.python is not None
    torch = next(f for f in snap.frameworks if f.name == "torch")
    assert fields["digest"] == snap.digest and fields["python"] == snap.python.version
    assert fields["torch"] == torch.version and fields["driver"] == snap.nvidia.driver_version
    assert fields["gpu_count"] == str(len(snap.nvidia.gpus))
    assert fields["gpu"] == ", ".join(dict.fromkeys(g.name for g in snap.nvidia.gpus))


def test_torch_cuda_is_the_label_or_pytorchs_spelling() -> None:
    def cuda_of(fw: Framework) -> str:
        return summary_fields(cpu_venv_snapshot(frameworks=(fw,)))["torch_cuda"]

    assert cuda_of(Framework(name="torch", version="2.8.0+cu128", variant="cu128", cuda="12.8")) == "cu128"
    assert cuda_of(Framework(name="torch", version="2.8.0", cuda="12.8")) == "cu128"
    assert cuda_of(Framework(name="torch", version="2.8.0")) == "cpu"


def test_facts_the_snapshot_lacks_are_left_out() -> None:
    fields = summary_fields(Snapshot())
    assert fields == {"digest": Snapshot().digest, "gpu_count": "0"}
    only_pkg = cpu_venv_snapshot(Package(name="torch", version="2.3.1"))
    fields = summary_fields(only_pkg)
    assert fields["torch"] == "2.3.1" and "torch_cuda" not in fields and "driver" not in fields


def test_values_are_redacted() -> None:
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
    snap = cpu_venv_snapshot(python=python_env(version=f"3.11.7 {secret}"))
    assert secret not in summary_fields(snap)["python"]
