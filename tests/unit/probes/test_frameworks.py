"""frameworks probe: build files parsed from real text, --deep against a real child process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from framework_cases import (
    TF_CU121,
    TORCH_CPU,
    TORCH_CU121,
    torch_cu121_env,
)

from envsnap.errors import CommandTimeout
from envsnap.host import RunResult
from envsnap.probes import cuda, frameworks
from envsnap.snapshot import Binding, Framework, Package, PythonEnv
from envsnap.testing import FakeHost

# ---------------------------------------------------------------------------------------------
# Pure parsers


def test_parse_torch_version_py_cpu_wheel() -> None:
    facts = frameworks._parse_torch_version_py(TORCH_CPU.read_text(encoding="utf-8"))
    assert facts.cuda is None
    assert facts.is_cuda is False


def test_parse_torch_version_py_cuda_wheel() -> None:
    facts = frameworks._parse_torch_version_py(TORCH_CU121.read_text(encoding="utf-8"))
    assert facts.cuda == "12.1"
    assert facts.is_cuda is True


def test_parse_tf_build_info() -> None:
    facts = frameworks._parse_tf_build_info(TF_CU121.read_text(encoding="utf-8"))
    assert facts.cuda == "12.1"
    assert facts.cudnn == "8"
    assert facts.is_cuda is True
    assert facts.arch_list == (
        "sm_52", "sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86", "compute_90",
    )


def test_parsers_never_execute_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hostile = f"open({str(marker)!r}, 'w').write('x')\ncuda = '12.1'\n"
    assert frameworks._parse_torch_version_py(hostile).cuda == "12.1"
    assert not marker.exists()
    assert frameworks._parse_torch_version_py("def (:\n").cuda is None  # not Python at all








@pytest.mark.parametrize(
    ("value", "version"),
    [(91400, "9.14.0"), (90100, "9.1.0"), (8907, "8.9.7"), (None, None), (0, None)],
)
def test_cudnn_version_text(value: int | None, version: str | None) -> None:
    assert cuda.cudnn_version_text(value) == version


def test_parse_deep_output_skips_noise() -> None:
    out = "some import chatter\nENVSNAP-DEEP {\"torch\": {\"cuda\": null}}\n"
    assert frameworks._parse_deep_output(out) == {"torch": {"cuda": None}}
    assert frameworks._parse_deep_output("Traceback (most recent call last):\n") is None


# ---------------------------------------------------------------------------------------------
# probe() over real file trees








def test_probe_jax_and_cupy_from_metadata() -> None:
    pyenv = PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="jax", version="0.4.30"),
        Package(name="jaxlib", version="0.4.30"),
        Package(name="jax-cuda12-plugin", version="0.4.30", requires=("jax-cuda12-pjrt",
                                                                       "nvidia-cudnn-cu12")),
        Package(name="nvidia-cudnn-cu12", version="9.1.0.70"),
        Package(name="cupy-cuda12x", version="13.3.0"),
        Package(name="numpy", version="2.1.0"),
    ))
    result = frameworks.probe(FakeHost(), pyenv, deep=False, python=None)
    by_name = {fw.name: fw for fw in result.value or ()}
    assert set(by_name) == {"jax", "jaxlib", "cupy"}
    assert (by_name["jaxlib"].variant, by_name["jaxlib"].cuda) == ("cuda12", "12")
    assert by_name["jaxlib"].cudnn == "9.1.0.70"  # the plugin requires that wheel
    assert (by_name["cupy"].variant, by_name["cupy"].cuda) == ("cuda12x", "12")


def test_probe_without_python_env() -> None:
    assert frameworks.probe(FakeHost(), None, deep=True, python=None).value == ()


# ---------------------------------------------------------------------------------------------
# --deep failures keep the file answer




def test_deep_timeout_keeps_file_answer(tmp_path: Path) -> None:
    pyenv = torch_cu121_env(tmp_path)
    host = FakeHost(commands={"python3": CommandTimeout("python3 did not answer")})
    # FakeHost has no files: the version file is unreadable through it, the label answers.
    result = frameworks.probe(host, pyenv, deep=True, python="/usr/bin/python3")
    (fw,) = result.value or ()
    assert fw.cuda == "12.1"
    assert f"import timed out after {frameworks.DEEP_TIMEOUT:g}s" in fw.found_via
    assert "--deep failed" in result.found_via


def test_deep_child_crash_keeps_file_answer(tmp_path: Path) -> None:
    pyenv = torch_cu121_env(tmp_path)
    crashed = RunResult(returncode=1, stdout="", stderr="Segmentation fault (core dumped)")
    host = FakeHost(commands={"python3": crashed})
    result = frameworks.probe(host, pyenv, deep=True, python="python3")
    (fw,) = result.value or ()
    assert fw.cuda == "12.1"
    assert "import child exited with 1: Segmentation fault" in fw.found_via


# ---------------------------------------------------------------------------------------------
# --deep checks each predicted SONAME with the child's own loader

WHEEL = "/v/site/nvidia/cudnn/lib/libcudnn.so.9"


def _bound_fw() -> Framework:
    return Framework(name="acme-kernels", version="0.3", bindings_via="generic", bindings=(
        Binding(soname="libcudnn.so.9", path=WHEEL, via="rpath"),
        Binding(soname="libnccl.so.2", path="/v/site/nvidia/nccl/lib/libnccl.so.2", via="rpath"),
        Binding(soname="libcuda.so.1", via="missing", found_by="/v/site/acme/_ops.so"),
        Binding(soname="libcufft.so.12", path="/x/libcufft.so.12", via="rpath")))


def test_deep_marks_each_binding_verified_or_records_what_loaded() -> None:
    report = {"loader": {"bound": {
        # The child names the file as the loader opened it; compared by real path.
        "libcudnn.so.9": "/v/site/torch/lib/../../nvidia/cudnn/lib/libcudnn.so.9",
        "libnccl.so.2": "/opt/other/libnccl.so.2",
        "libcuda.so.1": None,
        "libcufft.so.12": ""}}}  # loaded, but dlinfo could not name it
    host = FakeHost(commands={"python3": RunResult(
        returncode=0, stdout="noise\n" + frameworks._DEEP_MARKER + json.dumps(report) + "\n")},
        links={"/v/site/torch/lib/../../nvidia/cudnn/lib/libcudnn.so.9": WHEEL})
    (fw,), why = frameworks._deep(host, "python3", [_bound_fw()],
                                  {"acme-kernels": ("/v/site/acme/_ops.so",)})
    assert why is None
    assert [(b.soname, b.verified, b.loaded) for b in fw.bindings] == [
        ("libcudnn.so.9", True, None),
        ("libnccl.so.2", False, "/opt/other/libnccl.so.2"),
        ("libcuda.so.1", True, None),  # predicted missing, and nothing answers to it
        ("libcufft.so.12", None, None)]
    (argv,) = host.calls
    spec = json.loads(argv[-1])
    assert spec == {"name": "acme-kernels", "loads": ["/v/site/acme/_ops.so"],
                    "sonames": ["libcudnn.so.9", "libnccl.so.2", "libcuda.so.1", "libcufft.so.12"]}


def test_deep_check_without_dlinfo_says_so() -> None:
    report = {"loader": {"error": "libdl.so.2: cannot open shared object file"}}
    host = FakeHost(commands={"python3": RunResult(
        returncode=0, stdout=frameworks._DEEP_MARKER + json.dumps(report))})
    (fw,), why = frameworks._deep(host, "python3", [_bound_fw()], {})
    assert why is None
    assert all(b.verified is None for b in fw.bindings)
    assert fw.bindings_via == "generic (--deep check failed: libdl.so.2: cannot open shared object file)"
