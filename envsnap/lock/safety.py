"""The renderers' own gate: refuse anything unsafe before a lockfile or Dockerfile is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .. import rules
from ..errors import BadInputError
from ..redact import redact_text
from ..snapshot import Snapshot, is_safe_name, is_safe_version, validate
from .model import is_sha256

if TYPE_CHECKING:
    from .model import HashedLock

# Environment values and labels end up inside Dockerfile ENV/LABEL instructions. The model
# already refuses control characters; here we also refuse every character a shell or the
# Dockerfile parser gives meaning to (quotes, $, backslash, backtick, ;, &, |, <, >, (, )),
# so a value can be written without relying on escaping alone.
SAFE_VALUE = re.compile(r"^[A-Za-z0-9 _.,:/=+@%~^\[\]{}-]*$")
# URLs written into requirements.txt (`--index-url`, `name @ URL`) and Dockerfiles: no spaces
# or quotes, so a URL can never carry a second pip option (`--trusted-host evil`).
SAFE_URL = re.compile(r"^https?://[A-Za-z0-9._~:/%+@=-]+$")
_ENV_UNSAFE = re.compile(r"[`\"'\\$]")
_LABEL_KEY = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")
MAX_VALUE = 1024

# A refused value is never shown in the message: it may be a secret, a terminal escape or the
# payload itself. The key path says where it is; the rule says what is wrong with it.


def check_value(value: str, where: str) -> None:
    if len(value) > MAX_VALUE or not SAFE_VALUE.fullmatch(value):
        why = (f"longer than {MAX_VALUE} characters" if len(value) > MAX_VALUE else
               "only letters, digits, spaces and _ . , : / = + @ % ~ ^ [ ] { } - are allowed")
        raise BadInputError(f"refusing the value at '{where}' ({why}; the value is not shown)")


def check_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise BadInputError(
                "refusing a label key (lower-case letters, digits, '.', '_' and '-'; "
                "the key is not shown)"
            )
        check_value(value, f"label {key}")


def check_planned(snapshot: Snapshot, lock: HashedLock | None) -> None:
    """check_snapshot, unless ``lock`` was planned from this very snapshot: plan() checked it
    (a snapshot is immutable), and each command checks once."""
    if lock is None or lock.plan.snapshot is not snapshot:
        check_snapshot(snapshot)


def check_snapshot(snapshot: Snapshot) -> None:
    """Re-run the model's validation (a Snapshot built in code skipped it) and our stricter rules.

    Raises BadInputError (exit 2) naming the offending key path.
    """
    validate(snapshot)
    # Quotes, backslashes, backticks and $ never belong in the variables envsnap records and
    # are how a value escapes its quoting, so a snapshot holding one is refused outright.
    # Other characters (TORCH_CUDA_ARCH_LIST="8.0;8.6+PTX", a redacted "user:****@") are
    # common; the Dockerfile renderer applies its stricter SAFE_VALUE to what it writes.
    for name, value in snapshot.env.items():
        if _ENV_UNSAFE.search(value):
            raise BadInputError(f"refusing the value at 'env.{name}' (quotes, backslashes, "
                                "backticks and $ are not allowed; the value is not shown)")
    py = snapshot.python
    if py is not None:
        urls = [(u, "python.indexes") for u in py.indexes]
        urls += [(p.source.url, f"python.packages.{p.name}.source.url")
                 for p in py.packages if p.source is not None and p.source.url]
        for url, where in urls:
            # Only http(s) URLs are ever written, and never redacted ones (plan.py drops both).
            if url.startswith(("http://", "https://")) and "****" not in url \
                    and not SAFE_URL.fullmatch(url):
                raise BadInputError(f"refusing the URL at '{where}' (spaces, quotes and shell "
                                    "characters are not allowed in a URL envsnap writes; the "
                                    "URL is not shown)")
        check_value(py.version, "python.version")
        # Lock and image enumerate wheel tags per Python minor release (packaging's tag
        # generators loop over every minor below the target): the version must be plausible.
        if rules.python_version(py.version) is None:
            raise BadInputError("refusing the value at 'python.version' (not a MAJOR.MINOR "
                                "version envsnap can lock for)")
        for attr in ("abi_tag", "platform_tag", "implementation"):
            value = getattr(py, attr)
            if value is not None:
                check_value(value, f"python.{attr}")
    for fw in snapshot.frameworks:
        if fw.variant is not None:
            check_value(fw.variant, f"frameworks.{fw.name}.variant")
        if fw.cuda is not None:
            check_value(fw.cuda, f"frameworks.{fw.name}.cuda")


# Wheel and sdist file names (PEP 427, PEP 625): no path separators, spaces or quotes.
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}")


def is_safe_filename(name: str) -> bool:
    """A wheel or sdist file name that can become a path: one component of the safe alphabet
    (no separator, no leading dot) that packaging parses as a wheel (a build tag may otherwise
    hold ``/``) or an sdist name. Checked before any path is built from a name an index, a
    page or a snapshot gave."""
    if not _FILENAME.fullmatch(name):
        return False
    try:
        if name.endswith(".whl"):
            parse_wheel_filename(name)
        else:
            parse_sdist_filename(name)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return False
    return True


def check_lock(lock: HashedLock) -> None:
    """The hashed lock a renderer writes from: pins, hashes, file names and URLs come from a
    wheelhouse, pip or an index server, none of which is trusted to be well-formed."""
    plan = lock.plan
    for url in (plan.index_url, *plan.extra_index_urls):
        if not SAFE_URL.fullmatch(url):
            raise BadInputError("refusing an index URL in a lockfile (spaces, quotes and shell "
                                "characters are not allowed; the URL is not shown)")
    for pin in lock.pins:
        if not is_safe_name(pin.name) or not is_safe_version(pin.version):
            raise BadInputError("refusing a pin whose name or version is not a valid "
                                "distribution name or version (not shown)")
        for where in (pin.url, pin.index, *(f.url for f in pin.files)):
            if where is not None and not SAFE_URL.fullmatch(where):
                raise BadInputError(f"refusing a URL for {pin.name} in a lockfile (spaces, "
                                    "quotes and shell characters are not allowed; not shown)")
        for f in pin.files:
            if not is_sha256(f.sha256):
                raise BadInputError(f"refusing a hash for {pin.name}: not a SHA-256 (not shown)")
            # The file name of a direct URL (`main.zip` of a git host's archive) need not be
            # a wheel or sdist name; it is never a path here, only a comment and a key.
            if not _FILENAME.fullmatch(f.filename):
                raise BadInputError(f"refusing a file name for {pin.name} in a lockfile (not "
                                    "shown)")


# An absolute path of this machine inside pip's message (not the path part of a URL).
_ABS_PATH = re.compile(r"(?<![\w:/.])/[^\s'\"]+")


def scrub(text: str) -> str:
    """One line, credentials redacted, this machine's absolute paths hidden: safe to write."""
    return _ABS_PATH.sub("<path>", redact_text(" ".join(text.split())))
