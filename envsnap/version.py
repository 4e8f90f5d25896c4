"""envsnap's version: the one copy, read by the package root, pyproject.toml and every header."""

__version__ = "0.1.0"
