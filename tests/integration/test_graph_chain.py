"""A hostile snapshot's dependency graph: a chain of 180,000 packages, each requiring the next
(9 MB, under the size cap), through the real command line with its address space capped at
2 GiB: diff, check, fleet report, export, show --tree and why all finish, with exact counts.
(Per-package reachability sets made diff, fleet report and export die of MemoryError.)"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import support

from envsnap.io import dumps
from envsnap.snapshot import Package, PythonEnv, Snapshot

pytestmark = pytest.mark.slow

N = 180_000
CAP = 2 * 2**30
CHANGED_EVERY = 10_000  # B upgrades every 10,000th package to 2.0: a major change


def _chain(changed: bool) -> Snapshot:
    pkgs = tuple(
        Package(name=f"p{i}", version="2.0" if changed and i % CHANGED_EVERY == 7 else "1.0",
                requires=(f"p{i + 1}",) if i + 1 < N else ())
        for i in range(N))
    return Snapshot(python=PythonEnv(version="3.11.7", implementation="CPython", packages=pkgs))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chain")
    (root / "a.toml").write_text(dumps(_chain(changed=False)))
    (root / "b.toml").write_text(dumps(_chain(changed=True)))
    fleet = root / "fleet"
    fleet.mkdir()
    for name, source in (("n1", "a"), ("n2", "a"), ("n3", "b")):
        shutil.copyfile(root / f"{source}.toml", fleet / f"{name}.toml")
    return root


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def envsnap(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "envsnap", *args], cwd=cwd, capture_output=True,
                          text=True, env=support.clean_env(), preexec_fn=_cap, timeout=900,
                          check=False)
    for bad in ("Traceback", "MemoryError", "internal error"):
        assert bad not in proc.stderr, proc.stderr[-2000:]
    return proc


def test_diff_counts_every_dependent_exactly(chain: Path) -> None:
    proc = envsnap(chain, "diff", "a.toml", "b.toml", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # critical: wide major upgrades
    changes = {c["name"]: c for c in json.loads(proc.stdout)["changes"]}
    upgraded = [f"p{i}" for i in range(7, N, CHANGED_EVERY)]
    assert sorted(changes) == sorted(upgraded)
    for name in upgraded:  # p{i} has p0 .. p{i-1} above it
        assert changes[name]["dependents_total"] == int(name[1:]), name
        assert changes[name]["dependents"] == [f"p{int(name[1:]) - 1}"]


def test_check_fleet_report_and_export_finish(chain: Path) -> None:
    check = envsnap(chain, "check", "b.toml", "--format", "json")
    assert check.returncode == 1 and json.loads(check.stdout)
    fleet = envsnap(chain, "fleet", "report", "fleet", "--format", "json")
    assert fleet.returncode == 1, fleet.stderr
    report = json.loads(fleet.stdout)
    assert [g["nodes"] for g in report["groups"]] == [[str(Path("fleet") / "n3.toml")]]
    export = envsnap(chain, "export", "a.toml", "-o", "a.cdx.json")
    assert export.returncode == 0, export.stderr
    doc = json.loads((chain / "a.cdx.json").read_text())
    assert len(doc["components"]) == N
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert deps["pkg:pypi/p0@1.0"] == ["pkg:pypi/p1@1.0"]
    assert deps["environment"] == ["pkg:pypi/p0@1.0"]


def test_tree_and_why_stay_bounded(chain: Path) -> None:
    tree = envsnap(chain, "show", "a.toml", "--tree")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == "p0==1.0" and len(lines) == 101  # the top and 100 levels, the last cut
    assert lines[-1].endswith("(deeper levels not shown)")
    why = envsnap(chain, "why", "a.toml", f"p{N - 1}")
    assert why.returncode == 0, why.stderr
    path = why.stdout.splitlines()[1]
    assert path.startswith("  p0 1.0 -> p1 1.0") and path.endswith(f"p{N - 1} 1.0")
    assert f"{N - 12:,} more" in path
