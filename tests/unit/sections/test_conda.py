"""The conda section: record diff (version, build, channel), the NCCL cluster rule, anonymize, show."""

from __future__ import annotations

from dataclasses import replace

from envsnap import compat
from envsnap.changes import Change
from envsnap.rules import rate_package
from envsnap.sections.base import Relabel
from envsnap.sections.conda import SECTION
from envsnap.snapshot import CondaPackage, Snapshot
from envsnap.testing import conda_snapshot, cpu_venv_snapshot, section_diff

BASE = conda_snapshot()


def _packages(*changed: CondaPackage, drop: str = "") -> Snapshot:
    assert BASE.conda is not None
    by_name = {p.name: p for p in BASE.conda.packages if p.name != drop}
    by_name.update({p.name: p for p in changed})
    return replace(BASE, conda=replace(BASE.conda, packages=tuple(by_name.values())))


def _pkg(name: str, **kw: str) -> CondaPackage:
    assert BASE.conda is not None
    return replace(next(p for p in BASE.conda.packages if p.name == name),
                   **kw)  # type: ignore[arg-type]


def _diff(a: Snapshot, b: Snapshot) -> list[Change]:
    out = section_diff(SECTION, a, b)
    return out


def test_same_records_no_change() -> None:
    assert _diff(BASE, BASE) == []


def test_added_and_removed_as_version_equals_build() -> None:
    (gone,) = _diff(BASE, _packages(drop="six"))
    assert (gone.section, gone.name, gone.kind, gone.old, gone.new) == (
        "conda.packages", "six", "removed", "1.11.0=py36_1", None)
    assert gone.severity == rate_package("six", "removed").severity
    (new,) = _diff(_packages(drop="six"), BASE)
    assert (new.kind, new.new) == ("added", "1.11.0=py36_1")
    # Without conda records on one side, every record is added.
    assert BASE.conda is not None
    assert len(_diff(cpu_venv_snapshot(), BASE)) == len(BASE.conda.packages)


def test_a_version_change_a_rebuild_and_another_channel() -> None:
    (up,) = _diff(BASE, _packages(_pkg("openssl", version="3.5.0")))
    assert (up.kind, up.old, up.new) == ("upgraded", "3.4.1=h81ee809_0", "3.5.0=h81ee809_0")
    (rebuilt,) = _diff(BASE, _packages(_pkg("openssl", build="h81ee809_1")))
    assert (rebuilt.kind, rebuilt.severity) == ("variant", compat.severity("conda_build"))
    (moved,) = _diff(BASE, _packages(_pkg("openssl", channel="pkgs/main")))
    assert (moved.kind, moved.old, moved.new) == ("source", "conda-forge", "pkgs/main")
    assert moved.severity == rate_package("openssl", "source").severity


def test_cluster_rule_names_nccl_records_only() -> None:
    assert SECTION.cluster is not None
    nccl = Change(section="conda.packages", name="nccl", kind="upgraded", severity="major",
                  old="2.21.5", new="2.28.3", explanation="")
    assert SECTION.cluster(nccl) == "nccl"
    assert SECTION.cluster(replace(nccl, name="openssl")) is None
    assert SECTION.cluster(replace(nccl, section="python.packages")) is None


def test_anonymize_relabels_the_prefix() -> None:
    assert SECTION.anonymize is not None and BASE.conda is not None
    rel = Relabel([("/opt/conda/envs/ft", "$PREFIX")], prefix=True)
    anon = SECTION.anonymize(BASE.conda, rel)
    assert anon.prefix == "$PREFIX" and anon.packages == BASE.conda.packages


def test_show_line() -> None:
    assert SECTION.summary is not None and SECTION.summary_data is not None
    assert BASE.conda is not None
    assert SECTION.summary(BASE, SECTION.summary_data(BASE)) == [
        f"conda     {len(BASE.conda.packages)} packages"]
    venv = cpu_venv_snapshot()
    assert SECTION.summary(venv, SECTION.summary_data(venv)) == []
