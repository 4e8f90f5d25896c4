"""Restore's pure parts: the restored environment compared with the snapshot, and the choice of
interpreter (the process edge replaced by recorded answers).

A real venv restored from a real lock: tests/integration/test_restore.py."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from envsnap.errors import CommandNotFound
from envsnap.host import RunResult
from envsnap.lock.restore import Drift, RestoreError, compare, find_python
from envsnap.snapshot import Package, Source
from envsnap.testing import python_env

TAGS = ("cp311-cp311-manylinux_2_17_x86_64",)


def test_the_same_packages_elsewhere_are_no_drift() -> None:
    a = python_env(Package(name="six", version="1.16.0", installer="pip"),
                   Package(name="mine", version="0.1", source=Source(kind="editable",
                                                                     url="file:///h/mine")))
    b = python_env(Package(name="Six", version="1.16.0", installer="uv"),
                   Package(name="mine", version="0.1"), prefix="/elsewhere/venv",
                   executable="/elsewhere/venv/bin/python")
    assert compare(a, b) == ()


def test_each_kind_of_drift_is_named() -> None:
    a = python_env(Package(name="six", version="1.16.0"), Package(name="gone", version="1.0"),
                   Package(name="numpy", version="2.1.0", tags=TAGS))
    b = python_env(Package(name="six", version="1.17.0"), Package(name="new", version="2.0"),
                   Package(name="numpy", version="2.1.0", tags=("cp311-cp311-linux_x86_64",)),
                   version="3.11.9")
    drift = compare(a, b)
    assert [(d.what, d.name) for d in drift] == [
        ("python.version", "python.version"), ("missing", "gone"), ("extra", "new"),
        ("wheel", "numpy"), ("version", "six")]
    assert [str(d) for d in drift] == [
        "python.version: 3.11.7 -> 3.11.9", "gone==1.0 missing", "new==2.0 not in the snapshot",
        "numpy: cp311-cp311-manylinux_2_17_x86_64 -> cp311-cp311-linux_x86_64",
        "six: 1.16.0 -> 1.17.0"]
    # a package rebuilt from its source gets this machine's tags: not drift
    assert [d.name for d in compare(a, b, built=["NumPy"])] == [
        "python.version", "gone", "new", "six"]


def test_an_unrecorded_expectation_is_not_drift() -> None:
    a = python_env(Package(name="six", version="1.16.0"), abi_tag=None)
    b = python_env(Package(name="six", version="1.16.0", tags=TAGS), abi_tag="cp311")
    assert compare(a, b) == ()
    assert Drift(what="python.abi_tag", name="x", expected=None, found="cp311") not in compare(a, b)


class _Machine:
    """Recorded answers of `PYTHON -c _PROBE` per interpreter path; which() by name."""

    def __init__(self, paths: dict[str, str], answers: dict[str, str]) -> None:
        self.paths, self.answers = paths, answers
        self.ran: list[str] = []

    def which(self, name: str) -> str | None:
        return self.paths.get(name)

    def run(self, argv: Sequence[str]) -> RunResult:
        self.ran.append(argv[0])
        if argv[0] not in self.answers:
            raise CommandNotFound(argv[0])
        return RunResult(returncode=0, stdout=self.answers[argv[0]])


def test_the_exact_version_wins_over_the_first_found() -> None:
    m = _Machine({"python3.11": "/usr/bin/python3.11", "python3": "/opt/py/bin/python3"},
                 {"/usr/bin/python3.11": "3.11.4 cpython\n", "/opt/py/bin/python3": "3.11.7 cpython\n"})
    found, note = find_python("3.11.7", which=m.which, run=m.run)
    assert (found.path, found.version, note) == ("/opt/py/bin/python3", "3.11.7", None)


def test_the_same_minor_is_used_with_a_note() -> None:
    m = _Machine({"python3.11": "/usr/bin/python3.11"}, {"/usr/bin/python3.11": "3.11.4 cpython"})
    found, note = find_python("3.11.7", which=m.which, run=m.run)
    assert found.version == "3.11.4"
    assert note == ("no Python 3.11.7 here: using 3.11.4 at /usr/bin/python3.11 (the patch "
                    "differs: reported as drift)")


def test_another_implementation_or_minor_is_refused_naming_what_was_found() -> None:
    m = _Machine({"python3.11": "/usr/bin/pypy3", "python3": "/usr/bin/python3"},
                 {"/usr/bin/pypy3": "3.11.7 pypy", "/usr/bin/python3": "3.12.1 cpython"})
    with pytest.raises(RestoreError, match=r"needs cpython 3\.11\.7 \(or 3\.11\.x\).*found "
                                           r"3\.12\.1\): install it, or pass --python PATH"):
        find_python("3.11.7", which=m.which, run=m.run)


def test_an_explicit_python_is_the_only_one_asked() -> None:
    m = _Machine({}, {"/opt/mine/python": "3.10.14 cpython"})
    found, _ = find_python("3.10.14", explicit="/opt/mine/python", which=m.which, run=m.run)
    assert found.path == "/opt/mine/python" and m.ran == ["/opt/mine/python"]
    with pytest.raises(RestoreError, match=r"looked for /nowhere/python; found none"):
        find_python("3.10.14", explicit="/nowhere/python", which=m.which, run=m.run)
