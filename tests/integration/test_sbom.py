"""The CycloneDX document of a real environment: a venv with real PyPI wheels, a local wheel
(a PEP 610 source), a pip-installed cuDNN copy and conda records, plus the GPU facts recorded
on a real H100 machine; validated against the CycloneDX 1.6 schema."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import support
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from envsnap.capturing import capture
from envsnap.cli import Console, main
from envsnap.io import dump
from envsnap.snapshot import Snapshot
from envsnap.testing import gpu_fixture_host

DATA = Path(__file__).resolve().parents[1] / "data"
PINNED = ("six", "idna", "markupsafe")


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> tuple[Snapshot, Path]:
    """The snapshot of the environment and a requirements.txt hashing its PyPI wheels."""
    root = tmp_path_factory.mktemp("sbom")
    prefix = root / "env"
    python = support.make_venv(prefix, with_pip=False)
    wheels = sorted(w for w in pypi_wheelhouse.glob("*.whl")
                    if w.name.split("-")[0].lower() in PINNED)
    local = support.build_wheel(root / "local", "local-tool", "1.0")
    # The layout of NVIDIA's cuDNN wheel: the library under nvidia/cudnn/lib.
    cudnn = support.build_wheel(root / "local", "nvidia-cudnn-cu12", "9.10.2.21", modules={
        "nvidia/cudnn/__init__.py": "", "nvidia/cudnn/lib/libcudnn.so.9": "not really ELF\n"})
    support.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                 "--no-deps", *wheels, local, cudnn], env=support.clean_env())
    # conda's own records (tests/data/conda-meta) make the venv a conda prefix too.
    shutil.copytree(DATA / "conda-meta", prefix / "conda-meta", ignore=shutil.ignore_patterns("SOURCE.md"))
    live = capture(python=str(python), skip=("project",))
    # The GPU side from the recorded H100 machine: driver, GPU, nvcc's toolkit.
    h100 = capture(host=gpu_fixture_host(DATA / "gpu" / "h100-ubuntu24"), only=["nvidia", "cuda"])
    assert live.cuda is not None and h100.cuda is not None
    cuda = replace(live.cuda, toolkit_version=h100.cuda.toolkit_version,
                   toolkit_path=h100.cuda.toolkit_path, toolkit_found_via=h100.cuda.toolkit_found_via)
    snapshot = live.replace(nvidia=h100.nvidia, cuda=cuda)
    lock = root / "requirements.txt"
    lock.write_text("".join(
        f"{w.name.split('-')[0].lower()}=={w.name.split('-')[1]} "
        f"--hash=sha256:{hashlib.sha256(w.read_bytes()).hexdigest()}\n" for w in wheels))
    return snapshot, lock


def _validated(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    doc: dict[str, Any] = json.loads(text)
    return doc


@pytest.mark.slow
def test_real_environment_exports_a_valid_cyclonedx_document(
        real_env: tuple[Snapshot, Path], tmp_path: Path) -> None:
    snapshot, lock = real_env
    snap_path = tmp_path / "env.toml"
    dump(snapshot, snap_path)
    out = tmp_path / "env.cdx.json"
    err = io.StringIO()
    assert main(["export", "--format", "cyclonedx", str(snap_path), "--lock", str(lock), "-o", str(out)],
                Console(io.StringIO(), err)) == 0, err.getvalue()
    doc = _validated(out.read_text())
    comps = doc["components"]
    refs = [c["bom-ref"] for c in comps]
    assert len(refs) == len(set(refs))

    py, conda, cuda = snapshot.python, snapshot.conda, snapshot.cuda
    assert py is not None and conda is not None and cuda is not None
    # one component per Python distribution, per conda record and per CUDA library copy
    pypi = {c["name"]: c for c in comps if c.get("purl", "").startswith("pkg:pypi/")}
    assert sorted(pypi) == sorted(p.name for p in py.packages)
    assert {"six", "idna", "markupsafe", "local-tool", "nvidia-cudnn-cu12"} <= set(pypi)
    conda_purls = sorted(c["purl"] for c in comps if c.get("purl", "").startswith("pkg:conda/"))
    assert len(conda_purls) == len(conda.packages) == 6
    assert "pkg:conda/numpy@1.15.1?build=py36had7ef94_0&channel=main&subdir=osx-64&type=tar.bz2" \
        in conda_purls
    libraries = [c for c in comps if c["bom-ref"].startswith("cuda-library:")]
    assert len(libraries) == len(cuda.libraries) >= 1
    cudnn = [c for c in libraries if c["name"] == "cudnn"]
    assert [p["value"] for c in cudnn for p in c["properties"] if p["name"] == "envsnap:found_via"] \
        == ["pip:nvidia-cudnn-cu12"]

    # hashes from the lock, on exactly the packages it pins
    for name in PINNED:
        wheel = next(w for w in lock.read_text().splitlines() if w.startswith(name + "=="))
        assert pypi[name]["hashes"] == [{"alg": "SHA-256", "content": wheel.rsplit(":", 1)[1]}]
    # the local wheel's PEP 610 source, a file:// URL pip recorded
    (ref,) = pypi["local-tool"]["externalReferences"]
    assert ref["type"] == "distribution" and ref["url"].startswith("file://")
    assert ref["url"].endswith("local_tool-1.0-py3-none-any.whl")

    by_type: dict[str, list[dict[str, Any]]] = {}
    for c in comps:
        by_type.setdefault(c["type"], []).append(c)
    (gpu,) = by_type["device"]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    (driver,) = by_type["device-driver"]
    assert driver["version"] == "580.159.04"
    (toolkit,) = by_type["platform"]
    assert toolkit["name"] == "cuda-toolkit" and toolkit["version"] == "13.0.88"
    (os_,) = by_type["operating-system"]
    assert snapshot.os is not None and os_["name"] == (snapshot.os.distro_id or "linux")
