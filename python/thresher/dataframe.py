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

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher import frame_seq
from thresher.datatypes import Schema
from thresher.errors import (
    ColumnNotFoundError,
    ThresherError,
    ThresherTypeError,
    UnsupportedError,
    UnsupportedMethodError,
    without_polars_context,
)
from thresher.expressions.expr import Column, CountStar, Expr, col, combine_conjunction, lit_if_needed
from thresher.expressions.window import needs_window
from thresher.frame_ops import FrameOpsMixin, expand_wildcards, group_by_ordered, join_coalesce, sample_n, unique_plan
from thresher.frame_polars import FramePolarsMixin
from thresher.frame_rows import RowsMixin
from thresher.frame_seq import has_seq
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

    from thresher.dedup import DedupNamespace
    from thresher.engine.stats import RunStats
    from thresher.io.config import IOConfig
    from thresher.io.sink import Sink
    from thresher.planner.physical import PhysicalPlan


def _to_expr(e: Any) -> Expr:
    if isinstance(e, str):
        return Column(e)
    if isinstance(e, Expr):
        return e
    raise ThresherTypeError(f"expected a column name or an expression, got {type(e).__name__}: {e!r}")


def _named(v: Any) -> Expr:
    """A keyword argument's expression in select/with_columns: a string names a column (as in
    Polars: ``select(z="y")`` is column y as z), any other value is a literal."""
    return Column(v) if isinstance(v, str) else lit_if_needed(v)


def _to_exprs(items: Sequence[Any]) -> list[Expr]:
    """``[_to_expr(e) for e in _flatten(items)]`` in one loop (the arguments of every select,
    filter, sort, group_by)."""
    out: list[Expr] = []
    for i in items:
        if isinstance(i, Expr):
            out.append(i)
        elif isinstance(i, str):
            out.append(Column(i))
        elif isinstance(i, (list, tuple)):
            for j in i:
                out.append(_to_expr(j))
        else:
            out.append(_to_expr(i))
    return out


def _flatten(items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for i in items:
        if isinstance(i, (list, tuple)):
            out.extend(i)
        else:
            out.append(i)
    return out


_JOIN_HOWS = frozenset(("inner", "left", "right", "full", "outer", "semi", "anti", "cross"))


class DataFrame(RowsMixin, FrameOpsMixin, FramePolarsMixin):
    """A lazy, typed table. Build one with ``th.read_*`` or ``th.from_*``.

    ``collect()`` returns a collected DataFrame (it holds its result; the same API applies).
    Rows and columns come out with ``rows()``, ``row(i)``, ``iter_rows()``, ``item()``,
    ``to_dicts()``, ``collected["a"]`` (a :class:`~thresher.series.Series`); see
    ``thresher.frame_rows``.
    """

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
        return self.schema.names()  # (a plain list, as Polars': names is also callable)

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
        es = _to_exprs(exprs)
        if named:
            es += [_named(v).alias(k) for k, v in named.items()]
        es = expand_wildcards(es, self._plan.schema)
        if not es:
            raise ThresherTypeError("select() needs at least one column")
        for e in es:  # (a SeqOp is order-dependent: needs_window, memoized, asks first)
            if e.__class__ is not Column and needs_window(e) and has_seq(e):
                return frame_seq.select(self, es)  # (col("x").unique(), .sort(), .value_counts(), ...)
        # windows (expr.over, cum_*, ...) go to Window nodes; all-aggregate selects give one row
        return DataFrame(windows.project(self._plan, es, scalar_select=True))

    def with_columns(self, *exprs: Any, **named: Any) -> DataFrame:
        """Add or replace columns (new ones go at the end, replaced ones keep their place).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).with_columns(b=th.col("a") + 1).to_pydict()
        {'a': [1, 2], 'b': [2, 3]}
        """
        new = _to_exprs(exprs)
        if named:
            new += [_named(v).alias(k) for k, v in named.items()]
        new = expand_wildcards(new, self._plan.schema)
        by_name = {}
        for e in new:
            by_name[e.output_name()] = e
        out: list[Expr] = []
        for name in self._plan.schema.names:
            out.append(by_name.pop(name) if name in by_name else Column(name))
        for e in new:
            if e.output_name() in by_name:
                out.append(e)
        for e in new:
            if e.__class__ is not Column and needs_window(e) and has_seq(e):
                return frame_seq.with_columns(self, out)  # (col("x").sort(): a column of its own order)
        return DataFrame(windows.project(self._plan, out))

    def with_column(self, name: str, expr: Any) -> DataFrame:
        return self.with_columns(**{name: expr})

    def filter(self, *predicates: Any, **constraints: Any) -> DataFrame:
        """Keep rows where every predicate is true (null counts as false), as in Polars:
        several predicates are AND-ed, and ``name=value`` keywords mean ``col(name) == value``.

        >>> import thresher as th
        >>> df = th.from_pydict({"a": [1, 2, 3], "b": ["x", "y", "y"]})
        >>> df.filter(th.col("a") > 1, b="y").rows()
        [(2, 'y'), (3, 'y')]
        """
        if len(predicates) == 1 and not constraints and isinstance(predicates[0], Expr):
            return DataFrame(windows.filter_(self._plan, predicates[0]))  # (the common case, directly)
        preds = _to_exprs(predicates)
        preds += [col(name) == value for name, value in constraints.items()]
        if not preds:
            raise ThresherTypeError("filter() needs at least one predicate")
        return DataFrame(windows.filter_(self._plan, combine_conjunction(preds)))  # windows allowed

    where = filter

    def drop(self, *columns: str, strict: bool = True) -> DataFrame:
        """These columns left out (``strict=False``: names the frame lacks are ignored, as Polars).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1], "b": [2]}).drop("b", "z", strict=False).columns
        ['a']
        """
        cols = set(_flatten(columns))
        if strict:
            for c in cols:
                self.schema.field(c)
        return self._with(Project(self._plan, tuple(Column(n) for n in self.columns if n not in cols)))

    def rename(self, mapping: Mapping[str, str] | Callable[[str], str], *, strict: bool = True) -> DataFrame:
        """Rename columns: a mapping of old to new names, or a function of each name (as Polars;
        ``strict=False``: old names the frame lacks are ignored).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1], "b": [2]}).rename(str.upper).columns
        ['A', 'B']
        """
        if callable(mapping):
            fn = mapping
            mapping = {c: fn(c) for c in self.columns}
        if strict:
            for c in mapping:
                self.schema.field(c)
        exprs = tuple(Column(n).alias(mapping[n]) if n in mapping else Column(n) for n in self.columns)
        return self._with(Project(self._plan, exprs))

    def limit(self, n: int, offset: int = 0) -> DataFrame:
        return self._with(Limit(self._plan, int(n), int(offset)))

    def head(self, n: int = 5) -> DataFrame:
        """The first ``n`` rows (a negative ``n``: every row but the last ``-n``, as Polars'
        DataFrame).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3]}).head(-1).rows()
        [(1,), (2,)]
        """
        if n < 0:
            return self._without_last(-int(n))
        return self.limit(n)

    def sort(
        self,
        by: Any,
        *more: Any,
        descending: bool | Sequence[bool] = False,
        nulls_last: bool | Sequence[bool] = False,
        maintain_order: bool = False,
        multithreaded: bool = True,
    ) -> DataFrame:
        """Sort by columns/expressions; ``descending`` and ``nulls_last`` per key or for all.
        The sort is stable (rows with equal keys keep their order), so ``maintain_order`` is
        always met; ``multithreaded`` is accepted for Polars' signature."""
        keys = _to_exprs((by, *more))
        desc = [descending] * len(keys) if isinstance(descending, bool) else list(descending)
        nl = [nulls_last] * len(keys) if isinstance(nulls_last, bool) else list(nulls_last)
        if len(desc) != len(keys) or len(nl) != len(keys):
            raise ThresherTypeError("sort: descending/nulls_last must have one value per key")
        return DataFrame(Sort(self._plan, tuple(keys), tuple(desc), tuple(nl)))

    def group_by(self, *keys: Any, maintain_order: bool = False, **named_keys: Any) -> GroupBy:
        """Group rows; finish with ``.agg(...)``. ``maintain_order=True`` returns the groups in
        the order of their first row (otherwise the order is unspecified, as in Polars). Keyword
        keys are named, as in Polars (``group_by(k="g")`` groups by column g, named k).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["b", "a", "b"], "v": [1, 2, 3]})
        >>> df.group_by("k", maintain_order=True).agg(th.col("v").sum()).rows()
        [('b', 4), ('a', 2)]
        """
        exprs = _to_exprs(keys)
        if named_keys:
            exprs += [_named(v).alias(k) for k, v in named_keys.items()]
        return GroupBy(self, exprs, maintain_order)

    groupby = group_by

    def agg(self, *aggs: Any, **named_aggs: Any) -> DataFrame:
        """Aggregate the whole frame into one row (keywords as in ``group_by().agg``)."""
        return GroupBy(self, []).agg(*aggs, **named_aggs)

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
        *,
        coalesce: bool | None = None,
        nulls_equal: bool = False,
        maintain_order: str | None = None,
        validate: str = "m:m",
    ) -> DataFrame:
        """Join with ``other``: inner, left, right, outer (or "full"), semi, anti or cross.

        ``coalesce`` as in Polars: None (default) merges the key columns except in an outer
        join; True merges each pair of key columns into one (also in an outer join); False keeps
        the right keys too (``key`` and ``key_right``); where a key is an expression, no key is
        merged (as Polars). Column order follows Polars (a right
        join lists the left columns first, then the right ones with the keys).
        ``nulls_equal=True`` (Polars') makes NULL keys match each other. ``maintain_order``
        (Polars'): "left", "right", "left_right" or "right_left" orders the rows by the left
        and/or right frame's row order (rows without a partner last); None or "none" leaves it
        open.

        >>> import thresher as th
        >>> a = th.from_pydict({"k": [1, 2], "x": ["a", "b"]})
        >>> b = th.from_pydict({"k": [2, 3], "y": [0.5, 1.5]})
        >>> a.join(b, on="k", how="full", coalesce=True).sort("k").rows()
        [(1, 'a', None), (2, 'b', 0.5), (3, None, 1.5)]
        """
        if on is not None and right_on is None and isinstance(left_on, str) and left_on in _JOIN_HOWS:
            # Polars' positional order is (other, on, how): ``join(b, "k", "left")``
            how, left_on = left_on, None
        if validate != "m:m":
            raise UnsupportedError(f"join(validate={validate!r}) is not supported (only 'm:m', no check); check "
                                   "the keys' uniqueness first, e.g. df.select(th.col(k).is_duplicated().any())")
        if maintain_order not in (None, "none"):
            return _join_in_order(self, other, maintain_order, on=on, left_on=left_on, right_on=right_on, how=how,
                                  suffix=suffix, strategy=strategy, coalesce=coalesce, nulls_equal=nulls_equal)
        if how == "full":
            how = "outer"
        if how == "cross":
            return DataFrame(Join(self._plan, other._plan, (), (), "cross", suffix, strategy))
        if on is not None:
            left_on = right_on = on
        if left_on is None or right_on is None:
            raise ThresherTypeError("join: give on= or both left_on= and right_on=")
        lk = tuple(_to_expr(e) for e in left_on) if isinstance(left_on, (list, tuple)) else (_to_expr(left_on),)
        rk = tuple(_to_expr(e) for e in right_on) if isinstance(right_on, (list, tuple)) else (_to_expr(right_on),)
        plain = True
        for e in (*lk, *rk):
            if not isinstance(e, Column):
                plain = False
                break
        if not plain and how != "right":
            # Polars coalesces no key when a key is an expression (it keeps every right key column)
            coalesce = False
        if coalesce is not None or how == "right":
            return join_coalesce(self, other, lk, rk, how, suffix, strategy, coalesce, bool(nulls_equal))
        return DataFrame(Join(self._plan, other._plan, lk, rk, how, suffix, strategy, bool(nulls_equal)))

    def explode(self, *columns: str, empty_as_null: bool = True, keep_nulls: bool = True) -> DataFrame:
        """One row per element of the list column(s) (several columns: their lists must have
        the same lengths). An empty list gives one null row (``empty_as_null=False``: no row,
        Polars 2.1's default) and a null list one null row (``keep_nulls=False``: no row).

        >>> import thresher as th
        >>> df = th.from_pydict({"n": [1, 2, 3], "l": [[1, 2], [], None]})
        >>> df.explode("l").rows()
        [(1, 1), (1, 2), (2, None), (3, None)]
        >>> df.explode("l", empty_as_null=False).rows()
        [(1, 1), (1, 2), (3, None)]
        """
        names = tuple(_flatten(columns))
        plan = self._plan
        if names and (not empty_as_null or not keep_nulls):
            first = col(names[0])
            plan.schema.field(names[0])
            if not empty_as_null and keep_nulls:  # (a null list has no length: it stays)
                keep = first.list.len().fill_null(1) > 0
            elif not empty_as_null:
                keep = first.list.len() > 0
            else:
                keep = first.is_not_null()
            plan = windows.filter_(plan, keep)
        return self._with(Explode(plan, names))

    def distinct(self) -> DataFrame:
        return self._with(Distinct(self._plan, None, "first"))

    def unique(self, subset: Sequence[str] | str | None = None, *, keep: str = "first",
               maintain_order: bool = False) -> DataFrame:
        """Drop duplicate rows (by ``subset`` columns). ``keep`` = "first" | "last" | "any" |
        "none" (drop every row that has a duplicate); ``maintain_order=True`` keeps input order.

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["b", "a", "b", "c"], "v": [1, 2, 3, 4]})
        >>> df.unique(subset="k", keep="last", maintain_order=True).rows()
        [('a', 2), ('b', 3), ('c', 4)]
        >>> df.unique(subset="k", keep="none", maintain_order=True).rows()
        [('a', 2), ('c', 4)]
        """
        if keep not in ("first", "last", "any", "none"):
            raise ValueError(f"unique: keep must be 'first', 'last', 'any' or 'none', got {keep!r}")
        sub = (subset,) if isinstance(subset, str) else tuple(subset) if subset is not None else None
        if maintain_order or keep == "none":
            return unique_plan(self, sub, keep, maintain_order)
        return self._with(Distinct(self._plan, sub, keep))

    def union(self, *others: DataFrame) -> DataFrame:
        """Rows of this frame followed by the rows of ``others`` (UNION ALL)."""
        return self._with(Union((self._plan, *(o._plan for o in others))))

    concat = union
    union_all = union

    def sample(self, n: int | float | None = None, *, fraction: float | None = None, with_replacement: bool = False,
               shuffle: bool = False, seed: int | None = None) -> DataFrame:
        """A random sample, reproducible for a given ``seed``.

        ``n=k`` gives exactly ``min(k, height)`` rows drawn without replacement (in input order
        unless ``shuffle``). ``fraction=p`` keeps each row with probability ``p`` and streams (the
        count varies around ``p * height``). A float given positionally is a fraction (as in
        Daft), an int a row count (as in Polars).

        >>> import thresher as th
        >>> df = th.from_pydict({"a": list(range(100))})
        >>> df.sample(n=5, seed=1).height
        5
        """
        if with_replacement:
            raise UnsupportedError("sample(with_replacement=True) is not supported; sample without replacement")
        if isinstance(n, float) and fraction is None:
            n, fraction = None, n
        if (n is None) == (fraction is None):
            raise ValueError("sample() needs exactly one of 'n' or 'fraction'")
        if n is not None:
            return sample_n(self, int(n), seed, shuffle)
        assert fraction is not None
        return self._with(Sample(self._plan, float(fraction), seed, False))

    def repartition(self, num_partitions: int | None = None, *by: Any) -> DataFrame:
        return self._with(Repartition(self._plan, num_partitions, tuple(_to_expr(b) for b in by), None))

    def into_batches(self, batch_size: int) -> DataFrame:
        """Re-cut the stream into batches of ``batch_size`` rows."""
        return self._with(Repartition(self._plan, None, (), int(batch_size)))

    def with_row_index(self, name: str = "index", offset: int = 0) -> DataFrame:
        return self._with(WithRowIndex(self._plan, name, offset))

    def __getitem__(self, item: Any) -> Any:
        """``df["a"]``: on a collected frame the column's values (a Series, as in Polars); on a
        lazy frame an expression, as in Daft (``df.filter(df["a"] > 1)``)."""
        if isinstance(item, str):
            self.schema.field(item)
            if self._result is not None:
                return self.get_column(item)
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
        from thresher.expressions.udf_protocol import GeneratorUDFProtocol
        from thresher.planner.logical import FlatMap
        from thresher.udfs.udf import output_schema

        if not (isinstance(udf, GeneratorUDFProtocol) and udf.is_generator):
            raise ThresherTypeError(f"flat_map needs a generator udf (one that yields), got {udf!r}")
        arg_exprs = tuple(_to_expr(a) for a in args)
        keep_cols = tuple(self.columns if keep is None else keep)
        return self._with(FlatMap(self._plan, udf, arg_exprs, output_schema(udf), keep_cols))

    @property
    def dedup(self) -> DedupNamespace[DataFrame]:
        """Deduplication methods: ``df.dedup.exact/fuzzy/semantic/image``."""
        from thresher.dedup import DedupNamespace

        return DedupNamespace(self)

    # ---- running ------------------------------------------------------------------------------
    def _optimized(self, optimize: bool = True) -> LogicalPlan:
        optimized = self._compile(self._plan, optimize).optimized
        assert optimized is not None
        return optimized

    @staticmethod
    def _compile(plan: LogicalPlan, optimize: bool = True, checkpoint: str | None = None) -> PhysicalPlan:
        """``plan`` compiled with the session's optimizer settings."""
        from thresher.planner.physical import CompileSettings, compile
        from thresher.session import settings

        disabled = settings().disabled_rules
        if optimize and not disabled and checkpoint is None:
            return compile(plan)  # (the default settings: one object, not one per query)
        return compile(plan, CompileSettings(optimize=optimize, disabled_rules=frozenset(disabled),
                                             checkpoint_location=checkpoint))

    def iter_batches(self, runner: str | None = None, optimize: bool = True, **options: Any) -> Iterator[pa.RecordBatch]:
        """Stream the result batch by batch (nothing is held beyond the memory budget)."""
        if self._result is not None:
            yield from self._result.to_batches()
            return
        from thresher.session import make_executor

        physical = self._compile(self._plan, optimize)
        yield from self._execute(physical, make_executor(runner, **options))

    def _execute(self, physical: PhysicalPlan, executor: Any) -> Iterator[pa.RecordBatch]:
        try:
            yield from executor.execute(physical)
        except ThresherError as exc:  # (on any path: one raised in a batch function has Polars' expression)
            without_polars_context(exc)
            raise
        finally:
            self._last_stats = executor.stats()

    def _collect_batches(self, runner: str | None, optimize: bool, options: dict[str, Any]) -> list[pa.RecordBatch]:
        """Every batch of the result. The cyclic garbage collector waits from planning to the end
        of a run that is one relational stage run here (Polars computes it; no Python code of
        the user's runs): the plans, the Polars program and its intermediate objects are then
        freed by reference counting before any collection traverses them, instead of being
        traversed, and some promoted to the oldest generation (whose full collections traverse
        every object of the process), by the collections their allocations trigger (see
        planner/gc_pause.py; compiling alone already paused it). Any other plan runs with the
        collector on."""
        from thresher.planner.gc_pause import pause, resume
        from thresher.session import make_executor

        pause()  # (try/finally, not an ExitStack: its six functions ran on every query)
        paused = True
        try:
            physical = self._compile(self._plan, optimize)
            executor = make_executor(runner, **options)
            start_alone = getattr(executor, "start_alone", None)
            if start_alone is not None:  # the local executor: a lone relational stage runs here
                try:
                    finish = start_alone(physical)
                    if finish is not None:
                        del physical  # (the plans go before Polars runs: see start_alone)
                        return finish()  # type: ignore[no-any-return]
                except ThresherError as exc:  # (as _execute)
                    without_polars_context(exc)
                    raise
                finally:
                    self._last_stats = executor.stats()
            root = physical.root
            if not (getattr(executor, "name", None) == "local" and root.kind == "relational" and not root.inputs):
                paused = False
                resume()
            batches = list(self._execute(physical, executor))
            del physical, executor, root
            return batches
        finally:
            if paused:
                resume()

    def collect(self, runner: str | None = None, optimize: bool = True, **options: Any) -> DataFrame:
        """Run the plan and return a materialized frame (the same lazy API applies to it)."""
        if self._result is not None:
            return self
        table = self._collect_table(runner, optimize, options)
        out = DataFrame(ScanSource(InMemorySource(table)), result=table)
        out._last_stats = self._last_stats
        return out

    def _collect_table(self, runner: str | None, optimize: bool, options: dict[str, Any]) -> pa.Table:
        batches = self._collect_batches(runner, optimize, options)
        schema = self.schema.to_arrow()
        return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()

    def stats(self) -> RunStats | None:
        """Per-stage rows, bytes, wall and busy time of the last run of this frame."""
        return self._last_stats

    def to_arrow(self, runner: str | None = None, optimize: bool = True, **options: Any) -> pa.Table:
        """The result as an Arrow table (what :meth:`collect` holds, without building the frame
        around it: a plan node, its schema and a source per call)."""
        if self._result is not None:
            return self._result
        return self._collect_table(runner, optimize, options)

    def to_pydict(self, *, images: str = "numpy", **kw: Any) -> dict[str, list[Any]]:
        """``{column: values}``. Media come out as NumPy: images ``H×W×C`` uint8 arrays
        (``images="pil"``: Pillow images), tensors N-d arrays, embeddings 1-d arrays.

        Examples
        --------
        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.zeros((2, 2, 3), dtype="float32")})
        >>> [v.shape for v in df.to_pydict()["t"]]
        [(2, 3), (2, 3)]
        """
        from thresher.values import table_to_pydict

        return table_to_pydict(self.to_arrow(**kw), images)

    def to_pylist(self, *, images: str = "numpy", **kw: Any) -> list[dict[str, Any]]:
        """One dict per row, media as NumPy (see :meth:`to_pydict`)."""
        from thresher.values import table_to_pylist

        return table_to_pylist(self.to_arrow(**kw), images)

    def to_numpy(self, column: str, *, writable: bool = False, **kw: Any) -> Any:
        """One column as NumPy. An image, tensor or embedding column is stacked along a new first
        axis (``(n, H, W, C)`` uint8, ``(n, *shape)``, ``(n, dim)``) when every row is present and
        has the same shape; otherwise it is a 1-d ``object`` array of per-row arrays (``None`` for
        nulls). Any other column converts as Arrow does. ``writable=False`` allows a read-only
        zero-copy view (like Polars).

        >>> import numpy as np, thresher as th
        >>> df = th.from_pydict({"t": np.arange(12, dtype="float32").reshape(2, 2, 3)})
        >>> df.schema
        Schema(t: tensor[float32, (2, 3)])
        >>> df.to_numpy("t").shape
        (2, 2, 3)
        """
        from thresher.values import column_to_numpy

        if column not in self.columns:
            raise ColumnNotFoundError(f"to_numpy: no column {column!r}; columns are {self.columns}")
        table = self._result if self._result is not None else self.select(column).to_arrow(**kw)
        return column_to_numpy(table.column(column), writable=writable)

    def to_pandas(self, **kw: Any) -> pd.DataFrame:
        """A pandas DataFrame. Media columns hold NumPy values (``object`` columns) and the frame
        carries its Thresher schema in ``attrs``, so ``th.from_pandas`` restores the media types.
        """
        from thresher.interop import table_to_pandas

        return table_to_pandas(self.to_arrow(**kw))

    def to_polars(self, **kw: Any) -> pl.DataFrame:
        """A Polars DataFrame; media columns stay Arrow extension columns (``ext[thresher.image]``)
        so ``th.from_polars`` gives the same types back."""
        from thresher.interop import table_to_polars

        return table_to_polars(self.to_arrow(**kw))

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
        from thresher.engine.write import run_write_job
        from thresher.session import make_executor

        physical = self._compile(Write(self._plan, sink, job_id), options.pop("optimize", True), checkpoint)
        table, stats = run_write_job(physical, lambda: make_executor(runner, **options))
        result = DataFrame(ScanSource(InMemorySource(table)), result=table)
        if stats is None:  # a finished job: nothing ran
            return result
        self._last_stats = stats
        result._last_stats = self._last_stats
        return result

    def _write_files(self, sink_cls: Any, extensions: tuple[str, ...], path: str,
                     partition_by: Sequence[str] | None, mode: str, job_id: str | None,
                     io_config: IOConfig | None, options: dict[str, Any]) -> DataFrame:
        from thresher.io.files_sink import is_single_file

        single = not partition_by and is_single_file(path, extensions)
        sink = sink_cls(path, partition_by=list(partition_by) if partition_by else None, mode=mode, job_id=job_id,
                        io_config=io_config, single_file=single)
        sink.preflight(job_id)
        # one file: the whole frame is one partition, committed under exactly that name
        df = self.repartition(1) if single else self
        result = df.write(sink, job_id=job_id, **options)
        if result.to_arrow().num_rows == 0:
            # no partition at all (an empty input): still leave a file holding the schema
            empty = sink.write("empty", iter(()), self.schema.to_arrow())
            if empty.files:
                sink.commit(job_id or f"empty-{uuid.uuid4().hex}", [empty])
        return result

    def write_parquet(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                      job_id: str | None = None, io_config: IOConfig | None = None, **options: Any) -> DataFrame:
        """Write Parquet: ``path`` ending in ``.parquet`` is one file (like Polars), else a dataset folder.

        A folder (local, ``s3://``, ``gs://``, ``az://``) gets one file per partition (Hive folders
        for ``partition_by``), committed exactly once per ``job_id`` and partition. An empty
        frame still writes a file holding the schema. ``io_config`` gives credentials
        (default: ``th.set_io_config``'s, or the environment).

        >>> import os, tempfile, thresher as th
        >>> out = os.path.join(tempfile.mkdtemp(), "x.parquet")
        >>> _ = th.from_pydict({"a": [1, 2]}).write_parquet(out)
        >>> th.read_parquet(out).to_pydict()
        {'a': [1, 2]}
        """
        from thresher.io.files_sink import ParquetSink

        return self._write_files(ParquetSink, (".parquet", ".pq", ".parq"), path, partition_by, mode, job_id,
                                 io_config, options)

    def write_csv(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                  job_id: str | None = None, io_config: IOConfig | None = None, **options: Any) -> DataFrame:
        """Write CSV: one file for a ``.csv`` path, else a dataset folder (see :meth:`write_parquet`)."""
        from thresher.io.files_sink import CsvSink

        return self._write_files(CsvSink, (".csv",), path, partition_by, mode, job_id, io_config, options)

    def write_json(self, path: str, partition_by: Sequence[str] | None = None, mode: str = "append",
                   job_id: str | None = None, io_config: IOConfig | None = None, **options: Any) -> DataFrame:
        """Write newline-delimited JSON: one file for a ``.json``/``.jsonl`` path, else a folder."""
        from thresher.io.files_sink import JsonSink

        return self._write_files(JsonSink, (".json", ".jsonl", ".ndjson"), path, partition_by, mode, job_id,
                                 io_config, options)

    def write_iceberg(self, table: Any, catalog: Any = None, mode: str = "append", job_id: str | None = None,
                      io_config: IOConfig | None = None, **options: Any) -> DataFrame:
        """Append/overwrite an Iceberg table; each partition commits once per ``job_id``.

        ``table`` is ``"namespace.table"`` (refused at once without a namespace) or a pyiceberg
        Table; ``io_config`` reaches the warehouse when ``catalog`` is a name or a dict.
        """
        from thresher.io.iceberg import IcebergSink

        sink = IcebergSink(table, catalog=catalog, mode=mode, io_config=io_config)
        sink.preflight(job_id)
        return self.write(sink, job_id=job_id, **options)

    def write_lance(self, uri: str, mode: str = "create", job_id: str | None = None, on: str | None = None,
                    io_config: IOConfig | None = None, storage_options: Mapping[str, str] | None = None,
                    **options: Any) -> DataFrame:
        """Write a Lance dataset (local or object store); ``mode="merge_columns", on="id"`` adds columns.

        ``mode="create"`` on an existing dataset fails before anything runs. ``storage_options``
        are Lance's own keys and win over ``io_config``.
        """
        from thresher.io.lance import LanceSink

        sink = LanceSink(uri, mode=mode, on=on, io_config=io_config, storage_options=storage_options)
        sink.preflight(job_id)
        return self.write(sink, job_id=job_id, **options)


def _join_in_order(left: DataFrame, right: DataFrame, maintain_order: str, **kw: Any) -> DataFrame:
    """``left.join(right, maintain_order=...)``: both sides numbered, joined, sorted by the
    numbers (stable; a row without a partner has no number there and comes last), numbers dropped."""
    sides = {"left": ("l",), "right": ("r",), "left_right": ("l", "r"), "right_left": ("r", "l")}.get(maintain_order)
    if sides is None:
        raise ThresherTypeError(f"join: maintain_order must be None, 'none', 'left', 'right', 'left_right' or "
                                f"'right_left', got {maintain_order!r}")
    taken = set(left.columns) | set(right.columns)
    names = {}
    for side in ("l", "r"):
        name = f"__join_order_{side}"
        while name in taken:
            name += "_"
        names[side] = name
    out = left.with_row_index(names["l"]).join(right.with_row_index(names["r"]), **kw)
    by = [names[s] for s in sides if names[s] in out.columns]
    hidden = [n for n in names.values() if n in out.columns]
    return out.sort(by, nulls_last=True).drop(*hidden) if by else out.drop(*hidden)


class GroupBy:
    """``df.group_by(keys)``: finish with ``.agg(...)``."""

    def __init__(self, df: DataFrame, keys: list[Expr], maintain_order: bool = False) -> None:
        self._df = df
        self._keys = keys
        self._maintain_order = maintain_order

    def agg(self, *aggs: Any, **named_aggs: Any) -> DataFrame:
        """Aggregations like ``col("x").sum()``, ``th.count()``. Keyword arguments are named, as in
        Polars: ``agg(total=col("v").sum())``, and a string names a column (``agg(vs="v")``: each
        group's list of v).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "v": [1, 2, 3]})
        >>> df.group_by("k").agg(th.col("v").sum()).sort("k").to_pydict()
        {'k': ['a', 'b'], 'v': [3, 3]}
        """
        plan = self._df._plan
        keys = expand_wildcards(self._keys, plan.schema) if self._keys else []
        # a bare column gives its group's list, as in Polars
        given = _to_exprs(aggs)
        if named_aggs:
            given += [_named(v).alias(k) for k, v in named_aggs.items()]
        for e in given:
            if e.__class__ is not Column and has_seq(e):
                return frame_seq.agg(self, given)  # (col("x").unique(), .sort(), .head(n), ...: list operations)
        es = windows.agg_exprs(expand_wildcards(given, plan.schema, exclude=[k.output_name() for k in keys]
                                                if keys else ()))
        if self._maintain_order and keys:
            return group_by_ordered(self._df, keys, list(es))
        return DataFrame(Aggregate(plan, tuple(keys), es))

    def count(self) -> DataFrame:
        return self.agg(CountStar().alias("count"))

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            hint = {"map_groups": "a batch UDF (@th.udf(batch=True)) over agg()'s lists, or to_polars()",
                    "having": "agg(...) then filter(...)"}.get(name)
            if hint is not None:
                err = UnsupportedMethodError(f"GroupBy.{name}() (Polars') is not supported by Thresher; use {hint}")
                err.name, err.obj = name, self
                raise err
            raise AttributeError(f"'GroupBy' object has no attribute {name!r}", name=name, obj=self)

    # ---- Polars' shortcuts: one aggregation of every column that is not a key ----------------
    def _each(self, method: str, *args: Any, **kwargs: Any) -> DataFrame:
        return self.agg(getattr(Column("*"), method)(*args, **kwargs))

    def sum(self) -> DataFrame:
        """Each non-key column's sum per group, as Polars' ``group_by().sum()`` (a column that
        cannot be summed raises, as in Polars).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, None], "y": [0.5, None, 2.0]})
        >>> df.group_by("k", maintain_order=True).sum().rows()
        [('a', 3, 0.5), ('b', 0, 2.0)]
        """
        return self._each("sum")

    def mean(self) -> DataFrame:
        """Each non-key column's mean per group (Polars' ``group_by().mean()``)."""
        return self._each("mean")

    def median(self) -> DataFrame:
        """Each non-key column's median per group (Polars' ``group_by().median()``)."""
        return self._each("median")

    def min(self) -> DataFrame:
        """Each non-key column's minimum per group (Polars' ``group_by().min()``)."""
        return self._each("min")

    def max(self) -> DataFrame:
        """Each non-key column's maximum per group (Polars' ``group_by().max()``)."""
        return self._each("max")

    def first(self) -> DataFrame:
        """Each non-key column's first value per group (Polars' ``group_by().first()``)."""
        return self._each("first")

    def last(self) -> DataFrame:
        """Each non-key column's last value per group (Polars' ``group_by().last()``)."""
        return self._each("last")

    def n_unique(self) -> DataFrame:
        """Each non-key column's number of distinct values per group, NULL counted (int64;
        Polars: u32)."""
        return self._each("n_unique")

    def quantile(self, quantile: float, interpolation: str = "nearest") -> DataFrame:
        """Each non-key column's ``quantile`` per group (Polars' ``group_by().quantile()``; a
        column that is not numeric raises, where Polars gives NULLs)."""
        return self._each("quantile", quantile, interpolation)

    def all(self) -> DataFrame:
        """Each non-key column's values per group, as a list (Polars' ``group_by().all()``).

        >>> import thresher as th
        >>> th.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, 3]}).group_by("k", maintain_order=True).all().rows()
        [('a', [1, 2]), ('b', [3])]
        """
        return self.agg(Column("*"))

    def head(self, n: int = 5) -> DataFrame:
        """The first ``n`` rows of each group (Polars' ``group_by().head()``), groups in the order
        of their first row with ``maintain_order=True``.

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "b", "a", "a"], "x": [1, 2, 3, 4]})
        >>> df.group_by("k", maintain_order=True).head(2).rows()
        [('a', 1), ('a', 3), ('b', 2)]
        """
        return self._rows("head", n)

    def tail(self, n: int = 5) -> DataFrame:
        """The last ``n`` rows of each group (Polars' ``group_by().tail()``)."""
        return self._rows("tail", n)

    def _rows(self, method: str, n: int) -> DataFrame:
        keys = expand_wildcards(self._keys, self._df._plan.schema) if self._keys else []
        key_names = {k.output_name() for k in keys}
        rest = [c for c in self._df.columns if c not in key_names]
        if not rest:
            raise ThresherTypeError(f"group_by().{method}(): the frame has no column besides the keys")
        lists = self.agg(*(getattr(Column(c), method)(n) for c in rest))
        return lists.explode(*rest)

    def len(self, name: str = "len") -> DataFrame:
        """Rows per group, in a column named ``name`` (Polars' ``group_by().len()``)."""
        return self.agg(CountStar().alias(name))
