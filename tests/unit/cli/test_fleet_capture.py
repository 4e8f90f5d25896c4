"""'envsnap fleet capture': the refusals said before Ray is imported (the capture itself, on a
real Ray cluster: tests/integration/test_fleet_ray.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsnap.cli import main


@pytest.mark.parametrize(("argv", "said"), [
    (["fleet", "capture", "--ray", "-o", "FILE"], "exists and is not a directory"),
    (["fleet", "capture", "--ray", "-o", "LINK"], "is a symbolic link"),
    (["fleet", "capture", "--ray", "-o", "NOPARENT"], "parent directory"),
    (["fleet", "capture", "--ray", "-o", "d", "--timeout", "0"], "expected seconds between"),
    (["fleet", "capture", "--ray", "-o", "d", "--timeout", "soon"], "not a number of seconds"),
    (["fleet", "capture", "-o", "d"], "the following arguments are required: --ray"),
])
def test_bad_input_exit_2(argv: list[str], said: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "link").symlink_to(tmp_path)
    where = {"FILE": tmp_path / "file", "LINK": tmp_path / "link",
             "NOPARENT": tmp_path / "no" / "such"}
    assert main([str(where[a]) if a in where else a for a in argv]) == 2
    assert said in capsys.readouterr().err
