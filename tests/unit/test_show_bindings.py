"""`envsnap show` marks the copy of each CUDA library a framework binds; README shows it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import support
from binding_snapshots import OLD_CUDNN, PLAIN, PRELOADED, WHEEL_CUDNN, h100, snapshot

from envsnap import io
from envsnap.summary import summarize, summary_data


def _show(*args: str) -> str:
    """The real CLI, in a process of its own."""
    proc = subprocess.run([sys.executable, "-m", "envsnap", "show", *args], capture_output=True,
                          text=True, env=support.clean_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _lines(text: str, library: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"  {library} ")]


def test_the_bound_copy_is_marked_with_its_framework() -> None:
    plain = summarize(snapshot(*PLAIN))
    assert [ln.endswith("<- bound by torch") for ln in _lines(plain, "cudnn")] == [
        True, False]  # the wheel's copy binds, the one in /opt does not
    preloaded = summarize(snapshot(*PRELOADED))
    wheel, old = _lines(preloaded, "cudnn")
    assert "pip:nvidia-cudnn-cu13" in wheel and "bound by" not in wheel
    assert old.split()[1:] == ["9.10.2", "ld_preload", "<-", "bound", "by", "torch"]
    assert f"  ! libcudnn.so.9 twice: {WHEEL_CUDNN} loaded beside the bound copy" in preloaded


def test_a_bound_file_no_copy_lists_gets_a_line_of_its_own() -> None:
    unlisted = snapshot(*PRELOADED, copies=())
    text = summarize(unlisted)
    assert f"  binds libcudnn.so.9 9.10.2 at {OLD_CUDNN}" in text
    data = summary_data(unlisted)
    (fw,) = data["frameworks"]
    assert [b["soname"] for b in fw["bindings"]] == ["libcudart.so.13", "libcudnn.so.9",
                                                     "libnccl.so.2"]


def test_show_json_names_who_binds_each_copy(tmp_path: Path) -> None:
    path = tmp_path / "snap.toml"
    io.dump(snapshot(*PRELOADED), path)
    libs = json.loads(_show(str(path), "--json"))["cuda_libraries"]
    assert [(c["library"], c["found_via"], c["bound_by"]) for c in libs] == [
        ("cudart", "pip:nvidia-cuda-runtime", ["torch"]),
        ("cudnn", "pip:nvidia-cudnn-cu13", []),
        ("cudnn", "ld_preload", ["torch"]),
        ("nccl", "pip:nvidia-nccl-cu13", ["torch"])]


def test_readme_h100_example_is_what_show_prints(tmp_path: Path) -> None:
    """README's H100 lines are `envsnap show` of the recorded H100 machine with torch 2.14.1's
    CUDA wheels and an old cuDNN in LD_PRELOAD, from the driver line on."""
    path = tmp_path / "h100.toml"
    io.dump(h100(*PRELOADED), path)
    out = _show(str(path))
    readme = (support.REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```text\n(driver .*?)\n```", readme, re.S)
    assert m is not None
    shown = out.rstrip("\n").splitlines()
    start = next(i for i, ln in enumerate(shown) if ln.startswith("driver "))
    assert m.group(1).splitlines() == shown[start:]
