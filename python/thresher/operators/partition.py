"""Hash partitioning of a table by key expressions (for repartition and shuffles)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema, storage_batch
from thresher.expressions.expr import Expr
from thresher.operators.expr_to_polars import to_polars

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


def partition_ids(table: pa.Table, keys: Sequence[Expr], schema: Schema, n: int) -> np.ndarray:
    """The partition (0..n-1) of each row: a hash of the key values, stable across processes."""
    batches = [storage_batch(b) for b in table.to_batches()]
    df = pl.from_arrow(pa.Table.from_batches(batches, schema=batches[0].schema) if batches else table)
    assert isinstance(df, pl.DataFrame)
    h = df.select(pl.struct([to_polars(k, schema).alias(f"k{i}") for i, k in enumerate(keys)]).hash(seed=42)).to_series()
    return (h.to_numpy() % np.uint64(n)).astype(np.int64)


def hash_partition(table: pa.Table, keys: Sequence[Expr], schema: Schema, n: int) -> list[pa.Table]:
    if table.num_rows == 0:
        return [table for _ in range(n)]
    pids = partition_ids(table, keys, schema, n)
    order = np.argsort(pids, kind="stable")
    counts = np.bincount(pids, minlength=n)
    sorted_table = table.take(pa.array(order))
    out = []
    start = 0
    for c in counts:
        out.append(sorted_table.slice(start, int(c)))
        start += int(c)
    return out
