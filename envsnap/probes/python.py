"""Python interpreter and every installed distribution, read inside the target interpreter."""

from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError, HostError
from ..host import Host, RunResult, read_text
from . import Probed, _inspector

if TYPE_CHECKING:
    from packaging.requirements import Requirement

    from ..snapshot import PythonEnv, Source

TIMEOUT_S = 60.0

# packaging, the snapshot model, redact and graph are imported inside the functions that use
# them: the probe starts the target interpreter first, and these imports run while it starts
# (benchmarks/README.md, "Where a capture's time goes").

# Tool installers put envsnap in an environment of its own; the user works elsewhere.
_TOOL_ENV_MARKERS = ("/pipx/venvs/", "/uv/tools/", "/pipx/.cache/")



def resolve_interpreter(host: Host, python: str | None) -> str:
    """The interpreter whose environment to capture.

    Explicit ``--python`` wins; else the active virtual env or conda env (so a pipx- or
    uv-tool-installed envsnap still captures the user's environment); else envsnap's own.
    """
    if python:
        resolved = python if "/" in python else host.which(python)
        if not resolved or not host.is_file(resolved):
            raise BadInputError(f"--python {python}: no such interpreter")
        if host.which(resolved) is None:
            raise BadInputError(f"--python {python}: not executable")
        return resolved
    env = host.environ
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = env.get(var)
        if prefix:
            candidate = posixpath.join(prefix, "bin", "python")
            if host.is_file(candidate):
                return candidate
    if any(marker in sys.prefix + "/" for marker in _TOOL_ENV_MARKERS):
        found = host.which("python3") or host.which("python")
        if found:
            return found
    return sys.executable


def inspector_output(python: str, result: RunResult) -> dict[str, Any]:
    """The inspector's report (a Python literal) from a finished child run, or a one-line
    HostError. ast.literal_eval evaluates literals only: nothing the target prints runs here."""
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HostError(f"{python} exited {result.returncode}: {tail[0]}")
    import ast

    # What follows the inspector's marker: whatever the interpreter's site hooks print first.
    _, marker, report = result.stdout.rpartition("\n" + _inspector.MARKER + "\n")
    try:
        raw = ast.literal_eval(report if marker else result.stdout)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)") from None
    if not isinstance(raw, dict):
        raise HostError(f"{python} printed no readable inspection (is it Python 3?)")
    path = raw.get("sys_path")
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise HostError(f"{python} printed no readable sys.path")
    return raw


def probe(host: Host, python: str) -> Probed[PythonEnv]:
    # The target interpreter reports what only it knows (its sys.path, prefix, tags, marker
    # environment); the dist-info files on that path, plain files, are read here.
    # The target interpreter is started first; the scan's own modules (importlib.metadata,
    # email, packaging) are imported while it runs.
    raw = inspector_output(python, host.run([python, _inspector.__file__], timeout=TIMEOUT_S))
    from . import dist_info

    raw["dists"], stopped = dist_info.scan(host, raw["sys_path"], listing=raw.get("metadata_entries"))
    env = parse_inspection(raw, indexes=configured_indexes(host, raw.get("prefix")))
    how = f"{python} (dist-info scan of {len(raw['sys_path'])} path entries)"
    if stopped:
        raise HostError(f"{how}: {stopped}")
    return Probed(value=env, found_via=how)


def _relative(path: str, prefix: str | None) -> str:
    if prefix and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
        rel = path[len(prefix.rstrip("/")) + 1:]
        return rel or "."
    return path


def parse_source(direct_url: str) -> Source:
    """PEP 610 ``direct_url.json`` -> Source, credentials redacted.

    Sample (pip, editable): ``{"dir_info": {"editable": true}, "url": "file:///src/pkg"}``
    """
    from ..redact import redact_text, redact_url
    from ..snapshot import Source

    data = json.loads(direct_url)
    if not isinstance(data, Mapping) or not isinstance(data.get("url"), str):
        raise ValueError("direct_url.json has no 'url'")
    url = redact_url(data["url"])
    subdir = data.get("subdirectory") if isinstance(data.get("subdirectory"), str) else None
    if subdir is not None:
        subdir = redact_text(subdir)
    vcs = data.get("vcs_info")
    if isinstance(vcs, Mapping):
        # Every field the installer copied from the user's requirement gets the text rules: a
        # revision is a branch, tag or commit, and sometimes a pasted token (@ghp_...).
        return Source(
            kind="vcs",
            url=url,
            vcs=redact_text(str(vcs.get("vcs") or "")) or None,
            commit=redact_text(str(vcs.get("commit_id") or "")) or None,
            requested_revision=redact_text(str(vcs.get("requested_revision") or "")) or None,
            subdirectory=subdir,
        )
    dir_info = data.get("dir_info")
    if isinstance(dir_info, Mapping):
        kind = "editable" if dir_info.get("editable") else "dir"
        return Source(kind=kind, url=url, subdirectory=subdir)
    archive = data.get("archive_info")
    if isinstance(archive, Mapping):
        hashes = archive.get("hashes")
        digest: str | None = None
        if isinstance(hashes, Mapping) and isinstance(hashes.get("sha256"), str):
            digest = f"sha256={hashes['sha256']}"
        elif isinstance(archive.get("hash"), str):
            digest = archive["hash"].replace(":", "=", 1)  # legacy "sha256=..." form
        return Source(kind="archive", url=url, hash=digest, subdirectory=subdir)
    return Source(kind="url", url=url, subdirectory=subdir)


def requirement_string(req: Requirement) -> str:
    """A requirement as the snapshot records it: canonical name, extras, specifiers; no
    marker (it was evaluated) and no URL (it may carry credentials and is not needed)."""
    from packaging.utils import canonicalize_name

    extras = f"[{','.join(sorted(canonicalize_name(e) for e in req.extras))}]" if req.extras else ""
    return f"{canonicalize_name(req.name)}{extras}{req.specifier}"


def applicable_requirements(values: list[str], markers: Mapping[str, str]) -> tuple[str, ...]:
    """The requirements that hold for an interpreter with these marker values, as pip's
    dependency check reads them: a requirement whose marker mentions ``extra`` applies only
    when it holds with no extra requested. Invalid requirement strings are skipped, as
    ``pip check`` skips them."""
    from ..graph import parse_requirement

    env = {**markers, "extra": ""}
    out: set[str] = set()
    for value in values:
        req = parse_requirement(value)
        if req is None:
            continue
        if req.marker is not None:
            try:
                if not req.marker.evaluate(env):
                    continue
            except Exception:  # packaging raises several types for unknown or odd markers
                continue
        out.add(requirement_string(req))
    return tuple(sorted(out))


def is_valid_version(version: str) -> bool:
    """True for a PEP 440 version (in any spelling packaging accepts)."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def _marker_environment(raw: Mapping[str, Any]) -> dict[str, str]:
    markers = raw.get("markers")
    if isinstance(markers, Mapping) and all(isinstance(v, str) for v in markers.values()):
        return {str(k): v for k, v in markers.items()}
    # A report from an older inspector: this interpreter's environment, with the target's
    # Python version (what most markers test).
    from packaging.markers import default_environment

    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    version = str(raw.get("version", ""))
    if version:
        env["python_full_version"] = version
        env["python_version"] = ".".join(version.split(".")[:2])
    return env


_TEXT_FACTS = ("version", "implementation", "abi_tag", "platform_tag", "executable", "prefix",
               "base_prefix")


def _facts_of_known_types(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The inspector's facts with each of the type the model needs; a value of another type
    (an odd interpreter, a tampered report) is left out rather than trusted."""
    facts = dict(raw)
    for key in _TEXT_FACTS:
        if key in facts and not isinstance(facts[key], str):
            del facts[key]
    for key in ("site_packages", "sys_path"):
        value = facts.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            facts[key] = []
    if not isinstance(facts.get("markers"), Mapping):
        facts.pop("markers", None)
    if not isinstance(facts.get("dists"), list):
        facts["dists"] = []
    if "version" not in facts or "implementation" not in facts:
        raise HostError("the interpreter reported no readable version")
    return facts


def parse_inspection(raw: Mapping[str, Any], *, indexes: tuple[str, ...] = ()) -> PythonEnv:
    """Turn the inspector's raw report into a PythonEnv; broken dists become problems."""
    from packaging.utils import canonicalize_name

    from ..snapshot import Package, PackageProblem, PythonEnv, is_safe_name, is_safe_version

    raw = _facts_of_known_types(raw)
    prefix = raw.get("prefix")
    markers = _marker_environment(raw)
    # Most dists live in the main site dir; saying so on every line would only add noise.
    main_site = raw.get("site_packages", [None])[0] if raw.get("site_packages") else None
    packages: dict[str, Package] = {}
    first_dir: dict[str, str] = {}
    problems: list[PackageProblem] = []
    for d in raw.get("dists", []):
        where = _relative(posixpath.join(d["dir"], d["entry"]), prefix)
        guess = d["entry"].rsplit(".", 1)[0]
        if "error" in d:
            problems.append(
                PackageProblem(kind=d["error"], path=where, name=guess, detail=d.get("detail"))
            )
            continue
        meta = d.get("metadata", {})
        raw_name = meta.get("name")
        if not raw_name:
            problems.append(PackageProblem(kind="no-name", path=where, name=guess))
            continue
        if not is_safe_name(raw_name):
            problems.append(
                PackageProblem(kind="invalid-name", path=where, detail=f"name {raw_name!r}")
            )
            continue
        name = canonicalize_name(raw_name)
        version = str(meta.get("version") or "")
        if not is_valid_version(version):
            problems.append(
                PackageProblem(kind="invalid-version", path=where, name=name, version=version or None,
                               detail=f"{version!r} is not a PEP 440 version")
            )
            if not version or not is_safe_version(version):
                continue
        if name in packages:
            # The first copy in importlib.metadata's order is the one it and pip report (the
            # scan keeps that order: sys.path, then each folder's listing order); a second
            # copy in the same folder (an interrupted upgrade, pip#12446) or later on the path
            # is a problem entry, whichever version is newer.
            same_dir = first_dir[name] == d["dir"]
            kept = packages[name]
            problems.append(PackageProblem(
                kind="duplicate" if same_dir else "shadowed", path=where, name=name,
                version=version,
                detail=f"{kept.version} beside it is the one importlib.metadata and pip read"
                if same_dir else f"{kept.version} earlier on sys.path is the one imported"))
            continue
        source: Source | None = None
        if d.get("direct_url"):
            try:
                source = parse_source(d["direct_url"])
            except (ValueError, TypeError, RecursionError) as exc:
                problems.append(
                    PackageProblem(kind="invalid-direct-url", path=where, name=name, detail=str(exc))
                )
        first_dir[name] = d["dir"]
        packages[name] = Package(
            name=name,
            version=version,
            installer=d.get("installer") or None,
            requested=bool(d.get("requested")),
            source=source,
            location=None if d["dir"] == main_site else _relative(d["dir"], prefix),
            requires=applicable_requirements(meta.get("requires-dist", []), markers),
            tags=tuple(d.get("tags", ())),
            native=bool(d.get("native")),
            license=d.get("license") or None,
            license_classifiers=tuple(d.get("license-classifiers") or ()),
            metadata_path=where,
        )
    prefix_s = str(prefix) if prefix else None
    base = raw.get("base_prefix")
    if raw.get("conda"):
        kind = "conda"
    elif prefix and base and prefix != base:
        kind = "venv"
    else:
        kind = "system"
    return PythonEnv(
        version=str(raw["version"]),
        implementation=str(raw["implementation"]),
        abi_tag=raw.get("abi_tag"),
        platform_tag=raw.get("platform_tag"),
        executable=raw.get("executable"),
        prefix=prefix_s,
        base_prefix=base,
        env_kind=kind,
        site_packages=tuple(raw.get("site_packages", ())),
        sys_path=tuple(raw.get("sys_path", ())),
        markers=markers,
        indexes=indexes,
        packages=tuple(packages[n] for n in sorted(packages)),
        problems=tuple(problems),
    )


def _config_files(env: Mapping[str, str], prefix: str | None) -> list[str]:
    """pip's configuration files in its load order (pip/_internal/configuration.py)."""
    if env.get("PIP_CONFIG_FILE") in ("/dev/null", "nul"):
        return []
    home = env.get("HOME", "")
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [posixpath.join(d, "pip", "pip.conf") for d in xdg_dirs if d] + ["/etc/pip.conf"]
    if home:
        xdg_home = env.get("XDG_CONFIG_HOME") or posixpath.join(home, ".config")
        files += [posixpath.join(home, ".pip", "pip.conf"), posixpath.join(xdg_home, "pip", "pip.conf")]
    if prefix:
        files.append(posixpath.join(prefix, "pip.conf"))
    if env.get("PIP_CONFIG_FILE"):
        files.append(env["PIP_CONFIG_FILE"])
    return files


def configured_indexes(host: Host, prefix: str | None) -> tuple[str, ...]:
    """Index URLs pip or uv would use here, credentials redacted (recorded, never replayed
    into a lockfile unless the user asks)."""
    from ..redact import redact_url

    env = host.environ
    urls: list[str] = []
    for path in _config_files(env, prefix):
        text = read_text(host, path)
        if text is None:
            continue
        import configparser  # only once a config file exists: most machines have none

        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            for key in ("index-url", "extra-index-url"):
                if parser.has_option(section, key):
                    urls += parser.get(section, key).split()
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX",
                "UV_EXTRA_INDEX_URL", "UV_INDEX"):
        for entry in env.get(var, "").split():
            # uv names its indexes: UV_INDEX="pytorch=https://download.pytorch.org/whl/cu128"
            name, sep, rest = entry.partition("=")
            urls.append(rest if sep and "://" in rest and "://" not in name else entry)
    seen: dict[str, None] = {}
    for url in urls:
        seen.setdefault(redact_url(url), None)
    return tuple(seen)
