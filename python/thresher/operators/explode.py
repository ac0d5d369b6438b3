"""Explode: one output row per element of list columns (all exploded lists must align)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema, conform_array, storage_array
from thresher.errors import ThresherExecutionError
from thresher.operators.base import Operator

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it


class ExplodeOperator(Operator):
    def __init__(self, columns: Sequence[str], input_schema: Schema, output_schema: Schema) -> None:
        self.columns = list(columns)
        self.input_schema = input_schema
        self.schema = output_schema
        self._arrow_schema = output_schema.to_arrow()

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        first = batch.column(batch.schema.get_field_index(self.columns[0]))
        lists = storage_array(first, deep=False)
        # null and empty lists keep one row with a null element (Polars/Daft semantics)
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        out_len = np.maximum(lengths, 1)
        parent = np.repeat(np.arange(batch.num_rows), out_len)
        cols = []
        for f in self.schema.fields:
            src = batch.column(batch.schema.get_field_index(f.name))
            if f.name in self.columns:
                cols.append(self._flatten(src, lengths, out_len, f.name))
            else:
                cols.append(src.take(pa.array(parent)))
        return [pa.RecordBatch.from_arrays(cols, schema=self._arrow_schema)]

    def _flatten(self, arr: pa.Array, lengths: np.ndarray, out_len: np.ndarray, name: str) -> pa.Array:
        # Arrow has no builder for an extension type nested in a list/struct (take with nulls
        # needs one): explode the plain storage and wrap the extension types back at the end
        storage = storage_array(arr)
        my_len = pc.fill_null(pc.list_value_length(storage), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        if not np.array_equal(my_len, lengths):
            raise ThresherExecutionError(f"explode: list column {name!r} has different lengths than {self.columns[0]!r}")
        values = pc.list_flatten(storage)
        # positions of each output row in `values` (-1 for the null placeholder rows)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
        idx = np.repeat(starts, out_len) + (np.arange(out_len.sum()) - np.repeat(np.cumsum(out_len) - out_len, out_len))
        placeholder = np.repeat(lengths == 0, out_len)
        take = pa.array(np.where(placeholder, 0, idx), mask=placeholder)
        out = values.take(take) if len(values) else pa.nulls(int(out_len.sum()), values.type)
        target = self.schema[name]
        return conform_array(out, target)  # type: ignore[return-value]
