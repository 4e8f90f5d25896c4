"""CycloneDX export (pure): components, package URLs, sources, lock hashes, redaction, and the
document checked against the CycloneDX 1.6 JSON schema that cyclonedx-python-lib ships."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import given, settings
from hypothesis import strategies as st
from lock_cases import H1, H2, H3, two_wheel_lock

from envsnap.errors import BadInputError
from envsnap.integrations.sbom import cyclonedx_json, parse_lock
from envsnap.lock import render
from envsnap.snapshot import (
    GPU,
    CondaEnv,
    CondaPackage,
    CudaInfo,
    Framework,
    LibraryCopy,
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    Project,
    PythonEnv,
    Snapshot,
    Source,
)


def _snapshot() -> Snapshot:
    packages = (
        Package(name="numpy", version="2.1.0", installer="pip", requested=True),
        Package(name="torch", version="2.8.0+cu128", installer="pip", requested=True,
                requires=("numpy", "nvidia-cudnn-cu12==9.10.2.21", "not-installed>=1")),
        Package(name="nvidia-cudnn-cu12", version="9.10.2.21", installer="pip"),
        Package(name="mylib", version="0.3.0", source=Source(
            kind="vcs", url="https://ci:hunter2@github.com/acme/mylib.git", vcs="git",
            commit="4f2a" * 10, requested_revision="v0.3.0")),
        Package(name="local-wheel", version="1.0", source=Source(
            kind="archive", url="file:///wheels/local_wheel-1.0-py3-none-any.whl",
            hash="sha256=" + H3)),
        Package(name="mine", version="0.1", source=Source(kind="editable", url="file:///src/mine")),
        Package(name="six", version="1.11.0", owner="conda"),
        Package(name="odd-url", version="1", source=Source(kind="url", url="https://h/x%zz.whl")),
    )
    return Snapshot(
        meta=Meta(envsnap_version="0.1.0", captured_at="2026-11-29T12:00:00Z", hostname="vm"),
        python=PythonEnv(version="3.11.7", implementation="cpython", packages=packages),
        conda=CondaEnv(prefix="/opt/conda", packages=(
            CondaPackage(name="six", version="1.11.0", build="py36_1", channel="pkgs/main",
                         subdir="osx-64", url="https://repo.anaconda.com/pkgs/main/osx-64/six-1.11.0-py36_1.tar.bz2",
                         md5="0" * 32),
            CondaPackage(name="mkl", version="2025.1", build="h0", subdir="linux-64",
                         channel="https://conda.example.org/t/tk-secret-456/internal"),
            CondaPackage(name="python", version="3.13.2", build="hfd29fff_1_cp313t", channel="conda-forge",
                         subdir="osx-arm64", sha256=H1,
                         url="https://conda.anaconda.org/t/tk-secret-123/conda-forge/osx-arm64/python-3.13.2-hfd29fff_1_cp313t.conda"),
        )),
        os=OSInfo(system="Linux", arch="x86_64", kernel="6.8.0", distro_id="ubuntu",
                  distro_version="24.04", pretty_name="Ubuntu 24.04.3 LTS", glibc="2.39"),
        nvidia=NvidiaInfo(driver_version="580.159.04", kernel_module_version="580.159.04",
                          cuda_driver_version="13.0", gpus=(
                              GPU(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                                  memory_bytes=85520809984, vbios="96.00.DA.00.0C"),
                              GPU(index=1, name="NVIDIA H100 80GB HBM3", compute_capability="9.0"))),
        cuda=CudaInfo(toolkit_version="13.0.88", toolkit_path="/usr/local/cuda", toolkit_found_via="nvcc",
                      libraries=(
                          LibraryCopy(library="cudnn", version="9.10.2",
                                      path="/env/lib/nvidia/cudnn/lib/libcudnn.so.9",
                                      found_via="pip:nvidia-cudnn-cu12", soname="libcudnn.so.9"),
                          LibraryCopy(library="cudart", version="13.0.96",
                                      path="/usr/local/cuda/lib64/libcudart.so.13", found_via="ldconfig"),
                          LibraryCopy(library="cudart", version=None, path="/opt/other/libcudart.so",
                                      found_via="ld_library_path"),
                      )),
        frameworks=(Framework(name="torch", version="2.8.0+cu128", variant="cu128", cuda="12.8",
                              arch_list=("sm_80", "sm_90")),),
    )


def _doc(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    data: dict[str, Any] = json.loads(text)
    return data


def _by_ref(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def _props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", ())}


def test_every_record_becomes_a_component_and_the_document_validates() -> None:
    snap = _snapshot()
    doc = _doc(cyclonedx_json(snap))
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    comps = _by_ref(doc)
    assert len(comps) == len(doc["components"])  # bom-refs are unique
    assert snap.python is not None and snap.conda is not None and snap.cuda is not None
    pypi = [c for c in doc["components"] if c.get("purl", "").startswith("pkg:pypi/")]
    assert sorted(c["name"] for c in pypi) == sorted(p.name for p in snap.python.packages)
    conda = [c for c in doc["components"] if c.get("purl", "").startswith("pkg:conda/")]
    assert len(conda) == len(snap.conda.packages)
    libs = [c for c in doc["components"] if c["bom-ref"].startswith("cuda-library:")]
    assert len(libs) == len(snap.cuda.libraries) == 3

    torch = comps["pkg:pypi/torch@2.8.0%2Bcu128"]
    # PyPI serves no local version: the +cu128 build came from PyTorch's index (purl-spec's
    # repository_url qualifier; pypi's default repository is https://pypi.org)
    assert torch["purl"] == ("pkg:pypi/torch@2.8.0%2Bcu128"
                             "?repository_url=https://download.pytorch.org/whl/cu128")
    assert comps["pkg:pypi/numpy@2.1.0"]["purl"] == "pkg:pypi/numpy@2.1.0"
    assert _props(torch)["envsnap:built_for_cuda"] == "12.8"
    assert _props(torch)["envsnap:arch_list"] == "sm_80 sm_90"
    # the conda-owned dist is still a PyPI package a scanner can match, marked as conda's
    assert _props(comps["pkg:pypi/six@1.11.0"])["envsnap:owner"] == "conda"

    assert comps["os"]["type"] == "operating-system" and comps["os"]["version"] == "24.04"
    assert _props(comps["os"])["envsnap:glibc"] == "2.39"
    driver = comps["nvidia-driver"]
    assert driver["type"] == "device-driver" and driver["version"] == "580.159.04"
    assert _props(driver)["envsnap:supports_cuda"] == "13.0"
    gpu = comps["gpu:0"]
    assert gpu["type"] == "device" and gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["components"][0] == {"bom-ref": "gpu:0:vbios", "name": "vbios", "type": "firmware",
                                    "version": "96.00.DA.00.0C"}
    assert "gpu:1" in comps
    assert comps["cuda-toolkit"]["type"] == "platform" and comps["cuda-toolkit"]["version"] == "13.0.88"
    cudnn = comps["cuda-library:0:cudnn"]
    assert cudnn["version"] == "9.10.2"
    assert _props(cudnn) == {"envsnap:found_via": "pip:nvidia-cudnn-cu12",
                             "envsnap:path": "/env/lib/nvidia/cudnn/lib/libcudnn.so.9",
                             "envsnap:soname": "libcudnn.so.9"}
    assert "version" not in comps["cuda-library:2:cudart"]  # unknown, not invented

    meta = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert meta["envsnap:digest"] == snap.digest
    assert doc["metadata"]["timestamp"].startswith("2026-11-29T12:00:00")


def test_sources_are_external_references_and_purl_qualifiers() -> None:
    comps = _by_ref(_doc(cyclonedx_json(_snapshot())))
    mylib = comps["pkg:pypi/mylib@0.3.0"]
    (vcs,) = mylib["externalReferences"]
    assert vcs["type"] == "vcs"
    assert vcs["url"] == "git+https://****@github.com/acme/mylib.git@" + "4f2a" * 10
    assert vcs["comment"] == "v0.3.0"
    assert mylib["purl"].startswith("pkg:pypi/mylib@0.3.0?vcs_url=git%2Bhttps://")
    wheel = comps["pkg:pypi/local-wheel@1.0"]
    (dist,) = wheel["externalReferences"]
    assert dist["type"] == "distribution"
    assert dist["url"] == "file:///wheels/local_wheel-1.0-py3-none-any.whl"
    assert dist["hashes"] == [{"alg": "SHA-256", "content": H3}]
    assert wheel["hashes"] == [{"alg": "SHA-256", "content": H3}]  # PEP 610's archive hash
    (local,) = comps["pkg:pypi/mine@0.1"]["externalReferences"]
    assert local["type"] == "other" and local["url"] == "file:///src/mine"
    # a URL CycloneDX's IRI rules refuse (a stray "%") is kept, as a property
    odd = comps["pkg:pypi/odd-url@1"]
    assert "externalReferences" not in odd
    assert _props(odd)["envsnap:source_url"] == "https://h/x%zz.whl"


def test_conda_package_urls_follow_the_purl_spec() -> None:
    comps = _by_ref(_doc(cyclonedx_json(_snapshot())))
    six = comps["pkg:conda/six@1.11.0?build=py36_1&channel=main&subdir=osx-64&type=tar.bz2"]
    assert six["hashes"] == [{"alg": "MD5", "content": "0" * 32}]
    py = comps["pkg:conda/python@3.13.2?build=hfd29fff_1_cp313t&channel=conda-forge&subdir=osx-arm64"
               "&type=conda"]
    assert py["hashes"] == [{"alg": "SHA-256", "content": H1}]
    # another host's channel is kept as its URL, its token masked
    (mkl,) = [c for ref, c in comps.items() if ref.startswith("pkg:conda/mkl@")]
    assert "channel=https://conda.example.org/t/%2A%2A%2A%2A/internal" in mkl["purl"]


def test_secrets_never_reach_the_document() -> None:
    text = cyclonedx_json(_snapshot())
    assert "hunter2" not in text and "tk-secret-123" not in text and "tk-secret-456" not in text
    assert "/t/****/conda-forge/" in text  # conda's channel token, masked as conda masks it


def test_python_dependencies_form_the_graph() -> None:
    doc = _doc(cyclonedx_json(_snapshot()))
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert deps["pkg:pypi/torch@2.8.0%2Bcu128"] == ["pkg:pypi/numpy@2.1.0",
                                                   "pkg:pypi/nvidia-cudnn-cu12@9.10.2.21"]
    assert deps["pkg:pypi/numpy@2.1.0"] == []


def test_same_snapshot_same_bytes() -> None:
    snap = _snapshot()
    first = cyclonedx_json(snap)
    assert cyclonedx_json(snap) == first
    other = snap.replace(os=None)
    assert json.loads(cyclonedx_json(other))["serialNumber"] != json.loads(first)["serialNumber"]


@pytest.mark.parametrize("filename", ["requirements.txt", "pylock.toml"])
def test_hashes_from_envsnaps_own_lockfiles(filename: str) -> None:
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="numpy", version="2.1.0"), Package(name="six", version="1.16.0"))))
    files = render(snap, two_wheel_lock(snap), ["requirements", "pylock"], command="envsnap lock")
    lock = parse_lock(files[filename], source=filename)
    assert lock.get("numpy", "2.1.0") == (("sha256", H1), ("sha256", H2))
    assert lock.get("SIX", "1.16.0") == (("sha256", H1), ("sha256", H2))
    assert lock.get("numpy", "9.9") == ()
    comps = _by_ref(_doc(cyclonedx_json(snap, lock=lock)))
    assert comps["pkg:pypi/numpy@2.1.0"]["hashes"] == [{"alg": "SHA-256", "content": H1},
                                                      {"alg": "SHA-256", "content": H2}]


def test_requirements_parsing_follows_pip() -> None:
    text = (
        "# a comment\n"
        "--index-url https://pypi.org/simple\n"
        "-e ./project\n"
        "numpy==2.1.0 \\\n"
        "    --hash=sha256:" + H1 + " \\\n"
        "    --hash=sha512:" + "d" * 128 + "  # via torch\n"
        "mylib @ https://example.org/mylib-1.0.tar.gz#sha256=" + H2 + " --hash=sha256:" + H2 + "\n"
        "loose>=1 --hash=sha256:" + H3 + "\n"
        "nohash==1.0\n"
    )
    lock = parse_lock(text, source="req.txt")
    assert lock.get("numpy", "2.1.0") == (("sha256", H1), ("sha512", "d" * 128))
    assert lock.get("mylib", "1.0") == (("sha256", H2),)  # a URL pin matches any version
    assert lock.get("loose", "3") == (("sha256", H3),)
    assert lock.get("nohash", "1.0") == ()
    with pytest.raises(BadInputError, match=r"req.txt: line 2: not a requirement"):
        parse_lock("ok==1\nthis is not ! a requirement\n", source="req.txt")
    with pytest.raises(BadInputError, match=r"pylock.toml: not a valid pylock.toml"):
        parse_lock("lock-version = '1.0'\n", source="pylock.toml")




def test_licenses_as_declared() -> None:
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="attrs", version="23.2.0", license="MIT"),
        Package(name="tqdm", version="4.66.4", license="MPL-2.0 AND MIT"),
        Package(name="oddlib", version="1", license="BSD"),
        Package(name="jinja2", version="3.1.4",
                license_classifiers=("License :: OSI Approved :: BSD License",)),
        Package(name="mdurl", version="0.1.2", license_classifiers=(
            "License :: OSI Approved :: MIT License", "License :: OSI Approved :: MIT License")),
        Package(name="bare", version="1"),
    )))
    comps = {c["name"]: c for c in _doc(cyclonedx_json(snap))["components"]}
    declared = {"acknowledgement": "declared"}
    assert comps["attrs"]["licenses"] == [{"license": {"id": "MIT", **declared}}]
    assert comps["tqdm"]["licenses"] == [{"expression": "MPL-2.0 AND MIT", **declared}]
    assert comps["oddlib"]["licenses"] == [{"license": {"name": "BSD", **declared}}]
    assert comps["jinja2"]["licenses"] == [
        {"license": {"name": "License :: OSI Approved :: BSD License", **declared}}]
    assert comps["mdurl"]["licenses"] == [{"license": {"id": "MIT", **declared}}]
    assert "licenses" not in comps["bare"]


def test_the_environment_is_the_described_component() -> None:
    snap = _snapshot()
    doc = _doc(cyclonedx_json(snap))
    env = doc["metadata"]["component"]
    assert env["type"] == "application" and env["bom-ref"] == "environment"
    assert env["name"] == "python-environment"
    assert env["version"] == snap.digest.removeprefix("sha256:")[:12]
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    # the top-level packages: what nothing else installed requires (numpy: torch requires it)
    assert deps["environment"] == sorted(["pkg:pypi/torch@2.8.0%2Bcu128",
                                          "pkg:pypi/mylib@0.3.0", "pkg:pypi/local-wheel@1.0",
                                          "pkg:pypi/mine@0.1", "pkg:pypi/six@1.11.0",
                                          "pkg:pypi/odd-url@1"])
    named = _doc(cyclonedx_json(snap.replace(project=Project(
        remote="https://github.com/acme/train.git", commit="9" * 40)), name=None))
    assert named["metadata"]["component"]["name"] == "train"
    assert named["metadata"]["component"]["version"] == "9" * 12
    assert _doc(cyclonedx_json(snap, name="my-env"))["metadata"]["component"]["name"] == "my-env"


def test_repeated_refs_are_made_unique() -> None:
    snap = _snapshot()
    assert snap.nvidia is not None
    twins = snap.replace(nvidia=replace(snap.nvidia, gpus=(snap.nvidia.gpus[0],) * 3))
    refs = [c["bom-ref"] for c in _doc(cyclonedx_json(twins))["components"]]
    assert [r for r in refs if r.startswith("gpu:0")] == ["gpu:0", "gpu:0#2", "gpu:0#3"]


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cyclonedx", None)  # as if not installed
    with pytest.raises(BadInputError, match=r"needs the sbom extra .*pip install 'envsnap\[sbom\]'"):
        cyclonedx_json(_snapshot())


_NAME_PARTS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.lists(_NAME_PARTS, min_size=1, max_size=3).map("-".join),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789._-+!~", min_size=1, max_size=12))
def test_plain_package_urls_are_packageurls(name: str, version: str) -> None:
    # The shortcut for names and versions with nothing to encode gives packageurl's string.
    from packageurl import PackageURL

    from envsnap.integrations.sbom import _Builder

    assert _Builder().purl("pypi", name, version) == PackageURL(
        type="pypi", name=name, version=version).to_string()
