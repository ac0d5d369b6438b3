"""Tensor kernels (shape, reshape, L2 normalize, dot, cosine similarity) and NumPy converters.

Everything works on the flat values buffer of the Arrow storage with NumPy (``np.add.reduceat``
for per-row sums), never with a Python loop over rows. A fixed-shape tensor is a
``fixed_size_list<dtype, prod(shape)>``; a variable-shape one is ``struct<shape, data>``.

Examples
--------
>>> import numpy as np
>>> arr = tensor_from_numpy(np.arange(12, dtype="float32").reshape(2, 2, 3))
>>> arr.type.params["shape"]
[2, 3]
>>> tensor_to_numpy(arr).shape
(2, 2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import DataType
from thresher.errors import ThresherExecutionError
from thresher.operators.kernels.base import KernelOutput, RowError
from thresher.operators.kernels.image import on_error_option, storage_of, tensors_to_arrow
from thresher.operators.kernels.registry import kernel

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it


@dataclass
class Flat:
    """A batch of tensors as one flat value buffer: row ``i`` is ``values[offsets[i]:offsets[i+1]]``."""

    values: np.ndarray
    offsets: np.ndarray  # int64, n + 1
    valid: np.ndarray  # bool, n
    fixed_shape: tuple[int, ...] | None  # every row has this shape
    shapes: pa.Array | None  # list<int64> per row for variable-shape tensors

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.valid)


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _list_values(values: pa.Array) -> np.ndarray:
    if values.null_count:
        values = values.fill_null(0)
    return values.to_numpy(zero_copy_only=False)


def flatten(arr: pa.Array | pa.ChunkedArray) -> Flat:
    """View a tensor/embedding/list array as :class:`Flat` (zero-copy where Arrow allows)."""
    params = arr.type.params if isinstance(arr.type, pa.ExtensionType) and hasattr(arr.type, "params") else {}
    st = storage_of(arr)
    n = len(st)
    if pa.types.is_fixed_size_list(st.type):
        size = st.type.list_size
        vals = _list_values(st.values.slice(st.offset * size, n * size))
        shape = params.get("shape") or ([params["dim"]] if "dim" in params else [size])
        return Flat(vals, np.arange(n + 1, dtype=np.int64) * size, _valid(st), tuple(int(d) for d in shape), None)
    if pa.types.is_struct(st.type):
        shapes, data = st.flatten()
    elif pa.types.is_list(st.type) or pa.types.is_large_list(st.type):
        shapes, data = None, st
    else:
        raise ThresherExecutionError(f"expected a tensor, embedding or list array, got {arr.type}")
    offsets = data.offsets.to_numpy().astype(np.int64)
    vals = _list_values(data.values)
    base = offsets[0]
    if base:
        offsets = offsets - base
    vals = vals[base : base + offsets[-1]]
    if shapes is None:
        shapes = pa.array([[int(s)] for s in np.diff(offsets)], pa.list_(pa.int64()))
    return Flat(vals, offsets, _valid(st), None, shapes)


def row_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-row sums of a flat buffer (empty rows sum to 0)."""
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.float64)
    sizes = np.diff(offsets)
    nz = sizes > 0
    if nz.any():
        out[nz] = np.add.reduceat(values.astype(np.float64, copy=False), offsets[:-1][nz])
    return out


def _out_float(values: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if values.dtype == np.float64 else np.dtype(np.float32)


def l2_normalize(flat: Flat) -> np.ndarray:
    """The flat buffer with every row divided by its L2 norm (rows of norm 0 stay 0)."""
    sq = flat.values.astype(np.float64) ** 2
    norms = np.sqrt(row_sums(sq, flat.offsets))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (flat.values * np.repeat(inv, flat.sizes)).astype(_out_float(flat.values))


def pairwise(a: Flat, b: Flat, cosine: bool, on_error: str, what: str) -> KernelOutput:
    """Row-wise dot product or cosine similarity of two equally long batches of vectors."""
    if len(a) != len(b):
        raise ThresherExecutionError(f"{what}: arguments have {len(a)} and {len(b)} rows")
    valid = a.valid & b.valid
    same = a.sizes == b.sizes
    bad = valid & ~same
    errors = None
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"{what} failed on row {i}: vectors of length {a.sizes[i]} and {b.sizes[i]}"
        if on_error == "raise":
            raise RowError(msg)
        errs = np.full(len(a), None, dtype=object)
        for j in np.flatnonzero(bad):
            errs[j] = f"{what} failed on row {j}: vectors of length {a.sizes[j]} and {b.sizes[j]}"
        errors = pa.array(errs.tolist(), pa.large_string())
        valid = valid & same
    if a.fixed_shape is not None and b.fixed_shape is not None and bool(same.all()):
        d = int(a.sizes[0]) if len(a) else 0
        ma = a.values.reshape(len(a), d).astype(np.float64, copy=False)
        mb = b.values.reshape(len(b), d).astype(np.float64, copy=False)
        dots = np.einsum("ij,ij->i", ma, mb)
        if cosine:
            na, nb = np.linalg.norm(ma, axis=1), np.linalg.norm(mb, axis=1)
    else:
        # rows of equal length line up only where both are valid and same-sized: align via a mask
        keep_a = np.repeat(valid, a.sizes)
        keep_b = np.repeat(valid, b.sizes)
        va, vb = a.values[keep_a].astype(np.float64), b.values[keep_b].astype(np.float64)
        offs = np.concatenate([[0], np.cumsum(np.where(valid, a.sizes, 0))])
        dots = row_sums(va * vb, offs)
        if cosine:
            na, nb = np.sqrt(row_sums(va * va, offs)), np.sqrt(row_sums(vb * vb, offs))
    if cosine:
        denom = na * nb
        dots = np.divide(dots, denom, out=np.full_like(dots, np.nan), where=denom > 0)
    return KernelOutput(pa.array(dots, pa.float64(), mask=~valid), errors)


# --------------------------------------------------------------------------------------------
# NumPy converters
# --------------------------------------------------------------------------------------------


def tensor_from_numpy(data: np.ndarray | Sequence[np.ndarray | None], dtype: str | None = None) -> pa.Array:
    """A tensor array from a stacked ndarray (rows along axis 0: fixed shape) or a list of arrays.

    Examples
    --------
    >>> import numpy as np
    >>> tensor_from_numpy([np.zeros((2, 2)), None, np.ones(3)]).to_pylist()[1] is None
    True
    """
    if isinstance(data, np.ndarray):
        dt = dtype or str(data.dtype)
        shape = tuple(int(d) for d in data.shape[1:])
        if data.ndim < 2:
            shape = (1,)
        flat = np.ascontiguousarray(data).reshape(-1).astype(dt, copy=False)
        t = DataType.tensor(dt, shape)
        storage = pa.FixedSizeListArray.from_arrays(pa.array(flat), int(np.prod(shape)))
        return pa.ExtensionArray.from_storage(t.to_arrow(), storage)
    items = list(data)
    first = next((a for a in items if a is not None), None)
    dt = dtype or (str(np.asarray(first).dtype) if first is not None else "float32")
    return tensors_to_arrow([None if a is None else np.asarray(a) for a in items], DataType.tensor(dt))


def tensor_to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray | list[np.ndarray | None]:
    """A stacked ndarray for a fixed-shape tensor array without nulls, else a list of arrays."""
    f = flatten(arr)
    if f.fixed_shape is not None and f.valid.all():
        return f.values.reshape((len(f), *f.fixed_shape))
    shapes = f.shapes.to_pylist() if f.shapes is not None else [list(f.fixed_shape or ())] * len(f)
    out: list[np.ndarray | None] = []
    for i in range(len(f)):
        out.append(f.values[f.offsets[i] : f.offsets[i + 1]].reshape(shapes[i]) if f.valid[i] else None)
    return out


def _rebuild(flat: Flat, values: np.ndarray, like: pa.Array) -> pa.Array:
    """Same shapes and validity as ``flat``, new ``values`` (vectorized)."""
    dt = str(values.dtype)
    mask = pa.array(~flat.valid) if not flat.valid.all() else None
    if flat.fixed_shape is not None:
        t = DataType.tensor(dt, flat.fixed_shape)
        storage = pa.FixedSizeListArray.from_arrays(pa.array(values), int(np.prod(flat.fixed_shape)), mask=mask)
        return pa.ExtensionArray.from_storage(t.to_arrow(), storage)
    t = DataType.tensor(dt)
    data = pa.LargeListArray.from_arrays(pa.array(flat.offsets, pa.int64()), pa.array(values))
    storage = pa.StructArray.from_arrays([flat.shapes, data], names=["shape", "data"], mask=mask)
    return pa.ExtensionArray.from_storage(t.to_arrow(), storage.cast(t.to_arrow().storage_type))


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@kernel("tensor.shape")
def shape_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    f = flatten(args[0])
    mask = pa.array(~f.valid) if not f.valid.all() else None
    if f.fixed_shape is not None:
        k = len(f.fixed_shape)
        vals = pa.array(np.tile(np.array(f.fixed_shape, np.int64), len(f)))
        out = pa.LargeListArray.from_arrays(pa.array(np.arange(len(f) + 1, dtype=np.int64) * k), vals, mask=mask)
        return KernelOutput(out)
    assert f.shapes is not None
    shapes = f.shapes.cast(pa.large_list(pa.int64()))
    if mask is not None:
        shapes = pc.if_else(pa.array(f.valid), shapes, pa.scalar(None, shapes.type))
    return KernelOutput(shapes)


@kernel("tensor.reshape")
def reshape_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    shape = tuple(int(d) for d in options["shape"])
    f = flatten(args[0])
    on_error = on_error_option(options)
    known = int(np.prod([d for d in shape if d != -1]))
    sizes = f.sizes
    if -1 in shape:
        ok = (sizes % max(known, 1) == 0) & f.valid
    else:
        ok = (sizes == known) & f.valid
    bad = f.valid & ~ok
    errors = None
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if on_error == "raise":
            raise RowError(f"tensor.reshape failed on row {i}: {sizes[i]} values cannot take shape {shape}")
        errors = pa.array([f"tensor.reshape failed on row {j}: {sizes[j]} values cannot take shape {shape}"
                           if bad[j] else None for j in range(len(f))], pa.large_string())
    # the output is fixed-shape exactly when the type rule says so: no -1, or a fixed-shape input
    fixed = -1 not in shape or f.fixed_shape is not None
    if fixed:  # rows that cannot take the shape are null (with an error)
        row = int(np.prod(f.fixed_shape)) if f.fixed_shape is not None else 0
        full = tuple(d if d != -1 else row // max(known, 1) for d in shape)
        t = DataType.tensor(str(f.values.dtype), full)
        mask = pa.array(~ok) if not ok.all() else None
        values = np.zeros(len(f) * int(np.prod(full)), f.values.dtype)
        keep = np.repeat(ok, sizes)
        dest = np.repeat(ok, int(np.prod(full)))
        values[dest] = f.values[keep]
        storage = pa.FixedSizeListArray.from_arrays(pa.array(values), int(np.prod(full)), mask=mask)
        return KernelOutput(pa.ExtensionArray.from_storage(t.to_arrow(), storage), errors)
    row_shapes = [[d if d != -1 else int(s // max(known, 1)) for d in shape] if o else None
                  for s, o in zip(sizes.tolist(), ok.tolist())]
    keep = np.repeat(ok, sizes)
    new_sizes = np.where(ok, sizes, 0)
    offsets = np.concatenate([[0], np.cumsum(new_sizes)]).astype(np.int64)
    flat = Flat(f.values[keep], offsets, ok, None, pa.array(row_shapes, pa.list_(pa.int64())))
    return KernelOutput(_rebuild(flat, flat.values, args[0]), errors)


@kernel("tensor.normalize")
def normalize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    f = flatten(args[0])
    return KernelOutput(_rebuild(f, l2_normalize(f), args[0]))


@kernel("tensor.dot")
def dot_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    return pairwise(flatten(args[0]), flatten(args[1]), False, on_error_option(options), "tensor.dot")


@kernel("tensor.cosine_similarity")
def cosine_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    return pairwise(flatten(args[0]), flatten(args[1]), True, on_error_option(options), "tensor.cosine_similarity")
