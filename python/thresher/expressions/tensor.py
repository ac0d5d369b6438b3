"""``expr.tensor``: shape, reshape, L2 normalize, dot and cosine similarity of tensors.

Examples
--------
>>> from thresher import col
>>> col("t").tensor.reshape((2, -1))
col("t").tensor.reshape(shape=(2, -1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr, lit_if_needed
from thresher.expressions.registry import FunctionSpec, expect, register


def is_vector_like(f: Field) -> bool:
    """Tensor, embedding, a numeric list, or null."""
    k = f.dtype.kind
    if k in ("tensor", "embedding") or f.dtype.is_null():
        return True
    return f.dtype.is_list() and f.dtype.inner().is_numeric()


def _tensor_in(f: Field, fn: str) -> None:
    expect(f, f.dtype.kind == "tensor" or f.dtype.is_null(), "tensor", fn)


def _shape(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _tensor_in(args[0], "tensor.shape")
    return DataType.list(DataType.int64())


def _dtype_of(f: Field) -> str:
    return str(f.dtype.params.get("dtype", "float32"))


def _reshape(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _tensor_in(args[0], "tensor.reshape")
    shape = tuple(opts.get("shape") or ())
    if not shape or any(not isinstance(d, int) or (d <= 0 and d != -1) for d in shape) or shape.count(-1) > 1:
        raise ThresherTypeError(f"tensor.reshape: shape must be positive integers with at most one -1, got {shape}")
    if -1 in shape:
        # a fixed-shape input fixes the -1 now, so the type never depends on the data
        fixed = args[0].dtype.params.get("shape") if args[0].dtype.kind == "tensor" else None
        if not fixed:
            return DataType.tensor(_dtype_of(args[0]))
        size, known = 1, 1
        for d in fixed:
            size *= int(d)
        for d in shape:
            known *= d if d != -1 else 1
        if size % known:
            raise ThresherTypeError(f"tensor.reshape: column {args[0].name!r} of shape {tuple(fixed)} cannot take "
                                    f"shape {shape}")
        shape = tuple(d if d != -1 else size // known for d in shape)
    return DataType.tensor(_dtype_of(args[0]), shape)


def _normalize(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _tensor_in(args[0], "tensor.normalize")
    dt = "float64" if _dtype_of(args[0]) == "float64" else "float32"
    shape = args[0].dtype.params.get("shape")
    return DataType.tensor(dt, tuple(shape) if shape else None)


def pair_rule(fn: str, kind: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        a, b = args
        expect(a, a.dtype.kind == kind or a.dtype.is_null(), kind, fn)
        expect(b, is_vector_like(b), "tensor, embedding or a numeric list", fn)
        da, db = a.dtype.params.get("dim"), b.dtype.params.get("dim")
        if da is not None and db is not None and da != db:
            raise ThresherTypeError(f"{fn}: column {a.name!r} has dim {da} but {b.name!r} has dim {db}")
        return DataType.float64()

    return rule


register(FunctionSpec("tensor.shape", _shape, "scalar", False, ("tensor_shape",)))
register(FunctionSpec("tensor.reshape", _reshape, "scalar", True, ("tensor_reshape",)))
register(FunctionSpec("tensor.normalize", _normalize, "scalar", False, ("tensor_normalize",)))
register(FunctionSpec("tensor.dot", pair_rule("tensor.dot", "tensor"), "scalar", True, ("tensor_dot",)))
register(FunctionSpec("tensor.cosine_similarity", pair_rule("tensor.cosine_similarity", "tensor"), "scalar", True,
                      ("tensor_cosine_similarity",)))


class TensorNamespace:
    """Tensor functions, reached as ``expr.tensor``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def shape(self) -> Expr:
        """Each tensor's shape as ``list<int64>``.

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(6, dtype="float32").reshape(1, 2, 3)})
        >>> df.select(th.col("t").tensor.shape().alias("s")).to_pydict()
        {'s': [[2, 3]]}
        """
        return Call("tensor.shape", (self._expr,))

    def reshape(self, shape: Sequence[int], on_error: str = "null") -> Expr:
        """Reshape each tensor (one dimension may be -1); a fixed shape gives a fixed-shape type.

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(6, dtype="float32").reshape(1, 2, 3)})
        >>> df.select(th.col("t").tensor.reshape((3, -1)).tensor.shape().alias("s")).to_pydict()
        {'s': [[3, 2]]}
        """
        return Call("tensor.reshape", (self._expr,), (("shape", tuple(int(d) for d in shape)), ("on_error", on_error)))

    def normalize(self) -> Expr:
        """Divide each tensor by its L2 norm (all elements); zero tensors stay zero.

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(6, dtype="float32").reshape(1, 2, 3)})
        >>> out = df.select(th.col("t").tensor.normalize().alias("n")).to_numpy("n")
        >>> round(float(np.linalg.norm(out[0])), 4)
        1.0
        """
        return Call("tensor.normalize", (self._expr,))

    def dot(self, other: Any) -> Expr:
        """Row-wise dot product with another tensor column or a literal vector (float64).

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(6, dtype="float32").reshape(1, 2, 3)})
        >>> df.select(th.col("t").tensor.dot(th.col("t")).alias("d")).to_pydict()
        {'d': [55.0]}
        """
        return Call("tensor.dot", (self._expr, lit_if_needed(_as_list(other))))

    def cosine_similarity(self, other: Any) -> Expr:
        """Row-wise cosine similarity with another tensor column or a literal vector (float64).

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(6, dtype="float32").reshape(1, 2, 3)})
        >>> df.select(th.col("t").tensor.cosine_similarity(th.col("t")).alias("c")).to_pydict()
        {'c': [1.0]}
        """
        return Call("tensor.cosine_similarity", (self._expr, lit_if_needed(_as_list(other))))


def _as_list(v: Any) -> Any:
    if hasattr(v, "tolist") and not isinstance(v, Expr):
        return [float(x) for x in v.tolist()]
    if isinstance(v, tuple):
        return [float(x) for x in v]
    return v
