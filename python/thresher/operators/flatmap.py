"""FlatMap: a generator UDF emits zero or more rows per input row (fan-out).

Output is cut into batches of ``batch_size`` rows as the generator yields, so one input row that
expands into thousands (a long video into frames) never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import Schema, conform_array
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Expr
from thresher.operators.evaluate import ExprEvaluator


class FlatMapOperator:
    def __init__(self, udf: Any, args: Sequence[Expr], output: Schema, keep_input: Sequence[str],
                 input_schema: Schema, schema: Schema) -> None:
        self.udf = udf
        self.output = output
        self.keep_input = list(keep_input)
        self.schema = schema
        self._args = ExprEvaluator(list(args), input_schema)
        self._target: Any = None
        self._arrow_schema = schema.to_arrow()

    def _instance(self) -> Any:
        if self._target is None:
            u = self.udf
            self._target = u.fn(*u.init_args, **u.init_kwargs) if u.is_class else u.fn
        return self._target

    def process(self, batch: pa.RecordBatch, batch_size: int) -> Iterator[pa.RecordBatch]:
        target = self._instance()
        values, _ = self._args.evaluate(batch)
        cols = [v.to_pylist() for v in values]
        kept = {c: batch.column(batch.schema.get_field_index(c)) for c in self.keep_input}
        names = self.output.names
        single = len(names) == 1 and not self.udf.return_dtype.is_struct()
        parents: list[int] = []
        out_rows: list[Any] = []
        for i in range(batch.num_rows):
            row = [c[i] for c in cols]
            if any(v is None for v in row):
                continue
            try:
                for item in target(*row) or ():
                    parents.append(i)
                    out_rows.append(item)
                    if len(out_rows) >= batch_size:
                        yield self._emit(parents, out_rows, kept, names, single)
                        parents, out_rows = [], []
            except Exception as exc:
                if self.udf.on_error == "raise":
                    raise ThresherExecutionError(f"generator udf {self.udf.name} failed on row {i}: "
                                                 f"{type(exc).__name__}: {exc}") from exc
        if out_rows:
            yield self._emit(parents, out_rows, kept, names, single)

    def _emit(self, parents: list[int], rows: list[Any], kept: dict[str, pa.Array], names: list[str],
              single: bool) -> pa.RecordBatch:
        idx = pa.array(parents, pa.int64())
        arrays = [kept[c].take(idx) for c in self.keep_input]
        for f in self.output.fields:
            if single:
                vals = rows
            else:
                vals = [r.get(f.name) if isinstance(r, dict) else getattr(r, f.name, None) for r in rows]
            try:
                arrays.append(conform_array(pa.array(vals, type=f.dtype.storage), f.dtype))  # type: ignore[arg-type]
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ThresherExecutionError(
                    f"generator udf {self.udf.name}: column {f.name!r} got values that are not {f.dtype}: {exc}"
                ) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self._arrow_schema)
