"""Place the DataFrame API's window expressions into ``Window`` plan nodes (Polars semantics).

A projection (``select``/``with_columns``) or a filter whose expressions depend on other rows
(``expr.over(...)``, ``cum_*``, ``shift``, ``rank``, ``rolling_*``, or an aggregation next to
per-row values) cannot run batch by batch. Each such subexpression is lifted into a ``Window``
node as a hidden column, and the projection reads that column::

    select(x, (x - x.mean().over(k)).alias(d))
    ->  Project[x, (__w0 - ...)] <- Window[x.mean() over k -> __w0] <- input

As in Polars, an order-dependent function without ``over`` runs over the whole column in row
order, and an aggregation next to per-row columns is broadcast. A ``select`` whose every output
is an aggregation (or a constant) returns one row: it becomes an ``Aggregate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.errors import ThresherTypeError, UnsupportedError
from thresher.expressions.expr import (
    AggCall,
    Alias,
    Call,
    Column,
    CountStar,
    Expr,
    _columns,
    has_aggregate,
    memo,
    strip_alias,
)
from thresher.expressions.window import (
    _ORDER_DEPENDENT_NAMES,
    Over,
    contains_window,
    is_order_dependent,
    is_scalar_result,
    needs_window,
)
from thresher.planner.logical import Aggregate, Filter, LogicalPlan, Project, Window


def bare_columns(e: Expr) -> set[str]:
    """Columns ``e`` reads outside any aggregation or window."""
    out: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Column):
            out.add(x.name)
            continue
        o = x._ORDER_DEPENDENT  # (is_order_dependent written out)
        if not (x.name in _ORDER_DEPENDENT_NAMES if o is None else o) and not x._LEAF:  # type: ignore[attr-defined]
            stack.extend(x.children())
    return out


_ONE_ROW = "__thresher_one_row"


def project(plan: LogicalPlan, exprs: Sequence[Expr], scalar_select: bool = False) -> LogicalPlan:
    """``Project(plan, exprs)``, with window expressions lifted into Window nodes first.

    ``scalar_select``: a ``select`` whose every output aggregates (or is constant) gives one row.
    """
    if scalar_select and _all_scalar(exprs):
        # one row, even of an empty frame (Polars: ``select(lit(1))`` is one row): the aggregates
        # in an Aggregate (a row count when there are none), the constants computed above it
        plan, exprs = _lift_agg_windows(plan, exprs)
        aggs = tuple(e for e in exprs if has_aggregate(e))
        if aggs or not any(needs_window(e) for e in exprs):
            one = Aggregate(plan, (), aggs or (CountStar().alias(_ONE_ROW),))
            if len(aggs) == len(exprs):
                return one
            return Project(one, tuple(Column(e.output_name()) if has_aggregate(e) else e for e in exprs))
    for e in exprs:  # (a loop, not any() over a generator: every select/with_columns runs it)
        if e.__class__ is not Column and needs_window(e):  # (a column: no, without a call)
            break
    else:
        return Project(plan, tuple(exprs))
    windowed, rewritten = lift(plan, exprs)
    return Project(windowed, tuple(rewritten))


def _lift_agg_windows(plan: LogicalPlan, exprs: Sequence[Expr],
                      taken: set[str] | None = None) -> tuple[LogicalPlan, list[Expr]]:
    """The windows inside the arguments of aggregations (``select(col("x").cum_sum().max())``,
    ``filter(col("x").shift().over("k").sum() > 0)``) computed first, over the whole input as in
    Polars, and the aggregations reading their hidden columns (not under an ``over``: there the
    aggregation, and the windows inside it, run per group)."""
    inner: list[Expr] = []

    def collect(e: Expr) -> None:
        if isinstance(e, Over):
            return  # (an aggregation under an over runs per group: its windows stay with it)
        if isinstance(e, AggCall):
            # (an over anywhere inside, also under a nested aggregation: x.min().over(k).mean().sum())
            if contains_window(e.child) or any(isinstance(x, Over) for x in e.child.walk()):
                inner.append(e.child)
            return
        for c in e.children():
            collect(c)

    for e in exprs:
        collect(e)
    if not inner:
        return plan, list(exprs)
    plan, lifted = lift(plan, inner, taken)
    done = {id(a): b for a, b in zip(inner, lifted)}

    def swap(e: Expr) -> Expr:
        if isinstance(e, AggCall):
            return AggCall(e.name, done[id(e.child)], e.options) if id(e.child) in done else e
        kids = e.children()
        new = [swap(k) for k in kids]
        return e if all(a is b for a, b in zip(new, kids)) else e.with_children(new)

    return plan, [swap(e) for e in exprs]


def filter_(plan: LogicalPlan, predicate: Expr) -> LogicalPlan:
    """``Filter(plan, predicate)``; a predicate with windows filters on lifted columns."""
    if not needs_window(predicate):
        return Filter(plan, predicate)
    windowed, (pred,) = lift(plan, [predicate])
    return Project(Filter(windowed, pred), tuple(Column(n) for n in plan.schema.names))


def _all_scalar(exprs: Sequence[Expr]) -> bool:
    for e in exprs:
        # (a column is never one value: most selects list columns, told so without a call)
        if e.__class__ is Column or not _is_scalar(e):
            return False
    return True


def _is_scalar(e: Expr) -> bool:
    if is_scalar_result(e):
        return True
    # (_order_dependent_of_scalars needs an order-dependent call outside aggregations and windows:
    # without a window there is none, and the walk is not made)
    if not contains_window(e):
        return not memo(e, "_memo_columns", _columns)
    return _order_dependent_of_scalars(e)


def _order_dependent_of_scalars(e: Expr) -> bool:
    """``e`` applies order-dependent functions (no ``over``) to aggregates only, as in
    ``col("x").sum().rank()``: one value, as in Polars (a select of it is one row)."""
    if isinstance(e, (Over, AggCall, CountStar)):
        return False
    if isinstance(e, Call) and is_order_dependent(e):
        return all(is_scalar_result(a) or _order_dependent_of_scalars(a) for a in e.args) and bool(e.args)
    kids = e.children()
    return bool(kids) and any(_order_dependent_of_scalars(k) for k in kids) and all(
        is_scalar_result(k) or _order_dependent_of_scalars(k) or not k.columns() for k in kids)


def lift(plan: LogicalPlan, exprs: Sequence[Expr], taken: set[str] | None = None) -> tuple[LogicalPlan, list[Expr]]:
    """Window nodes computing every window subexpression of ``exprs``, and ``exprs`` reading them.
    (``taken``: hidden names already given out, by an enclosing ``lift`` whose nodes are not built yet.)"""
    taken = taken if taken is not None else set()
    plan, exprs = _lift_agg_windows(plan, exprs, taken)
    groups: dict[tuple[Any, ...], tuple[Over | None, list[Expr]]] = {}
    names: dict[tuple[Any, ...], str] = {}
    taken.update(plan.schema.names)

    def hidden() -> str:
        i = len(names)
        while f"__w{i}" in taken:
            i += 1
        taken.add(f"__w{i}")
        return f"__w{i}"

    def visit(e: Expr) -> Expr:
        if isinstance(e, Over) or is_order_dependent(e):
            if e.key() not in names:
                spec = e if isinstance(e, Over) else None
                inner = e.child if isinstance(e, Over) else e
                if isinstance(e, Over) and any(isinstance(x, Over) for x in e.child.walk()):
                    # an over inside an over: Polars evaluates the inner one within each outer
                    # group, which is the inner one over both sets of keys: computed first, below
                    nonlocal plan
                    nested = _nested_overs(e)
                    plan, lifted = lift(plan, [_merged_over(o, e) for o in nested], taken)
                    done = {id(o): strip_alias(x) for o, x in zip(nested, lifted)}
                    inner = _substitute(e.child, done)
                    spec = Over(inner, e.partition_by, e.order_by, e.descending, e.nulls_last, e.mapping_strategy)
                if spec is None and any(isinstance(x, Over) for c in e.children() for x in c.walk()):
                    # a frame-wide function of a window (``x.max().over("k").rank()``): the window
                    # first, in a node below, then the function of its column
                    plan, lifted = lift(plan, e.children(), taken)
                    inner = e.with_children(lifted)
                gkey = _spec_key(spec)
                names[e.key()] = hidden()
                groups.setdefault(gkey, (spec, []))[1].append(inner.alias(names[e.key()]))
            return Column(names[e.key()])
        kids = e.children()
        if not kids:
            return e
        new = [visit(c) for c in kids]
        return e if all(a is b for a, b in zip(new, kids)) else e.with_children(new)

    out: list[Expr] = []
    for e in exprs:
        r = visit(e)
        if r.output_name() != e.output_name():
            r = (r.child if isinstance(r, Alias) else r).alias(e.output_name())
        out.append(r)
    for spec, items in groups.values():
        if spec is None:
            plan = Window(plan, tuple(items))
        else:
            n = len(spec.order_by)
            plan = Window(plan, tuple(items), spec.partition_by, spec.order_by, (spec.descending,) * n,
                          (spec.nulls_last,) * n, None, spec.mapping_strategy)
    return plan, out


def _nested_overs(outer: Over) -> list[Over]:
    """The outermost ``over`` nodes inside ``outer``'s expression."""
    found: list[Over] = []
    stack: list[Expr] = [outer.child]
    while stack:
        x = stack.pop()
        if isinstance(x, Over):
            found.append(x)
        else:
            stack.extend(x.children())
    return found


def _merged_over(inner: Over, outer: Over) -> Over:
    """``inner`` as Polars evaluates it inside ``outer``: over both sets of keys, its rows in the
    outer order (or in its own, where the outer has none).

    ``x.sum().over("k").cum_sum().over("g")``: the inner window is ``x.sum().over(["g", "k"])``.
    Polars 2.1 follows no single order where both order their rows, or where the inner one
    sorts descending inside another window: those are refused."""
    if inner.order_by and (outer.order_by or inner.descending):
        raise UnsupportedError(f"over(): an over with order_by= inside another over ({inner!r} inside {outer!r}) is "
                               "not supported where the outer one has order_by= too or the inner one sorts "
                               "descending; compute the inner one in a with_columns first")
    keys = outer.partition_by + tuple(k for k in inner.partition_by
                                      if k.key() not in {o.key() for o in outer.partition_by})
    if inner.order_by:
        return Over(inner.child, keys, inner.order_by, inner.descending, inner.nulls_last, inner.mapping_strategy)
    return Over(inner.child, keys, outer.order_by, outer.descending, outer.nulls_last, inner.mapping_strategy)


def _substitute(e: Expr, done: dict[int, Expr]) -> Expr:
    """``e`` with the nodes of ``done`` (by identity) replaced."""
    if id(e) in done:
        return done[id(e)]
    kids = e.children()
    if not kids:
        return e
    new = [_substitute(k, done) for k in kids]
    return e if all(a is b for a, b in zip(new, kids)) else e.with_children(new)


def _spec_key(spec: Over | None) -> tuple[Any, ...]:
    if spec is None:
        return ("frame",)
    return (tuple(e.key() for e in spec.partition_by), tuple(e.key() for e in spec.order_by), spec.descending,
            spec.nulls_last, spec.mapping_strategy)


def _has_over(e: Expr) -> bool:
    """``any(isinstance(n, Over) for n in e.walk())``, stopping at leaves and columns without a
    call (every aggregation of a group_by().agg asks it)."""
    if isinstance(e, Over):
        return True
    if e._LEAF:
        return False
    for c in e.children():
        if c.__class__ is not Column and _has_over(c):
            return True
    return False


def agg_exprs(exprs: Sequence[Expr]) -> tuple[Expr, ...]:
    """``group_by().agg(...)`` inputs as Polars reads them: an expression that is not one value
    per group gives each group's list of its values, computed on the group's rows in their order
    (a column, ``col("x") * 2``, ``col("x").cum_sum()``, ``col("x").shift()``,
    ``col("x") - col("x").mean()``: Polars' own group context evaluates them)."""
    out: list[Expr] = []
    for e in exprs:
        if _has_over(e):
            # (an over() under an aggregation: Polars evaluates it within each group)
            raise UnsupportedError(f"agg: over() inside an aggregation ({e!r}) is not supported in group_by().agg()")
        if is_scalar_result(e) or (has_aggregate(e) and not bare_columns(e) and not contains_window(e)) \
                or _order_dependent_of_scalars(e):  # (col("x").sum().rank(): one value per group)
            out.append(e)
            continue
        if not e.columns():  # (lit(1), lit(1).alias("z"), agg(z=1): no column to list)
            raise ThresherTypeError(f"agg: {e!r} is a constant, not an aggregation")
        inner = e.child if isinstance(e, Alias) else e
        out.append(AggCall("agg_list", inner).alias(e.output_name()))
    return tuple(out)
