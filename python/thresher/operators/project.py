"""Project: compute a list of expressions (Polars for standard types, kernels for media)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType, Schema
from thresher.expressions.expr import Expr
from thresher.operators.base import Operator
from thresher.operators.evaluate import ExprEvaluator


class ProjectOperator(Operator):
    def __init__(self, exprs: Sequence[Expr], input_schema: Schema, output_schema: Schema) -> None:
        self.evaluator = ExprEvaluator(exprs, input_schema)
        self.schema = output_schema
        self._arrow_schema = output_schema.to_arrow()

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        return self._build(batch, *self.evaluator.evaluate(batch))

    def process_at(self, batch: pa.RecordBatch, partition: str, offset: int,
                   row_start: int | None = None) -> list[pa.RecordBatch]:
        """``process`` of a batch whose first row is row ``offset`` of ``partition`` and row
        ``row_start`` of the whole input (error messages name it)."""
        return self._build(batch, *self.evaluator.evaluate_at(batch, partition, offset, row_start))

    def _build(self, batch: pa.RecordBatch, values: list[pa.Array], errors: list[pa.Array | None]) -> list[pa.RecordBatch]:
        cols: list[pa.Array] = []
        for v, e, want in zip(values, errors, self.evaluator.error_columns):
            cols.append(v)
            if want:
                cols.append(e if e is not None else pa.nulls(batch.num_rows, DataType.string().to_arrow()))
        return [pa.RecordBatch.from_arrays(cols, schema=self._arrow_schema)]

    def warm_up(self) -> None:
        self.evaluator.warm_up()

    def error_count(self) -> int:
        return self.evaluator.errors.count

    def error_samples(self) -> list[str]:
        return list(self.evaluator.errors.samples)

    def take_metrics(self) -> dict[str, Any]:
        return self.evaluator.take_metrics()
