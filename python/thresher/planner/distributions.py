"""How a relational stage may be spread over tasks besides a hash or one-key range shuffle.

:func:`~thresher.planner.physical.compile` attaches one of these to a relational stage; an
executor that runs stages over partitions (Ray) reads it, the local executor ignores it.

* :class:`PartialAggregate` — a global aggregate (no GROUP BY) whose aggregations all
  decompose: ``sum``, ``count``, ``count()``, ``min``, ``max``, ``any``, ``all`` and ``mean``
  (as a sum and a count). Every input chunk is aggregated in a task (``partial``), then one task
  aggregates the partial rows (``final``). Anything else (median, quantile, n_unique, std, list,
  first/last) is :class:`Gather`: never a silently different answer.
* :class:`SortDistribution` — a sort by several keys (any mix of directions and null
  placements): range-partitioned on the composite key by sampled boundary rows, each range
  sorted in a task, ranges concatenated in order. Ties stay in one range in input order, so the
  result is the stable sort the local executor gives.
* :class:`WindowDistribution` — window functions hash-partitioned by their PARTITION BY keys
  (Polars runs the window per partition in a task; the output is put back in input order by row
  numbers); a window without PARTITION BY runs in one task.
* :class:`Gather` — the stage's program in one task over all its input (not the driver).

Programs never carry the upstream plan: their leaves are placeholders (:func:`cut_leaves`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from thresher.datatypes import DataType, Schema
from thresher.expressions.expr import AggCall, Alias, Call, Cast, Column, CountStar, Expr, Literal, When
from thresher.planner.logical import Aggregate, Filter, LogicalPlan, Project, ScanSource, Sort, Window
from thresher.planner.polars_plan import PolarsProgram, SchemaOnlySource

#: aggregations that are the same aggregation of their per-chunk results
#: SQL's sum that raises where it leaves BIGINT (``sql/coerce.SQL_EXACT_SUM``)
_EXACT = (("exact", True),)
_NAN_MAX = (("nan", "greatest"),)  # (SQL's max of floats: planner/sql/coerce.SQL_NAN_MAX)
_SELF_DECOMPOSING = {"sum": "sum", "count": "sum", "min": "min", "max": "max", "any": "any", "all": "all"}


@dataclass(frozen=True)
class PartialAggregate:
    """A global aggregate as ``partial`` per input chunk (one row each), then ``final`` over
    the partial rows (whose schema is ``partial_schema``)."""

    partial: PolarsProgram
    final: PolarsProgram
    partial_schema: Schema


@dataclass(frozen=True)
class SortDistribution:
    """A sort by ``keys`` (over the stage's one input) that may run per composite-key range."""

    keys: tuple[Expr, ...]
    descending: tuple[bool, ...]
    nulls_last: tuple[bool, ...]
    program: PolarsProgram


@dataclass(frozen=True)
class WindowDistribution:
    """Window functions partitioned by ``keys`` (empty: one task); output in input order.

    ``levels``: stacked windows (several PARTITION BY specs), innermost first: each a
    ``(keys, program over the level's input, output schema)``, shuffled by its own keys in turn;
    the last level is ``(keys, program)`` itself (with the projections above the windows).
    Rows are numbered per chunk after ``pre`` (within the chunk's range of input positions, so
    the numbers keep the input order even where ``pre`` filters)."""

    keys: tuple[Expr, ...]
    program: PolarsProgram
    levels: tuple[tuple[tuple[Expr, ...], PolarsProgram, Schema], ...] = ()
    #: filters/projections between the input and the innermost window, run per chunk first
    pre: PolarsProgram | None = None


@dataclass(frozen=True)
class Gather:
    """The stage's program, run whole in one task over all of its inputs."""

    program: PolarsProgram


Distribution = PartialAggregate | SortDistribution | WindowDistribution | Gather


def _placeholder(node: LogicalPlan) -> ScanSource:
    return ScanSource(SchemaOnlySource(node.schema.to_arrow()))


def cut_leaves(node: LogicalPlan, leaves: Sequence[LogicalPlan]) -> PolarsProgram:
    """``node`` with each of ``leaves`` (by identity) replaced by a placeholder of its schema.

    Polars scans inside the subtree stay (a task reads them itself).
    """
    holders = {id(leaf): _placeholder(leaf) for leaf in leaves}

    def cut(n: LogicalPlan) -> LogicalPlan:
        if id(n) in holders:
            return holders[id(n)]
        kids = n.children()
        if not kids:
            return n
        return n.with_children([cut(c) for c in kids])

    return PolarsProgram(cut(node), tuple(holders[id(leaf)] for leaf in leaves))


def _row_local_to(node: LogicalPlan, leaf: LogicalPlan) -> bool:
    """Is ``node`` the ``leaf`` under filters and projections only (it may run per chunk)?"""
    while node is not leaf:
        if not isinstance(node, (Filter, Project)):
            return False
        if isinstance(node, Project) and node.exprs and not any(e.columns() for e in node.exprs):
            return False  # a select of literals only: one row per input row, or one row (see polars_plan)
        node = node.children()[0]
    return True


def _rewrite(e: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    out = fn(e)
    if out is not None:
        return out
    kids = e.children()
    return e.with_children([_rewrite(c, fn) for c in kids]) if kids else e


def _decompose(aggs: Sequence[Expr], schema: Schema) -> tuple[list[Expr], list[Expr]] | None:
    """Partial aggregations and the final expressions over them; None when one does not decompose."""
    partials: list[Expr] = []
    ok = True

    def part(e: Expr) -> Expr | None:
        nonlocal ok
        if isinstance(e, CountStar):
            name = f"__p{len(partials)}"
            partials.append(Alias(e, name))
            return AggCall("sum", Column(name))
        if not isinstance(e, AggCall):
            return None
        if e.options not in ((), _EXACT, _NAN_MAX) or (e.name not in _SELF_DECOMPOSING and e.name != "mean"):
            ok = False
            return e
        if e.name == "mean":
            src = e.child.resolve(schema).dtype
            if not (src.is_integer() or src.is_float() or src.kind == "decimal" or src.is_bool()):
                ok = False
                return e
            s, c = f"__p{len(partials)}", f"__p{len(partials) + 1}"
            partials.append(Alias(AggCall("sum", Cast(e.child, DataType.float64())), s))
            partials.append(Alias(AggCall("count", e.child), c))
            total = AggCall("sum", Column(c))
            mean = Call("truediv", (AggCall("sum", Column(s)), total))
            return When(((Call("gt", (total, Literal(0, DataType.int64()))), mean),), Literal(None, DataType.float64()))
        name = f"__p{len(partials)}"
        partials.append(Alias(e, name))
        # (SQL's exact sum: the sum of the partial sums must not wrap either; SQL's max of floats:
        # NaN the greatest among the partials too)
        return AggCall(_SELF_DECOMPOSING[e.name], Column(name), e.options if e.name in ("sum", "max") else ())

    finals: list[Expr] = [Alias(_rewrite(a, part), a.output_name()) for a in aggs]
    return (partials, finals) if ok else None


def distribution(node: LogicalPlan, leaves: Sequence[LogicalPlan]) -> Distribution | None:
    """How a relational stage over ``leaves`` spreads over tasks (None: not by this module).

    ``leaves`` are the stage's inputs (other stages); a stage with none reads its sources with
    Polars itself: it runs whole in one task.
    """
    if not leaves:
        return Gather(cut_leaves(node, leaves))
    direct = list(node.children())
    is_direct = len(leaves) == len(direct) and all(a is b for a, b in zip(leaves, direct))
    if isinstance(node, Aggregate) and not node.keys and len(leaves) == 1 and _row_local_to(node.input, leaves[0]):
        split = _decompose(node.aggs, node.input.schema)
        if split is not None:
            partials, finals = split
            partial = Aggregate(node.input, (), tuple(partials))
            holder = _placeholder(partial)
            final = Aggregate(holder, (), tuple(finals))
            return PartialAggregate(cut_leaves(partial, leaves), PolarsProgram(final, (holder,)), partial.schema)
    if is_direct and isinstance(node, Sort) and len(node.by) > 1:
        nl = tuple(node.nulls_last) if node.nulls_last else (False,) * len(node.by)
        desc = tuple(node.descending) if node.descending else (False,) * len(node.by)
        return SortDistribution(tuple(node.by), desc, nl, cut_leaves(node, leaves))
    windows = _windows_over(node, leaves)
    if windows:
        top, bottom = windows[0], windows[-1]
        levels = tuple((tuple(w.partition_by), cut_leaves(w, [w.input]), w.schema) for w in reversed(windows[1:]))
        pre = None if bottom.input is leaves[0] else cut_leaves(bottom.input, leaves)
        return WindowDistribution(tuple(top.partition_by), cut_leaves(node, [top.input]), levels, pre)
    return Gather(cut_leaves(node, leaves))


def _windows_over(node: LogicalPlan, leaves: Sequence[LogicalPlan]) -> list[Window]:
    """The windows of ``Project* -> Window -> Window* -> leaf``, outermost first (projections
    keep the rows and their order, so each level may run per partition of its keys and the rows
    be put back in input order); empty when the stage is not of that shape."""
    if len(leaves) != 1:
        return []
    while isinstance(node, Project):
        if node.exprs and not any(e.columns() for e in node.exprs):
            return []
        node = node.input
    out: list[Window] = []
    while isinstance(node, Window):
        out.append(node)
        node = node.input
    return out if out and _row_local_to(node, leaves[0]) else []
