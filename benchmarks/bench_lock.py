"""Time `envsnap lock` against `pip-compile --generate-hashes` for the same ~250 pins on the
same local wheelhouse, side by side (both offline, both isolated from pip configuration).

    .venv/bin/python benchmarks/bench_lock.py [--repeat 3]

The wheelhouse is downloaded once from PyPI (with dependencies, so the pin set is closed and
pip-compile can resolve it offline) and cached in ~/.cache/envsnap-bench/wheelhouse.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import parse_wheel_filename

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envsnap.io import dump
from envsnap.snapshot import OSInfo, Package, PythonEnv, Snapshot

# Popular projects whose dependency closure is ~250 distributions.
TOP = [
    "jupyterlab==4.2.5", "pandas==2.2.3", "scikit-learn==1.5.2", "matplotlib==3.9.2",
    "requests==2.32.3", "flask==3.0.3", "django==5.1.2", "fastapi==0.115.2",
    "uvicorn[standard]==0.32.0", "sqlalchemy==2.0.36", "boto3==1.35.44", "pydantic==2.9.2",
    "sphinx==8.1.3", "pytest==8.3.3", "black==24.10.0", "mypy==1.13.0", "transformers==4.46.0",
    "celery==5.4.0", "dask[complete]==2024.10.0", "statsmodels==0.14.4", "seaborn==0.13.2",
    "plotly==5.24.1", "nltk==3.9.1", "httpx==0.27.2", "rich==13.9.2", "typer==0.12.5",
    "pyarrow==17.0.0", "polars==1.10.0", "openpyxl==3.1.5", "lxml==5.3.0",
    "beautifulsoup4==4.12.3", "scrapy==2.11.2", "pillow==11.0.0", "sympy==1.13.3",
    "networkx==3.4.2", "tqdm==4.66.5", "google-cloud-storage==2.18.2", "kubernetes==31.0.0",
    "redis==5.1.1", "psycopg2-binary==2.9.10", "alembic==1.13.3", "gunicorn==23.0.0",
    "pre-commit==4.0.1", "tox==4.23.0", "ipywidgets==8.1.5",
]

ENV = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
ENV.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
BIN = Path(sys.executable).parent


def wheelhouse() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envsnap-bench"
    wh = cache / "wheelhouse"
    if not (cache / ".done").exists():
        wh.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--only-binary=:all:",
                        "--dest", str(wh), *TOP], env=ENV, check=True)
        (cache / ".done").write_text("ok")
    return wh


def pins(wh: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for whl in sorted(wh.glob("*.whl")):
        name, version, _b, _t = parse_wheel_filename(whl.name)
        out[str(name)] = str(version)
    return out


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    wh = wheelhouse()
    pinned = pins(wh)
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        snap = Snapshot(os=OSInfo(system="Linux", arch="x86_64", glibc=platform.libc_ver()[1]),
                        python=PythonEnv(
            version=platform.python_version(), implementation="cpython", abi_tag=tag,
            platform_tag="linux_x86_64",
            packages=tuple(Package(name=n, version=v) for n, v in pinned.items())))
        dump(snap, t / "snap.toml")
        (t / "requirements.in").write_text("".join(f"{n}=={v}\n" for n, v in pinned.items()))
        envsnap = [str(BIN / "envsnap"), "lock", str(t / "snap.toml"), "-o", str(t / "e"),
                   "--format", "requirements", "--wheelhouse", str(wh), "--offline"]
        compile_ = [str(BIN / "pip-compile"), "--generate-hashes", "--allow-unsafe", "--quiet",
                    "--no-index", "--find-links", str(wh), "--no-emit-find-links",
                    "--rebuild", "--cache-dir", str(t / "pc-cache"), "-o", str(t / "pc.txt"),
                    str(t / "requirements.in")]
        e = [timed(envsnap) for _ in range(args.repeat)]
        p = [timed(compile_) for _ in range(args.repeat)]
    me, mp = statistics.median(e), statistics.median(p)
    size = sum(f.stat().st_size for f in wh.glob("*.whl")) / 1e6
    print(f"pins: {len(pinned)} wheels ({size:.0f} MB) in one local wheelhouse, "
          f"median of {args.repeat}")
    print(f"  envsnap lock --wheelhouse --offline      {me:7.2f} s")
    print(f"  pip-compile --generate-hashes --no-index {mp:7.2f} s")
    print(f"  envsnap is {mp / me:.1f}x faster (target: >= 5x)")


if __name__ == "__main__":
    main()
