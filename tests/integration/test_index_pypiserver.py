"""The Simple API client against a real pypiserver: its HTML pages parse as pypi-simple (the
reference parser) reads them, for every project it serves."""

from __future__ import annotations

from pathlib import Path

from envsnap.lock.index import ACCEPT, IndexClient, source
from envsnap.lock.pages import IndexFile, parse_html_page
from envsnap.lock.settings import IndexSettings


def _reference(text: str, base: str) -> list[tuple[str, str, str | None, str | None, bool]]:
    from pypi_simple import ProjectPage

    page = ProjectPage.from_html("six", text, base_url=base)
    return [(p.filename, p.url.split("#")[0], p.digests.get("sha256"), p.requires_python,
             p.is_yanked) for p in page.packages]


def _ours(files: list[IndexFile]) -> list[tuple[str, str, str | None, str | None, bool]]:
    return [(f.filename, f.url, f.sha256, f.requires_python, f.yanked) for f in files]


def test_pypiserver_pages_parse_like_pypi_simple(tmp_path: Path, pypi_wheelhouse: Path) -> None:
    """The HTML a real pypiserver serves (it has no PEP 691 JSON), for every project."""
    from indexserver import serve

    with serve(pypi_wheelhouse, workdir=tmp_path) as server:
        client = IndexClient(IndexSettings())
        src = source(server.url, "index")
        for name in ("six", "idna", "markupsafe", "attrs", "iniconfig"):
            resp = client.get(src, f"{src.url}/{name}/", accept=ACCEPT)
            text, url = resp.text, resp.url
            assert resp.headers["Content-Type"].startswith("text/html")
            assert _ours(parse_html_page(text, url)) == _reference(text, url)
            files = client.project_files(src, name)
            assert files and all(f.sha256 and len(f.sha256) == 64 for f in files)
        assert client.project_files(src, "no-such-project") is None
        client.close()
