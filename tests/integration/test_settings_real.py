"""The user's pip configuration, read by running the real pip (`pip config list`)."""

from __future__ import annotations

from pathlib import Path

import support

from envsnap.lock.settings import (
    pip_settings,
    read_pip_config,
)

H = "a" * 64


def test_pip_config_list_parsed_from_real_pip_output(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://u:p%40ss@mirror.example/simple/\n"
                    "extra-index-url =\n    https://a.example/simple\n    https://b.example/simple\n"
                    "trusted-host = a.example\n[install]\nfind-links = /srv/wheels\n")
    env = support.clean_env({"PIP_CONFIG_FILE": str(conf), "PIP_PROXY": "http://proxy:3128",
                             "PIP_CLIENT_CERT": "/etc/client.pem"})
    values = read_pip_config(env)
    assert values is not None
    s = pip_settings(values)
    assert s.index_url == "https://u:p%40ss@mirror.example/simple/"
    assert s.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert s.find_links == ("/srv/wheels",)  # [install] applies to pip install
    assert s.proxy == "http://proxy:3128" and s.client_cert == "/etc/client.pem"
    assert s.trusted_hosts == ("a.example",)
    assert s.origin == "pip configuration"
    assert "p%40ss" not in s.describe() and "u:" not in s.describe()
