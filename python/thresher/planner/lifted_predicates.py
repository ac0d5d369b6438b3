"""Copies of a subplan that differ only by a scan predicate, made equal for the lowering to share.

A CTE read several times with a different filter on a column it passes through (TPC-DS q31:
``ss`` grouped by county, quarter and year, read for quarters 1, 2 and 3; q04/q11/q74:
``year_total`` grouped by customer and year, read for 2001 and for 2002) reaches the lowering as
copies that predicate pushdown made different: each copy's filter went through the group-by and
the joins into its own date_dim scan. Polars then scanned, joined and grouped the fact table once
per copy. Here each copy's differing terms are lifted back to its top, as a filter on the column
that carries them there, and every copy's scan takes the OR of the copies' predicates instead:

    Aggregate keys=[ca_county, d_qoy]            Filter d_qoy == 1
      Join ...                                      Aggregate keys=[ca_county, d_qoy]
        Scan date_dim [d_qoy == 1 AND d_year == 2000]     Join ...
    (and the same with d_qoy == 2)                  ->    Scan date_dim [d_year == 2000 AND d_qoy is_in (1, 2)]
                                                  (and the same over Filter d_qoy == 2)

The copies are then equal up to their columns, so :func:`~thresher.planner.polars_plan.shared_subplans`
computes them once (one cached frame), and each copy filters it. DuckDB materializes such a CTE
once; Polars' own common-subplan elimination compares whole plans and saw different ones.

Only where that costs no more than the copies did: the merged predicate is exactly the OR of the
copies' (the common terms, and either one copy's with no other term, or each copy's one other
term an equality or IS IN on the same column, merged into one IS IN), so the shared subplan
reads each fact row once where the copies read it once per copy. A term is lifted only through
nodes that keep its column's value with the row: renames, filters, the preserved side of a join (either side of an inner or cross join; a right join key by its
equal left key), and a group-by key; a filter there keeps the same rows as the filter below
(a group's key is the value of each of its rows; NULL fails both). Anything else (a window,
a limit, a union, an expression over the column) keeps the copies apart.

Where the differing scan is the right side of a semi join on a column that reaches the top
(TPC-DS q02: sales grouped by week, each copy's weeks those of one year's days), the copy's own
semi join is repeated over the shared subplan instead of a filter (:func:`_semi_join_on_top`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from thresher.expressions.expr import Alias, Call, Column, Expr, Literal
from thresher.io.predicate import Comparison, Predicate
from thresher.planner.logical import (
    Aggregate,
    Filter,
    Join,
    LogicalPlan,
    Project,
    ScanSource,
)

ShapeOf = Callable[[LogicalPlan], "tuple[Any, bool] | None"]
Merge = Callable[[list[LogicalPlan]], "LogicalPlan | None"]

_MISSING = object()


def lift_scan_predicates(root: LogicalPlan, shape_of: ShapeOf, leaves: Collection[int] = (),
                         merge: Merge | None = None) -> tuple[LogicalPlan, list[LogicalPlan]]:
    """``root`` with each group of copies that differ by one scan's predicate rewritten as
    described in the module docstring (``root`` itself when there is none). ``shape_of``: what a
    node computes apart from its inputs and columns (the lowering's ``_shape_of``); a scan's
    predicate is left out of it here. Subplans over one of ``leaves`` stay as they are.
    ``merge``: one subplan computing every column of equal subplans (the lowering's ``_merge``),
    which every rewritten copy then reads (see :func:`_lift`); those merged subplans are
    returned with the new root, for the lowering to cache each once (Polars' common-subplan
    elimination does not merge them: each reader's filter is pushed into its own copy first)."""
    if not _scans_differ(root):
        return root, []
    shapes: dict[int, tuple[int, bool] | None] = {}
    groups: dict[int, dict[int, LogicalPlan]] = {}
    interned: dict[Any, int] = {}
    # each node's scan predicates, in walk order, as a small number: copies whose numbers are
    # equal differ in no predicate (shared_subplans merges them as they are)
    preds: dict[int, int] = {}
    interned_preds: dict[Any, int] = {}

    def shape(node: LogicalPlan) -> tuple[int, bool] | None:
        got = shapes.get(id(node), _MISSING)
        if got is not _MISSING:
            return got  # type: ignore[return-value]
        kids = node.children()
        ks = [shape(c) for c in kids]
        out: tuple[int, bool] | None = None
        if isinstance(node, ScanSource):
            try:
                preds[id(node)] = interned_preds.setdefault(("p", node.predicate), len(interned_preds))
            except TypeError:  # (a value that does not hash: a predicate of its own)
                preds[id(node)] = interned_preds.setdefault(("id", id(node)), len(interned_preds))
        else:
            preds[id(node)] = interned_preds.setdefault(tuple(preds[id(c)] for c in kids), len(interned_preds))
        if id(node) not in leaves and all(k is not None for k in ks):
            if isinstance(node, ScanSource):
                own: tuple[Any, bool] | None = (("scan", node.source, node.columns, node.limit), False)
            else:
                own = shape_of(node)
            if own is not None:
                key = (own[0], tuple(k[0] for k in ks if k is not None))
                out = (interned.setdefault(key, len(interned)), own[1] or any(k[1] for k in ks if k is not None))
        shapes[id(node)] = out
        if out is not None and out[1]:
            groups.setdefault(out[0], {})[id(node)] = node
        return out

    shape(root)
    if not any(len(g) > 1 for g in groups.values()):
        return root, []
    replaced: dict[int, LogicalPlan] = {}
    shared: list[LogicalPlan] = []
    seen: set[int] = set()
    failed: set[int] = set()

    def visit(node: LogicalPlan) -> None:
        if id(node) in seen or id(node) in replaced:
            return
        seen.add(id(node))
        sh = shapes.get(id(node))
        members = groups.get(sh[0]) if sh is not None and sh[1] else None
        if members is not None and len(members) > 1 and sh is not None and sh[0] not in failed \
                and len({preds[i] for i in members}) > 1:
            done = _lift(list(members.values()), merge)
            if done is not None:
                replaced.update(done[0])
                if done[1] is not None:
                    shared.append(done[1])
                return
            failed.add(sh[0])  # (not asked again at the other copies)
        for c in node.children():
            visit(c)

    visit(root)
    if not replaced:
        return root, []
    built: dict[int, LogicalPlan] = {}

    def rebuild(node: LogicalPlan) -> LogicalPlan:
        got = built.get(id(node))
        if got is not None:
            return got
        new = replaced.get(id(node))
        if new is None:
            kids = node.children()
            new_kids = [rebuild(c) for c in kids]
            new = node if all(a is b for a, b in zip(kids, new_kids)) else node.with_children(new_kids)
        built[id(node)] = new
        return new

    return rebuild(root), shared


def _scans_differ(root: LogicalPlan) -> bool:
    """Whether two scans of one source with the same columns have different predicates (else
    there is nothing to lift: one walk, no expression key, on most plans)."""
    first: dict[tuple[int, Any], Predicate | None] = {}
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is ScanSource:
            key = (id(node.source), node.columns)  # type: ignore[attr-defined]
            pred = first.setdefault(key, node.predicate)  # type: ignore[attr-defined]
            if pred is not node.predicate and pred != node.predicate:  # type: ignore[attr-defined]
                return True
        else:
            todo.extend(node.children())
    return False


def _scans(node: LogicalPlan) -> list[ScanSource]:
    """``node``'s scans, in the order of a walk through its children (the same for copies of
    one shape)."""
    out: list[ScanSource] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ScanSource):
            out.append(n)
        todo.extend(reversed(n.children()))
    return out


def _lift(members: list[LogicalPlan],
          merge: Merge | None = None) -> tuple[dict[int, LogicalPlan], LogicalPlan | None] | None:
    """``id(member) -> its rewrite`` (and the merged subplan they all read, if any) for copies of one shape (scan predicates aside), or None
    (equal already, more than one scan differs, the merged read would cost more, or a term
    does not reach the top).

    The rewritten copies are one object (``merge`` of them, every copy's columns), each copy
    its own filter or semi join over it and its columns selected: copies that are equal above
    their lifted filters (TPC-DS q74: ``year_total``'s store-sales branch under the 2001 and
    the 2002 reads of its store and of its web rows) are shared by the lowering at that level,
    and the one object inside them is then cached once across them (as separate objects, each
    shared read computed the merged group-by again: both years, twice)."""
    scans = [_scans(m) for m in members]
    preds = [[s.predicate for s in ss] for ss in scans]
    differ = [i for i in range(len(scans[0])) if any(p[i] != preds[0][i] for p in preds[1:])]
    if len(differ) != 1:
        return None
    pos = differ[0]
    if any(ss[pos].limit is not None for ss in scans):
        return None
    try:
        terms = [set(p[pos].terms) if p[pos] is not None else set() for p in preds]  # type: ignore[union-attr]
    except TypeError:  # (a value that does not hash)
        return None
    common = set.intersection(*terms)
    diffs = [t - common for t in terms]
    merged = _merged_term(diffs)
    if merged is _MISSING:
        return None
    first = scans[0][pos].predicate
    order = [t for t in (first.terms if first is not None else ()) if t in common]
    if merged is not None and merged not in common:
        order.append(merged)  # type: ignore[arg-type]
    pred = Predicate(tuple(order)) if order else None
    lifted: list[tuple[LogicalPlan, list[LogicalPlan], Callable[[LogicalPlan], LogicalPlan] | None]] = []
    for member, ss, diff in zip(members, scans, diffs):
        scan = ss[pos]
        path = _path(member, scan)
        if path is None:
            return None
        top = _filter_on_top(member, path, diff) if diff else None
        if diff and top is None:
            top = _semi_join_on_top(path)
        if diff and top is None:
            return None
        lifted.append((member, path, top))
    rewritten: list[LogicalPlan] = []
    for _member, path, _top in lifted:
        read = path[-1]
        assert isinstance(read, ScanSource)
        node: LogicalPlan = ScanSource(read.source, read.columns, pred, None)
        for parent, child in zip(reversed(path[:-1]), reversed(path[1:])):
            node = parent.with_children([node if c is child else c for c in parent.children()])
        rewritten.append(node)
    shared = merge(rewritten) if merge is not None else None
    out: dict[int, LogicalPlan] = {}
    for (member, _walk, top), own in zip(lifted, rewritten):
        node = own if shared is None else shared
        if top is not None:
            node = top(node)
        if node.schema.names != member.schema.names:
            node = Project(node, tuple(Column(n) for n in member.schema.names))
        out[id(member)] = node
    return out, shared


def _filter_on_top(member: LogicalPlan, path: list[LogicalPlan],
                   diff: set[Comparison]) -> Callable[[LogicalPlan], LogicalPlan] | None:
    """A copy's differing scan terms as a filter over the rewritten copy (None: a term's column
    does not reach its top)."""
    scan = path[-1]
    conj: list[Expr] = []
    for t in sorted(diff, key=str):
        if t.column not in scan.schema or (t.nan_greatest and t.op not in ("==", "is_in")):
            # (the column read for the filter only; a float's NaN, which the scan's own rule keeps
            # for > and >=, not checked against a filter's here)
            return None
        name = _lifted_name(path, t.column)
        if name is None:
            return None
        conj.append(_term_expr(t, name, member.schema[name]))
    pred = conj[0]
    for c in conj[1:]:
        pred = Call("and", (pred, c))
    return lambda node: Filter(node, pred)


def _semi_join_on_top(path: list[LogicalPlan]) -> Callable[[LogicalPlan], LogicalPlan] | None:
    """Where the differing scan (under renames and filters) is the right side of a semi join on
    one column that reaches the copy's top: that semi join again over the rewritten copy, with
    the copy's own right side (TPC-DS q02: the sales of the weeks of one year, the weeks a
    semi join of date_dim with the days of that year). The rewritten copy's semi join keeps the
    rows of either year's weeks; the one on top keeps this year's, as the copy did."""
    k = len(path) - 2
    while k >= 0 and isinstance(path[k], (Project, Filter)):
        k -= 1
    semi = path[k] if k >= 0 else None
    if not (isinstance(semi, Join) and semi.how == "semi" and path[k + 1] is semi.right
            and len(semi.left_on) == 1 and not semi.nulls_equal):
        return None
    left_key, right_key = _plain_column(semi.left_on[0]), semi.right_on[0]
    if left_key is None:
        return None
    name = _lifted_name(path[:k + 1], left_key)
    if name is None:
        return None
    right = semi.right
    return lambda node: Join(node, right, (Column(name),), (right_key,), "semi", semi.suffix)


def _merged_term(diffs: list[set[Comparison]]) -> Comparison | None | object:
    """The one term that is the OR of every copy's ``diffs`` (None: some copy has none, the OR
    is everything the common terms keep), or ``_MISSING`` where no single term is."""
    if any(not d for d in diffs):
        return None
    if any(len(d) != 1 for d in diffs):
        return _MISSING
    ts = [next(iter(d)) for d in diffs]
    col = ts[0].column
    if any(t.column != col or t.op not in ("==", "is_in") for t in ts):
        return _MISSING
    values: list[Any] = []
    for t in ts:
        for v in (t.value if t.op == "is_in" else (t.value,)):
            if v not in values:
                values.append(v)
    return Comparison(col, "==", values[0]) if len(values) == 1 else Comparison(col, "is_in", tuple(values))


def _path(node: LogicalPlan, target: LogicalPlan) -> list[LogicalPlan] | None:
    """The nodes from ``node`` down to the object ``target`` (None: not below it, or below it
    through two children: a node object with two parents)."""
    found: list[LogicalPlan] | None = None
    stack: list[tuple[LogicalPlan, list[LogicalPlan]]] = [(node, [node])]
    while stack:
        n, path = stack.pop()
        if n is target:
            if found is not None:
                return None
            found = path
            continue
        stack.extend((c, path + [c]) for c in n.children())
    return found


def _plain_column(e: Expr) -> str | None:
    while isinstance(e, Alias):
        e = e.child
    return e.name if isinstance(e, Column) else None


def _lifted_name(path: list[LogicalPlan], column: str) -> str | None:
    """The column of ``path[0]``'s output holding the scan ``path[-1]``'s ``column`` unchanged
    on every row (None: no such column, or a node on the way could change which rows a filter
    on it keeps)."""
    name = column
    for node, child in zip(reversed(path[:-1]), reversed(path[1:])):
        got: str | None = None
        if isinstance(node, Filter):
            got = name
        elif isinstance(node, Project):
            got = next((e.output_name() for e in node.exprs if _plain_column(e) == name), None)
        elif isinstance(node, Aggregate):
            got = next((k.output_name() for k in node.keys if _plain_column(k) == name), None)
        elif isinstance(node, Join):
            if child is node.left:
                if node.how in ("inner", "cross", "left", "semi", "anti") and name in node.schema:
                    got = name
            elif node.how in ("inner", "cross"):
                if name in node.coalesced_right_keys():
                    # (an inner join's right key: its row's left key holds the same value)
                    pair = next((lk for lk, rk in zip(node.left_on, node.right_on) if _plain_column(rk) == name),
                                None)
                    got = _plain_column(pair) if pair is not None else None
                else:
                    got = name + node.suffix if name in node.left.schema else name
                if got is not None and got not in node.schema:
                    got = None
        if got is None:
            return None
        name = got
    return name


def _term_expr(t: Comparison, name: str, dtype: Any) -> Expr:
    """``t`` as a filter term on the column ``name`` (of type ``dtype``)."""
    col = Column(name)
    if t.op == "is_in":
        return Call("is_in", (col,), (("values", tuple(t.value)),))
    if t.op in ("is_null", "is_not_null"):
        return Call(t.op, (col,))
    return Call(_CALLS[t.op], (col, Literal(t.value, dtype)))


_CALLS = {"==": "eq", "!=": "neq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
