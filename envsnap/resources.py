"""Shipped data files: templates/ (packaged as envsnap.templates) and compat tables."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

# In a source checkout (an editable install maps only the envsnap/ folder), templates/ sits
# beside the package; in a wheel it is the envsnap.templates package.
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_text(name: str) -> str:
    """The text of ``templates/<name>``."""
    try:
        return importlib.resources.files("envsnap.templates").joinpath(name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (_CHECKOUT_TEMPLATES / name).read_text("utf-8")


def compat_text(name: str) -> str:
    """The text of ``envsnap/compat/<name>`` (shipped compatibility data)."""
    return importlib.resources.files("envsnap.compat").joinpath(name).read_text("utf-8")
