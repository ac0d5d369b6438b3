"""A fused chain of row-local operators applied to one batch after the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from thresher.operators.base import Operator, merge_metrics


class RowPipeline:
    def __init__(self, operators: Sequence[Operator]) -> None:
        self.operators = list(operators)

    def process(self, batch: pa.RecordBatch, partition: str = "", offset: int = 0,
                row_start: int | None = None) -> list[pa.RecordBatch]:
        """Run the chain; ``partition``/``offset`` locate the batch's first row in its partition,
        ``row_start`` in the whole input of the scan (when known: error messages name it)."""
        from thresher.operators.sample import SampleOperator

        batches = [batch]
        ops = self.operators
        if ops and isinstance(ops[0], SampleOperator):
            batches = ops[0].process_at(batch, partition, offset)
            ops = ops[1:]
        # rows still where the partition had them (offsets hold); a sample that dropped some moved them
        located = len(batches) == 1 and batches[0].num_rows == batch.num_rows
        for op in ops:
            nxt: list[pa.RecordBatch] = []
            for b in batches:
                at = getattr(op, "process_at", None)
                if at is not None and located:
                    nxt.extend(at(b, partition, offset, row_start))
                elif at is not None and not isinstance(op, SampleOperator):
                    # rows moved (a filter): errors name the partition, not a made-up position
                    nxt.extend(at(b, partition, offset, None))
                else:
                    nxt.extend(op.process(b))
            # a projection keeps every row in place; anything else (a filter) moves them
            located = located and at is not None and len(nxt) == 1 and nxt[0].num_rows == batches[0].num_rows
            batches = nxt
            if not batches:
                break
        return batches

    def warm_up(self) -> None:
        """Load every operator's models now (an actor does this while upstream work starts)."""
        for op in self.operators:
            op.warm_up()

    def error_count(self) -> int:
        return sum(op.error_count() for op in self.operators)

    def error_samples(self) -> list[str]:
        out: list[str] = []
        for op in self.operators:
            out.extend(op.error_samples())
        return out

    def take_metrics(self) -> dict[str, Any]:
        """The operators' UDF counters since the last call (summed), then reset."""
        out: dict[str, Any] = {}
        for op in self.operators:
            merge_metrics(out, op.take_metrics())
        return out
