"""Test support: real wheels, real virtual environments, real pip (isolated from machine config)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Machine-wide pip configuration (extra indexes, find-links, a constraints file) must never
# reach the environments the tests build: they would then depend on this machine.
PIP_ENV = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_NO_WARN_SCRIPT_LOCATION": "1",
}

# Small real distributions from PyPI used across tests: markupsafe has a compiled extension.
PYPI_PINS = ("six==1.16.0", "idna==3.7", "markupsafe==2.1.5", "attrs==23.2.0", "iniconfig==2.0.0")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "CONDA"))}
    env.update(PIP_ENV)
    env.update(extra or {})
    return env


def run(argv: Sequence[str | os.PathLike[str]], *, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=dict(env) if env is not None else clean_env(),
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {' '.join(map(str, argv))}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    modules: Mapping[str, str] | None = None,
    tag: str = "py3-none-any",
    summary: str | None = None,
    description: str | None = None,
) -> Path:
    """Write a real, installable wheel (PEP 427) for a tiny package, no build backend needed."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    distinfo = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for mod, src in (modules or {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}).items():
        files[mod] = src.encode()
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Summary: {summary}"] if summary else []
    meta += [f"Requires-Dist: {r}" for r in requires]
    body = f"\n{description}" if description else ""
    files[f"{distinfo}/METADATA"] = ("\n".join(meta) + "\n" + body).encode()
    files[f"{distinfo}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: envsnap-tests\nRoot-Is-Purelib: "
        f"{'true' if tag.endswith('any') else 'false'}\nTag: {tag}\n"
    ).encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{distinfo}/RECORD,,")
    files[f"{distinfo}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, data)
    return wheel


def make_venv(path: Path, *, with_pip: bool = True) -> Path:
    """Create a real virtual environment; returns its python executable."""
    venv.EnvBuilder(with_pip=with_pip, clear=True, symlinks=True).create(path)
    return path / "bin" / "python"


# setuptools >= 70.1 builds (PEP 660 editable) wheels without the separate `wheel` dist, so
# a venv holding it installs local projects with --no-build-isolation, with no network.
SETUPTOOLS = "setuptools==75.8.0"


def venv_with_setuptools(path: Path, cache: Path) -> Path:
    """A real venv with SETUPTOOLS from the cached download; returns its python."""
    python = make_venv(path)
    download_wheels(cache, (SETUPTOOLS,))
    pip_install(python, "--no-index", "--find-links", cache, SETUPTOOLS)
    return python


def local_project(root: Path, name: str, version: str) -> Path:
    """A minimal buildable setuptools project (one module) in ``root``."""
    root.mkdir(parents=True)
    module = name.replace("-", "_")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f'[tool.setuptools]\npy-modules = ["{module}"]\n')
    (root / f"{module}.py").write_text(f"VALUE = {version!r}\n")
    return root


def git(cwd: Path, *args: str) -> str:
    env = clean_env({"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                     "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    return run(["git", *args], cwd=cwd, env=env).stdout.strip()


def git_commit_all(repo: Path) -> str:
    """``git init`` + commit everything in ``repo``; returns the commit id."""
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return git(repo, "rev-parse", "HEAD")


def site_packages(python: Path) -> Path:
    """The purelib directory of the environment behind ``python``."""
    out = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    return Path(out.strip())


def pip_install(python: Path, *args: str | os.PathLike[str], cwd: Path | None = None) -> None:
    run([python, "-m", "pip", "install", "--no-input", *map(str, args)], cwd=cwd)


def download_wheels(dest: Path, pins: Sequence[str] = PYPI_PINS) -> Path:
    """Download real wheels from the package index once, cached across sessions."""
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / (".done-" + hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12])
    if not marker.exists():
        run([sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
             "-d", dest, *pins])
        marker.write_text("\n".join(pins))
    return dest


def live_processes(*, group: int | None = None, session: int | None = None) -> list[int]:
    """Live (not zombie) processes of process group ``group`` or of session ``session``, read
    from /proc/PID/stat (after the command name: state, ppid, pgrp, session)."""
    field, wanted = (2, group) if group is not None else (3, session)
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone between the listing and the read
            continue
        if int(fields[field]) == wanted and fields[0] != "Z":
            members.append(int(entry))
    return members
