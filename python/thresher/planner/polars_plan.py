"""A relational subtree of the logical plan as a Polars LazyFrame program.

:class:`PolarsProgram` is what a ``relational`` stage carries: called with one LazyFrame per
stage input it returns the subtree's LazyFrame; the executor materializes the inputs and
collects the result (``engine/polars_frames.py``). Scans that Polars can read itself come from
``Source.polars_scan`` (with our pushed-down columns and predicate). An inner, left, semi, anti
or cross join on same-typed columns whose output names Polars gives as Thresher's schema says is
a Polars join of the columns as they are; any other join renames both sides' columns to positional names
first, so output naming follows Thresher's schema rules exactly (suffixes, coalesced keys)
rather than Polars'.

A join whose right side groups on the join keys (a decorrelated subquery: TPC-H Q2, Q17, Q20,
Q21; a semi or anti join too) passes the left side's keys down to the group-by: its input is
semi-joined with the left side's frame first, so only the groups the join can keep are computed
(a "magic set", as DuckDB's delim join and Polars' own SQL do). The left frame is one cached
LazyFrame in both places, so Polars computes it once. The optimizer's
``semi_join_reduction`` rule can only use an input strictly below the left side (a logical plan
has no shared nodes); here the whole, already filtered and joined, left side serves. The
same cached left side reduces a semi or anti join's big right side to the left keys' rows first
(:func:`_key_set_reduced`), so the join's hash table is built on those few.
"""

from __future__ import annotations

import contextvars
import operator
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher._polars import drop_column as _drop_column
from thresher._polars import filter_ as _filter
from thresher._polars import group_by_agg as _group_by_agg
from thresher._polars import join as _join_frames
from thresher._polars import select as _select
from thresher._polars import select_columns as _select_columns
from thresher._polars import sort as _sort
from thresher._polars import with_columns as _with_columns
from thresher.datatypes import Schema, supertype
from thresher.errors import ThresherExecutionError, UnsupportedError
from thresher.expressions.cost import cost_class
from thresher.expressions.expr import (
    Alias,
    Call,
    Column,
    Expr,
    combine_conjunction,
    plain_column_names,
    split_conjunction,
    strip_alias,
)
from thresher.io.predicate import Comparison, Predicate, predicate_to_polars
from thresher.io.source import Source
from thresher.operators.expr_to_polars import (
    KEYED_GROUP_BY,
    cast,
    filter_to_polars,
    is_in_as_equalities,
    is_in_by_equalities,
    needs_guard,
    polars_col,
    polars_dtype,
    polars_error_message,
    to_polars,
)
from thresher.planner.dictionary_keys import decode, encode_group_keys, encoded_keys, joins_built
from thresher.planner.lifted_predicates import lift_scan_predicates
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
from thresher.planner.memo import SCOPE_VAR
from thresher.planner.stats import column_ndv, estimate

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

LeafResolver = Callable[[LogicalPlan], "pl.LazyFrame"]


def _cast_to(lf: pl.LazyFrame, schema: Schema) -> pl.LazyFrame:
    return lf.select([pl.col(f.name).cast(polars_dtype(f.dtype)) for f in schema.fields])


def build_lazy(node: LogicalPlan, leaf: LeafResolver, leaves: Collection[int] = ()) -> pl.LazyFrame:
    """Translate ``node`` (and its relational descendants) into a LazyFrame; ``leaves``: the ids
    of the nodes ``leaf`` reads (another stage's output), never merged into a shared subplan.

    The plan statistics the lowering asks for (every join estimates its sides, each estimate
    walks the subtree below) are computed once per node for the whole build (a memo scope):
    without it, a chain of joins estimated its left side again at each join (the scope's
    context variable set here: ``memo_scope()``'s context manager is three more calls a program)."""
    scope_token = SCOPE_VAR.set({})
    try:
        return _build_lazy(node, leaf, leaves)
    finally:
        SCOPE_VAR.reset(scope_token)


def _build_lazy(node: LogicalPlan, leaf: LeafResolver, leaves: Collection[int]) -> pl.LazyFrame:
    token = _MEMO.set({})
    twice = _reads_twice(node)
    lifted: list[LogicalPlan] = []
    if twice and LIFT_SCAN_PREDICATES:
        node, lifted = lift_scan_predicates(node, _shape_of, leaves, _merge)
    shared = shared_subplans(node, leaves) if twice else {}
    encoded = False
    if ENCODE_GROUP_KEYS:
        # (after the lifting: a copy's differing term on a key column is lifted through its
        # rename, and copies made equal are encoded alike, so they are still shared)
        new, new_lifted = encode_group_keys(node, leaves, lifted)
        if new is not node:
            if not twice:
                encoded, node, lifted = True, new, new_lifted
            else:
                # (not where the encoding leaves a shared subplan apart: see dictionary_keys)
                new_shared = shared_subplans(new, leaves)
                for m in new_lifted:
                    new_shared.setdefault(id(m), (m, m))
                old = dict(shared)
                for m in lifted:
                    old.setdefault(id(m), (m, m))
                if joins_built(new, new_shared) <= joins_built(node, old):
                    encoded, node, lifted, shared = True, new, new_lifted, new_shared
    for m in lifted:  # (each read by its copies' filters: cached explicitly, see lift_scan_predicates)
        shared.setdefault(id(m), (m, m))
    shared_token = _SHARED.set(shared)
    scans_token = _SCANS.set({})
    reads_token = _SHARED_READS.set(shared_reads(node) if twice else {})
    encoded_token = _ENCODED.set(encoded)
    try:
        return _build(node, leaf)
    except pl.exceptions.PolarsError as exc:
        raise ThresherExecutionError(f"planning {node.describe()}: {polars_error_message(exc)}") from exc
    finally:
        _ENCODED.reset(encoded_token)
        _SHARED_READS.reset(reads_token)
        _SCANS.reset(scans_token)
        _SHARED.reset(shared_token)
        _MEMO.reset(token)


#: whether group-by string keys from small join sides are grouped as Categoricals (see
#: :mod:`thresher.planner.dictionary_keys`)
ENCODE_GROUP_KEYS = True

#: whether this build_lazy call's plan has keys dictionary_keys encoded (each aggregate then
#: decodes those of its keys, see dictionary_keys.encoded_keys)
_ENCODED: contextvars.ContextVar[bool] = contextvars.ContextVar("thresher_polars_encoded_keys", default=False)


#: whether copies of a subplan that differ by one scan's predicate are made equal (and so shared)
#: by lifting the differing terms to their tops (see :mod:`thresher.planner.lifted_predicates`)
LIFT_SCAN_PREDICATES = True


def _reads_twice(root: LogicalPlan) -> bool:
    """Whether ``root`` reads a source twice: two scans of one source, or a node object with two
    parents (a subplan read twice). Without either, :func:`shared_subplans` (two distinct
    subplans with the same shape read the same sources, each its own scan or a shared one) and
    :func:`shared_reads` (two reads of one table) find nothing, and their walks (outlines of
    every node, the reads' conjuncts) are skipped: one walk with no expression work instead
    (most TPC-H plans read each table once)."""
    seen: set[int] = set()
    sources: set[Any] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, ScanSource):
            n = len(sources)
            sources.add(node.source)  # (sources compare as plans do: by identity(); hashed once)
            if len(sources) == n:
                return True
        todo.extend(node.children())
    return False


def _bare_scan(node: LogicalPlan) -> bool:
    """``node`` is a scan under renames and filters."""
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, ScanSource)


#: one build_lazy call's shared subplans (see :func:`shared_subplans`)
_SHARED: contextvars.ContextVar[dict[int, tuple[LogicalPlan, LogicalPlan]] | None] = contextvars.ContextVar(
    "thresher_polars_shared_subplans", default=None)


def shared_subplans(root: LogicalPlan, leaves: Collection[int] = (),
                    cached: bool = False) -> dict[int, tuple[LogicalPlan, LogicalPlan]]:
    """Subplans of ``root`` that compute the same rows as another one, up to their columns:
    ``id(node) -> (node, merged)``, where ``merged`` computes the union of their columns.

    A query that repeats a join under two consumers that need different columns (TPC-H Q11:
    partsupp, supplier and nation joined for the groups and again for the HAVING subquery's
    total, the second without ``ps_partkey``) gets two subplans that differ only in what
    projection pushdown kept; Polars' common-subplan elimination compares whole plans, so both
    were computed. Here both read one cached frame of the merged subplan and select their
    columns from it (Polars' SQL does the same through its own CSE, DuckDB through CTE
    materialization). Only subplans with a join or a group-by are shared (a bare scan twice
    is what Polars already merges); the largest ones first. A subplan over one of ``leaves``
    (the ids of another stage's outputs: two equal UDF projections, say) is not: the merged
    copy would be a new node that no stage feeds.

    A merged subplan is a new plan, built instead of its members: the subplans repeated within
    it are found by this function again, on it alone, with ``cached`` (it is built under a
    cache). TPC-DS Q14 groups a union of three channels' aggregates BY ROLLUP: each of the five
    grouping sets reads a copy of the finest aggregate (the union included), and within it the
    channels read the same CTEs (``cross_items``, ``avg_sales``).
    """
    if not cached and not _may_share(root):
        return {}
    shapes: dict[int, tuple[int, bool] | None] = {}
    groups: dict[tuple[int, bool], dict[int, LogicalPlan]] = {}
    # each distinct shape as a small number: a parent's shape is its own key and its children's
    # numbers (hashing nested shapes costs the subtree's size at every node: 7.6 ms on TPC-DS q04)
    interned: dict[Any, int] = {}

    def shape(node: LogicalPlan) -> tuple[int, bool] | None:
        got = shapes.get(id(node), _MISSING)
        if got is not _MISSING:
            return got  # type: ignore[return-value]
        if id(node) in leaves:
            shapes[id(node)] = None
            return None
        kids = [shape(c) for c in node.children()]
        out: tuple[int, bool] | None = None
        if all(k is not None for k in kids):
            own = _shape_of(node)
            if own is not None:
                key = (own[0], tuple(k[0] for k in kids if k is not None))
                out = (interned.setdefault(key, len(interned)), own[1] or any(k[1] for k in kids if k is not None))
        shapes[id(node)] = out
        if out is not None and out[1]:
            groups.setdefault(out, {})[id(node)] = node
        return out

    shape(root)
    if not cached and not any(len(g) > 1 for g in groups.values()):
        return {}
    found: dict[int, tuple[LogicalPlan, LogicalPlan]] = {}
    seen: set[int] = set()

    def visit(node: LogicalPlan) -> None:
        if id(node) in seen:
            sh = shapes.get(id(node))
            if cached and sh is not None and sh[1] and id(node) not in found:
                # one subplan object with a second parent under a merged subplan's cache:
                # Polars' common-subplan elimination does not share it there, so it is cached
                # explicitly (outside one, Polars shares it by itself)
                found[id(node)] = (node, node)
            return
        seen.add(id(node))
        sh = shapes.get(id(node))
        members = groups.get(sh) if sh is not None else None
        if members is not None and len(members) > 1:
            if id(node) in found:
                return
            merged = _merge(list(members.values()))
            if merged is not None:
                for m in members.values():
                    found[id(m)] = (m, merged)
                if id(merged) not in shapes:
                    found.update(shared_subplans(merged, leaves, cached=True))
                return
        for c in node.children():
            visit(c)

    visit(root)
    if found and not cached:
        while _cache_across(root, found, shapes):
            pass
    return found


def _cache_across(root: LogicalPlan, found: dict[int, tuple[LogicalPlan, LogicalPlan]],
                  shapes: dict[int, tuple[int, bool] | None]) -> bool:
    """Add to ``found`` (as ``(node, node)``: cached explicitly) each subplan object with a join or a
    group-by that is read both inside a merged subplan's cache and outside it (or inside
    another): Polars' common-subplan elimination does not look into a cache, so it was computed
    once per side. TPC-DS q57's CTE (a group-by under two windows, one object) is read by its lag
    and lead copies, merged, and by the filtered copy. The outermost such objects only: whether
    one within them is read across caches is asked again once they are cached (True: some added)."""
    contexts: dict[int, set[int]] = {}
    objs: dict[int, LogicalPlan] = {}
    walked: set[tuple[int, int]] = set()
    todo: list[tuple[LogicalPlan, int]] = [(root, 0)]
    while todo:
        node, ctx = todo.pop()
        if (id(node), ctx) in walked:
            continue
        walked.add((id(node), ctx))
        hit = found.get(id(node))
        if hit is not None:  # (built from its merged subplan's cache: its own context)
            merged = hit[1]
            if (id(merged), -1) not in walked:
                walked.add((id(merged), -1))
                todo.extend((c, id(merged)) for c in merged.children())
            continue
        sh = shapes.get(id(node))
        if sh is not None and sh[1]:
            contexts.setdefault(id(node), set()).add(ctx)
            objs[id(node)] = node
        todo.extend((c, ctx) for c in node.children())
    across = {i for i, ctxs in contexts.items() if len(ctxs) > 1}
    if not across:
        return False
    inner: set[int] = set()
    for i in across:
        stack = list(objs[i].children())
        while stack:
            n = stack.pop()
            if id(n) not in inner:
                inner.add(id(n))
                stack.extend(n.children())
    for i in across - inner:
        found[i] = (objs[i], objs[i])
    return True


_MISSING = object()


def _may_share(root: LogicalPlan) -> bool:
    """Whether :func:`shared_subplans` can find anything: two distinct subplans with a join or a
    group-by and the same *outline* (node kinds, join types, key counts, scanned sources, but no
    expression, column or predicate). Equal shapes have equal outlines, so when no two outlines
    match no two shapes do. Most plans share nothing, and the outline needs no expression keys
    (those were 2/3 of shared_subplans' time, itself a sixth of lowering TPC-H q8/q16/q22)."""
    outlines: dict[int, tuple[int, bool] | None] = {}
    interned: dict[Any, int] = {}
    heavy: set[int] = set()
    found = False

    def outline(node: LogicalPlan) -> tuple[int, bool] | None:
        nonlocal found
        got = outlines.get(id(node), _MISSING)
        if got is not _MISSING:
            return got  # type: ignore[return-value]
        # (loops, not generators: one walk of every node of every plan with a table read twice)
        nums: list[int] = []
        complete, heavy_below = True, False
        for c in node.children():
            k = outline(c)  # (every child: each records its own outline)
            if k is None:
                complete = False
            else:
                nums.append(k[0])
                heavy_below = heavy_below or k[1]
        out: tuple[int, bool] | None = None
        if complete:
            own = _outline_of(node)
            if own is not None:
                num = interned.setdefault((own, tuple(nums)), len(interned))
                out = (num, heavy_below or isinstance(node, (Join, Aggregate)))
                if out[1]:
                    if num in heavy:
                        found = True
                    heavy.add(num)
        outlines[id(node)] = out
        return out

    outline(root)
    return found


def _outline_of(node: LogicalPlan) -> tuple[Any, ...] | None:
    """A function of :func:`_shape_of`'s key (None where that is None) that builds no expression
    key: see :func:`_may_share`."""
    if isinstance(node, ScanSource):
        return ("scan", node.source)
    if isinstance(node, Project):
        return ("project",)
    if isinstance(node, Filter):
        return ("filter",)
    if isinstance(node, Join):
        return ("join", node.how, len(node.left_on), len(node.right_on), node.suffix, node.nulls_equal)
    if isinstance(node, Aggregate):
        return ("aggregate", len(node.keys))
    if isinstance(node, Union):
        return ("union",)
    if isinstance(node, Window):
        return ("window",)
    return None

#: a filtered read of a table shared by the plan's reads of it is cached where it is estimated
#: at most this many rows (its rows wait in memory until every reader has taken them)
SHARED_READ_MAX_ROWS = 1_000_000
#: and where the table has at least this many rows: reading a small table twice costs less than
#: the cache (TPC-DS q25 reads the 73,049 days of date_dim for 2001 three times, each filtered
#: further: cached, the query took 10% longer; its joins' build sides sit above the cache)
SHARED_READ_MIN_TABLE_ROWS = 100_000


@dataclass(frozen=True, eq=False)
class SharedRead:
    """A read of a table (filters over a scan) as ``base``'s cached rows filtered further by
    ``terms`` and ``filters`` (see :func:`shared_reads`)."""

    base: LogicalPlan
    terms: tuple[Comparison, ...]
    filters: tuple[Expr, ...]
    #: values the base's filters compute that a projection right above a read computes too: the
    #: cached frame carries each (expression, column name) as a column (see :func:`_carried`)
    carried: tuple[tuple[Expr, str], ...] = ()


#: one build_lazy call's shared reads (see :func:`shared_reads`): id(read) -> SharedRead
_SHARED_READS: contextvars.ContextVar[dict[int, SharedRead] | None] = contextvars.ContextVar(
    "thresher_polars_shared_reads", default=None)


def _read_of(node: LogicalPlan) -> tuple[ScanSource, list[Expr]] | None:
    """``node`` as filters over a scan: the scan and the filters' conjuncts (None otherwise)."""
    conj: list[Expr] = []
    while isinstance(node, Filter):
        conj.extend(split_conjunction(node.predicate))
        node = node.input
    return (node, conj) if isinstance(node, ScanSource) and node.limit is None else None


def shared_reads(root: LogicalPlan) -> dict[int, SharedRead]:
    """Reads of one table (filters over a scan) that all filter its rows by some common
    conjuncts: each as one cached read with those conjuncts (every column any of them reads),
    filtered further by its own other conjuncts.

    TPC-H Q22 reads customer filtered on a computed country code twice: for the rows and for
    their average balance over the positive ones, the second with the balance test pushed into
    its scan and fewer columns. Polars' common-subplan elimination only merges equal plans, so
    both decoded the table and computed the code (Polars' own lazy query caches the filtered
    frame the two uses share: 13 ms of its 42). Reads with no common filter stay apart (the
    table in full would be cached), as do reads that are all the same (Polars would merge
    them: ``_SCANS`` keeps them apart on purpose), reads of a table under
    :data:`SHARED_READ_MIN_TABLE_ROWS` rows and a common read estimated above
    :data:`SHARED_READ_MAX_ROWS` rows.
    """
    reads: dict[Any, dict[int, tuple[LogicalPlan, ScanSource, list[Expr]]]] = {}
    seen: set[int] = set()
    # the projections right above each read (see _carried)
    above: dict[int, list[Project]] = {}

    def visit(node: LogicalPlan) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        found = _read_of(node)
        if found is not None:
            if isinstance(node, Filter) or found[0].predicate is not None:
                reads.setdefault(found[0].source, {})[id(node)] = (node, found[0], found[1])
            return
        for c in node.children():
            if isinstance(node, Project):
                above.setdefault(id(c), []).append(node)
            visit(c)

    visit(root)
    out: dict[int, SharedRead] = {}
    for members in reads.values():
        if len(members) < 2:
            continue
        group = list(members.values())
        terms = [t for t in (group[0][1].predicate.terms if group[0][1].predicate else ())
                 if all(m[1].predicate is not None and t in m[1].predicate.terms for m in group[1:])]
        fkeys = set.intersection(*({f.key() for f in m[2]} for m in group))
        filters = [f for f in group[0][2] if f.key() in fkeys]
        filters = [f for i, f in enumerate(filters) if all(g.key() != f.key() for g in filters[:i])]
        if not terms and not filters:
            continue
        scan = group[0][1]
        cols: tuple[str, ...] | None = None
        if all(m.columns is not None for _node, m, _conj in group):
            want = set().union(*(set(m.columns or ()) | (m.predicate.columns() if m.predicate else set())
                                 for _node, m, _conj in group))
            cols = tuple(c for c in scan.full_schema().names if c in want)
        base: LogicalPlan = ScanSource(scan.source, cols, Predicate(tuple(terms)) if terms else None)
        if filters:
            # (terms that type-checked as a filter of this table's columns: not checked again,
            # which ran the expressions' type resolution, cold code, on every query sharing a read)
            base = Filter.of_checked_terms(base, combine_conjunction(filters))
        shared = [(node, SharedRead(base, tuple(t for t in (m.predicate.terms if m.predicate else ()) if t not in terms),
                                    tuple(f for f in conj if f.key() not in fkeys))) for node, m, conj in group]
        if not any(r.terms or r.filters for _node, r in shared):
            continue  # the same read again: see _SCANS
        table_rows = scan.source.statistics().num_rows
        if table_rows is None or table_rows < SHARED_READ_MIN_TABLE_ROWS:
            continue
        rows = estimate(base).rows
        if rows is None or rows > SHARED_READ_MAX_ROWS:
            continue
        if CARRY_FILTER_VALUES and isinstance(base, Filter):
            carried = _carried(base, [p for node, _m, _c in group for p in above.get(id(node), ())])
            if carried:
                shared = [(node, replace(r, carried=carried)) for node, r in shared]
        out.update((id(node), r) for node, r in shared)
    return out


#: whether a shared read's cached frame carries the values its filters compute that a projection
#: above a read computes again (see :func:`_carried`)
CARRY_FILTER_VALUES = True


def _carried(base: Filter, parents: Sequence[Project]) -> tuple[tuple[Expr, str], ...]:
    """The computed values of ``base``'s filter (a shared read's common filter over its scan)
    that one of ``parents`` (projections right above the reads) computes as one of its columns,
    each with a fresh column name: the cached frame carries them, computed once with the filter,
    and those projections take the column (see ``_build_node``).

    TPC-H Q22 (DataFrame) filters customer on ``c_phone.str.slice(0, 2)`` (the country code)
    and keeps it as a column: the filter computed the slice of all 150,000 phones and the
    projection above the cached read computed it again for the 42,000 kept, while the cache
    carried every kept phone (Polars' own program computes the code once, before its filter).
    Only calls that cost no more than scalar work and a filter without checked calls (see
    ``needs_guard``): the value is then computed on every row either way."""
    if not parents or needs_guard(base.predicate):
        return ()
    wanted: dict[tuple[Any, ...], None] = {}
    for p in parents:
        for e in p.exprs:
            src = e.child if type(e) is Alias else e  # type: ignore[attr-defined]
            if not src._LEAF:
                wanted[src.key()] = None
    if not wanted:
        return ()
    out: list[tuple[Expr, str]] = []
    # (a name no column of the table or of those projections has: they read it beside theirs)
    taken = set(base.input.schema.names).union(*(p.schema.names for p in parents))
    # (a loop, not Expr.walk: each step of a generator is one more Python call of the lowering)
    stack: list[Expr] = [base.predicate]
    while stack:
        e = stack.pop()
        if e._LEAF:
            continue
        k = e.key()
        if k in wanted and type(e) is not Alias and cost_class(e) == "scalar":
            del wanted[k]
            name = _fresh_name("__carried", taken)
            taken.add(name)
            out.append((e, name))
        else:
            stack.extend(e.children())
    return tuple(out)


def _shape_of(node: LogicalPlan) -> tuple[Any, bool] | None:
    """What ``node`` itself computes, its columns and its inputs aside (None: not shareable), and
    whether it is a join or a group-by: ``(key, heavy)``."""
    if isinstance(node, ScanSource):
        k = node.key()  # (type, source, columns, predicate, limit)
        return ("scan",) + k[1:2] + k[3:], False
    if isinstance(node, Project):
        return ("project",), False
    if isinstance(node, Filter):
        return ("filter", node.predicate.key()), False
    if isinstance(node, Join):
        return ("join", node.how, tuple(e.key() for e in node.left_on), tuple(e.key() for e in node.right_on),
                node.suffix, node.nulls_equal), True
    if isinstance(node, Aggregate):
        return ("aggregate", tuple(e.key() for e in node.keys)), True
    if isinstance(node, Union):
        # (its inputs are the shape's children: equal unions of equal inputs, in order)
        return ("union",), False
    if isinstance(node, Window):
        # (its expressions, like a group-by's aggregates, are merged by name: see _merge_node)
        return ("window", tuple(e.key() for e in node.partition_by), tuple(e.key() for e in node.order_by),
                node.descending, node.nulls_last, repr(node.frame), node.mapping_strategy), False
    return None


def _union_exprs(lists: Sequence[Sequence[Expr]]) -> tuple[Expr, ...] | None:
    """The expressions of all lists, one per output name (None when two differ under a name)."""
    out: dict[str, Expr] = {}
    for exprs in lists:
        for e in exprs:
            name = e.output_name()
            have = out.get(name)
            if have is None:
                out[name] = e
            elif have is not e and have.key() != e.key():
                return None
    return tuple(out.values())


def _merge(nodes: list[LogicalPlan]) -> LogicalPlan | None:
    """One subplan computing every column of ``nodes`` (the same shape), or None."""
    first = nodes[0]
    if all(n is first for n in nodes):
        return first
    merged = _merge_node(nodes)
    if merged is None:
        return None
    have = {f.name: f.dtype for f in merged.schema.fields}
    if any(have.get(f.name) != f.dtype for n in nodes for f in n.schema.fields):
        return None
    return merged


def _merge_node(nodes: list[LogicalPlan]) -> LogicalPlan | None:
    first = nodes[0]
    if all(n is first for n in nodes):
        return first
    if isinstance(first, ScanSource):
        scans = [n for n in nodes if isinstance(n, ScanSource)]
        if any(n.columns is None for n in scans):
            return next(n for n in scans if n.columns is None)
        want = set().union(*(n.columns or () for n in scans))
        same = next((n for n in scans if set(n.columns or ()) == want), None)
        if same is not None:
            return same
        return ScanSource(first.source, tuple(c for c in first.full_schema().names if c in want),
                          first.predicate, first.limit)
    kids = [_merge_node([n.children()[i] for n in nodes]) for i in range(len(first.children()))]
    if any(k is None for k in kids):
        return None
    if isinstance(first, Filter):
        return Filter(kids[0], first.predicate)  # type: ignore[arg-type]
    if isinstance(first, Project):
        exprs = _union_exprs([n.exprs for n in nodes if isinstance(n, Project)])
        return None if exprs is None else Project(kids[0], exprs)  # type: ignore[arg-type]
    if isinstance(first, Aggregate):
        aggs = _union_exprs([n.aggs for n in nodes if isinstance(n, Aggregate)])
        return None if aggs is None else Aggregate(kids[0], first.keys, aggs)  # type: ignore[arg-type]
    if isinstance(first, Join):
        left, right = kids
        assert left is not None and right is not None
        lnames = set(left.schema.names)
        for n in nodes:
            assert isinstance(n, Join)
            # a right column that clashes with a left one takes the suffix: the merged sides
            # must not make a new clash (that would rename a column a consumer reads)
            own = set(n.left.schema.names)
            if any((c in own) != (c in lnames) for c in n.right.schema.names):
                return None
        return Join(left, right, first.left_on, first.right_on, first.how, first.suffix, first.strategy,
                    first.nulls_equal)
    if isinstance(first, Union):
        # each input merged with the same input of the other copies: every merged input must
        # have the same columns in the same order (a union pairs columns by position)
        names = kids[0].schema.names  # type: ignore[union-attr]
        if any(k.schema.names != names for k in kids[1:]):  # type: ignore[union-attr]
            return None
        return Union(tuple(kids))  # type: ignore[arg-type]
    if isinstance(first, Window):
        # TPC-DS q47/q57: a CTE of a group-by under an AVG and a RANK window, read as itself, its
        # lag and its lead; each read computed both windows again over the one cached group-by.
        # A window output that names a column of the merged input would replace a column
        # another copy reads: not merged.
        exprs = _union_exprs([n.exprs for n in nodes if isinstance(n, Window)])
        if exprs is None or any(e.output_name() in kids[0].schema.names for e in exprs):  # type: ignore[union-attr]
            return None
        return replace(first, input=kids[0], exprs=exprs)  # type: ignore[arg-type]
    return None


#: one build_lazy call's LazyFrames by (node id, resolver id): a subplan object that several
#: parents share (the finest aggregate all of a ROLLUP's grouping sets read, a CTE used twice)
#: becomes one LazyFrame object, which Polars computes once (its common-subplan cache)
_MEMO: contextvars.ContextVar[dict[tuple[int, int], tuple[Any, Any, pl.LazyFrame]] | None] = contextvars.ContextVar(
    "thresher_polars_build_memo", default=None)


#: whether a scan the plan reads in several places is read by each (see _SCANS)
READ_REPEATED_SCANS_APART = True

#: one build_lazy call's scans built so far, by key (columns and predicate included). A table
#: read twice with the same columns (TPC-H Q18: lineitem for the IN subquery's group-by and for
#: the join) would be one subplan to Polars' common-subplan elimination, and its streaming engine
#: then buffers every row of the read until the slower reader takes them: the join waits for the
#: group-by, so all of lineitem (6M rows, +160 MB) was held, and the join's read lost the runtime
#: key filter its small build side gives. Polars' own SQL and DuckDB read the table twice there;
#: so does a Thresher plan (a scan under renames and filters is not memoized either). Subplans
#: with a join or a group-by are still shared (the memo, shared_subplans). A read of all of a
#: file's columns stays one plan to Polars whatever their order (then it is still merged).
_SCANS: contextvars.ContextVar[dict[Any, int] | None] = contextvars.ContextVar("thresher_polars_scans", default=None)


def _build(node: LogicalPlan, leaf: LeafResolver) -> pl.LazyFrame:
    memo = _MEMO.get()
    if memo is None:
        return _build_node(node, leaf)
    read = (_SHARED_READS.get() or {}).get(id(node))
    if read is not None:
        return _shared_read(node, read, memo, leaf)
    if READ_REPEATED_SCANS_APART and _bare_scan(node):
        return _build_node(node, leaf)
    shared = (_SHARED.get() or {}).get(id(node))
    if shared is not None and shared[0] is node:
        # the merged subplan, cached explicitly: Polars pushes each consumer's projection into
        # it before its own common-subplan elimination, which then sees two different plans
        ckey = (id(shared[1]), -id(leaf))
        hit = memo.get(ckey)
        if hit is None:
            hit = (shared[1], leaf, _build_node(shared[1], leaf).cache())
            memo[ckey] = hit
        return hit[2] if shared[1] is node else _select_columns(hit[2], node.schema.names)
    hit = memo.get((id(node), id(leaf)))
    if hit is not None:
        return hit[2]
    lf = _build_node(node, leaf)
    memo[(id(node), id(leaf))] = (node, leaf, lf)
    return lf


def _shared_read(node: LogicalPlan, read: SharedRead, memo: dict[tuple[int, int], tuple[Any, Any, pl.LazyFrame]],
                 leaf: LeafResolver) -> pl.LazyFrame:
    """``node`` (a read :func:`shared_reads` shares) from its base's one cached frame."""
    key = (id(read.base), -id(leaf))
    hit = memo.get(key)
    if hit is None:
        if read.carried:
            base = read.base
            assert isinstance(base, Filter)
            frame = _filter_carrying(_build(base.input, leaf), base, read.carried)
        else:
            frame = _build_node(read.base, leaf)
        hit = (read.base, leaf, frame.cache())
        memo[key] = hit
    lf = hit[2]
    if read.terms:
        lf = _filter(lf, predicate_to_polars(Predicate(read.terms)))
    if read.filters:
        lf = _filter(lf, filter_to_polars(combine_conjunction(read.filters), read.base.schema))
    if read.carried:
        return _select_columns(lf, [*node.schema.names, *(name for _e, name in read.carried)])
    return _select_columns(lf, node.schema.names)


def _filter_carrying(lf: pl.LazyFrame, node: Filter, carried: Sequence[tuple[Expr, str]]) -> pl.LazyFrame:
    """``node`` (a filter) over ``lf`` (its input) keeping the values ``carried`` as columns: the
    values and the test in one ``with_columns`` (Polars' common-subexpression elimination computes
    a value the test reads once), then the filter on the test's column."""
    schema = node.input.schema
    if IS_IN_AS_EQUALITIES and _is_in_by_equalities(node.predicate, schema):
        with is_in_as_equalities():
            pred = filter_to_polars(node.predicate, schema)
    else:
        pred = filter_to_polars(node.predicate, schema)
    name = _fresh_name("__keep", {*schema.names, *(n for _e, n in carried)})
    values = [to_polars(e, schema).alias(n) for e, n in carried]
    return _drop_column(_filter(_with_columns(lf, [*values, pred.alias(name)]), polars_col(name)), name)


def _keys(exprs: Sequence[Expr], schema: Schema) -> list[pl.Expr]:
    return [_named(e, schema) for e in exprs]


def _named(e: Expr, schema: Schema) -> pl.Expr:
    """``to_polars(e).alias(e.output_name())``; a column passed through or renamed (most of a
    projection) is one cached expression (see ``polars_col``)."""
    src = e.child if isinstance(e, Alias) else e
    if isinstance(src, Column):
        schema.field(src.name)
        return polars_col(src.name, e.output_name())
    return to_polars(e, schema).alias(e.output_name())


def _fresh_name(prefix: str, names: Collection[str]) -> str:
    """``prefix`` or ``prefix<k>``: a name not in ``names``."""
    name, k = prefix, 0
    while name in names:
        name, k = f"{prefix}{k}", k + 1
    return name


def _passed_through(e: Expr) -> bool:
    """``e`` is a column passed through or renamed (see :func:`_named`)."""
    return isinstance(e.child if isinstance(e, Alias) else e, Column)


def _project(lf: pl.LazyFrame, node: Project, exprs: list[pl.Expr],
             passed: Sequence[bool] | None = None) -> pl.LazyFrame:
    """``node``'s projection of ``lf`` (``exprs``: its expressions lowered by :func:`_named`).

    A projection that computes some columns and passes others through is lowered as
    ``with_columns`` (the computed ones) and a ``select`` of columns: Polars' plan statistics
    follow a column through those, but not through a ``select`` holding any computed expression
    (every column's distinct count is then unknown). Its streaming hash joins size their
    runtime filter from the build key's distinct count: unknown, the filter is only a key range
    and no bloom filter, so the probe side's scan decodes every row (TPC-H Q22: the anti join's
    build side is customer with a computed country code; its 1.5M-row orders scan kept all
    rows, with the bloom filter it drops 90% of them while reading).
    """
    if passed is None:
        passed = [_passed_through(e) for e in node.exprs]
    kept = [i for i, p in enumerate(passed) if p]
    if not kept or len(kept) == len(exprs):
        return _select(lf, exprs)
    taken = set(node.input.schema.names)
    computed: list[pl.Expr] = []
    out: list[pl.Expr] = []
    for e, pe, p in zip(node.exprs, exprs, passed):
        name = e.output_name()
        if p:
            out.append(pe)
            continue
        # computed under a name no input column has: a passed-through column keeps its values
        tmp = name if name not in taken else _fresh_name(f"__p_{name}", taken)
        taken.add(tmp)
        computed.append(pe if tmp == name else pe.alias(tmp))
        out.append(polars_col(tmp) if tmp == name else polars_col(tmp, name))
    return _select(_with_columns(lf, computed), out)


def _count_scan(scans: dict[Any, int], node: ScanSource) -> int:
    """How many times the build read ``node``'s scan before (counting this read), by what
    ``node.key()`` compares as a plain tuple: the generic key walks every field and column name
    (a tenth of lowering TPC-H q8, one new scan node each). An unhashable predicate (a value
    list of lists) takes the key itself. (The tuple is hashed by the lookups alone: each hash
    hashes the source's identity and every predicate term, Python calls each.)"""
    k = (node.source, node.columns, node.predicate, node.limit)
    try:
        n = scans.get(k, 0)
    except TypeError:
        k = node.key()
        n = scans.get(k, 0)
    scans[k] = n + 1
    return n


def _build_node(node: LogicalPlan, leaf: LeafResolver) -> pl.LazyFrame:
    if type(leaf) is _LeafFrames:
        # (a lookup: raising and catching a KeyError at every node of the program cost more)
        frame = leaf.frames.get(id(node), _MISSING)
        if frame is not _MISSING:
            return frame  # type: ignore[return-value]
    else:
        try:
            return leaf(node)
        except KeyError:
            pass
    if isinstance(node, ScanSource):
        cols = node.columns
        read = cols
        scans = _SCANS.get()
        if scans is not None and READ_REPEATED_SCANS_APART:
            n = _count_scan(scans, node)
            names = tuple(node.schema.names)
            if n and len(names) > 1:
                # the n-th read of a scan the plan has read before: its columns in another
                # order, so Polars' common-subplan elimination does not merge the two reads
                # (see _SCANS); selected back in order below
                r = n % len(names)
                read = names[r:] + names[:r]
        held = _HELD_SCANS.get()
        if held is not None and node.predicate is not None and id(node) in held:
            # a key-range filter goes into this scan (see _key_range_filter): its own predicate
            # is tested after the scan, as a column, where Polars does not push it back in
            extra = [c for c in dict.fromkeys(t.column for t in node.predicate.terms) if read is not None and c not in read]
            lf = node.source.polars_scan([*read, *extra] if read is not None else None, None)
            if lf is not None:
                name = _fresh_name("__keep", {*node.source.arrow_schema().names})
                lf = _drop_column(_filter(_with_columns(lf, [predicate_to_polars(node.predicate).alias(name)]),
                                          polars_col(name)), name)
                if extra:
                    lf = _select_columns(lf, list(read))  # type: ignore[arg-type]
        else:
            lf = node.source.polars_scan(read, node.predicate)
        if lf is not None and read != cols:
            lf = _select_columns(lf, node.schema.names)
        if lf is None:
            raise ThresherExecutionError(f"no frame for stage input {node.describe()}")
        if node.limit is not None and node.limit < 2 ** 32:
            lf = lf.head(node.limit)
        return lf  # type: ignore[no-any-return]
    if isinstance(node, Filter):
        lf = _build(node.input, leaf)
        if IS_IN_AS_EQUALITIES and _is_in_by_equalities(node.predicate, node.input.schema):
            # a computed value tested against a few strings: the equalities over it as a column
            # first (Polars evaluates the shared value once there, not in a filter)
            with is_in_as_equalities():
                pred = filter_to_polars(node.predicate, node.input.schema)
            name = _fresh_name("__keep", set(node.input.schema.names))
            return _drop_column(_filter(_with_columns(lf, [pred.alias(name)]), polars_col(name)), name)
        pred = filter_to_polars(node.predicate, node.input.schema)
        if isinstance(node.input, Join) and node.input.how == "cross" and _one_row(node.input.right):
            # a scalar subquery's one row (TPC-H Q11, Q22) compared with every row: the test as a
            # column first. A filter straight over the cross join that compares a column of each
            # side Polars fuses with it into an inequality join, which sorts the left side and
            # bounds no rows, so a semi/anti join above got no runtime filter (TPC-H Q22's SQL text).
            # A join on a constant key (before) hid the row count the same way.
            name = _fresh_name("__keep", set(node.input.schema.names))
            return _drop_column(_filter(_with_columns(lf, [pred.alias(name)]), polars_col(name)), name)
        return _filter(lf, pred)
    if isinstance(node, Project):
        lf = _build(node.input, leaf)
        reads = _SHARED_READS.get()
        below = reads.get(id(node.input)) if reads else None
        if below is not None and below.carried:
            carried = {e.key(): name for e, name in below.carried}
            # (a value its input, a shared read, carries: that column, see _carried)
            passed = [_passed_through(e) or strip_alias(e).key() in carried for e in node.exprs]
            exprs = [polars_col(carried[strip_alias(e).key()], e.output_name()) if p and not _passed_through(e)
                     else _named(e, node.input.schema) for e, p in zip(node.exprs, passed)]
            return _project(lf, node, exprs, passed)
        exprs = [_named(e, node.input.schema) for e in node.exprs]
        if exprs and not any(map(_passed_through, node.exprs)) and (
                not any(e.columns() for e in node.exprs) or not any(x.meta.root_names() for x in exprs)):
            # Polars gives a select of literals one row whatever the input's height (even 0);
            # a projection has one row per input row (as the streaming project operator does).
            # (Lowered literals too: NULL + a is lowered to the NULL, SELECT 0, NULL + a over no
            # rows gave one row; a column passed through reads a column: most projections are
            # told by that alone, without Polars' meta namespace)
            return lf.with_columns(exprs).select([e.output_name() for e in node.exprs])
        return _project(lf, node, exprs)
    if isinstance(node, Aggregate):
        lf = _build(node.input, leaf)
        s = node.input.schema
        if node.keys:
            token = KEYED_GROUP_BY.set(True)
            try:
                aggs = [to_polars(a, s, in_group=True).alias(a.output_name()) for a in node.aggs]
            finally:
                KEYED_GROUP_BY.reset(token)
            out = _group_by_agg(lf, _keys(node.keys, s), aggs)
            if _ENCODED.get():
                encoded = encoded_keys(node)
                if encoded:
                    out = _with_columns(out, decode(encoded))
        else:
            out = _select(lf, [to_polars(a, s, in_group=False).alias(a.output_name()) for a in node.aggs])
        return out
    if isinstance(node, Sort):
        lf = _build(node.input, leaf)
        s = node.input.schema
        nulls_last = list(node.nulls_last) if node.nulls_last else [False] * len(node.by)
        return _sort(lf, [to_polars(e, s) for e in node.by], list(node.descending), nulls_last)
    if isinstance(node, Limit):
        lf = _build(node.input, leaf)
        # (an OFFSET without LIMIT is n = 2^62, more rows than Polars' slice takes: to the end)
        return lf.slice(node.offset, node.n if node.n < 2 ** 32 else None)
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
        from thresher.operators.window import window_lazy  # (~0.2 MiB of module: only for a window)

        return window_lazy(_build(node.input, leaf), node.input.schema, node.exprs, node.partition_by, node.order_by,
                           node.descending, node.nulls_last, node.frame, node.mapping_strategy)
    raise UnsupportedError(f"{type(node).__name__} cannot run in a relational stage")


#: whether a filter tests a computed string against a few short strings with equalities (see
#: _is_in_by_equalities)
IS_IN_AS_EQUALITIES = True


def _is_in_by_equalities(pred: Expr, schema: Schema) -> bool:
    """Does ``pred`` hold an ``e.is_in([a, b, ...])`` that ``expr_to_polars`` lowers as
    ``e == a | e == b | ...`` (see :func:`~thresher.operators.expr_to_polars.is_in_by_equalities`:
    a computed string ``e``, a few short values), and no checked call (whose rows the filter's
    lowering chooses)? Its caller then evaluates the predicate as a column of ``with_columns``,
    where Polars' common-subexpression elimination computes ``e`` once (a filter would compute
    it once per value). TPC-H Q22's ``c_phone.str.slice(0, 2).is_in(<7 codes>)`` over 150,000
    customers: its program 29.1 -> 27.9 ms CPU, lowering it 0.42 -> 0.46 ms."""
    # (a loop: most filters hold no is_in, and lowering asks it of each)
    stack: list[Expr] = [pred]
    while stack:
        e = stack.pop()
        if type(e) is Call:
            if e.name == "is_in" and is_in_by_equalities(e) and e.args[0].resolve(schema).dtype.is_string():
                return not needs_guard(pred)
            stack.extend(e.args)
        elif not e._LEAF:
            stack.extend(e.children())
    return False


#: the left side must not be estimated larger than this many times the group-by's input
REDUCE_MAX_RATIO = 2.0


def _filtered(node: LogicalPlan) -> bool:
    """Does ``node`` drop rows of its inputs somewhere (a filter, a scan predicate, a semi join)?"""
    if isinstance(node, Filter):
        return True
    if isinstance(node, ScanSource):
        return node.predicate is not None
    if isinstance(node, Join) and node.how in ("semi", "anti"):
        return True
    if isinstance(node, (Aggregate, Distinct)):
        return False
    return any(_filtered(c) for c in node.children())


#: a left side filtered only below a group-by (:func:`_filtered_apart`) reduces the right side's
#: group-by input only when that input is estimated at least this many rows: the cached left side
#: and the extra semi join cost a few milliseconds, which a small input does not pay back
#: (TPC-DS Q58, one week of catalog sales estimated at 72,000 rows: 71.5 -> 76.1 ms CPU reduced;
#: Q78, web sales of every year estimated at 360,000: 797 -> 676 ms)
REDUCE_APART_MIN_ROWS = 200_000


def _drops_rows(node: LogicalPlan) -> bool:
    return (isinstance(node, Filter) or (isinstance(node, ScanSource) and node.predicate is not None)
            or (isinstance(node, Join) and node.how in ("semi", "anti")))


def _filtered_apart(node: LogicalPlan, other: LogicalPlan) -> bool:
    """Does ``node`` drop rows somewhere, below its group-bys too, by a filter (a scan predicate,
    a semi or anti join) that ``other`` does not hold? Then ``node`` likely holds a fraction of
    ``other``'s keys: TPC-DS Q78 left-joins store sales of 2000 grouped by year, item and customer
    with web sales of every year grouped on the same keys. Where both sides read one filtered
    subplan (a CTE on both sides of a self-join, TPC-DS Q30 and Q81: customers' returns of one
    year next to their state's average) they hold the same keys, and reducing costs ~30%."""
    held = {n for n in other.walk() if _drops_rows(n)}
    return any(_drops_rows(n) and n not in held for n in node.walk())


def _grouped_on(right: LogicalPlan, right_on: Sequence[Expr]) -> tuple[Aggregate, list[Expr]] | None:
    """``right`` is ``[Project renames | Filter]* Aggregate`` grouped on exactly the join keys:
    the aggregate and its key expressions in ``right_on``'s order."""
    names: list[str] = []
    for e in right_on:
        k = strip_alias(e)
        if not isinstance(k, Column):
            return None
        names.append(k.name)
    n = right
    while isinstance(n, (Project, Filter)):
        if isinstance(n, Project):
            srcs = {e.output_name(): strip_alias(e) for e in n.exprs}
            mapped = [srcs.get(x) for x in names]
            if not all(isinstance(m, Column) for m in mapped):
                return None
            names = [m.name for m in mapped if isinstance(m, Column)]
        n = n.input
    if not isinstance(n, Aggregate) or not n.keys:
        return None
    keys = {k.output_name(): strip_alias(k) for k in n.keys}
    if set(keys) != set(names) or len(set(names)) != len(names):
        return None
    return n, [keys[x] for x in names]


def _reduced_right(node: Join, left: pl.LazyFrame, leaf: LeafResolver) -> tuple[pl.LazyFrame, pl.LazyFrame] | None:
    """The right side with its group-by's input semi-joined with ``left`` on the join keys, and
    ``left`` cached (it feeds both the join and the subquery's key set, so it is computed once:
    Polars' common-subplan elimination misses it when the two uses project different columns,
    TPC-H Q21 computed its 3.8M-row lineitem join twice), when
    the right side groups on those keys and the left side filters its inputs somewhere (so it
    likely holds a fraction of the keys) and is not estimated much larger than the group-by's
    input (then hashing its keys would cost about what it saves). None otherwise.

    The plan statistics' textbook selectivities are far off for decorrelated subqueries (TPC-H
    Q20's left side is estimated at 400,000 rows and has 8,600), hence the loose test: a semi
    join that keeps most rows costs a hash probe per row, one that keeps few saves most of a
    group-by.

    A semi or anti join whose right side groups on the keys (the DataFrame API's EXISTS / NOT
    EXISTS over a grouped subquery) is reduced the same way: a group whose key no left row has
    matches no left row either way, and a group whose key one has keeps all its rows (the semi
    join is on the whole grouping key). TPC-H Q21 written with semi joins grouped all of
    lineitem (6M rows) and its late lines (3.8M) per order to keep the orders of ~30,000 left
    rows: 949 -> 342 ms CPU (SF1, collect, 9 alternating rounds)."""
    if node.how not in ("inner", "left", "semi", "anti") or not node.left_on or node.nulls_equal:
        return None
    found = _grouped_on(node.right, node.right_on)
    if found is None:
        return None
    agg, key_exprs = found
    lrows, grows = estimate(node.left).rows, estimate(agg.input).rows
    if not (_filtered(node.left) or (grows is not None and grows >= REDUCE_APART_MIN_ROWS
                                     and _filtered_apart(node.left, agg.input))):
        return None
    if lrows is not None and grows is not None and lrows > REDUCE_MAX_RATIO * grows:
        return None
    ls, gs = node.left.schema, agg.input.schema
    lk, gk = [], []
    for k, (le, ge) in enumerate(zip(node.left_on, key_exprs)):
        a, b = to_polars(le, ls), to_polars(ge, gs)
        st = supertype(le.resolve(ls).dtype, ge.resolve(gs).dtype)
        if st is None:
            return None
        pt = polars_dtype(st)
        lk.append(cast(a, pt).alias(f"__sk{k}"))
        gk.append(cast(b, pt))
    names = [f"__sk{k}" for k in range(len(lk))]
    left = left.cache()
    keys = _select(left, lk)
    below = _without_implied_semi_joins(agg.input, key_exprs, node.left, node.left_on)
    grouped = _join_frames(_build(below, leaf), keys, gk, names, "semi")

    def resolve(n: LogicalPlan) -> pl.LazyFrame:
        return grouped if n is agg.input else leaf(n)

    return _build(node.right, resolve), left


def _without_implied_semi_joins(node: LogicalPlan, key_exprs: Sequence[Expr], outer: LogicalPlan,
                                outer_on: Sequence[Expr]) -> LogicalPlan:
    """``node`` (a group-by's input, grouped on ``key_exprs``) without the semi joins at its top
    that the semi join with the outer side's keys makes redundant.

    ``semi_join_reduction`` semi-joins a group-by's input with a filtered input found below the
    outer side (TPC-H Q21: lineitem with the orders of status 'F'); the semi join with the whole
    outer side's keys that :func:`_reduced_right` adds keeps a subset of those rows, so the first
    one only costs a hash table and a probe per row (Q21: 730,000 orders built, 6M lineitem rows
    probed, a third of the query's time). A semi join is dropped only where every outer key
    provably occurs in its right side (:func:`_keys_within`); any other stays.
    """
    key_names = plain_column_names(key_exprs)
    outer_names = plain_column_names(outer_on)
    if key_names is None or outer_names is None:
        return node
    return _strip_semis(node, key_names, outer, outer_names)


def _strip_semis(node: LogicalPlan, keys: list[str], outer: LogicalPlan, outer_names: list[str]) -> LogicalPlan:
    if isinstance(node, Filter):
        inner = _strip_semis(node.input, keys, outer, outer_names)
        return node if inner is node.input else node.with_children([inner])
    if isinstance(node, Project):
        srcs = {e.output_name(): strip_alias(e) for e in node.exprs}
        mapped = [srcs.get(k) for k in keys]
        if not all(isinstance(m, Column) for m in mapped):
            return node
        inner = _strip_semis(node.input, [m.name for m in mapped if isinstance(m, Column)], outer, outer_names)
        return node if inner is node.input else node.with_children([inner])
    if isinstance(node, Join) and node.how == "semi" and not node.nulls_equal:
        lnames, rnames = plain_column_names(node.left_on), plain_column_names(node.right_on)
        if lnames is None or rnames is None or not set(lnames) <= set(keys):
            return node
        # the right side's column for each outer key the semi join constrains
        target = {outer_names[keys.index(a)]: b for a, b in zip(lnames, rnames)}
        right = node.right
        while isinstance(right, Project):  # renames: the same rows below (the outer side's names differ)
            srcs = {e.output_name(): strip_alias(e) for e in right.exprs}
            if not all(isinstance(srcs.get(b), Column) for b in target.values()):
                break
            target = {k: srcs[b].name for k, b in target.items()}  # type: ignore[union-attr]
            right = right.input
        if _keys_within(outer, target, right):
            return _strip_semis(node.left, keys, outer, outer_names)
    return node


def _keys_within(node: LogicalPlan, cols: dict[str, str], target: LogicalPlan, depth: int = 0) -> bool:
    """Every row of ``node`` has, in its columns ``cols`` (keys), values (NULL aside) that some
    row of ``target`` has in the columns ``cols[k]`` (together): ``target`` is found below
    ``node`` through nodes that only keep, filter or combine rows (projections renaming the
    columns, filters, inner/semi/left joins, whose equi-join keys let a column stand for the
    other side's key, group-by keys), with the columns traced down."""
    if depth > 64:
        return False
    if node == target:
        return all(k == v for k, v in cols.items())
    if isinstance(node, (Filter, Sort, Limit, Distinct)):
        return all(k in node.input.schema.names for k in cols) and _keys_within(node.input, cols, target, depth + 1)
    if isinstance(node, (Project, Aggregate)):
        # an aggregate's group keys trace down like a projection's columns; its aggregates do not
        outs = node.exprs if isinstance(node, Project) else node.keys
        srcs = {e.output_name(): strip_alias(e) for e in outs}
        down = {}
        for k, v in cols.items():
            m = srcs.get(k)
            if not isinstance(m, Column):
                return False
            down[m.name] = v
        return len(down) == len(cols) and _keys_within(node.input, down, target, depth + 1)
    if isinstance(node, Join) and node.how in ("inner", "semi", "left") and not node.nulls_equal:
        ln, rn = set(node.left.schema.names), set(node.right.schema.names)
        lk, rk = plain_column_names(node.left_on), plain_column_names(node.right_on)
        pairs = list(zip(lk, rk)) if lk is not None and rk is not None else []
        # the side each key column comes from: a left column, or (inner, left) a right one not
        # renamed by a suffix; an equi-join key may stand for its partner on the other side
        to_left: dict[str, str] = {}
        to_right: dict[str, str] = {}
        for k in cols:
            if k in ln:
                to_left[k] = k
                partner = [b for a, b in pairs if a == k]
                if partner and node.how in ("inner", "semi"):
                    to_right[k] = partner[0]
            elif node.how in ("inner", "left") and k in rn:
                to_right[k] = k
                partner = [a for a, b in pairs if b == k]
                if partner and node.how == "inner":
                    to_left[k] = partner[0]
        if len(to_left) == len(cols) and _keys_within(
                node.left, {to_left[k]: v for k, v in cols.items()}, target, depth + 1):
            return True
        return len(to_right) == len(cols) and _keys_within(
            node.right, {to_right[k]: v for k, v in cols.items()}, target, depth + 1)
    return False


def _one_row(node: LogicalPlan) -> bool:
    """``node`` gives exactly one row (a global aggregate under projections)."""
    while isinstance(node, Project):
        node = node.input
    return isinstance(node, Aggregate) and not node.keys


#: a semi/anti join's right side is reduced to the left side's keys where its join key is
#: estimated to hold at least this many times as many distinct values as the left side has rows
SEMI_REDUCE_MIN_RATIO = 4.0
#: and at least this many (a hash table of fewer keys stays in the CPU caches, and adding a row
#: whose key is already there costs about what probing a small table does: TPC-H Q22's anti join
#: with orders, 1.5M rows of 150,000 customers, got slower reduced, 42 -> 50 ms CPU)
SEMI_REDUCE_MIN_KEYS = 500_000


def _key_count(node: LogicalPlan, on: Sequence[Expr]) -> float | None:
    """Estimated distinct keys ``on`` of ``node``'s rows: at most its rows, and at least the most
    distinct values one key column holds (None when that is unknown)."""
    rows = estimate(node).rows
    names = plain_column_names(on)
    if rows is None or names is None:
        return None
    ndvs = [column_ndv(node, n) for n in names]
    known = [x for x in ndvs if x is not None]
    return min(rows, max(known)) if known else None


def _key_set_reduced(node: Join, left: pl.LazyFrame, right: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame] | None:
    """A semi or anti join's big right side semi-joined with the small left side's keys first,
    and ``left`` cached (it feeds both; Polars computes it once), or None.

    Polars builds a semi (anti) join's hash table on the right side and probes it with the left
    rows. Where the left side is filtered (likely holds a fraction of the keys) and estimated much
    smaller than the right side, hashing the left keys and probing each right row once is cheaper
    than hashing every right row: the right side is reduced to the rows whose key the left side
    has, and the semi (anti) join then builds its table on those few (TPC-H Q4: orders of one
    quarter semi lineitem, 3.8M rows hashed -> 57,000 orders' keys hashed, 134 -> 97 ms CPU).
    The result is the same: a right row whose key no left row has (or a NULL key) matches no left
    row. Joins with ``nulls_equal`` are left alone (a NULL key would match there)."""
    if node.how not in ("semi", "anti") or not node.left_on or node.nulls_equal:
        return None
    if not _filtered(node.left):
        return None
    rrows = estimate(node.right).rows
    if rrows is None or rrows < SEMI_REDUCE_MIN_KEYS:
        return None  # (fewer rows than that, fewer keys: most right sides stop here)
    rkeys = _key_count(node.right, node.right_on)
    if rkeys is None or rkeys < SEMI_REDUCE_MIN_KEYS:
        return None
    lrows = estimate(node.left).rows
    if lrows is None or rkeys < SEMI_REDUCE_MIN_RATIO * lrows:
        return None
    ls, rs = node.left.schema, node.right.schema
    lk, rk = [], []
    for k, (le, re_) in enumerate(zip(node.left_on, node.right_on)):
        st = supertype(le.resolve(ls).dtype, re_.resolve(rs).dtype)
        if st is None:
            return None
        pt = polars_dtype(st)
        lk.append(cast(to_polars(le, ls), pt).alias(f"__sk{k}"))
        rk.append(cast(to_polars(re_, rs), pt))
    left = left.cache()
    keys = _select(left, lk)
    return left, _join_frames(right, keys, rk, [f"__sk{k}" for k in range(len(lk))], "semi")


def _join(node: Join, leaf: LeafResolver) -> pl.LazyFrame:
    left = _build(node.left, leaf)
    reduced = _reduced_right(node, left, leaf)
    if reduced is None:
        right = _build(node.right, leaf)
        held = _HELD_SCANS.get()
        if held is not None and id(node) in held:
            right = right.collect().lazy()  # (under a key-range filter: see _probe_rebuild)
    else:
        right, left = reduced
    ls, rs = node.left.schema, node.right.schema
    renamed: list[Any] = []

    def positional() -> tuple[dict[str, str], dict[str, str], list[pl.Expr], list[pl.Expr]]:
        """The columns' positional names and the keys (``__lk<k>``/``__rk<k>``) of a join that
        renames them, built once, where the join needs them (a direct join does not: most joins)."""
        if not renamed:
            lmap = {n: f"__l{i}" for i, n in enumerate(ls.names)}
            rmap = {n: f"__r{i}" for i, n in enumerate(rs.names)}
            lkeys = [to_polars(e, ls).alias(f"__lk{k}") for k, e in enumerate(node.left_on)]
            rkeys = [to_polars(e, rs).alias(f"__rk{k}") for k, e in enumerate(node.right_on)]
            # join keys in a common type (int32 vs int64, decimal scales)
            for k, (le, re_) in enumerate(zip(node.left_on, node.right_on)):
                lt, rt = le.resolve(ls).dtype, re_.resolve(rs).dtype
                st = supertype(lt, rt)
                if st is not None and (st != lt or st != rt):
                    pt = polars_dtype(st)
                    lkeys[k] = cast(lkeys[k], pt)
                    rkeys[k] = cast(rkeys[k], pt)
            renamed.extend((lmap, rmap, lkeys, rkeys))
        return renamed[0], renamed[1], renamed[2], renamed[3]

    how = node.how
    found = None
    if how in ("inner", "semi") and node.left_on and not node.nulls_equal:
        found = _key_range_filter(node, left, right,
                                  lambda: [polars_col(n, a) for n, a in positional()[1].items()] + positional()[3], leaf)
    if found is not None:
        left, right = found
        lmap, rmap, lkeys, rkeys = positional()
        rsel = [polars_col(a) for a in rmap.values()] + [polars_col(f"__rk{k}") for k in range(len(rkeys))]
    else:
        keyset = _key_set_reduced(node, left, right) if reduced is None else None
        if keyset is not None:
            left, right = keyset
        direct = None if node.nulls_equal else _direct_join(node, left, right)
        if direct is not None:
            return direct
        lmap, rmap, lkeys, rkeys = positional()
        rsel = [polars_col(n, a) for n, a in rmap.items()] + rkeys
    lsel = [polars_col(n, a) for n, a in lmap.items()] + lkeys
    L, R = _select(left, lsel), _select(right, rsel)
    if how == "cross":
        joined = _join_frames(L, R, (), (), "cross")
    else:
        lon = [f"__lk{k}" for k in range(len(lkeys))]
        ron = [f"__rk{k}" for k in range(len(rkeys))]
        phow = {"outer": "full"}.get(how, how)
        joined = _join_frames(L, R, lon, ron, phow, coalesce=False, nulls_equal=node.nulls_equal)
    if how in ("semi", "anti"):
        return _select(joined, [polars_col(a, n) for n, a in lmap.items()])
    out: list[pl.Expr] = []
    dropped = node.coalesced_right_keys()
    # right join: a left key column takes the right key where the left side is missing
    coalesce_from: dict[str, str] = {}
    if how == "right":
        for k, (le, re_) in enumerate(zip(node.left_on, node.right_on)):
            if isinstance(le, Column) and isinstance(re_, Column):
                coalesce_from[le.name] = f"__rk{k}"
    for n, a in lmap.items():
        if n in coalesce_from:
            out.append(pl.coalesce(pl.col(a), pl.col(coalesce_from[n]).cast(polars_dtype(ls[n]))).alias(n))
        else:
            out.append(polars_col(a, n))
    left_names = set(ls.names)
    for n, a in rmap.items():
        if n in dropped:
            continue
        out.append(polars_col(a, n + node.suffix if n in left_names else n))
    return _select(joined, out)


def _direct_join(node: Join, left: pl.LazyFrame, right: pl.LazyFrame) -> pl.LazyFrame | None:
    """An inner, left, semi, anti or cross join on columns of the same type, joined as they are,
    without the positional renames (None where those are needed). A semi or anti join gives the
    left side's columns; an inner or left join the left's, then the right's but the right key
    columns the join merges (plain column keys: all of them, Polars' ``coalesce``; keys kept as
    SQL keeps them, ``col.alias("__key.x")``: none); a cross join every column of both. That is
    Polars' own output wherever no right column takes a suffix. The renames were a ``select`` on
    each side and one after, which cost lowering and Polars' optimizer time on every collect (it
    walks them)."""
    how = node.how
    ls, rs = node.left.schema, node.right.schema
    if how == "cross":
        return None if not set(ls.names).isdisjoint(rs.names) else _join_frames(left, right, (), (), "cross")
    if how not in ("inner", "left", "semi", "anti") or not node.left_on:
        return None
    lon: list[str] = []
    ron: list[str] = []
    for le, re_ in zip(node.left_on, node.right_on):
        lc, rc = _key_column(le), _key_column(re_)
        if lc is None or rc is None or ls[lc] != rs[rc]:
            return None
        lon.append(lc)
        ron.append(rc)
    if len(set(lon)) != len(lon) or len(set(ron)) != len(ron):
        return None
    if how in ("semi", "anti"):
        return _join_frames(left, right, lon, ron, how)
    merged = {type(e) is Column for e in node.right_on}
    if len(merged) != 1:
        return None  # some keys merged, some kept: Polars merges all or none
    lnames = set(ls.names)
    if True in merged:
        same = dict(zip(ron, lon))
        # a right key merged into a left key of its name is no clash; any other shared name is
        for n in rs.names:  # (a loop, not any() over a generator: a step of it per column)
            if n in lnames and same.get(n) != n:
                return None
        return _join_frames(left, right, lon, ron, how, coalesce=True)
    if not lnames.isdisjoint(rs.names):
        return None
    return _join_frames(left, right, lon, ron, how, coalesce=False)


def _key_column(e: Expr) -> str | None:
    """The column a join key reads where it is one, plain or renamed (None for any other key)."""
    if type(e) is Alias:
        e = e.child
    return e.name if type(e) is Column else None


#: a key-range filter is tried where the probe side's row groups each span at most this fraction
#: of its key column's range (on average: the rows are clustered on the key), and applied where
#: the build side's keys fall in at most this fraction of the row groups
KEY_RANGE_MAX_FRACTION = 0.5
#: and where the build side (a filtered scan) is estimated at most this many rows
KEY_RANGE_MAX_BUILD_ROWS = 1_000_000
#: and where the table the build side scans has at most this fraction of the probe side's rows
#: (computing the build side reads its whole table: TPC-H Q12's build side is lineitem filtered
#: down to a few thousand rows, read in full to maybe skip some of the smaller orders table)
KEY_RANGE_MAX_SCAN_FRACTION = 0.125


def _scanned_rows(node: LogicalPlan) -> int | None:
    """Rows of the tables under ``node``'s projections, filters and semi joins (both sides;
    None when unknown)."""
    while isinstance(node, (Project, Filter)):
        node = node.input
    if isinstance(node, Join) and node.how == "semi":
        left, right = _scanned_rows(node.left), _scanned_rows(node.right)
        return None if left is None or right is None else left + right
    return node.source.statistics().num_rows if isinstance(node, ScanSource) else None


def _scan_only(node: LogicalPlan) -> bool:
    """``node`` is a scan under projections and filters only (cheap to compute on its own)."""
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, ScanSource)


def _scans_semi_joined(node: LogicalPlan) -> bool:
    """``node`` is scans under projections, filters and semi joins only: TPC-DS q02's build side,
    the days of the weeks of one year (date_dim semi-joined with date_dim filtered by year)."""
    while isinstance(node, (Project, Filter)):
        node = node.input
    if isinstance(node, Join) and node.how == "semi":
        return _scans_semi_joined(node.left) and _scans_semi_joined(node.right)
    return isinstance(node, ScanSource)


def _source_columns(node: LogicalPlan, name: str) -> list[tuple[Source, str]] | None:
    """The scanned sources and their columns that column ``name`` of ``node`` holds the values of
    (through renames, filters, the sides of joins and every input of a union), or None."""
    while True:
        if isinstance(node, ScanSource):
            return [(node.source, name)] if name in node.schema.names else None
        if isinstance(node, Project):
            e = next((x for x in node.exprs if x.output_name() == name), None)
            src = strip_alias(e) if e is not None else None
            if not isinstance(src, Column):
                return None
            name, node = src.name, node.input
        elif isinstance(node, Filter):
            node = node.input
        elif isinstance(node, Join) and node.how in ("inner", "semi", "anti", "left", "cross"):
            if name in node.left.schema.names:
                node = node.left
            elif node.how in ("inner", "left", "cross") and name in node.right.schema.names:
                node = node.right
            else:
                return None
        elif isinstance(node, Union) and name in node.schema.names:
            i = node.schema.names.index(name)
            out: list[tuple[Source, str]] = []
            for child in node.inputs:
                found = _source_columns(child, child.schema.names[i])
                if found is None:
                    return None
                out.extend(found)
            return out
        else:
            return None


def _source_column(node: LogicalPlan, name: str) -> tuple[Source, str] | None:
    """The one scanned source and its column that column ``name`` of ``node`` holds the values
    of (see :func:`_source_columns`), or None."""
    found = _source_columns(node, name)
    return found[0] if found is not None and len(found) == 1 else None


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


def _clustered_ranges(node: LogicalPlan, key: Expr, schema: Schema) -> list[tuple[Any, Any]] | None:
    """The row-group ranges of the scanned column behind ``key`` when the rows are clustered on
    it (each row group spans a small part of the column's range), else None."""
    k = strip_alias(key)
    if not isinstance(k, Column):
        return None
    dtype = k.resolve(schema).dtype
    if not (dtype.is_integer() or dtype.kind == "date"):
        return None
    found = _source_columns(node, k.name)
    if found is None:
        return None
    out: list[tuple[Any, Any]] = []
    for source, column in found:  # (a union's inputs: those clustered on the key)
        ranges = source.column_ranges(column)
        if not ranges or len(ranges) < 2:
            continue
        try:
            # (C-level iterators, not generators: a clustered table has dozens of row groups, a
            # generator resumed for each was ~230 Python calls of lowering the 22 TPC-H queries)
            los, his = list(map(_FIRST, ranges)), list(map(_SECOND, ranges))
            lo, hi = min(los), max(his)
            span = hi - lo
            widths = sum(map(operator.sub, his, los), start=span - span)
            if not span or widths > KEY_RANGE_MAX_FRACTION * span * len(ranges):
                continue
        except TypeError:
            continue
        out.extend(ranges)
    return out or None


def _key_range_filter(node: Join, left: pl.LazyFrame, right: pl.LazyFrame,
                      rsel: Callable[[], list[pl.Expr]],
                      leaf: LeafResolver | None = None) -> tuple[pl.LazyFrame, pl.LazyFrame] | None:
    """A join filter from a small, filtered build side to a probe side clustered on the join key
    (``right`` selected by ``rsel()`` has the build keys as ``__rk<k>``; selected only where the
    filter applies): the build side is computed first and the
    probe side keeps the keys in its ``[min, max]``. Polars pushes that filter down to the scan,
    whose row-group statistics then skip the row groups outside the range: TPC-DS q39 reads the
    one month of the date-ordered inventory table it joins with instead of all of it (DuckDB's
    join filter pushdown does the same). Rows outside the range (or with a NULL key) match no
    row of an inner or semi join, so the result is the same.

    Only where it pays: the build side is a filtered scan (or scans semi-joined: TPC-DS q02's
    days of the weeks of one year) of tables much smaller than the probe side's (cheap to compute
    on its own), the probe side's rows are clustered on the key (its row groups' footer ranges say
    so, without reading data; for a union, those of its inputs that are: q02, q05 and q54 union
    catalog sales, clustered on the sale date, with web sales or catalog returns, which are not)
    and the build keys fall in at most half of its row groups. Returns the filtered
    probe side and the computed build side, or None when no filter applies (then the build side
    stays a scan: Polars joined TPC-H Q9's green parts as a computed frame at 0.60 s CPU, as a
    scan at 0.32 s)."""
    if not (_scans_semi_joined(node.right) and _filtered(node.right)):
        return None
    # the table sizes first (two footers' row counts, read already): most joins stop there,
    # before the estimate and the row groups' ranges (cold code on every query)
    build_rows = _scanned_rows(node.right)
    if build_rows is None:
        return None
    probe_rows: dict[int, int | None] = {}
    for k, e in enumerate(node.left_on):
        key = strip_alias(e)
        if isinstance(key, Column):
            probes = _source_columns(node.left, key.name)
            counts = [p[0].statistics().num_rows for p in probes or ()]
            probe_rows[k] = None if not counts or None in counts else sum(c for c in counts if c is not None)
    if not any(n is not None and build_rows <= KEY_RANGE_MAX_SCAN_FRACTION * n for n in probe_rows.values()):
        return None  # (as below for whichever key comes first)
    rows = estimate(node.right).rows
    if rows is None or rows > KEY_RANGE_MAX_BUILD_ROWS:
        return None
    ls = node.left.schema
    candidates = [(k, r) for k, e in enumerate(node.left_on)
                  if (r := _clustered_ranges(node.left, e, ls)) is not None]
    if not candidates:
        return None
    first = probe_rows[candidates[0][0]]  # (a candidate's key is a column)
    if first is None or build_rows > KEY_RANGE_MAX_SCAN_FRACTION * first:
        return None
    built = _select(right, rsel()).collect()
    bounds: list[pl.Expr] = []
    for k, ranges in candidates:
        col = built.get_column(f"__rk{k}")
        lo, hi = col.min(), col.max()
        if lo is None or hi is None:  # no key to match: the join is empty
            return left.filter(pl.lit(False)), built.lazy()
        try:
            hit = sum(1 for a, b in ranges if b >= lo and a <= hi)
        except TypeError:
            continue
        if hit <= KEY_RANGE_MAX_FRACTION * len(ranges):
            bounds.append(to_polars(node.left_on[k], ls).is_between(lo, hi))
    if not bounds:
        return None
    held = None
    if leaf is not None and any((probe_rows[k] or 0) >= REBUILD_MIN_GROUP_ROWS * len(r) for k, r in candidates):
        held = _probe_rebuild(node.left, [node.left_on[k] for k, _ in candidates])
    if held is not None and leaf is not None:
        left = _rebuilt_holding(node.left, leaf, held)
    left = left.filter(pl.all_horizontal(bounds) if len(bounds) > 1 else bounds[0])
    return left, built.lazy()


#: the ids of the scans whose own predicate this build tests after the scan, where a build is
#: the probe side of a key-range filter built again (see _probe_rebuild; None elsewhere)
_HELD_SCANS: contextvars.ContextVar[frozenset[int] | None] = contextvars.ContextVar("thresher_polars_held_scans",
                                                                                    default=None)


def _probe_rebuild(node: LogicalPlan, keys: list[Expr]) -> frozenset[int] | None:
    """How to build ``node``, the probe side of a key-range filter on ``keys``, again (see
    :func:`_rebuilt_holding`): the ids of its scans whose own predicate is then tested after
    the scan and of its joins whose build side is computed first, or None where a first build
    stays. Only where ``node`` is scans under projections,
    filters and inner joins (nothing another part of the plan shares), and something changes:

    * Polars' Parquet reader skips the pages outside the range of a clustered column where the
      range is the scan's only predicate, and decodes every row of the row groups it keeps where
      another column's test is part of it: such a test goes after the scan (TPC-DS q82's
      inventory scan, the dates of two months and a quantity range: 22 ms, with the quantity
      tested after the scan 9.5 ms);
    * an inner join's build side that is a small filtered scan is computed first (``_join``)
      where the join's probe keys are the clustered scan's: joined as a scan, Polars' runtime
      filter from it goes into that scan's predicate, with the same cost (q82's and q21's
      inventory dates joined with a few items: 24.6 ms, with the items computed first 8.7 ms).
      Not for the other joins of the probe side (q17 and q25 joined with dates, q18 with
      customer addresses: each slower with the build side computed first)."""
    probes: set[tuple[int, str]] = set()
    for k in keys:
        key = strip_alias(k)
        if isinstance(key, Column):
            probes.update((id(source), column) for source, column in _source_columns(node, key.name) or ())
    shared = _SHARED.get() or {}
    reads = _SHARED_READS.get() or {}
    found: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in shared or id(n) in reads:
            return None
        if isinstance(n, (Project, Filter)):
            stack.append(n.input)
        elif isinstance(n, Join) and n.how == "inner":
            if _small_filtered_scan(n.right) and any(
                    s == id(source) for s, _ in probes for k in n.left_on if isinstance(key := strip_alias(k), Column)
                    for source, _ in _source_columns(n.left, key.name) or ()):
                found.add(id(n))  # (its probe side reads the clustered scan)
            stack += [n.left, n.right]
        elif isinstance(n, ScanSource):
            cols = {c for s, c in probes if s == id(n.source)}
            if cols and n.predicate is not None and any(t.column not in cols for t in n.predicate.terms):
                found.add(id(n))
        else:
            return None
    return frozenset(found) if found else None


#: the probe side of a key-range filter is built again (see _probe_rebuild) where its clustered
#: table's row groups hold at least this many rows on average: what it gains is the pages skipped
#: inside a row group (TPC-DS inventory, 1.96M rows a group: q82, q37, q21 faster; catalog
#: sales, 96,000: q32 and q75 3-5% slower, q49 level)
REBUILD_MIN_GROUP_ROWS = 500_000

#: a build side inside a key-range filter's probe side is computed first where it is a filtered
#: scan of a table of at most this many rows (TPC-DS's items, 18,000: q82, q37, q21, q40 faster;
#: its customer addresses, 50,000, and customer demographics, 1.9M: q16 level, q26 slower)
COMPUTED_FIRST_MAX_TABLE_ROWS = 20_000


def _small_filtered_scan(node: LogicalPlan) -> bool:
    """``node`` is a filtered scan of a table of at most COMPUTED_FIRST_MAX_TABLE_ROWS rows."""
    if not (_scan_only(node) and _filtered(node)):
        return False
    rows = _scanned_rows(node)
    return rows is not None and rows <= COMPUTED_FIRST_MAX_TABLE_ROWS


def _rebuilt_holding(node: LogicalPlan, leaf: LeafResolver, held: frozenset[int]) -> pl.LazyFrame:
    """``node`` built again with the predicates of the scans ``held`` tested after them and its
    joins' small filtered build sides computed first (see :func:`_probe_rebuild`; a memo of its
    own: the first build's frames are the other ones)."""
    scans = _SCANS.get()
    again = None
    if scans is not None:  # (its scans counted as before its first build: read as then, see _SCANS)
        again = dict(scans)
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ScanSource):
                k: Any = (n.source, n.columns, n.predicate, n.limit)
                try:
                    hash(k)
                except TypeError:
                    k = n.key()
                if again.get(k, 0) > 0:
                    again[k] -= 1
            else:
                stack += n.children()
    memo_token = _MEMO.set({})
    held_token = _HELD_SCANS.set(held)
    scans_token = _SCANS.set(again)
    try:
        return _build(node, leaf)
    finally:
        _SCANS.reset(scans_token)
        _HELD_SCANS.reset(held_token)
        _MEMO.reset(memo_token)


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
        return build_lazy(self.node, _LeafFrames(by_leaf), by_leaf.keys())


class _LeafFrames:
    """The :data:`LeafResolver` of a program's inputs: the frame of each leaf node, by its id
    (``KeyError`` for any other node; :func:`_build_node` looks the node up instead of calling)."""

    __slots__ = ("frames",)

    def __init__(self, frames: dict[int, pl.LazyFrame]) -> None:
        self.frames = frames

    def __call__(self, n: LogicalPlan) -> pl.LazyFrame:
        if id(n) in self.frames:
            return self.frames[id(n)]
        raise KeyError(n)


def cut_inputs(node: LogicalPlan) -> PolarsProgram:
    """``node`` over placeholders for its direct children (a task never carries the upstream plan)."""
    leaves = tuple(ScanSource(SchemaOnlySource(c.schema.to_arrow())) for c in node.children())
    return PolarsProgram(node.with_children(list(leaves)), leaves)
