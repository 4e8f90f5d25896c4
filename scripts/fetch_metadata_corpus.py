"""Fetch the METADATA of popular distributions' latest wheels into tests/data/metadata-corpus/:
    .venv/bin/python scripts/fetch_metadata_corpus.py [--jobs 8] [--timeout 30] [NAME ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import importlib.metadata
import io
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Each wheel's METADATA comes from its PEP 658 "<wheel url>.metadata" file where the index
# serves one, else from HTTP range reads of the wheel's zip central directory and METADATA
# member (as pip's lazy wheel does), never from a whole wheel: a server that ignores Range
# gets that distribution skipped. The expected parse of every file is the reference's,
# importlib.metadata.PathDistribution over a temporary dist-info folder, written to
# expected.json for tests/unit/probes/test_dist_info.py. Re-running replaces the corpus
# (new releases, new files); the summary says what was skipped and why.

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "metadata-corpus"
INDEX_URL = "https://pypi.org"
USER_AGENT = "envsnap-metadata-corpus/1 (+scripts/fetch_metadata_corpus.py)"
# Loose files up to this many bytes in all; above it one deflated corpus.zip keeps the
# repository small (the test reads either layout).
ZIP_OVER = 8_000_000
RETRIES = 3

# Popular distributions (ML, data, notebooks, web, cloud, packaging tooling and their common
# dependencies). Several fold long License texts over many lines, some of them only whitespace
# (matplotlib, scipy, kiwisolver, scikit-image, mlflow, nbconvert, nbformat, jupyter-server,
# jupyter-client ...): the case header_block must get right. A few end lines in CRLF (tabulate,
# tifffile, msal, debugpy, sniffio, sentence-transformers).
DISTRIBUTIONS = (
    "numpy", "pandas", "scipy", "matplotlib", "contourpy", "kiwisolver", "cycler", "fonttools",
    "pillow", "pyparsing", "python-dateutil", "pytz", "tzdata", "six",
    "mlflow", "mlflow-skinny", "mlflow-tracing", "jupyterlab", "jupyterlab-server",
    "jupyterlab-widgets", "jupyterlab-pygments", "notebook", "notebook-shim", "nbconvert", "nbformat",
    "nbclient",
    "jupyter-server", "jupyter-client", "jupyter-core", "jupyter-events", "jupyter-lsp",
    "jupyter-server-terminals", "jupyter-console", "jupyter", "ipykernel", "ipython", "ipywidgets",
    "widgetsnbextension",
    "traitlets", "comm", "matplotlib-inline", "prompt-toolkit", "jedi", "parso", "pexpect",
    "ptyprocess", "stack-data", "executing", "asttokens", "pure-eval", "wcwidth", "decorator",
    "tornado", "pyzmq", "debugpy", "nest-asyncio", "terminado", "send2trash", "argon2-cffi",
    "argon2-cffi-bindings", "pandocfilters", "mistune", "bleach", "tinycss2", "defusedxml",
    "webencodings",
    "json5", "babel", "overrides", "rfc3339-validator", "rfc3986-validator", "fqdn", "isoduration",
    "uri-template", "webcolors", "jsonpointer", "arrow", "python-json-logger", "async-lru",
    "fastjsonschema", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "attrs",
    "torch", "torchvision", "torchaudio", "transformers", "tokenizers", "safetensors",
    "huggingface-hub", "accelerate", "datasets", "evaluate", "peft", "trl", "diffusers",
    "sentence-transformers", "timm",
    "scikit-learn", "joblib", "threadpoolctl", "xgboost", "lightgbm", "catboost", "statsmodels",
    "patsy", "seaborn", "plotly", "bokeh", "altair", "narwhals", "polars", "pyarrow",
    "tensorflow", "keras", "tensorboard", "tensorboard-data-server", "jax", "jaxlib", "flax", "optax",
    "chex", "ml-dtypes", "opt-einsum", "h5py", "absl-py", "gast", "astunparse", "termcolor", "wrapt",
    "flatbuffers", "libclang",
    "onnx", "onnxruntime", "triton", "numba", "llvmlite", "sympy", "mpmath", "networkx", "einops",
    "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12", "nvidia-nccl-cu12",
    "nvidia-cusparse-cu12", "nvidia-cufft-cu12", "nvidia-curand-cu12", "nvidia-cusolver-cu12",
    "nvidia-nvjitlink-cu12", "nvidia-cuda-nvrtc-cu12", "nvidia-nvtx-cu12", "nvidia-ml-py",
    "lightning", "pytorch-lightning", "torchmetrics", "lightning-utilities", "wandb", "sentry-sdk",
    "gitpython", "gitdb", "smmap", "docker-pycreds", "setproctitle",
    "ray", "dask", "distributed", "cloudpickle", "partd", "locket", "toolz", "zict", "tblib",
    "sortedcontainers", "msgpack", "psutil",
    "xarray", "zarr", "numcodecs", "netcdf4", "cftime", "tables", "blosc2", "tifffile", "imageio",
    "scikit-image", "opencv-python", "opencv-python-headless", "lazy-loader",
    "spacy", "nltk", "gensim", "regex", "tiktoken", "sentencepiece",
    "pydantic", "pydantic-core", "pydantic-settings", "annotated-types", "typing-inspection",
    "typing-extensions",
    "fastapi", "starlette", "uvicorn", "gunicorn", "httptools", "uvloop", "watchfiles", "websockets",
    "python-multipart", "h11", "httpx", "httpcore", "anyio", "sniffio", "idna", "certifi",
    "requests", "urllib3", "charset-normalizer", "chardet", "aiohttp", "aiosignal", "aiohappyeyeballs",
    "frozenlist", "multidict", "yarl", "propcache", "async-timeout",
    "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker", "django",
    "asgiref", "sqlparse", "djangorestframework",
    "sqlalchemy", "alembic", "mako", "greenlet", "psycopg2-binary", "psycopg", "psycopg-binary",
    "pymysql", "asyncpg", "redis", "pymongo",
    "celery", "kombu", "billiard", "vine", "amqp",
    "boto3", "botocore", "s3transfer", "jmespath", "awscli", "aiobotocore", "s3fs", "fsspec", "gcsfs",
    "google-auth", "google-api-core", "googleapis-common-protos", "protobuf", "proto-plus", "grpcio",
    "grpcio-status", "grpcio-tools", "google-cloud-storage", "google-cloud-core",
    "google-resumable-media", "google-crc32c", "google-cloud-bigquery", "google-api-python-client",
    "azure-core", "azure-identity", "azure-storage-blob", "msal", "msal-extensions",
    "cryptography", "cffi", "pycparser", "pyopenssl", "bcrypt", "pynacl", "paramiko", "rsa", "pyasn1",
    "pyasn1-modules", "oauthlib", "requests-oauthlib", "pyjwt", "cachetools",
    "pyyaml", "ruamel-yaml", "toml", "tomli", "tomli-w", "tomlkit", "orjson", "ujson", "simplejson",
    "rich", "markdown-it-py", "mdurl", "pygments", "typer", "shellingham", "colorama", "tqdm",
    "tabulate",
    "pytest", "pluggy", "iniconfig", "pytest-cov", "coverage", "pytest-xdist", "execnet", "pytest-mock",
    "pytest-asyncio", "pytest-timeout", "hypothesis",
    "black", "ruff", "mypy", "mypy-extensions", "isort", "flake8", "pycodestyle", "pyflakes", "mccabe",
    "pylint", "astroid", "pre-commit", "identify", "cfgv", "nodeenv", "virtualenv", "distlib",
    "filelock", "platformdirs",
    "setuptools", "wheel", "pip", "packaging", "build", "pyproject-hooks", "hatchling", "hatch-vcs",
    "setuptools-scm", "flit-core", "poetry-core", "pdm-backend", "twine", "readme-renderer", "pkginfo",
    "keyring", "jaraco-classes", "jaraco-functools", "jaraco-context", "more-itertools",
    "importlib-metadata", "zipp", "importlib-resources",
    "tox", "nox", "pathspec", "trove-classifiers", "editables",
    "sphinx", "docutils", "alabaster", "sphinx-rtd-theme", "snowballstemmer", "imagesize", "mkdocs",
    "mkdocs-material", "markdown", "pymdown-extensions",
    "openpyxl", "et-xmlfile", "xlrd", "xlsxwriter", "lxml", "beautifulsoup4", "soupsieve", "html5lib",
    "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-semantic-conventions",
    "opentelemetry-proto", "opentelemetry-exporter-otlp",
    "openai", "anthropic", "litellm", "langchain", "langchain-core", "langsmith", "tenacity", "jiter",
    "distro",
    "dill", "multiprocess", "xxhash", "pyarrow-hotfix",
    "deprecated", "backoff", "retry",
    "kubernetes", "websocket-client", "durationpy", "docker",
    "prometheus-client", "structlog", "loguru", "python-dotenv",
    "shapely", "pyproj", "geopandas", "fiona",
    "numexpr", "bottleneck",
    "cython", "pybind11", "nanobind", "scikit-build-core", "meson-python", "meson", "ninja", "cmake",
    "jsonpatch", "marshmallow", "dataclasses-json", "typing-inspect",
    "uv", "pipenv", "poetry", "pip-tools",
    "faker", "freezegun", "responses",
    "pyspark", "py4j",
    "gradio", "gradio-client", "streamlit",
    "orbax-checkpoint", "tensorstore", "etils",
    "nbstripout", "jupytext",
    "pymupdf", "pypdf", "reportlab",
    "dnspython", "email-validator",
    "isodate", "rdflib",
    "python-slugify", "text-unidecode",
    "markdown2",
    "ipython-pygments-lexers",
)


def normalize(name: str) -> str:
    """PEP 503 normalized name: ``Jupyter_Server`` -> ``jupyter-server``."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Skip(Exception):
    """A distribution left out of the corpus; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    name: str  # as requested
    version: str
    wheel: str  # the wheel's file name
    url: str
    how: str  # "pep658" or "range"
    requests: int
    data: bytes


class Fetcher:
    """HTTP GETs with a timeout, a User-Agent and a few retries on transient failures."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); a 404 is returned, other HTTP errors raise after retries."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        for attempt in range(RETRIES):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, dict(response.headers.items()), response.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return 404, {}, b""
                if (exc.code < 500 and exc.code != 429) or attempt == RETRIES - 1:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == RETRIES - 1:
                    raise
            time.sleep(1.0 + 2 * attempt)
        raise AssertionError("unreachable")


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches only the byte ranges read.

    Opened with one suffix request for the file's tail (where a zip's central directory and,
    in wheels, the dist-info files are); reads elsewhere fetch at least ``block`` bytes.
    """

    def __init__(self, fetcher: Fetcher, url: str, *, tail: int = 2**18, block: int = 2**18) -> None:
        super().__init__()
        self._fetcher = fetcher
        self._url = url
        self._block = block
        self._chunks: list[tuple[int, bytes]] = []
        self._pos = 0
        self.requests = 0
        status, headers, body = self._get(f"bytes=-{tail}")
        total = _content_range_total(status, headers)
        if total is None:
            raise Skip(f"no range support (HTTP {status}); whole-wheel downloads are not done")
        self.size = total
        self._chunks.append((total - len(body), body))

    def _get(self, byte_range: str) -> tuple[int, dict[str, str], bytes]:
        self.requests += 1
        return self._fetcher.get(self._url, {"Range": byte_range, "Accept-Encoding": "identity"})

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read_at(self, start: int, n: int) -> bytes:
        end = min(start + n, self.size)
        if start >= end:
            return b""
        for offset, data in self._chunks:
            if offset <= start and end <= offset + len(data):
                return data[start - offset: end - offset]
        last = min(max(end, start + self._block), self.size) - 1
        status, _, body = self._get(f"bytes={start}-{last}")
        if status != 206 or len(body) != last - start + 1:
            raise Skip(f"bad range reply (HTTP {status}, {len(body)} bytes for {start}-{last})")
        self._chunks.append((start, body))
        return body[: end - start]


def _content_range_total(status: int, headers: dict[str, str]) -> int | None:
    if status != 206:
        return None
    value = {k.lower(): v for k, v in headers.items()}.get("content-range", "")
    m = re.fullmatch(r"bytes \d+-\d+/(\d+)", value.strip())
    return int(m.group(1)) if m else None


def _wheel_preference(filename: str) -> tuple[int, str]:
    # A pure wheel, else the common Linux build; all wheels of a release carry the same
    # core metadata in practice, so this only picks a stable, typical one.
    tags = filename[:-len(".whl")].split("-")[-3:]
    if tags[-1] == "any":
        rank = 0
    elif "manylinux" in tags[-1] and tags[-1].endswith("x86_64"):
        rank = 1
    elif tags[-1].endswith("x86_64"):
        rank = 2
    else:
        rank = 3
    return rank, filename


def _metadata_member(names: list[str], project: str) -> str:
    members = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    if not members:
        raise Skip("wheel has no *.dist-info/METADATA")
    # A wheel should hold one dist-info; prefer the project's own if there are more.
    wanted = [n for n in members if normalize(n.split("/")[0].rsplit("-", 1)[0]) == normalize(project)]
    return (wanted or members)[0]


def fetch_one(fetcher: Fetcher, index_url: str, name: str) -> Fetched:
    """The METADATA of ``name``'s latest release, from one of its wheels."""
    json_url = f"{index_url}/pypi/{urllib.parse.quote(name)}/json"
    status, _, body = fetcher.get(json_url, {"Accept": "application/json"})
    if status == 404:
        raise Skip("not on the index")
    project: dict[str, Any] = json.loads(body)
    version = str(project["info"]["version"])
    wheels = [f for f in project.get("urls", [])
              if f.get("packagetype") == "bdist_wheel" and not f.get("yanked")]
    if not wheels:
        raise Skip(f"{version} has no wheel")
    wheel = min(wheels, key=lambda f: _wheel_preference(str(f["filename"])))
    url = urllib.parse.urljoin(json_url, str(wheel["url"]))
    requests = 1
    # PEP 658 / PEP 714: the index says so in core-metadata (or the older key); an index
    # that serves the file without saying so is tried too.
    advertised = wheel.get("core-metadata") or wheel.get("data-dist-info-metadata")
    try:
        status, _, data = fetcher.get(url + ".metadata")
    except urllib.error.HTTPError as exc:  # any refusal: fall back to range reads
        status, data = exc.code, b""
    requests += 1
    if status == 200:
        expected = advertised.get("sha256") if isinstance(advertised, dict) else None
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise Skip(f"{wheel['filename']}.metadata does not match its sha256")
        return Fetched(name=name, version=version, wheel=str(wheel["filename"]), url=url, how="pep658",
                       requests=requests, data=data)
    remote = RangeFile(fetcher, url)
    with zipfile.ZipFile(remote) as archive:
        member = _metadata_member(archive.namelist(), name)
        data = archive.read(member)
    return Fetched(name=name, version=version, wheel=str(wheel["filename"]), url=url, how="range",
                   requests=requests + remote.requests, data=data)


def reference_parse(filename_stem: str, data: bytes) -> dict[str, Any]:
    """What importlib.metadata reports for a dist-info holding exactly this METADATA."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"{filename_stem}.dist-info"
        folder.mkdir()
        (folder / "METADATA").write_bytes(data)
        dist = importlib.metadata.PathDistribution(folder)
        return {"name": dist.metadata["Name"], "version": dist.metadata["Version"],
                "requires": list(dist.requires or [])}


def whitespace_only_continuations(text: str) -> int:
    """Lines of only spaces/tabs inside the header block (continuations by the email rules)."""
    count = 0
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            break
        if line.strip(" \t") == "":
            count += 1
    return count


def _sources_md(fetched: list[Fetched], skipped: dict[str, str], layout: str, stamp: str) -> str:
    lines = [
        "# METADATA corpus",
        "",
        f"Real `METADATA` files of {len(fetched)} popular distributions' latest releases, fetched "
        f"on {stamp} from PyPI",
        "by `scripts/fetch_metadata_corpus.py` (each wheel's PEP 658 `.metadata` file where served, else",
        "HTTP range reads of the wheel's METADATA member; never a whole wheel). The bytes are kept as",
        "served: CRLF, tabs, long folded `License:` texts and all.",
        "",
        f"Layout: {layout}.",
        "",
        "`expected.json` maps each file name to what the reference, `importlib.metadata.PathDistribution`",
        f"over a `<name>-<version>.dist-info/METADATA` folder, reports (Python {sys.version.split()[0]}):",
        "`Name`, `Version` and `requires`.",
        "`tests/unit/probes/test_dist_info.py` checks envsnap's parse against it.",
        "",
        "Regenerate (replaces the corpus with the current latest releases):",
        "",
        "    .venv/bin/python scripts/fetch_metadata_corpus.py",
        "",
        "| file | wheel | how | sha256 |",
        "| --- | --- | --- | --- |",
    ]
    for f in sorted(fetched, key=lambda f: corpus_name(f)):
        lines.append(f"| {corpus_name(f)} | {f.wheel} | {f.how} | {hashlib.sha256(f.data).hexdigest()} |")
    if skipped:
        lines += ["", "Skipped on the last run:", ""]
        lines += [f"- {name}: {why}" for name, why in sorted(skipped.items())]
    return "\n".join(lines) + "\n"


def corpus_name(f: Fetched) -> str:
    return f"{normalize(f.name)}-{f.version}.METADATA"


def write_corpus(out: Path, fetched: list[Fetched], skipped: dict[str, str], stamp: str,
                 zip_over: int = ZIP_OVER) -> str:
    """Replace the corpus in ``out``; returns the layout used."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.METADATA"), out / "corpus.zip"]:
        old.unlink(missing_ok=True)
    total = sum(len(f.data) for f in fetched)
    if total > zip_over:
        layout = f"one deflated `corpus.zip` ({total:,} bytes of METADATA uncompressed)"
        with zipfile.ZipFile(out / "corpus.zip", "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=9) as archive:
            for f in sorted(fetched, key=corpus_name):
                # A fixed date keeps a re-run with the same files byte-identical.
                info = zipfile.ZipInfo(corpus_name(f), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, f.data)
    else:
        layout = f"loose `*.METADATA` files ({total:,} bytes)"
        for f in fetched:
            (out / corpus_name(f)).write_bytes(f.data)
    expected = {corpus_name(f): reference_parse(corpus_name(f)[: -len(".METADATA")], f.data)
                for f in fetched}
    text = json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (out / "expected.json").write_text(text, encoding="utf-8")
    (out / "SOURCES.md").write_text(_sources_md(fetched, skipped, layout, stamp), encoding="utf-8")
    return layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].rstrip(":") if __doc__ else None)
    parser.add_argument("names", nargs="*", help="distributions to fetch (default: the built-in list)")
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus folder (default: %(default)s)")
    parser.add_argument("--index-url", default=INDEX_URL, help="index serving /pypi/<name>/json")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent distributions (default: 8)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default: 30)")
    parser.add_argument("--zip-over", type=int, default=ZIP_OVER,
                        help="bytes in all above which one corpus.zip is written (default: %(default)s)")
    parser.add_argument("--date", default=time.strftime("%Y-%m-%d"), help="date recorded in SOURCES.md")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.names or DISTRIBUTIONS))
    fetcher = Fetcher(args.timeout)
    fetched: list[Fetched] = []
    skipped: dict[str, str] = {}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(fetch_one, fetcher, args.index_url.rstrip("/"), n): n for n in names}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                fetched.append(future.result())
            except Skip as exc:
                skipped[name] = str(exc)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}"
            else:
                continue
            print(f"skip {name}: {skipped[name]}", file=sys.stderr)
    # Two requested names can be one distribution (an alias that redirects); keep one file each.
    by_name: dict[str, Fetched] = {}
    for f in sorted(fetched, key=lambda f: f.name):
        by_name.setdefault(corpus_name(f), f)
    fetched = list(by_name.values())
    if not fetched:
        print("nothing fetched; corpus left as it was", file=sys.stderr)
        return 1
    layout = write_corpus(args.out, fetched, skipped, args.date, args.zip_over)
    texts = [f.data.decode("utf-8", "replace") for f in fetched]
    pep658 = sum(f.how == "pep658" for f in fetched)
    largest = max(fetched, key=lambda f: len(f.data))
    print(f"fetched {len(fetched)} of {len(names)} distributions in {time.monotonic() - started:.0f}s "
          f"({sum(f.requests for f in fetched)} requests; "
          f"{pep658} by PEP 658, {len(fetched) - pep658} by range)")
    print(f"layout: {layout}")
    print(f"largest: {corpus_name(largest)} ({len(largest.data):,} bytes)")
    print(f"with whitespace-only continuation lines in the headers: "
          f"{sum(whitespace_only_continuations(t) > 0 for t in texts)}; with CR line endings: "
          f"{sum(chr(13) in t for t in texts)}")
    print(f"skipped {len(skipped)}: {', '.join(sorted(skipped)) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
