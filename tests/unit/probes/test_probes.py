"""The probe registry: a new probe is one entry; capture, show and diff pick it up unchanged."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from envsnap import drift, probes, sections
from envsnap.capturing import CaptureOptions, capture_with
from envsnap.errors import BadInputError
from envsnap.host import Host
from envsnap.probes import ProbeContext, Probed, ProbeSpec
from envsnap.snapshot import Project, Snapshot
from envsnap.summary import summarize
from envsnap.testing import FakeHost


def _with(monkeypatch: pytest.MonkeyPatch, *specs: ProbeSpec,
          drop: tuple[str, ...] = ()) -> None:
    kept = tuple(s for s in probes.REGISTRY if s.name not in drop)
    monkeypatch.setattr(probes, "REGISTRY", (*kept, *specs))


def _capture(*only: str, host: Host | None = None, **kw: Any) -> Snapshot:
    return capture_with(host or FakeHost(), CaptureOptions(only=frozenset(only), **kw))


def test_a_new_probe_is_run_and_its_status_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ProbeContext] = []

    def fake(host: Host, ctx: ProbeContext) -> Probed[dict[str, int]]:
        seen.append(ctx)
        return Probed(value={"answer": 42}, found_via="the fake sensor")

    _with(monkeypatch, ProbeSpec(name="fake", probe=fake))
    snapshot = _capture("fake")
    assert len(seen) == 1
    status = snapshot.probes["fake"]
    assert (status.status, status.found_via, status.error) == ("ok", "the fake sensor", None)
    assert set(snapshot.probes) == {"fake"}  # only what was asked for
    assert "fake" in snapshot.meta.elapsed_ms
    assert "fake" in probes.names()


def test_a_probe_gets_the_values_of_the_probes_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()

    def base(host: Host, ctx: ProbeContext) -> Probed[str]:
        started.wait(5)  # the dependent's thread is up, and must still wait for this value
        return Probed(value="layout", found_via="base")

    def dependent(host: Host, ctx: ProbeContext) -> Probed[str]:
        return Probed(value=f"read {ctx.result('base')}", found_via="dependent")

    def prepare(host: Host, options: CaptureOptions) -> str:
        started.set()
        return "prepared early"

    got: list[Any] = []

    def record(host: Host, ctx: ProbeContext) -> Probed[str]:
        got.append((ctx.results, ctx.prepared))
        return dependent(host, ctx)

    _with(monkeypatch, ProbeSpec(name="base", probe=base),
          ProbeSpec(name="dependent", probe=record, needs=("base",), prepare=prepare))
    snapshot = _capture("dependent")
    assert got == [({"base": "layout"}, "prepared early")]
    assert set(snapshot.probes) == {"dependent"}  # base ran for it, but was not asked for
    assert snapshot.probes["dependent"].found_via == "dependent"


def test_a_failing_need_or_prepare_still_runs_the_dependent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(host: Host, ctx: ProbeContext) -> Probed[str]:
        raise RuntimeError("sensor on fire")

    def bad_prepare(host: Host, options: CaptureOptions) -> str:
        raise OSError("no")

    def dependent(host: Host, ctx: ProbeContext) -> Probed[str]:
        assert ctx.results == {"broken": None} and ctx.prepared is None
        return Probed(value=None, found_via="nothing to read")

    _with(monkeypatch, ProbeSpec(name="broken", probe=broken),
          ProbeSpec(name="dependent", probe=dependent, needs=("broken",), prepare=bad_prepare))
    snapshot = _capture("broken", "dependent")
    assert snapshot.probes["broken"].status == "error"
    assert "sensor on fire" in (snapshot.probes["broken"].error or "")
    assert snapshot.probes["dependent"].status == "absent"


def test_a_probe_that_needs_python_gets_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[Any] = []

    def fake(host: Host, ctx: ProbeContext) -> Probed[str]:
        got.append((dict(ctx.results), ctx.options.python))
        return Probed(value="x", found_via="fake")

    _with(monkeypatch, ProbeSpec(name="fake", probe=fake, needs=("python",)))
    snapshot = _capture("fake")
    # No interpreter answers on a bare FakeHost: the python probe failed, unasked for, and
    # the fake still ran with the resolved interpreter path in its options.
    assert got and got[0][0] == {"python": None} and got[0][1]
    assert set(snapshot.probes) == {"fake"} and snapshot.python is None


def test_the_entry_names_the_snapshot_field_it_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_git(host: Host, ctx: ProbeContext) -> Probed[Project]:
        return Probed(value=Project(commit="0123456789abcdef", dirty=True),
                      found_via=f"fake git in {ctx.options.cwd}")

    _with(monkeypatch, ProbeSpec(name="project", field="project", probe=fake_git),
          drop=("project",))
    snapshot = _capture("project", cwd="/src")
    assert snapshot.project == Project(commit="0123456789abcdef", dirty=True)
    assert snapshot.probes["project"].found_via == "fake git in /src"
    assert "project   0123456789ab (dirty)" in summarize(snapshot)


def test_a_bad_argument_in_setup_raises_instead_of_being_recorded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def setup(host: Host, options: CaptureOptions) -> CaptureOptions:
        raise BadInputError("--fake-option: nonsense")

    def fake(host: Host, ctx: ProbeContext) -> Probed[str]:
        return Probed(value="x", found_via="fake")

    _with(monkeypatch, ProbeSpec(name="fake", probe=fake, setup=setup))
    with pytest.raises(BadInputError, match="nonsense"):
        _capture("os", "fake")
    _capture("os")  # a probe that does not run does not set up


def test_unknown_names_list_the_registered_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, ProbeSpec(name="fake", probe=lambda h, c: Probed(value=1, found_via="")))
    with pytest.raises(BadInputError, match=r"probes are: python, .*, fake$"):
        _capture("nope")


@pytest.mark.parametrize(("specs", "message"), [
    ((ProbeSpec(name="a", probe=lambda h, c: Probed(value=1, found_via=""), needs=("zz",)),),
     "needs 'zz'"),
    ((ProbeSpec(name="a", probe=lambda h, c: Probed(value=1, found_via=""), needs=("b",)),
      ProbeSpec(name="b", probe=lambda h, c: Probed(value=1, found_via=""), needs=("a",))),
     "cycle"),
])
def test_a_broken_registry_is_a_programming_error(monkeypatch: pytest.MonkeyPatch,
                                                  specs: tuple[ProbeSpec, ...],
                                                  message: str) -> None:
    _with(monkeypatch, *specs)
    with pytest.raises(ValueError, match=message):
        _capture("a")


def test_show_gives_a_probe_without_lines_of_its_own_a_plain_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, ProbeSpec(name="fake",
                                 probe=lambda h, c: Probed(value=1, found_via="a fake sensor")))
    text = summarize(_capture("fake", "os"))
    assert "fake      ok (a fake sensor)" in text.splitlines()


def test_registry_order_drives_sections_and_file_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert probes.names() == probes.PROBE_NAMES
    assert set(probes.fields()) <= set(Snapshot.__dataclass_fields__)
    # A snapshot file keeps the long lists (packages) last.
    assert probes.file_sections()[-2:] == ("python", "conda")
    ranks = [drift.section_rank(s) for s in ("python", "python.packages", "conda.packages",
                                              "os", "nvidia.gpus", "project", "probes")]
    assert ranks == sorted(ranks)
    # Reordering the registry reorders diff output: no list of sections lives in drift.
    by_name = {s.name: s for s in probes.REGISTRY}
    monkeypatch.setattr(probes, "REGISTRY", (by_name["project"], *(
        s for s in probes.REGISTRY if s.name != "project")))
    assert drift.section_rank("project") < drift.section_rank("python")


def test_diff_compares_a_section_without_rules_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections, "REGISTRY", tuple(s for s in sections.REGISTRY
                                                    if s.name != "project"))
    a = Snapshot(project=Project(commit="aaa", branch="main"))
    b = replace(a, project=Project(commit="bbb", branch="main", remote="origin"))
    changes = {(c.section, c.name, c.kind, c.old, c.new) for c in drift.diff(a, b).changes}
    assert changes == {("project", "commit", "changed", "aaa", "bbb"),
                       ("project", "remote", "added", None, "origin")}


def test_a_probe_past_the_capture_deadline_is_recorded_and_its_late_value_ignored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from envsnap import capturing

    release = threading.Event()

    def hung(host: Host, ctx: ProbeContext) -> Probed[str]:
        release.wait(10)  # a read blocked on a hung mount, then it answers after all
        return Probed(value="late", found_via="fake")

    _with(monkeypatch, ProbeSpec(name="fake", probe=hung, field=None))
    monkeypatch.setattr(capturing, "CAPTURE_DEADLINE_S", 0.5)
    snap = _capture("os", "fake")
    release.set()
    assert snap.probes["fake"].status == "error"
    assert snap.probes["fake"].error == "did not finish within 0.5s"
    assert snap.os is not None  # the other probes' results are kept
