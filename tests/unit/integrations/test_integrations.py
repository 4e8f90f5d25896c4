"""require(): an integration's library imported, or the extra that installs it named."""

from __future__ import annotations

import json
import sys

import pytest

from envsnap.errors import BadInputError
from envsnap.integrations import require


def test_an_installed_library_is_returned() -> None:
    assert require("json", "none") is json


def test_a_missing_library_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(BadInputError) as refused:
        require("wandb", "wandb")
    assert str(refused.value) == ("this needs the wandb extra (wandb is not installed): "
                                  "pip install 'envsnap[wandb]'")
    with pytest.raises(BadInputError, match=r"envsnap\[x\]"):
        require("envsnap_no_such_module_xyz", "x")
