"""Plan statistics: row counts, sizes and per-row expression costs, estimated without running.

Row and byte counts start from what sources know (``Source.statistics()``: Parquet footers, file
listings, in-memory tables) and flow up the plan with textbook selectivities (an equality keeps
10%, a range a third, anything else half). They only need to be good enough to order joins and
to pick a broadcast side; ``None`` means unknown, and rules that need a number then do nothing.

Per-row expression costs live with the cost classes, in ``expressions/cost.py``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from thresher.expressions.expr import Call, Column, Expr, split_conjunction, strip_alias
from thresher.io.source import Source, SourceStatistics
from thresher.planner.logical import (
    Aggregate,
    Distinct,
    Explode,
    Filter,
    FlatMap,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Sample,
    ScanSource,
    Sort,
    Union,
)
from thresher.planner.memo import memoized_by_identity

#: string pattern tests (LIKE, contains, prefix and suffix matches)
PATTERN_MATCHES = frozenset({"str.like", "str.contains", "str.starts_with", "str.ends_with"})

#: the fraction of its left input a semi or anti join is guessed to keep
SEMI_JOIN_KEEPS = 0.5

#: an explode multiplies rows by this much when the list lengths are unknown
EXPLODE_FANOUT = 4.0


def term_selectivity(term: Expr) -> float:
    """The fraction of rows a filter term keeps (textbook guesses)."""
    if isinstance(term, Call):
        if term.name == "eq":
            return 0.1
        if term.name in ("lt", "le", "gt", "ge"):
            return 1 / 3
        if term.name == "is_in":
            return min(1.0, 0.1 * max(1, len(term.option("values", ()))))
        if term.name == "is_null":
            return 0.1
        if term.name in ("neq", "is_not_null"):
            return 0.9
        if term.name in PATTERN_MATCHES:
            # a pattern picks out a few values (TPC-H '%green%' keeps 5% of parts, '%BRASS' 20%),
            # as selective as an equality; guessing half made a filtered dimension look like a
            # poor join partner (Q9 joined lineitem with partsupp before the green parts)
            return 0.1
        if term.name == "not" and len(term.args) == 1:
            return 1.0 - term_selectivity(term.args[0])
        if term.name == "or":
            a, b = (term_selectivity(x) for x in term.args)
            return min(1.0, a + b - a * b)
    return 0.5


def predicate_selectivity(pred: Expr) -> float:
    s = 1.0
    for t in split_conjunction(pred):
        s *= term_selectivity(t)
    return s


@dataclass(frozen=True)
class Estimate:
    """Estimated output of a plan node (None = unknown)."""

    rows: float | None = None
    bytes: float | None = None

    def scaled(self, rows: float | None = None, width: float = 1.0) -> Estimate:
        """Same average row width, ``rows`` rows (times ``width`` for a column change)."""
        if self.rows is None:
            return Estimate(None, None)
        r = self.rows if rows is None else rows
        per_row = (self.bytes / self.rows) if (self.bytes is not None and self.rows) else None
        return Estimate(r, None if per_row is None else per_row * r * width)


def source_statistics(source: Source) -> SourceStatistics:
    """``source.statistics()``, asked once per source per optimize() call (a Parquet source lists
    its files and reads their footers' row counts each time; the optimizer asks for every scan of
    every join it orders, pass after pass)."""
    return memoized_by_identity("source_statistics", _source_statistics, source)


def _source_statistics(source: Source) -> SourceStatistics:
    return source.statistics()


def _scan_term_selectivity(node: ScanSource, t: Any) -> float:
    """The fraction of a scan's rows one pushed-down comparison keeps: an equality with a text
    column keeps one of the values its file dictionary holds (TPC-H o_orderstatus = 'F' keeps a
    third, n_name = 'SAUDI ARABIA' one nation in 25; that the first was guessed at 10% and the
    second not better made Q21 join lineitem with orders before the one nation's suppliers);
    otherwise textbook guesses."""
    if t.op in ("==", "!=", "is_in"):
        cs = node.source.column_statistics(t.column)
        n = cs.dictionary_values if cs is not None else None
        if n:
            k = len(t.value) if t.op == "is_in" else 1
            eq = min(1.0, k / n)
            return 1.0 - eq if t.op == "!=" else eq
    return {"==": 0.1, "is_in": 0.2, "is_null": 0.1, "!=": 0.9, "is_not_null": 0.9}.get(t.op, 1 / 3)


def _scan(node: ScanSource) -> Estimate:
    st = source_statistics(node.source)
    if st.num_rows is None:
        return Estimate(None, None)
    rows = float(st.num_rows)
    size = float(st.size_bytes) if st.size_bytes is not None else None
    if size is not None and node.columns is not None:
        full = node.full_schema().names
        if st.column_sizes and all(c in st.column_sizes for c in node.columns):
            size = float(sum(st.column_sizes[c] for c in node.columns))
        elif full:
            size = size * len(node.columns) / len(full)
    if node.predicate is not None:
        sel = 1.0
        for t in node.predicate.terms:
            sel *= _scan_term_selectivity(node, t)
        size = None if size is None else size * sel
        rows *= sel
    if node.limit is not None and rows > node.limit:
        size = None if size is None else size * node.limit / rows
        rows = float(node.limit)
    return Estimate(rows, size)


def estimate(plan: LogicalPlan) -> Estimate:
    """Rows and bytes ``plan`` is expected to produce (once per node object per optimize() call:
    plan nodes are immutable, and the rules ask again for the same subplans)."""
    return memoized_by_identity("estimate", _estimate, plan)


def _estimate(plan: LogicalPlan) -> Estimate:
    if isinstance(plan, ScanSource):
        return _scan(plan)
    kids = [estimate(c) for c in plan.children()]
    if isinstance(plan, Filter):
        (k,) = kids
        return k.scaled(None if k.rows is None else k.rows * predicate_selectivity(plan.predicate))
    if isinstance(plan, Project):
        (k,) = kids
        n_in = max(1, len(plan.input.schema))
        return k.scaled(None, width=len(plan.exprs) / n_in)
    if isinstance(plan, Limit):
        (k,) = kids
        if k.rows is None:
            return Estimate(float(plan.n), None)
        return k.scaled(min(k.rows, float(plan.n)))
    if isinstance(plan, Sample):
        (k,) = kids
        return k.scaled(None if k.rows is None else k.rows * plan.fraction)
    if isinstance(plan, Explode):
        (k,) = kids
        return k.scaled(None if k.rows is None else k.rows * EXPLODE_FANOUT)
    if isinstance(plan, FlatMap):
        (k,) = kids
        return Estimate(None if k.rows is None else k.rows * EXPLODE_FANOUT, None)
    if isinstance(plan, Distinct):
        (k,) = kids
        return k.scaled(None if k.rows is None else k.rows * 0.5)
    if isinstance(plan, Aggregate):
        (k,) = kids
        if not plan.keys:
            return Estimate(1.0, None)
        return k.scaled(None if k.rows is None else max(1.0, k.rows * 0.1))
    if isinstance(plan, Union):
        if any(k.rows is None for k in kids):
            return Estimate(None, None)
        b = None if any(k.bytes is None for k in kids) else sum(k.bytes or 0 for k in kids)
        return Estimate(sum(k.rows or 0 for k in kids), b)
    if isinstance(plan, Join):
        left, right = kids
        if left.rows is None or right.rows is None:
            return Estimate(None, None)
        lb, rb = left.bytes, right.bytes
        width = None if lb is None or rb is None else lb / max(left.rows, 1) + rb / max(right.rows, 1)
        if plan.how == "cross":
            rows = left.rows * right.rows
        elif plan.how in ("semi", "anti"):
            return left.scaled(left.rows * SEMI_JOIN_KEEPS)
        elif plan.how == "left":
            rows = left.rows
        elif plan.how == "right":
            rows = right.rows
        elif plan.how == "outer":
            rows = left.rows + right.rows
        else:  # inner: a key/foreign-key join keeps about the larger side
            rows = max(left.rows, right.rows)
        return Estimate(rows, None if width is None else width * rows)
    if kids:
        return kids[0]
    return Estimate(None, None)


def _span(lo: object, hi: object) -> float | None:
    """How many distinct values fit between ``lo`` and ``hi`` (integers and dates; None otherwise)."""
    if isinstance(lo, bool) or isinstance(hi, bool):
        return 2.0
    if isinstance(lo, int) and isinstance(hi, int):
        return float(hi - lo + 1)
    if isinstance(lo, datetime.datetime) or isinstance(hi, datetime.datetime):
        return None
    if isinstance(lo, datetime.date) and isinstance(hi, datetime.date):
        return float((hi - lo).days + 1)
    return None


def column_ndv(plan: LogicalPlan, name: str) -> float | None:
    """Estimated distinct values of column ``name`` of ``plan``'s output: traced down to the scan
    that reads it, where an integer or date column holds at most ``max - min + 1`` values (from
    the file footers) and at most its non-null rows; a group-by key holds at most the groups
    (then known without statistics too). Filters and joins above the scan are ignored (the base
    table's count, as a join estimate wants it). None when the column cannot be traced or its
    source knows nothing."""
    node = plan
    cap = None
    while True:
        if isinstance(node, ScanSource):
            st = source_statistics(node.source)
            cs = node.source.column_statistics(name)
            if cs is None:
                return cap
            rows = None if st.num_rows is None else float(st.num_rows - (cs.null_count or 0))
            ndv = float(cs.distinct_count) if cs.distinct_count is not None else _span(cs.min, cs.max)
            if ndv is None:
                return cap
            out = max(1.0, ndv if rows is None else min(ndv, rows))
            return out if cap is None else min(out, cap)
        if isinstance(node, Project):
            src = next((e for e in node.exprs if e.output_name() == name), None)
            if src is None:
                return None
            src = strip_alias(src)
            if not isinstance(src, Column):
                return None
            name, node = src.name, node.input
            continue
        if isinstance(node, Aggregate):
            src = next((strip_alias(k) for k in node.keys if k.output_name() == name), None)
            if not isinstance(src, Column):
                return cap
            rows = estimate(node).rows
            if rows is not None:
                cap = rows if cap is None else min(cap, rows)
            name, node = src.name, node.input
            continue
        if isinstance(node, Join):
            if node.how in ("semi", "anti") or name in node.left.schema.names:
                node = node.left
                continue
            if name in node.right.schema.names:
                node = node.right
                continue
            return None
        if isinstance(node, (Filter, Limit, Distinct, Sort)) and name in node.input.schema.names:
            node = node.input
            continue
        return None
