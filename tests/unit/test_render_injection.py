"""Every field the Dockerfile and lockfile renderers use, fed newlines, quotes and escapes: the
output is refused with a one-line error, or has exactly the lines of a plain rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from envsnap.errors import BadInputError
from envsnap.image import choose_base, render
from envsnap.lock import LockedFile, LockedPin, plan
from envsnap.lock.model import HashedLock
from envsnap.lock.pylock import render_pylock
from envsnap.lock.requirements import render_requirements
from envsnap.snapshot import Package, PythonEnv, Snapshot, Source

H = "d" * 64
HOSTILE = [
    "x\nRUN id", "x\rRUN id", "x\r\nRUN id", 'x"y', "x\\y", "x\\\nRUN id", "$(id)", "${HOME}", "`id`",
    "x\x00y", "x\x1b[2Jy", "x\u2028RUN id", "x\x85y", "x y", "x;id", "x&&id", "x'y", "x#y",
    "x\ty", "", " ", "3.20\n", "é",
]


def _snap(pkgs: tuple[Package, ...] = (), env: dict[str, str] | None = None,
          version: str = "3.11.7") -> Snapshot:
    pkgs = pkgs or (Package(name="six", version="1.16.0"), Package(name="torch", version="2.3.1+cu121"))
    return Snapshot(python=PythonEnv(version=version, implementation="cpython", abi_tag="cp311",
                                     packages=pkgs), env=env or {"PYTHONHASHSEED": "0"})


def _lock(snap: Snapshot, *, sha: str = H, filename: str | None = None,
          url: str | None = None) -> HashedLock:
    p = plan(snap)
    return HashedLock(plan=p, unlockable=(), policy="wheelhouse", pins=tuple(
        LockedPin(name=x.name, version=x.version, origin="wheelhouse", files=(LockedFile(
            filename=filename or f"{x.name}-{x.version}-py3-none-any.whl", sha256=sha,
            size=1000, url=url),)) for x in p.pins))


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instruction keywords, continuation lines joined."""
    logical = re.sub(r"\\\n", " ", text)
    return [ln.split()[0] for ln in logical.splitlines() if ln.strip() and not ln.startswith("#")]


def _build(**hostile: Any) -> dict[str, str]:
    """Render the Dockerfile, requirements.txt and pylock.toml with one hostile field."""
    env = {"PYTHONHASHSEED": hostile.get("env_value", "0")}
    if "env_name" in hostile:
        env = {hostile["env_name"]: "0"}
    pkg = Package(name=hostile.get("name", "six"), version=hostile.get("version", "1.16.0"),
                  source=Source(kind="vcs", url=hostile["source_url"], vcs="git", commit="a" * 40)
                  if "source_url" in hostile else None)
    snap = _snap((pkg, Package(name="torch", version="2.3.1+cu121")), env=env,
                 version=hostile.get("python", "3.11.7"))
    lock = _lock(snap, sha=hostile.get("sha256", H), filename=hostile.get("filename"),
                 url=hostile.get("file_url"))
    base = choose_base(snap, hostile.get("base_ref", "envsnap-base:bookworm"))
    if "base_python" in hostile:
        base = replace(base, python=hostile["base_python"])
    labels = {hostile.get("label_key", "team"): hostile.get("label_value", "vision")}
    image = render(snap, lock, base=base, offline=True, labels=labels)
    return {
        "Dockerfile": image.dockerfile,
        "requirements.txt": render_requirements(lock, command=hostile.get("command", "envsnap lock s"),
                                                digest=snap.digest),
        "pylock.toml": render_pylock(lock, digest=snap.digest, command="envsnap lock s"),
        **image.files,
    }


FIELDS = ("env_value", "env_name", "name", "version", "source_url", "python", "sha256", "filename",
          "file_url", "base_ref", "base_python", "label_key", "label_value", "command")


def _shape(files: dict[str, str]) -> dict[str, Any]:
    return {
        "instructions": _instructions(files["Dockerfile"]),
        "lines": {name: len(text.splitlines()) for name, text in files.items() if name != "snapshot.toml"},
        "requirement_lines": [re.sub(r"[^ =\\-]+", "w", ln)[:3]
                              for ln in files["requirements.txt"].splitlines() if not ln.startswith("#")],
    }


PLAIN = _shape(_build())


@pytest.mark.parametrize("field", FIELDS)
def test_every_rendered_field_refuses_or_keeps_the_shape(field: str) -> None:
    refused = kept = 0
    for value in HOSTILE:
        if field == "base_ref" and not value:
            continue  # an empty --base-image means "choose one": not a value to refuse
        try:
            files = _build(**{field: value})
        except BadInputError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc), (field, value, str(exc))
            refused += 1
            continue
        kept += 1
        shape = _shape(files)
        assert shape["instructions"] == PLAIN["instructions"], (field, value)
        assert shape["lines"] == PLAIN["lines"], (field, value)
        for name, text in files.items():
            assert "\r" not in text and "\x00" not in text and "\x1b" not in text, (field, value, name)
            assert "\u2028" not in text and "\x85" not in text, (field, value, name)
            # No line of any output starts an instruction the plain rendering does not have.
            for line in text.splitlines():
                assert not line.lstrip().startswith("RUN id"), (field, value, name, line)
    assert refused + kept == len(HOSTILE) - (field == "base_ref")
    # Every field's alphabet refuses a newline, but the command: a comment, escaped instead.
    assert refused >= 1 or field == "command", field


def test_a_command_line_is_a_comment_and_stays_one() -> None:
    # The lockfile header quotes the command; whatever it holds, it is one comment line.
    for value in HOSTILE:
        try:
            text = _build(command=f"envsnap lock {value}")["requirements.txt"]
        except BadInputError:
            continue
        header = [ln for ln in text.splitlines() if "envsnap lock" in ln]
        assert all(ln.startswith("#") for ln in header), (value, header)


def test_validators_match_the_whole_value() -> None:
    check: Callable[..., dict[str, str]] = _build
    for field, value in (("version", "1.16.0\n"), ("base_python", "python3\n"),
                         ("base_ref", "envsnap-base:bookworm\n"), ("label_key", "team\n")):
        with pytest.raises(BadInputError):
            check(**{field: value})
