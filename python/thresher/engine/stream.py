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
from typing import Any, cast

import pyarrow as pa

from thresher.engine.memory import MemoryBudget


@dataclass(slots=True)
class Morsel:
    """A batch of ``partition``, held here (``batch``) or in a Ray object store (``ref``).

    The Ray executor hands object references between its stages so the data never passes
    through the driver: such a morsel has ``batch=None``, a ``ref`` to a ``pa.RecordBatch``
    and its metadata (``rows``, ``nbytes``) filled in by the task that made it. A morsel with
    neither a batch nor a ref marks the end of ``partition``.

    ``row_start`` is the position of the morsel's first row in the whole input of its scan
    (partitions in order), set by the scan where it is known and kept by every step that keeps
    the rows where they were (a projection, a cut into pieces); None once rows moved or were
    dropped. Bad-media errors name a row by it.
    """

    partition: str
    batch: pa.RecordBatch | None  # None (and no ref): end of `partition`
    ref: Any = None
    rows: int = 0
    nbytes: int = 0
    row_start: int | None = None

    @property
    def is_end(self) -> bool:
        return self.batch is None and self.ref is None

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows if self.batch is not None else self.rows

    @property
    def num_bytes(self) -> int:
        return self.batch.nbytes if self.batch is not None else self.nbytes


_DONE = object()


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
        # set while the consumer waits on an empty queue: the producer may then exceed the budget
        # by this one batch (see MemoryBudget), so a full budget never starves the pipeline
        self._starving = threading.Event()
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

    def _feed_starving(self) -> bool:
        """True once per wait of the consumer on an empty queue (one batch may pass the budget)."""
        if self._starving.is_set():
            self._starving.clear()
            return True
        return False

    def _run(self) -> None:
        it = iter(self._source)
        try:
            for m in it:
                if self._cancel.is_set():
                    break
                # a batch held here, or one in Ray's object store (a ref): both count
                n = m.num_bytes if not m.is_end else 0
                if not self._budget.acquire(n, self._cancel, self._feed_starving):  # type: ignore[arg-type]
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
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    self._starving.set()
                    self._budget.wake()
                    item = self._q.get()
                    self._starving.clear()
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
    fn: Callable[[pa.RecordBatch, str, int, int | None], list[pa.RecordBatch]],
    source: Iterable[Morsel],
    pool: ThreadPoolExecutor | None,
    max_in_flight: int,
    cancel: threading.Event,
) -> Iterator[Morsel]:
    """Apply ``fn(batch, partition, offset, row_start)`` to each batch, up to ``max_in_flight`` at once.

    Results come out in input order; ``offset`` is the batch's first row within its partition
    (as this stage sees it), ``row_start`` the morsel's :attr:`Morsel.row_start`. A result of one
    batch with the input's row count keeps ``row_start`` (row-local operators never reorder).
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
                outs = fn(m.batch, m.partition, offset_of(m), m.row_start)
                yield from _results(m, outs)
        return
    pending: deque[tuple[Morsel, Future[list[pa.RecordBatch]] | None]] = deque()

    def drain_one() -> Iterator[Morsel]:
        m, fut = pending.popleft()
        if fut is None:
            yield m
        else:
            yield from _results(m, fut.result())

    try:
        for m in source:
            if cancel.is_set():
                return
            if m.batch is None:
                offsets.pop(m.partition, None)
                pending.append((m, None))
            else:
                pending.append((m, pool.submit(fn, m.batch, m.partition, offset_of(m), m.row_start)))
            while len(pending) >= max_in_flight or (pending and pending[0][1] is not None and pending[0][1].done()):
                yield from drain_one()
        while pending:
            yield from drain_one()
    finally:
        for _, fut in pending:
            if fut is not None:
                fut.cancel()


def _results(m: Morsel, outs: list[pa.RecordBatch]) -> Iterator[Morsel]:
    """The morsels of ``outs``, computed from ``m``'s batch (same rows: same ``row_start``)."""
    assert m.batch is not None
    keep = m.row_start if len(outs) == 1 and outs[0].num_rows == m.batch.num_rows else None
    for out in outs:
        yield Morsel(m.partition, out, row_start=keep)


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


class BatchSizer:
    """Rows per batch for a map stage, adapted to the size of its rows.

    A batch is cut so that rows × bytes per row stays near ``target_bytes``, where bytes per
    row is the larger of the input's and the output's (the output measured on the batches done
    so far: a download or a decode makes rows much bigger than they came in). With a
    ``heap_target``, the worker heap a row needs (measured likewise: an embedding model's
    activations, decoded frames) is kept under it too. The rows stay within
    ``[min_rows, max_rows]``; ``max_rows`` is the stage's batch size (a UDF's ``batch_size``
    when it sets one), so batches only ever shrink below what the plan asked for. With a heap
    target the stage starts slow: batches of an eighth of ``max_rows`` until the heap of a task
    has been measured (the caller runs one at a time meanwhile), so an unknown UDF cannot take a
    worker's memory with its first full batch.

    >>> sizer = BatchSizer(max_rows=64, target_bytes=1 << 20)
    >>> sizer.observe(in_bytes=64_000, out_bytes=6_400_000)  # outputs ~100x their inputs
    >>> sizer.rows_for(pa.record_batch({"x": pa.array([b"x" * 990] * 64)}))
    10
    """

    def __init__(self, max_rows: int, target_bytes: int, min_rows: int = 1, heap_target: int | None = None) -> None:
        self.max_rows = max(1, int(max_rows))
        self.target_bytes = max(1, int(target_bytes))
        self.heap_target = heap_target
        self.min_rows = max(1, min(int(min_rows), self.max_rows))
        self._out = 1.0  # output bytes per input byte, smoothed
        self._heap = 0.0  # worker heap bytes per input byte, the most seen
        self._seen_out = self._seen_heap = False
        self._observed = 0
        self.last_rows: int | None = None

    @property
    def measured(self) -> bool:
        """Is enough known to run batches at full size and several at once?

        Without a heap target: once any batch was observed. With one: once a task's heap was
        measured (or a few batches went by without a measurement: nothing more will come)."""
        if self.heap_target is None:
            return self._seen_out
        return self._seen_heap or self._observed >= 4

    @property
    def growth(self) -> float:
        """Bytes a batch will hold besides its input (its output, or its worker heap) per input byte."""
        return max(self._out, self._heap)

    def observe(self, in_bytes: int, out_bytes: int, heap_bytes: int | None = None) -> None:
        """Record one processed batch (called from worker threads: float stores are atomic).

        ``heap_bytes`` is None where the heap was not measured or is not representative (a
        worker's first task also pays its imports and warm-up)."""
        if in_bytes <= 0:
            return
        self._observed += 1
        g = out_bytes / in_bytes
        self._out = g if not self._seen_out else 0.7 * self._out + 0.3 * g
        self._seen_out = True
        if heap_bytes is not None:
            # the largest seen, not an average: a measurement can only fall short (an allocator
            # keeps what an earlier task freed and hands it out again without the RSS rising)
            self._heap = max(self._heap, heap_bytes / in_bytes)
            self._seen_heap = True

    def rows_for(self, batch: pa.RecordBatch) -> int:
        """Rows per piece for this batch's row size."""
        return self.rows_for_size(batch.num_rows, batch.nbytes)

    def rows_for_size(self, rows: int, nbytes: int) -> int:
        """Rows per piece for a batch of ``rows`` rows and ``nbytes`` bytes (known from metadata)."""
        if not rows:
            return self.max_rows
        in_row = max(1.0, nbytes / rows)
        fit = self.target_bytes / (in_row * max(1.0, self._out))
        if self.heap_target is not None:
            if self._heap > 0:
                fit = min(fit, self.heap_target / (in_row * self._heap))
            if not self.measured:
                fit = min(fit, self.max_rows // 8)
        return int(max(self.min_rows, min(self.max_rows, fit)))

    def cut(self, source: Iterable[Morsel]) -> Iterator[Morsel]:
        """``source``'s morsels, data batches cut to the adapted size (end markers untouched)."""
        for m in source:
            b = m.batch
            if b is None or b.num_rows <= self.min_rows:
                yield m
                continue
            rows = self.last_rows = self.rows_for(b)
            if b.num_rows <= rows:
                yield m
                continue
            i = 0
            while i < b.num_rows:  # sized again per piece: the estimate may change in between
                yield Morsel(m.partition, b.slice(i, rows), row_start=None if m.row_start is None else m.row_start + i)
                i += rows
                rows = self.last_rows = self.rows_for(b)
