"""Every exception envsnap raises on purpose derives from EnvsnapError."""

from __future__ import annotations

from .text import printable


class EnvsnapError(Exception):
    """Root of envsnap's errors; ``str(error)`` is the one line a user reads."""

    exit_code = 1


class BadInputError(EnvsnapError):
    """The user handed us something we cannot use: a missing, malformed or hostile file."""

    exit_code = 2


class SnapshotFormatError(BadInputError):
    """A snapshot file that is not valid TOML or does not follow the schema.

    The message carries the key path (``python.packages.numpy.version``) so the
    user can find the offending line, the way packaging's PylockValidationError does.
    """

    def __init__(self, message: str, *, path: str | None = None, file: str | None = None):
        self.message = message
        self.key_path = path
        self.file = file
        # A hostile key (a package name holding a newline) must not break the one-line error
        # or reach the terminal raw: control characters are shown escaped.
        shown = printable(path) if path else ""
        where = f" at '{shown}'" if path else ""
        prefix = f"{file}: " if file else ""
        super().__init__(f"{prefix}{message}{where}")


class UnsupportedSchemaError(SnapshotFormatError):
    """A snapshot written by a newer envsnap (unknown schema major)."""


class HostError(EnvsnapError):
    """Something on the machine could not be read or run (named, never a traceback)."""


class FileTooLarge(HostError):
    """A file is larger than the cap on what envsnap reads from it."""


class CommandNotFound(HostError):
    """The binary a probe wanted to run is not installed."""


class CommandTimeout(HostError):
    """A subprocess ran past its timeout and was killed."""


class EngineError(EnvsnapError):
    """The Docker engine is missing, stopped, or failed a build."""


class CheckFailed(EnvsnapError):
    """Used by callers that want an exception when a gate fails."""
