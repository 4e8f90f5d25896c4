"""The only Docker-aware code: stream a classic build through the Docker SDK (docker-py)."""

from __future__ import annotations

import collections
import contextlib
import gc
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

# The image extra's module: imported only by build-image and check --image, after the command
# line has checked the extra is installed. docker-py ships no type information (types-docker
# is a separate stub package); requests is its transport.
import docker  # type: ignore[import-untyped, unused-ignore]
import requests
from docker.utils import kwargs_from_env  # type: ignore[import-untyped, unused-ignore]

from ..errors import EngineError

# Lines of the classic builder's stream (moby builder/dockerfile): the SDK's
# APIClient.build() talks to /build, i.e. the classic builder (docker/docker-py#2230).
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_CACHED = " ---> Using cache"
LOG_TAIL = 25

START_HINT = ("start one with 'sudo systemctl start docker' (or 'sudo dockerd &', Docker "
              "Desktop, 'colima start'), or point DOCKER_HOST at a running engine")


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildEvent:
    """What the CLI shows: ``step`` (a new instruction), ``cached``, ``log`` (a line of
    output) or ``pull``."""

    kind: str
    text: str
    step: int = 0
    total: int = 0


@dataclass(kw_only=True, slots=True)
class Step:
    """One build step, filled in while the engine streams its output: the one mutable record,
    so a plain dataclass rather than @frozen (build-image pays for docker's import anyway)."""

    number: int
    instruction: str
    cached: bool = False
    log: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    image_id: str
    tag: str | None
    steps: tuple[Step, ...]
    seconds: float

    @property
    def cached_steps(self) -> tuple[int, ...]:
        return tuple(s.number for s in self.steps if s.cached)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    exit_code: int
    stdout: str
    stderr: str


class BuildFailed(EngineError):
    """A step failed: the message names it and ends with its log tail."""

    def __init__(self, message: str, *, step: Step | None, tail: list[str]):
        self.step = step
        self.tail = tail
        where = f"step {step.number} ({step.instruction}) failed: " if step else "build failed: "
        text = where + message
        if tail:
            text += "\n  " + "\n  ".join(tail)
        super().__init__(text)


class BuildTimeout(BuildFailed):
    pass


EventFn = Callable[[BuildEvent], None]


def _ignore(_event: BuildEvent) -> None:
    return None


def _reason(exc: BaseException) -> str:
    """The innermost OS error ("No such file or directory") rather than urllib3's wrapping."""
    seen = exc
    while seen.__context__ is not None and not isinstance(seen, OSError):
        seen = seen.__context__
    if isinstance(seen, OSError) and seen.strerror:
        return seen.strerror
    return type(exc).__name__


class Engine:
    """A Docker Engine reached through the SDK's low-level APIClient. Construct with
    :meth:`connect`; tests and callers inject it wherever a build happens."""

    def __init__(self, api: Any, control: Any | None = None) -> None:
        self.api = api
        # A second client for the watchdog: a requests Session is not shared across threads.
        self.control = control or api

    @classmethod
    def connect(cls, base_url: str | None = None, *, timeout: int = 120) -> Engine:
        """Reach the engine (DOCKER_HOST or the default socket) or raise a one-line error."""
        kwargs: dict[str, Any] = {"base_url": base_url} if base_url else kwargs_from_env()
        where = kwargs.get("base_url") or "the default Docker socket"
        # Ask the engine's API version ourselves (unversioned /version) instead of the SDK's
        # version="auto", which leaves a socket open when the engine is missing.
        probe = docker.APIClient(version=docker.constants.DEFAULT_DOCKER_API_VERSION,
                                 timeout=min(timeout, 30), **kwargs)
        failure: str | None = None
        with warnings.catch_warnings():
            # docker-py's unix transport does not close a socket whose connect() failed;
            # collect it here rather than let a ResourceWarning surface later.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                server = str(probe.version(api_version=False)["ApiVersion"])
            except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                failure = _reason(exc)
            finally:
                probe.close()
                gc.collect()
        if failure is not None:
            raise EngineError(f"no Docker engine answers at {where} ({failure}); {START_HINT}")
        return cls(docker.APIClient(version=server, timeout=timeout, **kwargs),
                   docker.APIClient(version=server, timeout=timeout, **kwargs))

    def close(self) -> None:
        self.api.close()
        if self.control is not self.api:
            self.control.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def build(self, context: IO[bytes], *, tag: str | None = None,
              network_mode: str | None = None, nocache: bool = False,
              labels: Mapping[str, str] | None = None, timeout: float | None = None,
              on_event: EventFn = _ignore) -> BuildResult:
        """Stream a build of a tar context; success needs an image ID and no error frame.

        The engine answers 200 and reports a failing step inside the stream as
        ``{"error": ..., "errorDetail": ...}``; ``timeout`` is a watchdog that kills the
        running step's container (the SDK itself sends no read timeout for builds).
        """
        started = time.monotonic()
        steps: list[Step] = []
        running: list[str] = []  # containers the builder announced ("Running in ...")
        tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        timed_out = threading.Event()
        image_id: str | None = None
        error: str | None = None

        stream: Any = None

        def on_timeout() -> None:
            timed_out.set()
            for cid in list(running):
                self._remove(cid, client=self.control)
            # A step with no container (a large COPY, a stalled daemon) is only stopped by
            # closing the connection, which also makes the daemon cancel the build.
            if stream is not None:
                self._close(stream)

        watchdog = threading.Timer(timeout, on_timeout) if timeout else None
        try:
            stream = self.api.build(
                fileobj=context, custom_context=True, encoding=None, tag=tag, decode=True,
                rm=True, forcerm=True, pull=False, nocache=nocache, network_mode=network_mode,
                labels=dict(labels) if labels else None,
            )
        except docker.errors.APIError as exc:
            # Request-level refusals: a Dockerfile parse error, a bad tag, an unreadable context.
            raise BuildFailed(str(exc.explanation or exc), step=None, tail=[]) from None
        if watchdog:
            watchdog.daemon = True
            watchdog.start()
        try:
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    error = str(chunk.get("error") or detail.get("message") or "unknown error")
                    break
                if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = str(chunk["aux"]["ID"])
                    continue
                if "status" in chunk:  # FROM pulling a base
                    on_event(BuildEvent(kind="pull", text=str(chunk["status"])))
                    continue
                for line in str(chunk.get("stream", "")).splitlines():
                    self._line(line, steps, running, tail, on_event)
        except KeyboardInterrupt:
            # Ctrl-C: leave no container behind (the daemon cancels the build when the
            # connection closes; forcerm removes what it created, we remove what we saw).
            self._close(stream)
            for cid in list(running):
                self._remove(cid, client=self.control)
            raise
        except Exception as exc:  # the connection broke mid-stream (or the watchdog closed it)
            if not timed_out.is_set():
                raise BuildFailed(f"the engine connection broke: {type(exc).__name__}: {exc}",
                                  step=steps[-1] if steps else None, tail=list(tail)) from None
        finally:
            if watchdog:
                watchdog.cancel()
        self._close(stream)
        seconds = time.monotonic() - started
        step = steps[-1] if steps else None
        if timed_out.is_set() and image_id is None:
            raise BuildTimeout(f"timed out after {timeout:.0f}s (watchdog; raise --timeout)",
                               step=step, tail=list(tail))
        if error is not None:
            raise BuildFailed(error.strip(), step=step, tail=list(tail))
        if image_id is None:
            raise BuildFailed("the engine ended the build without an image ID", step=step,
                              tail=list(tail))
        return BuildResult(image_id=image_id, tag=tag, steps=tuple(steps), seconds=seconds)

    @staticmethod
    def _line(line: str, steps: list[Step], running: list[str],
              tail: collections.deque[str], on_event: EventFn) -> None:
        m = _STEP.match(line)
        if m:
            steps.append(Step(number=int(m.group(1)), instruction=m.group(3)))
            tail.clear()
            on_event(BuildEvent(kind="step", text=m.group(3), step=int(m.group(1)),
                                total=int(m.group(2))))
            return
        if line.rstrip() == _CACHED:
            if steps:
                steps[-1].cached = True
                on_event(BuildEvent(kind="cached", text=steps[-1].instruction,
                                    step=steps[-1].number))
            return
        r = _RUNNING.match(line.rstrip())
        if r:
            running.append(r.group(1))
            on_event(BuildEvent(kind="running", text=r.group(1),
                                step=steps[-1].number if steps else 0))
            return
        if line.startswith((" ---> ", "Removing intermediate container")):
            return
        if line.strip():
            tail.append(line.rstrip())
            if steps:
                steps[-1].log.append(line.rstrip())
            on_event(BuildEvent(kind="log", text=line.rstrip(),
                                step=steps[-1].number if steps else 0))

    @staticmethod
    def _close(stream: Any) -> None:
        close = getattr(stream, "close", None)
        if close is not None:
            # Best effort while unwinding: the connection may already be gone.
            with contextlib.suppress(Exception):
                close()

    def _remove(self, container: str, *, client: Any) -> None:
        try:
            client.remove_container(container, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # "removal already in progress" when the builder is removing it itself.
            if "in progress" not in str(exc):
                raise

    # -----------------------------------------------------------------------------------------

    def run(self, image: str, argv: Sequence[str], *, mounts: Mapping[str, str] | None = None,
            environment: Mapping[str, str] | None = None, timeout: float = 120.0) -> RunResult:
        """Run ``argv`` in a throwaway container of ``image`` and collect its output.

        The container cannot change anything: no network, a read-only root file system
        (a small tmpfs at /tmp), ``mounts`` (host path -> container path) bound read-only;
        it is removed afterwards, also on Ctrl-C or a timeout."""
        binds = {host: {"bind": inside, "mode": "ro"} for host, inside in (mounts or {}).items()}
        config = self.api.create_host_config(binds=binds, network_mode="none", read_only=True,
                                             tmpfs={"/tmp": "size=64m"})
        try:
            created = self.api.create_container(
                image, entrypoint=[argv[0]], command=list(argv[1:]),
                environment=dict(environment or {}), host_config=config, network_disabled=True)
        except docker.errors.ImageNotFound:
            raise EngineError(f"no image {image} on this engine") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot run {image}: {exc.explanation or exc}") from None
        container = str(created["Id"])
        try:
            self.api.start(container)
            try:
                status = self.api.wait(container, timeout=timeout)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
                raise EngineError(f"{argv[0]} in {image} ran past {timeout:.0f}s") from None
            out = self.api.logs(container, stdout=True, stderr=False)
            err = self.api.logs(container, stdout=False, stderr=True)
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot run {image}: {exc.explanation or exc}") from None
        finally:
            self._remove(container, client=self.control)
        return RunResult(exit_code=int(status.get("StatusCode", -1)),
                         stdout=out.decode("utf-8", "replace"),
                         stderr=err.decode("utf-8", "replace"))

    def has_image(self, ref: str) -> bool:
        try:
            self.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return False
        return True

    def inspect(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = self.api.inspect_image(ref)
        return data

    def layers(self, ref: str) -> tuple[str, ...]:
        return tuple(self.inspect(ref)["RootFS"]["Layers"])

    def container_exists(self, container: str) -> bool:
        try:
            self.api.inspect_container(container)
        except docker.errors.NotFound:
            return False
        return True
