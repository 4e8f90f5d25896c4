"""How this machine reaches package indexes: the user's pip / uv configuration plus flags."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import tomlreader
from ..errors import BadInputError, CommandNotFound, CommandTimeout, HostError
from ..host import LocalHost, RunResult
from ..redact import redact_url

PIP_CONFIG_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSettings:
    """Where and how to fetch: used for network access only, never written to a file.

    URLs may hold credentials (``https://user:token@mirror/simple``); :meth:`describe` and
    every message show them redacted.
    """

    index_url: str | None = None  # replaces the lock's primary index for fetching (a mirror)
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()  # local folders or URLs of link pages
    no_index: bool = False
    cert: str | None = None  # CA bundle (pip `cert`, uv SSL_CERT_FILE)
    client_cert: str | None = None  # pip `client-cert`: a PEM with key and certificate
    proxy: str | None = None  # pip `proxy`; otherwise HTTP(S)_PROXY / NO_PROXY apply
    trusted_hosts: tuple[str, ...] = ()  # hosts whose TLS certificate is not verified
    keyring: bool = True  # ask keyring for credentials on HTTP 401 (pip keyring-provider)
    origin: str = "no configuration"  # where the index settings came from, for messages

    @property
    def configured(self) -> bool:
        return bool(self.index_url or self.extra_index_urls or self.find_links or self.no_index)

    def describe(self) -> str:
        parts = [f"index {redact_url(self.index_url)}"] if self.index_url else []
        parts += [f"extra index {redact_url(u)}" for u in self.extra_index_urls]
        parts += [f"find-links {redact_url(u)}" for u in self.find_links]
        if self.no_index:
            parts.append("no-index")
        return f"{', '.join(parts) or 'the lock file indexes'} ({self.origin})"


def is_trusted(url: str, trusted_hosts: Iterable[str]) -> bool:
    """Whether ``url``'s host is a ``trusted-host`` entry, as pip matches them
    (``PipSession.add_trusted_host``): ``host`` trusts every port, ``host:port`` that port."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return False
    for entry in trusted_hosts:
        e = urllib.parse.urlsplit(f"//{entry.strip()}")
        try:
            e_port = e.port
        except ValueError:
            continue
        if (e.hostname or "").lower() == host and (e_port is None or e_port == port):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# pip: its own CLI reads its configuration (pip has no Python API)


def parse_pip_config_list(text: str) -> dict[str, str]:
    """``pip config list`` output -> {``section.key``: value}.

    pip prints one ``section.key=repr(value)`` line per setting, environment variables under
    the ``:env:`` section (pip 26.3)::

        global.index-url='https://mirror.example/simple'
        global.extra-index-url='\\nhttps://a.example/simple\\nhttps://b.example/simple'
        :env:.find-links='/opt/wheels'
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or "." not in key:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str):
            out[key.strip()] = value
    return out


_TRUE = frozenset({"1", "true", "yes", "on"})


def _words(value: str | None) -> tuple[str, ...]:
    # pip splits list options on whitespace (newlines in a file, spaces in a variable).
    return tuple(value.split()) if value else ()


def pip_settings(values: Mapping[str, str], *, command: str = "install") -> IndexSettings:
    """The settings pip would use for ``pip <command>``: ``:env:`` (PIP_* variables) over the
    command's section over ``[global]``, the order pip's ConfigOptionParser applies."""
    merged: dict[str, str] = {}
    for section in ("global", command, ":env:"):
        prefix = section + "."
        merged.update({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)})
    provider = merged.get("keyring-provider", "auto")
    return IndexSettings(
        index_url=merged.get("index-url") or None,
        extra_index_urls=_words(merged.get("extra-index-url")),
        find_links=_words(merged.get("find-links")),
        no_index=merged.get("no-index", "").lower() in _TRUE,
        cert=merged.get("cert") or None,
        client_cert=merged.get("client-cert") or None,
        proxy=merged.get("proxy") or None,
        trusted_hosts=_words(merged.get("trusted-host")),
        keyring=provider != "disabled",
        origin="pip configuration",
    )


def _pip_command() -> list[str] | None:
    """The user's pip: the one beside envsnap's interpreter, else the first on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    return [found] if found else None


Runner = Callable[[Sequence[str], Mapping[str, str]], RunResult]


def _run(argv: Sequence[str], environ: Mapping[str, str]) -> RunResult:
    return LocalHost(environ=environ).run(list(argv), timeout=PIP_CONFIG_TIMEOUT_S)


def read_pip_config(environ: Mapping[str, str], *, runner: Runner = _run) -> dict[str, str] | None:
    """pip's configuration as ``pip config list`` prints it; None when no pip can be run."""
    pip = _pip_command()
    if pip is None:
        return None
    env = dict(environ)
    env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    try:
        proc = runner([*pip, "config", "list"], env)
    except (CommandNotFound, CommandTimeout, HostError):
        return None
    if proc.returncode != 0:
        return None
    return parse_pip_config_list(proc.stdout)


_PIP_ENV = {"PIP_INDEX_URL": "index-url", "PIP_EXTRA_INDEX_URL": "extra-index-url",
            "PIP_FIND_LINKS": "find-links", "PIP_NO_INDEX": "no-index", "PIP_CERT": "cert",
            "PIP_CLIENT_CERT": "client-cert", "PIP_PROXY": "proxy",
            "PIP_TRUSTED_HOST": "trusted-host", "PIP_KEYRING_PROVIDER": "keyring-provider"}


def pip_env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The PIP_* variables pip documents, as ``pip config list`` would show them: used when
    no pip can be run to read its files."""
    return {f":env:.{key}": environ[var] for var, key in _PIP_ENV.items() if environ.get(var)}


# ---------------------------------------------------------------------------------------------
# uv: its configuration files are TOML (https://docs.astral.sh/uv/concepts/configuration-files/)


def uv_config_files(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """uv's configuration files, most important first: UV_CONFIG_FILE alone when set;
    else the nearest project ``uv.toml`` / ``pyproject.toml`` with ``[tool.uv]``, the user's
    ``$XDG_CONFIG_HOME/uv/uv.toml`` and the system's ``$XDG_CONFIG_DIRS/uv/uv.toml``."""
    if environ.get("UV_NO_CONFIG"):
        return []
    if environ.get("UV_CONFIG_FILE"):
        return [Path(environ["UV_CONFIG_FILE"])]
    found: list[Path] = []
    for folder in (cwd, *cwd.parents):
        for name in ("uv.toml", "pyproject.toml"):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            continue
        break
    home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")).expanduser()
                                                   / ".config")
    found.append(Path(home) / "uv" / "uv.toml")
    dirs = [d for d in environ.get("XDG_CONFIG_DIRS", "").split(":") if d] or ["/etc"]
    found.extend(Path(d) / "uv" / "uv.toml" for d in dirs)
    return [p for p in found if p.is_file()]


def _uv_table(path: Path, data: Mapping[str, Any]) -> Mapping[str, Any]:
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        uv = tool.get("uv") if isinstance(tool, Mapping) else None
        return uv if isinstance(uv, Mapping) else {}
    return data


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _index_entry(value: str) -> str:
    # UV_INDEX entries may be named: "pytorch=https://download.pytorch.org/whl/cpu".
    name, sep, url = value.partition("=")
    return url if sep and "://" not in name else value


def uv_settings(tables: Sequence[Mapping[str, Any]], environ: Mapping[str, str]) -> IndexSettings:
    """The settings ``uv pip`` would use: UV_* variables over the files, a file's ``[pip]``
    table over its top level, the first (most important) file winning per setting; the
    default index is ``index-url`` or the ``[[index]]`` marked ``default = true``."""
    index_url: str | None = None
    extras: list[str] = []
    find_links: list[str] | None = None
    no_index: bool | None = None
    insecure: list[str] | None = None
    for table in tables:  # most important first
        pip = table.get("pip")
        for scope in ((pip if isinstance(pip, Mapping) else {}), table):
            primary = scope.get("index-url") if isinstance(scope.get("index-url"), str) else None
            entries = scope.get("index")
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
                    if entry.get("default") is True:
                        primary = primary or entry["url"]
                    elif entry["url"] not in extras:
                        extras.append(entry["url"])
            extras += [u for u in _str_list(scope.get("extra-index-url")) if u not in extras]
            index_url = index_url or primary
            if find_links is None and "find-links" in scope:
                find_links = list(_str_list(scope["find-links"]))
            if no_index is None and isinstance(scope.get("no-index"), bool):
                no_index = scope["no-index"]
            if insecure is None and "allow-insecure-host" in scope:
                insecure = list(_str_list(scope["allow-insecure-host"]))
    find_links = find_links or []
    insecure = insecure or []
    no_index = bool(no_index)
    env = environ
    if env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL"):
        index_url = env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")
    if env.get("UV_INDEX") or env.get("UV_EXTRA_INDEX_URL"):
        extras = [_index_entry(v) for v in
                  _words(env.get("UV_INDEX")) + _words(env.get("UV_EXTRA_INDEX_URL"))]
    if env.get("UV_FIND_LINKS"):
        find_links = [v for v in re.split(r"[,\s]+", env["UV_FIND_LINKS"]) if v]
    if env.get("UV_NO_INDEX"):
        no_index = env["UV_NO_INDEX"].lower() in _TRUE
    if env.get("UV_INSECURE_HOST"):
        insecure = list(_words(env["UV_INSECURE_HOST"]))
    return IndexSettings(index_url=index_url or None, extra_index_urls=tuple(extras),
                         find_links=tuple(find_links), no_index=no_index,
                         cert=env.get("SSL_CERT_FILE") or None, trusted_hosts=tuple(insecure),
                         origin="uv configuration")


def read_uv_tables(environ: Mapping[str, str], cwd: Path) -> list[Mapping[str, Any]]:
    tables: list[Mapping[str, Any]] = []
    for path in uv_config_files(environ, cwd):
        try:
            tables.append(_uv_table(path, tomlreader.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # uv itself would refuse it; it configures nothing for us
    return tables


# ---------------------------------------------------------------------------------------------
# combining


def combine(pip: IndexSettings | None, uv: IndexSettings | None) -> IndexSettings:
    """pip's index settings when it has any, else uv's; TLS and proxy settings from pip,
    completed by uv's."""
    chosen = next((s for s in (pip, uv) if s is not None and s.configured), None)
    base = chosen or pip or uv or IndexSettings()
    other = uv if base is pip else pip
    if other is not None:
        base = replace(base, cert=base.cert or other.cert,
                       trusted_hosts=base.trusted_hosts or other.trusted_hosts)
    return base


def with_flags(settings: IndexSettings, *, index_url: str | None = None,
               extra_index_urls: Iterable[str] = (), find_links: Iterable[str] = ()
               ) -> IndexSettings:
    """Command-line flags replace the configured value of the same setting."""
    extras, links = tuple(extra_index_urls), tuple(find_links)
    if not (index_url or extras or links):
        return settings
    named = [f for f, v in (("--index-url", index_url), ("--extra-index-url", extras),
                            ("--find-links", links)) if v]
    return replace(
        settings,
        index_url=index_url or settings.index_url,
        extra_index_urls=extras or settings.extra_index_urls,
        find_links=links or settings.find_links,
        no_index=settings.no_index and not (index_url or extras),
        origin=" and ".join(named) + (f" over the {settings.origin}"
                                      if settings.configured else ""),
    )


def user_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None, *,
                  runner: Runner = _run) -> IndexSettings:
    """What the user's pip (and uv) are configured with on this machine (the I/O edge)."""
    env = dict(os.environ if environ is None else environ)
    values = read_pip_config(env, runner=runner)
    pip = pip_settings(values if values is not None else pip_env_values(env))
    uv = uv_settings(read_uv_tables(env, cwd or Path.cwd()), env)
    return combine(pip, uv)


# ---------------------------------------------------------------------------------------------
# what may be written


def split_auth(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pw@host/x`` -> (``https://host/x``, (user, pw)); URLs without userinfo
    unchanged. The password is URL-decoded, as pip does."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (urllib.parse.unquote(user), urllib.parse.unquote(password))


def portable_index(url: str, flag: str) -> str:
    """An index URL the user named by flag, as a lockfile may hold it: http(s), without its
    credentials (pip and uv then read them from netrc or keyring). Raises BadInputError
    (exit 2) for a local path or a URL whose query holds a secret."""
    bare, _auth = split_auth(url.strip())
    scheme = urllib.parse.urlsplit(bare).scheme
    # The refused value is not echoed (it may hold the credential that made it unfit).
    if scheme not in ("http", "https"):
        raise BadInputError(f"{flag}: an index a lockfile names must be an http(s) URL, not a "
                            "local path or another scheme (use --find-links for a folder)")
    if redact_url(bare) != bare:
        raise BadInputError(f"{flag}: the URL holds a credential outside its user:password "
                            "part (not shown); put it in ~/.netrc or keyring")
    return bare.rstrip("/")
