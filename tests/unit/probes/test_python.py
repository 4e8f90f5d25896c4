"""The Python probe agrees with the references: packaging for versions and markers,
importlib.metadata and the email parser for METADATA."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.version import InvalidVersion, Version

from envsnap.errors import HostError
from envsnap.host import RunResult
from envsnap.probes import _inspector
from envsnap.probes.dist_info import parse_metadata_text
from envsnap.probes.python import (
    applicable_requirements,
    configured_indexes,
    inspector_output,
    is_valid_version,
)
from envsnap.testing import FakeHost


def _packaging_accepts(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


@pytest.mark.parametrize("version", [
    # canonical forms (the regex's fast path)
    "1", "0", "2.5.1", "2.5.1+cu121", "1!2.0", "1.0a1", "1.0b2", "1.0rc3", "1.0.post1",
    "1.0.dev4", "1.0rc1.post2.dev3", "0.1.dev0", "12.4.127+local.build.7",
    # valid but not canonical (packaging decides)
    "01.2", "1.0+CU121", "1.0-1", "1.0.0-rc.1", "v1.0", "1.0_post1", " 1.0 ", "1.0+cu_121",
    "2024.01.05", "1.0alpha1", "1.0c1", "1.0-dev3",
    # invalid
    "", "not-a-version", "1.0+", "1..0", "1.0+cu121+x", "1.0.", "+cu121", "1.0 beta", "€1",
])
def test_version_check_agrees_with_packaging(version: str) -> None:
    assert is_valid_version(version) is _packaging_accepts(version)




@pytest.mark.parametrize("text", [
    # a folded License whose continuation holds whitespace-only lines (matplotlib, scipy...)
    "Name: a\nLicense: BSD\n        \n        Copyright\n \nRequires-Dist: numpy>=1.23\n\nbody\n",
    "Metadata-Version: 2.1\r\nName : Foo \r\nVersion:1.0\r\nRequires-Dist: a>=1; extra == 'x'\r\n"
    "Classifier: x\r\n  \r\nRequires-Dist: b\r\n\r\nName: from-the-body\n",
    "Name: foo\n bar\nVersion: 1\n\tpost\nRequires-Dist: a\n  cont\n\n",
    "\nName: body-only\n",
    "\r\nName: body-only\n",
    "Name: a\rVersion: 2\r\rRequires-Dist: body\r",
    "Name: a\nnot a header line\nRequires-Dist: after-the-break\n",
    "Ver\u017fion: 9\nName: k\nRequ\u0130res-Dist: z\n\n",
    "name : first\nNAME: second\nVERSION:2\n",
    "Name: a" + " " * 200_000 + "b\nVersion: 1\n",
])
def test_header_block_parse_equals_the_email_parser(text: str) -> None:
    expected = email.message_from_string(text)
    got = parse_metadata_text(text)
    assert (got.name, got.version, list(got.requires)) == (
        expected["Name"], expected["Version"], expected.get_all("Requires-Dist") or [])


def test_requirements_are_evaluated_for_the_target_interpreter() -> None:
    values = [
        "numpy>=1.26", "colorama; platform_system == 'Windows'", "tomli; python_version < '3.11'",
        "pytest; extra == 'test'", "typing-extensions; python_version < '3.11' and extra == 'x'",
        "Requests[SOCKS,Security]<3,>=2", "pkg @ https://user:tok@host/p.whl", "not a requirement!",
        "importlib-metadata; python_version < '3.8' or extra == 'docs'",
    ]
    here = {k: str(v) for k, v in default_environment().items()}
    py311 = {**here, "python_version": "3.11", "python_full_version": "3.11.7",
             "platform_system": "Linux", "sys_platform": "linux"}
    assert applicable_requirements(values, py311) == (
        "numpy>=1.26", "pkg", "requests[security,socks]<3,>=2")
    py310_win = {**py311, "python_version": "3.10", "platform_system": "Windows", "sys_platform": "win32"}
    assert applicable_requirements(values, py310_win) == (
        "colorama", "numpy>=1.26", "pkg", "requests[security,socks]<3,>=2", "tomli")


def test_inspector_marker_environment_equals_packaging() -> None:
    assert _inspector.marker_environment() == default_environment()  # type: ignore[no-untyped-call]


def test_inspector_output_evaluates_literals_only(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()", "{'a': ", "[1, 2]", "",
                 "{'a': open('/etc/passwd').read()}", "[" * 100_000):
        with pytest.raises(HostError, match="no readable inspection"):
            inspector_output("/opt/py", RunResult(returncode=0, stdout=text))
    assert not marker.exists()
    report = "{'version': '3.11.7', 'sys_path': ['/x\\udcff'], 'conda': False}"
    assert inspector_output("/opt/py", RunResult(returncode=0, stdout=report)) == {
        "version": "3.11.7", "sys_path": ["/x\udcff"], "conda": False}
    # Whatever a .pth file or sitecustomize prints before the report is not the report.
    noisy = f"hello from a .pth\n{_inspector.MARKER}\n{report}"
    assert inspector_output("/opt/py", RunResult(returncode=0, stdout=noisy))["version"] == "3.11.7"
    with pytest.raises(HostError, match=r"no readable sys\.path"):
        inspector_output("/opt/py", RunResult(returncode=0, stdout="{'sys_path': 3}"))


def _zip_bytes(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buf.getvalue()


def test_zips_on_sys_path_are_read_and_oversized_ones_named() -> None:
    from envsnap.errors import FileTooLarge
    from envsnap.probes import dist_info
    from envsnap.testing import FakeHost

    egg = _zip_bytes({"EGG-INFO/PKG-INFO": "Metadata-Version: 1.1\nName: zipegg\nVersion: 0.7\n"})
    bundle = _zip_bytes({"b-3.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: b\nVersion: 3.1\n",
                         "b-3.1.dist-info/REQUESTED": ""})
    host = FakeHost(files={"/e/zipegg-0.7-py3.egg": egg, "/z/bundle.zip": bundle})
    dists, stopped = dist_info.scan(host, ["/e/zipegg-0.7-py3.egg", "/z/bundle.zip", "/z/missing.zip"])
    assert stopped is None
    found = [(d["metadata"]["name"], d["metadata"]["version"]) for d in dists]
    assert found == [("zipegg", "0.7"), ("b", "3.1")]
    assert dists[1]["requested"] is True

    class Huge(FakeHost):
        def read_bytes(self, path: str, *, limit: int = 0) -> bytes | None:
            raise FileTooLarge(path)

    dists, _ = dist_info.scan(Huge(files={"/z/big.zip": b"x"}), ["/z/big.zip"])
    assert [(d["error"], d["entry"]) for d in dists] == [("too-large", "big.zip")]


def test_listing_order_decides_between_two_copies() -> None:
    from envsnap.probes import dist_info
    from envsnap.probes.python import parse_inspection
    from envsnap.testing import FakeHost

    meta = "Metadata-Version: 2.1\nName: twin\nVersion: {}\n"
    host = FakeHost(files={"/s/twin-1.0.dist-info/METADATA": meta.format("1.0"),
                           "/s/twin-2.0.dist-info/METADATA": meta.format("2.0")})
    for listed, expected in ((["twin-1.0.dist-info", "twin-2.0.dist-info"], "1.0"),
                             (["twin-2.0.dist-info", "twin-1.0.dist-info"], "2.0")):
        dists, _ = dist_info.scan(host, ["/s"], listing=[["/s", "dir", listed]])
        env = parse_inspection({"version": "3.11.7", "implementation": "cpython", "dists": dists,
                                "site_packages": ["/s"]})
        assert [(p.name, p.version) for p in env.packages] == [("twin", expected)]
        assert [(p.kind, p.name) for p in env.problems] == [("duplicate", "twin")]


def test_uv_index_names_are_stripped_and_credentials_redacted() -> None:
    host = FakeHost(environ={"PIP_CONFIG_FILE": "/dev/null",
                             "UV_INDEX": "corp=https://alice:s3cr3t@pypi.corp/simple"})
    assert configured_indexes(host, None) == ("https://****@pypi.corp/simple",)
