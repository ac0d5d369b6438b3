"""Streams of morsels between stages, run on background threads under the memory budget.

A morsel is a batch tagged with the source partition it came from; a morsel with no batch marks
the end of that partition (sinks commit per partition on it, checkpoints record it). Row-local
stages keep the tags, so lineage survives any chain of maps.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import pyarrow as pa

from thresher.engine.memory import MemoryBudget


@dataclass(slots=True)
class Morsel:
    partition: str
    batch: pa.RecordBatch | None  # None: end of `partition`

    @property
    def is_end(self) -> bool:
        return self.batch is None


_DONE = object()


class Cancelled(Exception):
    pass


class _AnyEvent:
    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


class BufferedPipe:
    """Run ``source`` on a thread; hand its morsels over through a budget-bounded queue.

    When the consumer stops early (a limit was reached), the producer is told to stop and its
    upstream generators are closed, so the scan underneath stops reading.
    """

    def __init__(self, source: Iterable[Morsel], budget: MemoryBudget, cancel: threading.Event, name: str = "") -> None:
        self._source = source
        self._budget = budget
        self._stop = threading.Event()
        self._cancel = _AnyEvent(cancel, self._stop)
        self._q: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"thresher-{name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple):
                self._budget.release(item[1])

    def _run(self) -> None:
        it = iter(self._source)
        try:
            for m in it:
                if self._cancel.is_set():
                    break
                n = m.batch.nbytes if m.batch is not None else 0
                if not self._budget.acquire(n, self._cancel):  # type: ignore[arg-type]
                    break
                if self._stop.is_set():
                    self._budget.release(n)
                    break
                self._q.put((m, n))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._q.put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
            self._q.put(_DONE)

    def __iter__(self) -> Iterator[Morsel]:
        try:
            while True:
                item = self._q.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                m, n = cast("tuple[Morsel, int]", item)
                self._budget.release(n)
                yield m
        finally:
            self.close()


def ordered_map(
    fn: Callable[[pa.RecordBatch, str, int], list[pa.RecordBatch]],
    source: Iterable[Morsel],
    pool: ThreadPoolExecutor | None,
    max_in_flight: int,
    cancel: threading.Event,
) -> Iterator[Morsel]:
    """Apply ``fn(batch, partition, offset)`` to each batch, up to ``max_in_flight`` at once.

    Results come out in input order; ``offset`` is the batch's first row within its partition.
    """
    offsets: dict[str, int] = {}

    def offset_of(m: Morsel) -> int:
        assert m.batch is not None
        o = offsets.get(m.partition, 0)
        offsets[m.partition] = o + m.batch.num_rows
        return o

    if pool is None or max_in_flight <= 1:
        for m in source:
            if cancel.is_set():
                return
            if m.batch is None:
                offsets.pop(m.partition, None)
                yield m
            else:
                for out in fn(m.batch, m.partition, offset_of(m)):
                    yield Morsel(m.partition, out)
        return
    pending: deque[tuple[str, Future[list[pa.RecordBatch]] | None]] = deque()

    def drain_one() -> Iterator[Morsel]:
        pid, fut = pending.popleft()
        if fut is None:
            yield Morsel(pid, None)
        else:
            for out in fut.result():
                yield Morsel(pid, out)

    try:
        for m in source:
            if cancel.is_set():
                return
            if m.batch is None:
                offsets.pop(m.partition, None)
                pending.append((m.partition, None))
            else:
                pending.append((m.partition, pool.submit(fn, m.batch, m.partition, offset_of(m))))
            while len(pending) >= max_in_flight or (pending and pending[0][1] is not None and pending[0][1].done()):
                yield from drain_one()
        while pending:
            yield from drain_one()
    finally:
        for _, fut in pending:
            if fut is not None:
                fut.cancel()


def rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches into batches of ``rows`` rows (the last may be shorter)."""
    buf: list[pa.RecordBatch] = []
    have = 0
    for b in batches:
        while b.num_rows:
            take = min(rows - have, b.num_rows)
            buf.append(b.slice(0, take))
            have += take
            b = b.slice(take)
            if have == rows:
                yield _concat(buf)
                buf, have = [], 0
    if have:
        yield _concat(buf)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
