"""wording: the phrases diff and check share, each checked against what it must say."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsnap import wording
from envsnap.snapshot import GPU, Binding, Source


@given(st.lists(st.text("abc", min_size=1, max_size=3), max_size=12), st.integers(0, 8))
def test_more_text_names_the_first_and_counts_the_rest(names: list[str], limit: int) -> None:
    text = wording.more_text(names, limit)
    assert text.startswith(", ".join(names[:limit]))
    assert text.endswith(f" and {len(names) - limit} more") is (len(names) > limit)
    assert wording.names_text(names, limit) == wording.more_text(sorted(names), limit)


@pytest.mark.parametrize(("src", "text"), [
    (None, "index"),
    (Source(kind="vcs", vcs="git", url="https://g/o/r", commit="1a2b3c4d5e6f7a8b"),
     "git https://g/o/r@1a2b3c4d5e6f"),
    (Source(kind="vcs", url="https://g/o/r", requested_revision="main"), "vcs https://g/o/r@main"),
    (Source(kind="editable", url="file:///src/x"), "editable file:///src/x"),
    (Source(kind="editable"), "editable"),
    (Source(kind="archive", url="https://h/x.tgz"), "archive https://h/x.tgz"),
    (Source(kind="dir"), "dir"),
])
def test_source_text(src: Source | None, text: str) -> None:
    assert wording.source_text(src) == text


def test_gpu_texts() -> None:
    h100 = GPU(index=0, name="NVIDIA H100 80GB HBM3")
    odd = GPU(index=1, name="Mystery")
    assert wording.gpu_text(h100) == "NVIDIA H100 80GB HBM3 (sm_90)"
    assert wording.gpu_text(odd) == "Mystery"
    assert wording.gpus_text([h100] * 8) == "8 x NVIDIA H100 80GB HBM3 (sm_90)"
    assert wording.gpus_text([odd, h100]) == "2: Mystery, NVIDIA H100 80GB HBM3 (sm_90)"


@pytest.mark.parametrize(("n", "text"), [(80 * 2**30, "80 GiB"), (None, "?"), (0, "?"),
                                         (85520809984, "80 GiB")])
def test_gib(n: int | None, text: str) -> None:
    assert wording.gib(n) == text


@given(st.one_of(st.text(max_size=300), st.dictionaries(st.text(max_size=5), st.integers(),
                                                        max_size=40)))
def test_plain_text_is_short_and_faithful_when_short(value: str | dict[str, int]) -> None:
    full = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = wording.plain_text(value)
    assert len(text) <= 200
    assert text == full if len(full) <= 200 else text == full[:197] + "..."


def test_generic_fix_follows_the_direction() -> None:
    down = wording.generic_fix("numpy", "2.1.0", "1.26.4", downgrade=True, dependents=["b", "a"])
    assert "numpy 1.26.4 is older than the 2.1.0" in down and "(a, b)" in down
    assert down.endswith("reinstall numpy==2.1.0, or install releases of its dependents made for "
                         "1.26.4.")
    up = wording.generic_fix("numpy", "1.26.4", "2.1.0", downgrade=False)
    assert up.startswith("Code written for numpy 1.26.4 may rely") and "pin numpy==1.26.4" in up


def test_binding_texts() -> None:
    pre = Binding(soname="libcudnn.so.9", path="/opt/libcudnn.so.9", via="preload",
                  found_by="LD_PRELOAD", version="9.10.2", build_id="0123456789abcdef")
    rp = Binding(soname="libcudnn.so.9", path="/v/libcudnn.so.9", via="rpath",
                 found_by="/v/libtorch_cuda.so", version="9.1.0")
    gone = Binding(soname="libcuda.so.1", via="missing", found_by="/v/libtorch_cuda.so")
    assert wording.how_bound(pre) == "LD_PRELOAD"
    assert wording.how_bound(rp) == "DT_RPATH of /v/libtorch_cuda.so"
    assert wording.binding_text(pre, build=True) == (
        "9.10.2 at /opt/libcudnn.so.9 (LD_PRELOAD) build-id 0123456789ab")
    assert wording.binding_text(gone) == "not found (needed by /v/libtorch_cuda.so)"
    assert wording.rebound_text("torch", pre, None) == "torch no longer loads libcudnn.so.9."
    assert "importing torch fails" in wording.rebound_text("torch", None, gone)
    assert wording.rebound_text("torch", None, rp).startswith("torch now loads libcudnn.so.9: 9.1.0")
    assert "libcudnn.so.9 9.1.0 instead of 9.10.2" in wording.rebound_text("torch", pre, rp)
    rebuilt = Binding(soname=pre.soname, path=pre.path, via=pre.via, found_by=pre.found_by,
                      version=pre.version, build_id="fedcba9876543210")
    assert "build-id 0123456789ab -> fedcba987654" in wording.rebound_text("torch", pre, rebuilt)


@pytest.mark.parametrize("level", ["epoch", "major", "minor", "patch", "pre", "post", "unparseable"])
def test_every_version_class_has_words(level: str) -> None:
    assert wording.LEVEL_WORDS[level]
