"""Benchmark: `envsnap capture` (all probes) against `python -m torch.utils.collect_env`,
`pip freeze`, `pip inspect` and `uv pip freeze` on one venv of ~250 real distributions with
torch installed, side by side in one run; then capture time and peak memory on synthetic
dist-info trees of 1,000 to 10,000 distributions.

envsnap is measured the two ways it is deployed, both installed from a built wheel (not this
checkout's editable install): inside the captured environment (`venv/bin/envsnap capture`,
as in a production image), and from a tool environment of its own, pipx-style
(`tool/bin/envsnap capture --python venv/bin/python`), which starts a second interpreter.

    python benchmarks/bench_capture.py [--runs 15] [--scale 1000,3000,10000]

The venv is built once with real pip installs from the package index, using this machine's
pip configuration as a user would (torch==2.13.0 and REAL_PACKAGES below), and cached under
.bench/. Commands run alternately (A B C D A B ...)
so drift on a noisy machine hits them all alike; medians and per-round ratios are reported.
Peak memory is each child's own ru_maxrss (os.wait4), not the benchmark's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import support  # noqa: E402  (tests/support.py: real wheels and venvs)

from envsnap import io  # noqa: E402

BENCH = ROOT / ".bench"
LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. ") * 40  # ~5 KB: a typical long description


def _wheel_modules(name: str, i: int) -> dict[str, str]:
    pkg = name.replace("-", "_")
    mods = {f"{pkg}/__init__.py": f"__version__ = '1.{i}.0'\n"}
    for j in range(12):  # RECORD of a realistic length
        mods[f"{pkg}/mod{j}.py"] = f"X = {j}\n"
    return mods


def envsnap_wheel() -> Path:
    """A wheel of this checkout, rebuilt when the sources change."""
    out = BENCH / "dist"
    shutil.rmtree(out, ignore_errors=True)
    support.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT])
    return next(out.glob("envsnap-*.whl"))


def install_envsnap(py: Path, wheel: Path) -> None:
    # --force-reinstall of the wheel alone: its dependencies come from the index once.
    support.run([py, "-m", "pip", "install", "-q", wheel])
    support.run([py, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", wheel])


def tool_venv(wheel: Path) -> Path:
    py = BENCH / "tool" / "bin" / "python"
    if not py.exists():
        support.make_venv(BENCH / "tool")
    install_envsnap(py, wheel)
    return py.parent / "envsnap"


# torch plus what a data-science environment holds: ~250 distributions in all.
REAL_PACKAGES = ("torch==2.13.0", "pandas", "scipy", "matplotlib", "scikit-learn", "jupyterlab",
                 "mlflow", "transformers", "datasets", "seaborn", "sympy", "pytest", "statsmodels",
                 "optuna", "sphinx", "tensorboard", "dask[complete]")


def build_venv() -> Path:
    target = BENCH / "real-torch"
    py = target / "bin" / "python"
    stamp = "\n".join(REAL_PACKAGES)
    if (target / ".complete").exists() and (target / ".complete").read_text() == stamp:
        return py
    shutil.rmtree(target, ignore_errors=True)
    support.make_venv(target)
    # The machine's own pip configuration (indexes, local wheel folders), as a user installs.
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    support.run([py, "-m", "pip", "install", "-q", "--only-binary=:all:", *REAL_PACKAGES],
                env=env, timeout=3600)
    (target / ".complete").write_text(stamp)
    return py


def synthetic_tree(n: int) -> Path:
    """A venv whose site-packages holds n dist-info dirs written directly (no pip)."""
    target = BENCH / f"synthetic{n}"
    py = target / "bin" / "python"
    if (target / ".complete").exists():
        return py
    shutil.rmtree(target, ignore_errors=True)
    support.make_venv(target, with_pip=False)
    site = support.site_packages(py)
    for i in range(n):
        d = site / f"synth_{i:05d}-1.{i}.0.dist-info"
        d.mkdir()
        (d / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: synth-{i:05d}\nVersion: 1.{i}.0\nSummary: s\n"
            f"Requires-Dist: synth-{(i + 1) % n:05d}\nRequires-Dist: synth-{(i + 7) % n:05d}\n\n{LOREM}")
        (d / "INSTALLER").write_text("pip\n")
        (d / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        (d / "RECORD").write_text("".join(f"synth_{i:05d}/m{j}.py,,\n" for j in range(12)))
    (target / ".complete").write_text(str(n))
    return py


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and the child's own peak RSS (KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{err}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_maxrss


def compare(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    for argv in commands.values():  # warm-up: page cache, .pyc files
        run_once(argv, env)
    walls: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, list[int]] = {k: [] for k in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            w, m = run_once(argv, env)
            walls[name].append(w)
            rss[name].append(m)
    out: dict[str, dict[str, float]] = {}
    for name in commands:
        out[name] = {
            "median_s": statistics.median(walls[name]),
            "min_s": min(walls[name]),
            "max_s": max(walls[name]),
            "peak_rss_mib": max(rss[name]) / 1024,
            # per-round ratios, then their median: drift on a noisy machine hits a round's
            # commands alike, so a round's ratio is steadier than a ratio of medians
            "envsnap_ratio_median": _ratio(walls["envsnap capture"], walls[name]),
            "envsnap_python_ratio_median": _ratio(walls["envsnap --python"], walls[name]),
            "runs": len(walls[name]),
        }
    return out


def _ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--scale", default="1000,3000,10000")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    env = support.clean_env()
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    wheel = envsnap_wheel()
    py = build_venv()
    install_envsnap(py, wheel)
    envsnap = str(tool_venv(wheel))
    out = Path(tempfile.mkdtemp()) / "snap.toml"
    commands = {
        "envsnap capture": [str(py.parent / "envsnap"), "capture", "-q", "-o", str(out)],
        "envsnap --python": [envsnap, "capture", "--python", str(py), "-q", "-o", str(out)],
        "torch collect_env": [str(py), "-m", "torch.utils.collect_env"],
        "pip freeze": [str(py), "-m", "pip", "freeze"],
        "pip inspect": [str(py), "-m", "pip", "inspect"],
    }
    if uv:
        commands["uv pip freeze"] = [uv, "pip", "freeze", "--python", str(py)]
    results = compare(commands, args.runs, env)
    captured = io.load(out).python
    total = len(captured.packages) if captured else 0
    scaling = {}
    for n in [int(x) for x in args.scale.split(",") if x]:
        spy = synthetic_tree(n)
        argv = [envsnap, "capture", "--python", str(spy), "-q", "-o", str(out)]
        run_once(argv, env)
        samples = [run_once(argv, env) for _ in range(5)]
        scaling[n] = {"median_s": statistics.median(s[0] for s in samples),
                      "peak_rss_mib": max(s[1] for s in samples) / 1024}
    if args.json:
        print(json.dumps({"venv_dists": total, "runs": args.runs, "compare": results,
                          "scaling": scaling}, indent=2))
        return 0
    py_version = sys.version.split()[0]
    print(f"venv of {total} distributions, {args.runs} alternating rounds, Python {py_version}")
    print(f"{'command':<18}{'median s':>10}{'min s':>9}{'max s':>9}{'peak MiB':>10}{'envsnap/x':>11}"
          f"{'--python/x':>12}")
    for name, r in results.items():
        print(f"{name:<18}{r['median_s']:>10.3f}{r['min_s']:>9.3f}{r['max_s']:>9.3f}"
              f"{r['peak_rss_mib']:>10.1f}{r['envsnap_ratio_median']:>11.2f}"
              f"{r['envsnap_python_ratio_median']:>12.2f}")
    print("\nenvsnap capture on synthetic dist-info trees")
    print(f"{'dists':>8}{'median s':>10}{'ms/1k dists':>13}{'peak MiB':>10}")
    for n, r in scaling.items():
        per_k = 1000 * r["median_s"] / n * 1000
        print(f"{n:>8}{r['median_s']:>10.3f}{per_k:>13.1f}{r['peak_rss_mib']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
