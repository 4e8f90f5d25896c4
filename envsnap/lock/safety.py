"""The renderers' own gate: refuse anything unsafe before a lockfile or Dockerfile is written."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .. import rules
from ..errors import BadInputError
from ..snapshot import Snapshot, validate

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
    if len(value) > MAX_VALUE or not SAFE_VALUE.match(value):
        raise BadInputError(
            f"refusing unsafe value {value!r} at '{where}' (only letters, digits, spaces and "
            "_ . , : / = + @ % ~ ^ [ ] { } - are allowed)"
        )


def check_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
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
            raise BadInputError(f"refusing unsafe value {value!r} at 'env.{name}' (quotes, "
                                "backslashes, backticks and $ are not allowed)")
    py = snapshot.python
    if py is not None:
        urls = [(u, "python.indexes") for u in py.indexes]
        urls += [(p.source.url, f"python.packages.{p.name}.source.url")
                 for p in py.packages if p.source is not None and p.source.url]
        for url, where in urls:
            # Only http(s) URLs are ever written, and never redacted ones (plan.py drops both).
            if url.startswith(("http://", "https://")) and "****" not in url \
                    and not SAFE_URL.match(url):
                raise BadInputError(f"refusing URL {url!r} at '{where}' (spaces, quotes and "
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
