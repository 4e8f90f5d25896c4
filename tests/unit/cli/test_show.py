"""'envsnap show': the summary, --json, --packages and --tree of a snapshot file, in process;
README's H100 example is what it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import support
from binding_snapshots import PRELOADED, h100, snapshot

from envsnap import io
from envsnap.cli import main
from envsnap.deptree import package_rows, render_packages
from envsnap.snapshot import Package
from envsnap.summary import summarize, summary_data
from envsnap.testing import cpu_venv_snapshot, h100_snapshot


def _show(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`envsnap show ARGS`: exit 0, nothing on stderr; its stdout."""
    assert main(["show", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _file(tmp_path: Path, name: str = "snap.toml", **kw: object) -> str:
    path = tmp_path / name
    io.dump(cpu_venv_snapshot(*PACKAGES, **kw), path)
    return str(path)


PACKAGES = (Package(name="requests", version="2.32.3", requires=("idna<4,>=2.5",),
                    requested=True),
            Package(name="idna", version="3.10"))


def test_the_summary_is_the_libraries_summary(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, nvidia=h100_snapshot().nvidia)
    assert _show(capsys, path) == summarize(io.load(path)) + "\n"


def test_json_is_summary_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path)
    assert json.loads(_show(capsys, path, "--json")) == json.loads(
        json.dumps(summary_data(io.load(path))))


def test_packages_and_tree_views(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path)
    py = io.load(path).python
    assert _show(capsys, path, "--packages").rstrip("\n") == render_packages(py).rstrip("\n")
    assert json.loads(_show(capsys, path, "--packages", "--json")) == package_rows(py)
    tree = _show(capsys, path, "--tree")
    assert tree.splitlines()[0].startswith("requests==2.32.3") and "idna" in tree
    doc = json.loads(_show(capsys, path, "--tree", "--json"))
    assert doc["complete"] is True
    (top,) = doc["tree"]
    assert top["package_name"] == "requests"
    assert [d["package_name"] for d in top["dependencies"]] == ["idna"]


@pytest.mark.parametrize("argv", [
    ["show"],  # no file
    ["show", "x.toml", "--packages", "--tree"],  # one view at a time
    ["show", "x.toml", "--tree", "--depth", "0"],
    ["show", "x.toml", "--limit", "many"],
])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: envsnap show" in capsys.readouterr().err


def test_a_missing_or_broken_file_is_one_line_exit_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("envsnap: error: ") and "nope.toml" in err and err.count("\n") == 1
    broken = tmp_path / "broken.toml"
    broken.write_text("[python\n")
    assert main(["show", str(broken)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err


# The copies a framework binds, in --json (the lines: tests/unit/sections/test_cuda.py).


def test_show_json_names_who_binds_each_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    path = tmp_path / "snap.toml"
    io.dump(snapshot(*PRELOADED), path)
    libs = json.loads(_show(capsys, str(path), "--json"))["cuda_libraries"]
    assert [(c["library"], c["found_via"], c["bound_by"]) for c in libs] == [
        ("cudart", "pip:nvidia-cuda-runtime", ["torch"]),
        ("cudnn", "pip:nvidia-cudnn-cu13", []),
        ("cudnn", "ld_preload", ["torch"]),
        ("nccl", "pip:nvidia-nccl-cu13", ["torch"])]


def test_readme_h100_example_is_what_show_prints(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """README's H100 lines are `envsnap show` of the recorded H100 machine with torch 2.14.1's
    CUDA wheels and an old cuDNN in LD_PRELOAD, from the driver line on."""
    path = tmp_path / "h100.toml"
    io.dump(h100(*PRELOADED), path)
    out = _show(capsys, str(path))
    readme = (support.REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```text\n(driver .*?)\n```", readme, re.S)
    assert m is not None
    shown = out.rstrip("\n").splitlines()
    start = next(i for i, ln in enumerate(shown) if ln.startswith("driver "))
    assert m.group(1).splitlines() == shown[start:]
