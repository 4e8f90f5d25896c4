"""conda packages read straight from ``conda-meta/*.json`` (no conda binary), and which
Python distributions conda owns versus what pip installed on top."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..host import Host, read_text
from ..redact import redact_text, redact_url
from ..snapshot import CondaEnv, CondaPackage, PythonEnv
from . import Probed

# direct_url.json written while conda-build ran pip inside its sandbox: a conda artifact, and a
# URL nobody can install from (conda/conda#11580, prefix-dev/rattler-build#2508).
_BUILD_SANDBOX = re.compile(r"^file://(/home/conda/feedstock_root/|/opt/conda/conda-bld/|/tmp/build/|"
                            r".*/conda-bld/)")
_ANACONDA_HOSTS = ("conda.anaconda.org", "repo.anaconda.com")


@dataclass(frozen=True, slots=True, kw_only=True)
class CondaScan:
    env: CondaEnv
    # dist-info / egg-info paths (prefix-relative) that conda records list in their `files`:
    # conda's own ownership rule (conda/plugins/prefix_data_loaders/pypi, load_site_packages).
    anchors: frozenset[str]


def find_prefix(host: Host, pyenv: PythonEnv | None, python: str | None) -> str | None:
    """The captured environment's own prefix when it is a conda prefix: what ``sys.prefix``
    says in the target interpreter, or, when it could not report, the folder above its
    ``bin/``. Never the capturing shell's ``$CONDA_PREFIX``: ``capture --python X`` describes
    X's environment, whatever environment the shell running envsnap has activated."""
    if pyenv is not None and pyenv.prefix:
        prefix = pyenv.prefix
    elif python:
        prefix = posixpath.dirname(posixpath.dirname(python))
    else:
        return None
    return prefix if host.is_dir(posixpath.join(prefix, "conda-meta")) else None


def channel_name(channel: str | None, subdir: str | None) -> str | None:
    """``https://conda.anaconda.org/conda-forge/osx-arm64`` -> ``conda-forge``;
    ``https://repo.anaconda.com/pkgs/main/osx-64`` -> ``pkgs/main``; others keep the URL
    (credentials redacted: userinfo, query, a ``/t/<token>/`` on any host) without the subdir."""
    if not channel:
        return None
    url = redact_url(channel.rstrip("/"))
    if subdir and url.endswith("/" + subdir):
        url = url[: -len(subdir) - 1]
    for host in _ANACONDA_HOSTS:
        marker = f"://{host}/"
        if marker in url:
            return url.split(marker, 1)[1].removeprefix("t/****/")  # the token is not the name
    return url


def _text(data: Mapping[str, Any], key: str) -> str | None:
    # A record is conda's JSON, not ours: a field of another type is treated as absent.
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _build_number(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def parse_record(data: Mapping[str, Any]) -> CondaPackage:
    """One ``conda-meta/<name>-<version>-<build>.json`` record; paths and files dropped.

    Every URL-bearing field (``channel``, ``url``, ``requested_spec``: a spec can name a
    channel URL, https://host/t/<TOKEN>/chan::pkg) gets the credential rules.
    """
    subdir = _text(data, "subdir")
    url = _text(data, "url")
    requested = _text(data, "requested_spec")
    return CondaPackage(
        name=str(data["name"]),
        version=str(data["version"]),
        build=_text(data, "build") or _text(data, "build_string") or "0",
        build_number=_build_number(data.get("build_number")),
        channel=channel_name(_text(data, "channel"), subdir),
        subdir=subdir,
        url=redact_url(url) if url else None,
        md5=_text(data, "md5"),
        sha256=_text(data, "sha256"),
        requested_spec=None if requested in (None, "None") else redact_text(requested),
        noarch=_text(data, "noarch"),
    )


def _anchors(files: list[str]) -> set[str]:
    out: set[str] = set()
    for f in files:
        for marker in (".dist-info/", ".egg-info/"):
            if marker in f:
                out.add(f.split(marker, 1)[0] + marker.rstrip("/"))
                break
        else:
            if f.endswith((".egg-info", ".dist-info")):
                out.add(f)
    return out


def parse_history(text: str) -> tuple[str, ...]:
    """The specs the user asked for, from ``conda-meta/history``.

    Sample: ``# update specs: ['python_abi[build=*_cp313t]', 'python=3.13', 'pip']``
    (``# remove specs: [...]`` drops earlier ones; ``# cmd:`` lines are never stored: they
    hold absolute paths and user names.) A spec naming a channel URL keeps the URL with its
    credentials redacted.
    """
    specs: dict[str, str] = {}
    for line in text.splitlines():
        for prefix, remove in (("# update specs:", False), ("# remove specs:", True)):
            if line.startswith(prefix):
                try:
                    import ast  # only when a history file has specs to read

                    values = ast.literal_eval(line[len(prefix):].strip())
                except (ValueError, SyntaxError, RecursionError, MemoryError):
                    continue
                for spec in values if isinstance(values, list) else ():
                    key = re.split(r"[=<>!\[ ]", str(spec), maxsplit=1)[0].split("::")[-1]
                    if remove:
                        specs.pop(key, None)
                    else:
                        specs[key] = redact_text(str(spec))
    return tuple(specs[k] for k in sorted(specs))


def scan(host: Host, prefix: str) -> CondaScan:
    meta_dir = posixpath.join(prefix, "conda-meta")
    packages: list[CondaPackage] = []
    anchors: set[str] = set()
    for name in host.listdir(meta_dir):
        if not name.endswith(".json"):
            continue
        raw = host.read_bytes(posixpath.join(meta_dir, name))
        if raw is None:
            continue
        try:
            data = json.loads(raw)
            packages.append(parse_record(data))
        except (ValueError, KeyError, TypeError, RecursionError):
            # A corrupt record must not hide the others; conda itself skips them with a warning.
            continue
        files = data.get("files")
        if isinstance(files, list):
            anchors |= _anchors([f for f in files if isinstance(f, str)])
    history = read_text(host, posixpath.join(meta_dir, "history")) or ""
    env = CondaEnv(
        prefix=prefix,
        packages=tuple(sorted(packages, key=lambda p: (p.name, p.version, p.build))),
        requested_specs=parse_history(history),
    )
    return CondaScan(env=env, anchors=frozenset(anchors))


def probe(host: Host, prefix: str | None) -> Probed[CondaScan]:
    if prefix is None:
        return Probed(value=None, found_via="no conda-meta/ in the Python prefix")
    result = scan(host, prefix)
    return Probed(value=result, found_via=f"{prefix}/conda-meta ({len(result.env.packages)} records)")


def mark_ownership(pyenv: PythonEnv, anchors: frozenset[str]) -> PythonEnv:
    """Mark dists conda owns; everything else in site-packages was installed by pip (or uv)
    on top, which is what conda list shows as channel 'pypi'."""
    packages = []
    for pkg in pyenv.packages:
        owned = (pkg.metadata_path in anchors) or (pkg.installer or "").lower() == "conda"
        source = pkg.source
        if source is not None and source.url and _BUILD_SANDBOX.match(source.url):
            owned, source = True, None
        packages.append(replace(pkg, owner="conda" if owned else None, source=source))
    return replace(pyenv, packages=tuple(packages))
