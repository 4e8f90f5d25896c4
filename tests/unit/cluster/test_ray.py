"""Ray fleet capture's pure parts: the request as plain data, a node's reply validated and rewritten,
the copy Ray ships recognised.

The capture on a real Ray cluster: tests/integration/test_fleet_ray.py."""

from __future__ import annotations

import pytest

from envsnap.cluster.ray import CaptureRequest, _shipped_by_ray, _validated
from envsnap.io import dumps
from envsnap.snapshot import Package, PythonEnv, Snapshot


def test_request_travels_as_plain_data() -> None:
    req = CaptureRequest(python="/opt/venv/bin/python", only=("python", "env"), skip=("project",))
    assert req.to_dict() == {"python": "/opt/venv/bin/python", "only": ["python", "env"],
                             "skip": ["project"], "deep": False, "anonymize": False}


# ---------------------------------------------------------------------------------------------
# What a node sends back is parsed and re-written by the driver, never written as sent.

SNAPSHOT = Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython",
                                     packages=(Package(name="idna", version="3.7"),)))


def test_a_valid_reply_is_rewritten_by_envsnap() -> None:
    text = dumps(SNAPSHOT)
    assert _validated({"snapshot": text}, "vm") == (text, None)
    # A comment (or anything else the writer would not produce) does not survive.
    written, reason = _validated({"snapshot": "# injected\n" + text}, "vm")
    assert reason is None and written == text


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ("not a dict", "sent str"),
        ({}, "no snapshot"),
        ({"snapshot": 3}, "no snapshot"),
        ({"error": "--python /x: no such interpreter"}, "refused on the node: --python /x"),
        ({"snapshot": "[meta\n"}, "invalid snapshot"),
        ({"snapshot": "x" * (64 * 2**20 + 1)}, "more than 64 MiB"),
        ({"snapshot": dumps(SNAPSHOT).replace("'3.7'", "'9.9'")}, "does not match its digest"),
    ],
)
def test_a_broken_or_hostile_reply_is_a_reason(reply: object, needle: str) -> None:
    text, reason = _validated(reply, "vm")
    assert text is None
    assert reason is not None and needle in reason
    assert "\n" not in reason


def test_the_copy_ray_ships_is_recognised_on_pythonpath() -> None:
    session = "/tmp/ray/session_x/runtime_resources/py_modules_files"
    assert _shipped_by_ray(f"{session}/_ray_pkg_2af5605e4319b1fb", "/elsewhere")
    assert _shipped_by_ray("/opt/shipped/", "/opt/shipped")
    assert not _shipped_by_ray("/home/u/src", "/opt/shipped")
