"""Time `envsnap lock` (index mode) against `pip-compile --generate-hashes` and
`uv pip compile --generate-hashes` for the same ~250 exact pins, side by side in one run,
all three reading the same local index server (pypiserver on 127.0.0.1), each with a cold
cache on every run. Also the wheelhouse mode against pip-compile --no-index.

    .venv/bin/python benchmarks/bench_lock.py [--repeat 5]

Needs: pip install 'envsnap[bench]' (pip-tools, uv, pypiserver[cache], waitress). The wheels
are downloaded once from PyPI (with dependencies, so the pin set is closed and the resolvers
can resolve it from the local index alone) and cached in ~/.cache/envsnap-bench/wheelhouse.
pypiserver runs with its digest cache (watchdog) on waitress, and is warmed once before the
timed runs, so every tool meets the same warm server; no tool keeps a cache between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from indexserver import serve, serve_static  # noqa: E402 - after the path set-up above

from envsnap.io import dump  # noqa: E402
from envsnap.snapshot import OSInfo, Package, PythonEnv, Snapshot  # noqa: E402

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

# No pip or uv configuration of this machine (its mirror, find-links, constraints) reaches
# any tool: each is told the index on its command line (envsnap: in its own pip.conf).
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
ENV.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_NO_CONFIG": "1", "NO_COLOR": "1"})
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


def hashes(path: Path) -> dict[str, set[str]]:
    """requirements.txt -> {name: {sha256, ...}} (any of the three tools' layouts)."""
    out: dict[str, set[str]] = {}
    name = ""
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==\S+", line)
        if m:
            name = canonicalize_name(m.group(1))
            out.setdefault(name, set())
        if name:
            out[name].update(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return out


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-3000:]}")
    return elapsed


def spread(xs: list[float]) -> str:
    return (f"median {statistics.median(xs):6.2f} s  (min {min(xs):.2f}, max {max(xs):.2f}, "
            f"n={len(xs)})")


def index_mode(server_name: str, url: str, t: Path, pinned: dict[str, str],
               repeat: int) -> dict[str, list[float]]:
    conf = t / f"pip-{server_name}.conf"  # the index as a user's mirror, read like pip reads it
    conf.write_text(f"[global]\nindex-url = {url}\n")
    env_envsnap = {**ENV, "PIP_CONFIG_FILE": str(conf)}
    for name in pinned:  # warm the server's listing and digest caches for everyone
        subprocess.run(["curl", "-s", "-o", os.devnull, f"{url}{name}/"], check=False)
    def command(tool: str, i: int) -> tuple[list[str], dict[str, str]]:
        if tool == "envsnap":
            return ([str(BIN / "envsnap"), "lock", str(t / "snap.toml"), "-o",
                     str(t / f"e-{server_name}{i}"), "--format", "requirements"], env_envsnap)
        if tool == "pip-compile":
            return ([str(BIN / "pip-compile"), "--generate-hashes", "--allow-unsafe", "--quiet",
                     "--index-url", url, "--rebuild", "--cache-dir",
                     str(t / f"pc-cache-{server_name}{i}"), "-o",
                     str(t / f"pc-{server_name}{i}.txt"), str(t / "requirements.in")], ENV)
        return ([str(BIN / "uv"), "pip", "compile", "--no-config", "--no-cache", "--quiet",
                 "--generate-hashes", "--index-url", url, "--python-version",
                 platform.python_version(), "-o", str(t / f"uv-{server_name}{i}.txt"),
                 str(t / "requirements.in")], ENV)

    times: dict[str, list[float]] = {"envsnap": [], "pip-compile": [], "uv": []}
    for i in range(repeat):  # interleaved: every tool meets the server in turn
        for tool in times:
            argv, env = command(tool, i)
            times[tool].append(timed(argv, env))
    ours = hashes(t / f"e-{server_name}0" / "requirements.txt")
    for other in (f"pc-{server_name}0.txt", f"uv-{server_name}0.txt"):
        theirs = hashes(t / other)
        bad = [n for n, h in ours.items() if not h or not h <= theirs.get(n, set())]
        assert not bad and len(ours) == len(pinned), (other, bad[:5], len(ours))
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    me = statistics.median(times["envsnap"])
    pc, uvm = statistics.median(times["pip-compile"]), statistics.median(times["uv"])
    print(title)
    print(f"  envsnap lock (Simple API, mirror in pip.conf)  {spread(times['envsnap'])}")
    print(f"  pip-compile --generate-hashes --rebuild        {spread(times['pip-compile'])}")
    print(f"  uv pip compile --generate-hashes --no-cache    {spread(times['uv'])}")
    print(f"  envsnap vs pip-compile: {pc / me:.1f}x faster (target >= 10x: "
          f"{'met' if pc / me >= 10 else 'NOT met'}); vs uv: {uvm / me:.2f}x (target >= 1.0x: "
          f"{'met' if uvm / me >= 1 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-wheelhouse-mode", action="store_true")
    args = ap.parse_args()
    wh = wheelhouse()
    pinned = pins(wh)
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    results: dict[str, dict[str, list[float]]] = {}
    wh_times: dict[str, list[float]] = {"envsnap": [], "pip-compile": []}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        snap = Snapshot(os=OSInfo(system="Linux", arch="x86_64", glibc=platform.libc_ver()[1]),
                        python=PythonEnv(
            version=platform.python_version(), implementation="cpython", abi_tag=tag,
            platform_tag="linux_x86_64",
            packages=tuple(Package(name=n, version=v) for n, v in pinned.items())))
        dump(snap, t / "snap.toml")
        (t / "requirements.in").write_text("".join(f"{n}=={v}\n" for n, v in pinned.items()))
        with serve(wh, workdir=t) as server:
            results["pypiserver"] = index_mode("pypiserver", server.url, t, pinned, args.repeat)
        with serve_static(wh, workdir=t) as server:
            results["static"] = index_mode("static", server.url, t, pinned, args.repeat)
        if not args.skip_wheelhouse_mode:
            for i in range(args.repeat):
                wh_times["envsnap"].append(timed(
                    [str(BIN / "envsnap"), "lock", str(t / "snap.toml"), "-o", str(t / f"w{i}"),
                     "--format", "requirements", "--wheelhouse", str(wh), "--offline"], ENV))
                wh_times["pip-compile"].append(timed(
                    [str(BIN / "pip-compile"), "--generate-hashes", "--allow-unsafe", "--quiet",
                     "--no-index", "--find-links", str(wh), "--no-emit-find-links", "--rebuild",
                     "--cache-dir", str(t / f"pcw{i}"), "-o", str(t / f"pcw{i}.txt"),
                     str(t / "requirements.in")], ENV))

    size = sum(f.stat().st_size for f in wh.glob("*.whl")) / 1e6
    print(f"{len(pinned)} exact pins ({size:.0f} MB of wheels), Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; each tool with a cold cache on every run, runs interleaved;")
    print("the same sha256 checked across the three outputs")
    report("index mode, pypiserver 2.4 (waitress; it lists its whole folder on every request):",
           results["pypiserver"])
    report("index mode, static PEP 503 mirror (pre-rendered pages, python -m http.server):",
           results["static"])
    if wh_times["envsnap"]:
        print("wheelhouse mode (offline, all wheels local):")
        print(f"  envsnap lock --wheelhouse --offline            {spread(wh_times['envsnap'])}")
        print(f"  pip-compile --no-index --find-links            {spread(wh_times['pip-compile'])}")
        ratio = statistics.median(wh_times["pip-compile"]) / statistics.median(wh_times["envsnap"])
        print(f"  envsnap is {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
