"""envsnap.testing's snapshot factories equal what the real probes read from the recorded files."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from envsnap import io, testing
from envsnap.capturing import capture
from envsnap.gpuarch import torch_arch_list
from envsnap.probes.conda import scan
from envsnap.snapshot import Package, Snapshot
from envsnap.testing import (
    FakeHost,
    conda_snapshot,
    cpu_venv_snapshot,
    gpu_fixture_host,
    h100_gpu,
    h100_snapshot,
    h200_gpu,
    h200_snapshot,
    python_env,
    torch_framework,
)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(("factory", "machine"), [(h100_snapshot, "h100-ubuntu24"),
                                                  (h200_snapshot, "h200-ubuntu24")])
def test_a_gpu_factory_is_what_capture_reads_on_the_recorded_machine(
    factory: Callable[[], Snapshot], machine: str,
) -> None:
    recorded = capture(host=gpu_fixture_host(DATA / "gpu" / machine), only=("os", "nvidia", "cuda"))
    made = factory()
    assert made.nvidia == recorded.nvidia
    assert made.cuda == recorded.cuda
    assert recorded.os is not None
    # The kernel and glibc are FakeHost's own system facts, not the recording's.
    assert made.os == replace(recorded.os, kernel=None)


def test_the_gpus_are_the_recorded_ones() -> None:
    h100, h200 = h100_snapshot().nvidia, h200_snapshot().nvidia
    assert h100 is not None and h200 is not None
    assert h100.gpus == (h100_gpu(),) and h200 == replace(h100, gpus=(h200_gpu(),))
    assert h100_gpu(index=3, uuid=None).index == 3 and h100_gpu(index=3, uuid=None).uuid is None


def test_the_conda_factory_is_what_the_conda_probe_reads_from_the_recorded_records() -> None:
    prefix = "/opt/conda/envs/ft"
    records = {f"{prefix}/conda-meta/{p.name}": p.read_bytes()
               for p in (DATA / "conda-meta").iterdir() if p.name != "SOURCE.md"}
    scanned = scan(FakeHost(files=records), prefix)
    made = conda_snapshot(prefix)
    assert made.conda == scanned.env
    # pip's dist-info is among the folders the records list: conda owns it.
    assert made.python is not None and made.python.package("pip") is not None
    pip = made.python.package("pip")
    assert pip is not None and pip.owner == "conda"
    assert any(a.startswith("lib/python3.13t/site-packages/pip-25.0.1.dist-info")
               for a in scanned.anchors)


def test_torch_is_the_published_build() -> None:
    torch = torch_framework()
    assert torch.arch_list == torch_arch_list(torch.version, torch.variant)
    assert torch_framework(arch_list=("sm_80",)).arch_list == ("sm_80",)


@pytest.mark.parametrize("made", [
    cpu_venv_snapshot(Package(name="six", version="1.16.0")),
    h100_snapshot(frameworks=(torch_framework(),), python=python_env()),
    h200_snapshot(),
    conda_snapshot(),
], ids=["cpu-venv", "h100", "h200", "conda"])
def test_every_factory_makes_a_snapshot_that_round_trips(made: Snapshot) -> None:
    assert io.loads(io.dumps(made)) == made
    assert io.loads(io.dumps_json(made)) == made


def test_overrides_replace_fields_and_keep_the_rest() -> None:
    snap = cpu_venv_snapshot(Package(name="six", version="1.16.0"), env={"X": "1"})
    assert dict(snap.env) == {"X": "1"} and snap.nvidia is None and snap.os is not None
    assert snap.python == python_env(Package(name="six", version="1.16.0"))
    assert python_env(version="3.12.8").version == "3.12.8"
    with pytest.raises(TypeError, match="not both"):
        cpu_venv_snapshot(Package(name="six", version="1.16.0"), python=python_env())


def _examples() -> list[tuple[str, str]]:
    out = []
    for name in testing.__all__:
        doc = inspect.getdoc(getattr(testing, name)) or ""
        for block in re.findall(r"::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n"):
            out.append((name, textwrap.dedent(block)))
    return out


@pytest.mark.parametrize(("name", "code"), _examples(), ids=[n for n, _ in _examples()])
def test_the_docstring_examples_hold(name: str, code: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(f"from envsnap.testing import *\nfrom envsnap.snapshot import *\n{code}",
                 f"<{name} docstring>", "exec"), namespace)
    for test in [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]:
        test()


def test_every_factory_has_an_example() -> None:
    assert {n for n, _ in _examples()} >= {"cpu_venv_snapshot", "h100_snapshot", "conda_snapshot",
                                           "python_env"}
