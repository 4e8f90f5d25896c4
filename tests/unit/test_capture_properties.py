"""What capture writes, load accepts: the real capture over hostile fake machines."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    INT64,
    PYTHON,
    DistInfo,
    conda_fields,
    hostile_text,
    inspector_facts,
    metadata_text,
    names,
    python_host,
    requirements,
    versions,
)

from envsnap.capturing import capture
from envsnap.host import RunResult
from envsnap.io import dumps, dumps_json, loads
from envsnap.probes.cuda import DECLARED_ENV
from envsnap.probes.env_vars import is_captured
from envsnap.snapshot import Snapshot, to_dict
from envsnap.testing import FakeHost

H100 = Path(__file__).resolve().parents[1] / "data" / "gpu" / "h100-ubuntu24"

PROPERTY = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SMALLER = settings(max_examples=150, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


def _no_slash(text: str) -> str:
    # FakeHost lists folders by splitting paths on '/', as a real directory cannot hold one.
    return text.replace("/", "_")


# ---------------------------------------------------------------------------------------------
# Hostile pieces of a machine

# Strategies are built once: one built inside a draw costs its set-up on every example.
TEXT = hostile_text()
_NAME_TAILS = st.text(st.sampled_from("._-=\n\t é\x00\x7f\u2028AZaz09"), max_size=6)
env_names = st.one_of(
    st.tuples(st.sampled_from(("CUDA_", "NCCL_", "TORCH_", "OMP_", "NV_", "TF_")), _NAME_TAILS)
    .map("".join),
    st.sampled_from(("LD_LIBRARY_PATH", "PYTHONPATH", "LANG", "CUDA_API_KEY", "HOME",
                     "VIRTUAL_ENV", *DECLARED_ENV)),
)
environs = st.dictionaries(env_names, TEXT, max_size=6)
declared_environs = st.dictionaries(st.sampled_from(DECLARED_ENV), TEXT, max_size=4)

hostile_urls = st.one_of(
    TEXT,
    st.tuples(st.sampled_from(("https://", "git+https://", "file:///src/", "https://u:p@")),
              TEXT, st.sampled_from(("", "@host/x", "/simple", "\n", "\x00"))).map("".join),
)
# Real-looking requirements (markers, extras, URLs) and hostile ones.
requirement_lines = st.one_of(
    requirements,
    st.sampled_from(("numpy>=1.26; python_version >= '3.8'", "torch; extra == 'gpu'",
                     "pkg @ https://u:p@host/pkg.whl", "x===a\"b", "y (>=1.0)", "z; os_name == 'nt'")),
    TEXT,
)
_SHAPES = st.sampled_from(("none", "dir", "vcs", "archive", "url", "raw"))


@st.composite
def direct_urls(draw: st.DrawFn) -> str | None:
    url = draw(hostile_urls)
    shape = draw(_SHAPES)
    if shape == "none":
        return None
    if shape == "raw":
        return draw(TEXT)  # not JSON at all
    doc: dict[str, Any] = {"url": url}
    if shape == "dir":
        doc["dir_info"] = {"editable": draw(st.booleans())}
    elif shape == "vcs":
        doc["vcs_info"] = {"vcs": draw(TEXT), "commit_id": draw(TEXT),
                           "requested_revision": draw(TEXT)}
    elif shape == "archive":
        doc["archive_info"] = {"hashes": {"sha256": draw(TEXT)}}
    if draw(st.booleans()):
        doc["subdirectory"] = draw(TEXT)
    return json.dumps(doc)  # escapes control characters: the parsed URL holds them


_DIST_NAMES = st.one_of(names, st.sampled_from(("my pkg", "a\nb", "x;rm -rf /", "")), TEXT)
_DIST_VERSIONS = st.one_of(versions, st.sampled_from(("1.0\n", "1 0", "2.0$(x)")), TEXT)
_REQUIREMENT_LISTS = st.lists(requirement_lines, max_size=3)
_MAYBE_TEXT = st.none() | TEXT
_WHEELS = st.none() | TEXT.map("Wheel-Version: 1.0\nTag: {}\n".format)
_DIRECT_URLS = direct_urls()


@st.composite
def dist_infos(draw: st.DrawFn) -> DistInfo:
    name, version = draw(_DIST_NAMES), draw(_DIST_VERSIONS)
    entry = f"{name}-{version}" if draw(st.booleans()) else draw(TEXT)
    shape = draw(st.integers(0, 3))  # METADATA: real headers mostly; absent; or any text
    metadata = (draw(TEXT) if shape == 0 else None if shape == 1
                else metadata_text(name, version, draw(_REQUIREMENT_LISTS)))
    return DistInfo(
        entry=_no_slash(entry) + ".dist-info",
        metadata=metadata,
        installer=draw(_MAYBE_TEXT),
        direct_url=draw(_DIRECT_URLS),
        wheel=draw(_WHEELS),
        requested=draw(st.booleans()),
    )


_RECORD_NAMES = st.one_of(names, st.sampled_from(("my pkg", "a\nb")), TEXT)
_CONDA_FIELDS = st.one_of(conda_fields, TEXT)
_RECORD_TEXT = st.one_of(st.none(), TEXT, hostile_urls)
_FILE_LISTS = st.lists(TEXT, max_size=2)
_BUILD_NUMBERS = st.integers(0, 2**63 - 1)


@st.composite
def conda_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": draw(_RECORD_NAMES),
        "version": draw(_CONDA_FIELDS),
        "build": draw(_CONDA_FIELDS),
        "build_number": draw(_BUILD_NUMBERS),
    }
    for key in ("channel", "subdir", "url", "md5", "sha256", "requested_spec", "noarch"):
        value = draw(_RECORD_TEXT)
        if value is not None:
            record[key] = value
    record["files"] = draw(_FILE_LISTS)
    return record


_FILE_NAMES = TEXT.map(_no_slash).filter(lambda s: s not in ("", ".", ".."))


def _unique_files(records: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_FILE_NAMES, records, max_size=4)


# Specs with distinct names ("p0=...", "p1=..."): conda's history keeps one spec per name.
history_specs = st.lists(TEXT, max_size=4).map(
    lambda tails: [f"p{i}={tail}" for i, tail in enumerate(tails)])


def history_text(specs: Sequence[str]) -> str:
    return f"==> 2025-03-14 13:51:04 <==\n# update specs: {specs!r}\n"


def _git(branch: str, remote: str) -> Callable[[Sequence[str]], RunResult]:
    def git(argv: Sequence[str]) -> RunResult:
        if "status" in argv:
            return RunResult(returncode=0, stdout=f"# branch.oid {'a' * 40}\n# branch.head {branch}\n")
        return RunResult(returncode=0, stdout=f"{remote}\n")
    return git


def _nvml(driver: str, gpu_name: str, uuid: str) -> dict[str, Any]:
    values: dict[str, Any] = json.loads((H100 / "nvml-values.json").read_text(encoding="utf-8"))
    values["driver"] = driver
    values["gpus"][0].update(name=gpu_name, uuid=uuid, vbios=driver)
    return values


_PYTHON_VERSIONS = st.one_of(st.just("3.11.7"), versions, TEXT)
_MARKERS = st.dictionaries(TEXT, TEXT, max_size=3)
_DIST_LISTS = st.lists(dist_infos(), max_size=4, unique_by=lambda d: d.entry)
_CONDA_DIRS = _unique_files(conda_records())


@st.composite
def hostile_machines(draw: st.DrawFn) -> FakeHost:
    """A machine with hostile text in every place capture reads: environment, the inspector's
    report, dist-info folders, conda-meta records and history, git, NVML, os-release."""
    text = TEXT
    facts = inspector_facts(
        version=draw(_PYTHON_VERSIONS),
        executable=draw(text),
        base_prefix=draw(text),
        abi_tag=draw(_MAYBE_TEXT),
        markers=draw(_MARKERS),
    )
    environ = {**draw(environs), **draw(declared_environs)}
    if draw(st.booleans()):
        environ["PIP_INDEX_URL"] = draw(hostile_urls)
    return python_host(
        facts=facts,
        dists=draw(_DIST_LISTS),
        conda_records=draw(_CONDA_DIRS),
        history=history_text(draw(history_specs)),
        environ=environ,
        files={"/etc/os-release": f'ID=ubuntu\nPRETTY_NAME="{draw(text)}"\nVERSION_ID={draw(text)}\n'},
        commands={"git": _git(draw(text), draw(hostile_urls))},
        nvml=_nvml(draw(text), draw(text), draw(text)),
    )


# ---------------------------------------------------------------------------------------------
# Helpers


def _reloaded(text: str) -> Snapshot:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the digest capture wrote must match what load reads
        return loads(text)


def _assert_loads_back(snapshot: Snapshot) -> None:
    expected = to_dict(snapshot)
    assert to_dict(_reloaded(dumps(snapshot))) == expected
    assert to_dict(_reloaded(dumps_json(snapshot))) == expected


def _crashes(snapshot: Snapshot) -> dict[str, str]:
    """Probes that raised something other than envsnap's own errors: a probe bug."""
    return {name: status.error for name, status in snapshot.probes.items()
            if status.error and status.error.startswith("probe crashed")}


def _warned(snapshot: Snapshot, probe: str, value: str) -> bool:
    """A warning of ``probe`` names ``value`` (warnings show values escaped, as ascii() does)."""
    status = snapshot.probes.get(probe)
    shown = ascii(value)[:120]
    return status is not None and any(shown in w for w in status.warnings)


# ---------------------------------------------------------------------------------------------
# The properties


@PROPERTY
@given(hostile_machines())
def test_what_capture_writes_load_accepts(host: FakeHost) -> None:
    snapshot = capture(host=host, python=PYTHON)
    _assert_loads_back(snapshot)
    assert _crashes(snapshot) == {}


@PROPERTY
@given(environs)
def test_a_dropped_environment_variable_is_named_in_a_warning(environ: dict[str, str]) -> None:
    snapshot = capture(host=python_host(environ=environ), python=PYTHON, only=["env"])
    _assert_loads_back(snapshot)
    for name in environ:
        if is_captured(name):  # an allowlisted, non-secret name: recorded or warned about
            assert name in snapshot.env or _warned(snapshot, "env", name), (
                f"{name!r} (value {environ[name]!r}) was dropped without a warning")


@SMALLER
@given(declared_environs)
def test_a_dropped_cuda_declaration_is_named_in_a_warning(environ: dict[str, str]) -> None:
    snapshot = capture(host=python_host(environ=environ), python=PYTHON, only=["cuda"])
    _assert_loads_back(snapshot)
    declared = snapshot.cuda.declared if snapshot.cuda is not None else {}
    for name, value in environ.items():
        if value:  # an empty variable is no declaration
            assert name in declared or _warned(snapshot, "cuda", name), (
                f"{name}={value!r} was dropped without a warning")


@SMALLER
@given(_CONDA_DIRS)
def test_a_dropped_conda_record_is_named_in_a_warning(records: dict[str, Any]) -> None:
    snapshot = capture(host=python_host(conda_records=records), python=PYTHON, only=["conda"])
    _assert_loads_back(snapshot)
    assert snapshot.conda is not None
    kept = {(p.name, p.version) for p in snapshot.conda.packages}
    for record in records.values():
        name, version = record["name"], record["version"]
        assert (name, version) in kept or _warned(snapshot, "conda", f"{name} {version}"), (
            f"conda record {name!r} {version!r} was dropped without a warning")


@SMALLER
@given(history_specs)
def test_a_dropped_conda_history_spec_is_named_in_a_warning(specs: list[str]) -> None:
    host = python_host(conda_records={}, history=history_text(specs))
    snapshot = capture(host=host, python=PYTHON, only=["conda"])
    _assert_loads_back(snapshot)
    assert snapshot.conda is not None
    for spec in specs:
        assert spec in snapshot.conda.requested_specs or _warned(snapshot, "conda", spec), (
            f"requested spec {spec!r} was dropped without a warning")


@SMALLER
@given(_DIST_LISTS)
def test_every_dist_info_is_a_package_a_problem_or_a_warning(dists: list[DistInfo]) -> None:
    snapshot = capture(host=python_host(dists=dists), python=PYTHON, only=["python"])
    _assert_loads_back(snapshot)
    assert _crashes(snapshot) == {}
    assert snapshot.python is not None
    packages = {p.metadata_path: p for p in snapshot.python.packages}
    problems = {p.path for p in snapshot.python.problems}
    site = "lib/python3.11/site-packages"
    for dist in dists:
        where = f"{site}/{dist.entry}"
        assert where in packages or where in problems, f"{dist.entry!r} vanished"
        pkg = packages.get(where)
        if pkg is not None and dist.direct_url and pkg.source is None:
            # The direct_url.json was read: unparseable (a problem) or dropped (a warning).
            assert (any(p.path == where and p.kind == "invalid-direct-url"
                        for p in snapshot.python.problems)
                    or any(f"source of {pkg.name}" in w
                           for w in snapshot.probes["python"].warnings)), (
                f"the source of {pkg.name} was dropped without a warning")


# JSON values of every type, where capture expects strings.
json_values = st.one_of(st.none(), st.booleans(), INT64, TEXT, st.lists(TEXT, max_size=2),
                        st.dictionaries(TEXT, TEXT, max_size=2))


@st.composite
def mistyped_conda_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"name": draw(names), "version": draw(conda_fields)}
    for key in ("build", "build_number", "channel", "subdir", "url", "md5", "sha256",
                "requested_spec", "noarch", "files"):
        if draw(st.booleans()):
            record[key] = draw(json_values)
    return record


@SMALLER
@given(_unique_files(mistyped_conda_records()))
def test_conda_records_with_values_of_the_wrong_type_never_make_an_unloadable_file(
    records: dict[str, Any],
) -> None:
    snapshot = capture(host=python_host(conda_records=records), python=PYTHON, only=["conda"])
    _assert_loads_back(snapshot)
    assert _crashes(snapshot) == {}


@SMALLER
@given(st.dictionaries(st.sampled_from(sorted(inspector_facts())), json_values, max_size=4))
def test_an_inspector_report_of_any_shape_never_makes_an_unloadable_file(
    changes: dict[str, Any],
) -> None:
    # A target interpreter is the user's (or an image's) program: its report is input too.
    host = python_host(facts=inspector_facts(**changes))
    snapshot = capture(host=host, python=PYTHON, only=["python", "conda", "cuda", "frameworks"])
    _assert_loads_back(snapshot)
