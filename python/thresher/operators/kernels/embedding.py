"""Embedding kernels (L2 normalize, dot, cosine similarity) and NumPy converters.

An embedding column is ``fixed_size_list<dtype, dim>``: its values buffer *is* an ``(n, dim)``
matrix, so every kernel here is a NumPy expression over that matrix.

Examples
--------
>>> import numpy as np
>>> from thresher.operators.kernels.registry import get_kernel
>>> arr = embedding_from_numpy(np.array([[3.0, 4.0], [1.0, 0.0]], dtype="float32"))
>>> str(arr.type.params["dim"])
'2'
>>> embedding_to_numpy(get_kernel("embedding.normalize")([arr], {}).values)[0].tolist()
[0.6000000238418579, 0.800000011920929]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import DataType
from thresher.errors import ThresherExecutionError
from thresher.operators.kernels.base import KernelOutput
from thresher.operators.kernels.image import on_error_option
from thresher.operators.kernels.registry import kernel
from thresher.operators.kernels.tensor import flatten, l2_normalize, pairwise


def embedding_from_numpy(matrix: np.ndarray, dtype: str | None = None) -> pa.Array:
    """An ``embedding[dtype, dim]`` array over a 2-d ``(n, dim)`` ndarray (zero-copy when contiguous)."""
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"embedding_from_numpy needs a 2-d (rows, dim) array, got shape {m.shape}")
    dt = dtype or str(m.dtype)
    flat = np.ascontiguousarray(m, dtype=dt).reshape(-1)
    t = DataType.embedding(dt, int(m.shape[1]))
    storage = pa.FixedSizeListArray.from_arrays(pa.array(flat), int(m.shape[1]))
    return pa.ExtensionArray.from_storage(t.to_arrow(), storage)


def embedding_to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The ``(n, dim)`` matrix of an embedding array (null rows are NaN for float types)."""
    f = flatten(arr)
    if f.fixed_shape is None:
        raise ThresherExecutionError(f"expected an embedding (fixed_size_list) array, got {arr.type}")
    m = f.values.reshape(len(f), int(np.prod(f.fixed_shape)))
    if not f.valid.all():
        m = m.astype(np.float64 if m.dtype == np.float64 else np.float32, copy=True)
        m[~f.valid] = np.nan
    return m


@kernel("embedding.normalize")
def normalize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    f = flatten(args[0])
    if f.fixed_shape is None:
        raise ThresherExecutionError(f"embedding.normalize: expected an embedding array, got {args[0].type}")
    vals = l2_normalize(f)
    dim = int(np.prod(f.fixed_shape))
    mask = pa.array(~f.valid) if not f.valid.all() else None
    storage = pa.FixedSizeListArray.from_arrays(pa.array(vals), dim, mask=mask)
    return KernelOutput(pa.ExtensionArray.from_storage(DataType.embedding(str(vals.dtype), dim).to_arrow(), storage))


@kernel("embedding.dot")
def dot_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    return pairwise(flatten(args[0]), flatten(args[1]), False, on_error_option(options), "embedding.dot")


@kernel("embedding.cosine_similarity")
def cosine_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    return pairwise(flatten(args[0]), flatten(args[1]), True, on_error_option(options),
                    "embedding.cosine_similarity")

