"""The file edge: TOML/JSON text <-> Snapshot, and atomic writes."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import probes, tomlreader
from .errors import BadInputError, SnapshotFormatError
from .snapshot import (
    PackageMemo,
    Snapshot,
    content_digest,
    from_dict,
    remember_digest,
    to_dict,
)


class SnapshotEditedWarning(UserWarning):
    """The snapshot's content no longer matches the digest written at capture time."""


# ---------------------------------------------------------------------------------------------
# Writing: a small emitter, because the layout is ours to fix (one line per package, stable
# order, sections in reading order) and no TOML library writes it. It is proven against the
# reader by a Hypothesis property test: tomllib.loads(dumps(s)) == to_dict(s) for hostile
# strings of every kind.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')

# Top-level tables in the order a reader wants them: identity first, then what each probe
# fills (the registry's order, long lists last).
def _section_order() -> tuple[str, ...]:
    return ("meta", "probes", *probes.file_sections())


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _str(k)


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


# A literal string ('...') when the value allows one (no quote, no control character): TOML
# readers take it verbatim, and tomllib finds its end with one str.index instead of a loop over
# each character, which makes reading a snapshot (mostly strings) markedly faster.
_NOT_LITERAL = re.compile(r"['\x00-\x08\x0a-\x1f\x7f]")


def _str(s: str) -> str:
    if _NOT_LITERAL.search(s) is None:
        return f"'{s}'"
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError("TOML snapshot values must be finite")
        return repr(v)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to a snapshot")


def _is_records(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _assignment(k: str, v: Any) -> list[str]:
    """``key = value``; an array of records one inline table per line, so that each record
    diffs as a line (a framework's bindings, inside a section or an array of tables alike)."""
    if _is_records(v):
        return [f"{_key(k)} = [", *(f"  {_scalar(x)}," for x in v), "]"]
    return [f"{_key(k)} = {_scalar(v)}"]


def _emit_section(lines: list[str], path: str, table: Mapping[str, Any]) -> None:
    if table and all(isinstance(x, Mapping) for x in table.values()):
        # A table of records (packages, probes): one inline table per line.
        lines.append(f"\n[{path}]")
        lines.extend(f"{_key(name)} = {_scalar(rec)}" for name, rec in table.items())
        return
    subtables: list[tuple[str, Mapping[str, Any]]] = []
    body: list[str] = []
    for k, v in table.items():
        if isinstance(v, Mapping):
            subtables.append((k, v))
        else:
            body.extend(_assignment(k, v))
    if body or not subtables:
        lines.append(f"\n[{path}]")
        lines.extend(body)
    for k, sub in subtables:
        _emit_section(lines, f"{path}.{_key(k)}", sub)


def dumps_data(data: Mapping[str, Any]) -> str:
    """Render the plain-data form of a snapshot as TOML text."""
    lines = [
        "# envsnap snapshot: https://github.com/envsnap/envsnap/blob/main/docs/snapshot-format.md",
        f"schema = {_scalar(data['schema'])}",
        f"digest = {_scalar(data['digest'])}",
    ]
    order = {name: i for i, name in enumerate(_section_order())}
    rest = sorted((k for k in data if k not in ("schema", "digest")), key=lambda k: order.get(k, 99))
    for k in rest:
        v = data[k]
        if isinstance(v, Mapping):
            _emit_section(lines, _key(k), v)
        elif _is_records(v):
            # A top-level array must not follow a [table] header (it would land inside it),
            # so records at the top level are written as an array of tables.
            for record in v:
                lines.append(f"\n[[{_key(k)}]]")
                for rk, rv in record.items():
                    lines.extend(_assignment(rk, rv))
        else:
            lines.insert(3, f"{_key(k)} = {_scalar(v)}")
    return "\n".join(lines) + "\n"


def dumps(snapshot: Snapshot) -> str:
    return dumps_data(to_dict(snapshot))


def dumps_json(snapshot: Snapshot) -> str:
    return json.dumps(to_dict(snapshot), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading: TOML through tomllib's parser (tomlreader), JSON through json with duplicate keys and
# non-finite numbers refused (both of which the json module would otherwise accept).

def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid value")


def parse_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


# A snapshot nests 4 levels deep; readers differ in how deep they can go (the compiled tomli
# deeper than the pure-Python tomllib), so anything far beyond is refused by this one rule.
MAX_DEPTH = 32


def _depth_ok(data: Any) -> bool:
    """No container deeper than MAX_DEPTH. Level by level, keeping only containers: most
    values are strings, and this runs on every load (readers give exact dicts and lists)."""
    level = [data] if type(data) in (dict, list) else []
    for _ in range(MAX_DEPTH):
        if not level:
            return True
        level = [x for v in level for x in (v.values() if type(v) is dict else v)
                 if type(x) is dict or type(x) is list]
    return not level


def _no_lone_surrogates(data: Any) -> None:
    # JSON's "\ud800" escapes decode to strings no UTF-8 file can hold.
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone UTF-16 surrogate") from None


# ---------------------------------------------------------------------------------------------
# What a file is: a snapshot is TOML (or the JSON `capture --json` writes); anything else is
# named, so `show pylock.toml` says what it was given instead of a parser's complaint.

_NOT_SNAPSHOT = "not a snapshot ('envsnap capture' writes those)"
_YAML_KEY = re.compile(r"[A-Za-z_][\w.-]*:(\s|$)")
_REQUIREMENT = re.compile(r"(-[rcef]\s|--[a-z-]+|[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?"
                          r"\s*(===?|>=|<=|~=|!=|<|>|@|;|\\|$))")


def _looks_json(text: str) -> bool:
    """JSON by its first character: an object, or an array (a TOML table header such as
    ``[meta]`` starts with '[' too, but is no JSON)."""
    head = text.lstrip()
    if head.startswith("{"):
        return True
    if not head.startswith("["):
        return False
    try:
        parse_json(head)
    except (ValueError, RecursionError):
        return False
    return True


def _not_toml(text: str) -> str | None:
    """What a file that is not TOML is instead, when it is plain to see."""
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return None
    if lines[0].startswith("<"):
        return "HTML or XML"
    if lines[0].upper().startswith("FROM "):
        return "a Dockerfile"
    if lines[0] == "---" or _YAML_KEY.match(lines[0]):
        return "YAML (conda-lock.yml or the like)"
    if all(_REQUIREMENT.match(ln) for ln in lines[:200]):
        return "a requirements file"
    return None


def _what_else(data: Any, fmt: str) -> str | None:
    """What parsed data is when it is plainly not a snapshot, or None."""
    if not isinstance(data, dict):
        return f"{fmt} holding {'a list' if isinstance(data, list) else 'a single value'}"
    schema = data.get("schema")
    if isinstance(schema, str) and schema.startswith("envsnap."):
        kind = schema.removeprefix("envsnap.").partition("/")[0]
        return f"an envsnap {kind} report (schema {schema!r})"
    if data.get("bomFormat") == "CycloneDX":
        return "a CycloneDX SBOM ('envsnap export' writes these)"
    if "captured_at" in data and "meta" not in data:
        return "a snapshot summary ('envsnap show --json' writes these)"
    if "lock-version" in data:
        return "a PEP 751 lockfile (pylock.toml)"
    if schema is None and ({"build-system", "project", "tool"} & data.keys()):
        return "a pyproject.toml"
    return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a snapshot is read. Reading builds trees
    (tomllib's dicts, lists and strings, then frozen records): nothing a collection could free,
    but the passes over a heap growing by hundreds of thousands of containers were a fifth of a
    10,000-package load and more of a larger one (benchmarks/README.md). Turned back on after;
    the next collection finds whatever there is to find."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True, slots=True)
class Parsed:
    """A snapshot file's data, known to be a snapshot's, before it becomes the model: what a
    process reading a file in the background hands back (plain data pickles, the model's
    read-only mappings do not)."""

    data: dict[str, Any]
    source: str | None
    # True: the content matches the digest the file states; False: it does not (yet: the
    # model's canonical form may, see snapshot_of); None: the file states none.
    intact: bool | None


def parse(text: str, *, source: str | None = None) -> Parsed:
    """Snapshot text (TOML, or JSON as written by ``--json``) -> its data, checked to be a
    snapshot's (SnapshotFormatError otherwise, naming ``source``), and whether it is intact."""
    try:
        text.encode("utf-8")  # text no UTF-8 file can hold (a lone surrogate from a decoder)
    except UnicodeEncodeError as exc:
        raise SnapshotFormatError(f"not valid Unicode text (character {exc.start})",
                                  file=source) from None
    fmt = "JSON" if _looks_json(text) else "TOML"
    try:
        with collector_paused():
            if fmt == "JSON":
                data: Any = parse_json(text)
                _no_lone_surrogates(data)
            else:
                data = tomlreader.loads(text)
    except RecursionError:
        raise SnapshotFormatError(f"not a valid snapshot file (nested more than {MAX_DEPTH} "
                                  "levels deep)", file=source) from None
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError both are
        other = _not_toml(text) if fmt == "TOML" else None
        if other is not None:
            # YAML's `key: value` is also how a hand-edited TOML line goes wrong: the parser's
            # words (with the line) stay beside the guess.
            why = f"; as TOML: {exc}" if other.startswith("YAML") else ""
            raise SnapshotFormatError(f"{other}, {_NOT_SNAPSHOT}{why}", file=source) from None
        raise SnapshotFormatError(f"not valid {fmt} ({exc})", file=source) from None
    if not _depth_ok(data):
        raise SnapshotFormatError(f"not a valid snapshot file (nested more than {MAX_DEPTH} "
                                  "levels deep)", file=source)
    other = _what_else(data, fmt)
    if other is not None:
        raise SnapshotFormatError(f"{other}, {_NOT_SNAPSHOT}", file=source)
    stored = data.get("digest")
    # The data as parsed is the canonical form whenever this version wrote the file: one hash.
    intact = stored == content_digest(data) if isinstance(stored, str) else None
    return Parsed(data=data, source=source, intact=intact)


def snapshot_of(parsed: Parsed, *, memo: PackageMemo | None = None) -> Snapshot:
    """The model of parsed snapshot data (``memo``: see from_dict). Warns (SnapshotEditedWarning)
    when the content no longer matches the digest the file states: neither as parsed nor in
    the model's canonical form (a file that writes a default value out, or a key order of its
    own, was not edited)."""
    try:
        with collector_paused():
            snapshot = from_dict(parsed.data, memo=memo)
    except SnapshotFormatError as exc:
        if parsed.source and exc.file is None:
            raise type(exc)(exc.message, path=exc.key_path, file=parsed.source) from None
        raise
    stored = parsed.data.get("digest")
    if parsed.intact and isinstance(stored, str):
        remember_digest(snapshot, stored)
    elif parsed.intact is False and snapshot.digest != stored:
        warnings.warn(
            SnapshotEditedWarning(
                f"{parsed.source or 'snapshot'}: content does not match its digest "
                "(it was edited after capture)"
            ),
            stacklevel=3,
        )
    return snapshot


def loads(text: str, *, source: str | None = None, memo: PackageMemo | None = None) -> Snapshot:
    """Parse snapshot text (TOML, or JSON as written by ``--json``); ``memo``: see from_dict."""
    return snapshot_of(parse(text, source=source), memo=memo)


# A 10,000-package snapshot is ~1.5 MB; anything past this is not one (or is /dev/zero).
MAX_SNAPSHOT_BYTES = 64 * 2**20


def _read_capped(fh: Any, name: str) -> bytes:
    raw: bytes = fh.read(MAX_SNAPSHOT_BYTES + 1)
    if len(raw) > MAX_SNAPSHOT_BYTES:
        raise BadInputError(f"{name}: larger than {MAX_SNAPSHOT_BYTES // 2**20} MiB, not a snapshot")
    return raw


def _decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError(f"not UTF-8 text (byte {exc.start})", file=name) from None
    if not text.strip():
        raise SnapshotFormatError("empty file, expected a snapshot", file=name)
    return text


def load(path: str | os.PathLike[str], *, memo: PackageMemo | None = None) -> Snapshot:
    """Read a snapshot file (``-`` is standard input); errors name the file and the problem
    in one line. Reads at most MAX_SNAPSHOT_BYTES: a device or a runaway pipe cannot exhaust
    memory. A FIFO is read like a file (``envsnap diff <(...) b.toml``)."""
    return snapshot_of(read(path), memo=memo)


def read(path: str | os.PathLike[str]) -> Parsed:
    """A snapshot file's data (load without the model: see Parsed); errors as load's."""
    p = os.fspath(path)
    if p == "-":
        return parse(_decode(_read_capped(sys.stdin.buffer, "stdin"), "stdin"), source="stdin")
    try:
        with open(p, "rb") as fh:
            raw = _read_capped(fh, p)
    except FileNotFoundError:
        raise BadInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{p}: is a directory, expected a snapshot file") from None
    except OSError as exc:
        raise BadInputError(f"{p}: cannot read ({exc.strerror})") from None
    return parse(_decode(raw, p), source=p)



# ---------------------------------------------------------------------------------------------
# Writing files: atomic, and never over a file envsnap did not write (the one rule every
# command's output goes through).

# Text outputs say who wrote them in a comment near their top: lockfiles ("autogenerated by
# envsnap", "Generated by envsnap"), the Dockerfile, snapshots ("# envsnap snapshot:").
_OUR_HEADER = re.compile(r"^#.*(?:generated by envsnap|envsnap snapshot:)", re.IGNORECASE)
_HEADER_LINES = 5
# Outputs that cannot hold a comment (JSON, wheels copied into a build context) are listed,
# with their sha256, in this file in the folder they were written to.
MANIFEST = ".envsnap-manifest.json"
_MANIFEST_KIND = "envsnap outputs: files envsnap wrote here (name -> sha256); it replaces only these"


def marked(text: str) -> bool:
    """True when ``text``'s header (the comment lines it starts with) says envsnap wrote it."""
    for line in text.splitlines()[:_HEADER_LINES]:
        if not line.startswith("#"):
            return False
        if _OUR_HEADER.match(line):
            return True
    return False


def _file_marked(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return marked(head.decode("utf-8", "replace"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (wheels run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(folder: str) -> dict[str, str]:
    path = os.path.join(folder, MANIFEST)
    if not os.path.lexists(path):
        return {}
    data = None
    if os.path.isfile(path) and not os.path.islink(path):  # never open a FIFO or follow a link
        try:
            with open(path, encoding="utf-8") as fh:
                data = parse_json(fh.read(MAX_SNAPSHOT_BYTES))
        except (OSError, ValueError):
            data = None
    files = data.get("files") if isinstance(data, dict) and data.get("kind") == _MANIFEST_KIND else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise BadInputError(f"{path}: exists and is not envsnap's manifest; refusing to replace it")
    return dict(files)


def _write_manifest(folder: str, files: Mapping[str, str]) -> None:
    text = json.dumps({"kind": _MANIFEST_KIND, "files": dict(sorted(files.items()))}, indent=1)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{MANIFEST}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(folder, MANIFEST))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _inside(root: str, name: str) -> str:
    """``root/name``, refused when ``name`` leaves ``root`` or a folder on the way is a
    symbolic link: -o is resolved once (the user named it), nothing below it redirects."""
    parts = name.split("/")
    if os.path.isabs(name) or ".." in parts or "" in parts:
        raise BadInputError(f"{name}: not a file name inside {root}")
    for depth in range(1, len(parts)):
        folder = os.path.join(root, *parts[:depth])
        if os.path.islink(folder):
            raise BadInputError(f"{folder}: is a symbolic link inside the output folder; "
                                "refusing to write through it (remove it, or name its target "
                                "as the output)")
    return os.path.join(root, *parts)


def _refuse_foreign(target: str, recorded: str | None, *, force: bool) -> None:
    """The rule: an existing file is replaced only when envsnap wrote it (its header says so,
    or the folder's manifest holds its current sha256), or with ``force``."""
    if os.path.islink(target):
        raise BadInputError(f"{target}: is a symbolic link; name the file it points to "
                            f"({os.path.realpath(target)}) to write there")
    if not os.path.lexists(target):
        return
    if os.path.isdir(target):
        raise BadInputError(f"{target}: is a directory, expected a file name")
    if not os.path.isfile(target):
        # A FIFO or a device: replacing it with a file would surprise, writing into it hang.
        raise BadInputError(f"{target}: exists and is not a regular file")
    if force:
        return
    try:
        ours = _file_marked(target) or (recorded is not None and sha256_file(target) == recorded)
    except OSError as exc:
        raise BadInputError(f"{target}: cannot read ({exc.strerror or exc})") from None
    if not ours:
        raise BadInputError(f"{target}: exists and was not written by envsnap; refusing to "
                            "replace it (move it away, choose another -o, or pass --force)")


def check_replaceable(path: str | os.PathLike[str], *, force: bool = False) -> None:
    """Raise BadInputError (exit 2) now, before any work, when writing ``path`` later would be
    refused: the same rule atomic_writer applies."""
    parent, name = os.path.split(os.fspath(path))
    parent = parent or os.curdir
    manifest = _read_manifest(parent) if os.path.isdir(parent) else {}
    _refuse_foreign(os.fspath(path), manifest.get(name), force=force)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "w", *,
                  force: bool = False) -> Iterator[Any]:
    """Write to a temp file beside ``path`` and rename it into place only on success.

    A crash or Ctrl-C leaves either the old file or none, never half of a new one. An
    existing file is replaced only when envsnap wrote it (see ``_refuse_foreign``).
    """
    target = os.fspath(path)
    # Split as given, not normalised: the kernel resolves `link/../x` as the user meant it.
    parent, name = os.path.split(target)
    parent = parent or os.curdir
    manifest = _read_manifest(parent) if os.path.isdir(parent) else {}
    _refuse_foreign(target, manifest.get(name), force=force)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        unmarked = not _file_marked(tmp)
        if unmarked or name in manifest:
            if unmarked:
                manifest[name] = sha256_file(tmp)
            else:
                del manifest[name]
            _write_manifest(parent, manifest)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_EXTENSIONS = {".toml": "TOML", ".json": "JSON"}


def check_extension(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse (exit 2) to write ``fmt`` ("TOML"/"JSON") into a file whose name says the other:
    every reader, envsnap's included, goes by the name first."""
    stem, ext = os.path.splitext(os.fspath(path))
    named = _EXTENSIONS.get(ext.lower())
    if named is not None and named != fmt:
        right = next(e for e, f in _EXTENSIONS.items() if f == fmt)
        raise BadInputError(f"{os.fspath(path)}: refusing to write {fmt} into a {ext} file; "
                            f"name it {stem}{right}")


def write_text_atomic(path: str | os.PathLike[str], text: str, *, force: bool = False) -> None:
    try:
        with atomic_writer(path, force=force) as fh:
            fh.write(text)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_files_atomic(dest: str | os.PathLike[str], files: Mapping[str, str], *,
                       copies: Mapping[str, str | os.PathLike[str]] | None = None,
                       folders: Sequence[str] = (), force: bool = False) -> None:
    """Write several files into ``dest`` (a folder, created if missing) as a set: all are
    written into a temporary folder first, then moved into place, so a failure while writing
    (a full disk, Ctrl-C) leaves none of the new files, never part of a set. Names may hold
    sub-folders (``lock/requirements.txt``); none may pass through a symbolic link. ``copies``
    are files copied byte for byte (wheels into a build context; one already there with the
    same bytes is kept), ``folders`` are created even when empty. Every existing file is
    checked before anything is written: one envsnap did not write stops the whole set."""
    root = os.fspath(dest)
    sources = {name: os.fspath(src) for name, src in (copies or {}).items()}
    if os.path.exists(root) and not os.path.isdir(root):
        raise BadInputError(f"{root}: exists and is not a directory")
    manifest = _read_manifest(root) if os.path.isdir(root) else {}
    keep: set[str] = set()
    for name in [*files, *sources]:
        target = _inside(root, name)
        if (name in sources and not os.path.islink(target) and os.path.isfile(target)
                and sha256_file(target) == sha256_file(sources[name])):
            keep.add(name)  # already there, byte for byte: nothing to write
            continue
        _refuse_foreign(target, manifest.get(name), force=force)
    for folder in folders:
        _inside(root, f"{folder}/-")
    created = not os.path.exists(root)
    try:
        os.makedirs(root, exist_ok=True)
        staging = tempfile.mkdtemp(dir=root, prefix=".envsnap-")
    except OSError as exc:
        raise BadInputError(f"{root}: cannot write ({exc.strerror or exc})") from None
    try:
        recorded = dict(manifest)
        for name, text in files.items():
            path = os.path.join(staging, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(path, 0o644)
            if marked(text):
                recorded.pop(name, None)
            else:
                recorded[name] = sha256_file(path)
        for name, src in sources.items():
            if name in keep:
                continue
            path = os.path.join(staging, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(src, path)
            os.chmod(path, 0o644)
            recorded[name] = sha256_file(path)
        for folder in folders:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        for name in [*files, *(c for c in sources if c not in keep)]:
            # Renames within one file system: each is atomic and cannot fill a disk.
            target = os.path.join(root, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(os.path.join(staging, name), target)
        if recorded != manifest:
            _write_manifest(root, recorded)
    except OSError as exc:
        raise BadInputError(f"{root}: cannot write ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not os.listdir(root):
            os.rmdir(root)


def dump(snapshot: Snapshot, path: str | os.PathLike[str], *, fmt: str = "toml",
         force: bool = False) -> None:
    """Write a snapshot atomically (TOML by default, JSON with ``fmt='json'``); an existing
    file envsnap did not write is replaced only with ``force``."""
    text = dumps_json(snapshot) if fmt == "json" else dumps(snapshot)
    write_text_atomic(path, text, force=force)
