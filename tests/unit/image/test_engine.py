"""envsnap.image.engine, its pure parts: the classic builder's stream read into steps, cache
hits, containers and a log tail; the innermost OS error named; a failed step's one message.
Builds against the real engine (the local base image, Ctrl-C, the watchdog) are
tests/integration/test_engine.py and test_image_roundtrip.py."""

from __future__ import annotations

import collections
import errno

from envsnap.image.engine import LOG_TAIL, BuildEvent, BuildFailed, Engine, Step, _reason

# Lines as moby's classic builder streams them (builder/dockerfile), one build of two steps:
# the first from the cache, the second run in a container that prints and is removed.
STREAM = [
    "Step 1/2 : FROM envsnap-base:bookworm",
    " ---> 4f0c3e9b2a11",
    "Step 2/2 : RUN python3 -m pip install --no-index /wheels/six-1.16.0-py2.py3-none-any.whl",
    " ---> Using cache",
    " ---> 0d9e8f7a6b5c",
]
RUN = [
    "Step 2/2 : RUN python3 -c 'print(42)'",
    " ---> Running in 0123456789ab",
    "42",
    "",
    "Removing intermediate container 0123456789ab",
    " ---> 9a8b7c6d5e4f",
]


def _read(lines: list[str]) -> tuple[list[Step], list[str], list[str], list[BuildEvent]]:
    steps: list[Step] = []
    running: list[str] = []
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
    events: list[BuildEvent] = []
    for line in lines:
        Engine._line(line, steps, running, tail, events.append)
    return steps, running, list(tail), events


def test_steps_and_cache_hits_from_the_stream() -> None:
    steps, running, tail, events = _read(STREAM)
    assert [(s.number, s.cached) for s in steps] == [(1, False), (2, True)]
    assert steps[1].instruction.startswith("RUN python3 -m pip install")
    assert running == [] and tail == []
    assert [(e.kind, e.step, e.total) for e in events] == [("step", 1, 2), ("step", 2, 2),
                                                           ("cached", 2, 0)]


def test_a_running_container_is_remembered_and_its_output_kept() -> None:
    steps, running, tail, events = _read(RUN)
    assert running == ["0123456789ab"]  # removed on Ctrl-C if the build is cut short
    assert tail == ["42"] and steps[0].log == ["42"]
    assert [e.kind for e in events] == ["step", "running", "log"]


def test_the_tail_holds_the_last_lines_of_the_current_step() -> None:
    lines = ["Step 1/1 : RUN make", *(f"line {i}" for i in range(LOG_TAIL + 10))]
    _, _, tail, _ = _read(lines)
    assert tail == [f"line {i}" for i in range(10, LOG_TAIL + 10)]
    _, _, tail, _ = _read([*lines, "Step 2/2 : RUN true"])
    assert tail == []  # a new step starts a new tail


def test_a_failed_step_is_one_message_with_its_tail() -> None:
    step = Step(number=3, instruction="RUN pip install torch")
    exc = BuildFailed("The command returned a non-zero code: 1", step=step,
                      tail=["ERROR: No matching distribution found for torch"])
    assert str(exc) == ("step 3 (RUN pip install torch) failed: The command returned a non-zero "
                        "code: 1\n  ERROR: No matching distribution found for torch")
    assert str(BuildFailed("no image ID", step=None, tail=[])) == "build failed: no image ID"


def test_the_reason_is_the_innermost_os_error() -> None:
    try:
        try:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        except OSError:
            raise RuntimeError("Connection aborted") from None
    except RuntimeError as wrapped:
        assert wrapped.__context__ is not None  # from None hides it, the context keeps it
        assert _reason(wrapped) == "No such file or directory"
    assert _reason(ValueError("x")) == "ValueError"
