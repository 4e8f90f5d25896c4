"""each(): results in order, the first failure raised at once, the others cancelled."""

from __future__ import annotations

import threading
import time

import pytest

H = "a" * 64


def test_each_keeps_the_order_and_raises_the_first_failure_at_once() -> None:
    from envsnap.lock.threads import each

    assert each(lambda x: x * 2, list(range(20)), workers=4, name="t",
                cancel=threading.Event()) == [x * 2 for x in range(20)]
    assert each(lambda x: x, [], workers=4, name="t", cancel=threading.Event()) == []

    def slow_or_broken(x: int) -> int:
        if x == 0:
            raise ValueError("broken")
        time.sleep(5)  # a worker still busy is not waited for
        return x

    cancel = threading.Event()
    start = time.monotonic()
    with pytest.raises(ValueError, match="broken"):
        each(slow_or_broken, [1, 0, 2], workers=3, name="t", cancel=cancel)
    assert time.monotonic() - start < 2 and cancel.is_set()
