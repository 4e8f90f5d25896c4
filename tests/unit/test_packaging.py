"""The wheel ships every package in the source tree.

setuptools is given an explicit package list (templates/ is mapped in as envsnap.templates,
which automatic discovery cannot express), so a new subpackage left off it installs fine in
editable mode and breaks only a real install: this compares the list with the tree.
"""

from __future__ import annotations

from pathlib import Path

from envsnap.tomlreader import loads

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_in_the_tree_is_listed_for_the_wheel() -> None:
    listed = set(loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "envsnap").rglob("__init__.py")
    }
    assert in_tree - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - in_tree == {"envsnap.templates"}
