"""changes: the scope of a section (the probe registry's host entries), and the Change and
Finding records' defaults."""

from __future__ import annotations

import pytest

from envsnap import changes, probes, rules
from envsnap.changes import Change, Finding
from envsnap.host import Host
from envsnap.probes import ProbeContext, Probed, ProbeSpec


@pytest.mark.parametrize(("section", "scope"), [
    ("os", "host"), ("cpu", "host"), ("nvidia", "host"), ("nvidia.gpus", "host"),
    ("cuda", "host"), ("cuda.libraries", "host"), ("python", "environment"),
    ("python.packages", "environment"), ("python.requirements", "environment"),
    ("conda.packages", "environment"), ("frameworks", "environment"), ("env", "environment"),
    ("project", "environment"), ("a-plugin-section", "environment"),
])
def test_scope_of_a_section(section: str, scope: str) -> None:
    assert changes.scope_of(section) == scope
    assert scope in rules.SCOPES


def test_host_sections_are_the_registry_host_entries() -> None:
    want = {n for s in probes.registry() if s.host for n in (s.name, s.field) if n is not None}
    assert changes.host_sections() == want
    assert {"os", "cpu", "nvidia", "cuda"} <= want and "python" not in want


def _plugin(host: Host, ctx: ProbeContext) -> Probed[str]:
    return Probed(value="x", found_via="plugin")


def test_a_plugin_entry_decides_its_own_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    assert changes.scope_of("rack.slot") == rules.ENVIRONMENT
    monkeypatch.setattr(probes, "REGISTRY", (*probes.REGISTRY, ProbeSpec(
        name="rack", field="rack", probe=_plugin, host=True)))
    assert changes.scope_of("rack.slot") == rules.HOST  # the new registry is read, not a cache
    monkeypatch.setattr(probes, "REGISTRY", tuple(s for s in probes.REGISTRY if s.name != "rack"))
    assert changes.scope_of("rack.slot") == rules.ENVIRONMENT


@pytest.mark.parametrize(("via", "scope"), [
    ("pip:nvidia-cudnn-cu12", "environment"), ("conda:cudnn", "environment"),
    ("ldconfig", "host"), ("cuda_home", "host"), ("system:libcudnn9", "host"),
    ("ld_library_path", "host"), ("pipx", "host"),
])
def test_found_via_decides_a_library_copy_whatever_the_section(via: str, scope: str) -> None:
    assert changes.scope_of("python.packages", found_via=via) == scope
    assert changes.scope_of("cuda.libraries", found_via=via) == scope


def test_a_change_takes_its_section_scope_unless_given() -> None:
    def change(section: str, scope: str = "") -> Change:
        return Change(section=section, name="x", kind="changed", severity="info", old="a",
                      new="b", explanation="", scope=scope)

    assert change("nvidia.driver").scope == "host"
    assert change("python.packages").scope == "environment"
    assert change("cuda.libraries", scope="environment").scope == "environment"
    assert change("python.packages").kind in changes.KINDS


@pytest.mark.parametrize(("rule", "kind"), sorted(changes.NOT_DIFFERENCES))
def test_not_differences_are_said_never_failed(rule: str, kind: str) -> None:
    finding = Finding(rule=rule, subject="x", severity="info", expected=None, actual=None,
                      explanation="", kind=kind)
    assert finding.difference is False
    assert Finding(rule=rule, subject="x", severity="info", expected=None, actual=None,
                   explanation="", kind=kind + "-other").difference is True
