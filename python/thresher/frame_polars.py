"""More of Polars' LazyFrame/DataFrame methods (mixed into :class:`~thresher.DataFrame`).

Each method builds a plan out of the existing nodes (projections, filters, sorts, limits,
aggregations, joins), so Polars runs it where the plan is relational: ``top_k``/``bottom_k``
(a sort and a limit), ``fill_nan``/``drop_nans``, ``gather_every``, ``shift``, ``reverse``, the
whole-frame aggregations ``sum``/``mean``/``median``/``min``/``max``/``std``/``var``/
``quantile``/``count``/``first``/``last``/``n_unique``, ``unnest``, ``join_where`` (a cross join
and a filter, which Polars plans as one join), ``merge_sorted``, ``interpolate``, ``sql``,
``select_seq``/``with_columns_seq``. ``join_asof`` is eager (both inputs run, Polars joins them).

A Polars method Thresher lacks raises :class:`~thresher.errors.UnsupportedMethodError` (an
``AttributeError``) naming the method and the nearest supported spelling.

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"a": [3, 1, None, 2], "f": [0.5, float("nan"), 1.0, None]})
>>> df.top_k(2, by="a").rows()
[(3, 0.5), (2, None)]
>>> df.fill_nan(0.0).rows()
[(3, 0.5), (1, 0.0), (None, 1.0), (2, None)]
>>> df.sum().rows()
[(6, nan)]
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from thresher.errors import ThresherTypeError, UnsupportedMethodError
from thresher.expressions.expr import CountStar, Expr, col, combine_conjunction, lit, user_when
from thresher.expressions.window import interpolable
from thresher.frame_host import FrameHost

if TYPE_CHECKING:
    from thresher.dataframe import DataFrame
    from thresher.datatypes import Schema
    from thresher.series import Series

_ORDER = "__thresher_order"

#: Polars methods Thresher does not have, each with the nearest supported spelling
UNSUPPORTED: dict[str, str] = {
    "map_batches": "a batch UDF (@th.udf(batch=True)) in with_columns, or df.to_polars() and Polars",
    "map_rows": "a row UDF (@th.udf) in with_columns",
    "map_columns": "with_columns(...) with an expression per column",
    "inspect": "collect() or show()",
    "cache": "collect() (a collected frame holds its result)",
    "rolling": "rolling_*_by(by, window_size) expressions, under over() per group",
    "group_by_dynamic": "group_by on col(t).dt.truncate(every)",
    "upsample": "a join with a frame of the wanted timestamps",
    "set_sorted": "sort(...) (Thresher keeps no sortedness flags)",
    "match_to_schema": "select(...) with cast(...) per column",
    "pipe_with_schema": "pipe(...)",
    "remove": "filter(~predicate)",
    "gather": "with_row_index() and filter(col('index').is_in([...]))",
    "collect_async": "collect()",
    "collect_batches": "iter_batches()",
    "sink_batches": "iter_batches()",
    "sink_ipc": "write_parquet(...)",
    "sink_delta": "write_parquet(...), write_iceberg(...) or write_lance(...)",
    "sink_iceberg": "write_iceberg(...)",
    "serialize": "explain(format='dict') to inspect a plan",
    "deserialize": "building the frame again",
    "show_graph": "explain()",
    "profile": "collect() then stats()",
    "transpose": "df.to_polars().transpose()",
    "to_dummies": "with_columns((col(c) == v).cast(int).alias(...)) per value",
    "partition_by": "group_by(...) or filter(...) per key",
    "hstack": "with_columns(...) or th.concat(..., how='horizontal')",
    "vstack": "th.concat([...]) or union(...)",
    "extend": "th.concat([...]) or union(...)",
    "insert_column": "with_columns(...) then select(...) in the wanted order",
    "replace_column": "with_columns(...)",
    "drop_in_place": "drop(...)",
    "upsert": "join(...)",
    "corr": "to_polars().corr() (or SQL's corr(a, b) through th.sql)",
    "rows_by_key": "group_by(key).agg(...) then rows()",
    "to_struct": "to_dicts()",
    "to_init_repr": "to_dict()",
    "write_ipc": "write_parquet(...)",
    "write_ipc_stream": "write_parquet(...)",
    "write_avro": "write_parquet(...)",
    "write_excel": "to_polars().write_excel(...)",
    "write_database": "to_polars().write_database(...)",
    "write_delta": "write_parquet(...), write_iceberg(...) or write_lance(...)",
    "write_clipboard": "to_polars().write_clipboard()",
    "glimpse": "show() or schema",
    "estimated_size": "to_arrow().nbytes",
    "hash_rows": "to_polars().hash_rows()",
    "fold": "an expression over the columns in select (col('a') + col('b') + ...)",
    "product": "to_polars().product()",
    "sum_horizontal": "select(col('a') + col('b') + ...)",
    "mean_horizontal": "select((col('a') + col('b')) / 2)",
    "min_horizontal": "select(th.when(col('a') < col('b')).then('a').otherwise('b'))",
    "max_horizontal": "select(th.when(col('a') > col('b')).then('a').otherwise('b'))",
    "is_sorted": "comparing with sort(...)",
    "iter_slices": "iter_batches() or into_batches(n)",
    "unstack": "pivot(...)",
    "plot": "to_polars().plot",
    "style": "to_polars().style",
    "to_jax": "to_numpy(column)",
    "to_torch": "to_numpy(column)",
    "rechunk": "into_batches(n) (a frame holds no chunks to merge)",
    "shrink_to_fit": "nothing (a lazy frame holds no buffers)",
    "n_chunks": "nothing (a lazy frame holds no chunks)",
    "flags": "nothing (Thresher keeps no sortedness flags)",
    "clear": "limit(0)",
}


class FramePolarsMixin(FrameHost):
    """Polars' frame methods; see the module docstring."""

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            hint = UNSUPPORTED.get(name)
            if hint is not None:
                err = UnsupportedMethodError(f"DataFrame.{name}() (Polars') is not supported by Thresher; "
                                             f"use {hint}")
                err.name, err.obj = name, self
                raise err
            raise AttributeError(f"'DataFrame' object has no attribute {name!r}", name=name, obj=self)

    # ---- rows ---------------------------------------------------------------------------------
    def top_k(self, k: int, *, by: Any, reverse: bool | Sequence[bool] = False) -> DataFrame:
        """The ``k`` rows with the largest ``by`` values (``reverse=True``: the smallest), sorted
        that way, nulls last; as Polars' ``top_k``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [2, None, 5, 1]}).top_k(2, by="a").rows()
        [(5,), (2,)]
        """
        return self._k_rows(k, by, reverse, largest=True)

    def bottom_k(self, k: int, *, by: Any, reverse: bool | Sequence[bool] = False) -> DataFrame:
        """The ``k`` rows with the smallest ``by`` values (``reverse=True``: the largest), sorted
        that way, nulls last; as Polars' ``bottom_k``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [2, None, 5, 1]}).bottom_k(2, by="a").rows()
        [(1,), (2,)]
        """
        return self._k_rows(k, by, reverse, largest=False)

    def _k_rows(self, k: int, by: Any, reverse: bool | Sequence[bool], largest: bool) -> DataFrame:
        keys = list(by) if isinstance(by, (list, tuple)) else [by]
        if not keys:
            raise ThresherTypeError("top_k/bottom_k: give at least one column in by=")
        rev = [reverse] * builtins.len(keys) if isinstance(reverse, bool) else list(reverse)
        if builtins.len(rev) != builtins.len(keys):
            raise ThresherTypeError("top_k/bottom_k: reverse must have one value per by= key")
        if k < 0:
            raise ValueError(f"top_k/bottom_k: k must be non-negative, got {k}")
        desc = [largest != r for r in rev]
        return self.sort(*keys, descending=desc, nulls_last=True).limit(int(k))

    def gather_every(self, n: int, offset: int = 0) -> DataFrame:
        """Every ``n``-th row, starting at row ``offset``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [0, 1, 2, 3, 4]}).gather_every(2, offset=1).rows()
        [(1,), (3,)]
        """
        if n <= 0:
            raise ValueError(f"gather_every: n must be positive, got {n}")
        if offset < 0:
            raise ValueError(f"gather_every: offset must be non-negative, got {offset}")
        i = col(_ORDER)
        keep = (i >= int(offset)) & ((i - int(offset)) % int(n) == 0) if n > 1 else i >= int(offset)
        return self.with_row_index(_ORDER).filter(keep).drop(_ORDER)

    def reverse(self) -> DataFrame:
        """The rows in reverse order.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3]}).reverse().rows()
        [(3,), (2,), (1,)]
        """
        return self.with_row_index(_ORDER).sort(_ORDER, descending=True).drop(_ORDER)

    def shift(self, n: int = 1, *, fill_value: Any = None) -> DataFrame:
        """Every column shifted down by ``n`` rows (up for ``n`` < 0), ``fill_value`` (default
        null) where no row is; as Polars' frame ``shift``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3], "b": ["x", "y", "z"]}).shift(1).rows()
        [(None, None), (1, 'x'), (2, 'y')]
        """
        return self.select(*[col(c).shift(n, fill_value=fill_value).alias(c) for c in self.columns])

    def fill_nan(self, value: int | float | Expr | None) -> DataFrame:
        """Replace NaN in the float columns with ``value`` (a number, an expression or None).

        >>> import thresher as th
        >>> th.from_pydict({"f": [1.0, float("nan")], "i": [1, 2]}).fill_nan(None).rows()
        [(1.0, 1), (None, 2)]
        """
        floats = [f.name for f in self.schema.fields if f.dtype.is_float()]
        if not floats:
            return self._with(self._plan)
        return self.with_columns(*[col(c).fill_nan(value).alias(c) for c in floats])

    def drop_nans(self, subset: str | Sequence[str] | None = None) -> DataFrame:
        """Drop the rows with a NaN in any float column of ``subset`` (default: every float
        column); a null is no NaN and stays.

        >>> import thresher as th
        >>> th.from_pydict({"f": [1.0, float("nan"), None]}).drop_nans().rows()
        [(1.0,), (None,)]
        """
        names = [subset] if isinstance(subset, str) else list(subset) if subset is not None else None
        if names is None:
            names = [f.name for f in self.schema.fields if f.dtype.is_float()]
        else:
            for c in names:
                t = self.schema.field(c).dtype
                if not t.is_float() and not t.is_numeric():
                    raise ThresherTypeError(f"drop_nans: column {c!r} has type {t}, expected a float column")
            names = [c for c in names if self.schema.field(c).dtype.is_float()]
        if not names:
            return self._with(self._plan)
        return self.filter(combine_conjunction([col(c).is_not_nan().fill_null(True) for c in names]))

    def interpolate(self) -> DataFrame:
        """Nulls of the numeric and temporal columns filled linearly between their neighbours
        (as ``col(c).interpolate()``: an integer becomes float64, a date stays a date; leading and
        trailing nulls stay), as Polars; text and booleans are left as they are.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1.0, None, 3.0], "s": ["x", None, "z"]}).interpolate().rows()
        [(1.0, 'x'), (2.0, None), (3.0, 'z')]
        """
        nums = [f.name for f in self.schema.fields if interpolable(f.dtype) and not f.dtype.is_null()]
        if not nums:
            return self._with(self._plan)
        return self.with_columns(*[col(c).interpolate().alias(c) for c in nums])

    # ---- whole-frame aggregations -----------------------------------------------------------
    def _reduce(self, fn: Callable[[Expr], Expr]) -> DataFrame:
        """One row: ``fn(col(c))`` for each column; a column ``fn`` takes no value of (a sum of
        text) gives a null of its type, as Polars."""
        exprs: list[Expr] = []
        schema = self.schema
        for f in schema.fields:
            e = fn(col(f.name))
            try:
                e.resolve(schema)
            except ThresherTypeError:
                e = lit(None).cast(f.dtype)
            exprs.append(e.alias(f.name))
        if not exprs:
            return self._with(self._plan)
        return self.select(*exprs)

    def sum(self) -> DataFrame:
        """One row: each column's sum (null for a column that has none, such as text; an
        integer sum is int64, as ``col(c).sum()``).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, None, 2], "s": ["x", "y", None]}).sum().rows()
        [(3, None)]
        """
        return self._reduce(lambda c: c.sum())

    def mean(self) -> DataFrame:
        """One row: each column's mean (null for text).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, None, 2]}).mean().rows()
        [(1.5,)]
        """
        return self._reduce(lambda c: c.mean())

    def median(self) -> DataFrame:
        """One row: each column's median (null for text).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 5, 2]}).median().rows()
        [(2.0,)]
        """
        return self._reduce(lambda c: c.median())

    def min(self) -> DataFrame:
        """One row: each column's least value.

        >>> import thresher as th
        >>> th.from_pydict({"a": [3, None, 2], "s": ["y", "x", None]}).min().rows()
        [(2, 'x')]
        """
        return self._reduce(lambda c: c.min())

    def max(self) -> DataFrame:
        """One row: each column's greatest value.

        >>> import thresher as th
        >>> th.from_pydict({"a": [3, None, 2], "s": ["y", "x", None]}).max().rows()
        [(3, 'y')]
        """
        return self._reduce(lambda c: c.max())

    def std(self, ddof: int = 1) -> DataFrame:
        """One row: each column's standard deviation (``ddof``: delta degrees of freedom).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 3]}).std().rows()
        [(1.4142135623730951,)]
        """
        return self._reduce(lambda c: c.std(ddof=ddof))

    def var(self, ddof: int = 1) -> DataFrame:
        """One row: each column's variance (``ddof``: delta degrees of freedom).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 3]}).var(ddof=0).rows()
        [(1.0,)]
        """
        return self._reduce(lambda c: c.var(ddof=ddof))

    def quantile(self, quantile: float, interpolation: str = "nearest") -> DataFrame:
        """One row: each column's ``quantile`` (0..1) by Polars' ``interpolation``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3, 4]}).quantile(0.5, "linear").rows()
        [(2.5,)]
        """
        return self._reduce(lambda c: c.quantile(quantile, interpolation))

    def count(self) -> DataFrame:
        """One row: each column's number of non-null values (int64; Polars: u32).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, None], "b": [None, None]}).count().rows()
        [(1, 0)]
        """
        return self._reduce(lambda c: c.count())

    def first(self) -> DataFrame:
        """The first row (as Polars' ``first``: a one-row frame, none of an empty frame).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).first().rows()
        [(1,)]
        """
        return self.limit(1)

    def last(self) -> DataFrame:
        """The last row (as Polars' ``last``: a one-row frame, none of an empty frame).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).last().rows()
        [(2,)]
        """
        return self.tail(1)

    def n_unique(self, subset: str | Expr | Sequence[str | Expr] | None = None) -> int:
        """The number of distinct rows (of the ``subset`` columns); runs the plan, as Polars'
        ``DataFrame.n_unique``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 1, 2, None], "b": ["x", "x", "y", None]}).n_unique()
        3
        """
        if subset is None:
            frame: DataFrame = self.select(*[col(c) for c in self.columns])
        else:
            items = [subset] if isinstance(subset, (str, Expr)) else list(subset)
            frame = self.select(*items)
        out = frame.unique().select(CountStar().alias("n")).to_arrow()
        return int(out.column("n")[0].as_py())

    # ---- columns ------------------------------------------------------------------------------
    def select_seq(self, *exprs: Any, **named: Any) -> DataFrame:
        """The same as :meth:`select` (Polars' sequential variant; the plan decides).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).select_seq(b=th.col("a") + 1).rows()
        [(2,)]
        """
        return self.select(*exprs, **named)

    def with_columns_seq(self, *exprs: Any, **named: Any) -> DataFrame:
        """The same as :meth:`with_columns` (Polars' sequential variant; the plan decides).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).with_columns_seq(b=th.col("a") + 1).rows()
        [(1, 2)]
        """
        return self.with_columns(*exprs, **named)

    def collect_schema(self) -> Schema:
        """The output schema (the same as ``schema``; nothing runs).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).collect_schema()
        Schema(a: int64)
        """
        return self.schema

    def clone(self) -> DataFrame:
        """The same frame (frames are immutable: a cheap copy).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).clone().rows()
        [(1,)]
        """
        from thresher.dataframe import DataFrame

        return DataFrame(self._plan, self._result)

    def get_column_index(self, name: str) -> int:
        """The position of column ``name``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1], "b": [2]}).get_column_index("b")
        1
        """
        self.schema.field(name)
        return self.columns.index(name)

    def to_dict(self, *, as_series: bool = True) -> dict[str, Any]:
        """``{name: Series}`` (``as_series=False``: ``{name: list}``); runs the plan.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).to_dict(as_series=False)
        {'a': [1, 2]}
        """
        series = self.get_columns()
        return {s.name: (s if as_series else s.to_list()) for s in series}

    def is_duplicated(self) -> Series:
        """Per row: whether another row equals it (a Boolean Series); runs the plan.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 1]}).is_duplicated().to_list()
        [True, False, True]
        """
        return self._row_flag(lambda n: n > 1, "is_duplicated")

    def is_unique(self) -> Series:
        """Per row: whether no other row equals it (a Boolean Series); runs the plan.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 1]}).is_unique().to_list()
        [False, True, False]
        """
        return self._row_flag(lambda n: n == 1, "is_unique")

    def _row_flag(self, test: Callable[[Expr], Expr], name: str) -> Series:
        from thresher.series import Series

        part = [col(c) for c in self.columns]
        flags = self.with_row_index(_ORDER).select(
            col(_ORDER), test(CountStar().over(part)).alias(name)).sort(_ORDER).to_arrow()
        return Series(name, flags.column(name))

    def unnest(self, columns: str | Sequence[str] | None = None, *more_columns: str,
               separator: str | None = None) -> DataFrame:
        """Each struct column replaced by its fields, in place (default: every struct column);
        ``separator`` names them ``{column}{separator}{field}``.

        >>> import thresher as th
        >>> df = th.from_pydict({"id": [1], "s": [{"x": 1, "y": "a"}]})
        >>> df.unnest("s").rows()
        [(1, 1, 'a')]
        """
        if columns is None:
            names = [f.name for f in self.schema.fields if f.dtype.is_struct()]
        else:
            names = [columns] if isinstance(columns, str) else list(columns)
            names += list(more_columns)
        out: list[Expr] = []
        for f in self.schema.fields:
            if f.name not in names:
                out.append(col(f.name))
                continue
            if not f.dtype.is_struct():
                raise ThresherTypeError(f"unnest: column {f.name!r} has type {f.dtype}, expected a struct")
            for sub in f.dtype.storage:
                alias = sub.name if separator is None else f"{f.name}{separator}{sub.name}"
                out.append(col(f.name).struct.field(sub.name).alias(alias))
        for n in names:
            self.schema.field(n)
        return self.select(*out)

    # ---- joins --------------------------------------------------------------------------------
    def join_where(self, other: DataFrame, *predicates: Any, suffix: str = "_right") -> DataFrame:
        """Join on any predicates (``<``, ``>=``, ``!=``, ...), inner: every pair of rows for
        which all ``predicates`` hold. A right column whose name the left side has is named with
        ``suffix``, in the output and in the predicates, as Polars; the row order is open.

        >>> import thresher as th
        >>> a = th.from_pydict({"id": [1, 2], "t": [5, 10]})
        >>> b = th.from_pydict({"lo": [0, 6], "hi": [6, 20]})
        >>> a.join_where(b, th.col("t") >= th.col("lo"), th.col("t") < th.col("hi")).sort("id").rows()
        [(1, 5, 0, 6), (2, 10, 6, 20)]
        """
        preds: list[Expr] = []
        for p in predicates:
            preds.extend(p if isinstance(p, (list, tuple)) else [p])
        if not preds:
            raise ThresherTypeError("join_where: give at least one predicate")
        for p in preds:
            if not isinstance(p, Expr):
                raise ThresherTypeError(f"join_where: predicates must be expressions, got {p!r}")
        return self.join(other, how="cross", suffix=suffix).filter(combine_conjunction(preds))

    def join_asof(self, other: DataFrame, *, left_on: str | None = None, right_on: str | None = None,
                  on: str | None = None, by_left: str | Sequence[str] | None = None,
                  by_right: str | Sequence[str] | None = None, by: str | Sequence[str] | None = None,
                  strategy: str = "backward", suffix: str = "_right", tolerance: Any = None,
                  allow_parallel: bool = True, force_parallel: bool = False, coalesce: bool = True,
                  allow_exact_matches: bool = True, check_sortedness: bool = True) -> DataFrame:
        """For each left row, the right row with the nearest key (``strategy`` "backward": the
        last one at or before it, "forward", "nearest"), matched within ``by`` groups; as Polars'
        ``join_asof`` (both frames sorted by the key). Eager: both frames run, Polars joins the
        results, and a collected frame comes back.

        >>> import thresher as th
        >>> quotes = th.from_pydict({"t": [1, 5, 10], "px": [1.0, 2.0, 3.0]})
        >>> trades = th.from_pydict({"t": [2, 5, 12], "qty": [7, 8, 9]})
        >>> trades.join_asof(quotes, on="t").rows()
        [(2, 7, 1.0), (5, 8, 2.0), (12, 9, 3.0)]
        """
        from thresher.readers import from_polars

        lf = self.to_polars().lazy()
        rf = other.to_polars().lazy()
        out = lf.join_asof(rf, left_on=left_on, right_on=right_on, on=on, by_left=by_left, by_right=by_right,
                           by=by, strategy=strategy, suffix=suffix, tolerance=tolerance,  # type: ignore[arg-type]
                           allow_parallel=allow_parallel, force_parallel=force_parallel, coalesce=coalesce,
                           allow_exact_matches=allow_exact_matches, check_sortedness=check_sortedness)
        return from_polars(out.collect()).collect()

    def update(self, other: DataFrame, on: str | Sequence[str] | None = None, how: str = "left", *,
               left_on: str | Sequence[str] | None = None, right_on: str | Sequence[str] | None = None,
               include_nulls: bool = False, maintain_order: str | None = "left") -> DataFrame:
        """This frame's values replaced by ``other``'s where the keys match (a left join by
        default; ``how="inner"`` keeps only matched rows, ``"full"`` adds ``other``'s unmatched
        rows at the end). A null in ``other`` replaces nothing unless ``include_nulls``. Without
        keys, rows are matched by position. The columns and types stay this frame's, as Polars.

        >>> import thresher as th
        >>> df = th.from_pydict({"k": [1, 2, 3], "x": [10, 20, 30]})
        >>> new = th.from_pydict({"k": [2, 3], "x": [None, 300]})
        >>> df.update(new, on="k").rows()
        [(1, 10), (2, 20), (3, 300)]
        """
        if how not in ("left", "inner", "full"):
            raise ValueError(f"update: how must be 'left', 'inner' or 'full', got {how!r}")
        if on is None and left_on is None and right_on is None:  # (by position)
            idx = "__thresher_update_row"
            return self.with_row_index(idx).update(other.with_row_index(idx), on=idx, how=how,
                                                   include_nulls=include_nulls, maintain_order=maintain_order).drop(idx)
        if on is not None:
            left_on = right_on = on
        if left_on is None or right_on is None:
            raise ThresherTypeError("update: give on= or both left_on= and right_on=")
        lk = [left_on] if isinstance(left_on, str) else list(left_on)
        rk = [right_on] if isinstance(right_on, str) else list(right_on)
        if builtins.len(lk) != builtins.len(rk):
            raise ThresherTypeError("update: left_on and right_on must have the same number of columns")
        common = [c for c in other.columns if c in self.columns and c not in rk and c not in lk]
        tmp = {c: f"__thresher_update_{i}" for i, c in enumerate(common)}
        hit = "__thresher_update_hit"
        right = other.select(*[col(k) for k in rk],
                             *[(col(c) if other.schema[c] == self.schema[c] else col(c).cast(self.schema[c])).alias(t)
                               for c, t in tmp.items()], lit(True).alias(hit))
        order = maintain_order
        if how == "full" and order == "left":  # (the unmatched right rows in their order, after the left's)
            order = "left_right"
        joined = self.join(right, left_on=lk, right_on=rk, how=how, coalesce=True, maintain_order=order)
        out: list[Expr] = []
        for c in self.columns:
            if c in tmp:
                new = (user_when(col(hit).is_not_null()).then(col(tmp[c])).otherwise(col(c)) if include_nulls else
                       col(tmp[c]).fill_null(col(c)))
                out.append(new.alias(c))
            else:
                out.append(col(c))
        return joined.select(*out)

    def merge_sorted(self, other: DataFrame, key: str | Sequence[str], *, maintain_order: bool = False) -> DataFrame:
        """Both frames' rows, sorted by ``key`` (each input sorted by it, as Polars requires):
        a stable sort of both, nulls first; on equal keys this frame's rows come first (Polars
        leaves that order open).

        >>> import thresher as th
        >>> a = th.from_pydict({"k": [1, 4]})
        >>> a.merge_sorted(th.from_pydict({"k": [2, 3]}), "k").rows()
        [(1,), (2,), (3,), (4,)]
        """
        if self.schema != other.schema:
            raise ThresherTypeError(f"merge_sorted: the schemas differ: {self.schema} vs {other.schema}")
        keys = [key] if isinstance(key, str) else list(key)
        side = "__thresher_side"
        left = self.with_row_index(_ORDER).with_columns(lit(0).alias(side))
        right = other.with_row_index(_ORDER).with_columns(lit(1).alias(side))
        return left.union(right).sort(*keys, side, _ORDER).drop(_ORDER, side)

    # ---- sinks --------------------------------------------------------------------------------
    def sink_parquet(self, path: str, *, partition_by: Sequence[str] | None = None) -> None:
        """Polars' name for :meth:`write_parquet` (runs the plan, returns None).

        >>> import os, tempfile, thresher as th
        >>> out = os.path.join(tempfile.mkdtemp(), "x.parquet")
        >>> th.from_pydict({"a": [1]}).sink_parquet(out)
        >>> th.read_parquet(out).rows()
        [(1,)]
        """
        self.write_parquet(path, partition_by=partition_by)

    def sink_csv(self, path: str, *, partition_by: Sequence[str] | None = None) -> None:
        """Polars' name for :meth:`write_csv` (runs the plan, returns None).

        >>> import os, tempfile, thresher as th
        >>> out = os.path.join(tempfile.mkdtemp(), "x.csv")
        >>> th.from_pydict({"a": [1]}).sink_csv(out)
        >>> th.read_csv(out).rows()
        [(1,)]
        """
        self.write_csv(path, partition_by=partition_by)

    def sink_ndjson(self, path: str, *, partition_by: Sequence[str] | None = None) -> None:
        """Polars' name for :meth:`write_json` (newline-delimited JSON; returns None).

        >>> import os, tempfile, thresher as th
        >>> out = os.path.join(tempfile.mkdtemp(), "x.jsonl")
        >>> th.from_pydict({"a": [1]}).sink_ndjson(out)
        >>> th.read_json(out).rows()
        [(1,)]
        """
        self.write_json(path, partition_by=partition_by)

    def write_ndjson(self, path: str, **options: Any) -> DataFrame:
        """Polars' name for :meth:`write_json` (newline-delimited JSON).

        >>> import os, tempfile, thresher as th
        >>> out = os.path.join(tempfile.mkdtemp(), "x.jsonl")
        >>> _ = th.from_pydict({"a": [1]}).write_ndjson(out)
        >>> th.read_json(out).rows()
        [(1,)]
        """
        return self.write_json(path, **options)

    # ---- SQL ----------------------------------------------------------------------------------
    def sql(self, query: str, *, table_name: str = "self") -> DataFrame:
        """Run a SQL ``query`` over this frame, named ``table_name`` in it (DuckDB's dialect).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3]}).sql("SELECT sum(a) AS s FROM self WHERE a > 1").rows()
        [(5,)]
        """
        from thresher.sql_frontend import sql

        frames: dict[str, Any] = {table_name: self}
        return sql(query, **frames)



__all__ = ["UNSUPPORTED", "FramePolarsMixin"]
