"""One module per probe; each takes a Host and returns a ``Probed`` value."""

from __future__ import annotations

from typing import Generic, TypeVar

from dataclasses import dataclass

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Probed(Generic[T]):
    """A probe's answer: ``value`` None means looked and found nothing (absence is data).

    ``found_via`` says how the value was found, or where the probe looked when it found
    nothing. A probe that cannot look at all raises, and capture records the error.
    """

    value: T | None
    found_via: str


PROBE_NAMES = ("python", "conda", "os", "cpu", "nvidia", "cuda", "frameworks", "env", "project")
