"""Mutated real snapshots: load raises only envsnap's errors, and accepts only what tomllib accepts."""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import DistInfo, hostile_text, metadata_text, python_host

from envsnap.capturing import capture
from envsnap.errors import EnvsnapError
from envsnap.io import SnapshotEditedWarning, dumps, dumps_json, load, loads
from envsnap.snapshot import (
    GPU,
    CondaEnv,
    CondaPackage,
    CPUInfo,
    CudaInfo,
    Framework,
    LibraryCopy,
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    PackageProblem,
    ProbeStatus,
    Project,
    PythonEnv,
    Snapshot,
    Source,
    to_dict,
)
from envsnap.testing import gpu_fixture_host

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).resolve().parents[1] / "data"
META = Meta(envsnap_version="0.1.0", captured_at="2026-11-26T10:00:00Z", hostname="gpu-7",
            elapsed_ms={"python": 12, "nvidia": 80})


# ---------------------------------------------------------------------------------------------
# Seeds: real snapshots, made offline and deterministically


def _every_record() -> Snapshot:
    """One of every record type, with the text a real capture holds."""
    return Snapshot(
        meta=META,
        probes={"python": ProbeStatus(status="ok", found_via="/venv/bin/python",
                                      warnings=("dropped variable 'CUDA_a.b'",)),
                "nvidia": ProbeStatus(status="error", error="nvidia-smi timed out")},
        python=PythonEnv(
            version="3.11.7", implementation="cpython", abi_tag="cp311", prefix="/venv",
            base_prefix="/usr", env_kind="venv", site_packages=("lib/python3.11/site-packages",),
            indexes=("https://user:****@pypi.example/simple",),
            markers={"python_version": "3.11", "sys_platform": "linux"},
            packages=(
                Package(name="numpy", version="2.1.0", installer="pip", requested=True,
                        tags=("cp311-cp311-manylinux_2_17_x86_64",), native=True),
                Package(name="torch", version="2.5.1+cu121", requires=("numpy>=1.26", "typing-extensions")),
                Package(name="mylib", version="0.1", source=Source(
                    kind="vcs", url="git+https://github.com/o/r.git", vcs="git", commit="abc123")),
                Package(name="six", version="1.16.0", owner="conda", location="lib/other"),
            ),
            problems=(PackageProblem(kind="no-metadata", path="lib/x-1.0.dist-info", name="x"),),
        ),
        conda=CondaEnv(prefix="/opt/conda", requested_specs=("python=3.11",), packages=(
            CondaPackage(name="python", version="3.11.7", build="h2_0", build_number=2,
                         channel="conda-forge", subdir="linux-64", md5="9ba21d75dc722c29"),)),
        os=OSInfo(system="Linux", arch="x86_64", glibc="2.39", orchestrators=("slurm",)),
        cpu=CPUInfo(model="AMD EPYC 9654", logical_cores=192, flags=("avx2", "avx512f")),
        nvidia=NvidiaInfo(driver_version="580.159.04", kernel_module_version="580.159.04",
                          cuda_driver_version="13.0",
                          gpus=(GPU(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                                    memory_bytes=85520809984, mig_mode=False),)),
        cuda=CudaInfo(toolkit_version="12.4", libraries=(
            LibraryCopy(library="cudnn", version="9.1.0", path="/x/libcudnn.so.9",
                        found_via="pip:nvidia-cudnn-cu12"),), declared={"CUDA_VERSION": "12.4.1"}),
        frameworks=(Framework(name="torch", version="2.5.1+cu121", variant="cu121", cuda="12.1",
                              arch_list=("sm_80", "sm_90")),),
        env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": "0"},
        project=Project(commit="a" * 40, dirty=True, branch="main"),
    )


def _captured() -> Snapshot:
    """The real capture of a recorded H100 machine with a conda Python environment on it."""
    conda_meta = DATA / "conda-meta"
    base = python_host(
        dists=[
            DistInfo(entry="numpy-2.1.0.dist-info", metadata=metadata_text("numpy", "2.1.0"),
                     installer="pip\n", wheel="Tag: cp311-cp311-manylinux_2_17_x86_64\n"),
            DistInfo(entry="torch-2.5.1+cu121.dist-info",
                     metadata=metadata_text("torch", "2.5.1+cu121", ["numpy; python_version >= '3'"]),
                     direct_url='{"url": "https://download.pytorch.org/whl/cu121/torch.whl", '
                                '"archive_info": {"hashes": {"sha256": "00ff"}}}'),
            DistInfo(entry="six-1.11.0.dist-info", metadata=metadata_text("six", "1.11.0"),
                     requested=True),
        ],
        conda_records={p.stem: p.read_text(encoding="utf-8") for p in sorted(conda_meta.glob("*.json"))},
        history=(conda_meta / "history").read_text(encoding="utf-8"),
        environ={"CUDA_VERSION": "12.4.1", "NCCL_DEBUG": "INFO", "PYTHONHASHSEED": "0"},
    )
    host = gpu_fixture_host(DATA / "gpu" / "h100-ubuntu24", files=base.files,
                            commands=base.commands, environ=dict(base.environ))
    snapshot = capture(host=host, python="/env/bin/python")
    return snapshot.replace(meta=META)  # the capture's clock and timings: not deterministic


def _seeds() -> list[str]:
    snapshots = [_every_record(), _captured()]
    snapshots.append(snapshots[0].replace(schema=1))
    return [text for s in snapshots for text in (dumps(s), dumps_json(s))]


# ---------------------------------------------------------------------------------------------
# Mutations

# Values of every TOML type, the ones TOML forbids, and the ones envsnap's writer never writes.
TOML_VALUES = (
    "1", "-0", "0x10", "1_000", "9223372036854775808", "1e400", "3.5", "true", "false",
    "1979-05-27", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00", "07:32:00", "[]", "[1, \"a\"]",
    "{}", "{a = 1}", "{a = {b = [1979-05-27]}}", "nan", "+inf", "-inf", "NaN", "Infinity", '""',
    "''", "'''a\nb'''", '"\\u0000"', '"\\ud800"', '"\\x41"', '"\\e"', "null", "None", "x",
)
JSON_VALUES = (
    "1", "-0", "1e400", "-1e400", "3.5", "true", "false", "null", "[]", "[1, \"a\"]", "{}",
    '{"a": 1}', "NaN", "Infinity", "-Infinity", '""', '"\\u0000"', '"\\ud800"', '"\\udc00x"',
    '"\\ud83d\\ude00"', "'x'", "1" * 5000, "undefined",
)
LINES = (
    "[python]", "[python.packages]", "[[frameworks]]", "[env]", "[meta]", "[probes]",
    "schema = 2", "schema = 3", 'schema = "2"', 'digest = "sha256:0"', "python = 1", "env = []",
    "[python.packages.six]", "six = {version = \"1.16.0\"}", "a.b.c = 1", "schema: 2", '"" = ""',
    "x = NaN", "x = 1979-05-27", "[[python.packages]]", "[conda]", "frameworks = [{}]",
)
# A scalar, or an inline table or array without nesting: a value a mutation can swap.
_ATOM = re.compile(r'"(?:[^"\\\n]|\\.)*"|-?\d[\w.:+-]*|\btrue\b|\bfalse\b|\bnull\b'
                   r'|\{[^{}\n]*\}|\[[^\[\]\n]*\]')

Mutation = Callable[[st.DrawFn, str], str]
_TEXT = hostile_text()


def _deep(draw: st.DrawFn, json_text: bool) -> str:
    """A value nested as deep as the reader's recursion can or cannot follow."""
    depth = draw(st.integers(1, 1200))
    if draw(st.booleans()):
        return "[" * depth + "]" * depth
    opener = '{"a": ' if json_text else "{a = "
    return opener * depth + "1" + "}" * depth


def _replace_value(draw: st.DrawFn, text: str) -> str:
    atoms = list(_ATOM.finditer(text))
    if not atoms:
        return text
    m = atoms[draw(st.integers(0, len(atoms) - 1))]
    json_text = text.lstrip().startswith("{")
    if draw(st.integers(0, 7)) == 0:
        value = _deep(draw, json_text)
    else:
        value = draw(st.sampled_from(JSON_VALUES if json_text else TOML_VALUES))
    return text[:m.start()] + value + text[m.end():]


def _delete_line(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


def _duplicate_line(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    line = lines[draw(st.integers(0, len(lines) - 1))]
    lines.insert(draw(st.integers(0, len(lines))), line)
    return "\n".join(lines)


def _swap_lines(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _insert_line(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(LINES)))
    return "\n".join(lines)


def _repeat_header(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    headers = [line for line in lines if line.startswith("[")]
    if not headers:
        return text
    lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(headers)))
    return "\n".join(lines)


def _insert_text(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(_TEXT) + text[at:]


def _truncate(draw: st.DrawFn, text: str) -> str:
    return text[:draw(st.integers(0, len(text)))]


MUTATIONS: tuple[Mutation, ...] = (
    _replace_value, _replace_value, _delete_line, _duplicate_line, _swap_lines, _insert_line,
    _repeat_header, _insert_text, _truncate,
)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A seed with one to three text mutations, then maybe byte flips (invalid UTF-8 too)."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    data = bytearray(text.encode("utf-8"))
    for _ in range(draw(st.integers(0, 2))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


SEEDS = _seeds()


# ---------------------------------------------------------------------------------------------
# The property


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "snapshot.toml"


def _reference_reads(text: str) -> None:
    """The standard library's reader, as envsnap picks it: JSON for a text that starts with '{'."""
    if text.lstrip().startswith("{"):
        json.loads(text)
    else:
        tomllib.loads(text)


@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_load_raises_only_envsnap_errors_and_accepts_only_what_tomllib_reads(
    scratch: Path, data: bytes,
) -> None:
    scratch.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapshotEditedWarning)  # edited after capture: expected
        try:
            snapshot = load(scratch)
        except EnvsnapError:
            event("refused")
            return
    event("accepted")  # shown by --hypothesis-show-statistics: both outcomes must be common
    text = data.decode("utf-8")  # load read it, so it is UTF-8
    try:
        _reference_reads(text)
    except (ValueError, RecursionError) as exc:
        pytest.fail(f"envsnap accepted a file the reference reader refuses ({type(exc).__name__}: "
                    f"{str(exc)[:200]})")
    # What envsnap reads, it can write back.
    assert to_dict(loads(dumps(snapshot))) == to_dict(snapshot)


@settings(max_examples=500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_loads_raises_only_envsnap_errors_on_text_no_file_holds(data: bytes) -> None:
    # loads() is public: text read with errors="surrogateescape" holds lone surrogates that no
    # UTF-8 file can (load() refuses those bytes before parsing).
    text = data.decode("utf-8", "surrogateescape")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapshotEditedWarning)
        try:
            snapshot = loads(text)
        except EnvsnapError:
            return
    assert to_dict(loads(dumps(snapshot))) == to_dict(snapshot)


def test_the_seeds_load_as_written() -> None:
    for text in SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loads(text)


# ---------------------------------------------------------------------------------------------
# Regressions through the real command line: exit 2, one line on stderr, no traceback.



# ---------------------------------------------------------------------------------------------
# Regressions the fuzz found (see the issue for each): minimal inputs.

_VALID = 'schema = 2\ndigest = "sha256:0"\n'


@pytest.mark.parametrize("text", [
    # An unknown key (a newer minor version's) holding a date: the digest check's json.dumps
    # raised TypeError.
    pytest.param(_VALID + "when = 1979-05-27\n", id="date-under-unknown-key"),
    pytest.param(_VALID + "[os]\nsystem = 'Linux'\narch = 'x86_64'\nseen = 07:32:00\n",
                 id="time-under-unknown-key-in-a-table"),
    # Nested deeper than json.dumps follows, shallower than tomli's reader: RecursionError.
    pytest.param(_VALID + "x = " + "[" * 995 + "]" * 995 + "\n", id="arrays-995-deep"),
    pytest.param(_VALID + "x = " + "{a = " * 995 + "1" + "}" * 995 + "\n", id="tables-995-deep"),
    # A JSON escape for a lone surrogate: the digest's UTF-8 encode raised UnicodeEncodeError.
    pytest.param('{"schema": 2, "digest": "x", "os": {"system": "\\ud800", "arch": "x"}}',
                 id="json-lone-surrogate"),
    # The same through loads() with a str no file can hold: TOML's reader lets it through.
    pytest.param(_VALID + '[os]\nsystem = "\ud800"\narch = "x"\n', id="toml-str-lone-surrogate"),
])
def test_load_refuses_or_reads_without_a_foreign_exception(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapshotEditedWarning)
        try:
            snapshot = loads(text)
        except EnvsnapError:
            return
    _reference_reads(text)
    assert to_dict(loads(dumps(snapshot))) == to_dict(snapshot)


@pytest.mark.parametrize("depth", [500, 900])
def test_a_file_envsnap_accepts_is_one_tomllib_reads(depth: int) -> None:
    # tomli's compiled reader follows nesting far deeper than the standard library's tomllib.
    text = "schema = 2\nx = " + "[" * depth + "]" * depth + "\n"
    try:
        loads(text)
    except EnvsnapError:
        return
    try:
        tomllib.loads(text)
    except RecursionError:
        pytest.fail(f"envsnap reads {depth}-deep arrays that tomllib cannot")

