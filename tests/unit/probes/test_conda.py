"""conda probe: the real records copied from conda/conda's test data (tests/data/conda-meta/SOURCE.md),
history specs, channel names, and the redaction rules applied to every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsnap.probes import conda
from envsnap.testing import FakeHost

DATA = Path(__file__).resolve().parents[2] / "data"


# conda: the real records copied from conda/conda's test data (tests/data/conda-meta/SOURCE.md)


def _record(name: str) -> dict[str, object]:
    return json.loads((DATA / "conda-meta" / name).read_text())  # type: ignore[no-any-return]


def test_modern_conda_forge_record() -> None:
    pkg = conda.parse_record(_record("python-3.13.2-hfd29fff_1_cp313t.json"))
    assert (pkg.name, pkg.version, pkg.build, pkg.channel, pkg.subdir) == (
        "python", "3.13.2", "hfd29fff_1_cp313t", "conda-forge", "osx-arm64")
    assert pkg.sha256 == "a64466b8f65b77604c3c87092c65d9e51e7db44b11eaa6c469894f0b88b1af5a"
    assert pkg.md5 == "9d0ae3f3e43c192a992827c0abffe284"
    assert pkg.requested_spec == "python=3.13"
    assert pkg.url and pkg.url.endswith("python-3.13.2-hfd29fff_1_cp313t.conda")


def test_old_defaults_record_without_sha256_and_dependency_spec() -> None:
    numpy = conda.parse_record(_record("numpy-1.15.1-py36had7ef94_0.json"))
    assert numpy.channel == "pkgs/main" and numpy.sha256 is None and numpy.md5
    openssl = conda.parse_record(_record("openssl-3.4.1-h81ee809_0.json"))
    assert openssl.requested_spec is None  # "None" in the record: pulled in as a dependency


def test_noarch_record() -> None:
    pip = conda.parse_record(_record("pip-25.0.1-pyh145f28c_0.json"))
    assert (pip.noarch, pip.subdir) == ("python", "noarch")


def test_history_requested_specs() -> None:
    specs = conda.parse_history((DATA / "conda-meta" / "history").read_text())
    assert specs == ("pip", "python=3.13", "python_abi[build=*_cp313t]")


def test_history_remove_specs() -> None:
    text = "# update specs: ['numpy', 'scipy>=1.10']\n# remove specs: ['scipy']\n"
    assert conda.parse_history(text) == ("numpy",)


def test_scan_reads_every_record_and_the_ownership_anchors() -> None:
    files = {f"/env/conda-meta/{p.name}": p.read_bytes() for p in (DATA / "conda-meta").iterdir()}
    files["/env/conda-meta/broken-1.0-0.json"] = b"{not json"
    result = conda.scan(FakeHost(files=files), "/env")
    assert [p.name for p in result.env.packages] == [
        "numpy", "openssl", "pip", "python", "python_abi", "six"]
    assert "lib/python3.6/site-packages/six-1.11.0-py3.6.egg-info" in result.anchors
    assert "lib/python3.13t/site-packages/pip-25.0.1.dist-info" in result.anchors
    # absolute paths of the recording machine are never carried into the snapshot
    assert "/Users/" not in repr(result.env)


@pytest.mark.parametrize(
    ("channel", "subdir", "expected"),
    [
        ("https://conda.anaconda.org/conda-forge/linux-64", "linux-64", "conda-forge"),
        ("https://repo.anaconda.com/pkgs/main/osx-64", "osx-64", "pkgs/main"),
        ("https://user:pw@conda.example.com/private/linux-64", "linux-64",
         "https://****@conda.example.com/private"),
    ],
)
def test_channel_names(channel: str, subdir: str, expected: str) -> None:
    assert conda.channel_name(channel, subdir) == expected


def test_conda_channel_with_a_token_keeps_its_name_not_its_token() -> None:
    record = _record("python-3.13.2-hfd29fff_1_cp313t.json")
    token = "tk-0123456789abcdef"
    record["channel"] = f"https://conda.anaconda.org/t/{token}/conda-forge/osx-arm64"
    record["url"] = str(record["url"]).replace("conda.anaconda.org/", f"conda.anaconda.org/t/{token}/")
    pkg = conda.parse_record(record)
    assert pkg.channel == "conda-forge"
    assert pkg.url is not None and token not in pkg.url and "/t/****/" in pkg.url


def test_conda_record_fields_and_history_specs() -> None:
    record = {"name": "numpy", "version": "2.1.0", "build": "py311_0", "subdir": "linux-64",
              "channel": "https://conda.corp/t/Zsecret1/internal/linux-64",
              "url": "https://u:Zsecret2@conda.corp/internal/linux-64/numpy-2.1.0-py311_0.conda",
              "requested_spec": "https://conda.corp/t/Zsecret3/internal::numpy"}
    pkg = conda.parse_record(record)
    assert "Zsecret" not in json.dumps([pkg.channel, pkg.url, pkg.requested_spec])
    assert pkg.channel == "https://conda.corp/t/****/internal"
    assert pkg.requested_spec == "https://conda.corp/t/****/internal::numpy"
    history = ("# update specs: ['https://tok:Zsecret4@conda.corp/internal::scipy', "
               "\"numpy[channel='https://conda.corp/t/Zsecret5/internal']\", 'conda-forge::pip']\n")
    specs = conda.parse_history(history)
    assert specs == ("numpy[channel='https://conda.corp/t/****/internal']", "conda-forge::pip",
                     "https://****@conda.corp/internal::scipy")  # sorted by package name
