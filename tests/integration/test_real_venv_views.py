"""A real venv of real PyPI wheels (requests, jinja2, rich, pytest, ... and what they pull in),
captured through the command line, then looked at three ways and checked against the tools
users would otherwise run on the venv itself: `show --tree` against pipdeptree, `why` against
pipdeptree --reverse, and `export` against `cyclonedx-py environment` (same components, same
licenses, same dependency edges), the document validated against the CycloneDX 1.6 schema."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import support
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow

# Installed by name, as a user does; the rest comes in as their requirements. Licenses of every
# kind among them: License-Expression (attrs, idna, urllib3...), an SPDX License (requests,
# click, tqdm's "MPL-2.0 AND MIT"), a free-text License ("Dual License": python-dateutil) and
# classifiers only (jinja2, packaging, mdurl).
REQUESTED = ("requests==2.32.3", "jinja2==3.1.4", "click==8.1.7", "rich==13.7.1", "attrs==23.2.0",
             "pytest==8.3.2", "python-dateutil==2.9.0.post0", "pyyaml==6.0.1", "tqdm==4.66.4")
PULLED_IN = ("certifi==2026.10.19.post1", "charset-normalizer==3.5.3", "idna==3.21",
             "urllib3==2.8.0", "markupsafe==3.0.4", "markdown-it-py==4.3.0", "mdurl==0.1.2",
             "pygments==2.21.0", "iniconfig==2.0.0", "packaging==24.1", "pluggy==1.5.0",
             "six==1.16.0")


def run(*argv: str | Path) -> str:
    return support.run([str(a) for a in argv]).stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the venv's python, its snapshot taken by `envsnap capture --python`)."""
    root = tmp_path_factory.mktemp("views")
    wheels = support.download_wheels(
        Path.home() / ".cache" / "envsnap-tests" / "views", (*REQUESTED, *PULLED_IN))
    python = support.make_venv(root / "env", with_pip=False)
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--find-links",
        wheels, *REQUESTED)
    snap = root / "env.toml"
    run(sys.executable, "-m", "envsnap", "capture", "--python", python, "--skip", "project",
        "-o", snap, "-q")
    return python, snap


def _pipdeptree(python: Path, *args: str) -> Any:
    exe = shutil.which("pipdeptree", path=str(Path(sys.executable).parent))
    assert exe is not None, "pipdeptree is in the test extra"
    return json.loads(run(exe, "--python", python, "-o", "json-tree", *args))


def _spec(text: str) -> SpecifierSet | str:
    return "Any" if text == "Any" else SpecifierSet(text)


def _shape(nodes: list[dict[str, Any]], top: bool) -> list[tuple[Any, ...]]:
    """A json-tree as (canonical name, installed, required, children), by name: the two tools
    spell names (Jinja2, jinja2) and order specifiers (<2,>=1.5) each their own way."""
    return sorted((canonicalize_name(n["key"]), n["installed_version"],
                   None if top else _spec(n["required_version"]),
                   tuple(_shape(n["dependencies"], False))) for n in nodes)


def test_tree_is_pipdeptrees(venv: tuple[Path, Path]) -> None:
    python, snap = venv
    ours = json.loads(run(sys.executable, "-m", "envsnap", "show", snap, "--tree", "--json"))
    assert ours["complete"]
    theirs = _pipdeptree(python)
    assert _shape(ours["tree"], True) == _shape(theirs, True)
    names = {n[0] for n in _shape(theirs, True)}
    assert {"requests", "jinja2", "rich", "pytest", "python-dateutil"} <= names
    text = run(sys.executable, "-m", "envsnap", "show", snap, "--tree")
    assert "rich==13.7.1\n├── markdown-it-py [required: >=2.2.0, installed: 4.3.0]\n" \
           "│   └── mdurl [required: ~=0.1, installed: 0.1.2]\n" in text


def _reverse_paths(nodes: list[dict[str, Any]], below: tuple[str, ...] = ()
                   ) -> set[tuple[str, ...]]:
    """pipdeptree --reverse's json-tree as the paths from each top down to the package."""
    out: set[tuple[str, ...]] = set()
    for n in nodes:
        path = (canonicalize_name(n["key"]), *below)
        out |= _reverse_paths(n["dependencies"], path) if n["dependencies"] else {path}
    return out


@pytest.mark.parametrize("package", ["mdurl", "idna", "packaging", "six", "markupsafe"])
def test_why_matches_pipdeptree_reverse(venv: tuple[Path, Path], package: str) -> None:
    python, snap = venv
    ours = json.loads(run(sys.executable, "-m", "envsnap", "why", snap, package, "--json"))
    assert ours["complete"] and not ours["requested"]
    paths = {tuple(step["name"] for step in p) for p in ours["paths"]}
    theirs = _reverse_paths(_pipdeptree(python, "--reverse", "--packages", package))
    # pipdeptree walks up to packages nothing requires; envsnap starts at those and at the
    # ones installed on request, and every such path extends one of pipdeptree's.
    assert {p for p in paths if p[0] in {t[0] for t in theirs}} == theirs
    assert all(any(t[-len(p):] == p for t in theirs) for p in paths)


def _licenses(component: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for entry in component.get("licenses", ()):
        if "expression" in entry:
            out.add(("expression", entry["expression"]))
        else:
            lic = entry["license"]
            out.add(("id", lic["id"]) if "id" in lic else ("name", lic["name"]))
    return out


def _by_purl(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in doc["components"] if c.get("purl", "").startswith("pkg:pypi/")}


def _edges(doc: dict[str, Any]) -> set[tuple[str, str]]:
    purl = {c["bom-ref"]: c.get("purl") for c in doc["components"]}
    return {(purl[d["ref"]], purl[t]) for d in doc["dependencies"] if d["ref"] in purl
            for t in d.get("dependsOn", ())}


def test_export_matches_cyclonedx_py(venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, snap = venv
    ours_path, theirs_path = tmp_path / "envsnap.cdx.json", tmp_path / "cyclonedx-py.cdx.json"
    run(sys.executable, "-m", "envsnap", "export", snap, "-o", ours_path)
    run(sys.executable, "-m", "cyclonedx_py", "environment", "--output-reproducible",
        "-o", theirs_path, python)
    text = ours_path.read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    ours, theirs = _by_purl(json.loads(text)), _by_purl(json.loads(theirs_path.read_text()))
    assert sorted(ours) == sorted(theirs)  # same components, same package URLs
    assert len(ours) == len(REQUESTED) + len(PULLED_IN)
    for purl, component in ours.items():
        mine, ref = _licenses(component), _licenses(theirs[purl])
        assert mine, purl  # every one of these declares a license somehow
        # The SPDX ids and expressions are the same. cyclonedx-py adds the classifiers to an
        # SPDX License field too; envsnap records the SPDX value alone (PEP 639's order:
        # docs/snapshot-format.md#licenses), so its names are a subset of cyclonedx-py's.
        assert {x for x in mine if x[0] != "name"} == {x for x in ref if x[0] != "name"}, purl
        assert {x for x in mine if x[0] == "name"} <= {x for x in ref if x[0] == "name"}, purl
        if not any(kind != "name" for kind, _ in mine):
            assert mine == ref, purl  # classifiers only: the very same list
    assert _licenses(ours["pkg:pypi/tqdm@4.66.4"]) == {("expression", "MPL-2.0 AND MIT")}
    assert _licenses(ours["pkg:pypi/jinja2@3.1.4"]) == {
        ("name", "License :: OSI Approved :: BSD License")}
    assert _licenses(ours["pkg:pypi/mdurl@0.1.2"]) == {("id", "MIT")}  # the classifier, mapped
    # Every edge envsnap records, cyclonedx-py has too; it also links the requirements of
    # extras nobody installed (pytest's dev extra -> pygments), which pip check and pipdeptree
    # leave out, as envsnap does.
    edges, reference = _edges(json.loads(text)), _edges(json.loads(theirs_path.read_text()))
    assert edges <= reference and ("pkg:pypi/rich@13.7.1", "pkg:pypi/pygments@2.21.0") in edges
    assert ("pkg:pypi/pytest@8.3.2", "pkg:pypi/pygments@2.21.0") in reference - edges
    env = json.loads(text)["metadata"]["component"]
    assert env["bom-ref"] == "environment" and env["type"] == "application"


README_LINES = ("envsnap show train.toml --tree", "envsnap show train.toml --packages",
                "envsnap why train.toml idna")


def test_the_readme_lines_run(venv: tuple[Path, Path], tmp_path: Path) -> None:
    readme = " ".join((support.REPO / "README.md").read_text().split())
    _, snap = venv
    shutil.copyfile(snap, tmp_path / "train.toml")
    for line in README_LINES:
        assert line in readme, line
        out = support.run([sys.executable, "-m", *line.split()], cwd=tmp_path).stdout
        assert out.strip(), line
    assert out.splitlines()[1] == "  requests 2.32.3 -> idna 3.21"
