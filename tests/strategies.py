"""Hypothesis strategies for the snapshot model and fake hosts, shared by the property tests."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from envsnap.host import RunResult
from envsnap.records import TRANSIENT
from envsnap.snapshot import (
    CondaEnv,
    CondaPackage,
    CudaInfo,
    Framework,
    Package,
    PythonEnv,
    Snapshot,
    Source,
)
from envsnap.testing import FakeHost

# ---------------------------------------------------------------------------------------------
# Hostile text: what breaks hand-written writers (quotes, backslashes, every control character,
# line separators, a BOM, astral characters) and keys that are not bare TOML keys.

# What validate refuses in free text: C0 and C1 controls, DEL, the Unicode line and paragraph
# separators (str.splitlines() breaks lines there: docs/snapshot-format.md).
CONTROL = (*(chr(c) for c in range(0x20)), *(chr(c) for c in range(0x7f, 0xa0)), "\u2028", "\u2029")
HOSTILE_CHARS = (
    '"', "\\", "'", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1b", "\x7f", "\x85", "\u2028",
    "\u2029", "\ufeff", "\U0001f600", "é", "ß", "=", ".", "#", "[", "]", "{", "}", ",", " ",
    "$", "`", ":", "@", "/",
)
HOSTILE_STRINGS = (
    "", " ", "a.b", "a b", "a-b", '"', "'", '""', "'''", '"""', "\\", "\\u0000", "\\n", "[x]",
    "[[x]]", "a = 1", "# c", "true", "nan", "inf", "-0", "1979-05-27", "\n[python]\n", "=",
    "\ufeff", "\r\n", "\x00", "x\ny", "e\u0301", "\U0001f600",
)
_NO_SURROGATES = st.characters(codec="utf-8")


def hostile_text(max_size: int = 12) -> st.SearchStrategy[str]:
    alphabet = st.one_of(st.sampled_from(HOSTILE_CHARS + CONTROL), _NO_SURROGATES)
    return st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(alphabet, max_size=max_size))


def safe_text(max_size: int = 12) -> st.SearchStrategy[str]:
    """Hostile text without control characters: what validate lets through free-text fields."""
    chars = tuple(c for c in HOSTILE_CHARS if c not in CONTROL)
    alphabet = st.one_of(st.sampled_from(chars),
                         st.characters(codec="utf-8", exclude_characters="".join(CONTROL)))
    return st.text(alphabet, max_size=max_size)


# The validated alphabets, written from their sources rather than copied from envsnap: PEP 508
# names (https://packaging.python.org/en/latest/specifications/name-normalization/), and the
# documented version, conda-field, variable-name and requirement alphabets
# (docs/snapshot-format.md, "Validation on load"). Built from text() rather than from_regex(),
# which is several times slower to draw from.
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _word(first: str, rest: str, *, last: str | None = None,
          max_size: int = 12) -> st.SearchStrategy[str]:
    """One character of ``first``, up to ``max_size`` of ``rest``, then one of ``last``."""
    head, body = st.sampled_from(first), st.text(st.sampled_from(rest), max_size=max_size)
    if last is None:
        return st.tuples(head, body).map("".join)
    return st.one_of(head, st.tuples(head, body, st.sampled_from(last)).map("".join))


names = _word(_ALNUM, _ALNUM + "._-", last=_ALNUM, max_size=10)
versions = _word(_ALNUM, _ALNUM + ".+!_*-")
conda_fields = _word(_ALNUM + "_", _ALNUM + "._+*-")
env_names = _word(_ALNUM[:52] + "_", _ALNUM + "_")
requirements = st.tuples(
    _word(_ALNUM, _ALNUM + "._-", max_size=8),
    st.one_of(st.just(""), st.text(st.sampled_from(_ALNUM + "._,-"), max_size=6).map("[{}]".format)),
    st.text(st.sampled_from(_ALNUM + ".*+!<>=~,_-"), max_size=12),
).map("".join)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


# ---------------------------------------------------------------------------------------------
# Records built by walking the dataclass annotations, as the model's own converter does, so a
# field added later is generated without touching this file.

Overrides = Mapping[tuple[type, str], st.SearchStrategy[Any]]


def _optional_of(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _for_type(tp: Any, text: st.SearchStrategy[str], overrides: Overrides) -> st.SearchStrategy[Any]:
    inner = _optional_of(tp)
    if inner is not tp:
        return st.one_of(st.none(), _for_type(inner, text, overrides))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return records(tp, text=text, overrides=overrides)
    if origin is tuple:
        return st.lists(_for_type(args[0], text, overrides), max_size=2).map(tuple)
    if origin in (Mapping, dict):
        return st.dictionaries(text, _for_type(args[1], text, overrides), max_size=2)
    leaves: dict[Any, st.SearchStrategy[Any]] = {str: text, int: INT64, bool: st.booleans()}
    if tp not in leaves:
        raise TypeError(f"no strategy for {tp!r}: add one to tests/strategies.py")
    return leaves[tp]


def records(cls: Any, *, text: st.SearchStrategy[str],
            overrides: Overrides | None = None) -> st.SearchStrategy[Any]:
    """Any instance of the record ``cls``; transient fields (never written) keep their default."""
    overrides = overrides or {}
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: overrides[(cls, f.name)] if (cls, f.name) in overrides
        else _for_type(hints[f.name], text, overrides)
        for f in dataclasses.fields(cls)
        if not f.metadata.get(TRANSIENT)
    }
    return st.builds(cls, **kwargs)


def _packages(text: st.SearchStrategy[str], overrides: Overrides,
              name: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[Package, ...]]:
    package = records(Package, text=text, overrides={**overrides, (Package, "name"): name})
    return st.lists(package, max_size=3, unique_by=lambda p: p.name).map(tuple)


def valid_snapshots() -> st.SearchStrategy[Snapshot]:
    """Snapshots that pass ``validate``: the validated fields from their safe alphabets (still
    hostile within them), every other field hostile. Package names are unique, as load needs."""
    text = hostile_text()
    clean = safe_text()
    env = st.dictionaries(env_names, clean, max_size=3)
    overrides: dict[tuple[type, str], st.SearchStrategy[Any]] = {
        (Snapshot, "schema"): st.sampled_from((1, 2)),
        (Snapshot, "env"): env,
        (CudaInfo, "declared"): env,
        (PythonEnv, "version"): versions,
        (PythonEnv, "indexes"): st.lists(clean, max_size=2).map(tuple),
        (Package, "version"): versions,
        (Package, "requires"): st.lists(requirements, max_size=3).map(tuple),
        (CondaPackage, "name"): names,
        (CondaPackage, "version"): conda_fields,
        (CondaPackage, "build"): conda_fields,
        (CondaPackage, "url"): st.none() | clean,
        (CondaPackage, "channel"): st.none() | clean,
        (CondaPackage, "requested_spec"): st.none() | clean,
        (CondaEnv, "requested_specs"): st.lists(clean, max_size=2).map(tuple),
        (Framework, "name"): names,
        (Framework, "version"): versions,
    }
    for attr in ("url", "vcs", "commit", "requested_revision", "subdirectory", "hash"):
        overrides[(Source, attr)] = st.none() | clean
    overrides[(PythonEnv, "packages")] = _packages(text, overrides, names)
    strategy: st.SearchStrategy[Snapshot] = records(Snapshot, text=text, overrides=overrides)
    return strategy


def hostile_snapshots() -> st.SearchStrategy[Snapshot]:
    """Every record type, every text field (keys included) drawn from hostile text. Package
    names are unique: the file keys packages by name, and capture never makes two of one name
    (sanitize, unlike validate, does not look for them)."""
    text = hostile_text()
    overrides: dict[tuple[type, str], st.SearchStrategy[Any]] = {
        (Snapshot, "schema"): st.sampled_from((1, 2)),  # the ones load reads
    }
    overrides[(PythonEnv, "packages")] = _packages(text, overrides, text)
    strategy: st.SearchStrategy[Snapshot] = records(Snapshot, text=text, overrides=overrides)
    return strategy


# ---------------------------------------------------------------------------------------------
# A fake machine with a Python environment at /env, served through FakeHost the way the real
# probes read it: the inspector's report from `python`, dist-info folders, conda-meta records.

PREFIX = "/env"
PYTHON = f"{PREFIX}/bin/python"
SITE = f"{PREFIX}/lib/python3.11/site-packages"


def inspector_facts(**changes: Any) -> dict[str, Any]:
    """The report envsnap/probes/_inspector.py prints, for a conda-style env at /env."""
    facts: dict[str, Any] = {
        "version": "3.11.7",
        "implementation": "cpython",
        "executable": PYTHON,
        "prefix": PREFIX,
        "base_prefix": PREFIX,
        "abi_tag": "cp311",
        "platform_tag": "linux_x86_64",
        "site_packages": [SITE],
        "sys_path": [f"{PREFIX}/lib/python311.zip", SITE],
        "conda": True,
        "markers": {
            "implementation_name": "cpython", "implementation_version": "3.11.7",
            "os_name": "posix", "platform_machine": "x86_64", "platform_release": "6.8.0",
            "platform_system": "Linux", "platform_version": "#1 SMP", "python_full_version": "3.11.7",
            "platform_python_implementation": "CPython", "python_version": "3.11",
            "sys_platform": "linux",
        },
    }
    facts.update(changes)
    return facts


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistInfo:
    """One ``<entry>`` folder in site-packages and the files in it (None: file absent)."""

    entry: str
    metadata: str | None
    installer: str | None = None
    direct_url: str | None = None
    wheel: str | None = None
    requested: bool = False

    def files(self) -> dict[str, str]:
        base = f"{SITE}/{self.entry}"
        out = {f"{base}/{name}": text for name, text in (
            ("METADATA", self.metadata), ("INSTALLER", self.installer),
            ("direct_url.json", self.direct_url), ("WHEEL", self.wheel),
            ("REQUESTED", "" if self.requested else None),
        ) if text is not None}
        if not out:
            out[f"{base}/RECORD"] = ""  # an empty folder still lists
        return out


def metadata_text(name: str, version: str, requires: Sequence[str] = ()) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\nA long description.\n"


def python_host(
    *,
    facts: Mapping[str, Any] | str | None = None,
    dists: Sequence[DistInfo] = (),
    conda_records: Mapping[str, Mapping[str, Any] | str] | None = None,
    history: str | None = None,
    environ: Mapping[str, str] | None = None,
    files: Mapping[str, bytes | str] | None = None,
    **host: Any,
) -> FakeHost:
    """A FakeHost whose ``python`` prints ``facts`` (a dict, or raw stdout) and whose prefix holds
    ``dists`` and, when given, ``conda-meta/<file>.json`` records (dicts, or raw JSON text)."""
    report = facts if isinstance(facts, str) else repr(dict(facts or inspector_facts()))
    all_files: dict[str, bytes | str] = {PYTHON: ""}
    for dist in dists:
        all_files.update(dist.files())
    if conda_records is not None:
        all_files[f"{PREFIX}/conda-meta/history"] = history or ""
        for file_name, record in conda_records.items():
            body = record if isinstance(record, str) else json.dumps(record)
            all_files[f"{PREFIX}/conda-meta/{file_name}.json"] = body
    all_files.update(files or {})
    commands = {"python": RunResult(returncode=0, stdout=report), **host.pop("commands", {})}
    return FakeHost(files=all_files, commands=commands, environ=dict(environ or {}), **host)
