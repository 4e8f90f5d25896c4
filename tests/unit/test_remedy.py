"""remedy: pip's arguments for one package (checked by pip's own requirement parser) and the one
command that undoes drift, shell-quoted (checked by shlex)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement

from envsnap import remedy
from envsnap.snapshot import Binding, LibraryCopy, Package, Source


@pytest.mark.parametrize(("pkg", "args"), [
    (Package(name="numpy", version="2.1.0"), ("numpy==2.1.0",)),
    (Package(name="torch", version="2.5.1+cu121"),
     ("torch==2.5.1+cu121", "--index-url", "https://download.pytorch.org/whl/cu121")),
    (Package(name="jaxlib", version="0.4.30+cuda12.cudnn89"), ("jaxlib==0.4.30+cuda12.cudnn89",)),
    (Package(name="x", version="1", source=Source(kind="vcs", vcs="git", url="https://g/o/r",
                                                  commit="a" * 40)),
     (f"x @ git+https://g/o/r@{'a' * 40}",)),
    (Package(name="x", version="1", source=Source(kind="editable", url="file:///src/my%20x")),
     ("-e", "/src/my x")),
    (Package(name="x", version="1", source=Source(kind="dir", url="file:///src/x")), ("/src/x",)),
    (Package(name="x", version="1", source=Source(kind="archive", url="https://h/x-1.tar.gz")),
     ("x @ https://h/x-1.tar.gz",)),
])
def test_install_args(pkg: Package, args: tuple[str, ...]) -> None:
    assert remedy.install_args(pkg) == args


def test_a_direct_reference_is_one_pep508_requirement() -> None:
    pkg = Package(name="x", version="1", source=Source(kind="archive", url="https://h/x-1.tar.gz"))
    (arg,) = remedy.install_args(pkg)
    req = Requirement(arg)
    assert (req.name, req.url) == ("x", "https://h/x-1.tar.gz")


@given(st.text(min_size=1, max_size=20), st.booleans())
def test_pip_install_is_one_shell_word_per_argument(pip: str, reinstall: bool) -> None:
    pkg = Package(name="x", version="1", source=Source(kind="dir", url="file:///a b/$(rm -rf ~)"))
    words = shlex.split(remedy.pip_install(shlex.quote(pip), pkg, reinstall=reinstall))
    flags = ["--force-reinstall", "--no-deps"] if reinstall else []
    assert words == [pip, "install", *flags, "/a b/$(rm -rf ~)"]


@pytest.mark.parametrize(("binding", "fix"), [
    (Binding(soname="libcudnn.so.9", path="/opt/c/libcudnn.so.9", via="preload",
             found_by="LD_PRELOAD"), "remove /opt/c/libcudnn.so.9 from LD_PRELOAD"),
    (Binding(soname="libcudnn.so.9", path="/opt/c/libcudnn.so.9", via="preload",
             found_by="/etc/ld.so.preload"), "remove /opt/c/libcudnn.so.9 from /etc/ld.so.preload"),
    (Binding(soname="libnccl.so.2", path="/opt/n/lib/libnccl.so.2", via="ld_library_path",
             found_by="/x/libtorch_cuda.so"),
     "remove /opt/n/lib (or the entry that links to it) from LD_LIBRARY_PATH"),
    (Binding(soname="libnccl.so.2", path="/v/nvidia/nccl/lib/libnccl.so.2", via="rpath",
             found_by="/x/libtorch_cuda.so"), None),
    (Binding(soname="libcuda.so.1", via="missing", found_by="/x/libtorch_cuda.so"), None),
])
def test_unbind_fix(binding: Binding, fix: str | None) -> None:
    assert remedy.unbind_fix(binding) == fix


def test_restore_wheel_fix_uninstalls_the_other_claimants_then_reinstalls_the_owner() -> None:
    copy = LibraryCopy(library="nccl", version="2.27.3", path="/v/nvidia/nccl/lib/libnccl.so.2",
                       found_via="pip:nvidia-nccl-cu12",
                       claimed_by=("nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.30.7"))
    assert remedy.restore_wheel_fix(copy, "py -m pip") == (
        "py -m pip uninstall -y nvidia-nccl-cu13 && "
        "py -m pip install --force-reinstall --no-deps nvidia-nccl-cu12==2.27.3")
    alone = LibraryCopy(library="nccl", version="2.27.3", path="/p", found_via="pip:nvidia-nccl-cu12")
    assert remedy.restore_wheel_fix(alone, "pip") == (
        "pip install --force-reinstall --no-deps nvidia-nccl-cu12==2.27.3")
    assert remedy.restore_wheel_fix(LibraryCopy(library="nccl", version="2", path="/p",
                                                found_via="ldconfig"), "pip") is None
    assert remedy.restore_wheel_fix(LibraryCopy(library="nccl", version=None, path="/p",
                                                found_via="pip:nvidia-nccl-cu12"), "pip") is None


def _reach(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


NAMES = st.sampled_from(["envsnap", "a", "b", "c", "d", "e"])


@given(st.sets(NAMES), st.dictionaries(NAMES, st.sets(NAMES)), st.sets(NAMES))
def test_envsnap_footprint_is_what_it_reaches(names: set[str], graph: dict[str, set[str]],
                                              tool: set[str]) -> None:
    got = remedy.envsnap_footprint(names, lambda n: graph.get(n, set()), tool)
    if "envsnap" not in names:
        assert got == frozenset()
    else:
        assert got == _reach(graph, {"envsnap"} | (tool & names))


def test_nothing_to_run_is_no_remedy() -> None:
    assert remedy.remedy("a.toml", python="python", install=False) is None


def test_the_remedy_command_and_its_caveats() -> None:
    got = remedy.remedy("my snap.toml", python="/v/bin/python", install=True, remove=["b", "a", "a"],
                        recreate="3.12.1", unfixed=["nvidia", "cuda"])
    assert got is not None
    steps = got.command.split(" && ")
    assert shlex.split(steps[0]) == ["envsnap", "lock", "my snap.toml", "-o", remedy.LOCK_DIR]
    assert shlex.split(steps[1]) == ["/v/bin/python", "-m", "pip", "uninstall", "-y", "a", "b"]
    assert shlex.split(steps[2]) == ["/v/bin/python", "-m", "pip", "install", "--require-hashes",
                                     "--no-deps", "-r", f"{remedy.LOCK_DIR}/requirements.txt"]
    assert any("Python 3.12.1" in c for c in got.caveats)
    assert any("cuda, nvidia change(s)" in c for c in got.caveats)


def test_a_piped_snapshot_is_saved_first() -> None:
    got = remedy.remedy("-", python="python", install=True)
    assert got is not None and got.command.startswith("envsnap lock SNAPSHOT.toml ")
    assert got.caveats == ("save the snapshot you piped in as SNAPSHOT.toml first",)
    only_remove = remedy.remedy("-", python="python", install=False, remove=["x"])
    assert only_remove is not None and only_remove.command == "python -m pip uninstall -y x"
