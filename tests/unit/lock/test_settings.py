"""The user's pip / uv configuration (parsed, not run): precedence, flags, trusted hosts."""

from __future__ import annotations

import pytest

from envsnap.errors import BadInputError
from envsnap.lock.settings import (
    IndexSettings,
    combine,
    parse_pip_config_list,
    pip_settings,
    portable_index,
    uv_settings,
    with_flags,
)

H = "a" * 64


def test_pip_precedence_env_over_command_over_global() -> None:
    values = parse_pip_config_list(
        "global.index-url='https://g/simple'\ninstall.index-url='https://i/simple'\n"
        ":env:.index-url='https://e/simple'\nglobal.no-index='false'\n"
        "download.index-url='https://d/simple'\nnot a line\n")
    assert pip_settings(values).index_url == "https://e/simple"
    del values[":env:.index-url"]
    assert pip_settings(values).index_url == "https://i/simple"
    assert pip_settings(values, command="download").index_url == "https://d/simple"


def test_uv_configuration_files_and_variables() -> None:
    project = {"index-url": "https://proj/simple", "pip": {"find-links": ["/w"]}}
    user = {"index": [{"name": "corp", "url": "https://corp/simple", "default": True},
                      {"name": "torch", "url": "https://download.pytorch.org/whl/cpu"}],
            "allow-insecure-host": ["corp"]}
    s = uv_settings([project, user], {"SSL_CERT_FILE": "/etc/ca.pem"})
    assert s.index_url == "https://proj/simple"  # the project file wins over the user file
    assert s.extra_index_urls == ("https://download.pytorch.org/whl/cpu",)
    assert s.find_links == ("/w",) and s.cert == "/etc/ca.pem" and s.trusted_hosts == ("corp",)
    env = {"UV_DEFAULT_INDEX": "https://env/simple", "UV_INDEX": "t=https://t/simple https://x/s"}
    s = uv_settings([project], env)
    assert s.index_url == "https://env/simple"
    assert s.extra_index_urls == ("https://t/simple", "https://x/s")


def test_pip_wins_over_uv_and_flags_over_both() -> None:
    pip = IndexSettings(index_url="https://pipmirror/simple", origin="pip configuration")
    uv = IndexSettings(index_url="https://uvmirror/simple", cert="/ca", origin="uv configuration")
    both = combine(pip, uv)
    assert both.index_url == "https://pipmirror/simple" and both.cert == "/ca"
    assert combine(IndexSettings(origin="pip configuration"), uv).index_url == "https://uvmirror/simple"
    flagged = with_flags(both, index_url="https://flag/simple")
    assert flagged.index_url == "https://flag/simple"
    assert flagged.origin == "--index-url over the pip configuration"


@pytest.mark.parametrize("url,written", [
    ("https://user:tok@mirror.example/simple/", "https://mirror.example/simple"),
    ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/simple"),
])
def test_flagged_indexes_are_written_without_credentials(url: str, written: str) -> None:
    assert portable_index(url, "--index-url") == written


@pytest.mark.parametrize("url", ["/srv/simple", "file:///srv/simple",
                                 "https://mirror.example/simple?token=abc123"])
def test_flagged_indexes_that_cannot_be_written_are_refused(url: str) -> None:
    with pytest.raises(BadInputError):
        portable_index(url, "--index-url")


@pytest.mark.parametrize(("url", "trusted", "expected"), [
    ("http://mirror:8080/simple", ["mirror"], True),  # a host entry trusts every port
    ("http://mirror:8080/simple", ["mirror:8080"], True),
    ("http://mirror:8080/simple", ["mirror:9090"], False),
    ("http://MIRROR/simple", ["mirror"], True),
    ("http://127.0.0.1:9/simple", [], False),  # loopback is no exception for a snapshot's index
    ("http://evil.example/simple", ["mirror"], False),
])
def test_trusted_host_matches_as_pip_does(url: str, trusted: list[str], expected: bool) -> None:
    from envsnap.lock.settings import is_trusted

    assert is_trusted(url, trusted) is expected
