"""Evaluate a list of expressions over one Arrow batch.

An expression is split once, when the operator is built: subtrees that call a kernel (media,
url, tensor functions) or a UDF are computed first, in dependency order, each into a temporary
column; what remains is lowered to one Polars ``select`` over the batch. Extension columns are
given to Polars as their storage and re-wrapped afterwards, so nothing is ever read with the
wrong offsets; a bare column reference is passed through untouched (zero-copy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Field, Schema, conform_array, storage_batch
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Alias, Call, Cast, Column, Expr, Literal, UDFCall
from thresher.operators.expr_to_polars import has_lowering, to_polars
from thresher.operators.kernels.base import KernelOutput
from thresher.operators.kernels.registry import get_kernel

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


def error_column_name(output: str) -> str:
    return f"{output}_error"


def wants_error_column(expr: Expr) -> bool:
    """True when a fallible call in ``expr`` asked for ``on_error="column"``."""
    for n in expr.walk():
        if isinstance(n, Call) and n.spec.fallible and n.option("on_error") == "column":
            return True
        if isinstance(n, UDFCall) and n.udf.on_error == "column":
            return True
    return False


@dataclass
class _Step:
    """Compute ``node`` (a kernel call / UDF / media cast) into column ``name``."""

    name: str
    node: Expr
    arg_exprs: list[Expr]
    out_field: Field
    owner: int  # index of the output expression whose errors this step reports


@dataclass
class ErrorLog:
    """Errors of bad rows seen by one operator (``on_error="null"``)."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, errors: pa.Array) -> None:
        n = len(errors) - errors.null_count
        if n:
            self.count += n
            if len(self.samples) < 20:
                self.samples.extend(x for x in errors.drop_null().to_pylist()[: 20 - len(self.samples)])


def _needs_kernel(node: Expr, schema: Schema) -> bool:
    if isinstance(node, UDFCall):
        return True
    if isinstance(node, Call):
        return not has_lowering(node.name)
    if isinstance(node, Cast):
        src = node.child.resolve(schema).dtype
        return node.dtype.is_media() or src.is_media()
    return False


class ExprEvaluator:
    """Compiled evaluation of ``exprs`` over batches with ``schema``."""

    def __init__(self, exprs: Sequence[Expr], schema: Schema, udf_runner: Callable[[Any], Any] | None = None) -> None:
        self.schema = schema
        self.exprs = list(exprs)
        self.fields = [e.resolve(schema) for e in self.exprs]
        self.error_columns = [wants_error_column(e) for e in self.exprs]
        self.errors = ErrorLog()
        self._udf_runner = udf_runner
        self._udf_state: dict[int, Any] = {}
        self._steps: list[_Step] = []
        self._work_schema_fields: list[Field] = list(schema.fields)
        self._final: list[Expr] = []
        counter = [0]
        for i, e in enumerate(self.exprs):
            self._final.append(self._extract(e, i, counter))
        self._work_schema = Schema(self._work_schema_fields)
        self._passthrough = [
            (isinstance(f, Column) or (isinstance(f, Alias) and isinstance(f.child, Column))) for f in self._final
        ]
        self._polars_exprs: list[pl.Expr | None] = []
        for f, through in zip(self._final, self._passthrough):
            self._polars_exprs.append(None if through else to_polars(f, self._work_schema))

    def _extract(self, e: Expr, owner: int, counter: list[int]) -> Expr:
        def visit(node: Expr) -> Expr | None:
            if not _needs_kernel(node, self._work_schema_fields_schema()):
                return None
            name = f"__thresher_tmp_{counter[0]}"
            counter[0] += 1
            args = list(node.children())
            fld = node.resolve(self._work_schema_fields_schema())
            self._steps.append(_Step(name, node, args, fld, owner))
            self._work_schema_fields.append(Field(name, fld.dtype))
            return Column(name)

        return e.transform(visit)

    def _work_schema_fields_schema(self) -> Schema:
        return Schema(self._work_schema_fields)

    def warm_up(self) -> None:
        """Instantiate the UDFs now (a class UDF loads its model) instead of on the first batch."""
        for step in self._steps:
            node = step.node
            if isinstance(node, UDFCall) and id(node.udf) not in self._udf_state:
                self._udf_state[id(node.udf)] = node.udf.make_runner()

    # ------------------------------------------------------------------------------------
    def _eval_arg(self, arg: Expr, batch: pa.RecordBatch, schema: Schema) -> pa.Array:
        if isinstance(arg, Column):
            return batch.column(batch.schema.get_field_index(arg.name))
        if isinstance(arg, Literal):
            dtype = arg.dtype.to_arrow() if not arg.dtype.is_null() else pa.null()
            if arg.dtype.is_media():
                return pa.nulls(batch.num_rows, dtype)
            return pa.array([arg.value] * batch.num_rows, type=dtype)
        frame = pl.from_arrow(storage_batch(batch), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        out = frame.select(to_polars(arg, schema).alias("__v")).to_series().to_arrow()
        return conform_array(out, arg.resolve(schema).dtype)  # type: ignore[return-value]

    def _run_step(self, step: _Step, batch: pa.RecordBatch, schema: Schema) -> KernelOutput:
        node = step.node
        args = [self._eval_arg(a, batch, schema) for a in step.arg_exprs]
        if isinstance(node, UDFCall):
            state = self._udf_state.get(id(node.udf))
            if state is None:
                state = node.udf.make_runner()
                self._udf_state[id(node.udf)] = state
            result = state(args, dict(node.kwargs), step.out_field)
            if isinstance(result, KernelOutput):
                return result
            if isinstance(result, tuple):  # (values, errors) from udfs/, which sits below operators/
                return KernelOutput(*result)
            return KernelOutput(result)
        if isinstance(node, Cast):
            return KernelOutput(conform_array(args[0], node.dtype))  # type: ignore[arg-type]
        assert isinstance(node, Call)
        fn = get_kernel(node.name)
        if fn is None:
            raise ThresherExecutionError(f"no kernel or Polars form for function {node.name!r}")
        options = node.opts
        options.setdefault("on_error", "null")
        options["__arg_types"] = [a.resolve(schema).dtype for a in step.arg_exprs]
        return fn(args, options)

    def take_metrics(self) -> dict[str, Any]:
        """Counters the UDF runners collected since the last call (model tokens, ...), then reset."""
        from thresher.operators.base import merge_metrics

        out: dict[str, Any] = {}
        for state in list(self._udf_state.values()):
            take = getattr(state, "take_metrics", None)
            if take is not None:
                merge_metrics(out, take())
        return out

    def evaluate(self, batch: pa.RecordBatch) -> tuple[list[pa.Array], list[pa.Array | None]]:
        """Return the value arrays of every expression and, per expression, its row errors."""
        errors: list[pa.Array | None] = [None] * len(self.exprs)
        if self._steps:
            cols = list(batch.columns)
            names = list(batch.schema.names)
            work = batch
            fields = list(self.schema.fields)
            for step in self._steps:
                schema = Schema(fields)
                out = self._run_step(step, work, schema)
                values = conform_array(out.values, step.out_field.dtype)
                if isinstance(values, pa.ChunkedArray):
                    values = values.combine_chunks()
                if out.errors is not None and (len(out.errors) - out.errors.null_count) > 0:
                    self.errors.add(out.errors)
                    prev = errors[step.owner]
                    errors[step.owner] = out.errors if prev is None else _first_error(prev, out.errors)
                cols.append(values)
                names.append(step.name)
                fields.append(Field(step.name, step.out_field.dtype))
                work = pa.RecordBatch.from_arrays(cols, names=names)
            batch = work
        results: list[pa.Array] = [None] * len(self.exprs)  # type: ignore[list-item]
        lowered = [i for i, p in enumerate(self._polars_exprs) if p is not None]
        if lowered:
            frame = pl.from_arrow(storage_batch(batch), rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            try:
                out_df = frame.select([self._polars_exprs[i].alias(f"__o{i}") for i in lowered])  # type: ignore[union-attr]
            except pl.exceptions.PolarsError as exc:
                raise ThresherExecutionError(f"evaluating {[self.exprs[i] for i in lowered]}: {exc}") from exc
            table = out_df.to_arrow()
            for k, i in enumerate(lowered):
                arr = table.column(k)
                arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
                if len(arr) != batch.num_rows and len(arr) == 1:
                    arr = pa.repeat(arr[0], batch.num_rows) if batch.num_rows else arr.slice(0, 0)
                results[i] = conform_array(arr, self.fields[i].dtype)  # type: ignore[assignment]
        for i, through in enumerate(self._passthrough):
            if through:
                f = self._final[i]
                name = f.name if isinstance(f, Column) else f.child.name  # type: ignore[attr-defined]
                arr = batch.column(batch.schema.get_field_index(name))
                results[i] = conform_array(arr, self.fields[i].dtype)  # type: ignore[assignment]
        return results, errors


def _first_error(a: pa.Array, b: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.coalesce(a, b)
