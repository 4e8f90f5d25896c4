"""Frozen dataclasses <-> plain data (what TOML and JSON hold), by their annotations; generic."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass, replace
from typing import Any

from .errors import SnapshotFormatError
from .text import has_surrogate

# Field metadata key: kept in memory for capture's own use, never written or compared.
TRANSIENT = "envsnap.transient"

# Fields equal to their default are omitted: TOML has no null, and short lines keep `git diff`
# of two snapshots readable. Reading walks the annotations, so a new field cannot be
# forgotten in one direction.
_WRITTEN: dict[type, tuple[tuple[str, Any], ...]] = {}


def _written_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) of the fields a record writes; transient ones left out."""
    spec = _WRITTEN.get(cls)
    if spec is None:
        spec = tuple(
            (f.name, f.default_factory() if f.default_factory is not MISSING else f.default)
            for f in fields(cls)
            if not f.metadata.get(TRANSIENT)
        )
        _WRITTEN[cls] = spec
    return spec


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float)):  # bool is an int
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if is_dataclass(value) and not isinstance(value, type):
        return record_to_dict(value)
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


def record_to_dict(obj: Any) -> dict[str, Any]:
    """A record's plain data: the fields not equal to their defaults, transient ones left out."""
    out: dict[str, Any] = {}
    for name, default in _written_fields(type(obj)):
        value = getattr(obj, name)
        if value is None or value == default:
            continue
        out[name] = _plain(value)
    return out




def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


TYPE_WORDS = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}


def what(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return TYPE_WORDS.get(type(value)) or f"a {type(value).__name__}"  # datetime, date, time


Converter = Callable[[Any, str], Any]
_CONVERTERS: dict[Any, Converter] = {}


def converter(tp: Any) -> Converter:
    """The reader of one annotation (a dataclass, a tuple, a mapping or a scalar): plain data in,
    the model out, checked against the annotation; a wrong type names its key path."""
    conv = _CONVERTERS.get(tp)
    if conv is None:
        conv = _build_converter(tp)
        _CONVERTERS[tp] = conv
    return conv


def _optional_of(tp: Any) -> Any:
    """``X | None`` -> X; anything else -> itself."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported annotation {tp!r}")
        return args[0]
    return tp


def _build_converter(tp: Any) -> Converter:
    tp = _optional_of(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_dataclass(tp):
        return _record_converter(tp)
    if origin is tuple:
        item = converter(args[0])

        def array(v: Any, path: str) -> tuple[Any, ...]:
            if type(v) is not list:
                raise SnapshotFormatError(f"expected an array, got {what(v)}", path=path)
            return tuple([item(x, f"{path}[{i}]") for i, x in enumerate(v)])
        return array
    if origin in (Mapping, dict):
        value_conv = converter(args[1])

        def table(v: Any, path: str) -> dict[str, Any]:
            if not isinstance(v, Mapping):
                raise SnapshotFormatError(f"expected a table, got {what(v)}", path=path)
            return {k: value_conv(x, join(path, k)) for k, x in v.items()}
        return table
    if tp not in TYPE_WORDS:
        raise TypeError(f"unsupported annotation {tp!r}")
    want = f"expected {TYPE_WORDS[tp]}"

    def scalar(v: Any, path: str) -> Any:
        # Exact type: bool is an int subclass and must not pass as one, or the other way.
        if type(v) is not tp:
            raise SnapshotFormatError(f"{want}, got {what(v)}", path=path)
        return v
    return scalar


def _record_converter(cls: Any) -> Converter:
    hints = typing.get_type_hints(cls)
    scalars: dict[str, type] = {}  # checked inline: most of a record's fields
    convs: dict[str, Converter] = {}
    required: list[str] = []
    nullable: list[str] = []
    for f in fields(cls):
        if f.metadata.get(TRANSIENT):
            continue
        tp = _optional_of(hints[f.name])
        if tp in TYPE_WORDS:
            scalars[f.name] = tp
        else:
            convs[f.name] = converter(tp)
        if f.default is MISSING and f.default_factory is MISSING:
            (nullable if tp is not hints[f.name] else required).append(f.name)

    def record(data: Any, path: str) -> Any:
        if not isinstance(data, Mapping):
            raise SnapshotFormatError(f"expected a table, got {what(data)}", path=path or None)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            tp = scalars.get(key)
            if tp is not None:
                # Exact type: bool is an int subclass and must not pass as one, or the other way.
                if type(value) is not tp:
                    raise SnapshotFormatError(f"expected {TYPE_WORDS[tp]}, got {what(value)}",
                                              path=join(path, key))
                kwargs[key] = value
                continue
            conv = convs.get(key)
            if conv is not None:  # unknown keys, from a newer minor version, are ignored
                kwargs[key] = conv(value, join(path, key))
        for name in required:
            if name not in kwargs:
                raise SnapshotFormatError("missing required key", path=join(path, name))
        for name in nullable:
            kwargs.setdefault(name, None)  # None is never written: TOML has no null
        return cls(**kwargs)
    return record


def escape_surrogates(value: Any, escaped: list[str]) -> Any:
    """``value`` with every lone surrogate in its text (undecodable bytes, as Python hands them
    over) written as its escape (``\\udcff``), each changed text added to ``escaped``; records,
    tuples and mappings rebuilt only where something changed."""
    if isinstance(value, str):
        if has_surrogate(value):
            fixed = value.encode("utf-8", "backslashreplace").decode("utf-8")
            escaped.append(fixed)
            return fixed
        return value
    if isinstance(value, tuple):
        items = tuple(escape_surrogates(v, escaped) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, Mapping):
        pairs = [(escape_surrogates(k, escaped), escape_surrogates(v, escaped))
                 for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in fields(value):
            old = getattr(value, f.name)
            new = escape_surrogates(old, escaped)
            if new is not old:
                changes[f.name] = new
        return replace(value, **changes) if changes else value
    return value
