"""The GitHub Action: action.yml is a composite action whose inputs reach the script through
env only, and its script (scripts/action.sh) captures, checks or diffs a real venv against a
committed snapshot, appending the Markdown report to $GITHUB_STEP_SUMMARY and failing by
--fail-on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import support
import yaml  # type: ignore[import-untyped]  # PyYAML (pre-commit's and conda-lock's dependency)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "action.sh"
ENVSNAP = Path(sys.executable).parent / "envsnap"


def test_action_metadata_is_a_composite_action_without_script_injection() -> None:
    action: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {"command", "snapshot", "fail-on", "policy", "python", "install"} <= set(inputs)
    assert all("description" in spec and isinstance(spec.get("default", ""), str)
               for spec in inputs.values())
    for name, output in action["outputs"].items():
        assert "steps.envsnap.outputs." + name in output["value"]
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
            # Inputs as text in a script would let a workflow input run shell: env only.
            assert "${{" not in step["run"], step["run"]
    env = next(s for s in steps if s.get("id") == "envsnap")["env"]
    used = set(re.findall(r"inputs\.([\w-]+)", " ".join(env.values())))
    assert used <= set(inputs) and {"command", "snapshot", "fail-on", "policy", "python"} <= used
    assert "scripts/action.sh" in next(s for s in steps if s.get("id") == "envsnap")["run"]


@pytest.fixture()
def workspace(tmp_path: Path) -> dict[str, Path]:
    python = support.make_venv(tmp_path / "venv", with_pip=False)
    committed = tmp_path / "envsnap.toml"
    support.run([ENVSNAP, "capture", "--python", python, "--skip", "project", "-q", "-o", committed])
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step's summary\n")
    return {"root": tmp_path, "python": python, "committed": committed, "summary": summary,
            "output": tmp_path / "github_output"}


def _action(ws: dict[str, Path], **inputs: str) -> subprocess.CompletedProcess[str]:
    env = support.clean_env({
        "ENVSNAP_BIN": str(ENVSNAP),
        "ENVSNAP_PYTHON": str(ws["python"]),
        "ENVSNAP_SNAPSHOT": str(ws["committed"]),
        "ENVSNAP_OUT_DIR": str(ws["root"] / "out"),
        "GITHUB_STEP_SUMMARY": str(ws["summary"]),
        "GITHUB_OUTPUT": str(ws["output"]),
        **{f"ENVSNAP_{k.upper()}": v for k, v in inputs.items()},
    })
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=300, check=False, cwd=ws["root"])


def _outputs(ws: dict[str, Path]) -> dict[str, str]:
    lines = ws["output"].read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.slow
def test_diff_writes_the_report_to_the_job_summary_and_fails_by_fail_on(workspace: dict[str, Path]) -> None:
    ws = workspace
    proc = _action(ws, command="diff")
    assert proc.returncode == 0, proc.stderr
    summary = ws["summary"].read_text()
    assert summary.startswith("earlier step's summary\n")  # appended, never replaced
    assert "### envsnap diff" in summary and "No differences." in summary
    outputs = _outputs(ws)
    assert outputs["exit-code"] == "0"
    assert Path(outputs["report"]).read_text() in summary
    assert Path(outputs["snapshot"]).is_file()

    wheel = support.build_wheel(ws["root"] / "wheels", "new-dependency", "2.0")
    support.run([sys.executable, "-m", "pip", "--python", ws["python"], "install", "--no-index", wheel],
                env=support.clean_env())
    ws["summary"].write_text("")
    ws["output"].write_text("")
    proc = _action(ws, command="diff", fail_on="never")
    assert proc.returncode == 0, proc.stderr
    assert "new-dependency" in ws["summary"].read_text()
    ws["summary"].write_text("")
    proc = _action(ws, command="diff", fail_on="info")  # an added package is at least info
    assert proc.returncode == 1, proc.stderr
    assert "new-dependency" in ws["summary"].read_text()
    assert _outputs(ws)["exit-code"] == "1"


@pytest.mark.slow
def test_check_and_capture(workspace: dict[str, Path]) -> None:
    ws = workspace
    proc = _action(ws, command="check", policy="compatible")
    assert proc.returncode == 0, proc.stderr
    assert "envsnap check" in ws["summary"].read_text()
    ws["summary"].write_text("")
    proc = _action(ws, command="capture")
    assert proc.returncode == 0, proc.stderr
    summary = ws["summary"].read_text()
    assert summary.startswith("### envsnap: this runner's environment\n\n```text\nsnapshot sha256:")
    assert "python    cpython" in summary and summary.endswith("```\n")


@pytest.mark.slow
def test_bad_input_puts_the_reason_in_the_summary(workspace: dict[str, Path]) -> None:
    ws = workspace
    missing = ws["root"] / "nope.toml"
    proc = _action(ws, command="diff", snapshot=str(missing))
    assert proc.returncode == 2
    summary = ws["summary"].read_text()
    assert "**envsnap diff failed (exit 2)**" in summary
    assert f"envsnap: error: {missing}: no such file" in summary
    assert f"{missing}: no such file" in proc.stderr
    proc = _action(ws, command="deploy")
    assert proc.returncode == 2 and "unknown command 'deploy'" in ws["summary"].read_text()


def test_a_huge_report_is_cut_to_githubs_limit(workspace: dict[str, Path], tmp_path: Path) -> None:
    ws = workspace
    fake = tmp_path / "fake-envsnap"
    # an envsnap whose diff report is 3 MB: the summary must stay under GitHub's 1 MiB
    fake.write_text("#!/bin/sh\nif [ \"$1\" = diff ]; then head -c 3000000 /dev/zero | tr '\\0' x; fi\n")
    fake.chmod(0o755)
    env_bin = {"bin": str(fake)}
    proc = _action(ws, command="diff", **env_bin)
    assert proc.returncode == 0, proc.stderr
    size = os.path.getsize(ws["summary"])
    assert 1_000_000 < size < 2**20
    assert "report truncated: 3000000 bytes" in ws["summary"].read_text()


def test_readme_and_docs_show_each_integration_as_it_is() -> None:
    """The README's few lines per integration, and docs/integrations.md, name what exists."""
    import importlib

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Integrations\n", 1)[1].split("\n## ", 1)[0]
    assert readme.index("## Integrations\n") < readme.index("## Documentation\n")
    for needle in ("**MLflow**", "**Weights & Biases**", "**SBOM**", "**GitHub Actions**",
                   "**pre-commit**", "runs:/", "envsnap export", "ENVSNAP_MLFLOW=1"):
        assert needle in section, needle
    docs = (REPO / "docs" / "integrations.md").read_text()
    for dotted in re.findall(r"envsnap\.integrations\.(\w+)\.(\w+)", section + docs):
        module = importlib.import_module(f"envsnap.integrations.{dotted[0]}")
        assert hasattr(module, dotted[1]), dotted
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["envsnap-capture"]
    assert "id: envsnap-capture" in docs and hooks[0]["entry"] in docs
    action = yaml.safe_load((REPO / "action.yml").read_text())
    config = docs.split("- uses: envsnap/envsnap@", 1)[1].split("```", 1)[0]
    used = set(re.findall(r"^\s{4}([\w-]+):", config, re.MULTILINE))
    assert used and used <= set(action["inputs"]), used
