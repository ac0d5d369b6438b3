"""Filter: evaluate a boolean predicate, keep the rows where it is true (null counts as false).

The mask is applied with Arrow's filter, which keeps extension columns intact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema
from thresher.expressions.expr import Expr
from thresher.operators.base import Operator
from thresher.operators.evaluate import ExprEvaluator

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it


class FilterOperator(Operator):
    def __init__(self, predicate: Expr, input_schema: Schema) -> None:
        self.evaluator = ExprEvaluator([predicate], input_schema, predicate=True)
        self.schema = input_schema

    def warm_up(self) -> None:
        self.evaluator.warm_up()

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        (mask,), _ = self.evaluator.evaluate(batch)
        if mask.null_count:
            mask = pc.fill_null(mask, False)
        true_count = pc.sum(mask).as_py() or 0
        if true_count == batch.num_rows:
            return [batch]
        if true_count == 0:
            return []
        return [batch.filter(mask)]

    def error_count(self) -> int:
        return self.evaluator.errors.count

    def error_samples(self) -> list[str]:
        return list(self.evaluator.errors.samples)

    def take_metrics(self) -> dict[str, Any]:
        return self.evaluator.take_metrics()
