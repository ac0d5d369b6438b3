"""The DataFrame: immutable and lazy. Every method returns a new frame over a new plan node.

Nothing runs until ``collect``/``show``/``to_*``/``iter_batches``/``write_*``; then the plan is
optimized, lowered to stages and handed to the session's executor.

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
>>> df.filter(th.col("a") > 1).select("b").to_pydict()
{'b': ['y', 'z']}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher.datatypes import Schema
from thresher.errors import ColumnNotFoundError, ThresherTypeError
from thresher.expressions.expr import Column, CountStar, Expr, col, lit_if_needed
from thresher.io.memory import InMemorySource
from thresher.planner import windows
from thresher.planner.logical import (
    Aggregate,
    Distinct,
    Explode,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Repartition,
    Sample,
    ScanSource,
    Sort,
    Union,
    WithRowIndex,
    Write,
)

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from thresher.engine.stats import RunStats
    from thresher.io.sink import Sink


def _to_expr(e: Any) -> Expr:
    if isinstance(e, str):
        return Column(e)
    if isinstance(e, Expr):
        return e
    raise ThresherTypeError(f"expected a column name or an expression, got {type(e).__name__}: {e!r}")


def _flatten(items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for i in items:
        if isinstance(i, (list, tuple)):
            out.extend(i)
        else:
            out.append(i)
    return out


class DataFrame:
    """A lazy, typed table. Build one with ``th.read_*`` or ``th.from_*``."""

    def __init__(self, plan: LogicalPlan, result: pa.Table | None = None) -> None:
        self._plan = plan
        self._result = result
        self._last_stats: RunStats | None = None

    # ---- inspection -------------------------------------------------------------------------
    @property
    def plan(self) -> LogicalPlan:
        return self._plan

    @property
    def schema(self) -> Schema:
        """The output schema, known before anything runs."""
        return self._plan.schema

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def explain(self, format: str = "text", optimize: bool = True, print_: bool | None = None) -> Any:
        """Show the logical, optimized and physical plans and the optimizer rules that fired.

        ``format="dict"`` returns the same as data (for tests and tools).
        """
        from thresher.explain import explain_plan

        out = explain_plan(self._plan, format=format, optimize=optimize)
        if format == "text" and (print_ is None or print_):
            print(out)
            return None
        return out

    def __repr__(self) -> str:
        if self._result is not None:
            from thresher.display import table_to_text

            return table_to_text(self._result)
        return f"DataFrame(lazy) {self.schema!r}\n{self._plan.pretty()}"

    def _repr_html_(self) -> str:
        if self._result is not None:
            from thresher.display import table_to_html

            return table_to_html(self._result)
        rows = "".join(f"<tr><td>{f.name}</td><td>{f.dtype}</td></tr>" for f in self.schema.fields)
        return (
            "<div><b>DataFrame (lazy)</b> — call <code>.collect()</code> to run"
            f"<table><tr><th>column</th><th>type</th></tr>{rows}</table></div>"
        )

    # ---- building ---------------------------------------------------------------------------
    def _with(self, plan: LogicalPlan) -> DataFrame:
        return DataFrame(plan)

    def select(self, *exprs: Any, **named: Any) -> DataFrame:
        """Compute exactly these columns.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).select((th.col("a") * 10).alias("b")).to_pydict()
        {'b': [10, 20]}
        """
        es = [_to_expr(e) for e in _flatten(exprs)] + [lit_if_needed(v).alias(k) for k, v in named.items()]
        if not es:
            raise ThresherTypeError("select() needs at least one column")
        # windows (expr.over, cum_*, ...) go to Window nodes; all-aggregate selects give one row
        return self._with(windows.project(self._plan, es, scalar_select=True))

    def with_columns(self, *exprs: Any, **named: Any) -> DataFrame:
        """Add or replace columns (new ones go at the end, replaced ones keep their place).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).with_columns(b=th.col("a") + 1).to_pydict()
        {'a': [1, 2], 'b': [2, 3]}
        """
        new = [_to_expr(e) for e in _flatten(exprs)] + [lit_if_needed(v).alias(k) for k, v in named.items()]
        by_name = {e.output_name(): e for e in new}
        out: list[Expr] = []
        for name in self.columns:
            out.append(by_name.pop(name) if name in by_name else Column(name))
        out.extend(e for e in new if e.output_name() in by_name)
        return self._with(windows.project(self._plan, out))

    def with_column(self, name: str, expr: Any) -> DataFrame:
        return self.with_columns(**{name: expr})

    def filter(self, predicate: Expr) -> DataFrame:
        """Keep rows where ``predicate`` is true (null counts as false)."""
        return self._with(windows.filter_(self._plan, _to_expr(predicate)))

    where = filter

    def drop(self, *columns: str) -> DataFrame:
        cols = set(_flatten(columns))
        for c in cols:
            self.schema.field(c)
        return self._with(Project(self._plan, tuple(Column(n) for n in self.columns if n not in cols)))

    def rename(self, mapping: Mapping[str, str]) -> DataFrame:
        for c in mapping:
            self.schema.field(c)
        exprs = tuple(Column(n).alias(mapping[n]) if n in mapping else Column(n) for n in self.columns)
        return self._with(Project(self._plan, exprs))

    def limit(self, n: int, offset: int = 0) -> DataFrame:
        return self._with(Limit(self._plan, int(n), int(offset)))

    def head(self, n: int = 5) -> DataFrame:
        return self.limit(n)

    def sort(
        self,
        by: Any,
        *more: Any,
        descending: bool | Sequence[bool] = False,
        nulls_last: bool | Sequence[bool] = False,
    ) -> DataFrame:
        """Sort by columns/expressions; ``descending`` and ``nulls_last`` per key or for all."""
        keys = [_to_expr(b) for b in _flatten([by, *more])]
        desc = [descending] * len(keys) if isinstance(descending, bool) else list(descending)
        nl = [nulls_last] * len(keys) if isinstance(nulls_last, bool) else list(nulls_last)
        if len(desc) != len(keys) or len(nl) != len(keys):
            raise ThresherTypeError("sort: descending/nulls_last must have one value per key")
        return self._with(Sort(self._plan, tuple(keys), tuple(desc), tuple(nl)))

    def group_by(self, *keys: Any) -> GroupBy:
        """Group rows; finish with ``.agg(...)``."""
        return GroupBy(self, [_to_expr(k) for k in _flatten(keys)])

    groupby = group_by

    def agg(self, *aggs: Any) -> DataFrame:
        """Aggregate the whole frame into one row."""
        return GroupBy(self, []).agg(*aggs)

    def count_rows(self) -> int:
        """The number of rows (runs the plan)."""
        out = self.agg(CountStar().alias("count")).to_pydict()
        return int(out["count"][0])

    def __len__(self) -> int:
        if self._result is not None:
            return self._result.num_rows
        return self.count_rows()

    def join(
        self,
        other: DataFrame,
        on: Any = None,
        left_on: Any = None,
        right_on: Any = None,
        how: str = "inner",
        suffix: str = "_right",
        strategy: str = "auto",
    ) -> DataFrame:
        """Join with ``other``: inner, left, right, outer, semi, anti or cross."""
        if how == "full":
            how = "outer"
        if how == "cross":
            return self._with(Join(self._plan, other._plan, (), (), "cross", suffix, strategy))
        if on is not None:
            left_on = right_on = on
        if left_on is None or right_on is None:
            raise ThresherTypeError("join: give on= or both left_on= and right_on=")
        lk = tuple(_to_expr(e) for e in (left_on if isinstance(left_on, (list, tuple)) else [left_on]))
        rk = tuple(_to_expr(e) for e in (right_on if isinstance(right_on, (list, tuple)) else [right_on]))
        return self._with(Join(self._plan, other._plan, lk, rk, how, suffix, strategy))

    def explode(self, *columns: str) -> DataFrame:
        """One row per element of the list column(s)."""
        return self._with(Explode(self._plan, tuple(_flatten(columns))))

    def distinct(self) -> DataFrame:
        return self._with(Distinct(self._plan, None, "first"))

    def unique(self, subset: Sequence[str] | str | None = None, keep: str = "first") -> DataFrame:
        """Drop duplicate rows (by ``subset`` columns); ``keep`` = "first" | "last" | "any"."""
        sub = (subset,) if isinstance(subset, str) else tuple(subset) if subset is not None else None
        return self._with(Distinct(self._plan, sub, keep))

    def union(self, *others: DataFrame) -> DataFrame:
        """Rows of this frame followed by the rows of ``others`` (UNION ALL)."""
        return self._with(Union((self._plan, *(o._plan for o in others))))

    concat = union
    union_all = union

    def sample(self, fraction: float, seed: int | None = None, with_replacement: bool = False) -> DataFrame:
        """Keep each row with probability ``fraction`` (reproducible for a given seed)."""
        if with_replacement:
            raise ThresherTypeError("sample(with_replacement=True) is not supported; use fraction without replacement")
        return self._with(Sample(self._plan, float(fraction), seed, False))

    def repartition(self, num_partitions: int | None = None, *by: Any) -> DataFrame:
        return self._with(Repartition(self._plan, num_partitions, tuple(_to_expr(b) for b in by), None))

    def into_batches(self, batch_size: int) -> DataFrame:
        """Re-cut the stream into batches of ``batch_size`` rows."""
        return self._with(Repartition(self._plan, None, (), int(batch_size)))

    def with_row_index(self, name: str = "index", offset: int = 0) -> DataFrame:
        return self._with(WithRowIndex(self._plan, name, offset))

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            self.schema.field(item)
            return col(item)
        if isinstance(item, (list, tuple)):
            return self.select(*item)
        raise TypeError(f"cannot index a DataFrame with {item!r}")

    def flat_map(self, udf: Any, *args: Any, keep: Sequence[str] | None = None) -> DataFrame:
        """Fan out with a generator UDF: each input row yields zero or more output rows.

        The output has the ``keep`` input columns (default: all) followed by the UDF's columns
        (the fields of its struct ``return_dtype``).

        >>> import thresher as th
        >>> @th.udf(return_dtype={"i": "int64"})
        ... def count_to(n):
        ...     for i in range(n):
        ...         yield {"i": i}
        >>> th.from_pydict({"n": [2, 3]}).flat_map(count_to, "n").to_pydict()
        {'n': [2, 2, 3, 3, 3], 'i': [0, 1, 0, 1, 2]}
        """
        from thresher.planner.logical import FlatMap
        from thresher.udfs.udf import output_schema

        if not getattr(udf, "is_generator", False):
            raise ThresherTypeError(f"flat_map needs a generator udf (one that yields), got {udf!r}")
        arg_exprs = tuple(_to_expr(a) for a in args)
        keep_cols = tuple(self.columns if keep is None else keep)
        return self._with(FlatMap(self._plan, udf, arg_exprs, output_schema(udf), keep_cols))

    @property
    def dedup(self) -> Any:
        """Deduplication methods: ``df.dedup.exact/fuzzy/semantic/image``."""
        from thresher.dedup import DedupNamespace

        return DedupNamespace(self)

    # ---- running ------------------------------------------------------------------------------
    def _optimized(self, optimize: bool = True) -> LogicalPlan:
        from thresher.planner.optimizer.runner import optimize as run_optimizer
        from thresher.session import settings

        if not optimize:
            return self._plan
        return run_optimizer(self._plan, disabled=settings().disabled_rules).plan

    def iter_batches(self, runner: str | None = None, optimize: bool = True, **options: Any) -> Iterator[pa.RecordBatch]:
        """Stream the result batch by batch (nothing is held beyond the memory budget)."""
        if self._result is not None:
            yield from self._result.to_batches()
            return
        from thresher.planner.physical import plan_physical
        from thresher.session import make_executor

        executor = make_executor(runner, **options)
        physical = plan_physical(self._optimized(optimize))
        try:
            yield from executor.execute(physical)
        finally:
            self._last_stats = executor.stats()

    def collect(self, runner: str | None = None, optimize: bool = True, **options: Any) -> DataFrame:
        """Run the plan and return a materialized frame (the same lazy API applies to it)."""
        if self._result is not None:
            return self
        batches = list(self.iter_batches(runner=runner, optimize=optimize, **options))
        schema = self.schema.to_arrow()
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        out = DataFrame(ScanSource(InMemorySource(table)), result=table)
        out._last_stats = self._last_stats
        return out

    def stats(self) -> RunStats | None:
        """Per-stage rows, bytes, wall and busy time of the last run of this frame."""
        return self._last_stats

    def to_arrow(self, **kw: Any) -> pa.Table:
        return self.collect(**kw)._result  # type: ignore[return-value]

    def to_pydict(self, **kw: Any) -> dict[str, list[Any]]:
        return self.to_arrow(**kw).to_pydict()  # type: ignore[no-any-return]

    def to_pylist(self, **kw: Any) -> list[dict[str, Any]]:
        return self.to_arrow(**kw).to_pylist()  # type: ignore[no-any-return]

    def to_numpy(self, column: str, **kw: Any) -> Any:
        """One column as NumPy: a tensor or embedding column as one stacked ndarray (rows along
        axis 0) when every row has the same shape and none is null, else a list of ndarrays (None
        for nulls); any other column as a 1-D array.

        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(12, dtype="float32").reshape(2, 2, 3)})
        >>> df.schema
        Schema(t: tensor[float32, (2, 3)])
        >>> df.to_numpy("t").shape
        (2, 2, 3)
        """
        if column not in self.columns:
            raise ColumnNotFoundError(f"to_numpy: no column {column!r}; columns are {self.columns}")
        arr = self.select(column).to_arrow(**kw).column(0).combine_chunks()
        if self.schema.field(column).dtype.kind in ("tensor", "embedding"):
            from thresher.operators.kernels.tensor import tensor_to_numpy

            return tensor_to_numpy(arr)
        if isinstance(arr.type, pa.ExtensionType):
            arr = arr.storage
        return arr.to_numpy(zero_copy_only=False)

    def to_pandas(self, **kw: Any) -> pd.DataFrame:
        return self.to_arrow(**kw).to_pandas()

    def to_polars(self, **kw: Any) -> pl.DataFrame:
        import polars as pl

        from thresher.datatypes import storage_batch

        table = self.to_arrow(**kw)
        out = pl.from_arrow(pa.Table.from_batches([storage_batch(b) for b in table.to_batches()],
                                                  schema=pa.schema([pa.field(f.name, f.type.storage_type if isinstance(f.type, pa.ExtensionType) else f.type) for f in table.schema])))
        assert isinstance(out, pl.DataFrame)
        return out

    def show(self, n: int = 10) -> None:
        """Print the first ``n`` rows as a table."""
        from thresher.display import table_to_text

        print(table_to_text(self.limit(n).to_arrow()))

    # ---- writing ------------------------------------------------------------------------------
    def write(self, sink: Sink, job_id: str | None = None, runner: str | None = None,
              checkpoint: str | None = None, **options: Any) -> DataFrame:
        """Write through any :class:`~thresher.io.sink.Sink`; returns one row per partition.

        With a ``job_id`` the write is idempotent: partitions already committed under that id are
        skipped (at the scan when the pipeline is partition-local, so their work is not redone),
        and a job that already finished does nothing at all. ``checkpoint`` overrides where job
        state is kept (default: next to the sink).
        """
        from thresher.engine.checkpoint import checkpoint_store, committed_for, partition_local
        from thresher.planner.physical import plan_physical
        from thresher.session import make_executor

        plan = Write(self._optimized(options.pop("optimize", True)), sink, job_id)
        out_schema = plan.schema.to_arrow()
        store = checkpoint_store(sink, checkpoint) if job_id else None
        if store is not None and job_id is not None:
            rec = store.load(job_id)
            if rec is not None and rec.get("complete"):
                parts = list(rec.get("partitions", []))
                table = pa.Table.from_pylist(
                    [{"partition_id": p, "num_rows": 0, "files": [], "status": "already committed"} for p in parts],
                    schema=out_schema)
                return DataFrame(ScanSource(InMemorySource(table)), result=table)
        skip = committed_for(sink, job_id) if job_id and partition_local(plan) else set()
        executor = make_executor(runner, skip_partitions=skip, **options)
        physical = plan_physical(plan)
        batches = list(executor.execute(physical))
        self._last_stats = executor.stats()
        table = pa.Table.from_batches(batches, schema=out_schema) if batches else out_schema.empty_table()
        if store is not None and job_id is not None:
            d = table.to_pydict()
            store.mark_complete(job_id, list(d["partition_id"]), int(sum(d["num_rows"])))
        result = DataFrame(ScanSource(InMemorySource(table)), result=table)
        result._last_stats = self._last_stats
        return result

    def write_parquet(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                      job_id: str | None = None, **options: Any) -> DataFrame:
        """Write Parquet files under ``path`` (Hive folders for ``partition_by``)."""
        from thresher.io.files_sink import ParquetSink

        return self.write(ParquetSink(path, partition_by=list(partition_by) if partition_by else None, mode=mode),
                          job_id=job_id, **options)

    def write_csv(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                  job_id: str | None = None, **options: Any) -> DataFrame:
        from thresher.io.files_sink import CsvSink

        return self.write(CsvSink(path, partition_by=list(partition_by) if partition_by else None, mode=mode),
                          job_id=job_id, **options)

    def write_json(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                   job_id: str | None = None, **options: Any) -> DataFrame:
        from thresher.io.files_sink import JsonSink

        return self.write(JsonSink(path, partition_by=list(partition_by) if partition_by else None, mode=mode),
                          job_id=job_id, **options)

    def write_iceberg(self, table: Any, catalog: Any = None, mode: str = "append", job_id: str | None = None,
                      **options: Any) -> DataFrame:
        """Append/overwrite an Iceberg table; each partition commits once per ``job_id``."""
        from thresher.io.iceberg import IcebergSink

        return self.write(IcebergSink(table, catalog=catalog, mode=mode), job_id=job_id, **options)

    def write_lance(self, uri: str, mode: str = "create", job_id: str | None = None, on: str | None = None,
                    **options: Any) -> DataFrame:
        """Write a Lance dataset; ``mode="merge_columns", on="id"`` adds columns to an existing one."""
        from thresher.io.lance import LanceSink

        return self.write(LanceSink(uri, mode=mode, on=on), job_id=job_id, **options)


class GroupBy:
    """``df.group_by(keys)``: finish with ``.agg(...)``."""

    def __init__(self, df: DataFrame, keys: list[Expr]) -> None:
        self._df = df
        self._keys = keys

    def agg(self, *aggs: Any) -> DataFrame:
        """Aggregations like ``col("x").sum()``, ``th.count()``.

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "v": [1, 2, 3]})
        >>> df.group_by("k").agg(th.col("v").sum()).sort("k").to_pydict()
        {'k': ['a', 'b'], 'v': [3, 3]}
        """
        es = windows.agg_exprs([_to_expr(a) for a in _flatten(aggs)])  # a bare column gives its list
        return self._df._with(Aggregate(self._df._plan, tuple(self._keys), es))

    def count(self) -> DataFrame:
        return self.agg(CountStar().alias("count"))
