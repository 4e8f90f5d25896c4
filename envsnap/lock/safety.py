"""The renderers' own gate: refuse anything unsafe before a lockfile or Dockerfile is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import rules
from ..errors import BadInputError
from ..snapshot import Snapshot, is_safe_name, is_safe_version, validate

if TYPE_CHECKING:
    from .hashing import HashedLock

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


def check_value(value: str, where: str) -> None:
    if len(value) > MAX_VALUE or not SAFE_VALUE.fullmatch(value):
        raise BadInputError(
            f"refusing the value at '{where}' (only letters, digits, spaces and "
            "_ . , : / = + @ % ~ ^ [ ] { } - are allowed)"
        )


def check_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise BadInputError(
                f"refusing label key {key!r} (lower-case letters, digits, '.', '_' and '-')"
            )
        check_value(value, f"label {key}")


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
            raise BadInputError(f"refusing the value at 'env.{name}' (quotes, "
                                "backslashes, backticks and $ are not allowed)")
    py = snapshot.python
    if py is not None:
        urls = [(u, "python.indexes") for u in py.indexes]
        urls += [(p.source.url, f"python.packages.{p.name}.source.url")
                 for p in py.packages if p.source is not None and p.source.url]
        for url, where in urls:
            # Only http(s) URLs are ever written, and never redacted ones (plan.py drops both).
            if url.startswith(("http://", "https://")) and "****" not in url \
                    and not SAFE_URL.fullmatch(url):
                raise BadInputError(f"refusing the URL at '{where}' (spaces, quotes and "
                                    "shell characters are not allowed in a URL envsnap writes)")
        check_value(py.version, "python.version")
        # Lock and image enumerate wheel tags per Python minor release (packaging's tag
        # generators loop over every minor below the target): the version must be plausible.
        if rules.python_version(py.version) is None:
            raise BadInputError(f"refusing Python version {py.version!r} at 'python.version' "
                                "(not a MAJOR.MINOR version envsnap can lock for)")
        for attr in ("abi_tag", "platform_tag", "implementation"):
            value = getattr(py, attr)
            if value is not None:
                check_value(value, f"python.{attr}")
    for fw in snapshot.frameworks:
        if fw.variant is not None:
            check_value(fw.variant, f"frameworks.{fw.name}.variant")
        if fw.cuda is not None:
            check_value(fw.cuda, f"frameworks.{fw.name}.cuda")


_SHA256 = re.compile(r"[0-9a-f]{64}")
# Wheel and sdist file names (PEP 427, PEP 625): no path separators, spaces or quotes.
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}")


def check_lock(lock: HashedLock) -> None:
    """The hashed lock a renderer writes from: pins, hashes, file names and URLs come from a
    wheelhouse, pip or an index server, none of which is trusted to be well-formed."""
    plan = lock.plan
    for url in (plan.index_url, *plan.extra_index_urls):
        if not SAFE_URL.fullmatch(url):
            # Never echoed: a refused value is one the redaction rules may not recognise.
            raise BadInputError("refusing an index URL with spaces, quotes or shell characters "
                                "in a lockfile")
    for pin in lock.pins:
        if not is_safe_name(pin.name) or not is_safe_version(pin.version):
            raise BadInputError(f"refusing pin {pin.name!r}=={pin.version!r} in a lockfile")
        for where in (pin.url, pin.index, *(f.url for f in pin.files)):
            if where is not None and not SAFE_URL.fullmatch(where):
                raise BadInputError(f"refusing a URL with spaces, quotes or shell characters "
                                    f"for {pin.name} in a lockfile")
        for f in pin.files:
            if not _SHA256.fullmatch(f.sha256):
                raise BadInputError(f"refusing hash {f.sha256!r} for {pin.name}: not a SHA-256")
            if not _FILENAME.fullmatch(f.filename):
                raise BadInputError(f"refusing file name {f.filename!r} for {pin.name}")
