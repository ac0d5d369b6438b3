"""Run a relational subtree of the logical plan as one Polars LazyFrame.

Scans that Polars can read itself come from ``Source.polars_scan`` (with our pushed-down columns
and predicate); other leaves are the materialized outputs of upstream stages. Joins rename both
sides' columns to positional names first, so output naming follows Thresher's schema rules
exactly (suffixes, coalesced keys) rather than Polars'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema, conform_batch, storage_batch
from thresher.errors import ThresherExecutionError, UnsupportedError
from thresher.expressions.expr import Column, Expr
from thresher.operators.expr_to_polars import polars_dtype, to_polars
from thresher.planner.logical import (
    Aggregate,
    Distinct,
    Filter,
    Join,
    Limit,
    LogicalPlan,
    Project,
    ScanSource,
    Sort,
    Union,
    Window,
)

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

LeafResolver = Callable[[LogicalPlan], "pl.LazyFrame"]


def table_to_lazy(table: pa.Table, schema: Schema) -> pl.LazyFrame:
    """A LazyFrame over ``table`` (extension columns as their storage)."""
    if table.num_rows == 0 and table.num_columns == 0:
        return pl.LazyFrame(schema={f.name: polars_dtype(f.dtype) for f in schema.fields})
    batches = [storage_batch(b) for b in table.to_batches()]
    if not batches:
        storage_schema = pa.schema([pa.field(f.name, f.dtype.storage) for f in schema.fields])
        return pl.from_arrow(storage_schema.empty_table()).lazy()  # type: ignore[union-attr]
    df = pl.from_arrow(pa.Table.from_batches(batches), rechunk=False)
    assert isinstance(df, pl.DataFrame)
    return df.lazy()


def _cast_to(lf: pl.LazyFrame, schema: Schema) -> pl.LazyFrame:
    return lf.select([pl.col(f.name).cast(polars_dtype(f.dtype)) for f in schema.fields])


def build_lazy(node: LogicalPlan, leaf: LeafResolver) -> pl.LazyFrame:
    """Translate ``node`` (and its relational descendants) into a LazyFrame."""
    try:
        return _build(node, leaf)
    except pl.exceptions.PolarsError as exc:
        raise ThresherExecutionError(f"planning {node.describe()}: {exc}") from exc


def _keys(exprs: Sequence[Expr], schema: Schema) -> list[pl.Expr]:
    return [to_polars(e, schema).alias(e.output_name()) for e in exprs]


def _build(node: LogicalPlan, leaf: LeafResolver) -> pl.LazyFrame:
    if isinstance(node, ScanSource):
        lf = node.source.polars_scan(node.columns, node.predicate)
        if lf is None:
            return leaf(node)
        if node.limit is not None:
            lf = lf.head(node.limit)
        return lf  # type: ignore[no-any-return]
    try:
        return leaf(node)
    except KeyError:
        pass
    if isinstance(node, Filter):
        lf = _build(node.input, leaf)
        return lf.filter(to_polars(node.predicate, node.input.schema))
    if isinstance(node, Project):
        lf = _build(node.input, leaf)
        exprs = [to_polars(e, node.input.schema).alias(e.output_name()) for e in node.exprs]
        if exprs and not any(e.columns() for e in node.exprs):
            # Polars gives a select of literals one row whatever the input's height (even 0);
            # a projection has one row per input row (as the streaming project operator does)
            return lf.with_columns(exprs).select([e.output_name() for e in node.exprs])
        return lf.select(exprs)
    if isinstance(node, Aggregate):
        lf = _build(node.input, leaf)
        s = node.input.schema
        if node.keys:
            aggs = [to_polars(a, s, in_group=True).alias(a.output_name()) for a in node.aggs]
            out = lf.group_by(_keys(node.keys, s)).agg(aggs)
        else:
            out = lf.select([to_polars(a, s, in_group=False).alias(a.output_name()) for a in node.aggs])
        return out
    if isinstance(node, Sort):
        lf = _build(node.input, leaf)
        s = node.input.schema
        nulls_last = list(node.nulls_last) if node.nulls_last else [False] * len(node.by)
        return lf.sort(
            [to_polars(e, s) for e in node.by],
            descending=list(node.descending),
            nulls_last=nulls_last,
            maintain_order=True,
        )
    if isinstance(node, Limit):
        lf = _build(node.input, leaf)
        return lf.slice(node.offset, node.n)
    if isinstance(node, Distinct):
        lf = _build(node.input, leaf)
        keep = {"any": "any", "first": "first", "last": "last"}.get(node.keep, "any")
        return lf.unique(subset=list(node.subset) if node.subset else None, keep=keep, maintain_order=True)  # type: ignore[arg-type]
    if isinstance(node, Union):
        parts = [_cast_to(_build(i, leaf), node.schema) for i in node.inputs]
        return pl.concat(parts, how="vertical")
    if isinstance(node, Join):
        return _join(node, leaf)
    if isinstance(node, Window):
        lf = _build(node.input, leaf)
        s = node.input.schema
        part = [to_polars(e, s) for e in node.partition_by]
        order = [to_polars(e, s) for e in node.order_by]
        cols: list[pl.Expr] = []
        for e in node.exprs:
            pe = to_polars(e, s, in_group=True)
            kw: dict[str, Any] = {}
            if order:
                kw["order_by"] = order
                flags = set(node.descending) if node.descending else {False}
                if len(flags) > 1:
                    raise UnsupportedError("window ORDER BY with mixed ASC/DESC keys is not supported")
                kw["descending"] = flags.pop()
            cols.append((pe.over(part, **kw) if part else pe.over(pl.lit(0), **kw)).alias(e.output_name()))
        return lf.with_columns(cols)
    raise UnsupportedError(f"{type(node).__name__} cannot run in a relational stage")


def _join(node: Join, leaf: LeafResolver) -> pl.LazyFrame:
    left = _build(node.left, leaf)
    right = _build(node.right, leaf)
    ls, rs = node.left.schema, node.right.schema
    lmap = {n: f"__l{i}" for i, n in enumerate(ls.names)}
    rmap = {n: f"__r{i}" for i, n in enumerate(rs.names)}
    lkeys = [to_polars(e, ls).alias(f"__lk{k}") for k, e in enumerate(node.left_on)]
    rkeys = [to_polars(e, rs).alias(f"__rk{k}") for k, e in enumerate(node.right_on)]
    # join keys in a common type (int32 vs int64, decimal scales)
    from thresher.datatypes import supertype

    for k, (le, re_) in enumerate(zip(node.left_on, node.right_on)):
        lt, rt = le.resolve(ls).dtype, re_.resolve(rs).dtype
        st = supertype(lt, rt)
        if st is not None and (st != lt or st != rt):
            pt = polars_dtype(st)
            lkeys[k] = lkeys[k].cast(pt)
            rkeys[k] = rkeys[k].cast(pt)
    lsel = [pl.col(n).alias(a) for n, a in lmap.items()] + lkeys
    rsel = [pl.col(n).alias(a) for n, a in rmap.items()] + rkeys
    L, R = left.select(lsel), right.select(rsel)
    how = node.how
    if how == "cross":
        joined = L.join(R, how="cross")
    else:
        lon = [f"__lk{k}" for k in range(len(lkeys))]
        ron = [f"__rk{k}" for k in range(len(rkeys))]
        phow = {"outer": "full"}.get(how, how)
        joined = L.join(R, left_on=lon, right_on=ron, how=phow, coalesce=False)  # type: ignore[arg-type]
    if how in ("semi", "anti"):
        return joined.select([pl.col(a).alias(n) for n, a in lmap.items()])
    out: list[pl.Expr] = []
    dropped = node.coalesced_right_keys()
    # right join: a left key column takes the right key where the left side is missing
    coalesce_from: dict[str, str] = {}
    if how == "right":
        for k, (le, re_) in enumerate(zip(node.left_on, node.right_on)):
            if isinstance(le, Column) and isinstance(re_, Column):
                coalesce_from[le.name] = f"__rk{k}"
    for n, a in lmap.items():
        e = pl.col(a)
        if n in coalesce_from:
            e = pl.coalesce(pl.col(a), pl.col(coalesce_from[n]).cast(polars_dtype(ls[n])))
        out.append(e.alias(n))
    left_names = set(ls.names)
    for n, a in rmap.items():
        if n in dropped:
            continue
        out.append(pl.col(a).alias(n + node.suffix if n in left_names else n))
    return joined.select(out)


def collect_lazy(lf: pl.LazyFrame, schema: Schema, engine: str = "auto") -> pa.Table:
    """Collect ``lf`` and conform the result to ``schema`` (extension types re-wrapped)."""
    try:
        df = lf.collect(engine=engine)  # type: ignore[call-overload]
    except pl.exceptions.PolarsError as exc:
        raise ThresherExecutionError(str(exc)) from exc
    table = df.to_arrow()
    batches = [conform_batch(b, schema) for b in table.to_batches()]
    return pa.Table.from_batches(batches, schema=schema.to_arrow())
