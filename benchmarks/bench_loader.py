"""Benchmark: `envsnap capture` of a venv with torch's CUDA wheels (~5 GB of libraries), this
checkout (which records which copy each framework binds, the files' versions and build-ids)
against a baseline envsnap from another git ref (default: main), side by side.

    python benchmarks/bench_loader.py [--runs 15] [--baseline-ref main]

The venv is built once under .bench/torch-cuda with this machine's pip configuration, as a user
installs (torch==2.14.1, whose nvidia-* cu13 wheels come from the machine's local index).
Each envsnap is installed from a wheel into a tool venv of its own and runs pipx-style
(`tool/bin/envsnap capture --python venv/bin/python`). Commands alternate (A B A B ...) so
drift on a noisy machine hits both alike; medians, quartiles and the per-round ratio are
reported. Target (issue 20): this checkout within 1.5x of the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import support  # noqa: E402  (tests/support.py: real venvs)
from bench_capture import BENCH, install_envsnap, run_once  # noqa: E402

TORCH = "torch==2.14.1"


def build_venv() -> Path:
    target = BENCH / "torch-cuda"
    py = target / "bin" / "python"
    if (target / ".complete").exists() and (target / ".complete").read_text() == TORCH:
        return py
    shutil.rmtree(target, ignore_errors=True)
    support.make_venv(target)
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    support.run([py, "-m", "pip", "install", "-q", TORCH], env=env, timeout=3600)
    (target / ".complete").write_text(TORCH)
    return py


def _wheel_of(source: Path, out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    support.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source])
    return next(out.glob("envsnap-*.whl"))


def tool(name: str, wheel: Path) -> Path:
    py = BENCH / f"tool-{name}" / "bin" / "python"
    if not py.exists():
        support.make_venv(py.parent.parent)
    install_envsnap(py, wheel)
    return py.parent / "envsnap"


def baseline_wheel(ref: str) -> Path:
    """A wheel of envsnap at ``ref`` (git archive of this repository)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                                 check=True, timeout=120).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True, timeout=120)
        return _wheel_of(src, BENCH / f"dist-{ref.replace('/', '_')}")


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4)
    return q[0], statistics.median(xs), q[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline-ref", default="main")
    args = parser.parse_args()
    BENCH.mkdir(exist_ok=True)
    venv = build_venv()
    site = support.site_packages(venv)
    size = sum(p.stat().st_size for p in site.rglob("*.so*") if p.is_file())
    commands = {
        args.baseline_ref: [str(tool("base", baseline_wheel(args.baseline_ref))), "capture",
                            "--python", str(venv), "-o"],
        "this checkout": [str(tool("head", _wheel_of(ROOT, BENCH / "dist-head"))), "capture",
                          "--python", str(venv), "-o"],
    }
    env = support.clean_env()
    walls: dict[str, list[float]] = {k: [] for k in commands}
    with tempfile.TemporaryDirectory() as tmp:
        for argv in commands.values():  # warm-up: page cache, .pyc files
            run_once([*argv, f"{tmp}/warm.toml"], env)
        for i in range(args.runs):
            for name, argv in commands.items():
                wall, _ = run_once([*argv, f"{tmp}/{i}.toml"], env)
                walls[name].append(wall)
    base, head = walls[args.baseline_ref], walls["this checkout"]
    ratios = [h / b for h, b in zip(head, base, strict=True)]
    print(f"venv: {TORCH} with its nvidia-* wheels, {size / 2**30:.1f} GiB of shared libraries, "
          f"{args.runs} alternating rounds")
    for name, xs in walls.items():
        q1, med, q3 = _quartiles(xs)
        print(f"  {name:>14}: median {med:.3f} s  (quartiles {q1:.3f}-{q3:.3f}, "
              f"min {min(xs):.3f}, max {max(xs):.3f})")
    r1, rmed, r3 = _quartiles(ratios)
    print(f"  ratio per round: median {rmed:.2f}x (quartiles {r1:.2f}-{r3:.2f}); target <= 1.5x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
