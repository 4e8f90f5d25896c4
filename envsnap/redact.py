"""One rule set for credentials in URLs, free text and variable names (pure; docs/security.md)."""

from __future__ import annotations

import re

from packaging.version import VERSION_PATTERN

REDACTED = "****"

# --- names ------------------------------------------------------------------------------------

# A name whose `_`/`-`/`.`-separated parts contain one of these names a secret wherever the
# part sits: HF_TOKEN, --auth_token, DB_PASSWORD, X_APIKEY, OAUTH_CLIENT.
_MARKERS_ANYWHERE = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL",
                     "PRIVATE", "COOKIE", "SESSION", "SIGNATURE", "APIKEY", "AUTH")
# Short markers are whole parts, and only the last one: TORCH_HUB_PAT, --api-key, DB_PASS,
# SMB_PWD, ?sig=. Inside a name they qualify something else (XLA's --xla_dump_hlo_pass_re,
# --key_value_store), and as substrings they are everywhere (PATH, COMPASS, MONKEY).
_MARKERS_LAST = frozenset({"PAT", "PASS", "PWD", "KEY", "SIG", "SAS", "PIN", "OTP"})
# Words that name a credential only sometimes, so the value decides (_keeps_value): "license"
# is package metadata far more often (PEP 639's License-Expression and License-File, the
# License field, pyproject's license, --license-file, "license" in JSON) than a license code
# (KENDO_UI_LICENSE); a license *key* says KEY or TOKEN (NGC_LICENSE_KEY, --license-key) and is
# a secret name by those. A bare "key", alone, is the same: pipdeptree's and every JSON map's
# lookup key ("key": "numpy") as often as a credential (kaggle.json's "key").
_MARKERS_MAYBE = ("LICENSE", "LICENCE")
_NAME_PARTS = re.compile(r"[_.-]+")
# camelCase and PascalCase names split where a lower-case letter or digit meets an upper-case
# one: connection-string keys (AccountKey, SharedAccessKey, Pwd) and JSON keys (apiKey).
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_SECRET, _MAYBE_SECRET, _SECRET = 0, 1, 2


def _secrecy(name: str) -> int:
    """What a name says of its value: _SECRET, _MAYBE_SECRET (the value decides), _NOT_SECRET."""
    parts = [p for p in _NAME_PARTS.split(_CAMEL.sub("_", name).upper()) if p]
    if parts == ["KEY"]:
        return _MAYBE_SECRET
    if parts and (parts[-1] in _MARKERS_LAST or any(m in p for p in parts for m in _MARKERS_ANYWHERE)):
        return _SECRET
    return _MAYBE_SECRET if any(m in p for p in parts for m in _MARKERS_MAYBE) else _NOT_SECRET


def is_secret_name(name: str) -> bool:
    """Whether a variable, option or parameter name says its value may be a credential.

    >>> [is_secret_name(n) for n in ("TORCH_HUB_PAT", "--auth_token", "AccountKey", "LD_LIBRARY_PATH")]
    [True, True, True, False]
    """
    return _secrecy(name) != _NOT_SECRET


# --- URLs -------------------------------------------------------------------------------------

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A URL inside free text runs to whitespace or a quote; what follows it ("corp=", "--flag ")
# is text again. Characters a URL may not hold raw (",", ";", ")") are kept inside: a value
# masked a little too far is better than the tail of a password kept.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]*")
# PEP 610 allows environment-variable placeholders instead of credentials; they are not secrets
# and keep a URL usable (https://packaging.python.org/en/latest/specifications/direct-url/).
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z0-9_-]+\}(?::\$\{[A-Za-z0-9_-]+\})?")
# Query and fragment names whose values are never credentials, kept verbatim (the list is
# documented in docs/security.md): pip's and PEP 508's fragments, hash names, VCS revisions.
HARMLESS_PARAMS = frozenset({
    "egg", "subdirectory", "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
    "ref", "branch", "tag", "rev", "revision", "commit", "version", "format",
})
# conda puts an anaconda.org-style token in the path (https://host/t/<TOKEN>/channel/...), and
# self-hosted servers (anaconda-server, quetz) do too: conda masks it on every host
# (conda/common/url.py, split_anaconda_token).
_CONDA_TOKEN = re.compile(r"(/t/)[^/]+")
# Hosted indexes that take a token as the first path segment: Cloudsmith's
# https://dl.cloudsmith.io/<TOKEN>/<owner>/<repo>/python/simple/ ("public" and "basic" stand
# there instead on public repositories and with basic auth; help.cloudsmith.io, entitlement
# tokens) and Gemfury's https://pypi.fury.io/<TOKEN>/<account>/ (gemfury.com/help/pypi-server).
# A segment is taken for a token when it is long and mixes letters and digits, so an account or
# owner name in that place stays readable; a name that looks like a token is masked too.
_PATH_TOKEN_HOSTS = re.compile(r"(?:.*\.)?(?:cloudsmith\.io|fury\.io)", re.IGNORECASE)
_PATH_KEYWORDS = frozenset({"public", "basic"})
_PATH_TOKEN = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{12,}")


def _path_token(host: str, path: str) -> str:
    if not _PATH_TOKEN_HOSTS.fullmatch(host):
        return path
    first, sep, rest = path[1:].partition("/")
    if not sep or first.lower() in _PATH_KEYWORDS or not _PATH_TOKEN.fullmatch(first):
        return path
    return f"/{REDACTED}/{rest}"


# --- the entropy rule: a path segment that looks like a random token --------------------------

# Hosts whose URL layouts hold no credential in the path (each service's documented index,
# download or archive URLs), so long hashes there (files.pythonhosted.org's
# /packages/3f/0d/<60 hex>/..., a commit in a GitHub archive URL) stay readable. Matched as the
# host or a sub-domain of it.
KNOWN_HOSTS = frozenset({
    "pypi.org", "pythonhosted.org", "pypi.python.org", "download.pytorch.org", "pypi.nvidia.com",
    "pypi.ngc.nvidia.com", "developer.download.nvidia.com", "anaconda.org", "repo.anaconda.com",
    "github.com", "githubusercontent.com", "gitlab.com", "bitbucket.org", "huggingface.co",
    "storage.googleapis.com", "data.pyg.org", "pkgs.dev.azure.com",
})
# Pieces are what lies between characters that are neither letters nor digits.
_PIECES = re.compile(r"[A-Za-z0-9]+")
_CLASS_RUNS = re.compile(r"[0-9]+|[a-z]+|[A-Z]+")
# The thresholds, measured (tests/unit/test_redact_entropy.py, docs/security.md): no false
# positive on 1,494 project names, 1,258 version strings and 468 wheel names of the METADATA
# corpus; 128-bit tokens (32 hex, 22+ base62, 43 base64url) are caught.
MIN_RANDOM_CHARS = 16
MIN_CLASS_RUNS = 3
MIN_PIECE = 4


def _random_piece(piece: str) -> bool:
    # Words, even with a version glued on (beautifulsoup4, oauth2client, manylinux2014), switch
    # between digits, lower and upper case once or twice; random strings keep switching.
    return len(piece) >= MIN_PIECE and len(_CLASS_RUNS.findall(piece)) >= MIN_CLASS_RUNS


def looks_random(segment: str) -> bool:
    """The entropy rule: whether a URL path segment looks like a random token.

    Its letters-and-digits pieces that keep switching between digits, lower and upper case
    (3 or more runs in 4 or more characters) add up to 16 or more characters and to at least
    two fifths of the segment (so a wheel name holding one random-looking piece, such as
    flash_attn's ``cu123torch2.4cxx11abiFALSE``, stays).

    >>> [looks_random(s) for s in ("Zq3f9a1b2c3d4e5f6a7b", "nvidia-cusparselt-cu12", "2.5.1+cu121")]
    [True, False, False]
    """
    randomish = sum(len(p) for p in _PIECES.findall(segment) if _random_piece(p))
    return randomish >= MIN_RANDOM_CHARS and 5 * randomish >= 2 * len(segment)


def _known_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == known or host.endswith("." + known) for known in KNOWN_HOSTS)


def _path_segments(scheme: str, host: str, path: str) -> str:
    """``;name=value`` path parameters masked by name, then random-looking segments masked
    (on hosts not known to keep credentials out of their paths)."""
    check = scheme.lower() != "file" and not _known_host(host)
    vcs = "+" in scheme  # git+https://host/o/r.git@<rev>: the revision is not a token
    segments = path.split("/")
    for i, segment in enumerate(segments):
        base, semi, params = segment.partition(";")
        if semi:
            params = _params(params)
        rev = ""
        if vcs and i == len(segments) - 1 and "@" in base:
            base, at, rev = base.partition("@")
            rev = at + rev
        if check and base != REDACTED and looks_random(base):
            base = REDACTED
        segments[i] = base + rev + semi + params
    return "/".join(segments)


# host:port where the port is not a number: a userinfo whose password holds a raw "/".
_NOT_A_PORT = re.compile(r"^[^\[].*:(?!\d*$)")


def _ssh_like(scheme: str) -> bool:
    # ssh, git+ssh, svn+ssh, sftp: the user name is an account on the server, not a credential.
    return any(part in ("ssh", "sftp") for part in scheme.lower().split("+"))


def _userinfo(scheme: str, userinfo: str) -> str:
    if _PLACEHOLDER.fullmatch(userinfo):
        return userinfo
    if _ssh_like(scheme) and ":" not in userinfo:
        return userinfo
    # Whole, not pip's user:****: a token is often the user part (https://TOKEN@host,
    # https://TOKEN:x-oauth-basic@host), and an empty one means nothing was there.
    return REDACTED if userinfo else userinfo


def _params(text: str) -> str:
    """``a=1&token=x`` -> ``a=****&token=****`` unless a name is harmless; ``;`` splits too."""
    pieces = re.split(r"([&;])", text)
    for i in range(0, len(pieces), 2):
        name, eq, value = pieces[i].partition("=")
        if not pieces[i] or name.lower() in HARMLESS_PARAMS or pieces[i] == REDACTED:
            continue
        if not eq:
            # A bare piece (?TOKEN) is a value without a name.
            pieces[i] = REDACTED
        elif value and value != REDACTED and not _PLACEHOLDER.fullmatch(value):
            pieces[i] = f"{name}={REDACTED}"
    return "".join(pieces)


def _redact_one_url(url: str) -> str:
    """The URL rules on a string that starts with ``scheme://``."""
    scheme, _, rest = url.partition("://")
    # The authority ends at the first "/". Userinfo ends at the last "@" before it, not at the
    # first "?" or "#" as urlsplit has it: a raw password may hold "@", "?" or "#", and cutting
    # there would keep its tail.
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if "@" not in authority and "@" in path and _NOT_A_PORT.match(authority):
        # https://user:pa/ss@host/x: the host is the segment after the first "@".
        end = rest.find("/", rest.index("@"))
        authority, path = (rest, "") if end < 0 else (rest[:end], rest[end:])
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        authority = f"{_userinfo(scheme, userinfo)}@{hostport}"
    # Without a path, the query and fragment start in the authority (https://h?token=x).
    for sep in "?#":
        cut = authority.find(sep)
        if cut >= 0:
            authority, path = authority[:cut], authority[cut:] + path
    host = authority.rpartition("@")[2]
    host = host.partition("]")[0].lstrip("[") if host.startswith("[") else host.partition(":")[0]
    path, hash_, fragment = path.partition("#")
    path, qmark, query = path.partition("?")
    path = _path_token(host, path)
    if scheme.lower() != "file":  # /t/ in a local path is a directory name
        path = _CONDA_TOKEN.sub(rf"\g<1>{REDACTED}", path)
    path = _path_segments(scheme, host, path)
    if query:
        query = _params(query)
    if "=" in fragment:  # #egg=x&sha256=...; a bare #anchor is kept
        fragment = _params(fragment)
    return redact_tokens(f"{scheme}://{authority}{path}{qmark}{query}{hash_}{fragment}")


def redact_url(url: str) -> str:
    """Credentials out of a URL: userinfo, query values, a conda ``/t/<token>/``, token shapes.

    Strings that do not start with a scheme (uv's ``name=URL``, a conda ``channel::spec``, a
    DSN without one) get :func:`redact_text`, which applies the same rules to each URL inside.

    >>> redact_url("https://TOKEN:x-oauth-basic@github.com/o/r.git?ref=v1&token=abc")
    'https://****@github.com/o/r.git?ref=v1&token=****'
    >>> redact_url("ssh://builder@host/repo.git")
    'ssh://builder@host/repo.git'
    """
    if _SCHEME.match(url):
        return _redact_one_url(url)
    return redact_text(url)


# --- free text --------------------------------------------------------------------------------

# name=value, --name=value, name = value, name: value, and the same with the name quoted (JSON
# and YAML: "api_token": "x"); the value of a name that says "secret" (is_secret_name) is masked
# to the next space or quote, so a secret holding "," or "&" goes whole; a quoted value is
# masked to its closing quote, spaces and all. A value opening an object or a list ({, [) is
# left to the names inside it. "::" is no "name: value" (trove classifiers' "License :: OSI
# Approved", conda's channel::package); "==" and "===" compare when a version follows
# (oauthlib==3.2.2 is a PEP 508 requirement), and assign "=value" otherwise.
_KEY = re.compile(r"(?<![\w.-])(?P<q>[\"']?)-{0,2}(?P<key>[A-Za-z][\w.-]*)(?P=q)[ \t]*"
                  r"(?P<sep>={1,3}|:(?!:))[ \t]*")
_VALUE_END = re.compile(r"[\s\"']")
# An HTTP credential (RFC 9110 section 11.4: auth-scheme, then a token68 or auth-params that may
# hold spaces and commas) after Authorization or Proxy-Authorization: masked whole, scheme word
# and all, to the closing quote when the header or its value is quoted, else to the end of the
# line.
_AUTH_HEADER = re.compile(r"(?<![\w-])(?P<q>[\"']?)(?:proxy-)?authorization(?P=q)[ \t]*[:=][ \t]*",
                          re.IGNORECASE)
# --name value, the other spelling of an option (XLA_FLAGS="--password hunter2"). A value may
# start with one "-" (a password "-abc"); one starting with "--" is the next option.
_FLAG_SPACE = re.compile(r"(?<![\w-])(?P<key>--?[A-Za-z][\w.-]*)(?P<ws>[ \t]+)"
                         r"(?P<value>\"[^\"]*\"?|'[^']*'?|-?[^\s\"'-][^\s\"']*)")
# user:password@host without a scheme (a DSN: "admin:p@ss@db:5432"). The password runs to the
# last "@" before the host, so a password holding "@" goes whole.
_BARE_USERINFO = re.compile(r"(?<![^\s=,;(\"'])(?P<userinfo>[^\s:/@=,;\"']+:[^\s/\"']*)@(?=[A-Za-z0-9\[])")


def _closing_quote(text: str, start: int, quote: str) -> int:
    """The index of the quote that closes a value opened just before ``start`` (a backslash
    escapes one, as in JSON), or the end of the text."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return len(text)


def _mask_auth_headers(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _AUTH_HEADER.finditer(text):
        if m.start() < pos:
            continue
        start = m.end()
        before = text[m.start() - 1] if m.start() > 0 else ""
        if start < len(text) and text[start] in "\"'":
            end = _closing_quote(text, start + 1, text[start])
            start += 1
        elif not m.group("q") and before in ("\"", "'"):  # "Authorization: Bearer x"
            end = _closing_quote(text, start, before)
        else:
            newline = text.find("\n", start)
            end = newline if newline != -1 else len(text)
        value = text[start:end].rstrip()  # the space before the next URL is not the credential
        if value and value != REDACTED and not _PLACEHOLDER.fullmatch(value):
            out += [text[pos:start], REDACTED]
            pos = start + len(value)
    out.append(text[pos:])
    return "".join(out)


# --- values no credential can be ------------------------------------------------------------

# PEP 440 (https://packaging.python.org/en/latest/specifications/version-specifiers/), with
# the "==1.0.*" prefix match; after "==" a version ends the requirement or is followed by the
# next specifier (",<2"), a marker (";") or the end of a parenthesised list.
_VERSION = re.compile(rf"(?:{VERSION_PATTERN})(?:\.\*)?", re.VERBOSE | re.IGNORECASE)
_COMPARED_VERSION = re.compile(rf"(?:{VERSION_PATTERN})(?:\.\*)?(?=[,;)\]]|$)",
                               re.VERBOSE | re.IGNORECASE)
# conda's name=version=build (conda list --export, history specs): py311h7a51e26_0, py311*.
_CONDA_BUILD = re.compile(r"[A-Za-z0-9_.*]{1,64}")
# Switches: TOKENIZERS_PARALLELISM=false is a setting of a tokenizer, not a token.
_SWITCH = re.compile(r"true|false|yes|no|on|off|null|none|[01]", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]")


def _release(value: str) -> bool:
    """A dotted release version, conda's build string allowed: 0.19.1, 2.5.1.post1, 0.19.*,
    0.19.1=py311h7a51e26_0. Not a bare number (a PIN is one) and not a local label (+anything)."""
    version, eq, build = value.partition("=")
    m = _VERSION.fullmatch(version)
    if m is None or "." not in m.group("release") or m.group("local"):
        return False
    return not eq or (_CONDA_BUILD.fullmatch(build) is not None and not looks_random(build))


def _looks_like_credential(value: str) -> bool:
    """A word whose random-looking pieces (the entropy rule's) that mix letters and digits add up
    to 16 or more characters (a hex or base62 key, a UUID), or that holds 10 or more digits (a
    numeric license or activation code: 12345-67890-12345). Letters alone never count here: a
    path holds CamelCase names (third_party/VulkanMemoryAllocator/LICENSE)."""
    for word in value.split():
        mixed = sum(len(p) for p in _PIECES.findall(word) if _random_piece(p) and _DIGITS.search(p))
        if mixed >= MIN_RANDOM_CHARS or len(_DIGITS.findall(word)) >= 10:
            return True
    return False


def _keeps_value(value: str, secrecy: int) -> bool:
    """Whether a value given to a secret name is shown: nothing, a placeholder, a switch, a
    release version; and for a name that only may be secret (license names, a bare key), any
    value that does not look like a credential (MIT, LICENSE.txt, numpy)."""
    if (not value or value == REDACTED or _PLACEHOLDER.fullmatch(value) or _SWITCH.fullmatch(value)
            or _release(value)):
        return True
    return secrecy == _MAYBE_SECRET and not _looks_like_credential(value)


def _mask_key_values(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _KEY.finditer(text):
        secrecy = _secrecy(m.group("key"))
        if m.start() < pos or secrecy == _NOT_SECRET:
            continue
        start = m.end()
        if start < len(text) and text[start] in "\"'":
            end = _closing_quote(text, start + 1, text[start])
            start += 1
        elif start < len(text) and text[start] in "{[":
            continue
        else:
            stop = _VALUE_END.search(text, start)
            end = stop.start() if stop else len(text)
        value = text[start:end]
        if m.group("sep") in ("==", "===") and _COMPARED_VERSION.match(value):
            continue  # a requirement: name==version
        if not _keeps_value(value, secrecy):
            out += [text[pos:start], REDACTED]
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _mask_named(m: re.Match[str]) -> str:
    value = m.group("value")
    secrecy = _secrecy(m.group("key").lstrip("-"))
    if secrecy == _NOT_SECRET or _keeps_value(value.strip("\"'"), secrecy):
        return m.group(0)
    quote = value[0] if value[0] in "\"'" else ""
    return m.group(0)[: m.start("value") - m.start(0)] + quote + REDACTED + quote


def _redact_plain(text: str) -> str:
    text = _mask_auth_headers(text)
    text = _mask_key_values(text)
    text = _FLAG_SPACE.sub(_mask_named, text)
    text = _BARE_USERINFO.sub(lambda m: f"{_userinfo('', m.group('userinfo'))}@", text)
    return redact_tokens(text)


def redact_text(text: str) -> str:
    """Every rule, anywhere in free text: each URL gets :func:`redact_url`'s rules, the text
    between gets the name=value, ``--flag value``, ``user:pw@host`` and token-shape rules.

    >>> redact_text("--xla_gpu_autotune_level=4 --auth_token=abc123")
    '--xla_gpu_autotune_level=4 --auth_token=****'
    """
    out: list[str] = []
    pos = 0
    for m in _URL_IN_TEXT.finditer(text):
        out.append(_redact_plain(text[pos:m.start()]))
        out.append(_redact_one_url(m.group()))
        pos = m.end()
    out.append(_redact_plain(text[pos:]))
    return "".join(out)


# --- token shapes -----------------------------------------------------------------------------

# Published prefixes of well-known credentials, matched only as whole tokens (not inside a
# longer word). Sources: GitHub (ghp_/gho_/ghu_/ghs_/ghr_, github_pat_), GitLab (glpat-, and
# gldt-/glrt-/glptt-/glft-/glsoat-: docs.gitlab.com/ee/security/tokens/#token-prefixes), Hugging
# Face (hf_), Slack (xox?-), AWS access key ids (AKIA/ASIA), PyPI API tokens (pypi-AgE...: a
# macaroon), Google API keys (AIza) and OAuth access tokens (ya29.), npm (npm_), JSON Web
# Tokens, Stripe secret and restricted keys (sk_/rk_ + live/test/prod; gitleaks'
# stripe-access-token rule), Databricks (dapi + 32 hex), HashiCorp Vault (hvs./hvb.), SendGrid
# (SG.x.y), Replicate (r8_), Groq (gsk_), and sk- (OpenAI, Anthropic), which _looks_like_key
# checks further.
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|gl(?:pat|dt|rt|ptt|ft|soat)-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|xox[abeoprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|pypi-AgE[A-Za-z0-9_-]{40,}"
    r"|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z._-]{20,}|npm_[A-Za-z0-9]{36}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}|dapi[0-9a-f]{32}(?:-[0-9]+)?"
    r"|hv[sb]\.[A-Za-z0-9_-]{20,}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|r8_[A-Za-z0-9]{30,}"
    r"|gsk_[A-Za-z0-9]{40,}|sk-[A-Za-z0-9_-]{20,})(?![A-Za-z0-9_-])"
)
_KEY_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def _looks_like_key(token: str) -> bool:
    # sk- is also how repositories are named (sk-image-segmentation-pipeline): a key has a
    # long run mixing letters and digits; hyphenated words have neither.
    if not token.startswith("sk-"):
        return True
    return any(re.search(r"\d", run) and re.search(r"[A-Za-z]", run)
               for run in _KEY_RUN.findall(token[3:]))


def redact_tokens(text: str) -> str:
    """Mask whole tokens shaped like a published credential format (ghp_..., AKIA..., sk-...)."""
    return _TOKEN_SHAPES.sub(lambda m: REDACTED if _looks_like_key(m.group()) else m.group(), text)
