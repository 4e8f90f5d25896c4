"""Optional integrations (MLflow, W&B, CycloneDX): each imported only when used, its extra named."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import BadInputError


def require(module: str, extra: str) -> ModuleType:
    """Import an integration's library, or say which extra installs it (exit 2, one line)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BadInputError(
            f"this needs the {extra} extra ({exc.name or module} is not installed): "
            f"pip install 'envsnap[{extra}]'") from None


