"""Building the sources a snapshot names into a wheelhouse, with pip isolated, only with consent."""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from .. import tomlreader
from ..errors import CommandNotFound, CommandTimeout, HostError
from ..host import LocalHost, RunResult
from ..progress import Reporter
from ..redact import redact_url
from .index import Source
from .model import BuildRefused, LockError, LockPlan, Pin
from .safety import scrub
from .settings import IndexSettings
from .wheels import compatible, scan_wheelhouse, target_tags, wheel_key

PIP_TIMEOUT_S = 1800.0


def describe_build(pin: Pin) -> str:
    """``payload 1.0: vcs git+https://host/repo@abc1234``: what would be built, and from where
    (credentials redacted), for the list a refusal shows."""
    where = redact_url(pin.build_from) if pin.build_from else "(location not recorded)"
    return f"{pin.name} {pin.version}: {pin.source_kind or 'source'} {where}"


def builds_needed(plan: LockPlan, wheelhouse: Path | None) -> tuple[Pin, ...]:
    """The snapshot-named sources a wheelhouse run would build (or copy) on this machine:
    every ``build`` pin whose wheel is not in ``wheelhouse`` yet (all of them without one)."""
    builds = [p for p in plan.pins if p.kind == "build"]
    if not builds or wheelhouse is None:
        return tuple(builds)
    tags = target_tags(plan)
    have = {k for k, paths in scan_wheelhouse(wheelhouse).items()
            if any(compatible(p, tags) for p in paths)}
    return tuple(p for p in builds if wheel_key(p.name, p.version) not in have)


def require_build_consent(plan: LockPlan, wheelhouse: Path | None, allow_build: bool) -> None:
    """Raise BuildRefused (exit 2) before anything runs when this run would build a source
    the snapshot names and the user did not pass --allow-build."""
    if allow_build:
        return
    needed = builds_needed(plan, wheelhouse)
    if needed:
        raise BuildRefused(needed)


def pip_env(settings: IndexSettings | None = None, *, indexes: Sequence[Source] = (),
            offline: bool = False) -> dict[str, str]:
    """The environment pip runs in: every configuration file and PIP_* variable removed
    (PIP_CONFIG_FILE=os.devnull skips every file; --isolated alone still reads the global
    one), then only how to reach indexes put back from ``settings`` (index URLs with their
    credentials go through the environment, never the command line others can read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1"})
    if settings is None or offline:
        return env
    urls = [_with_auth(s) for s in indexes if s.kind == "index"]
    links = [_with_auth(s) for s in indexes if s.kind == "links"]
    if urls:
        env["PIP_INDEX_URL"] = urls[0]
        if urls[1:]:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(urls[1:])
    else:
        env["PIP_NO_INDEX"] = "1"
    if links:
        env["PIP_FIND_LINKS"] = " ".join(links)
    for var, value in (("PIP_CERT", settings.cert), ("PIP_CLIENT_CERT", settings.client_cert),
                       ("PIP_PROXY", settings.proxy)):
        if value:
            env[var] = value
    if settings.trusted_hosts:
        env["PIP_TRUSTED_HOST"] = " ".join(settings.trusted_hosts)
    return env


def _with_auth(src: Source) -> str:
    if src.auth is None or "://" not in src.url:
        return src.url
    user, password = (urllib.parse.quote(x, safe="") for x in src.auth)
    scheme, rest = src.url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def _run_pip(pip: Sequence[str], args: Sequence[str], env: Mapping[str, str]) -> RunResult:
    # The Host seam runs it (timeout, named outcomes); this edge only says what a failure means.
    try:
        return LocalHost(environ=env).run([*pip, "--isolated", *args], timeout=PIP_TIMEOUT_S)
    except CommandNotFound:
        raise LockError(f"cannot run pip ({pip[0]} not found)") from None
    except CommandTimeout:
        raise LockError(f"pip ran past {PIP_TIMEOUT_S:.0f}s: {' '.join(args[:2])}") from None
    except HostError as exc:
        raise LockError(f"cannot run pip ({exc})") from None


def _last_error(proc: RunResult) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return scrub((errors or lines or [f"pip exited {proc.returncode}"])[-1])


BUILD_REASON = ("built from its source, which runs the source's code: envsnap builds a "
                "snapshot's sources only with --allow-build, into a wheelhouse")


def build_reason(pin: Pin) -> str:
    return f"a {pin.source_kind or 'source'} install: {BUILD_REASON}"


def _local_source(source_ref: str) -> Path | None:
    """What a build source names on this machine: a plain path, or the repository of a
    ``git+file:///repo@commit`` URL; None for a source fetched over the network."""
    if "://" not in source_ref and "+" not in source_ref.split("/")[0]:
        return Path(source_ref)
    scheme, _, rest = source_ref.partition("://")
    if not scheme.endswith("+file"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(f"file://{rest}").path)
    return Path(path.rsplit("@", 1)[0])  # the plan always appends @<commit>


def build_requirements(project: Path) -> list[str]:
    """What a PEP 517 build of ``project`` installs first: ``[build-system] requires`` (PEP 518;
    ``setuptools>=40.8.0`` without one), plus ``wheel`` for setuptools, whose
    get_requires_for_build_wheel asks for it before setuptools 70.1."""
    requires: list[str] = ["setuptools>=40.8.0"]
    backend = "setuptools.build_meta:__legacy__"
    try:
        data = tomlreader.loads((project / "pyproject.toml").read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        data = {}
    system = data.get("build-system")
    if isinstance(system, Mapping):
        reqs = system.get("requires")
        if isinstance(reqs, list) and all(isinstance(r, str) for r in reqs):
            requires = list(reqs)
        if isinstance(system.get("build-backend"), str):
            backend = system["build-backend"]
    if backend.startswith("setuptools") and not any(
            canonicalize_name(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) == "wheel"
            for r in requires):
        requires.append("wheel")
    return requires


_MISSING = re.compile(r"No matching distribution found for ([^\s(]+)")


def build_wheel(pin: Pin, dest: Path, pip: Sequence[str], *, env: Mapping[str, str],
           offline: bool) -> str | None:
    """Build a wheel for an editable / local / VCS dist into dest; the error text on failure.

    The build backend comes from the wheelhouse (``--find-links``) or the indexes this machine
    reaches, never from the rest of this machine's pip configuration; ``offline``: from the
    wheelhouse only.
    """
    source_ref = pin.build_from
    if source_ref is None:
        return "its source location was not recorded"
    if source_ref.startswith(("$", "~")):
        return f"its source was recorded anonymised ({source_ref.split('/')[0]}/...)"
    local = _local_source(source_ref)
    if local is not None and not local.exists():
        what = "directory" if local.suffix not in (".whl", ".zip", ".gz") else "file"
        return f"its source {what} is not on this machine"
    if local is not None and local.suffix == ".whl" and "://" not in source_ref:
        shutil.copy2(local, dest / local.name)
        return None
    if local is None and offline:
        return "its source is fetched over the network: lock without --offline to build it"
    before = set(scan_wheelhouse(dest))
    where = ["--no-index"] if offline else []
    proc = _run_pip(pip, ["wheel", "--no-deps", "--wheel-dir", str(dest), "--find-links",
                          str(dest), *where, source_ref], env)
    if proc.returncode != 0:
        missing = _MISSING.search(proc.stderr + proc.stdout)
        if missing and offline:
            need = missing.group(1)
            return (f"its build needs {need} (a PEP 517 build requirement), which is not in the "
                    f"wheelhouse: lock once without --offline (that adds the build tools) or "
                    f"'pip download {need} -d WHEELHOUSE'")
        return f"pip wheel failed: {_last_error(proc)}"
    after = set(scan_wheelhouse(dest))
    if wheel_key(pin.name, pin.version) in after:
        return None
    # The source changed since the capture: its wheel is not the version that was installed.
    name = canonicalize_name(pin.name)
    built = sorted(v for n, v in after - before if n == name)
    if built:
        return f"its source now builds version {', '.join(built)}, not the captured {pin.version}"
    return f"pip wheel built no {pin.name} {pin.version} wheel from its source"


def add_build_tools(builds: Sequence[Pin], dest: Path, pip: Sequence[str],
                     env: Mapping[str, str], reporter: Reporter) -> None:
    """Put what the local sources' PEP 517 builds need into the wheelhouse, so a later
    ``--offline`` lock or image build can build them with no index."""
    wanted: list[str] = []
    for pin in builds:
        local = _local_source(pin.build_from or "")
        if local is not None and local.is_dir():
            wanted += [r for r in build_requirements(local) if r not in wanted]
    if not wanted:
        return
    reporter.info(f"adding the build requirements {', '.join(wanted)} to the wheelhouse")
    proc = _run_pip(pip, ["download", "--only-binary=:all:", "--dest", str(dest), *wanted], env)
    if proc.returncode != 0:
        reporter.info(f"could not add the build requirements: {_last_error(proc)} (an "
                      "--offline build from this wheelhouse may miss them)")
