"""A relational subtree of the logical plan as a Polars LazyFrame program.

:class:`PolarsProgram` is what a ``relational`` stage carries: called with one LazyFrame per
stage input it returns the subtree's LazyFrame; the executor materializes the inputs and
collects the result (``engine/polars_frames.py``). Scans that Polars can read itself come from
``Source.polars_scan`` (with our pushed-down columns and predicate). Joins rename both sides'
columns to positional names first, so output naming follows Thresher's schema rules exactly
(suffixes, coalesced keys) rather than Polars'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema
from thresher.errors import ThresherExecutionError, UnsupportedError
from thresher.expressions.expr import Column, Expr
from thresher.io.source import Source
from thresher.operators.expr_to_polars import polars_dtype, to_polars
from thresher.operators.window import window_lazy
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
        return window_lazy(_build(node.input, leaf), node.input.schema, node.exprs, node.partition_by, node.order_by,
                           node.descending, node.nulls_last, node.frame, node.mapping_strategy)
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


class SchemaOnlySource(Source):
    """A placeholder leaf: the executor hands the program this input's frame instead."""

    supports_predicate = False

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self.name = "stage-input"

    def arrow_schema(self) -> pa.Schema:
        return self._schema

    def partitions(self, columns: Any, predicate: Any) -> list[Any]:
        raise ThresherExecutionError("a stage-input placeholder is never read")


@dataclass(frozen=True, eq=False)
class PolarsProgram:
    """``program(frames)``: the LazyFrame of ``node`` with ``leaves[i]`` read from ``frames[i]``.

    Picklable: a Ray task receives it (then cut from its upstream plan with :func:`cut_inputs`).
    """

    node: LogicalPlan
    leaves: tuple[LogicalPlan, ...]

    @property
    def schema(self) -> Schema:
        return self.node.schema

    def __call__(self, frames: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
        if len(frames) != len(self.leaves):
            raise ThresherExecutionError(f"relational stage: {len(frames)} input frames for {len(self.leaves)} inputs")
        by_leaf = {id(leaf): f for leaf, f in zip(self.leaves, frames)}

        def resolve(n: LogicalPlan) -> pl.LazyFrame:
            if id(n) in by_leaf:
                return by_leaf[id(n)]
            raise KeyError(n)

        return build_lazy(self.node, resolve)


def cut_inputs(node: LogicalPlan) -> PolarsProgram:
    """``node`` over placeholders for its direct children (a task never carries the upstream plan)."""
    leaves = tuple(ScanSource(SchemaOnlySource(c.schema.to_arrow())) for c in node.children())
    return PolarsProgram(node.with_children(list(leaves)), leaves)
