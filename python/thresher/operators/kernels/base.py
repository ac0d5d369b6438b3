"""What every kernel returns, and the helpers that run a per-item function over an Arrow array.

A kernel evaluates one registered function over Arrow arrays. Media kernels work item by item
(libjpeg-turbo, Pillow and PyAV decode one file at a time and release the GIL), so they run the
items on a small thread pool (:func:`parallel_map`) and catch a failure per row: the row becomes null
and its message goes into ``errors`` (``on_error="null"``, the default), or the whole call raises
with the row and its source (``on_error="raise"``).

Binary results are assembled with :func:`binary_array`: one exact-size buffer and one copy per item,
instead of ``pa.array(list_of_bytes)`` whose builder regrows (and re-faults) its buffer as it goes.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.config import get_config
from thresher.datatypes import storage_array
from thresher.errors import ThresherExecutionError


@dataclass
class KernelOutput:
    """A kernel's result: ``values`` and, per row, an error message or null."""

    values: pa.Array
    errors: pa.Array | None = None  # large_string, null where the row succeeded


class RowError(ThresherExecutionError):
    """A kernel failed on one row (raised with on_error='raise')."""


# --------------------------------------------------------------------------------------------
# The kernel thread pool
# --------------------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_POOL_PREFIX = "thresher-kernel"


def kernel_threads() -> int:
    """Threads a kernel may use inside one batch (``config.kernel_threads`` or the core count)."""
    return max(1, get_config().kernel_threads or os.cpu_count() or 1)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix=_POOL_PREFIX)
            _pool_size = n
        return _pool


def in_kernel_thread() -> bool:
    """True on a kernel pool thread (nested kernels then run serially instead of deadlocking)."""
    return threading.current_thread().name.startswith(_POOL_PREFIX)


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_BUFFER_REPR = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")


def _describe(exc: BaseException) -> str:
    """The exception's text without in-memory object reprs (Pillow names the BytesIO it was given,
    which tells a user nothing; the row and source are already in the message)."""
    return _BUFFER_REPR.sub("the input bytes", str(exc))


def parallel_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    on_error: str = "null",
    what: str = "value",
    sources: Sequence[Any] | None = None,
    threads: int | None = None,
) -> tuple[list[Any], pa.Array | None]:
    """Apply ``fn`` to each non-None item on a thread pool; catch failures per row.

    Items go to the pool in contiguous chunks (a few per thread), so the pool's per-task cost is
    paid a few times per batch rather than once per row. Returns the results (None for null or
    failed rows) and a ``large_string`` array of error messages (None when every row succeeded).
    With ``on_error="raise"`` the first failing row (in row order) raises :class:`RowError` naming
    the row and its source.

    Examples
    --------
    >>> vals, errs = parallel_map(lambda x: 10 // x, [1, None, 0], what="div")
    >>> vals
    [10, None, None]
    >>> errs.to_pylist()[2]
    'div failed on row 2: ZeroDivisionError: integer division or modulo by zero'
    """
    n_threads = threads or kernel_threads()
    idx = [i for i, it in enumerate(items) if it is not None]

    def run(lo: int, hi: int) -> list[Any]:
        res: list[Any] = []
        for i in idx[lo:hi]:
            try:
                res.append(fn(items[i]))
            except Exception as exc:  # noqa: BLE001 - one bad row must not kill the job
                res.append(_Failed(exc))
        return res

    if n_threads > 1 and len(idx) > 1 and not in_kernel_thread():
        n_chunks = min(len(idx), n_threads * 4)
        bounds = [len(idx) * k // n_chunks for k in range(n_chunks + 1)]
        pool = _get_pool(n_threads)
        futures = [pool.submit(run, bounds[k], bounds[k + 1]) for k in range(n_chunks)]
        results = [r for f in futures for r in f.result()]
    else:
        results = run(0, len(idx))
    out: list[Any] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    any_error = False
    for i, r in zip(idx, results):
        if isinstance(r, _Failed):
            src = f" ({sources[i]})" if sources is not None and sources[i] is not None else ""
            msg = f"{what} failed on row {i}{src}: {type(r.exc).__name__}: {_describe(r.exc)}"
            if on_error == "raise":
                raise RowError(msg) from r.exc
            errors[i] = msg
            any_error = True
        else:
            out[i] = r
    return out, (pa.array(errors, type=pa.large_string()) if any_error else None)


# --------------------------------------------------------------------------------------------
# Arrow in and out
# --------------------------------------------------------------------------------------------


def storage_of(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The storage array of ``arr`` (one chunk), whatever extension type wraps it."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return storage_array(arr, deep=False)


def numpy_array(values: np.ndarray) -> pa.Array:
    """A 1-D NumPy array of numbers or booleans as an Arrow array without nulls (zero copy for numbers).

    ``pa.array(ndarray)`` asks NumPy whether the array is masked, which imports ``numpy.ma``
    (~1 MiB of RSS) in a job that never needed it.

    Examples
    --------
    >>> numpy_array(np.array([1, 2], np.int32)).to_pylist(), numpy_array(np.array([True, False])).to_pylist()
    ([1, 2], [True, False])
    """
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got {values.ndim} dimensions")
    if values.dtype == np.bool_:
        bits = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def binary_views(arr: pa.Array | pa.ChunkedArray) -> list[memoryview | None]:
    """Zero-copy views of each item of a (large_)binary/string array (None for nulls)."""
    arr = storage_of(arr)
    if pa.types.is_binary_view(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_binary())
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        arr = arr.cast(pa.large_binary())
    if not (pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)):
        raise ThresherExecutionError(f"expected binary data, got an array of {arr.type}")
    n = len(arr)
    if n == 0:
        return []
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    # unsigned bytes: Cython decoders (simplejpeg) refuse the signed-char view pyarrow gives
    data = memoryview(data_buf).cast("B") if data_buf is not None else memoryview(b"")
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
    return [
        data[s:e] if valid is None or valid[i] else None for i, (s, e) in enumerate(zip(starts, ends))
    ]


def binary_array(items: Sequence[Any], type: pa.DataType | None = None) -> pa.Array:
    """A ``large_binary`` (or ``type``) array of ``items`` built in one exact-size buffer.

    Examples
    --------
    >>> binary_array([b"ab", None, b"c"]).to_pylist()
    [b'ab', None, b'c']
    """
    n = len(items)
    views = [None if b is None else _byte_view(b) for b in items]
    lengths = np.fromiter((0 if v is None else v.nbytes for v in views), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    mv = data.data
    for v, s, e in zip(views, offsets[:-1].tolist(), offsets[1:].tolist()):
        if v is not None and e > s:
            mv[s:e] = v
    valid = np.fromiter((b is not None for b in items), dtype=bool, count=n)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)])
    return arr if type is None or type == pa.large_binary() else arr.cast(type)


def _byte_view(b: Any) -> memoryview:
    """A flat unsigned-byte view of any C-contiguous buffer (bytes, memoryview, ndarray)."""
    v = b if isinstance(b, memoryview) else memoryview(b)
    if v.format == "B" and v.ndim == 1:
        return v
    if not v.c_contiguous:
        v = np.ascontiguousarray(v).data
    return v.cast("B")


def sources_option(options: dict[str, Any], n: int) -> list[Any] | None:
    """Per-row source names (paths/urls) the caller passed as ``options["sources"]``, if any."""
    src = options.get("sources")
    if src is None:
        return None
    src = list(src.to_pylist() if hasattr(src, "to_pylist") else src)
    return src if len(src) == n else None


def on_error_option(options: dict[str, Any]) -> str:
    mode = options.get("on_error", "null")
    if mode not in ("null", "raise", "column"):
        raise ThresherExecutionError(f"on_error must be 'null', 'raise' or 'column', got {mode!r}")
    return str(mode)
