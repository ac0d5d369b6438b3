"""Plan statistics: row counts, sizes and per-row expression costs, estimated without running.

Row and byte counts start from what sources know (``Source.statistics()``: Parquet footers, file
listings, in-memory tables) and flow up the plan with textbook selectivities (an equality keeps
10%, a range a third, anything else half). An OR of ANDs, as written or multiplied out into its
conjunctive normal form, is estimated as one OR from its branches, whose comparisons read the
columns' statistics (distinct values, smallest and largest: see ``predicate_selectivity``). They only need to be good enough to order joins and
to pick a broadcast side; ``None`` means unknown, and rules that need a number then do nothing.

``refined_estimate`` reads the columns' statistics for every comparison with a constant (in
filters and scan predicates) and estimates inner and semi joins by key containment, so a fact
table joined with a filtered dimension keeps the dimension's share of its rows; eager_aggregation
reads it. ``estimate`` keeps the guesses the other rules were measured with.

Per-row expression costs live with the cost classes, in ``expressions/cost.py``.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thresher.expressions.expr import Call, Column, Expr, Literal, memo, split_conjunction, strip_alias
from thresher.io.source import ColumnStatistics, Source, SourceStatistics
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


#: the most branches an AND of ORs is multiplied out into to estimate it as an OR of ANDs
MAX_DNF_BRANCHES = 64

#: a filter term's column -> what its source knows about it (None: unknown)
ColumnInfo = Callable[[str], ColumnStatistics | None]


def term_selectivity(term: Expr, info: ColumnInfo | None = None) -> float:
    """The fraction of rows a filter term keeps (textbook guesses). An OR is estimated from its
    branches (``_or_selectivity``); with ``info``, the comparisons under it read the columns'
    statistics."""
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
            return 1.0 - term_selectivity(term.args[0], info)
        if term.name == "and":
            return _branch_selectivity(split_conjunction(term), info)
        if term.name == "or":
            return _or_selectivity([split_conjunction(b) for b in _disjuncts(term)], info)
    return 0.5


def predicate_selectivity(pred: Expr, info: ColumnInfo | None = None, refined: bool = False) -> float:
    """The fraction of rows a filter keeps: its conjuncts' selectivities multiplied, except for
    ORs over the same columns, which are one OR of ANDs multiplied out into its conjunctive normal
    form (the SQL front end's normal form, predicate_pushdown's one-sided clauses): they are
    multiplied back into that OR and estimated as one (``_clauses_selectivity``). ``info``: the
    statistics of the filtered input's columns, read for the comparisons under an OR (and, when
    ``refined``, for the comparisons with constants outside ORs too, per column:
    ``_test_selectivity``)."""
    s = 1.0
    ors: list[Expr] = []
    atoms: list[Expr] = []
    for t in split_conjunction(pred):
        if isinstance(t, Call) and t.name == "or":
            ors.append(t)
        elif refined and info is not None and _atom(t) is not None:
            atoms.append(t)
        else:
            s *= term_selectivity(t)
    if atoms:
        tests, _ = _column_tests(atoms)
        for name, ct in tests.items():
            s *= _test_selectivity(ct, info(name) if info is not None else None)
    for group in _column_groups(ors):
        s *= _clauses_selectivity(group, info)
    return s


def _disjuncts(e: Expr) -> list[Expr]:
    if isinstance(e, Call) and e.name == "or":
        return _disjuncts(e.args[0]) + _disjuncts(e.args[1])
    return [e]


def _column_groups(terms: list[Expr]) -> list[list[Expr]]:
    """``terms`` in groups connected by the columns they share (each in their order)."""
    groups: list[tuple[set[str], list[int]]] = []
    for i, t in enumerate(terms):
        cols = set(t.columns())
        merged: tuple[set[str], list[int]] = (cols, [i])
        for g in [g for g in groups if g[0] & cols]:
            merged[0].update(g[0])
            merged[1].extend(g[1])
            groups.remove(g)
        groups.append(merged)
    return [[terms[i] for i in sorted(g[1])] for g in groups]


def _clauses_selectivity(clauses: list[Expr], info: ColumnInfo | None) -> float:
    """An AND of ORs over shared columns, estimated as the OR of ANDs it multiplies out into
    (contradictory branches dropped: ``a = 1 AND a = 2``; branches holding another dropped), at
    most the least selective clause. TPC-DS q91 writes ``(ms = 'M' AND es = 'Unknown') OR (ms =
    'W' AND es = 'Advanced Degree')``; its normal form is four clauses (``ms = 'M' OR ms = 'W'``,
    ``es = 'Unknown' OR ms = 'W'``, ...), each keeping ~0.2 of the rows as a guess: multiplied as
    if independent 0.2^4 = 0.0013 of customer_demographics (2.5k rows), where the two branches
    keep 2/35 (110k rows)."""
    sels = [term_selectivity(c, info) for c in clauses]
    if len(clauses) == 1:
        return sels[0]
    branches: list[list[Expr]] = [[]]
    for c in clauses:
        nxt: list[list[Expr]] = []
        seen: set[tuple[Any, ...]] = set()
        for b in branches:
            for d in _disjuncts(c):
                nb = b + [a for a in split_conjunction(d) if all(a.key() != x.key() for x in b)]
                k = tuple(sorted(repr(a.key()) for a in nb))
                if k in seen or _contradicts(nb):
                    continue
                seen.add(k)
                nxt.append(nb)
        if len(nxt) > MAX_DNF_BRANCHES:
            return math.prod(sels)
        branches = nxt
    if not branches:
        return 0.0
    keys = [frozenset(repr(a.key()) for a in b) for b in branches]
    kept = [b for i, b in enumerate(branches) if not any(j != i and keys[j] < keys[i] for j in range(len(keys)))]
    return min(min(sels), _or_selectivity(kept, info))


def _or_selectivity(branches: list[list[Expr]], info: ColumnInfo | None) -> float:
    """An OR of ANDs (each branch its conjuncts): the sum of the branches' selectivities where
    every two of them exclude each other (one column equal to different values, or in disjoint
    ranges: TPC-H Q19's brands, TPC-DS q48's education statuses), else as if independent."""
    sels = [_branch_selectivity(b, info) for b in branches]
    if all(_contradicts(x + y) for i, x in enumerate(branches) for y in branches[i + 1:]):
        return min(1.0, sum(sels))
    keep = 1.0
    for s in sels:
        keep *= 1.0 - min(1.0, s)
    return 1.0 - keep


_FLIP = {"eq": "eq", "neq": "neq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _atom(term: Expr) -> tuple[str, str, Any] | None:
    """``(column, op, value)`` of a comparison of a column with a constant (``is_in``: a tuple);
    once per term object (multiplying out an AND of ORs asks it of the same terms many times)."""
    return memo(term, "_memo_selectivity_atom", _make_atom)  # type: ignore[no-any-return]


def _make_atom(term: Expr) -> tuple[str, str, Any] | None:
    if not isinstance(term, Call):
        return None
    if term.name == "is_in" and len(term.args) == 1 and isinstance(term.args[0], Column):
        values = term.option("values", None)
        if values is None:
            return None
        try:
            hash(tuple(values))
        except TypeError:
            return None
        return term.args[0].name, "is_in", tuple(values)
    if term.name in _FLIP and len(term.args) == 2:
        a, b = term.args
        if isinstance(a, Column) and isinstance(b, Literal) and b.value is not None:
            return (a.name, term.name, b.value) if _hashable(b.value) else None
        if isinstance(b, Column) and isinstance(a, Literal) and a.value is not None:
            return (b.name, _FLIP[term.name], a.value) if _hashable(a.value) else None
    return None


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


@dataclass
class _ColumnTest:
    """What a branch's comparisons ask of one column."""

    values: set[Any] | None = None  # equal to one of these
    excluded: int = 0  # not equal to this many values
    lo: Any = None
    hi: Any = None
    ranges: int = 0  # comparisons making lo and hi
    empty: bool = False


def _less(a: Any, b: Any) -> bool | None:
    try:
        return bool(a < b)
    except TypeError:
        return None


def _column_tests(branch: list[Expr]) -> tuple[dict[str, _ColumnTest], list[Expr]]:
    atoms: list[tuple[str, str, Any]] = []
    rest: list[Expr] = []
    for t in branch:
        a = _atom(t)
        if a is None:
            rest.append(t)
        else:
            atoms.append(a)
    return _tests_of(atoms), rest


def _tests_of(atoms: list[tuple[str, str, Any]]) -> dict[str, _ColumnTest]:
    """Per column, what the comparisons ``(column, op, value)`` ask of it."""
    tests: dict[str, _ColumnTest] = {}
    for name, op, v in atoms:
        ct = tests.setdefault(name, _ColumnTest())
        if op in ("eq", "is_in"):
            vs = {v} if op == "eq" else set(v)
            ct.values = vs if ct.values is None else ct.values & vs
        elif op == "neq":
            ct.excluded += 1
        elif op in ("gt", "ge"):
            ct.ranges += 1
            if ct.lo is None or _less(ct.lo, v):
                ct.lo = v
        else:
            ct.ranges += 1
            if ct.hi is None or _less(v, ct.hi):
                ct.hi = v
    for ct in tests.values():
        if ct.values is not None:
            ct.values = {v for v in ct.values
                         if not (ct.lo is not None and _less(v, ct.lo)) and not (ct.hi is not None and _less(ct.hi, v))}
        if ct.values == set() or (ct.lo is not None and ct.hi is not None and _less(ct.hi, ct.lo)):
            ct.empty = True
    return tests


def _contradicts(branch: list[Expr]) -> bool:
    """Whether an AND of these terms keeps no row (one column equal to two values, or outside a
    range it must be in)."""
    return any(ct.empty for ct in _column_tests(branch)[0].values())


def _ndv_of(cs: ColumnStatistics) -> float | None:
    if cs.distinct_count:
        return float(cs.distinct_count)
    if cs.dictionary_values:
        return max(1.0, cs.dictionary_values)
    return _span(cs.min, cs.max)


def _position(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, datetime.date):
        return float(v.toordinal())
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    return None


def _range_fraction(ct: _ColumnTest, cs: ColumnStatistics | None) -> float:
    """The fraction of a column's values between ``ct.lo`` and ``ct.hi``: from its smallest and
    largest values where they and the bounds are numbers or dates, else a third per bound."""
    guess = (1 / 3) ** ct.ranges
    if cs is None:
        return guess
    lo_c, hi_c = _position(cs.min), _position(cs.max)
    if lo_c is None or hi_c is None or hi_c <= lo_c:
        return guess
    lo = lo_c if ct.lo is None else _position(ct.lo)
    hi = hi_c if ct.hi is None else _position(ct.hi)
    if lo is None or hi is None:
        return guess
    step = 1.0 if isinstance(cs.min, (int, datetime.date)) and not isinstance(cs.min, datetime.datetime) else 0.0
    width = min(hi, hi_c) - max(lo, lo_c) + step
    return max(0.0, min(1.0, width / (hi_c - lo_c + step)))


def _within(v: Any, cs: ColumnStatistics) -> bool:
    """Whether ``v`` may be among the values of a column with these statistics."""
    return not (cs.min is not None and _less(v, cs.min)) and not (cs.max is not None and _less(cs.max, v))


def _branch_selectivity(branch: list[Expr], info: ColumnInfo | None) -> float:
    """An AND of terms: per column, its comparisons with constants as one test (equal to one of
    ``k`` values keeps ``k / ndv``, a range the part of ``[min, max]`` it covers, when ``info``
    knows the column; else the textbook guesses). The tests are not taken as independent: the
    most selective counts fully, the next with its square root, the third with the fourth root
    (columns tested together are often related: TPC-DS q53's item brands each belong to one class
    and category, so ``brand in (4) AND class in (4) AND category in (3)`` keeps about what the
    brands keep, 934 of 18,000 items, where the product of the three guessed 4)."""
    tests, rest = _column_tests(branch)
    sels = [term_selectivity(t, info) for t in rest]
    for name, ct in tests.items():
        if ct.empty:
            return 0.0
        sels.append(_test_selectivity(ct, info(name) if info is not None else None))
    out = 1.0
    for k, s in enumerate(sorted(sels)):
        out *= s ** (1.0 / 2**k)
    return out


def _test_selectivity(ct: _ColumnTest, cs: ColumnStatistics | None) -> float:
    """The fraction of rows one column's comparisons with constants keep: equal to one of ``k``
    values ``k / ndv``, a range the part of ``[min, max]`` it covers, ``k`` exclusions
    ``(1 - 1/ndv)^k``, where the column's statistics tell (else the textbook guesses)."""
    if ct.empty:
        return 0.0
    ndv = _ndv_of(cs) if cs is not None else None
    if ct.values is not None:
        # values outside the column's [min, max] match nothing (TPC-DS q61's p_channel_email
        # = 'Y' where every promotion has 'N')
        k = len(ct.values) if cs is None else sum(1 for v in ct.values if _within(v, cs))
        return min(1.0, k / ndv) if ndv else (0.1 if k == 1 else min(1.0, 0.1 * k))
    s = 1.0
    if ct.ranges:
        s *= _range_fraction(ct, cs)
    if ct.excluded:
        s *= (1.0 - 1.0 / ndv) ** ct.excluded if ndv and ndv > 1 else 0.9 ** ct.excluded
    return s


def _join_side(join: Join, name: str) -> LogicalPlan | None:
    """The input of ``join`` whose output column ``name`` is (a semi or anti join's are its left
    side's), or None where neither holds it."""
    if join.how in ("semi", "anti") or name in join.left.schema:
        return join.left
    if name in join.right.schema:
        return join.right
    return None


def column_statistics(plan: LogicalPlan, name: str) -> ColumnStatistics | None:
    """What the source read by ``plan`` knows about its output column ``name``: traced down through
    renames, filters and joins to the scan that reads it (None when it cannot be, or it knows
    nothing)."""
    node = plan
    while True:
        if isinstance(node, ScanSource):
            return node.source.column_statistics(name)
        if isinstance(node, Project):
            src = next((e for e in node.exprs if e.output_name() == name), None)
            src = None if src is None else strip_alias(src)
            if not isinstance(src, Column):
                return None
            name, node = src.name, node.input
            continue
        if isinstance(node, Join):
            side = _join_side(node, name)
            if side is None:
                return None
            node = side
            continue
        if isinstance(node, (Filter, Limit, Distinct, Sort, Sample)) and name in node.input.schema:
            node = node.input
            continue
        return None


def input_statistics(plan: LogicalPlan) -> ColumnInfo:
    """``column_statistics`` of ``plan``'s columns, as a filter over it reads them."""
    return lambda name: column_statistics(plan, name)


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


_SCAN_OPS = {"==": "eq", "!=": "neq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


def _scan_selectivity(node: ScanSource) -> float:
    """The fraction of a scan's rows its pushed-down comparisons keep, per column from what the
    source knows of it (``_test_selectivity``): an equality keeps one of the column's distinct
    values (a text column's file dictionary: TPC-H o_orderstatus = 'F' keeps a third, n_name =
    'SAUDI ARABIA' one nation in 25; an integer's ``max - min + 1``: TPC-DS d_year = 2001 one
    year of 201, 365 of 73,049 dates, where a tenth was guessed), a range the part of ``[min,
    max]`` it covers (d_month_seq between 1200 and 1211: 12 of 2,400 months, where a ninth was
    guessed); the columns as if independent. Nulls tests keep their textbook guesses."""
    assert node.predicate is not None
    sel = 1.0
    atoms: list[tuple[str, str, Any]] = []
    for t in node.predicate.terms:
        if t.op == "is_in" and _hashable(t.value):
            atoms.append((t.column, "is_in", tuple(t.value)))
        elif t.op in _SCAN_OPS and t.value is not None and _hashable(t.value):
            atoms.append((t.column, _SCAN_OPS[t.op], t.value))
        else:
            sel *= {"is_null": 0.1, "is_not_null": 0.9}.get(t.op, 1 / 3)
    for name, ct in _tests_of(atoms).items():
        sel *= _test_selectivity(ct, node.source.column_statistics(name))
    return sel


def _scan(node: ScanSource, refined: bool = False) -> Estimate:
    st = source_statistics(node.source)
    if st.num_rows is None:
        return Estimate(None, None)
    rows = float(st.num_rows)
    size = float(st.size_bytes) if st.size_bytes is not None else None
    if size is not None and node.columns is not None:
        full = node.full_schema().names_view
        if st.column_sizes and all(c in st.column_sizes for c in node.columns):
            size = float(sum(st.column_sizes[c] for c in node.columns))
        elif full:
            size = size * len(node.columns) / len(full)
    if node.predicate is not None:
        if refined:
            sel = _scan_selectivity(node)
        else:
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


def refined_estimate(plan: LogicalPlan) -> Estimate:
    """``estimate`` with the comparisons with constants read from the columns' statistics (in
    filters and scan predicates: ``d_year = 2001`` keeps 365 of 73,049 dates, not a tenth;
    ``_scan_selectivity``) and inner joins estimated by key containment (``_inner_join_rows``: a
    fact table joined with a year of dates keeps a year of facts, not all of them; semi joins
    too: ``_semi_join_keeps``). No rule reads it yet: ``estimate`` keeps the textbook guesses
    the plans of join_order, broadcast and the lowering were measured with (with these numbers
    in it, 71 of the 143 benchmark queries' programs changed, several slower in a first A/B
    round)."""
    return memoized_by_identity("refined_estimate", _refined_estimate, plan)


def _estimate(plan: LogicalPlan) -> Estimate:
    return _estimate_node(plan, False)


def _refined_estimate(plan: LogicalPlan) -> Estimate:
    return _estimate_node(plan, True)


def _estimate_node(plan: LogicalPlan, refined: bool) -> Estimate:
    if isinstance(plan, ScanSource):
        return _scan(plan, refined)
    kids = [refined_estimate(c) if refined else estimate(c) for c in plan.children()]
    if isinstance(plan, Filter):
        (k,) = kids
        return k.scaled(None if k.rows is None else
                        k.rows * predicate_selectivity(plan.predicate, input_statistics(plan.input), refined))
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
            keep = _semi_join_keeps(plan, left.rows, right.rows) if refined and plan.how == "semi" else None
            return left.scaled(left.rows * (SEMI_JOIN_KEEPS if keep is None else keep))
        elif plan.how == "left":
            rows = left.rows
        elif plan.how == "right":
            rows = right.rows
        elif plan.how == "outer":
            rows = left.rows + right.rows
        elif refined:
            rows = _inner_join_rows(plan, left.rows, right.rows)
        else:  # inner: a key/foreign-key join keeps about the larger side
            rows = max(left.rows, right.rows)
        return Estimate(rows, None if width is None else width * rows)
    if kids:
        return kids[0]
    return Estimate(None, None)


def _inner_join_rows(join: Join, left: float, right: float) -> float:
    """An inner join's rows by key containment: each key pair keeps ``1 / max(ndv(l), ndv(r))``
    of the pairs of rows, a side's distinct keys at most its estimated rows (the most selective
    key fully, the next with its square root, as ``_branch_selectivity``). A fact table joined
    with a filtered dimension keeps the dimension's share: TPC-DS store_sales (2.9M rows, 1,823
    sale dates) joined with the 365 dates of ``d_year = 2001`` keeps 2.9M x 365 / 1,823 = 577k,
    not all 2.9M. Where a key is no plain column or its distinct values are unknown, a
    key/foreign-key join keeping about the larger side, as before."""
    lr, rr = max(left, 1.0), max(right, 1.0)
    sels: list[float] = []
    for lk, rk in zip(join.left_on, join.right_on):
        a, b = strip_alias(lk), strip_alias(rk)
        if not (isinstance(a, Column) and isinstance(b, Column)):
            return max(left, right)
        na, nb = column_ndv(join.left, a.name), column_ndv(join.right, b.name)
        if na is None or nb is None:
            return max(left, right)
        sels.append(1.0 / max(min(na, lr), min(nb, rr), 1.0))
    if not sels:
        return max(left, right)
    sel = 1.0
    for k, x in enumerate(sorted(sels)):
        sel *= x ** (1.0 / 2**k)
    return max(1.0, lr * rr * sel)


def _semi_join_keeps(join: Join, left: float, right: float) -> float | None:
    """The fraction of its left rows a semi join on one plain key keeps by key containment: the
    right side's distinct keys (at most its rows) over the left side's. TPC-DS q83 keeps the
    dates of three weeks, 21 of 73,049, where half was guessed. None where it cannot tell."""
    if len(join.left_on) != 1:
        return None
    a, b = strip_alias(join.left_on[0]), strip_alias(join.right_on[0])
    if not (isinstance(a, Column) and isinstance(b, Column)):
        return None
    na, nb = column_ndv(join.left, a.name), column_ndv(join.right, b.name)
    if na is None or nb is None:
        return None
    return min(1.0, min(nb, max(right, 1.0)) / max(min(na, max(left, 1.0)), 1.0))


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


def _kept_values(node: ScanSource, name: str) -> float | None:
    """How many values of column ``name`` the scan's pushed-down predicate lets through at most:
    one for an equality with a value, the listed ones for an IS IN (None where no term says).
    TPC-DS q4 joins store_sales with the dates of ``d_year = 2002``: grouped on ``d_year`` the
    dates hold one year, not the 201 between the column's smallest and largest values."""
    if node.predicate is None:
        return None
    out: float | None = None
    for t in node.predicate.terms:
        if t.column != name:
            continue
        if t.op == "==" and t.value is not None:
            n = 1.0
        elif t.op == "is_in":
            n = float(max(1, len(t.value)))
        else:
            continue
        out = n if out is None else min(out, n)
    return out


def column_ndv(plan: LogicalPlan, name: str) -> float | None:
    """Estimated distinct values of column ``name`` of ``plan``'s output: traced down to the scan
    that reads it, where an integer or date column holds at most ``max - min + 1`` values (from
    the file footers) and at most its non-null rows; a group-by key holds at most the groups
    (then known without statistics too), and at most the values the scan's own equality or IS IN
    on it lets through (``_kept_values``). Other filters, and joins above the scan, are ignored
    (the base table's count, as a join estimate wants it). None when the column cannot be traced
    or its source knows nothing."""
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
            kept = _kept_values(node, name)
            if kept is not None:
                ndv = kept if ndv is None else min(ndv, kept)
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
            side = _join_side(node, name)
            if side is None:
                return None
            node = side
            continue
        if isinstance(node, (Filter, Limit, Distinct, Sort)) and name in node.input.schema:
            node = node.input
            continue
        return None
