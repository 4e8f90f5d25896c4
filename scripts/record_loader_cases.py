"""Re-record tests/data/loader/: the loader cases and a torch CUDA import, with the real loader's answers.

    python scripts/record_loader_cases.py [--torch-python VENV/bin/python]

Builds each case of tests/loader_cases.py with cc in a temporary folder, runs the real loader
on it (LD_DEBUG=bindings; a private ld.so.cache through unshare + a bind mount, so root), and
writes what the resolver read (ELF facts, cache entries, the loader's configuration) and what
the real loader did to cases.json, paths relabelled under /case. With --torch-python (a venv
holding torch's CUDA build, e.g. torch==2.14.1 installed with this machine's pip), it also
records torch's import (ELF facts, the sys.path listings torch's preload globs) and the loader's
bindings of libtorch_cuda.so to torch-<version>.json, paths relabelled under /venv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import loader_cases  # noqa: E402  (tests/loader_cases.py: the cases and the real loader)

from envsnap import ldso  # noqa: E402
from envsnap.host import LocalHost  # noqa: E402
from envsnap.probes import binding  # noqa: E402
from envsnap.probes import python as python_probe  # noqa: E402

DATA = ROOT / "tests" / "data" / "loader"


def record_cases() -> None:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in loader_cases.CASES:
            truth, ours, data = loader_cases.run_case(case, Path(tmp) / case.name)
            problem = loader_cases.disagreement(case, truth, ours)
            print(f"{case.name}: {problem or 'envsnap agrees with the loader'}")
            out.append(data)
    (DATA / "cases.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


_BINDING = re.compile(r"binding file (?P<from>\S+) \[\d+\] to (?P<to>\S+) \[\d+\]: ")


def record_torch(python: Path) -> None:
    host = LocalHost()
    pyenv = python_probe.probe(host, str(python)).value
    assert pyenv is not None and pyenv.executable
    venv = str(python.parent.parent)
    site = pyenv.site_packages[0]
    torch = pyenv.package("torch")
    assert torch is not None
    lookup = loader_cases.RecordingLookup()
    listed: dict[str, list[str]] = {}

    def listdir(path: str) -> list[str]:
        listed[path] = host.listdir(path)
        return listed[path]

    survey = binding.survey(host, str(python))
    assert survey.config is not None
    exe_path = os.path.realpath(pyenv.executable)
    exe = lookup(exe_path)
    assert exe is not None
    process = ldso.Process(binding.search_env({}, survey), lookup, exe)
    torch_dir = f"{site}/torch"
    module = next(str(p) for p in Path(torch_dir).glob("_C.*.so"))
    cuda = binding.torch_cuda_version(host, torch_dir)
    how = binding.import_torch(process, torch_dir=torch_dir, module=module, version=torch.version,
                               cuda=cuda, sys_path=pyenv.sys_path,
                               listdir=listdir)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_BIND_NOW": "1",
               "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": f"{tmp}/ld"}
        subprocess.run([str(python), "-c", "import torch"], env=env, check=True, timeout=600,
                       capture_output=True)
        bound: dict[str, str] = {}
        files = binding.ElfFiles(host)
        for trace in Path(tmp).glob("ld.*"):
            for line in trace.read_text(errors="replace").splitlines():
                m = _BINDING.search(line)
                if m and m.group("from").endswith("/libtorch_cuda.so"):
                    info = files(m.group("to"))
                    if info and info.soname and binding.in_family(info.soname):
                        bound[info.soname] = info.realpath

    def rel(text: str) -> str:
        return text.replace(venv, "/venv")

    names = {n for info in lookup.seen.values() if info is not None for n in info.needed}
    listing = binding.read_ldconfig(host)[0] or ""
    recorded = loader_cases.recorded_files(lookup.seen, Path(venv), label="/venv")
    data = {
        "torch": torch.version, "how": rel(how), "cuda": cuda,
        "executable": rel(exe_path), "torch_dir": rel(torch_dir), "module": rel(module),
        "sys_path": [rel(p) for p in pyenv.sys_path],
        "config": asdict(survey.config),
        "cache": "\n".join(line for line in listing.splitlines()
                           if line.strip().split(" ")[0] in names),
        "listdir": {rel(k): v for k, v in sorted(listed.items())},
        "files": recorded,
        "truth": {k: rel(v) for k, v in sorted(bound.items())},
    }
    (DATA / f"torch-{torch.version}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"torch {torch.version}: {len(recorded)} files, {len(bound)} bindings recorded")


# The two small objects tests/unit/test_elf.py reads: one with DT_RPATH, DF_1_NODEFLIB, a
# DT_NEEDED and an NCCL-like banner in .rodata; one with DT_RUNPATH. Stripped: ~14 KB each.
SAMPLE_C = """#include <zlib.h>
const char envsnap_banner[] = "NCCL version 2.99.1+cuda13.9";
const char *sample_banner(void) { return envsnap_banner; }
const char *sample_zlib(void) { return zlibVersion(); }
"""


def build_samples() -> None:
    out = DATA / "elf"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "sample.c"
        src.write_text(SAMPLE_C)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-s", "-o", out / "libsample.so.1", src,
                        "-Wl,-soname,libsample.so.1", "-Wl,--no-as-needed", "-lz",
                        "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib:$LIB/x",
                        "-Wl,-z,nodefaultlib", "-Wl,--build-id=sha1"], check=True)
        run = Path(tmp) / "run.c"
        run.write_text("int f(void) { return 1; }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-s", "-o", out / "librun.so.2", run,
                        "-Wl,-soname,librun.so.2", "-Wl,--enable-new-dtags",
                        "-Wl,-rpath,${ORIGIN}/sub"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", type=Path, help="a venv's python with torch's CUDA build")
    parser.add_argument("--samples", action="store_true",
                        help="rebuild the small ELF samples (their build-ids change)")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if args.samples:
        build_samples()
    record_cases()
    if args.torch_python:
        record_torch(args.torch_python)


if __name__ == "__main__":
    main()
