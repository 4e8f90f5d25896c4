"""Credential redaction for URLs and environment values (pure functions)."""

from __future__ import annotations

import re

REDACTED = "****"

# PEP 610 allows env-var placeholders in place of credentials; they are not secrets, and
# keeping them keeps a captured URL usable (https://packaging.python.org/en/latest/specifications/direct-url/).
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z0-9_-]+\}(:\$\{[A-Za-z0-9_-]+\})?$")
# Userinfo inside any URL-ish substring of free text: scheme://user[:pass]@host
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# user:password@ without a scheme (DSN-like values: "admin:hunter2@db:5432").
_BARE_USERINFO = re.compile(r"(?P<user>[^\s:/@'\"=]+):(?P<pw>[^\s/@'\"]+)@")
# anaconda.org and Anaconda's repositories carry the token as a path segment:
# https://conda.anaconda.org/t/<TOKEN>/conda-forge/linux-64 (conda's own redaction does the same).
_CONDA_TOKEN = re.compile(r"(://[^/\s]*anaconda\.(?:org|com|cloud)/t/)[^/\s]+")
# Well-known token shapes that may appear without a URL around them.
_TOKEN_SHAPES = re.compile(
    r"\b(ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|hf_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,})\b"
)


def _redact_userinfo(userinfo: str) -> str:
    if _PLACEHOLDER.match(userinfo) or userinfo == "git":
        return userinfo
    user, sep, _password = userinfo.partition(":")
    if sep:
        # pip's semantics: keep the user, hide the password (https://user:****@host).
        return f"{user}:{REDACTED}"
    # A lone user part is usually a token used as a username (https://TOKEN@host).
    return REDACTED


def redact_url(url: str) -> str:
    """Hide credentials in a URL the way pip's ``redact_auth_from_url`` does.

    >>> redact_url("https://user:pass@example.com/simple")
    'https://user:****@example.com/simple'
    >>> redact_url("https://token@example.com/x")
    'https://****@example.com/x'
    """
    if "@" not in url:
        # No userinfo possible; the token shapes redact_text looks for need no URL parsing.
        return redact_text(url)
    # Imported only now: urllib.parse (with ipaddress) is ~3% of a capture's start-up, and most
    # URLs a capture meets (file:// wheels, plain index URLs) carry no '@'.
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        # No userinfo in the authority, but secrets still hide in paths and in strings that
        # urlsplit cannot parse as a URL ("name=https://user:pw@host", uv's UV_INDEX form).
        return redact_text(url)
    # The last '@' separates userinfo from host, as in urlsplit (pip does the same).
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = f"{_redact_userinfo(userinfo)}@{hostport}"
    return redact_text(urlunsplit(parts._replace(netloc=netloc)))


def redact_text(text: str) -> str:
    """Redact URL userinfo and well-known token shapes anywhere inside free text."""

    def sub(m: re.Match[str]) -> str:
        return f"{m.group('scheme')}{_redact_userinfo(m.group('userinfo'))}@"

    text = _CONDA_TOKEN.sub(r"\1****", text)
    text = _URL_USERINFO.sub(sub, text)
    text = _BARE_USERINFO.sub(
        lambda m: m.group(0) if m.group("pw") == REDACTED or _PLACEHOLDER.match(m.group(0)[:-1])
        else f"{m.group('user')}:{REDACTED}@",
        text,
    )
    return _TOKEN_SHAPES.sub(REDACTED, text)


def redact_scp_remote(remote: str) -> str:
    """git remotes in scp form (``user@host:path``) carry no password; URLs get redact_url."""
    if "://" in remote:
        return redact_url(remote)
    return redact_text(remote)
