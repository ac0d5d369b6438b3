"""join_order: a tree of inner joins is rebuilt in the order that keeps intermediate results small.

SQL lists tables in whatever order its author wrote them; the translator joins them in that order
(each next table that shares an equality with what is joined so far). TPC-DS q72 starts with
``catalog_sales JOIN inventory ON cs_item_sk = inv_item_sk``: 1.4M x 11.7M rows meeting on 18,000
items, about 900M rows, before the date and demographic filters that leave a few thousand.

The rule flattens a maximal tree of inner (and cross) joins, with the filters and column
selections between them, into its inputs (the leaves) and its predicates, then picks the order:
for up to ``DP_MAX_LEAVES`` inputs exactly, by dynamic programming over connected subsets with
the cost of a tree the sum of its joins' estimated outputs and build sides; for more, greedily
(GOO, "greedy operator ordering": at each step the two connected parts whose join is estimated
smallest). Greedy fails where the cheapest first step forces a bad later one: TPC-H Q5 joins
supplier with the ASIA nations first (2,000 rows), which leaves customer a many-to-many join on
the nation key, where customer with those nations first keeps every step small.

For the exact search, equalities are closed under transitivity: ``c_nationkey = s_nationkey AND
s_nationkey = n_nationkey`` also offers ``c_nationkey = n_nationkey`` (and Q9's ``ps_partkey =
l_partkey AND p_partkey = l_partkey`` offers partsupp with the green parts before lineitem). A
join applies one key per class of equal columns.

Equalities between two parts become join keys wherever they were written (ON or
WHERE); a predicate on one leaf filters that leaf; any other predicate (``inv_quantity < cs_quantity``,
``d3.d_date > d1.d_date + 5``) filters the first join that has all its columns. Parts that no
equality connects are cross-joined last, smallest first.

Before (the order written; the first join is the 900M-row one)::

    Filter (cs_quantity > inv_quantity_on_hand)
      Join inner on [d1.d_week_seq = d2.d_week_seq, inv_date_sk = d2.d_date_sk]
        Join inner on [cs_sold_date_sk = d1.d_date_sk]
          Join inner on [cs_item_sk = inv_item_sk]
            Scan catalog_sales
            Scan inventory
          Scan date_dim d1 predicate=[d_year == 1999]
        Scan date_dim d2

After (the filtered dates first; inventory meets a few thousand sales on item and date)::

    Project [...the original column order...]
      Filter (cs_quantity > inv_quantity_on_hand)
        Join inner on [inv_date_sk = d2.d_date_sk, inv_item_sk = cs_item_sk]
          Scan inventory
          Join inner on [d2.d_week_seq = d1.d_week_seq]
            Scan date_dim d2
            Join inner on [cs_sold_date_sk = d1.d_date_sk]
              Scan catalog_sales
              Scan date_dim d1 predicate=[d_year == 1999]

Estimates (``planner.stats``): a leaf's rows after its filters; an equi-join of parts ``A`` and
``B`` keeps ``|A| |B| / max(ndv(a), ndv(b))`` rows, where ``ndv`` is the base column's distinct
count (an integer or date column holds at most ``max - min + 1`` values, from the Parquet
footers; a group-by key at most the groups; unknown: the square root of the leaf's rows, so
that two columns of unknown contents never look like a cheap key join). A second key of the same join counts with the
square root of its selectivity, a third with the fourth root (keys are rarely independent), and
a composite key holds at most as many values as its table has rows (store_sales meets
store_returns on item, ticket and customer: about one sale per return). Of the candidate joins
the one with the smallest output plus build side goes first (with equal outputs, the join with a
small dimension). A join of two leaves that other regions of the plan hold too (an edge between
them) is one subplan computed once: each region pays its share (``_shared_pairs``).

Inner joins commute and associate, so the rows are the same; a projection restores the column
names and order. The rule leaves alone: regions of fewer than three inputs, inputs whose column
names overlap (suffixes), unknown sizes, and a region already in the chosen order (so it runs
to a fixpoint with the rules that insert projections between the joins).
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass

from thresher.expressions.expr import (
    Alias,
    Call,
    Column,
    Expr,
    _columns,
    combine_conjunction,
    memo,
    split_conjunction,
    strip_alias,
)
from thresher.io.source import ColumnStatistics
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, ScanSource
from thresher.planner.memo import memoized_by_identity, unlink
from thresher.planner.optimizer.rules._joins import reorder_to
from thresher.planner.optimizer.rules._util import rule_memo
from thresher.planner.optimizer.rules.broadcast_join import is_small
from thresher.planner.stats import (
    SEMI_JOIN_KEEPS,
    column_ndv,
    column_statistics,
    estimate,
    input_statistics,
    predicate_selectivity,
    source_statistics,
    term_selectivity,
)

#: regions with more inputs than this are left as written (the greedy search is cubic)
MAX_LEAVES = 24
#: regions with at most this many inputs are ordered exactly (dynamic programming over connected
#: subsets, each split into two connected ones that an edge joins: see _csg_cmp_pairs) with
#: implied equalities; larger ones greedily over the written ones. (Within a greedy search an
#: implied key makes an unfiltered dimension a cheap early join that only widens the rows:
#: TPC-DS q17 joined item with store_returns first, 0.16 -> 0.21 s; DP over TPC-DS q18's 7
#: inputs lost Polars' sharing of the join between its ROLLUP branches.)
DP_MAX_LEAVES = 6
#: its output is its own fixpoint (the search breaks ties in _flatten's canonical order, and a
#: region already in the chosen order is left as it is; see _visit): the optimizer's runner does
#: not rerun it on its own output
IDEMPOTENT = True


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    token = _ROOT.set(plan)  # (its regions, once asked: see _shared_pairs)
    try:
        return _visit(rule_memo("join_order"), plan)
    finally:
        _ROOT.reset(token)


#: the plan ``apply`` orders the regions of
_ROOT: contextvars.ContextVar[LogicalPlan | None] = contextvars.ContextVar("thresher_join_order_root", default=None)


def _regions(plan: LogicalPlan) -> tuple[dict[LogicalPlan, int], list[frozenset[int]]]:
    """The leaves of each join region of ``plan`` (as ``_flatten`` walks one; a subplan shared by
    several parents counted once), for :func:`_shared_pairs`: a number for each distinct leaf
    (equal subplans, one number), and each region's leaves' numbers."""
    found: list[list[LogicalPlan]] = []
    seen: set[int] = set()

    def walk(node: LogicalPlan) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if not _in_region(node):
            for c in node.children():
                walk(c)
            return
        leaves: list[LogicalPlan] = []
        stack = [node]
        while stack:
            n = stack.pop()
            if n is not node and not _in_region(n):
                leaves.append(n)
            else:
                stack.extend(n.children())
        if len(leaves) >= 3:
            found.append(leaves)
        for leaf in leaves:
            walk(leaf)

    walk(plan)
    unlink(walk)  # see planner/memo.py
    number: dict[LogicalPlan, int] = {}
    if len(found) < 2:
        # (one region shares nothing: its leaves are not numbered, which hashes each of them, a
        # walk of its whole subtree's fields; most plans have one region)
        return number, []
    out = [frozenset(number.setdefault(leaf, len(number)) for leaf in leaves) for leaves in found]
    return number, out


def _shared_pairs(leaves: list[LogicalPlan], edges: list[_Edge]) -> dict[frozenset[int], int]:
    """Pairs of leaves (by index) that an edge joins and that are both leaves of other regions of
    the plan too: how many regions hold both. Their join, the same subplan in each, is computed
    once and shared (the lowering caches a join read twice): each region pays its share of it.
    TPC-DS q88 counts the sales of eight time slices, each joining store_sales with the same
    filtered household_demographics and store: the join of the sales with the households shared
    by the eight was 2.4 times faster than each slice joining its own times first, though the
    households keep 80% of the rows and the times 2%."""
    root = _ROOT.get()
    if root is None:
        return {}
    memo = rule_memo("join_order_regions")
    if id(root) not in memo:
        memo[id(root)] = (root, _regions(root))  # (kept alive: its id is not reused)
    number, regions = memo[id(root)][1]
    if len(regions) < 2:
        return {}
    out: dict[frozenset[int], int] = {}
    for e in edges:
        if len(e.la) != 1 or len(e.lb) != 1:
            continue
        (i,), (j,) = e.la, e.lb
        pair = frozenset((i, j))
        if pair in out:
            continue
        a, b = number.get(leaves[i]), number.get(leaves[j])
        if a is None or b is None:
            continue
        k = sum(1 for r in regions if a in r and b in r)
        if k > 1:
            out[pair] = k
    return out


def handles(node: LogicalPlan) -> bool:
    """Whether this rule orders the join tree rooted at ``node`` (so join_reorder keeps off it)."""
    if not _in_region(node):
        return False
    region = _flatten(node)
    return region is not None and len(region[0]) >= 3


def _in_region(node: LogicalPlan) -> bool:
    """A node the flattening looks through: an inner/cross join, or a filter or plain column
    selection directly over one."""
    if isinstance(node, Join):
        # (a join whose NULL keys match is a leaf: its keys are no equalities to reorder or close)
        return node.how == "cross" or (node.how == "inner" and bool(node.left_on) and not node.nulls_equal)
    if isinstance(node, Filter):
        return _in_region(node.input) and isinstance(node.input, Join)
    if isinstance(node, Project):
        return (isinstance(node.input, Join) and _in_region(node.input)
                and all(isinstance(e, Column) for e in node.exprs))
    return False


def _visit(memo: dict[int, tuple[LogicalPlan, LogicalPlan | None]], node: LogicalPlan) -> LogicalPlan | None:
    """``_visit_node``, once per node object: a subplan shared by several parents (a CTE used
    twice) is ordered once, and within one optimize() call a node keeps its answer for the later
    passes (see rule_memo)."""
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    out = _visit_node(memo, node)
    memo[id(node)] = (node, out)  # the node is kept alive: its id is not reused
    if out is not None:
        # the rule's output is a fixpoint (see _flatten's canonical order; the tests apply the
        # rule to its own output): the pass after a reorder meets the rebuilt region again and
        # skips it instead of flattening, estimating and searching it a second time
        memo[id(out)] = (out, None)
        if isinstance(out, Project) and _in_region(out.input):
            # and so is the join tree under the projection that restores the column order (the
            # same leaves and terms): projection_merge folds that projection into the one above
            # it in the next pass, which leaves the tree itself to visit (TPC-H q7, q8, q9, q11
            # flattened, estimated and searched it again)
            memo[id(out.input)] = (out.input, None)
    return out


def _visit_node(memo: dict[int, tuple[LogicalPlan, LogicalPlan | None]], node: LogicalPlan) -> LogicalPlan | None:
    built: dict[int, LogicalPlan] = rule_memo("join_order_built")
    if isinstance(node, Project) and built.get(id(node.input)) is node.input and _in_region(node):
        # a selection of columns over a join tree this rule built (projection_pushdown narrowed
        # the projection that restored the region's column order; the tree below is the same
        # object): the region's leaves, predicates and join structure are those of the rule's
        # own output, a fixpoint, so it stays as it is (every query with a reordered region
        # flattened, estimated and searched it again in the pass after)
        return None
    if _in_region(node):
        region = _flatten(node)
        if region is not None:
            leaves, _ = region
            new_leaves = [_visit(memo, leaf) for leaf in leaves]
            if any(n is not None for n in new_leaves):
                mapping = {id(old): new for old, new in zip(leaves, new_leaves) if new is not None}
                node = _replace_leaves(node, mapping)
                region = _flatten(node)
                assert region is not None
            out = _reorder(node, region)
            if out is not None:
                tree = out.input if isinstance(out, Project) else out
                built[id(tree)] = tree  # (kept alive: its id is not reused)
                return out
            return node if any(n is not None for n in new_leaves) else None
    kids = node.children()
    new = [_visit(memo, k) for k in kids]
    if all(n is None for n in new):
        return None
    return node.with_children([n if n is not None else k for n, k in zip(new, kids)])


def _replace_leaves(node: LogicalPlan, mapping: dict[int, LogicalPlan]) -> LogicalPlan:
    if id(node) in mapping:
        return mapping[id(node)]
    kids = node.children()
    if not kids:
        return node
    return node.with_children([_replace_leaves(k, mapping) for k in kids])


def _flatten(root: LogicalPlan) -> tuple[list[LogicalPlan], list[Expr]] | None:
    """The region's leaves and its predicates (join keys as ``eq`` terms), or None when the
    leaves' column names overlap."""
    leaves: list[LogicalPlan] = []
    terms: list[Expr] = []

    def walk(node: LogicalPlan, top: bool) -> None:
        if not top and not _in_region(node):
            leaves.append(node)
            return
        if isinstance(node, Join):
            terms.extend(_key_terms(node))
            walk(node.left, False)
            walk(node.right, False)
        elif isinstance(node, Filter):
            terms.extend(split_conjunction(node.predicate))
            walk(node.input, False)
        else:
            assert isinstance(node, Project)
            walk(node.input, False)

    walk(root, True)
    unlink(walk)  # see planner/memo.py
    # a canonical order (not the tree's): ties in the search then break the same way whatever
    # shape the tree had, so the rule's own output is a fixpoint
    leaves.sort(key=lambda leaf: min(leaf.schema.names_view, default=""))
    seen: set[str] = set()
    for leaf in leaves:
        names = set(leaf.schema.names_view)
        if names & seen:
            return None
        seen |= names
    if not root.schema.names_view <= seen:
        return None
    return leaves, terms


def _key_terms(node: Join) -> tuple[Expr, ...]:
    """The join's keys as ``eq`` terms, the same objects each time the region is flattened in
    one optimize() call (their columns, texts and selectivities are kept on them: a region is
    flattened again in every pass, and by ``handles`` for join_reorder)."""
    return memoized_by_identity("join_order_key_terms", _make_key_terms, node)  # type: ignore[no-any-return]


def _make_key_terms(node: Join) -> tuple[Expr, ...]:
    return tuple(Call("eq", (strip_alias(lk), strip_alias(rk))) for lk, rk in zip(node.left_on, node.right_on))


@dataclass
class _Edge:
    """An equality whose two sides come from disjoint sets of leaves."""

    term: Expr
    a: Expr
    b: Expr
    la: frozenset[int]
    lb: frozenset[int]
    sel: float
    #: the equivalence class of its two columns (see _close_equivalences); None: not in one
    cls: int | None = None


@dataclass(frozen=True)
class _Residual:
    """A term over several leaves that is no join key: it filters the first join holding them.
    ``sel``: the fraction it keeps, its comparisons estimated from their leaves' column
    statistics (TPC-DS q48's OR of three ANDs over demographics, sales and addresses)."""

    term: Expr
    leaves: frozenset[int]
    sel: float


@dataclass
class _Part:
    """A leaf (with its own filter terms) or the join of two parts: the search works on these
    and builds plan nodes only for a region whose order changes (building a join derives its
    schema, and most regions, on every pass after the first, are already in order)."""

    leaves: frozenset[int]
    rows: float
    #: the join structure, for comparing with the tree as written
    sig: object
    leaf: LogicalPlan | None = None
    local: list[Expr] | None = None
    #: a join: the probe and build sides, their keys (right keys aliased), the terms it filters
    left: _Part | None = None
    right: _Part | None = None
    left_on: tuple[Expr, ...] = ()
    right_on: tuple[Expr, ...] = ()
    here: list[Expr] | None = None


class _GiveUp(Exception):
    """A join of the chosen order does not type-check: keep the tree as written."""


def _build(part: _Part) -> LogicalPlan:
    if part.leaf is not None:
        return Filter(part.leaf, combine_conjunction(part.local)) if part.local else part.leaf
    assert part.left is not None and part.right is not None
    left, right = _build(part.left), _build(part.right)
    try:
        if part.left_on:
            # the strategy broadcast_join would pick (so a rebuilt tree costs it no extra pass)
            small_l, small_r = is_small(estimate(left)), is_small(estimate(right))
            strategy = "broadcast" if small_r else "hash" if small_l is False and small_r is False else "auto"
            plan: LogicalPlan = Join(left, right, part.left_on, part.right_on, "inner", strategy=strategy)
        else:
            plan = Join(left, right, (), (), "cross")
    except Exception as exc:  # noqa: BLE001 - incompatible key types: give up on the region
        raise _GiveUp from exc
    if part.here:
        plan = Filter(plan, combine_conjunction(part.here))
    return plan


def _leaf_sets(e: Expr, owner: dict[str, int]) -> frozenset[int] | None:
    out = []
    for c in memo(e, "_memo_columns", _columns):  # (e.columns(), without its copy)
        i = owner.get(c)
        if i is None:
            return None
        out.append(i)
    return frozenset(out)


def _ndv(e: Expr, leaves: list[LogicalPlan], owner: dict[str, int], rows: list[float]) -> float | None:
    if isinstance(e, Column) and e.name in owner:
        i = owner[e.name]
        # unknown (a string column): assume it is no key (a square root of the rows), so an
        # equality of two such columns does not look like a cheap key join (q85: cd1 and cd2
        # meet on marital and education status, 5 x 7 values over 1.9M rows each)
        return column_ndv(leaves[i], e.name) or math.sqrt(rows[i])
    ls = _leaf_sets(e, owner)
    if ls is not None and len(ls) == 1:
        return math.sqrt(rows[next(iter(ls))])
    return None


def _reorder(root: LogicalPlan, region: tuple[list[LogicalPlan], list[Expr]]) -> LogicalPlan | None:
    leaves, terms = region
    if not 3 <= len(leaves) <= MAX_LEAVES:
        return None
    rows: list[float] = []
    for leaf in leaves:
        r = estimate(leaf).rows
        if r is None:
            return None
        rows.append(max(r, 1.0))
    owner = {n: i for i, leaf in enumerate(leaves) for n in leaf.schema.names_view}
    base = {i: _base_rows(leaf) for i, leaf in enumerate(leaves)}
    edges: list[_Edge] = []
    local: dict[int, list[Expr]] = {}
    residual: list[_Residual] = []

    def info(name: str) -> ColumnStatistics | None:
        return column_statistics(leaves[owner[name]], name) if name in owner else None

    for t in terms:
        ls = _leaf_sets(t, owner)
        if ls is None:
            return None
        if isinstance(t, Call) and t.name == "eq" and len(t.args) == 2:
            a, b = t.args
            la, lb = _leaf_sets(a, owner), _leaf_sets(b, owner)
            if la and lb and not la & lb:
                nd = [n for n in (_ndv(a, leaves, owner, rows), _ndv(b, leaves, owner, rows)) if n]
                edges.append(_Edge(t, a, b, la, lb, 1.0 / max(nd) if nd else 0.1))
                continue
        if len(ls) == 1:
            local.setdefault(next(iter(ls)), []).append(t)
        else:
            residual.append(_Residual(t, ls, term_selectivity(t, info)))
    exact = len(leaves) <= DP_MAX_LEAVES
    if exact:
        edges += _close_equivalences(edges, leaves, owner, rows)
    parts: list[_Part] = []
    for i, leaf in enumerate(leaves):
        r = rows[i]
        if local.get(i):
            r *= predicate_selectivity(combine_conjunction(local[i]), input_statistics(leaf))
        parts.append(_Part(frozenset({i}), max(r, 1.0), i, leaf=leaf, local=local.get(i)))
    used_res: set[int] = set()
    if exact:
        dp = _dp_order(parts, edges, residual, base, _shared_pairs(leaves, edges))
        if dp is not None:
            parts = [_assemble(dp, parts, edges, residual, used_res, base)]
    # a pair of parts keeps its edges and estimate while other parts join (its residual terms
    # are on its own leaves, which no other join takes; a term on no column is the exception):
    # each pair is estimated once, not once per step (a cubic search became quadratic; TPC-DS
    # q64 greedily orders an 18-input join twice per pass)
    pairs: dict[tuple[frozenset[int], frozenset[int]], tuple[list[_Edge], float]] | None = (
        {} if all(r.leaves for r in residual) else None)
    # the choices are a function of the numbers (see _problem): a region met again (in a later
    # pass, or the same join in another use of a CTE) repeats the steps of the first search
    steps: list[tuple[int, int]] | None = None
    record: list[tuple[int, int]] = []
    known: dict[object, list[tuple[int, int]]] = rule_memo("join_order_greedy")
    problem: object = None
    if len(parts) > 1:
        problem = ("greedy", *_problem(parts, edges, residual, base))
        steps = known.get(problem)
    while len(parts) > 1:
        if steps is not None:  # a search made before: its steps
            x, y = steps[len(steps) - len(parts) + 1]
            px, py = parts[x], parts[y]
            joined = _join(px, py, _between(px.leaves, py.leaves, edges), residual, used_res, base)
            parts = [p for k, p in enumerate(parts) if k not in (x, y)] + [joined]
            continue
        best: tuple[tuple[float, int, int], int, int, list[_Edge]] | None = None
        for x in range(len(parts)):
            for y in range(x + 1, len(parts)):
                px, py = parts[x], parts[y]
                hit = pairs.get((px.leaves, py.leaves)) if pairs is not None else None
                if hit is not None:
                    between, est = hit
                else:
                    between = _between(px.leaves, py.leaves, edges)
                    est = _join_rows(px, py, between, residual, used_res, base) if between else 0.0
                    if pairs is not None:
                        pairs[(px.leaves, py.leaves)] = (between, est)
                if not between:
                    continue
                # the output, plus the side to build a hash table on: of two joins with the same
                # estimate, the one with a small dimension goes first
                key = (est + min(px.rows, py.rows), min(px.leaves), min(py.leaves))
                if best is None or key < best[0]:
                    best = (key, x, y, between)
        if best is None:  # nothing connects the parts: cross join the two smallest
            order = sorted(range(len(parts)), key=lambda k: (parts[k].rows, min(parts[k].leaves)))
            x, y = sorted(order[:2])
            between = []
        else:
            _, x, y, between = best
        px, py = parts[x], parts[y]
        joined = _join(px, py, between, residual, used_res, base)
        parts = [p for k, p in enumerate(parts) if k not in (x, y)] + [joined]
        record.append((x, y))
    if problem is not None and steps is None:
        known[problem] = record  # (kept once complete)
    (final,) = parts
    if final.sig == _signature(root, leaves):
        return None
    try:
        plan = _build(final)
    except _GiveUp:
        return None
    left_over = [r.term for k, r in enumerate(residual) if k not in used_res]
    if left_over:  # constants (no columns): on top
        plan = Filter(plan, combine_conjunction(left_over))
    try:
        return reorder_to(plan, root.schema.names)
    except Exception:  # noqa: BLE001 - a key that no longer type-checks: keep the tree as written
        return None


def _close_equivalences(edges: list[_Edge], leaves: list[LogicalPlan], owner: dict[str, int],
                        rows: list[float]) -> list[_Edge]:
    """Equalities implied by the written ones, as new edges: ``c_nationkey = s_nationkey AND
    s_nationkey = n_nationkey`` also joins customer with nation (TPC-H Q5: customer meets the
    filtered nations before supplier does). Columns equal through written equalities form a class;
    a class whose columns come from distinct leaves and share one type gets an edge between every
    two of its columns, and all its edges carry the class, so a join applies one key per class
    (each part's columns of a class are already equal; a second key would be redundant and make
    the estimate too small). Inner joins on ``=`` never match NULLs, so the closure keeps the rows."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    plain = [e for e in edges if isinstance(e.a, Column) and isinstance(e.b, Column)]
    for e in plain:
        assert isinstance(e.a, Column) and isinstance(e.b, Column)
        ra, rb = find(e.a.name), find(e.b.name)
        if ra != rb:
            parent[ra] = rb
    classes: dict[str, list[str]] = {}
    for x in list(parent):
        classes.setdefault(find(x), []).append(x)
    derived: list[_Edge] = []
    for k, members in enumerate(sorted(classes.values(), key=min)):
        if len(members) < 3:
            continue
        homes = [owner[m] for m in members]
        dtypes = {leaves[owner[m]].schema[m] for m in members}
        if len(set(homes)) != len(homes) or len(dtypes) != 1:
            continue
        mine = [e for e in plain if find(e.a.name) == find(members[0])]  # type: ignore[union-attr]
        for e in mine:
            e.cls = k
        written = {frozenset((e.a.name, e.b.name)) for e in mine}  # type: ignore[union-attr]
        members.sort()
        for i, x in enumerate(members):
            for y in members[i + 1:]:
                if frozenset((x, y)) in written:
                    continue
                a, b = Column(x), Column(y)
                nd = [n for n in (_ndv(a, leaves, owner, rows), _ndv(b, leaves, owner, rows)) if n]
                derived.append(_Edge(Call("eq", (a, b)), a, b, frozenset({owner[x]}), frozenset({owner[y]}),
                                     1.0 / max(nd) if nd else 0.1, k))
    return derived


def _between(xl: frozenset[int], yl: frozenset[int], edges: list[_Edge]) -> list[_Edge]:
    """The edges joining the parts of leaves ``xl`` and ``yl`` (one per equivalence class)."""
    return _one_per_class([e for e in edges if (e.la <= xl and e.lb <= yl) or (e.la <= yl and e.lb <= xl)])


def _one_per_class(between: list[_Edge]) -> list[_Edge]:
    """One edge of each equivalence class: the most selective, then by name (whether it was
    written or derived, so the choice is the same when the rule meets its own output)."""
    pick: dict[int, _Edge] = {}
    for e in between:
        if e.cls is not None:
            have = pick.get(e.cls)
            if have is None or (e.sel, _canon(e.term)) < (have.sel, _canon(have.term)):
                pick[e.cls] = e
    return [e for e in between if e.cls is None or pick[e.cls] is e]


def _canon(term: Expr) -> str:
    """``a = b`` and ``b = a`` alike (once per term: the exact search compares edges by it for
    every split it tries)."""
    return memo(term, "_memo_join_canon", _canon_text)  # type: ignore[no-any-return]


def _canon_text(term: Expr) -> str:
    if isinstance(term, Call) and term.name == "eq" and len(term.args) == 2:
        return _canon_pair(*term.args)
    return repr(term)


def _canon_pair(a: Expr, b: Expr) -> str:
    """``_canon(a = b)`` without building the term (the signature of a tree as written asks it of
    every join key, pass after pass)."""
    return " = ".join(sorted((_text(strip_alias(a)), _text(strip_alias(b)))))


def _text(e: Expr) -> str:
    return memo(e, "_memo_join_text", repr)  # type: ignore[no-any-return]


def _dp_order(parts: list[_Part], edges: list[_Edge], residual: list[_Residual],
              base: dict[int, float], shared: dict[frozenset[int], int] | None = None) -> object | None:
    """The join tree of least cost over ``parts`` (one leaf each) as nested ``(x, y)`` pairs of
    part indexes, or None when no sequence of key joins connects them all (GOO then finishes with
    cross joins). Cost: every join's estimated output plus its build side (the smaller input),
    summed over the tree ("C_out"), so a cheap first join that forces a large later one loses to
    a plan whose every step stays small (TPC-H Q5: customer meets the filtered nation first, not
    supplier, whose join with nation would leave customer a many-to-many join on the nation key)."""
    index = {next(iter(p.leaves)): k for k, p in enumerate(parts)}
    emask: list[tuple[int, int, _Edge]] = []
    for e in edges:
        a = sum(1 << index[i] for i in e.la)
        b = sum(1 << index[i] for i in e.lb)
        emask.append((a, b, e))
    shared = shared or {}
    if len(parts) <= _DP_UNKEPT:
        return _dp_search(parts, emask, residual, base, shared)
    problem = ("dp", *_problem(parts, edges, residual, base), tuple(sorted((tuple(sorted(p)), k) for p, k in shared.items())))
    done = rule_memo("join_order_dp")
    if problem in done:
        return done[problem]  # type: ignore[no-any-return]
    out = _dp_search(parts, emask, residual, base, shared)
    done[problem] = out
    return out


#: a search over at most this many parts is not kept for a region met again: it costs about what
#: its key does (TPC-H q3's three inputs: the key was as much work as the search it saved)
_DP_UNKEPT = 4


def _problem(parts: list[_Part], edges: list[_Edge], residual: list[_Residual],
             base: dict[int, float]) -> tuple[object, ...]:
    """What a search over ``parts`` (one leaf each) depends on: their sizes, the edges' leaves,
    selectivities and classes (in any order, either way round: their texts only break ties, so
    their rank stands for them), the residual terms' leaves and selectivities. A region met again
    in a later pass (its leaves rebuilt by other rules, its edges listed in another order) or the
    same join in another use of a CTE poses the same problem (TPC-DS q04 ordered its 6-input join
    three times per optimize() call, q64 its 18-input join four times)."""
    canon = [_canon(e.term) for e in edges]
    rank = {c: k for k, c in enumerate(sorted(set(canon)))}

    def mask(ls: frozenset[int]) -> int:
        return sum(1 << i for i in ls)

    keyed = []
    for e, c in zip(edges, canon):
        a, b = mask(e.la), mask(e.lb)
        keyed.append((a, b, e.sel, -1 if e.cls is None else e.cls, rank[c]) if a <= b else
                     (b, a, e.sel, -1 if e.cls is None else e.cls, rank[c]))
    return (tuple(next(iter(p.leaves)) for p in parts), tuple(p.rows for p in parts), tuple(sorted(base.items())),
            tuple(sorted(keyed)), tuple((mask(r.leaves), r.sel) for r in residual))


def _dp_search(parts: list[_Part], emask: list[tuple[int, int, _Edge]], residual: list[_Residual],
               base: dict[int, float], shared: dict[frozenset[int], int]) -> object | None:
    n = len(parts)
    nbr = [0] * n
    for a, b, _ in emask:
        for k in range(n):
            if a >> k & 1:
                nbr[k] |= b
            if b >> k & 1:
                nbr[k] |= a
    size = 1 << n
    # by set of leaves (a bit mask): the best tree's estimated rows, cost and shape (None: no
    # sequence of key joins makes the set)
    rows: list[float] = [0.0] * size
    cost: list[float | None] = [None] * size
    tree: list[object] = [None] * size
    for k, p in enumerate(parts):
        rows[1 << k], cost[1 << k], tree[1 << k] = p.rows, 0.0, k
    # per edge, what choosing one edge per class compares (see _one_per_class), once
    # (and its selectivity, last)
    info = [(a, b, e.cls, (e.sel, _canon(e.term)) if e.cls is not None else None, e, e.sel) for a, b, e in emask]
    # which edges a set of leaves holds one side of, as bit masks over ``info`` for every set
    # (ends_a[s]: the edges whose side ``a`` lies within s): an edge crosses the split of s1 | s2
    # into s1 and s2 where one of its sides lies in s1 and the other in s2
    ends_a, ends_b = [0] * size, [0] * size
    one_a, one_b = [0] * n, [0] * n  # leaf -> the edges whose side is that leaf alone
    wide = []  # the edges with a side of several leaves
    for j, (a, b, _, _, _, _) in enumerate(info):
        if a & (a - 1) or b & (b - 1):
            wide.append((j, a, b))
        else:
            one_a[a.bit_length() - 1] |= 1 << j
            one_b[b.bit_length() - 1] |= 1 << j
    for m in range(1, size):
        low = m & -m
        k = low.bit_length() - 1
        ends_a[m] = ends_a[m ^ low] | one_a[k]
        ends_b[m] = ends_b[m ^ low] | one_b[k]
    for j, a, b in wide:
        for m in range(1, size):
            if a & ~m == 0:
                ends_a[m] |= 1 << j
            if b & ~m == 0:
                ends_b[m] |= 1 << j
    # the edges crossing a split (a bit mask) -> the selectivity of their keys and the leaves
    # their sides lie on (one edge of each class: see _one_per_class)
    keyed: dict[int, tuple[float, int]] = {}
    classed = sum(1 << j for j, x in enumerate(info) if x[2] is not None)  # (the edges in a class)

    def keys(cm: int) -> tuple[float, int]:
        crossing = [x for j, x in enumerate(info) if cm >> j & 1]
        if cm & classed:
            pick: dict[int, tuple[object, _Edge]] = {}
            for _, _, cls, rk, e, _ in crossing:
                if cls is not None:
                    have = pick.get(cls)
                    if have is None or rk < have[0]:  # type: ignore[operator]
                        pick[cls] = (rk, e)
            crossing = [x for x in crossing if x[2] is None or pick[x[2]][1] is x[4]]
        # (as _rows_of_join(leaves of s1, r1, leaves of s2, r2, between, ...))
        if len(crossing) == 1:
            sel = crossing[0][5]  # (the loop below for one key: 1.0 * sel ** 1.0)
        else:
            sel = 1.0
            for k, sv in enumerate(sorted(x[5] for x in crossing)):
                sel *= sv ** (1.0 / 2**k)
        ends = 0
        for a, b, _, _, _, _ in crossing:
            ends |= a | b
        keyed[cm] = out = (sel, ends)
        return out

    # _rows_of_join over sets of parts as bit masks (each part one leaf here): the leaves of a
    # set, its caps and the residual terms a join applies, without building sets per split
    leaf = [next(iter(p.leaves)) for p in parts]
    bit = {i: k for k, i in enumerate(leaf)}
    res = [(sum(1 << bit[i] for i in r.leaves), r.sel) for r in residual]
    # a join of two leaves that other regions share: each pays its part (see _shared_pairs)
    share = {sum(1 << bit[i] for i in pair): k for pair, k in shared.items()}
    caps = [0.0] * size  # (0.0: not yet known; a cap is at least 1)
    # the leaves' base rows, leaf ids ascending (the order a set of them iterates in
    # _rows_of_join: a cap is the same product, the same float rounding)
    ascending = [(1 << bit[i], base.get(i, math.inf)) for i in sorted(leaf)]

    def cap(m: int) -> float:
        out = 1.0
        for b, r in ascending:
            if m & b:
                out *= r
        caps[m] = out
        return out

    # the splits worth costing, by the set they join: only connected sets meeting on an edge
    # (see _csg_cmp_pairs), in the order a search over every subset of every set met them
    # (sets ascending, then the side holding the set's lowest leaf descending): ties break
    # the same way
    splits = _csg_cmp_pairs(nbr)
    for mask in sorted(splits):
        best: tuple[float, float, object, float] | None = None
        applies = [(rm, ts) for rm, ts in res if rm & ~mask == 0] if res else res  # residual terms within mask
        part = share.get(mask, 1) if share else 1
        for s1 in sorted(splits[mask], reverse=True):
            s2 = mask ^ s1
            c1, c2 = cost[s1], cost[s2]
            # (an edge with a side of several leaves: a split the graph of nbr connects may have
            # no edge across, and a set it connects no tree)
            cm = (ends_a[s1] & ends_b[s2]) | (ends_a[s2] & ends_b[s1])
            if cm and c1 is not None and c2 is not None:
                sel, ends = keyed[cm] if cm in keyed else keys(cm)
                r1, r2 = rows[s1], rows[s2]
                cx, cy = ends & s1, ends & s2
                cap_x = caps[cx] or cap(cx)
                cap_y = caps[cy] or cap(cy)
                # (max() and min() as conditional expressions, the same picks: a third of the
                # calls the search made)
                floor = 1.0 / (cap_y if cap_y > cap_x else cap_x)
                if floor > sel:
                    sel = floor
                for rm, ts in applies:
                    if rm & s2 and rm & s1:  # (on both sides: rm lies within mask)
                        sel *= ts
                out = r1 * r2 * sel
                if 1.0 > out:
                    out = 1.0
                build = r2 if r2 < r1 else r1
                c = c1 + c2 + (out + build) / part
                # equal costs (a fact meeting two filtered dimensions, estimated alike):
                # the larger build on top, so the smaller dimension joins first, as the greedy
                # order does
                if best is None or c < best[0] * (1 - 1e-9) or (c <= best[0] * (1 + 1e-9) and build > best[3]):
                    best = (c, out, (tree[s1], tree[s2]), build)
        if best is not None:
            cost[mask], rows[mask], tree[mask], _ = best
    return tree[size - 1]


def _csg_cmp_pairs(nbr: list[int]) -> dict[int, list[int]]:
    """Every split of a connected set of leaves into two connected sets that an edge joins, by
    the set: ``{s1 | s2: [s1, ...]}`` with ``s1`` the side holding the lowest leaf (DPccp's
    csg-cmp-pairs, Moerkotte & Neumann, "Analysis of Two Existing and One New Dynamic
    Programming Algorithm for the Generation of Optimal Bushy Join Trees without Cross
    Products", VLDB 2006). ``nbr[k]``: the leaves an edge joins leaf ``k`` with, as a bit mask.
    A search over every subset of every set tries 3^n splits, most of them a side that no edge
    holds together; this lists only the pairs worth costing, each once."""
    n = len(nbr)
    size = 1 << n
    near_of = [0] * size  # a set -> the leaves an edge joins one of its leaves with
    for m in range(1, size):
        low = m & -m
        near_of[m] = near_of[m ^ low] | nbr[low.bit_length() - 1]
    # the connected sets (EnumerateCsg): each grown from its lowest leaf, never taking a lower
    # one, by every subset of the current set's new neighbours, which the sets grown from it do
    # not take again (``x``: the leaves barred)
    csgs = [1 << i for i in range(n)]
    stack = [(v, (v << 1) - 1) for v in csgs]
    while stack:
        s, x = stack.pop()
        near = near_of[s] & ~x
        if near:
            x |= near
            sub = near
            while sub:
                csgs.append(s | sub)
                stack.append((s | sub, x))
                sub = (sub - 1) & near
    # each one's complements (EnumerateCmp): connected sets of leaves above its lowest leaf that
    # an edge joins with it, each grown as above from its lowest leaf among the set's neighbours
    out: dict[int, list[int]] = {}
    todo: list[tuple[int, int, int]] = []
    for s1 in csgs:
        x = (((s1 & -s1) << 1) - 1) | s1
        hood = near_of[s1]
        near = hood & ~x
        while near:
            v = near & -near
            todo.append((s1, v, x | ((v << 1) - 1) & hood))
            near ^= v
    while todo:
        s1, s2, x = todo.pop()
        have = out.get(s1 | s2)
        if have is None:
            out[s1 | s2] = [s1]
        else:
            have.append(s1)
        near = near_of[s2] & ~x
        if near:
            x |= near
            sub = near
            while sub:
                todo.append((s1, s2 | sub, x))
                sub = (sub - 1) & near
    return out


def _assemble(tree: object, parts: list[_Part], edges: list[_Edge], residual: list[_Residual],
              used: set[int], base: dict[int, float]) -> _Part:
    """The part for ``tree`` (from :func:`_dp_order`), joined bottom-up with :func:`_join`."""
    if isinstance(tree, int):
        return parts[tree]
    assert isinstance(tree, tuple)
    x, y = tree
    px = _assemble(x, parts, edges, residual, used, base)
    py = _assemble(y, parts, edges, residual, used, base)
    return _join(px, py, _between(px.leaves, py.leaves, edges), residual, used, base)


def estimated_rows(plan: LogicalPlan) -> float | None:
    """Rows ``plan`` is expected to produce, with each inner key join estimated as this rule
    estimates one (``|A| |B| / max(ndv(a), ndv(b))``, see the module docstring) where
    ``planner.stats`` takes its larger input: TPC-H Q21's late lineitems meet the one nation's
    suppliers, 400 of 10,000, and keep a 25th of their rows, not all. Through projections, the
    filters and semi/anti joins above such joins; other nodes as ``stats.estimate``. None: unknown.
    (Once per node object per optimize() call.)"""
    return memoized_by_identity("join_order_rows", _estimated_rows, plan)


def _estimated_rows(plan: LogicalPlan) -> float | None:
    if isinstance(plan, Project):
        return estimated_rows(plan.input)
    if isinstance(plan, Filter) and isinstance(plan.input, (Join, Project, Filter)):
        r = estimated_rows(plan.input)
        return None if r is None else r * predicate_selectivity(plan.predicate, input_statistics(plan.input))
    if isinstance(plan, Join) and plan.how in ("semi", "anti"):
        r = estimated_rows(plan.left)
        return None if r is None else r * SEMI_JOIN_KEEPS
    if not (isinstance(plan, Join) and plan.how == "inner" and plan.left_on):
        return estimate(plan).rows
    rl, rr = estimated_rows(plan.left), estimated_rows(plan.right)
    if rl is None or rr is None:
        return None
    rl, rr = max(rl, 1.0), max(rr, 1.0)
    edges = []
    for lk, rk in zip(plan.left_on, plan.right_on):
        a, b = strip_alias(lk), strip_alias(rk)
        nd = [n for n in (_ndv(a, [plan.left], dict.fromkeys(plan.left.schema.names, 0), [rl]),
                          _ndv(b, [plan.right], dict.fromkeys(plan.right.schema.names, 0), [rr])) if n]
        edges.append(_Edge(Call("eq", (a, b)), a, b, frozenset({0}), frozenset({1}), 1.0 / max(nd) if nd else 0.1))
    base = {0: _base_rows(plan.left), 1: _base_rows(plan.right)}
    return _rows_of_join(frozenset({0}), rl, frozenset({1}), rr, edges, [], set(), base)


def _base_rows(leaf: LogicalPlan) -> float:
    """The leaf's rows before its filters (the table's, when it is a scan under row-wise nodes)."""
    node = leaf
    while not isinstance(node, ScanSource) and len(node.children()) == 1 and not isinstance(node, Aggregate):
        node = node.children()[0]
    if isinstance(node, ScanSource):
        n = source_statistics(node.source).num_rows
        if n is not None:
            # an empty table counts as one row, as estimates do: a join's key cap divides by it
            return max(float(n), 1.0)
    r = estimate(leaf).rows
    return math.inf if r is None else max(r, 1.0)


def _join_rows(px: _Part, py: _Part, between: list[_Edge], residual: list[_Residual],
               used: set[int], base: dict[int, float]) -> float:
    return _rows_of_join(px.leaves, px.rows, py.leaves, py.rows, between, residual, used, base)


def _rows_of_join(x_leaves: frozenset[int], x_rows: float, y_leaves: frozenset[int], y_rows: float,
                  between: list[_Edge], residual: list[_Residual], used: set[int],
                  base: dict[int, float]) -> float:
    sels = sorted(e.sel for e in between)
    sel = 1.0
    for k, s in enumerate(sels):
        sel *= s ** (1.0 / 2**k)
    if between:
        # a composite key has at most as many values as the table holding it has rows (sales
        # meet returns on item, ticket and customer: one match per return, not far fewer)
        cap_x = cap_y = 1.0
        for i in {i for e in between for i in (e.la if e.la <= x_leaves else e.lb)}:
            cap_x *= base.get(i, math.inf)
        for i in {i for e in between for i in (e.la if e.la <= y_leaves else e.lb)}:
            cap_y *= base.get(i, math.inf)
        sel = max(sel, 1.0 / max(cap_x, cap_y))
    both = x_leaves | y_leaves
    for k, r in enumerate(residual):
        if k not in used and r.leaves <= both:
            sel *= r.sel
    return max(x_rows * y_rows * sel, 1.0)


def _join(px: _Part, py: _Part, between: list[_Edge], residual: list[_Residual],
          used: set[int], base: dict[int, float]) -> _Part:
    # the larger part probes, the smaller one is built (and broadcast when small)
    left, right = (px, py) if (px.rows, -min(px.leaves)) >= (py.rows, -min(py.leaves)) else (py, px)
    left_on: list[Expr] = []
    right_on: list[Expr] = []
    keys = []
    for e in between:
        lk, rk = (e.a, e.b) if e.la <= left.leaves else (e.b, e.a)
        left_on.append(lk)
        # a plain column key would be merged away (coalesced); keep it, as SQL does
        right_on.append(Alias(rk, f"__key.{rk.output_name()}") if isinstance(rk, Column) else rk)
        keys.append(_canon(e.term))
    rows = _join_rows(px, py, between, residual, used, base)
    both = left.leaves | right.leaves
    here = []
    for k, r in enumerate(residual):
        if k not in used and r.leaves <= both:
            here.append(r.term)
            used.add(k)
    return _Part(both, rows, (left.sig, right.sig, frozenset(keys)), left=left, right=right,
                 left_on=tuple(left_on) if between else (), right_on=tuple(right_on) if between else (),
                 here=here)


def _signature(root: LogicalPlan, leaves: list[LogicalPlan]) -> object:
    """The join structure of the tree as written, comparable with ``_Part.sig``."""
    index = {id(leaf): i for i, leaf in enumerate(leaves)}

    def sig(node: LogicalPlan) -> object:
        if id(node) in index:
            return index[id(node)]
        if isinstance(node, Join):
            keys = frozenset(_canon_pair(a, b) for a, b in zip(node.left_on, node.right_on))
            return (sig(node.left), sig(node.right), keys)
        return sig(node.children()[0])

    try:
        return sig(root)
    finally:
        unlink(sig)  # see planner/memo.py
