"""The renderers' gate: hostile names, versions, env values and URLs refused unechoed; scrub."""

from __future__ import annotations

import sys

import pytest

from envsnap.errors import BadInputError
from envsnap.lock import plan
from envsnap.lock.safety import scrub
from envsnap.snapshot import Package, PythonEnv, Snapshot

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


from lock_cases import snapshot


@pytest.mark.parametrize("field,value", [
    ("name", "six;rm -rf /"), ("name", "six\nRUN x"), ("version", "1.0 || curl x"),
    ("version", '1.0"'),
])
def test_hostile_package_refused_before_rendering(field: str, value: str) -> None:
    fields = {"name": "six", "version": "1.0", field: value}
    pkg = Package(name=fields["name"], version=fields["version"])
    with pytest.raises(BadInputError):
        plan(snapshot(pkg))


def test_hostile_env_value_refused() -> None:
    snap = Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython"),
                    env={"PYTHONHASHSEED": "0$(id)"})
    with pytest.raises(BadInputError, match=r"env\.PYTHONHASHSEED") as refused:
        plan(snap)
    assert "$(id)" not in str(refused.value)  # the refused value is never echoed


def test_scrub_hides_paths_and_credentials_but_keeps_urls() -> None:
    text = scrub("ERROR: no such file /home/alice/src/pkg from https://u:pw@h.org/simple/x")
    assert "/home/alice" not in text and "pw@" not in text
    assert "https://****@h.org/simple/x" in text


def test_ordinary_env_values_do_not_block_a_lock() -> None:
    from envsnap.lock.safety import check_snapshot
    from envsnap.snapshot import Snapshot as _Snapshot

    # Real values: an arch list with ';' and '+', a URL the capture redacted.
    check_snapshot(_Snapshot(env={"TORCH_CUDA_ARCH_LIST": "8.0;8.6+PTX",
                                  "TRITON_CACHE_URL": "https://svc:****@cache.internal/t"}))


@pytest.mark.parametrize("url", [
    "https://files.example/a.whl --trusted-host evil",
    'https://files.example/a.whl"',
    "https://files.example/$(id).whl",
])
def test_urls_that_could_carry_pip_options_are_refused(url: str) -> None:
    from envsnap.errors import BadInputError
    from envsnap.lock.safety import check_snapshot
    from envsnap.snapshot import Package, PythonEnv, Source
    from envsnap.snapshot import Snapshot as _Snapshot

    snap = _Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="a", version="1.0", source=Source(kind="archive", url=url)),)))
    with pytest.raises(BadInputError, match=r"refusing the URL at 'python\.packages\.a\.source\.url'"
                       ) as refused:
        check_snapshot(snap)
    assert "files.example" not in str(refused.value)  # the refused value is never echoed


def test_real_file_names_pass() -> None:
    from envsnap.lock.safety import is_safe_filename

    for name in ("six-1.16.0-py2.py3-none-any.whl", "torch-2.3.1+cu121-cp311-cp311-linux_x86_64.whl",
                 "numpy-2.1.0-1build-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                 "six-1.16.0.tar.gz", "zope.interface-6.0.zip"):
        assert is_safe_filename(name), name
