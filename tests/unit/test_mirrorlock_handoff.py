"""Tests moved out of the lock/SBOM unit files (19.4) whose modules other mirror branches own.

Each belongs in its module's mirror file when the branches are merged: command_line ->
tests/unit/cli/test_lock.py, the export command -> tests/unit/cli/test_export.py, Lines/Steps
-> tests/unit/test_progress.py, declared_license -> tests/unit/probes/test_dist_info.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from lock_cases import H2

from envsnap.cli import Console, main
from envsnap.integrations.sbom import cyclonedx_json
from envsnap.io import dump
from envsnap.progress import Lines, Steps, human_bytes
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot


def test_command_line_keeps_a_folder_name_given_with_a_trailing_slash() -> None:
    from envsnap.cli.lock import command_line

    assert command_line(["envsnap", "lock", "train.toml", "-o", "lock/", "--wheelhouse",
                         "/home/alice/wheels/"]) == "envsnap lock train.toml -o lock --wheelhouse wheels"
    assert command_line(["envsnap", "lock", "s.toml", "--index-url", "https://m.example/simple"]
                        ) == "envsnap lock s.toml --index-url https://m.example/simple"


def test_export_command(tmp_path: Path) -> None:
    snap_path = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(Package(name="numpy", version="2.1.0")), snap_path)
    out = io.StringIO()
    assert main(["export", str(snap_path)], Console(out, io.StringIO())) == 0
    assert out.getvalue() == cyclonedx_json(cpu_venv_snapshot(Package(name="numpy", version="2.1.0")))
    req = tmp_path / "requirements.txt"
    req.write_text(f"numpy==2.1.0 --hash=sha256:{H2}\n")
    err = io.StringIO()
    target = tmp_path / "sbom.cdx.json"
    assert main(["export", "--format", "cyclonedx", str(snap_path), "--lock", str(req), "-o", str(target)],
                Console(io.StringIO(), err)) == 0
    assert "CycloneDX" in err.getvalue()
    comps = {c["bom-ref"]: c for c in json.loads(target.read_text())["components"]}
    assert comps["pkg:pypi/numpy@2.1.0"]["hashes"] == [{"alg": "SHA-256", "content": H2}]
    err = io.StringIO()
    assert main(["export", str(snap_path), "--lock", str(tmp_path / "missing.txt")],
                Console(io.StringIO(), err)) == 2
    assert err.getvalue() == f"envsnap: error: {tmp_path / 'missing.txt'}: no such file\n"
    err = io.StringIO()
    assert main(["export", "--format", "spdx", str(snap_path)], Console(io.StringIO(), err)) == 2


def test_plain_progress_lines_and_steps() -> None:
    lines: list[str] = []
    rep = Lines(lines.append)
    t = rep.transfer("six-1.16.0-py2.py3-none-any.whl", 11053)
    t.advance(11053)
    t.close()
    assert lines[0].startswith("downloaded six-1.16.0-py2.py3-none-any.whl (10.8 KiB in ")
    out = io.StringIO()
    steps = Steps(out, tty=False)
    steps.step(1, 2, "FROM base")
    steps.cached()
    steps.step(2, 2, "RUN pip install")
    steps.close()
    text = out.getvalue().splitlines()
    assert text[:2] == ["envsnap: [1/2] FROM base", "envsnap: [1] cached"]
    assert text[2] == "envsnap: [2/2] RUN pip install" and text[3].endswith("s")
    assert human_bytes(3 * 2**20) == "3.0 MiB"


@pytest.mark.parametrize(("expression", "license", "classifiers", "want"), [
    # PEP 639: License-Expression wins, and the older fields are then ignored
    ("MIT", "BSD", ("License :: OSI Approved :: BSD License",), ("MIT", ())),
    (None, "MPL-2.0 AND MIT", (), ("MPL-2.0 AND MIT", ())),
    (None, "(Apache-2.0 OR MIT) WITH LLVM-exception", (), ("(Apache-2.0 OR MIT) WITH LLVM-exception", ())),
    (None, "  BSD-3-Clause  ", (), ("BSD-3-Clause", ())),
    # a License that is not an SPDX expression leaves the word to the classifiers
    (None, "Dual License", ("License :: OSI Approved :: BSD License", "Topic :: Utilities",
                            "License :: OSI Approved :: BSD License"),
     (None, ("License :: OSI Approved :: BSD License",))),
    (None, "Apache 2.0", (), (None, ())),
    (None, "Copyright (c) 2024 Someone\nPermission is hereby granted...", (), (None, ())),
    (None, "MIT AND", (), (None, ())),
    (None, None, ("License :: OSI Approved :: MIT License",),
     (None, ("License :: OSI Approved :: MIT License",))),
    (None, None, (), (None, ())),
])
def test_declared_license_follows_pep_639(expression: str | None, license: str | None,
                                          classifiers: tuple[str, ...],
                                          want: tuple[str | None, tuple[str, ...]]) -> None:
    from envsnap.probes.dist_info import declared_license

    assert declared_license(expression, license, classifiers) == want
