"""Golden files under tests/golden/: compare rendered output, or rewrite them on request.

    ENVSNAP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report.py tests/integration/test_report_real.py

then review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import support

GOLDEN = support.REPO / "tests" / "golden"
UPDATE = bool(os.environ.get("ENVSNAP_UPDATE_GOLDEN"))
EXT = {"text": "txt", "json": "json", "markdown": "md"}


def assert_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run with ENVSNAP_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (ENVSNAP_UPDATE_GOLDEN=1)"
