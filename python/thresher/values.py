"""Arrow columns to Python and NumPy values, media-aware.

This is how values leave Thresher (``to_pylist``, ``to_pydict``, ``iter_rows``, ``rows``,
``Series.to_list``/``to_numpy``): standard types come out as Arrow's Python values; media types
come out as NumPy, the way Polars and Daft users expect:

- ``image`` -> an ``H×W×C`` ``uint8`` array (``images="pil"`` gives ``PIL.Image.Image`` instead);
- ``tensor`` -> an N-d array of the tensor's dtype and shape;
- ``embedding`` -> a list of ``dim`` floats (as Polars gives an ``Array`` column; ``to_numpy``
  stacks them into an ``(n, dim)`` matrix);
- ``file``/``video``/``audio`` -> their bytes (or path string), unchanged;
- nulls stay ``None``, also inside structs and lists (a video frame struct holds an image array).

Every array handed out per row is an independent, writable copy. ``column_to_numpy`` stacks a
media column into one array (``(n, H, W, C)``, ``(n, *shape)``, ``(n, dim)``) when every row is
present and shaped alike, and otherwise returns a 1-d ``object`` array of per-row arrays (``None``
for nulls).

Examples
--------
>>> import numpy as np, pyarrow as pa
>>> from thresher.operators.kernels.tensor import tensor_from_numpy
>>> t = tensor_from_numpy(np.arange(12, dtype="float32").reshape(2, 2, 3))
>>> [v.shape for v in to_python(t)]
[(2, 3), (2, 3)]
>>> column_to_numpy(t).shape
(2, 2, 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import ThresherExtensionType, has_extension, storage_type

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

IMAGE_FORMATS = ("numpy", "pil")


def _check_images(images: str) -> None:
    if images not in IMAGE_FORMATS:
        raise ValueError(f"images must be one of {IMAGE_FORMATS}, got {images!r}")


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return arr.chunk(0)
        return arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    return arr


def _image_values(arr: pa.Array, images: str) -> list[Any]:
    from thresher.operators.kernels.image import image_views, view_to_ndarray, view_to_pil

    out: list[Any] = []
    for v in image_views(arr):
        if v is None:
            out.append(None)
        elif images == "pil":
            out.append(view_to_pil(v).copy())  # a copy: the frombuffer view would pin the batch
        else:
            out.append(np.array(view_to_ndarray(v)))
    return out


def _tensor_values(arr: pa.Array) -> list[Any]:
    from thresher.operators.kernels.tensor import tensor_to_numpy

    t = tensor_to_numpy(arr)
    if isinstance(t, np.ndarray):
        copy = np.array(t)  # one copy for all rows: each row is then a writable view of it
        return list(copy)
    return [None if a is None else np.array(a) for a in t]


def to_python(arr: pa.Array | pa.ChunkedArray, images: str = "numpy") -> list[Any]:
    """Python values of one column (media as NumPy, see the module docstring).

    >>> import pyarrow as pa
    >>> to_python(pa.array([1, None]))
    [1, None]
    """
    _check_images(images)
    arr = _combine(arr)
    t = arr.type
    if not has_extension(t):
        return arr.to_pylist()  # type: ignore[no-any-return]
    if isinstance(t, ThresherExtensionType):
        if t.kind == "image":
            return _image_values(arr, images)
        if t.kind == "tensor":
            return _tensor_values(arr)
        return arr.storage.to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_struct(t):
        valid = arr.is_valid().to_pylist() if arr.null_count else None
        fields = [to_python(c, images) for c in arr.flatten()]
        names = [f.name for f in t]
        rows: list[Any] = []
        for i in range(len(arr)):
            rows.append(None if valid is not None and not valid[i] else {n: f[i] for n, f in zip(names, fields)})
        return rows
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        if pa.types.is_fixed_size_list(t):
            size = t.list_size
            values = to_python(arr.values.slice(arr.offset * size, len(arr) * size), images)
            offsets = [i * size for i in range(len(arr) + 1)]
        else:
            offs = arr.offsets.to_pylist()
            values = to_python(arr.values.slice(offs[0], offs[-1] - offs[0]), images)
            offsets = [o - offs[0] for o in offs]
        valid = arr.is_valid().to_pylist() if arr.null_count else None
        return [None if valid is not None and not valid[i] else values[offsets[i]:offsets[i + 1]]
                for i in range(len(arr))]
    # any other nesting (maps, dictionaries of media): fall back to the storage values
    return arr.cast(storage_type(t)).to_pylist()  # type: ignore[no-any-return]


def table_to_pydict(table: pa.Table, images: str = "numpy") -> dict[str, list[Any]]:
    """``{column: values}`` of a table, media as NumPy."""
    return {name: to_python(table.column(i), images) for i, name in enumerate(table.column_names)}


def table_to_pylist(table: pa.Table, images: str = "numpy") -> list[dict[str, Any]]:
    """One dict per row, media as NumPy."""
    if not any(has_extension(t) for t in table.schema.types):
        return table.to_pylist()  # type: ignore[no-any-return]
    cols = table_to_pydict(table, images)
    names = table.column_names
    return [dict(zip(names, vals)) for vals in zip(*(cols[n] for n in names))] if names else []


def table_to_rows(table: pa.Table, images: str = "numpy") -> list[tuple[Any, ...]]:
    """One tuple per row, media as NumPy."""
    cols = [to_python(c, images) for c in table.columns]
    return list(zip(*cols)) if cols else []


def _stack_images(arr: pa.Array) -> np.ndarray | None:
    """``(n, H, W, C)`` straight from the pixel buffer when every image is present and alike
    (one copy, no per-row work); None when they are not."""
    from thresher.operators.kernels.image import CHANNELS

    st = arr.storage
    if len(st) == 0 or st.null_count:
        return None
    widths, heights, modes, data = st.flatten()
    if data.null_count or pc.count_distinct(modes).as_py() != 1:
        return None
    w, h = pc.min_max(widths).as_py(), pc.min_max(heights).as_py()
    mode = modes[0].as_py()
    if w["min"] != w["max"] or h["min"] != h["max"] or mode not in CHANNELS:
        return None
    shape = (int(h["min"]), int(w["min"]), CHANNELS[mode])
    size = shape[0] * shape[1] * shape[2]
    offsets = np.frombuffer(data.buffers()[1], dtype=np.int64)[data.offset:data.offset + len(data) + 1]
    if not np.array_equal(np.diff(offsets), np.full(len(data), size)):
        return None
    pixels = np.frombuffer(data.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return pixels.reshape((len(data), *shape)).copy()


def _object_array(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # item by item: assigning a list would broadcast equal shapes
        out[i] = v
    return out


def column_to_numpy(arr: pa.Array | pa.ChunkedArray, writable: bool = False) -> np.ndarray:
    """One column as a NumPy array.

    Media columns stack along a new first axis when every row is present and has the same
    shape (images ``(n, H, W, C)`` uint8, tensors ``(n, *shape)``, embeddings ``(n, dim)``);
    otherwise the result is a 1-d ``object`` array holding one array (or ``None``) per row.
    Standard columns convert as Arrow does (nulls become NaN or ``None``). ``writable=False``
    allows a zero-copy, read-only view where the layout permits it (like Polars).

    >>> import pyarrow as pa
    >>> column_to_numpy(pa.array([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    arr = _combine(arr)
    t = arr.type
    if isinstance(t, ThresherExtensionType) and t.kind in ("image", "tensor", "embedding"):
        if t.kind in ("tensor", "embedding"):
            from thresher.operators.kernels.tensor import tensor_to_numpy

            stacked = tensor_to_numpy(arr)
            if isinstance(stacked, np.ndarray):
                return np.array(stacked) if writable and not stacked.flags.writeable else stacked
            vals: list[Any] = [None if a is None else np.array(a) for a in stacked]
        else:
            fast = _stack_images(arr)
            if fast is not None:
                return fast
            vals = _image_values(arr, "numpy")
        shapes = {v.shape for v in vals if v is not None}
        if len(shapes) == 1 and all(v is not None for v in vals) and vals:
            return np.stack(vals)
        return _object_array(vals)
    if isinstance(t, pa.ExtensionType):
        arr = arr.storage
    if has_extension(arr.type):
        return _object_array(to_python(arr))
    res = arr.to_numpy(zero_copy_only=False)
    if writable and not res.flags.writeable:
        res = np.array(res)
    return res  # type: ignore[no-any-return]
