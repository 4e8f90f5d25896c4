"""envsnap.cli.export: the SBOM on stdout or in a file, hashes from a lock, bad input.

The SBOM document itself is tests/unit/integrations/test_sbom.py; its validation against the
CycloneDX schema with the real library is tests/integration/test_sbom.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

from lock_cases import H2

from envsnap.cli import Console, main
from envsnap.integrations.sbom import cyclonedx_json
from envsnap.io import dump
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot

NUMPY = Package(name="numpy", version="2.1.0")


def _export(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["export", *argv], Console(out, err))
    return code, out.getvalue(), err.getvalue()


def test_export_command(tmp_path: Path) -> None:
    snap_path = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(NUMPY), snap_path)
    code, out, _ = _export(str(snap_path))
    assert code == 0
    assert out == cyclonedx_json(cpu_venv_snapshot(NUMPY))
    req = tmp_path / "requirements.txt"
    req.write_text(f"numpy==2.1.0 --hash=sha256:{H2}\n")
    target = tmp_path / "sbom.cdx.json"
    code, out, err = _export("--format", "cyclonedx", str(snap_path), "--lock", str(req),
                             "-o", str(target))
    assert code == 0 and out == "" and "CycloneDX" in err
    comps = {c["bom-ref"]: c for c in json.loads(target.read_text())["components"]}
    assert comps["pkg:pypi/numpy@2.1.0"]["hashes"] == [{"alg": "SHA-256", "content": H2}]
    code, _, err = _export(str(snap_path), "--lock", str(tmp_path / "missing.txt"))
    assert code == 2
    assert err == f"envsnap: error: {tmp_path / 'missing.txt'}: no such file\n"
    assert _export("--format", "spdx", str(snap_path))[0] == 2


def test_bad_outputs_and_locks_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    snap_path = tmp_path / "snap.toml"
    dump(cpu_venv_snapshot(NUMPY), snap_path)
    code, out, err = _export(str(snap_path), "-o", str(tmp_path / "sbom.toml"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert not (tmp_path / "sbom.toml").exists()
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": true}')
    code, _, err = _export(str(snap_path), "-o", str(mine))
    assert code == 2 and "--force" in err
    assert mine.read_text() == '{"mine": true}'
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"numpy==2.1.0 # caf\xe9\n")
    code, _, err = _export(str(snap_path), "--lock", str(latin))
    assert code == 2 and "not UTF-8 text (byte 18)" in err
