"""The memory budget: bytes buffered between stages are counted; producers wait when it is spent.

Every batch that sits in a queue between two stages holds its ``nbytes`` against the budget until
the consumer takes it. A batch is always let through when nothing else is held (one huge row), and
when the consumer of its queue is waiting on an empty queue: otherwise batches queued elsewhere
(partitions read ahead, a stage further down) could hold the whole budget while the one queue the
pipeline needs next stays empty, and nothing would move. Every queue gets at most one such batch
per wait of its consumer, so the bytes held stay under the budget plus about one batch per stage
whose consumer waits (in practice one: the slowest stage's input).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable


def default_budget_bytes() -> int:
    env = os.environ.get("THRESHER_MEMORY_BUDGET")
    if env:
        return parse_bytes(env)
    return _quarter_of_ram()


@functools.lru_cache(maxsize=1)
def _quarter_of_ram() -> int:
    """A quarter of the machine's memory (asked once: psutil reads /proc/meminfo, ~0.1 ms, and
    every executor made for a collect() asked)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total * 0.25)
    except Exception:  # noqa: BLE001
        return 2 << 30


def parse_bytes(v: str | int) -> int:
    if isinstance(v, int):
        return v
    s = v.strip().upper().replace("IB", "B")
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "B": 1}
    for u, mult in units.items():
        if s.endswith(u):
            return int(float(s[: -len(u)]) * mult)
    return int(s)


class MemoryBudget:
    def __init__(self, limit_bytes: int) -> None:
        self.limit = max(1, int(limit_bytes))
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, n: int, cancelled: threading.Event | None = None,
                starving: Callable[[], bool] | None = None) -> bool:
        """Block until ``n`` bytes fit, nothing is held, or ``starving()`` (the consumer of the
        caller's queue waits on it empty). False if cancelled/closed."""
        with self._cond:
            while self.used > 0 and self.used + n > self.limit and not (starving is not None and starving()):
                if self._closed or (cancelled is not None and cancelled.is_set()):
                    return False
                self._cond.wait(0.05)
            self.used += n
            self.peak = max(self.peak, self.used)
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.used = max(0, self.used - n)
            self._cond.notify_all()

    def wake(self) -> None:
        """Let waiting producers look again (a consumer started waiting on an empty queue)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
