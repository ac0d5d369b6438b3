"""``expr.embedding``: L2 normalize, dot and cosine similarity of ``embedding[dtype, dim]`` columns.

Examples
--------
>>> from thresher import col
>>> col("e").embedding.cosine_similarity(col("q"))
col("e").embedding.cosine_similarity(col("q"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.expressions.expr import Call, Expr, lit_if_needed
from thresher.expressions.registry import FunctionSpec, expect, register
from thresher.expressions.tensor import _as_list, pair_rule


def _normalize(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.kind == "embedding" or f.dtype.is_null(), "embedding", "embedding.normalize")
    if f.dtype.is_null():
        return f.dtype
    dt = "float64" if f.dtype.params["dtype"] == "float64" else "float32"
    return DataType.embedding(dt, int(f.dtype.params["dim"]))


register(FunctionSpec("embedding.normalize", _normalize, "scalar", False, ("embedding_normalize",)))
register(FunctionSpec("embedding.dot", pair_rule("embedding.dot", "embedding"), "scalar", True, ("embedding_dot",)))
register(FunctionSpec("embedding.cosine_similarity", pair_rule("embedding.cosine_similarity", "embedding"), "scalar",
                      True, ("embedding_cosine_similarity", "cosine_similarity")))


class EmbeddingNamespace:
    """Embedding functions, reached as ``expr.embedding``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def normalize(self) -> Expr:
        """Unit L2 norm per row (zero vectors stay zero).

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"e": np.array([[3.0, 4.0]], dtype="float32")},
        ...                     schema={"e": th.DataType.embedding("float32", 2)})
        >>> df.select(th.col("e").embedding.normalize().alias("n")).to_numpy("n").round(3)
        array([[0.6, 0.8]], dtype=float32)
        """
        return Call("embedding.normalize", (self._expr,))

    def dot(self, other: Any) -> Expr:
        """Row-wise dot product with another embedding column or a literal vector (float64).

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"e": np.array([[3.0, 4.0]], dtype="float32")},
        ...                     schema={"e": th.DataType.embedding("float32", 2)})
        >>> df.select(th.col("e").embedding.dot([1.0, 0.0]).alias("d")).to_pydict()
        {'d': [3.0]}
        """
        return Call("embedding.dot", (self._expr, lit_if_needed(_as_list(other))))

    def cosine_similarity(self, other: Any) -> Expr:
        """Row-wise cosine similarity with another embedding column or a literal vector (float64).

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"e": np.array([[3.0, 4.0]], dtype="float32")},
        ...                     schema={"e": th.DataType.embedding("float32", 2)})
        >>> df.select(th.col("e").embedding.cosine_similarity([0.0, 1.0]).alias("c")).to_pydict()
        {'c': [0.8]}
        """
        return Call("embedding.cosine_similarity", (self._expr, lit_if_needed(_as_list(other))))
