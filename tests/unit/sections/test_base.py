"""What the section hooks are handed: Relabel (--anonymize) and CheckContext."""

from __future__ import annotations

import hashlib

import pytest

from envsnap.sections.base import CheckContext, Relabel
from envsnap.snapshot import Package, ProbeStatus
from envsnap.testing import cpu_venv_snapshot

REL = Relabel([("/home/me/venv", "$PREFIX"), ("/home/me", "~")], prefix=True)


@pytest.mark.parametrize(("path", "out"), [
    ("/home/me/venv/bin/python", "$PREFIX/bin/python"),
    ("/home/me/venv", "$PREFIX"),
    ("/home/me/src", "~/src"),
    ("/home/me2/src", "/home/me2/src"),  # whole components only
    ("/opt/x", "/opt/x"),
    (None, None),
])
def test_path(path: str | None, out: str | None) -> None:
    assert REL.path(path) == out


def test_url_relabels_file_urls_only() -> None:
    # A relabelled file URL is its label and path: no longer a URL a tool would open.
    assert REL.url("file:///home/me/src/pkg") == "~/src/pkg"
    assert REL.url("https://home/me/x") == "https://home/me/x"
    assert REL.url("file:///opt/pkg") == "file:///opt/pkg" and REL.url(None) is None


def test_text_relabels_where_a_path_starts_and_a_component_ends() -> None:
    value = "/home/me/venv/lib:/home/me2/lib;x=/home/me/a (/home/me) 'file:///home/me'"
    assert REL.text(value) == "$PREFIX/lib:/home/me2/lib;x=~/a (~) 'file://~'"


def test_hash_id_is_stable_and_short() -> None:
    uuid = "GPU-5a1e0000-1111-2222-3333-444444444444"
    assert Relabel.hash_id(uuid) == "sha256:" + hashlib.sha256(uuid.encode()).hexdigest()[:16]
    assert Relabel.hash_id(None) is None


def test_check_context() -> None:
    live = cpu_venv_snapshot(Package(name="envsnap", version="1.0", requires=("packaging",)),
                             Package(name="packaging", version="25.0"),
                             Package(name="six", version="1.17.0"),
                             probes={"nvidia": ProbeStatus(status="error", error="hung")})
    ctx = CheckContext(cpu_venv_snapshot(), live, policy="exact", host_only=False,
                       python="/opt/my venv/bin/python", tool=("envsnap",))
    assert ctx.pip == "'/opt/my venv/bin/python' -m pip"
    assert ctx.own == {"envsnap", "packaging"}
    assert ctx.probe_failed("nvidia") and not ctx.probe_failed("cpu")
    assert CheckContext(live, live.__class__(), policy="exact", host_only=True, python="p",
                        tool=()).own == frozenset()
