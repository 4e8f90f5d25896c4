"""The image package's API: the default tag an image built from a snapshot gets."""

from __future__ import annotations

from envsnap.image import default_tag
from envsnap.testing import cpu_venv_snapshot


def test_default_tag_is_the_digests_first_twelve_hex_digits() -> None:
    digest = cpu_venv_snapshot().digest
    tag = default_tag(digest)
    assert tag == "envsnap:" + digest.split(":", 1)[1][:12]
    assert default_tag("0123456789abcdef") == "envsnap:0123456789ab"  # a bare hex digest too
