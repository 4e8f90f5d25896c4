"""Snapshot -> Dockerfile (pure, dockerfile.py) -> image (engine.py, the only Docker-aware code)."""

from __future__ import annotations

from .dockerfile import BaseImage, ImagePlan, choose_base, portable_snapshot, render

__all__ = ["BaseImage", "ImagePlan", "choose_base", "default_tag", "portable_snapshot", "render"]


def default_tag(digest: str) -> str:
    """``envsnap:<first 12 hex digits of the snapshot digest>``."""
    return "envsnap:" + digest.removeprefix("sha256:")[:12]
