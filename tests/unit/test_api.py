"""The public Python API: names stay the functions even after their modules are imported."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import envsnap


def test_api_functions_survive_submodule_imports() -> None:
    # Each API function lives in a module whose name differs from it: importing the module
    # cannot rebind the package attribute.
    for module in ("capturing", "drift", "gate", "io", "snapshot"):
        importlib.import_module(f"envsnap.{module}")
    assert inspect.isfunction(envsnap.capture)
    assert inspect.isfunction(envsnap.diff)
    assert inspect.isfunction(envsnap.check)
    assert inspect.isfunction(envsnap.load) and inspect.isfunction(envsnap.dump)
    assert envsnap.SCHEMA_VERSION == 2
    assert set(envsnap.__all__) >= {"capture", "load", "dump", "diff", "check", "Snapshot"}


def test_round_trip_through_the_public_api(tmp_path) -> None:  # type: ignore[no-untyped-def]
    snap = envsnap.capture(only=("os", "cpu"))
    path = tmp_path / "s.toml"
    envsnap.dump(snap, path)
    assert envsnap.load(path) == snap
    assert envsnap.diff(snap, envsnap.load(path)).changes == ()


def test_the_version_has_one_copy() -> None:
    # pyproject.toml reads it from envsnap/version.py: the installed metadata, the package and
    # the lockfile headers all say the same.
    from importlib.metadata import version

    from envsnap.version import __version__

    assert envsnap.__version__ == __version__ == version("envsnap")


def test_the_library_reads_files_and_the_command_line_resolves_mlflow_uris(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envsnap.cli import _input
    from envsnap.errors import BadInputError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInputError, match=r"^runs:/0123: no such file$"):
        envsnap.load("runs:/0123")  # a file name like any other: no tracking server is asked
    asked: list[str] = []
    monkeypatch.setattr("envsnap.integrations.mlflow.load_uri", asked.append)
    _input.read("runs:/0123")
    _input.read("models:/clf@champion")
    assert asked == ["runs:/0123", "models:/clf@champion"]
