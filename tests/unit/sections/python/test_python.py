"""The python section: the interpreter diff, the Python-minor and NCCL cluster rules, anonymize, show."""

from __future__ import annotations

from dataclasses import replace

import pytest

from envsnap import compat
from envsnap.changes import Change
from envsnap.sections.base import Relabel
from envsnap.sections.python import SECTION
from envsnap.snapshot import Package, Snapshot, Source
from envsnap.testing import cpu_venv_snapshot, python_env, section_diff

BASE = cpu_venv_snapshot(Package(name="numpy", version="1.26.4", native=True),
                         Package(name="six", version="1.16.0"))


def _py(**kw: object) -> Snapshot:
    assert BASE.python is not None
    return replace(BASE, python=replace(BASE.python, **kw))  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[Change]:
    out = section_diff(SECTION, a, b)
    return out


def test_no_python_on_one_side() -> None:
    (gone,) = _diff(BASE, replace(BASE, python=None))
    assert (gone.kind, gone.severity) == ("removed", compat.severity("python_missing"))
    (new,) = _diff(replace(BASE, python=None), BASE)
    assert (new.kind, new.severity) == ("added", compat.severity("other"))
    assert _diff(replace(BASE, python=None), replace(BASE, python=None)) == []


def test_a_minor_release_counts_the_native_packages_and_a_patch_does_not_matter() -> None:
    (minor,) = _diff(BASE, _py(version="3.12.8"))
    assert (minor.kind, minor.severity) == ("upgraded", compat.severity("python_minor"))
    assert "the 1 installed package(s) with compiled extensions" in minor.explanation
    assert minor.fix == "use a Python 3.11.7 interpreter"
    (patch,) = _diff(BASE, _py(version="3.11.9"))
    assert (patch.severity, patch.fix) == (compat.severity("python_patch"), None)


def test_implementation_and_abi_tag() -> None:
    changes = {c.name: c.severity for c in _diff(BASE, _py(implementation="pypy"))}
    assert changes == {"implementation": compat.severity("python_implementation")}
    (c,) = _diff(BASE, _py(abi_tag="cp311t"))
    assert (c.name, c.severity) == ("abi_tag", compat.severity("python_abi_tag"))


@pytest.mark.parametrize(("section", "name", "old", "new", "rule"), [
    ("python", "python", "3.11.7", "3.12.1", "python_minor"),
    ("python", "python", "3.11.7", "3.11.9", None),
    ("python.packages", "nvidia-nccl-cu12", "2.21.5", "2.27.5", "nccl"),
    ("python.packages", "numpy", "1.26.4", "2.0.0", None),
    ("python", "abi_tag", "cp311", "cp311t", None),
])
def test_cluster_rule(section: str, name: str, old: str, new: str, rule: str | None) -> None:
    assert SECTION.cluster is not None
    c = Change(section=section, name=name, kind="upgraded", severity="major", old=old, new=new,
               explanation="")
    assert SECTION.cluster(c) == rule


def test_anonymize_relabels_every_path_and_file_url() -> None:
    assert SECTION.anonymize is not None
    env = python_env(Package(name="ed", version="1.0", location="/home/user/venv/src/ed",
                             source=Source(kind="editable", url="file:///home/user/src/ed")),
                     indexes=("file:///home/user/wheels", "https://pypi.org/simple"))
    rel = Relabel([("/home/user/venv", "$PREFIX"), ("/home/user", "~")], prefix=True)
    anon = SECTION.anonymize(env, rel)
    assert (anon.prefix, anon.executable) == ("$PREFIX", "$PREFIX/bin/python")
    assert anon.site_packages == ("$PREFIX/lib/python3.11/site-packages",)
    (pkg,) = anon.packages
    assert pkg.location == "$PREFIX/src/ed" and pkg.source is not None
    assert pkg.source.url == "~/src/ed"
    assert anon.indexes == ("~/wheels", "https://pypi.org/simple")


def test_show_line() -> None:
    assert SECTION.summary is not None and SECTION.summary_data is not None
    s = cpu_venv_snapshot(Package(name="ed", version="1.0",
                                  source=Source(kind="editable", url="file:///x")),
                          Package(name="six", version="1.16.0"))
    assert SECTION.summary(s, SECTION.summary_data(s)) == [
        "python    cpython 3.11.7 (venv), 2 packages, 1 editable"]
    none = replace(s, python=None)
    assert SECTION.summary(none, SECTION.summary_data(none)) == []
