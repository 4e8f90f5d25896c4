"""The engine edge against the real Docker engine: failures, watchdog, Ctrl-C, missing engine."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from typing import IO

import pytest

from envsnap.cli import Console, main
from envsnap.errors import EngineError
from envsnap.image.engine import BuildEvent, BuildFailed, BuildTimeout, Engine

BASE = "envsnap-base:bookworm"


def _context(dockerfile: str) -> IO[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def engine(docker_engine: None) -> Iterator[Engine]:
    eng = Engine.connect()
    try:
        eng.inspect(BASE)
    except Exception:
        eng.close()
        pytest.skip(f"SKIPPED: base image {BASE} missing (scripts/docker-setup.sh builds it)")
    with eng:
        yield eng


def test_missing_engine_is_one_line_with_how_to_start() -> None:
    with pytest.raises(EngineError) as info:
        Engine.connect("unix:///nonexistent/docker.sock")
    text = str(info.value)
    assert "\n" not in text and "start" in text and "DOCKER_HOST" in text


def test_cli_without_engine_exits_1_with_hint(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from envsnap.io import dump
    from envsnap.snapshot import PythonEnv, Snapshot

    snap = Path(str(tmp_path)) / "s.toml"
    dump(Snapshot(python=PythonEnv(version="3.11.7", implementation="cpython")), snap)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    err = io.StringIO()
    rc = main(["build-image", str(snap), "--base-image", BASE], Console(io.StringIO(), err))
    assert rc == 1
    line = [ln for ln in err.getvalue().splitlines() if "error" in ln]
    assert len(line) == 1 and "no Docker engine answers" in line[0]


def test_success_records_steps_and_cache(engine: Engine) -> None:
    dockerfile = f"FROM {BASE}\nRUN echo envsnap-engine-test-ok > /ok\n"
    first = engine.build(_context(dockerfile), tag="envsnap-test:engine-ok")
    again = engine.build(_context(dockerfile), tag="envsnap-test:engine-ok")
    assert first.image_id.startswith("sha256:") and again.image_id == first.image_id
    assert 2 in again.cached_steps


def test_failing_step_surfaces_step_and_log_tail(engine: Engine) -> None:
    dockerfile = (f"FROM {BASE}\nRUN echo first-line && echo boom-detail >&2 && exit 3\n")
    with pytest.raises(BuildFailed) as info:
        engine.build(_context(dockerfile))
    text = str(info.value)
    assert "step 2 (RUN echo first-line" in text
    assert "non-zero code: 3" in text
    assert "boom-detail" in text and "first-line" in text


def test_watchdog_kills_a_hung_step(engine: Engine) -> None:
    seen: list[str] = []

    def on_event(event: BuildEvent) -> None:
        if event.kind == "running":
            seen.append(event.text)

    started = time.monotonic()
    with pytest.raises(BuildTimeout, match="timed out after 3s"):
        engine.build(_context(f"FROM {BASE}\nRUN sleep 300\n"), timeout=3, on_event=on_event,
                     nocache=True)
    assert time.monotonic() - started < 60
    assert seen
    _gone(engine, seen[0])


def _gone(engine: Engine, container: str) -> None:
    # The builder finishes removing a killed container on its own schedule (forcerm).
    deadline = time.monotonic() + 20
    while engine.container_exists(container) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not engine.container_exists(container)


def test_ctrl_c_leaves_no_container(engine: Engine) -> None:
    seen: list[str] = []

    def on_event(event: BuildEvent) -> None:
        if event.kind == "running":
            seen.append(event.text)
            time.sleep(1)  # let the step really start
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.build(_context(f"FROM {BASE}\nRUN sleep 300\n"), on_event=on_event, nocache=True)
    assert seen
    _gone(engine, seen[0])
