"""`envsnap check` through the real CLI fails when LD_PRELOAD binds another cuDNN than the framework pins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

import pytest
import support

from envsnap import compat, io

PIN = "nvidia-cudnn-cu13==9.24.0.43"


def _cc(*args: str | Path) -> None:
    proc = subprocess.run(["cc", *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def _cudnn(out: Path, version: int) -> None:
    """A libcudnn.so.9 whose cudnnGetVersion() answers ``version`` (92400: 9.24.0), which is
    what envsnap asks a cuDNN file for."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".c")
    src.write_text(f"#include <stddef.h>\nsize_t cudnnGetVersion(void) {{ return {version}; }}\n")
    _cc("-shared", "-fPIC", "-o", out, src, "-Wl,-soname,libcudnn.so.9")
    src.unlink()


def _dist(site: Path, name: str, version: str, files: list[str], requires: tuple[str, ...] = ()
          ) -> None:
    """An installed distribution as pip leaves it: METADATA, INSTALLER and a RECORD of its files."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires))
    (info / "INSTALLER").write_text("pip\n")
    record = [*files, *(f"{info.name}/{n}" for n in ("METADATA", "INSTALLER", "RECORD"))]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in record))


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A venv holding a framework-like distribution whose extension module needs libcudnn.so.9
    (found through its DT_RPATH in the pinned nvidia-cudnn-cu13 wheel, 9.24), and an older
    cuDNN 9.10 outside it; returns (python, snapshot captured without LD_PRELOAD, old cuDNN)."""
    root = tmp_path_factory.mktemp("binding-check")
    python = support.make_venv(root / "venv", with_pip=False)
    site = support.site_packages(python)
    _cudnn(site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9", 92400)
    _dist(site, "nvidia-cudnn-cu13", "9.24.0.43", ["nvidia/cudnn/lib/libcudnn.so.9"])
    suffix = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_config_var("
                             "'EXT_SUFFIX'))"], capture_output=True, text=True, check=True,
                            timeout=60).stdout.strip() or sysconfig.get_config_var("EXT_SUFFIX")
    ext = site / "gpukit" / f"_C{suffix}"
    ext.parent.mkdir()
    (ext.parent / "__init__.py").write_text("")
    src = root / "ext.c"
    src.write_text("#include <stddef.h>\nextern size_t cudnnGetVersion(void);\n"
                   "size_t gpukit_cudnn(void) { return cudnnGetVersion(); }\n")
    _cc("-shared", "-fPIC", "-o", ext, src, "-Wl,--no-as-needed", "-Wl,--disable-new-dtags",
        "-Wl,-rpath,$ORIGIN/../nvidia/cudnn/lib", site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9")
    _dist(site, "gpukit", "1.0", ["gpukit/__init__.py", f"gpukit/_C{suffix}"], requires=(PIN,))
    old = root / "old" / "libcudnn.so.9"
    _cudnn(old, 91002)
    snap = root / "expected.toml"
    rc, _, err = _envsnap("capture", "--python", python, "-o", snap, "-q")
    assert rc == 0, err
    return python, snap, old


def _envsnap(*args: str | Path, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "envsnap", *map(str, args)], capture_output=True,
                          text=True, env=support.clean_env(env), timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_the_capture_records_the_wheels_cudnn_bound(layout: tuple[Path, Path, Path]) -> None:
    _, snap, _ = layout
    (fw,) = [f for f in io.load(snap).frameworks if f.name == "gpukit"]
    (b,) = fw.bindings
    assert (b.soname, b.version, b.via) == ("libcudnn.so.9", "9.24.0", "rpath")


def _failing(doc: dict[str, object]) -> list[tuple[str, str]]:
    """The findings that fail the gate: at or above their scope's threshold."""
    thresholds = doc["thresholds"]
    findings = doc["findings"]
    assert isinstance(thresholds, dict) and isinstance(findings, list)
    return [(f["rule"], f["kind"]) for f in findings
            if thresholds[f["scope"]] is not None
            and compat.fails(f["severity"], thresholds[f["scope"]])]


# This machine has no NVIDIA driver, and the snapshot's cuDNN wheel (cu13) needs CUDA: the
# driver finding fails every run here; what the preload adds is the binding finding.


def test_check_without_the_preload_has_no_binding_finding(layout: tuple[Path, Path, Path]
                                                          ) -> None:
    python, snap, _ = layout
    rc, out, err = _envsnap("check", snap, "--python", python, "--format", "json")
    doc = json.loads(out)
    assert "binding" in doc["checked"], err
    assert _failing(doc) == [("driver", "missing")]
    assert rc == 1


def test_check_fails_when_ld_preload_binds_another_cudnn(layout: tuple[Path, Path, Path]) -> None:
    python, snap, old = layout
    env = {"LD_PRELOAD": str(old)}
    rc, out, err = _envsnap("check", snap, "--python", python, env=env)
    assert rc == 1, (out, err)
    assert "binding: gpukit libcudnn.so.9" in out, out
    rc, out, err = _envsnap("check", snap, "--python", python, "--format", "json", env=env)
    assert rc == 1, err
    doc = json.loads(out)
    assert _failing(doc) == [("driver", "missing"), ("binding", "pin")]
    (pin,) = [f for f in doc["findings"] if f["kind"] == "pin"]
    assert (pin["rule"], pin["severity"], pin["expected"]) == ("binding", "critical", PIN)
    assert pin["actual"] == f"9.10.2 at {os.path.realpath(old)} (LD_PRELOAD)"
    assert pin["fix"] == f"remove {os.path.realpath(old)} from LD_PRELOAD"
