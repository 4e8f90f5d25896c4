"""MLflow against a real tracking server started here (sqlite backend, file artifacts): a logged
snapshot is an artifact with searchable tags, the run-context plugin tags runs started in
another process, and runs:/ and models:/ URIs are snapshots for diff, show and check."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from envsnap.cli import Console, main
from envsnap.errors import BadInputError, EnvsnapError
from envsnap.integrations import mlflow as envsnap_mlflow
from envsnap.io import dump, dumps
from envsnap.snapshot import Framework, Package, PythonEnv, Snapshot
from envsnap.testing import gpu_fixture_host

DATA = Path(__file__).resolve().parents[1] / "data"
STARTUP_S = 180  # ~18 s on the 2-core VM; generous for a loaded CI machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(root / "server.log", "wb")  # noqa: SIM115 - open for the server's whole life
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--default-artifact-root", (root / "artifacts").as_uri(),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
        # The server starts uvicorn and a job runner: one process group, stopped as one.
        start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"mlflow server did not come up at {url}:\n{tail}")
            time.sleep(0.5)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", url)
            mp.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            mp.delenv("ENVSNAP_MLFLOW", raising=False)
            yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def _h100(torch: str = "2.8.0+cu128", cuda: str = "12.8") -> Snapshot:
    """The recorded H100 machine with a torch build on it: every tag has a value."""
    host = capture_h100()
    fw = Framework(name="torch", version=torch, variant=torch.partition("+")[2] or None, cuda=cuda)
    py = PythonEnv(version="3.11.7", implementation="cpython", packages=(
        Package(name="torch", version=torch, installer="pip", requested=True),
        Package(name="numpy", version="2.1.0", installer="pip")))
    return host.replace(python=py, frameworks=(fw,))


def capture_h100() -> Snapshot:
    from envsnap.capturing import capture

    return capture(host=gpu_fixture_host(DATA / "gpu" / "h100-ubuntu24"), only=["nvidia", "cuda", "os"])


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Console(out, err))
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------
# Without a server


def test_tags_are_the_summary_fields() -> None:
    snap = _h100()
    assert envsnap_mlflow.tags(snap) == {
        "envsnap.digest": snap.digest,
        "envsnap.python": "3.11.7",
        "envsnap.torch": "2.8.0+cu128",
        "envsnap.torch_cuda": "cu128",
        "envsnap.driver": "580.159.04",
        "envsnap.gpu": "NVIDIA H100 80GB HBM3",
        "envsnap.gpu_count": "1",
    }
    # a build without a local label: PyTorch's spelling of the CUDA it reports
    assert envsnap_mlflow.tags(_h100("2.8.0", "12.9"))["envsnap.torch_cuda"] == "cu129"
    bare = Snapshot()
    assert envsnap_mlflow.tags(bare) == {"envsnap.digest": bare.digest, "envsnap.gpu_count": "0"}


def test_plugin_is_off_unless_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = envsnap_mlflow.EnvsnapRunContext()

    def no_capture() -> Snapshot:
        raise AssertionError("in_context must not capture")

    monkeypatch.setattr(envsnap_mlflow, "capture_for_tracking", no_capture)
    monkeypatch.delenv("ENVSNAP_MLFLOW", raising=False)
    assert provider.in_context() is False
    monkeypatch.setenv("ENVSNAP_MLFLOW", "0")
    assert provider.in_context() is False
    monkeypatch.setenv("ENVSNAP_MLFLOW", "1")
    assert provider.in_context() is True


def test_the_entry_point_is_registered_with_mlflow() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="mlflow.run_context_provider") if e.name == "envsnap"]
    assert ep.load() is envsnap_mlflow.EnvsnapRunContext
    from mlflow.tracking.context.registry import _run_context_provider_registry

    assert any(isinstance(p, envsnap_mlflow.EnvsnapRunContext) for p in _run_context_provider_registry)


def test_missing_extra_and_bad_uris_are_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _run(["show", "models:/just-a-name"])
    assert code == 2 and "expected runs:/<run_id>[/path], models:/<name>/<version>" in err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the extra were not installed
    with pytest.raises(BadInputError, match=r"needs the mlflow extra .*pip install 'envsnap\[mlflow\]'"):
        envsnap_mlflow.load_uri("runs:/0123")
    code, _, err = _run(["diff", "runs:/a", "runs:/b"])
    assert code == 2 and err.count("\n") == 1 and "envsnap[mlflow]" in err


# ---------------------------------------------------------------------------------------------
# Against the server


@pytest.mark.slow
def test_logged_run_carries_the_artifact_and_the_tags(tracking_uri: str, tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    snap = _h100()
    with mlflow.start_run() as run:
        assert envsnap_mlflow.log_snapshot(snap) is snap
    client = MlflowClient()
    tags = client.get_run(run.info.run_id).data.tags
    assert {k: v for k, v in tags.items() if k.startswith("envsnap.")} == envsnap_mlflow.tags(snap)
    assert [f.path for f in client.list_artifacts(run.info.run_id, "envsnap")] == ["envsnap/envsnap.toml"]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run.info.run_id}/envsnap/envsnap.toml", dst_path=str(tmp_path))
    assert Path(local).read_text(encoding="utf-8") == dumps(snap)
    # searchable: the digest finds the run
    found = mlflow.search_runs(filter_string=f"tags.\"envsnap.digest\" = '{snap.digest}'",
                               output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]


@pytest.mark.slow
def test_log_snapshot_captures_now_and_needs_a_run(tracking_uri: str) -> None:
    import platform

    import mlflow
    from mlflow import MlflowClient

    with pytest.raises(EnvsnapError, match="no active MLflow run"):
        envsnap_mlflow.log_snapshot()
    with mlflow.start_run() as run:
        pass
    logged = envsnap_mlflow.log_snapshot(run_id=run.info.run_id)  # a finished run takes it too
    assert logged.project is None and "project" not in logged.probes  # MLflow records git itself
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["envsnap.python"] == platform.python_version()
    read_back = envsnap_mlflow.load_uri(f"runs:/{run.info.run_id}")
    assert tags["envsnap.digest"] == logged.digest == read_back.digest


@pytest.mark.slow
def test_plugin_tags_runs_started_in_another_process(tracking_uri: str) -> None:
    from mlflow import MlflowClient

    script = ("import mlflow\n"
              "with mlflow.start_run() as run:\n"
              "    print(run.info.run_id)\n")

    def start_run(**extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ENVSNAP_MLFLOW"}
        env.update(MLFLOW_TRACKING_URI=tracking_uri, **extra)
        # A fresh interpreter: MLflow discovers the plugin from the installed entry points.
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        run_id = proc.stdout.strip().splitlines()[-1]
        tags: dict[str, str] = MlflowClient().get_run(run_id).data.tags
        return tags

    tagged = start_run(ENVSNAP_MLFLOW="1")
    assert tagged["envsnap.digest"].startswith("sha256:")
    assert set(tagged) >= {"envsnap.digest", "envsnap.python", "envsnap.gpu_count"}
    assert tagged["envsnap.python"] == ".".join(map(str, sys.version_info[:3]))
    assert "mlflow.source.git.commit" in tagged or "mlflow.user" in tagged  # MLflow's own tags too
    plain = start_run()
    assert not [k for k in plain if k.startswith("envsnap.")]


@pytest.mark.slow
def test_diff_of_two_runs_is_the_diff_of_their_files(tracking_uri: str, tmp_path: Path) -> None:
    import mlflow

    good = _h100()
    bad = _h100("2.9.0+cu130", "13.0")
    assert bad.nvidia is not None
    bad = bad.replace(nvidia=replace(bad.nvidia, driver_version="575.57.08"))
    run_ids = []
    for snap in (good, bad):
        with mlflow.start_run() as run:
            envsnap_mlflow.log_snapshot(snap)
        run_ids.append(run.info.run_id)
    a_file, b_file = tmp_path / "a.toml", tmp_path / "b.toml"
    dump(good, a_file)
    dump(bad, b_file)
    a_uri, b_uri = (f"runs:/{r}" for r in run_ids)
    for fmt in ("text", "markdown", "json"):
        files = _run(["diff", str(a_file), str(b_file), "--format", fmt])
        runs = _run(["diff", a_uri, b_uri, "--format", fmt])
        assert runs[0] == files[0] == 1  # the driver is too old for CUDA 13: critical
        assert runs[1] == files[1].replace(str(a_file), a_uri).replace(str(b_file), b_uri)
        assert runs[2] == files[2] == ""
    # show and check read them too
    code, out, _ = _run(["show", a_uri])
    assert code == 0 and "NVIDIA H100 80GB HBM3" in out
    # an explicit artifact path
    assert envsnap_mlflow.load_uri(f"{a_uri}/envsnap/envsnap.toml") == good
    assert envsnap_mlflow.load_uri(f"{a_uri}/") == good


@pytest.mark.slow
def test_models_uri_finds_the_snapshot_of_the_model_or_of_its_run(tracking_uri: str) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    with_model = _h100()
    with mlflow.start_run():
        model = mlflow.initialize_logged_model(name="clf")
        envsnap_mlflow.log_snapshot(with_model, model_id=model.model_id)
        mlflow.finalize_logged_model(model.model_id, "READY")
    tags = client.get_logged_model(model.model_id).tags
    assert tags["envsnap.digest"] == with_model.digest
    version = mlflow.register_model(f"models:/{model.model_id}", "envsnap-clf")
    assert envsnap_mlflow.load_uri(f"models:/envsnap-clf/{version.version}") == with_model
    client.set_registered_model_alias("envsnap-clf", "champion", version.version)
    assert envsnap_mlflow.load_uri("models:/envsnap-clf@champion") == with_model

    # Logged with the training run only: found through the run that produced the version.
    in_run = _h100("2.7.1+cu126", "12.6")
    with mlflow.start_run():
        envsnap_mlflow.log_snapshot(in_run)
        other = mlflow.initialize_logged_model(name="clf2")
        mlflow.finalize_logged_model(other.model_id, "READY")
    v2 = mlflow.register_model(f"models:/{other.model_id}", "envsnap-clf2")
    assert envsnap_mlflow.load_uri(f"models:/envsnap-clf2/{v2.version}") == in_run

    # Nothing logged anywhere: one line saying where it looked.
    with mlflow.start_run():
        bare = mlflow.initialize_logged_model(name="bare")
        mlflow.finalize_logged_model(bare.model_id, "READY")
    v3 = mlflow.register_model(f"models:/{bare.model_id}", "envsnap-bare")
    code, _, err = _run(["show", f"models:/envsnap-bare/{v3.version}"])
    assert code == 2 and err.count("\n") == 1
    assert "no snapshot logged with this model (looked for envsnap/envsnap.toml in the model and " \
           "in run" in err


@pytest.mark.slow
def test_a_run_without_a_snapshot_is_one_line_of_bad_input(tracking_uri: str) -> None:
    import mlflow

    with mlflow.start_run() as run:
        pass
    code, _, err = _run(["diff", f"runs:/{run.info.run_id}", f"runs:/{run.info.run_id}"])
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"envsnap: error: runs:/{run.info.run_id}: no snapshot at "
                          "envsnap/envsnap.toml (")
    code, _, err = _run(["show", "runs:/" + "0" * 32])
    assert code == 2 and err.count("\n") == 1 and "not found" in err
