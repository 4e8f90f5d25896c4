"""Fleet capture on a running Ray cluster: one capture task pinned to each alive node (the only
Ray-aware code; ray is imported only here, and only when used)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import envsnap

from ..errors import BadInputError, SnapshotFormatError
from ..io import SnapshotEditedWarning, dumps, loads, write_files_atomic
from ..redact import redact_text
from ..text import printable
from . import NodeOutcome, file_names

__all__ = ["CaptureRequest", "capture_cluster", "node_capture"]

INSTALL_HINT = "pip install 'envsnap[ray]'"
CONNECT_CHECK_S = 10.0
# What a node may send back: a 10,000-package snapshot is ~1.5 MB (envsnap.io's cap on files).
MAX_REPLY_CHARS = 64 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureRequest:
    """What each node captures (``envsnap capture``'s options), sent to the node as a dict."""

    python: str | None = None
    only: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()
    deep: bool = False
    anonymize: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"python": self.python, "only": list(self.only) if self.only is not None else None,
                "skip": list(self.skip), "deep": self.deep, "anonymize": self.anonymize}


def import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise BadInputError(f"--ray needs Ray on this machine: {INSTALL_HINT}") from None


# ---------------------------------------------------------------------------------------------
# On the node. Ray runs this under the interpreter (and with the environment) of the
# `ray start` that started the node; envsnap itself arrives through the runtime_env's
# py_modules, so the node needs only Ray and envsnap's own dependencies.

def node_capture(request: Mapping[str, Any]) -> dict[str, str]:
    """Capture this node; ``{"snapshot": text}``, or ``{"error": one line}`` for a refused
    argument (``--python`` missing on this node)."""
    # Imported here, on the node, by absolute name: what is imported is the copy Ray shipped
    # (checked below), and the driver's module globals are not what runs there.
    import sys

    import envsnap
    from envsnap.capturing import capture
    from envsnap.errors import EnvsnapError
    from envsnap.host import LocalHost
    from envsnap.io import dumps

    # Ray put the shipped copy of envsnap on PYTHONPATH (ray/_private/runtime_env/py_modules.py
    # prepends each py_modules entry's local copy, <session>/runtime_resources/py_modules_files/
    # _ray_pkg_<hash>); the interpreter being captured must not see it: it is no part of the
    # node's environment and would differ between nodes. On a node where envsnap is installed
    # too, that installed copy may be the one imported, so the entries are found by their place.
    shipped = os.path.dirname(os.path.dirname(os.path.abspath(envsnap.__file__)))
    environ = dict(os.environ)
    kept = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep)
            if p and not _shipped_by_ray(p, shipped)]
    if kept:
        environ["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        environ.pop("PYTHONPATH", None)
    try:
        snapshot = capture(python=request.get("python") or sys.executable,
                           only=request.get("only"), skip=request.get("skip") or (),
                           deep=bool(request.get("deep")), anonymize=bool(request.get("anonymize")),
                           host=LocalHost(environ))
    except EnvsnapError as exc:
        return {"error": str(exc)}
    return {"snapshot": dumps(snapshot)}


def _shipped_by_ray(entry: str, shipped: str) -> bool:
    path = os.path.abspath(entry)
    return path == shipped or os.path.basename(os.path.dirname(path)) == "py_modules_files"


# ---------------------------------------------------------------------------------------------
# On the driver.

def _check_reachable(address: str) -> None:
    """Refuse an address nothing answers on in seconds: ray.init retries a dead GCS for
    minutes, printing a warning every few seconds."""
    target = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise BadInputError(f"--ray {address}: expected HOST:PORT (the head's GCS address, "
                            "as 'ray start --head' prints it) or 'auto'")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_CHECK_S):
            pass
    except OSError as exc:
        raise BadInputError(f"--ray {address}: no Ray cluster answers there "
                            f"({exc.strerror or exc})") from None


def _connect(ray: Any, address: str | None, runtime_env: Mapping[str, Any]) -> str:
    # Ray's own resolution when no address is given: RAY_ADDRESS, else the cluster started
    # last on this machine ("auto"); never a new local cluster, which ray.init(None) starts.
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    if target != "auto":
        _check_reachable(target)
    try:
        ray.init(address=target, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True, runtime_env=dict(runtime_env))
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"--ray {target}: cannot connect ({_one_line(str(exc))})") from None
    return target


def _one_line(text: str) -> str:
    """A reason as the report shows it: the first line, credentials redacted (a runtime-env or
    pip error may quote an index URL with its token), control characters escaped."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return printable(redact_text(first))[:500]


def _failure(ray: Any, exc: BaseException) -> str:
    """Why a node has no snapshot, in one line."""
    errors = ray.exceptions
    if isinstance(exc, errors.TaskUnschedulableError):
        return "the node cannot run the capture task (it left the cluster)"
    if isinstance(exc, errors.NodeDiedError):
        return "the node died during capture"
    if isinstance(exc, errors.WorkerCrashedError):
        return "the node's worker process died during capture (node lost or killed)"
    if isinstance(exc, errors.RuntimeEnvSetupError):
        return ("Ray could not set up the runtime_env that ships envsnap to the node: "
                f"{_one_line(str(exc))}")
    if isinstance(exc, errors.RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            return f"capture crashed on the node: {type(cause).__name__}: {_one_line(str(cause))}"
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _validated(reply: object, name: str) -> tuple[str | None, str | None]:
    """(snapshot text as envsnap writes it, None) or (None, reason). What a node sends is
    parsed and re-written here, so a broken node cannot put anything in DIR that `envsnap
    capture` would not write. This is no defence against a hostile node: Ray unpickles its
    reply on the driver, and a Ray cluster's nodes can run code on each other anyway."""

    if not isinstance(reply, dict):
        return None, f"the node sent {type(reply).__name__}, not a capture result"
    error = reply.get("error")
    if isinstance(error, str):
        return None, f"capture refused on the node: {_one_line(error)}"
    text = reply.get("snapshot")
    if not isinstance(text, str):
        return None, "the node sent no snapshot"
    if len(text) > MAX_REPLY_CHARS:
        return None, f"the node sent more than {MAX_REPLY_CHARS // 2**20} MiB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SnapshotEditedWarning)
            snapshot = loads(text, source=f"node {name}")
    except SnapshotFormatError as exc:
        return None, f"the node sent an invalid snapshot: {_one_line(str(exc))}"
    except SnapshotEditedWarning as exc:
        return None, f"the node sent an invalid snapshot: {_one_line(str(exc))}"
    return dumps(snapshot), None


def capture_cluster(
    address: str | None,
    dest: str,
    request: CaptureRequest,
    *,
    timeout: float,
    prepare_dest: Callable[[], None] = lambda: None,
    on_start: Callable[[str, int], None] = lambda address, nodes: None,
    on_outcome: Callable[[NodeOutcome], None] = lambda outcome: None,
) -> list[NodeOutcome]:
    """Capture every alive node of the Ray cluster at ``address`` into ``dest/<name>.toml``.

    All tasks run at once, each pinned to its node (``soft=False``: a task never runs on
    another node in its place); one deadline, ``timeout`` seconds from submission, bounds
    them all, so the wall time is the slowest node's. Each snapshot is written atomically as
    it arrives. Raises BadInputError when Ray is missing or the cluster cannot be reached;
    a node that fails is an outcome with its reason.
    """
    ray = import_ray()
    strategies = importlib.import_module("ray.util.scheduling_strategies")

    shipped = os.path.dirname(os.path.abspath(envsnap.__file__))
    runtime_env = {"py_modules": [shipped], "excludes": ["__pycache__/", "*.pyc"]}
    target = _connect(ray, address, runtime_env)
    try:
        nodes = {str(n["NodeID"]): str(n.get("NodeManagerHostname") or n.get("NodeName") or "")
                 for n in ray.nodes() if n.get("Alive")}
        names = file_names(nodes)
        prepare_dest()
        on_start(target, len(nodes))
        task = ray.remote(num_cpus=0, max_retries=0)(node_capture)
        started = time.monotonic()
        pending: dict[Any, str] = {}
        outcomes: dict[str, NodeOutcome] = {}
        for node_id in sorted(nodes, key=names.__getitem__):
            strategy = strategies.NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
            pending[task.options(scheduling_strategy=strategy).remote(request.to_dict())] = node_id

        def finish(node_id: str, *, text: str | None = None, reason: str | None = None) -> None:
            name = names[node_id]
            path = None
            if text is not None:

                try:
                    write_files_atomic(dest, {f"{name}.toml": text})
                    path = os.path.join(dest, f"{name}.toml")
                except BadInputError as exc:
                    reason = str(exc)
            outcome = NodeOutcome(node_id=node_id, hostname=nodes[node_id], name=name,
                                  ok=path is not None, path=path, reason=reason,
                                  seconds=time.monotonic() - started)
            outcomes[node_id] = outcome
            on_outcome(outcome)

        deadline = started + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=left)
            for ref in ready:
                node_id = pending.pop(ref)
                try:
                    reply = ray.get(ref)
                except Exception as exc:  # every way a remote task fails is a reason, not a crash
                    finish(node_id, reason=_failure(ray, exc))
                    continue
                text, reason = _validated(reply, names[node_id])
                finish(node_id, text=text, reason=reason)
        for ref, node_id in pending.items():
            with contextlib.suppress(Exception):  # already gone with its node
                ray.cancel(ref, force=True)
            finish(node_id, reason=f"no snapshot within {timeout:g}s (--timeout)")
        return [outcomes[n] for n in sorted(outcomes, key=names.__getitem__)]
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
