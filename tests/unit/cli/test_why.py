"""'envsnap why': the paths to a package, --json, and a name that is not there (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsnap import io
from envsnap.cli import main
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot

SNAP = cpu_venv_snapshot(Package(name="requests", version="2.32.3", requires=("idna>=2.5",),
                                 requested=True),
                         Package(name="idna", version="3.10"))


@pytest.fixture
def path(tmp_path: Path) -> str:
    io.dump(SNAP, tmp_path / "s.toml")
    return str(tmp_path / "s.toml")


def test_the_path_in_text_and_json(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", path, "IDNA"]) == 0  # any spelling pip accepts
    assert "requests 2.32.3 -> idna 3.10" in capsys.readouterr().out
    assert main(["why", path, "idna", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [[p["name"] for p in path_] for path_ in doc["paths"]] == [["requests", "idna"]]


def test_a_package_not_installed_suggests_close_names(path: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", path, "request"]) == 2
    err = capsys.readouterr().err
    assert err == f"envsnap: error: request is not installed in {path} (did you mean requests?)\n"
    assert main(["why", path, "idna", "--limit", "0"]) == 2
