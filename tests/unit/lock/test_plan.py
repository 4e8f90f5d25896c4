"""Snapshot -> LockPlan (pure): label indexes, source kinds, normalised names."""

from __future__ import annotations

import sys

from envsnap.lock import plan
from envsnap.snapshot import Package, Source

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


from lock_cases import H3, snapshot


def test_plan_routes_local_label_to_its_index_and_keeps_file_indexes_out() -> None:
    snap = snapshot(Package(name="torch", version="2.3.1+cu121"),
                     Package(name="six", version="1.16.0"),
                     indexes=("file:///opt/pypi/simple", "https://user:****@corp/simple"))
    p = plan(snap)
    torch = next(x for x in p.pins if x.name == "torch")
    assert torch.index == "https://download.pytorch.org/whl/cu121"
    assert p.index_url == "https://pypi.org/simple"  # the machine's file:// index is not used
    assert p.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert "manylinux2014_x86_64" in p.platforms and "linux_x86_64" in p.platforms


def test_plan_classifies_sources() -> None:
    snap = snapshot(
        Package(name="mine", version="0.1", source=Source(kind="editable", url="file:///h/mine")),
        Package(name="gitpkg", version="1.0", source=Source(
            kind="vcs", vcs="git", url="https://github.com/o/r", commit="abc123")),
        Package(name="remote", version="2.0", source=Source(
            kind="archive", url="https://example.org/remote-2.0.tar.gz", hash="sha256=" + H3)),
        Package(name="conda-owned", version="1.0", owner="conda"),
    )
    kinds = {p.name: (p.kind, p.build_from) for p in plan(snap).pins}
    assert kinds["mine"] == ("build", "/h/mine")
    assert kinds["gitpkg"] == ("build", "git+https://github.com/o/r@abc123")
    assert kinds["remote"][0] == "direct"
    assert "conda-owned" not in kinds and plan(snap).conda_owned == ("conda-owned",)


def test_plan_normalises_names_so_both_hashing_modes_agree() -> None:
    from envsnap.lock.plan import plan
    from envsnap.snapshot import Package, PythonEnv
    from envsnap.snapshot import Snapshot as _Snapshot

    snap = _Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="PyYAML", version="6.0.2"), Package(name="Typing_Extensions", version="4.12.2"))))
    assert sorted(p.name for p in plan(snap).pins) == ["pyyaml", "typing-extensions"]
