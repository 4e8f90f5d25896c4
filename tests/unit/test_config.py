"""[tool.envsnap] configuration: parsing, discovery from the current directory upward, flags
over the file, one-line errors (exit 2); and '-' for standard input in diff and check."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from envsnap import config
from envsnap import io as snapio
from envsnap.cli import Console, main
from envsnap.config import Config, Ignore
from envsnap.errors import BadInputError
from envsnap.snapshot import Package
from envsnap.testing import cpu_venv_snapshot


def test_parse_reads_every_key() -> None:
    cfg = config.parse({"fail-on": "major", "ignore-packages": ["Foo_Bar", "nvidia-*"],
                        "ignore-env": ["CI_*"], "ignore-extras": True, "allow-build": True},
                       "p/pyproject.toml")
    assert cfg == Config(source="p/pyproject.toml", fail_on="major", ignore_extras=True,
                         ignore=Ignore(packages=("foo-bar", "nvidia-*"), env=("CI_*",)),
                         allow_build=True)
    assert Config().allow_build is False
    assert cfg.ignore.package("FOO.bar") and cfg.ignore.package("nvidia-cudnn-cu12")
    assert not cfg.ignore.package("numpy")
    assert cfg.ignore.env_var("CI_JOB_ID") and not cfg.ignore.env_var("ci_job_id")
    assert Config().threshold == "critical"


@pytest.mark.parametrize(("table", "message"), [
    ({"fail_on": "major"}, "unknown key 'fail_on' (known: fail-on, "),
    ({"fail-on": "sometimes"}, "fail-on: expected one of critical, major, minor, info, never, "
                               "got 'sometimes'"),
    ({"fail-on": 3}, "fail-on: expected one of"),
    ({"ignore-packages": "numpy"}, "ignore-packages: expected an array of non-empty strings"),
    ({"ignore-env": ["CI_*", ""]}, "ignore-env: expected an array of non-empty strings"),
    ({"ignore-extras": "yes"}, "ignore-extras: expected true or false"),
    ({"allow-build": "yes"}, "allow-build: expected true or false"),
])
def test_invalid_configuration_names_file_and_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(BadInputError) as err:
        config.parse(table, "x/pyproject.toml")
    assert str(err.value).startswith("x/pyproject.toml: [tool.envsnap]")
    assert message in str(err.value) and err.value.exit_code == 2


def test_flags_win_over_the_file() -> None:
    cfg = config.parse({"fail-on": "major", "ignore-packages": ["pip"]}, "p")
    merged = cfg.with_flags(fail_on="never", ignore_packages=["Setup_Tools"], ignore_env=["X"],
                            ignore_extras=True)
    assert merged.threshold == "never" and merged.ignore_extras
    assert merged.ignore == Ignore(packages=("pip", "setup-tools"), env=("X",))
    assert cfg.with_flags().threshold == "major"


def test_found_from_the_current_directory_upward(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.envsnap]\nfail-on = "minor"\n')
    inner = tmp_path / "pkg" / "sub"
    inner.mkdir(parents=True)
    # A nearer pyproject.toml without our table (it names envsnap as a dependency) is passed.
    (tmp_path / "pkg" / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\ndependencies = ["envsnap"]\n')
    cfg = config.load(inner)
    assert (cfg.fail_on, cfg.source) == ("minor", str(tmp_path / "pyproject.toml"))
    assert config.load(tmp_path.parent) == Config()  # nothing above the temporary folder


def test_a_broken_pyproject_that_may_hold_our_table_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.envsnap\nfail-on = 1\n")
    with pytest.raises(BadInputError, match=r"pyproject.toml: not valid TOML \(.*line 1"):
        config.load(tmp_path)
    # Someone else's broken file (it cannot hold [tool.envsnap]) is not ours to judge.
    (tmp_path / "pyproject.toml").write_text("[tool.ruff\n")
    assert config.load(tmp_path).source is None
    (tmp_path / "pyproject.toml").write_text('[tool]\nenvsnap = "major"\n')
    with pytest.raises(BadInputError, match="must be a table"):
        config.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# Through the command line


A = cpu_venv_snapshot(Package(name="x", version="1.0", requested=True), Package(name="pip", version="24.0"))
B = cpu_venv_snapshot(Package(name="x", version="1.1", requested=True), Package(name="pip", version="25.0"))


def envsnap(*argv: str, stdin: bytes | None = None,
            monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), Console(out=out, err=err))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    snapio.dump(A, tmp_path / "a.toml")
    snapio.dump(B, tmp_path / "b.toml")
    monkeypatch.chdir(tmp_path)
    return "a.toml", "b.toml"


def test_configured_threshold_and_ignores_apply_and_flags_win(
        pair: tuple[str, str], tmp_path: Path) -> None:
    a, b = pair
    assert envsnap("diff", a, b)[0] == 0  # x minor: under the default critical
    (tmp_path / "pyproject.toml").write_text(
        '[tool.envsnap]\nfail-on = "minor"\nignore-packages = ["pip"]\n')
    rc, out, _ = envsnap("diff", a, b, "--format", "json")
    assert rc == 1 and [c["name"] for c in json.loads(out)["changes"]] == ["x"]
    assert envsnap("diff", a, b, "--fail-on", "major")[0] == 0
    rc, out, _ = envsnap("diff", a, b, "--ignore", "x", "--format", "json")
    assert rc == 0 and json.loads(out)["changes"] == []


def test_invalid_configuration_is_one_line_and_exit_2(pair: tuple[str, str],
                                                      tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.envsnap]\nfail-on = "sometimes"\n')
    for argv in (["diff", *pair], ["check", pair[0], "--host-only"]):
        rc, out, err = envsnap(*argv)
        assert (rc, out) == (2, "")
        assert err.count("\n") == 1 and err.startswith("envsnap: error: ")
        assert "pyproject.toml: [tool.envsnap] fail-on" in err


def test_diff_reads_a_snapshot_from_stdin(pair: tuple[str, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair
    text = Path(a).read_bytes()
    rc, out, err = envsnap("diff", "-", b, "--format", "json", stdin=text, monkeypatch=monkeypatch)
    assert rc == 0, err
    data = json.loads(out)
    assert data["a"] == "-" and {c["name"] for c in data["changes"]} == {"x", "pip"}
    rc, _, err = envsnap("diff", "-", "-", stdin=text, monkeypatch=monkeypatch)
    assert rc == 2 and "read only once" in err and err.count("\n") == 1


def test_baseline_and_check_read_stdin(pair: tuple[str, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair
    text = Path(a).read_bytes()
    rc, out, err = envsnap("diff", "--baseline", "-", b, "--format", "json", stdin=text,
                           monkeypatch=monkeypatch)
    assert rc == 0, err
    assert json.loads(out)["reference"] == "-" and json.loads(out)["drifted"] == 1
    rc, out, err = envsnap("diff", "--baseline", a, "-", stdin=Path(b).read_bytes(),
                           monkeypatch=monkeypatch)
    assert rc == 0 and "1 drifted" in out and "1 node against" in out, err
    rc, out, err = envsnap("check", "-", "--host-only", "--format", "json", stdin=text,
                           monkeypatch=monkeypatch)
    assert rc == 0, err
    assert json.loads(out)["snapshot"] == "-"
    rc, _, err = envsnap("diff", "--baseline", "-", "-", stdin=text, monkeypatch=monkeypatch)
    assert rc == 2 and "read only once" in err
