"""The lock's model: what counts as a sha256, and the refusal that names the sources to build."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap.errors import BadInputError
from envsnap.lock.model import BuildRefused, Pin, is_sha256


@given(st.binary(max_size=64))
def test_a_real_sha256_hex_digest_is_one(data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    assert is_sha256(digest)
    assert not is_sha256(digest.upper())  # every file envsnap writes holds lower case
    assert not is_sha256(digest[:-1]) and not is_sha256(digest + "0")
    assert not is_sha256(f"sha256:{digest}")


@pytest.mark.parametrize("value", ["", "g" * 64, hashlib.md5(b"x").hexdigest(),
                                   hashlib.sha512(b"x").hexdigest(), " " + "a" * 63, "a" * 64 + "\n"])
def test_other_strings_are_not(value: str) -> None:
    assert not is_sha256(value)


def test_build_refused_names_each_source_and_is_bad_input() -> None:
    pins = [Pin(name="mine", version="0.1", kind="build"), Pin(name="gitpkg", version="1.0",
                                                               kind="build")]
    refused = BuildRefused(pins)
    assert isinstance(refused, BadInputError)  # exit 2: the user decides, nothing ran
    assert refused.pins == tuple(pins)
    text = str(refused)
    assert text.startswith("not building 2 source(s) the snapshot names (mine 0.1, gitpkg 1.0)")
    assert "--allow-build" in text and "\n" not in text
