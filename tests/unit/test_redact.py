"""Credential redaction against pip's own test vectors (where envsnap is stricter, and why)."""

from __future__ import annotations

import pytest

from envsnap.redact import redact_text, redact_url


# Vectors from pip's tests/unit/test_utils.py::test_redact_auth_from_url. pip keeps the user
# part (user:****@); envsnap drops userinfo whole, because the user part is often the token
# (https://TOKEN@host, https://TOKEN:x-oauth-basic@host).
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@domain.tld/project/tags/v0.2", "https://****@domain.tld/project/tags/v0.2"),
        ("https://domain.tld/project/tags/v0.2", "https://domain.tld/project/tags/v0.2"),
        ("https://user@domain.tld/project/trunk", "https://****@domain.tld/project/trunk"),
        ("https://user:@domain.tld/project/trunk", "https://****@domain.tld/project/trunk"),
        ("http://domain.tld/project/trunk", "http://domain.tld/project/trunk"),
        ("https://accesstoken@example.com/abc", "https://****@example.com/abc"),
        ("https://user%3Aname:%23%40%5E@example.com", "https://****@example.com"),
        ("git+https://user:token@github.com/o/r.git@v1", "git+https://****@github.com/o/r.git@v1"),
    ],
)
def test_redact_url_against_pip_vectors(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_pep610_env_placeholders_and_ssh_users_are_kept() -> None:
    assert redact_url("https://${USER}:${TOKEN}@h/x") == "https://${USER}:${TOKEN}@h/x"
    assert redact_url("ssh://git@github.com/o/r.git") == "ssh://git@github.com/o/r.git"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgres://app:hunter2@db:5432/prod", "hunter2"),
        ("admin:hunter2@db.internal:5432", "hunter2"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ in text", "ghp_0123456789abcdefghijABCDEFGHIJ"),
        ("hf_abcdefghijklmnopqrstuvwxyz12", "hf_abcdefghijklmnopqrstuvwxyz12"),
        ("AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_redact_text_removes_secrets(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert "****" in out


def test_plain_values_are_untouched() -> None:
    for value in (":4096:8", "0", "/usr/local/cuda/lib64:/opt/lib", "eth0,ib0", "max_split_size_mb:128"):
        assert redact_text(value) == value


def test_scp_style_remote_keeps_git_user() -> None:
    assert redact_url("git@github.com:o/r.git") == "git@github.com:o/r.git"
    assert redact_url("https://x:y@gitlab.com/o/r.git") == "https://****@gitlab.com/o/r.git"


def test_uv_named_index_and_unparseable_urls_are_redacted() -> None:
    assert redact_url("corp=https://alice:s3cr3t@pypi.corp/simple") == "corp=https://****@pypi.corp/simple"


def test_anaconda_token_segment_is_redacted() -> None:
    url = "https://conda.anaconda.org/t/tk-1234abcd/conda-forge/linux-64/numpy-2.1.0-py311_0.conda"
    assert redact_url(url) == (
        "https://conda.anaconda.org/t/****/conda-forge/linux-64/numpy-2.1.0-py311_0.conda")
