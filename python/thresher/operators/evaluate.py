"""Evaluate a list of expressions over one Arrow batch.

An expression is split once, when the operator is built: subtrees that call a kernel (media,
url, tensor functions) or a UDF are computed first, in dependency order, each into a temporary
column; what remains is lowered to one Polars ``select`` over the batch. Extension columns are
given to Polars as their storage and re-wrapped afterwards, so nothing is ever read with the
wrong offsets; a bare column reference is passed through untouched (zero-copy).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher import _polars
from thresher._lazy import lazy_module
from thresher.datatypes import Field, Schema, conform_array, storage_batch
from thresher.errors import ThresherError, ThresherExecutionError, without_polars_context
from thresher.expressions.expr import Alias, Call, Cast, Column, Expr, Literal, UDFCall, memo
from thresher.operators.expr_to_polars import filter_to_polars, has_lowering, polars_error_message, to_polars
from thresher.operators.kernels.base import KernelOutput, RowError
from thresher.operators.kernels.registry import get_kernel

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


def error_column_name(output: str) -> str:
    return f"{output}_error"


def wants_error_column(expr: Expr) -> bool:
    """True when a fallible call in ``expr`` asked for ``on_error="column"``."""
    return memo(expr, "_memo_wants_error_column", _wants_error_column)  # type: ignore[no-any-return]


def _wants_error_column(expr: Expr) -> bool:
    if isinstance(expr, Call) and expr.spec.fallible and expr.option("on_error") == "column":
        return True
    if isinstance(expr, UDFCall) and expr.udf.on_error == "column":
        return True
    if expr._LEAF:
        return False
    # the children's answers are memoized: a rebuilt expression does not walk them again
    for c in expr.children():  # (a loop, not any() over a generator: this runs for every new node)
        v = c.__dict__.get("_memo_wants_error_column")  # (wants_error_column, inlined)
        if v is None:
            v = c.__dict__["_memo_wants_error_column"] = _wants_error_column(c)
        if v:
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

    def __init__(self, exprs: Sequence[Expr], schema: Schema, udf_runner: Callable[[Any], Any] | None = None,
                 predicate: bool = False) -> None:
        """``predicate``: the one expression is a filter's (see ``filter_to_polars``)."""
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
        # where the batch being evaluated came from: (partition, its first row's position in the
        # whole input) set by evaluate_at, per thread (one operator serves all of a stage's
        # threads); error messages name the row by it
        self._at = threading.local()
        self._sources = self._source_columns(schema)
        self._work_schema = Schema(self._work_schema_fields)
        self._passthrough = [
            (isinstance(f, Column) or (isinstance(f, Alias) and isinstance(f.child, Column))) for f in self._final
        ]
        self._polars_exprs: list[pl.Expr | None] = []
        for f, through in zip(self._final, self._passthrough):
            lower = filter_to_polars if predicate else to_polars
            self._polars_exprs.append(None if through else lower(f, self._work_schema))

    def __getstate__(self) -> dict[str, Any]:
        # thread-local state cannot be pickled (Ray ships operators to workers); it is per process anyway
        state = self.__dict__.copy()
        del state["_at"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._at = threading.local()

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

    def _source_columns(self, schema: Schema) -> dict[str, str | None]:
        """Per step, the string column (a path or url) its input bytes came from, for error messages.

        ``col("path").url.download().image.decode()`` names ``path`` for both calls; a step over a
        column of bytes falls back to the frame's ``path``/``url`` column (``from_glob_path`` has one).
        """
        strings = {f.name for f in schema.fields if f.dtype.is_string()}
        fallback = next((n for n in ("path", "url", "uri", "file", "filename", "source") if n in strings), None)
        origin: dict[str, str] = {}
        out: dict[str, str | None] = {}
        for step in self._steps:
            src = None
            for a in step.arg_exprs:
                for n in a.walk():
                    if isinstance(n, Column):
                        src = origin.get(n.name) or (n.name if n.name in strings else None)
                        if src is not None:
                            break
                if src is not None:
                    break
            out[step.name] = src or fallback
            if src is not None:
                origin[step.name] = src
        return out

    def _locate(self, errors: pa.Array, batch: pa.RecordBatch, step: _Step) -> pa.Array:
        """Rewrite "<op> failed on row <i in batch>" to name the row's position in the whole input
        (when known) and its source path/url. Only failed rows are visited."""
        src_name = self._sources.get(step.name)
        src_col = batch.column(batch.schema.get_field_index(src_name)) if src_name in batch.schema.names else None
        msgs = errors.to_pylist()
        for i, m in enumerate(msgs):
            if m is None:
                continue
            msgs[i] = self._locate_one(m, i, src_col)
        return pa.array(msgs, pa.large_string())

    def _locate_one(self, msg: str, i: int, src_col: pa.Array | None) -> str:
        partition, row_start = getattr(self._at, "where", (None, None))
        if row_start is not None:
            where = f"row {row_start + i}"
        elif partition is not None:
            # rows were dropped or moved before this step (a filter, a pushed predicate, a
            # union): the batch position says nothing, the partition and the source still do
            where = f"a row of partition {partition}"
        else:
            where = f"row {i}"
        src = src_col[i].as_py() if src_col is not None else None
        m = re.match(r"^(.*?) failed on row \d+( \((.*?)\))?: (.*)$", msg, flags=re.S)
        if m is None:
            return msg + (f" [{where}" + (f", source {src}]" if src else "]"))
        src = m.group(3) or src
        if src is None and partition is not None and row_start is not None:
            src = f"partition {partition}"  # no path/url column: the partition id names the file
        return f"{m.group(1)} failed on {where}" + (f" (source {src})" if src else "") + f": {m.group(4)}"

    def evaluate_at(self, batch: pa.RecordBatch, partition: str, offset: int,
                    row_start: int | None = None) -> tuple[list[pa.Array], list[pa.Array | None]]:
        """:meth:`evaluate` of a batch whose first row is row ``offset`` of ``partition`` and row
        ``row_start`` of the whole input (None: not known, rows were dropped or moved upstream)."""
        self._at.where = (partition, row_start)
        try:
            return self.evaluate(batch)
        finally:
            self._at.where = (None, None)

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
        frame = _polars.from_arrow(storage_batch(batch), rechunk=False)
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
        bad: pa.Array | None = None  # per row, its first error in any step: a bad row counts once
        if self._steps:
            cols = list(batch.columns)
            names = list(batch.schema.names)
            work = batch
            fields = list(self.schema.fields)
            for step in self._steps:
                schema = Schema(fields)
                try:
                    out = self._run_step(step, work, schema)
                except RowError as exc:  # on_error="raise": name the row's source and position too
                    m = re.search(r"failed on row (\d+)", str(exc))
                    if m is None:
                        raise
                    i = int(m.group(1))
                    src_name = self._sources.get(step.name)
                    src_col = work.column(work.schema.get_field_index(src_name)) \
                        if src_name in work.schema.names else None
                    raise RowError(self._locate_one(str(exc), i, src_col)) from exc.__cause__
                if out.errors is not None and (len(out.errors) - out.errors.null_count) > 0:
                    out = KernelOutput(out.values, self._locate(out.errors, work, step))
                values = conform_array(out.values, step.out_field.dtype)
                if isinstance(values, pa.ChunkedArray):
                    values = values.combine_chunks()
                if out.errors is not None and (len(out.errors) - out.errors.null_count) > 0:
                    bad = out.errors if bad is None else _first_error(bad, out.errors)
                    prev = errors[step.owner]
                    errors[step.owner] = out.errors if prev is None else _first_error(prev, out.errors)
                cols.append(values)
                names.append(step.name)
                fields.append(Field(step.name, step.out_field.dtype))
                work = pa.RecordBatch.from_arrays(cols, names=names)
            batch = work
            if bad is not None:
                self.errors.add(bad)
        results: list[pa.Array] = [None] * len(self.exprs)  # type: ignore[list-item]
        lowered = [i for i, p in enumerate(self._polars_exprs) if p is not None]
        if lowered:
            frame = _polars.from_arrow(storage_batch(batch), rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            exprs = [self._polars_exprs[i].alias(f"__o{i}") for i in lowered]  # type: ignore[union-attr]
            try:
                try:
                    arrays = frame.select(exprs).to_arrow().columns
                except pl.exceptions.ShapeError:
                    # Polars' eager select can fold an expression to one value and then refuse to
                    # broadcast it next to full columns (DATE '2023-11-30' <= coalesce(DATE
                    # '2024-02-29', d)): each alone, broadcast below
                    arrays = [frame.select(x).to_arrow().column(0) for x in exprs]
            except pl.exceptions.PolarsError as exc:
                raise ThresherExecutionError(
                    f"evaluating {[self.exprs[i] for i in lowered]}: {polars_error_message(exc)}") from exc
            except ThresherError as exc:  # raised in a batch function: Polars appended its expression
                without_polars_context(exc)
                raise
            for k, i in enumerate(lowered):
                arr = arrays[k]
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
