"""An image against its snapshot, the pure parts: what differs by design, what is drift, the report.

The capture inside a real image: tests/integration/test_image_roundtrip.py."""

from __future__ import annotations

import json

from envsnap.image.verify import RUN_ROOT, capture_argv, render_verification, verify
from envsnap.snapshot import Package, Source
from envsnap.testing import cpu_venv_snapshot, python_env


def test_differences_an_image_has_by_design_are_expected_not_drift() -> None:
    expected = cpu_venv_snapshot(python=python_env(
        Package(name="six", version="1.16.0"),
        Package(name="mine", version="0.1", source=Source(kind="editable", url="file:///h/mine"))),
        env={"PYTHONHASHSEED": "0", "HOME": "/home/alice"})
    inside = cpu_venv_snapshot(python=python_env(
        Package(name="six", version="1.16.0"), Package(name="mine", version="0.1"),
        version="3.11.2", prefix="/opt/venv", executable="/opt/venv/bin/python"),
        env={"PYTHONHASHSEED": "0"})
    v = verify(expected, inside, image="envsnap:abc")
    assert v.passed and v.drift == () and v.python == "3.11.2" and v.packages == 2
    whys = {e.why for e in v.expected}
    assert "the base image's Python (patch differs)" in whys
    assert "not a variable that changes results (an image sets only those)" in whys
    assert "installed from the lock's wheel" in whys


def test_other_differences_are_drift() -> None:
    expected = cpu_venv_snapshot(python=python_env(Package(name="six", version="1.16.0")),
                                 env={"PYTHONHASHSEED": "0"})
    inside = cpu_venv_snapshot(python=python_env(Package(name="six", version="1.17.0"),
                                                 version="3.12.1"),
                               env={"PYTHONHASHSEED": "1"})
    v = verify(expected, inside, image="envsnap:abc")
    assert not v.passed
    drifted = {(c.section, c.name) for c in v.drift}
    assert ("python.packages", "six") in drifted and ("env", "PYTHONHASHSEED") in drifted
    assert any(c.section == "python" for c in v.drift)  # another minor is not the base's patch
    data = json.loads(render_verification(v, "json", snapshot="s.toml"))
    assert data["passed"] is False and data["image"] == "envsnap:abc"
    assert data["remedy"] == {"command": "envsnap build-image s.toml -t envsnap:abc --verify"}
    assert all(d["fix"] is None for d in data["drift"])  # rebuilt, never pip'd inside an image
    text = render_verification(v, "text", snapshot="s.toml")
    assert text.endswith(f"drift: image envsnap:abc (Python 3.12.1, 1 package(s)) differs from "
                         f"s.toml in {len(v.drift)} environment fact(s)\n")


def test_a_passing_verification_says_so_in_every_format() -> None:
    snap = cpu_venv_snapshot(python=python_env(Package(name="six", version="1.16.0")))
    v = verify(snap, snap, image="img:1")
    assert v.passed and v.expected == ()
    assert render_verification(v, "text", snapshot="s.toml") == (
        "verified: image img:1 (Python 3.11.7, 1 package(s)) has the environment of s.toml\n")
    data = json.loads(render_verification(v, "json", snapshot="s.toml"))
    assert data["passed"] is True and data["remedy"] is None and data["schema"] == "envsnap.verify/1"


def test_the_capture_runs_by_the_images_interpreter_from_the_mounted_copy() -> None:
    argv = capture_argv("/opt/venv/bin/python")
    assert argv[:3] == ["/opt/venv/bin/python", "-B", "-c"]
    assert repr(RUN_ROOT) in argv[3]
    assert argv[4:] == ["capture", "--python", "/opt/venv/bin/python", "--skip", "project",
                        "-o", "-", "-q"]
