"""[tool.envsnap] in pyproject.toml: what diff and check ignore, the --fail-on threshold, allow-build."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from . import compat, tomlreader
from .errors import BadInputError

FAIL_ON = compat.THRESHOLDS
DEFAULT_FAIL_ON = "critical"
TABLE = "[tool.envsnap]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignore:
    """Names diff and check leave out: packages by canonical name or fnmatch pattern
    (``nvidia-*``), environment variables by fnmatch pattern (``CI_*``, case-sensitive)."""

    packages: tuple[str, ...] = ()
    env: tuple[str, ...] = ()

    def package(self, name: str) -> bool:
        canonical = canonicalize_name(name)
        return any(fnmatch.fnmatchcase(canonical, p) for p in self.packages)

    def env_var(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.env)

    def __bool__(self) -> bool:
        return bool(self.packages or self.env)

    def extended(self, *, packages: Iterable[str] = (), env: Iterable[str] = ()) -> Ignore:
        return Ignore(packages=(*self.packages, *_package_patterns(packages)),
                      env=(*self.env, *env))


def _package_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    # Canonical like the names they are matched against: "Foo_Bar*" matches "foo-bar-x".
    return tuple(canonicalize_name(p) for p in patterns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    source: str | None = None  # the pyproject.toml it came from; None: defaults
    fail_on: str | None = None
    ignore: Ignore = field(default_factory=Ignore)
    ignore_extras: bool = False
    # lock / restore / build-image may build the sources a snapshot names on this machine
    # (the same consent as --allow-build): the project's own file, like its pip.conf.
    allow_build: bool = False

    def with_flags(self, *, fail_on: str | None = None, ignore_packages: Iterable[str] = (),
                   ignore_env: Iterable[str] = (), ignore_extras: bool = False) -> Config:
        """Command-line flags over the file: --fail-on replaces the configured threshold, the
        ignore flags add to the configured lists, --ignore-extras turns it on."""
        return replace(self, fail_on=fail_on or self.fail_on,
                       ignore=self.ignore.extended(packages=ignore_packages, env=ignore_env),
                       ignore_extras=ignore_extras or self.ignore_extras)

    @property
    def threshold(self) -> str:
        return self.fail_on or DEFAULT_FAIL_ON


_KEYS = ("fail-on", "ignore-packages", "ignore-env", "ignore-extras", "allow-build")


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadInputError(f"{where}: {TABLE} {key}: expected an array of non-empty strings")
    return tuple(v.strip() for v in value)


def parse(table: Mapping[str, Any], where: str) -> Config:
    """The ``[tool.envsnap]`` table -> Config. Raises BadInputError (exit 2) naming the file and
    key on anything it does not understand: a typo must not silently widen a CI gate."""
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise BadInputError(f"{where}: {TABLE}: unknown key {unknown[0]!r} "
                            f"(known: {', '.join(_KEYS)})")
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise BadInputError(f"{where}: {TABLE} fail-on: expected one of {', '.join(FAIL_ON)}, "
                            f"got {fail_on!r}")
    extras = table.get("ignore-extras", False)
    if not isinstance(extras, bool):
        raise BadInputError(f"{where}: {TABLE} ignore-extras: expected true or false")
    allow_build = table.get("allow-build", False)
    if not isinstance(allow_build, bool):
        raise BadInputError(f"{where}: {TABLE} allow-build: expected true or false")
    packages = _strings(table.get("ignore-packages", []), "ignore-packages", where)
    env = _strings(table.get("ignore-env", []), "ignore-env", where)
    return Config(source=where, fail_on=fail_on,
                  ignore=Ignore(packages=_package_patterns(packages), env=env),
                  ignore_extras=extras, allow_build=allow_build)


def find(start: str | os.PathLike[str]) -> tuple[Path, Mapping[str, Any]] | None:
    """The nearest pyproject.toml at or above ``start`` that has a ``[tool.envsnap]`` table,
    with that table; None when there is none. A pyproject.toml that is not TOML is an error
    (BadInputError, exit 2), as it would be for any tool reading it."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        try:
            text = candidate.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"{candidate}: cannot read ({exc})") from None
        if "envsnap" not in text:
            continue  # not ours: no need to parse someone else's file
        try:
            data = tomlreader.loads(text)
        except ValueError as exc:
            raise BadInputError(f"{candidate}: not valid TOML ({exc})") from None
        tool = data.get("tool")
        table = tool.get("envsnap") if isinstance(tool, Mapping) else None
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise BadInputError(f"{candidate}: {TABLE} must be a table")
        return candidate, table
    return None


def load(start: str | os.PathLike[str] | None = None) -> Config:
    """The configuration in effect in ``start`` (default: the current directory)."""
    found = find(start if start is not None else Path.cwd())
    if found is None:
        return Config()
    path, table = found
    return parse(table, str(path))
