"""FlatMap: a generator UDF emits zero or more rows per input row (fan-out).

Output is cut into batches of ``batch_size`` rows as the generator yields, so one input row that
expands into thousands (a long video into frames) never sits in memory whole.

:meth:`FlatMapOperator.process_stream` runs the generators of several input rows at once on
``workers`` threads, each into a queue of at most ``batch_size`` rows, and emits them in input
order: the head row streams straight through while the next ones decode ahead (bounded), so a
fan-out of videos keeps every core busy without holding more than ``(workers + 1) × batch_size``
rows.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import Schema, conform_array, storage_type
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Expr
from thresher.expressions.udf_protocol import GeneratorUDFProtocol
from thresher.operators.evaluate import ExprEvaluator
from thresher.operators.kernels.base import binary_views

_ITEM, _DONE, _ERROR = 0, 1, 2

#: an output batch is cut at ``batch_size`` rows or once its rows reach this many bytes (for a
#: UDF that measures its rows, see ``row_nbytes``). The yielded rows and the Arrow column built
#: from them are both alive while a batch is emitted: a video job (1 frame/s of 720p at 224x224,
#: one video at a time) peaked ~5 MiB higher at 4 MiB than at 1 MiB and ~1.3 MiB higher at 1 MiB
#: than at 256 KiB (two frames a batch), for no speed. A consumer that wants big batches (a model
#: UDF's ``batch_size``) rebatches downstream.
BATCH_BYTES = int(os.environ.get("THRESHER_FLATMAP_BATCH_BYTES", 256 << 10))
#: what a row decoding ahead of the one being emitted may buffer
AHEAD_BYTES = int(os.environ.get("THRESHER_FLATMAP_AHEAD_BYTES", 8 << 20))


class _Prefetch:
    """One row's generator running on a worker thread into a bounded buffer; iterate to consume.

    The buffer holds at most ``cap_rows`` rows and, past its first row, ``cap_bytes`` bytes (as
    ``nbytes`` measures a row). Iteration re-raises the generator's exception where it happened.
    """

    def __init__(self, make: Callable[[], Iterable[Any] | None], cap_rows: int, cap_bytes: int,
                 nbytes: Callable[[Any], int] | None, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        self._items: deque[tuple[int, Any, int]] = deque()
        self._bytes = 0
        self._cap_rows = max(1, cap_rows)
        self._cap_bytes = cap_bytes
        self._nbytes = nbytes
        self._cv = threading.Condition()
        self._stop = stop
        self.future: Future[None] = pool.submit(self._run, make)

    def _put(self, kind: int, value: Any) -> bool:
        size = self._nbytes(value) if kind == _ITEM and self._nbytes is not None else 0
        with self._cv:
            while self._items and (len(self._items) >= self._cap_rows or self._bytes + size > self._cap_bytes):
                if self._stop.is_set():
                    return False
                self._cv.wait(0.05)
            if self._stop.is_set():
                return False
            self._items.append((kind, value, size))
            self._bytes += size
            self._cv.notify_all()
        return True

    def _run(self, make: Callable[[], Iterable[Any] | None]) -> None:
        gen: Any = None
        try:
            gen = make()
            for item in gen or ():
                if not self._put(_ITEM, item):
                    return
            self._put(_DONE, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which decides
            self._put(_ERROR, exc)
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            with self._cv:
                while not self._items:
                    self._cv.wait()
                kind, value, size = self._items.popleft()
                self._bytes -= size
                self._cv.notify_all()
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                raise value


class _Work:
    """An input batch whose rows are being fanned out (rows start lazily, in order)."""

    def __init__(self, key: Any, batch: pa.RecordBatch | None, cols: list[Any]) -> None:
        self.key = key
        self.batch = batch
        self.cols = cols
        self.n = 0 if batch is None else batch.num_rows
        self.rows: list[_Prefetch | None] = []  # started rows; None: a null argument, nothing to run

    @property
    def unstarted(self) -> bool:
        return len(self.rows) < self.n


class FlatMapOperator:
    def __init__(self, udf: GeneratorUDFProtocol, args: Sequence[Expr], output: Schema, keep_input: Sequence[str],
                 input_schema: Schema, schema: Schema, outer: bool = False) -> None:
        self.udf = udf
        self.output = output
        self.keep_input = list(keep_input)
        self.schema = schema
        self.outer = outer
        self._args = ExprEvaluator(list(args), input_schema)
        self._target: Any = None
        self._arrow_schema = schema.to_arrow()
        rt = udf.return_dtype
        # one output column holding the whole yielded value: a scalar, or a struct column whose
        # type is the return type (a UDF whose struct fields become columns has them as the output)
        self._single = len(output.fields) == 1 and (not rt.is_struct() or output.fields[0].dtype == rt)
        # Arrow cannot build an extension type nested in a struct/list from Python values: build
        # the plain storage, then cast to the real type (which wraps the extension types back)
        self._build_types = [storage_type(f.dtype.to_arrow()) for f in output.fields]
        # a UDF that reads binary arguments as buffers gets zero-copy views of the Arrow data
        # (a batch of videos is not copied into Python bytes), and one that builds its own
        # output column from what it yields skips the Python-values round trip
        self._buffer_args = udf.buffer_args
        self._build_column = udf.build_column if self._single else None
        self._nbytes: Callable[[Any], int] | None = udf.row_nbytes
        self.batch_bytes = BATCH_BYTES
        self.ahead_bytes = AHEAD_BYTES
        self._lock = threading.Lock()
        self.errors = 0
        self.error_samples: list[str] = []

    def _instance(self) -> Any:
        with self._lock:
            if self._target is None:
                u = self.udf
                self._target = u.fn(*u.init_args, **u.init_kwargs) if u.is_class else u.fn
            return self._target

    def warm_up(self) -> None:
        """Instantiate a class UDF (load its model) now instead of on the first batch."""
        self._instance()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ---- row values -------------------------------------------------------------------------
    def _arg_columns(self, batch: pa.RecordBatch) -> list[pa.Array | list[Any]]:
        values, _ = self._args.evaluate(batch)
        out: list[pa.Array | list[Any]] = []
        for v in values:
            arr = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
            plain = arr.type.storage_type if isinstance(arr.type, pa.ExtensionType) else arr.type
            if self._buffer_args and (pa.types.is_binary(plain) or pa.types.is_large_binary(plain)
                                      or pa.types.is_binary_view(plain)):
                out.append(binary_views(arr))
            else:
                out.append(arr)
        return out

    @staticmethod
    def _row(cols: list[pa.Array | list[Any]], i: int) -> list[Any] | None:
        """Row ``i``'s argument values, one row at a time (a batch of videos is not copied to
        Python whole); None when an argument is null."""
        row = []
        for c in cols:
            if isinstance(c, list):
                py = c[i]
            else:
                v = c[i]
                py = v.as_py() if v.is_valid else None
            if py is None:
                return None
            row.append(py)
        return row

    # ---- sequential ---------------------------------------------------------------------------
    def process(self, batch: pa.RecordBatch, batch_size: int) -> Iterator[pa.RecordBatch]:
        """The fan-out of ``batch``, one row's generator after another."""
        target = self._instance()
        cols = self._arg_columns(batch)

        def rows() -> Iterator[tuple[int, Iterable[Any] | None]]:
            for i in range(batch.num_rows):
                row = self._row(cols, i)
                yield i, (None if row is None else _lazy(target, row))

        yield from self._consume(batch, rows(), batch_size)

    # ---- parallel, ordered ----------------------------------------------------------------------
    def process_stream(self, inputs: Iterator[tuple[Any, pa.RecordBatch | None]], batch_size: int,
                       workers: int) -> Iterator[tuple[Any, pa.RecordBatch | None]]:
        """The fan-out of a stream of ``(key, batch)`` inputs, ``workers`` rows at a time, in order.

        ``(key, None)`` inputs are passed through in order (end-of-partition markers). Every
        running row decodes into a queue of at most ``batch_size`` rows; at most ``workers + 1``
        rows are started and not yet emitted.
        """
        # a generator that parallelizes inside a row (the video sampler's frame threads) may
        # take fewer rows at once than there are workers
        rows_at_once = getattr(self.udf, "rows_at_once", None)
        if rows_at_once is not None:
            workers = rows_at_once(workers)
        if workers <= 1:
            for key, b in inputs:
                if b is None:
                    yield key, None
                else:
                    for out in self.process(b, batch_size):
                        yield key, out
            return
        target = self._instance()
        stop = threading.Event()
        pool = ThreadPoolExecutor(workers, thread_name_prefix="thresher-flatmap")
        pending: deque[_Work] = deque()
        source = iter(inputs)
        exhausted = False

        def counts() -> tuple[int, int]:
            running = started = 0
            for w in pending:
                for p in w.rows:
                    if p is not None:
                        started += 1
                        running += not p.future.done()
            return running, started

        def top_up(pull: bool) -> None:
            nonlocal exhausted
            while True:
                running, started = counts()
                if running >= workers or started > workers:
                    return
                w = next((w for w in pending if w.unstarted), None)
                if w is None:
                    if exhausted or not pull:
                        return
                    try:
                        key, b = next(source)
                    except StopIteration:
                        exhausted = True
                        return
                    pending.append(_Work(key, b, [] if b is None else self._arg_columns(b)))
                    continue
                row = self._row(w.cols, len(w.rows))
                w.rows.append(None if row is None else _Prefetch(_bind(target, row), batch_size, self.ahead_bytes, self._nbytes, pool, stop))

        def row_iters(w: _Work) -> Iterator[tuple[int, Iterable[Any] | None]]:
            for i in range(w.n):
                if i >= len(w.rows):
                    top_up(pull=False)
                    while i >= len(w.rows):  # the window is full of finished-but-unemitted rows
                        row = self._row(w.cols, len(w.rows))
                        w.rows.append(None if row is None else _Prefetch(_bind(target, row), batch_size, self.ahead_bytes, self._nbytes, pool, stop))
                p = w.rows[i]
                yield i, (None if p is None else _topping(p, top_up))
                w.rows[i] = None  # consumed: no longer counts against the window
                top_up(pull=True)

        try:
            while True:
                top_up(pull=True)
                if not pending:
                    return
                w = pending[0]
                if w.batch is None:
                    pending.popleft()
                    yield w.key, None
                    continue
                for out in self._consume(w.batch, row_iters(w), batch_size):
                    yield w.key, out
                pending.popleft()
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    # ---- output -------------------------------------------------------------------------------
    def _consume(self, batch: pa.RecordBatch, rows: Iterable[tuple[int, Iterable[Any] | None]],
                 batch_size: int) -> Iterator[pa.RecordBatch]:
        kept = {c: batch.column(batch.schema.get_field_index(c)) for c in self.keep_input}
        parents: list[int] = []
        out_rows: list[Any] = []
        size = 0
        nbytes = self._nbytes
        for i, items in rows:
            start = len(out_rows)  # where this row's not-yet-emitted output begins
            emitted = False  # some of this row's output already left in a batch
            if items is not None:
                try:
                    for item in items:
                        parents.append(i)
                        out_rows.append(item)
                        if nbytes is not None:
                            size += nbytes(item)
                        if len(out_rows) >= batch_size or size >= self.batch_bytes:
                            yield self._emit(parents, out_rows, kept)
                            parents, out_rows, start, emitted, size = [], [], 0, True, 0
                except Exception as exc:
                    if self.udf.on_error == "raise":
                        raise ThresherExecutionError(f"generator udf {self.udf.name} failed on row {i}: "
                                                     f"{type(exc).__name__}: {exc}") from exc
                    # a failed row keeps nothing (as a null list would explode to one null row);
                    # output already emitted in an earlier batch cannot be taken back
                    del parents[start:], out_rows[start:]
                    with self._lock:
                        self.errors += 1
                        if len(self.error_samples) < 5:
                            self.error_samples.append(f"row {i}: {type(exc).__name__}: {exc}")
            if self.outer and not emitted and len(out_rows) == start:
                parents.append(i)
                out_rows.append(None)
                if len(out_rows) >= batch_size:
                    yield self._emit(parents, out_rows, kept)
                    parents, out_rows, size = [], [], 0
        if out_rows:
            yield self._emit(parents, out_rows, kept)

    def _emit(self, parents: list[int], rows: list[Any], kept: dict[str, pa.Array]) -> pa.RecordBatch:
        arrays = _repeat_parents([kept[c] for c in self.keep_input], parents)
        for f, build in zip(self.output.fields, self._build_types):
            if self._build_column is not None:
                arrays.append(conform_array(self._build_column(rows), f.dtype))
                continue
            if self._single:
                vals = rows
            else:
                vals = [None if r is None else r.get(f.name) if isinstance(r, dict) else getattr(r, f.name, None)
                        for r in rows]
            try:
                arrays.append(conform_array(pa.array(vals, type=build), f.dtype))  # type: ignore[arg-type]
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ThresherExecutionError(
                    f"generator udf {self.udf.name}: column {f.name!r} got values that are not {f.dtype}: {exc}"
                ) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self._arrow_schema)


#: at most this many input rows in an output batch are repeated by slicing (no compute kernel)
_SLICE_RUNS = 64


def _repeat_parents(columns: Sequence[pa.Array], parents: list[int]) -> list[pa.Array]:
    """``column.take(parents)`` for each column, where ``parents`` never decreases.

    A fan-out's batch usually comes from a few input rows (the frames of one or two videos): each
    column is then the concatenation of its input rows' one-row slices, repeated, which needs no
    compute kernel, so a job that computes nothing else never loads ``pyarrow.compute`` (~9 MiB
    of RSS, a third of what a local video job adds to a plain PyAV loop). Past ``_SLICE_RUNS``
    input rows, ``take``.
    """
    if not columns:
        return []
    p = np.asarray(parents, np.int64)
    starts = np.flatnonzero(np.diff(p, prepend=-1))  # where each input row's run begins
    if len(starts) > _SLICE_RUNS:
        idx = pa.array(p)
        return [c.take(idx) for c in columns]
    counts = np.diff(starts, append=len(p)).tolist()
    rows = p[starts].tolist()
    out = []
    for c in columns:
        pieces: list[pa.Array] = []
        for row, n in zip(rows, counts):
            pieces += [c.slice(row, 1)] * n
        out.append(pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces))
    return out


def _lazy(target: Any, row: list[Any]) -> Iterator[Any]:
    # calling the generator function happens inside the consumer's try (a raising call is an error row)
    yield from target(*row) or ()


def _bind(target: Any, row: list[Any]) -> Callable[[], Iterable[Any] | None]:
    return lambda: target(*row)


def _topping(p: _Prefetch, top_up: Callable[[bool], None], every: int = 8) -> Iterator[Any]:
    # while the head row streams, start rows whose turn came (a worker finished) without pulling input
    for n, item in enumerate(p):
        yield item
        if n % every == every - 1:
            top_up(False)
