"""Simple API pages (pure), proven against pypi-simple as the reference parser; the file pip would install."""

from __future__ import annotations

import json

import pytest

from envsnap.lock.pages import (
    IndexFile,
    Target,
    choose,
    parse_html_page,
    parse_json_page,
    tag_ranks,
)

H = "a" * 64


HTML = """<!DOCTYPE html><html><head><base href="https://files.example/root/">
<meta name="pypi:repository-version" content="1.1"></head><body>
<a href="../packages/six-1.16.0-py2.py3-none-any.whl#sha256=SHA"
   data-requires-python="&gt;=2.7, !=3.0.*">six-1.16.0-py2.py3-none-any.whl</a><br>
<a href="/p/six-1.16.0.tar.gz#md5=abc" data-yanked="broken">six-1.16.0.tar.gz</a>
<a href="six-1.15.0-py2.py3-none-any.whl">six-1.15.0-py2.py3-none-any.whl</a>
</body></html>""".replace("SHA", "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254")

JSON_PAGE = {
    "meta": {"api-version": "1.1"}, "name": "six", "versions": ["1.16.0"],
    "files": [
        {"filename": "six-1.16.0-py2.py3-none-any.whl",
         "url": "https://files.example/six-1.16.0-py2.py3-none-any.whl",
         "hashes": {"sha256": H}, "requires-python": ">=2.7", "yanked": False, "size": 11053},
        {"filename": "six-1.16.0.tar.gz", "url": "../six-1.16.0.tar.gz", "hashes": {},
         "yanked": "bad release", "size": 34041},
    ],
}


def _reference(kind: str, text: str, base: str) -> list[tuple[str, str, str | None, str | None, bool]]:
    from pypi_simple import ProjectPage

    page = (ProjectPage.from_html("six", text, base_url=base) if kind == "html"
            else ProjectPage.from_json_data(json.loads(text), base_url=base))
    return [(p.filename, p.url.split("#")[0], p.digests.get("sha256"), p.requires_python,
             p.is_yanked) for p in page.packages]


def _ours(files: list[IndexFile]) -> list[tuple[str, str, str | None, str | None, bool]]:
    return [(f.filename, f.url, f.sha256, f.requires_python, f.yanked) for f in files]


def test_html_page_parses_like_pypi_simple() -> None:
    base = "https://index.example/simple/six/"
    ours = parse_html_page(HTML, base)
    assert _ours(ours) == _reference("html", HTML, base)
    assert ours[0].url == "https://files.example/packages/six-1.16.0-py2.py3-none-any.whl"
    assert ours[1].yanked and ours[0].requires_python == ">=2.7, !=3.0.*"


def test_json_page_parses_like_pypi_simple() -> None:
    base = "https://index.example/simple/six/"
    ours = parse_json_page(JSON_PAGE, base)
    assert _ours(ours) == _reference("json", json.dumps(JSON_PAGE), base)
    assert ours[0].size == 11053 and ours[1].url == "https://index.example/simple/six-1.16.0.tar.gz"


def _f(name: str, rp: str | None = None) -> IndexFile:
    return IndexFile(filename=name, url=f"https://f/{name}", sha256=H, requires_python=rp)


TARGET = Target(python_version="3.11.7", ranks=tag_ranks(
    "3.11.7", "cp311", ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                        "linux_x86_64"]))
FILES = [
    _f("numpy-2.1.0.tar.gz"),
    _f("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
    _f("numpy-2.1.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
    _f("numpy-2.1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
    _f("numpy-2.1.0-cp311-cp311-macosx_14_0_arm64.whl"),
    _f("numpy-2.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
]


def test_choose_takes_the_best_ranked_compatible_wheel_of_that_version() -> None:
    chosen = choose(FILES, name="numpy", version="2.1.0", target=TARGET)
    assert chosen is not None and chosen.filename.endswith("manylinux_2_28_x86_64.whl")
    assert "cp311" in chosen.filename


def test_choose_prefers_the_wheel_the_snapshot_installed() -> None:
    chosen = choose(FILES, name="numpy", version="2.1.0", target=TARGET,
                    installed=["cp311-cp311-manylinux_2_17_x86_64",
                               "cp311-cp311-manylinux2014_x86_64"])
    assert chosen is not None and "manylinux2014" in chosen.filename


def test_choose_respects_requires_python_and_never_takes_an_sdist() -> None:
    files = [_f("attrs-23.2.0-py3-none-any.whl", rp=">=3.12"), _f("attrs-23.2.0.tar.gz")]
    assert choose(files, name="attrs", version="23.2.0", target=TARGET) is None
    assert choose([_f("attrs-23.2.0-py3-none-any.whl", rp=">=3.7")], name="Attrs",
                  version="23.2.0", target=TARGET) is not None


def test_tag_ranks_follow_pips_order() -> None:
    ranks = TARGET.ranks
    order = sorted(ranks, key=ranks.__getitem__)
    assert str(order[0]) == "cp311-cp311-manylinux_2_28_x86_64"
    assert ranks[next(t for t in ranks if str(t) == "cp311-abi3-manylinux_2_17_x86_64")] > ranks[
        next(t for t in ranks if str(t) == "cp311-cp311-linux_x86_64")]
    assert str(order[-1]) == "py30-none-any"


@pytest.mark.parametrize("name", [
    "six-1.16.0-1/../../x-py3-none-any.whl",  # a build tag packaging accepts, holding "/"
    "../six-1.16.0-py3-none-any.whl", ".six-1.16.0-py3-none-any.whl",
    "six-1.16.0-py3-none-any.whl\\x", "six 1.16.0.tar.gz", "six.whl", "environ", "",
])
def test_file_names_that_are_not_wheel_or_sdist_names_are_left_out(name: str) -> None:
    from envsnap.lock.safety import is_safe_filename

    assert not is_safe_filename(name)
    page = f'<a href="https://f.example/x#sha256={H}">{name}</a>'
    assert parse_html_page(page, "https://i.example/simple/six/") == []
    data = {"files": [{"filename": name, "url": "https://f.example/x", "hashes": {"sha256": H}}]}
    assert parse_json_page(data, "https://i.example/simple/six/") == []
