"""predicate_pushdown: move each term of a filter as far down the plan as it stays correct.

Before::

    Filter (col("year") = 1995) & (col("n") > 3)
      Project [col("o_date").dt.year().alias("year"), col("n")]
        Scan orders

After::

    Project [col("o_date").dt.year().alias("year"), col("n")]
      Filter (col("o_date").dt.year() = 1995)
        Scan orders predicate=[n > 3]

Terms go through projections and ``with_columns`` (by substitution, only when the substituted
expression is cheap), sorts, unions, explodes (terms not on the exploded column), aggregates
(terms on group keys), ``unique(subset)`` and windows (terms on the subset / partition columns),
joins (each side's terms to that side: both sides of inner joins, the left side of left, semi and
anti joins, the right side of right joins; a term on an equi-join key is copied to the other
side's key; an OR of ANDs over both sides is first written in conjunctive normal form when that
is small, so its one-sided clauses go down too) and finally into scans as a neutral ``Predicate`` (row-group statistics, partition
pruning, file stats). A filter stacked on a cheaper filter (``cheap_predicate_first``'s output)
commutes with it, so its terms keep moving down past it.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import math
from typing import Any

from thresher.datatypes import DataType, Schema
from thresher.expressions.cost import cost_class, cost_rank
from thresher.expressions.expr import (
    Alias,
    Call,
    Column,
    Expr,
    Literal,
    combine_conjunction,
    split_conjunction,
    strip_alias,
)
from thresher.io.predicate import Comparison, Predicate
from thresher.planner.logical import (
    Aggregate,
    Distinct,
    Explode,
    Filter,
    Join,
    LogicalPlan,
    Project,
    Repartition,
    ScanSource,
    Sort,
    Union,
    Window,
)
from thresher.planner.memo import rule_memo
from thresher.planner.optimizer.rules._util import rewrite_top_down, substitute

_FLIP = {"eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _coerce_literal(value: Any, dtype: DataType) -> Any:
    if value is None:
        return None
    if dtype.kind == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return decimal.Decimal(str(value))
    if dtype.kind == "timestamp" and isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.datetime(value.year, value.month, value.day)
    if dtype.is_float() and isinstance(value, decimal.Decimal):
        return float(value)
    if dtype.is_integer() and isinstance(value, float):
        return None  # int column vs float literal: leave it to the engine
    if dtype == DataType.uint64() and isinstance(value, int):
        # (pyarrow compares a uint64 column with an int64 scalar in int64: u < 100 failed where a
        # value passed 2^63 - 1, "Integer value ... not in range": left to the engine)
        return None
    return value


def to_comparison(term: Expr, schema: Schema) -> Comparison | None:
    """``col op literal`` (either order), ``is_in``, ``is_null`` as a neutral Comparison."""
    if not isinstance(term, Call):
        return None
    if term.name in _FLIP and len(term.args) == 2:
        a, b = term.args
        op = _FLIP[term.name]
        if isinstance(b, Column) and isinstance(a, Literal):
            a, b, op = b, a, _MIRROR[op]
        if isinstance(a, Column) and isinstance(b, Literal) and a.name in schema:
            dtype = schema[a.name]
            if dtype.is_media() or b.value is None or dtype.is_list() or dtype.is_struct():
                return None
            v = _coerce_literal(b.value, dtype)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return None  # (NaN equals NaN in Polars and DuckDB, in no source's own filter)
            return Comparison(a.name, op, v, nan_greatest=dtype.is_float())  # type: ignore[arg-type]
        return None
    if term.name == "is_in" and isinstance(term.args[0], Column) and term.args[0].name in schema:
        dtype = schema[term.args[0].name]
        if dtype.is_media() or dtype.kind == "decimal":
            return None
        if dtype.is_integer() and any(isinstance(v, (float, decimal.Decimal)) for v in term.option("values", ())):
            return None  # (x IN (2, 1.5) compares as numbers: no source's own list of x's type holds 1.5)
        values = tuple(_coerce_literal(v, dtype) for v in term.option("values", ()))
        if dtype.is_float():
            # (an integer in a float column's list: Polars' is_in refuses Int64 values for Float64 data)
            values = tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values)
            # (-0.0 equals 0.0, but Arrow's is_in hashes them apart: the list holds both zeros)
            values += tuple(math.copysign(0.0, -math.copysign(1.0, v)) for v in values
                            if isinstance(v, float) and v == 0.0)
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            return None  # (NaN is in a list holding NaN in Polars and DuckDB, in no source's own filter)
        return Comparison(term.args[0].name, "is_in", values)
    if term.name in ("is_null", "is_not_null") and isinstance(term.args[0], Column) and term.args[0].name in schema:
        return Comparison(term.args[0].name, term.name)  # type: ignore[arg-type]
    return None


def _substituted(term: Expr, cols: set[str], mapping: dict[str, Expr]) -> list[Expr]:
    """The conjuncts of ``term`` with a projection's expressions substituted for its columns,
    folded as constant_folding would in the next pass where a column stood for a literal (a union
    branch's constant compared with the one a filter above the union wants: TPC-DS q04's
    ``sale_type = 's'`` in each branch), so the rules in between see what the filter keeps, and
    constant_folding, quiet before, has nothing to fold or split after this rule (it declares
    QUIET_AFTER this rule): without a literal put in, substituting builds no call of literals
    only, and an AND put in (a boolean column computed as one) is split into its terms here."""
    out = substitute(term, mapping)
    fold = isinstance(out, Call) and bool(out.args) and all(isinstance(a, Literal) for a in out.args)
    if not fold:
        for c in cols:
            m = mapping[c]
            while isinstance(m, Alias):
                m = m.child
            if isinstance(m, Literal):
                fold = True
                break
    if fold:
        from thresher.planner.optimizer.rules.constant_folding import fold as fold_literals

        out = fold_literals(out)
    return split_conjunction(out) if isinstance(out, Call) and out.name == "and" else [out]


def _wrap(node: LogicalPlan, terms: list[Expr]) -> LogicalPlan:
    """``terms`` (of the filter being pushed, or substituted for the columns ``node`` gives the
    same types) over ``node``: type-checked already (see Filter.of_checked_terms)."""
    return Filter.of_checked_terms(node, combine_conjunction(terms)) if terms else node


def _push(filter_: Filter) -> LogicalPlan | None:
    child = filter_.input
    terms = split_conjunction(filter_.predicate)

    if isinstance(child, ScanSource):
        src = child.source
        if not src.supports_predicate:
            return None
        full = child.full_schema()
        pushed: list[Comparison] = []
        rest: list[Expr] = []
        for t in terms:
            c = to_comparison(t, full)
            if c is not None and (child.predicate is None or c not in child.predicate.terms):
                pushed.append(c)
                if not src.exact_predicate:
                    rest.append(t)
            elif c is not None:
                if not src.exact_predicate:
                    rest.append(t)
            else:
                rest.append(t)
        if not pushed and len(rest) == len(terms):
            return None
        if child.limit is not None:
            return None  # a scan limit applies after its predicate: adding terms would change rows
        pred = Predicate(tuple(pushed)).and_(child.predicate) if pushed else child.predicate
        scan = ScanSource(src, child.columns, pred, child.limit)
        if not pushed and len(rest) == len(terms):
            return None
        return _wrap(scan, rest)

    if isinstance(child, Project):
        mapping = {e.output_name(): e for e in child.exprs}
        down: list[Expr] = []
        up: list[Expr] = []
        for t in terms:
            cols = t.columns()
            if all(c in mapping and cost_class(strip_alias(mapping[c])) == "scalar" for c in cols):
                for x in _substituted(t, cols, mapping):
                    if not (isinstance(x, Literal) and x.value is True):
                        down.append(x)
            else:
                up.append(t)
        if not down and len(up) == len(terms):
            return None
        return _wrap(child.with_children([_wrap(child.input, down)]) if down else child, up)

    if isinstance(child, (Sort, Repartition)):
        return child.with_children([Filter.of_checked_terms(child.input, filter_.predicate)])

    if isinstance(child, Distinct) and child.subset is None:
        return child.with_children([Filter.of_checked_terms(child.input, filter_.predicate)])

    if isinstance(child, Distinct) or isinstance(child, Window):
        # rows that agree on the subset / partition columns are kept or dropped together
        if isinstance(child, Distinct):
            keys = set(child.subset or ())
        else:
            produced = {e.output_name() for e in child.exprs}
            keys = {strip_alias(k).name for k in child.partition_by  # type: ignore[attr-defined]
                    if isinstance(strip_alias(k), Column)} - produced
        down = [t for t in terms if t.columns() and t.columns() <= keys]
        up = [t for t in terms if not (t.columns() and t.columns() <= keys)]
        if not down:
            return None
        return _wrap(child.with_children([_wrap(child.input, down)]), up)

    if isinstance(child, Filter) and cost_rank(cost_class(child.predicate)) < cost_rank(cost_class(filter_.predicate)):
        below = _push(Filter.of_checked_terms(child.input, filter_.predicate))
        if below is None:
            return None
        return Filter.of_checked_terms(below, child.predicate)

    if isinstance(child, Union):
        return Union(tuple(Filter(i, filter_.predicate) for i in child.inputs))

    if isinstance(child, Explode):
        down = [t for t in terms if not (t.columns() & set(child.columns))]
        up = [t for t in terms if t.columns() & set(child.columns)]
        if not down:
            return None
        return _wrap(child.with_children([_wrap(child.input, down)]), up)

    if isinstance(child, Aggregate):
        key_map = {k.output_name(): strip_alias(k) for k in child.keys}
        down, up = [], []
        for t in terms:
            cols = t.columns()
            if cols and all(c in key_map and isinstance(key_map[c], Column) for c in cols):
                down.append(substitute(t, key_map))
            else:
                up.append(t)
        if not down:
            return None
        return _wrap(child.with_children([_wrap(child.input, down)]), up)

    if isinstance(child, Join):
        return _push_join(child, terms)
    return None


#: an OR of ANDs over both sides of a join is rewritten in conjunctive normal form (``(a & b) | (c & d)``
#: -> ``(a | c) & (a | d) & (b | c) & (b | d)``, exact in three-valued logic too) when that has at most
#: this many clauses and one of them is on one side: TPC-H Q7 written with the DataFrame API,
#: ``(supp_nation == 'FRANCE') & (cust_nation == 'GERMANY') | (...)`` over a five-way join, then filters
#: each nation scan to the two nations and the join order sees it (the SQL front end's normal form
#: does the same for the SQL text)
MAX_CNF_CLAUSES = 8


def _split_disjunction(e: Expr) -> list[Expr]:
    if isinstance(e, Call) and e.name == "or":
        return _split_disjunction(e.args[0]) + _split_disjunction(e.args[1])
    return [e]


def _cnf_clauses(term: Expr, one_side: Any) -> list[Expr] | None:
    """``term`` (an OR of ANDs) as its CNF clauses when small and some clause is one-sided, else None."""
    branches = [split_conjunction(b) for b in _split_disjunction(term)]
    if len(branches) < 2 or all(len(b) == 1 for b in branches):
        return None
    if math.prod(len(b) for b in branches) > MAX_CNF_CLAUSES:
        return None
    clauses: list[Expr] = []
    seen: set[tuple[Any, ...]] = set()
    for combo in itertools.product(*branches):
        atoms: list[Expr] = []
        keys: set[tuple[Any, ...]] = set()
        for a in combo:
            if a.key() not in keys:
                keys.add(a.key())
                atoms.append(a)
        clause = atoms[0]
        for a in atoms[1:]:
            clause = Call("or", (clause, a))
        if clause.key() not in seen:
            seen.add(clause.key())
            clauses.append(clause)
    return clauses if any(one_side(c) for c in clauses) else None


def _holds_below(node: LogicalPlan, term: Expr) -> bool:
    """Whether ``term`` (over ``node``'s output) is a term of a filter below ``node``, found where
    this rule pushes it: through projections (substituted), sorts, filters and inner joins."""
    while True:
        cols = term.columns()
        if not cols:
            return False
        if isinstance(node, Filter):
            if any(t.key() == term.key() for t in split_conjunction(node.predicate)):
                return True
            node = node.input
        elif isinstance(node, (Sort, Repartition)):
            node = node.input
        elif isinstance(node, Project):
            mapping = {e.output_name(): e for e in node.exprs}
            if not all(c in mapping and cost_class(strip_alias(mapping[c])) == "scalar" for c in cols):
                return False
            out = _substituted(term, cols, mapping)
            if len(out) != 1:
                return all(_holds_below(node.input, x) for x in out)
            term, node = out[0], node.input
        elif isinstance(node, Join) and node.how in ("inner", "cross"):
            left_names = set(node.left.schema.names_view)
            right_map: dict[str, str] = {}
            dropped = node.coalesced_right_keys()
            for f in node.right.schema.fields:
                if f.name not in dropped:
                    right_map[f.name + node.suffix if f.name in left_names else f.name] = f.name
            right_only = set(right_map) - left_names
            if cols <= left_names and not (cols & right_only):
                node = node.left
            elif all(c in right_map for c in cols):
                renamed = {o: Column(right_map[o]) for o in cols if right_map[o] != o}
                term, node = (substitute(term, renamed) if renamed else term), node.right
            else:
                return False
        else:
            return False


def _push_join(join: Join, terms: list[Expr]) -> LogicalPlan | None:
    left_names = set(join.left.schema.names_view)
    # output name -> right input column name
    right_map: dict[str, str] = {}
    dropped = join.coalesced_right_keys()
    for f in join.right.schema.fields:
        if f.name in dropped:
            continue
        right_map[f.name + join.suffix if f.name in left_names else f.name] = f.name
    can_left = join.how in ("inner", "left", "semi", "anti", "cross")
    can_right = join.how in ("inner", "right", "cross")
    right_only = set(right_map) - left_names

    def one_side(t: Expr) -> bool:
        cols = t.columns()
        return bool(cols) and ((cols <= left_names and can_left and not (cols & right_only))
                               or (all(c in right_map for c in cols) and can_right))

    if join.how in ("inner", "cross"):
        expanded: list[Expr] = []
        pushed = rule_memo("predicate_pushdown.cnf")
        for t in terms:
            clauses = None if one_side(t) or t.key() in pushed else _cnf_clauses(t, one_side)
            if clauses is not None and all(_holds_below(join, c) for c in clauses if one_side(c)):
                # pushed down already (by an earlier application: outside an optimize() call
                # ``pushed`` is not remembered, and this rule applied to its own output stacked the
                # clauses again on every side, 64 times)
                pushed[t.key()] = t
                clauses = None
            if clauses is None:
                expanded.append(t)
                continue
            # the one-sided clauses go down; the OR of ANDs itself stays above as written (it
            # implies the ones that went down), not its clauses over both sides: from it Polars
            # derives each side's filter again, and with those (as is_in lists, see
            # expr_to_polars._or_as_is_in) estimates TPC-H Q7's customer side small enough to
            # filter lineitem's scan by the join keys while it runs (a dynamic predicate; Q7
            # 262 -> 207 ms CPU, neither change alone). Remembered as pushed: the next pass
            # leaves it where it is.
            pushed[t.key()] = t
            expanded.extend(c for c in clauses if one_side(c))
            expanded.append(t)
        terms = expanded
    left_terms, right_terms, up = [], [], []
    copied = False  # a term copied to the other key of an equi-join: that key may have another type
    for t in terms:
        cols = t.columns()
        if cols and cols <= left_names and can_left and not (cols & right_only):
            left_terms.append(t)
            # equi-join keys: a term on a left key also holds for the matching right key
            if join.how in ("inner", "semi", "left", "anti") and len(cols) == 1:
                (c,) = cols
                for lk, rk in zip(join.left_on, join.right_on):
                    if isinstance(lk, Column) and lk.name == c and isinstance(rk, Column):
                        right_terms.append(substitute(t, {c: rk}))
                        copied = True
        elif cols and all(c in right_map for c in cols) and can_right:
            # (a mapping of the term's own columns that the join renames: one of every right column
            # cost more than the push, and a term whose columns keep their names is the same term,
            # whose answers (columns, type, cost) its expression objects already hold)
            renamed = {o: Column(right_map[o]) for o in cols if right_map[o] != o}
            right_terms.append(substitute(t, renamed) if renamed else t)
        else:
            up.append(t)
    if not left_terms and not right_terms:
        return None
    # a constant term decides every row: it goes down with the terms it sat beside too, so that a
    # term whose evaluation can fail (SQL's % by 0) runs only where it is not FALSE, as in one filter
    # (WHERE b % (-1 // 3) <> 1 AND (-1 // 3) <> 0 beside a decorrelated subquery raised "division
    # by zero"; it stays above as well)
    constants = [t for t in up if not t.columns()]
    if constants:
        left_terms = [*constants, *left_terms] if left_terms else left_terms
        right_terms = [*constants, *right_terms] if right_terms else right_terms
    left = _wrap(join.left, left_terms)
    right = Filter(join.right, combine_conjunction(right_terms)) if copied else _wrap(join.right, right_terms)
    new = join.with_children([left, right])  # a filter keeps its input's schema: nothing to derive again
    return _wrap(new, up)

#: a plan projection_pushdown narrowed from one this rule left unchanged stays unchanged (the runner
#: skips it there; ``optimize(validate=True)`` runs it and checks):
QUIET_AFTER_NARROWING = ("where a term goes depends on the columns it reads (kept), the node kinds and "
                         "the names two join sides share (kept), not on the columns left")


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if isinstance(node, Filter):
            out = _push(node)
            if out is not None and out != node:
                return out
        return None

    return rewrite_top_down(plan, visit, only=(Filter,))
