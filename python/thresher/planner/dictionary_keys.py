"""Group-by keys that come from a small join side are grouped as Polars Categoricals.

A star-join group-by (TPC-DS q47, q57: ``GROUP BY i_category, i_brand, s_store_name, ...`` over
store_sales joined with item, store, date_dim) gathers each dimension string once per fact row
through the joins and then hashes the strings of every row to group them. Cast to Polars'
``Categorical`` on the dimension side (a few thousand rows), the joins gather and the group-by
hashes a ``UInt32`` code instead; the group-by's output keys are cast back to ``String`` at once,
so nothing above the aggregate sees a Categorical: q57's grouped join, plain Polars, 84 -> 59 ms
CPU (SF1, 9 alternating rounds; the cast at the group-by instead of the scan: 80 ms).

This is a lowering detail: Thresher's schemas keep ``String`` throughout (``dictionary_encode`` is
typed as its argument), and only these nodes see the codes:

- the projection added on top of the small side, which encodes the key columns;
- the nodes between it and the aggregate, which may only pass the column through: projections
  that rename it (no other expression of theirs reads it), filters that do not read it, joins that
  do not join on it (inner joins on either side, semi and anti joins on their left; not left
  joins: TPC-H q21's s_name encoded through the left joins of its NOT EXISTS took 293 -> 424 ms
  CPU, cause not found, where a plain Polars left join with a Categorical column is no slower);
- the aggregate, which groups on it (no aggregate expression reads it) and decodes its output.

A side is "small" where the plan statistics estimate it at most 1/:data:`MIN_RATIO` of the join's
other side (not a group-by's output: eager aggregation's is estimated far above its rows);
elsewhere the column is followed further down (a side never found small is not encoded: a
group-by over one table keeps its strings, the cast would cost what it saves).
Nodes read from another stage (``leaves``) are neither rewritten nor entered. The lowering keeps
the plan as it was where the encoded one would compute more joins (:func:`joins_built`): a
subplan it computes once for several consumers (a CTE, the levels of a ROLLUP) that an aggregate
above encodes differently from its other consumers is no longer shared (TPC-DS q27's ROLLUP
groups one cached join three ways; encoding the item join inside it made that join run once per
grouping level: 99 -> 176 ms CPU).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from thresher._lazy import lazy_module
from thresher.datatypes import DataType, Field
from thresher.expressions.expr import Alias, Call, Column, Expr, strip_alias
from thresher.expressions.registry import function
from thresher.operators.expr_to_polars import cast, polars_col, register_lowering
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, ScanSource, Unary
from thresher.planner.stats import estimate

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

ENCODE = "dictionary_encode"

#: a side is encoded where it is estimated at most this many times fewer rows than the other side:
#: the encoding hashes each of its strings once, which pays where many more rows gather and group
#: them (TPC-DS item, 18,000 rows, next to catalog_sales' 1.4M; not customer_address' 50,000 next
#: to store_sales' 2.9M, where q06's filters leave a few thousand rows to group: 51 -> 57 ms CPU)
MIN_RATIO = 64.0
#: and where the other side is estimated at least this many rows (below, little is gathered)
MIN_OTHER_ROWS = 100_000.0
#: a join of two tables (filters and projections over each one's scan) encodes its smaller side
#: at this ratio already: each side's estimate is its table's rows under its own filters, so the
#: ratio is about the rows the join gathers per string cast. In a join of joined sides the
#: estimates multiply (a foreign-key join is estimated to keep every row of the bigger side,
#: whatever the filters on other tables, TPC-DS store_sales under its date, store and household
#: filters), and they overstate the rows that reach the group-by. TPC-H Q16, the brand and type
#: of 32,400 parts (estimated; 30,000 read) next to 800,000 partsupp rows, grouped with a count of
#: distinct suppliers: 36.4 -> 31.6 ms CPU (SF1, 31 alternating rounds). Below 64 in joined
#: sides: TPC-DS q24's customers joined with their addresses and stores (90,000 estimated, next to
#: 2.9M) took 89.5 -> 101.2 ms; customer_address' 50,000 next to a star join of store_sales
#: (q46, q64, q68) -2% to +5%, noise
MIN_RATIO_TABLE = 20.0


@function(ENCODE)
def _encode_type(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x`` itself (a string): in Polars the column as a ``Categorical`` (planner-internal, see
    ``planner/dictionary_keys.py``)."""
    return args[0].dtype


register_lowering(ENCODE, lambda a, e, t: cast(a[0], pl.Categorical))


def encode_group_keys(root: LogicalPlan, leaves: Collection[int] = (),
                      nodes: Sequence[LogicalPlan] = ()) -> tuple[LogicalPlan, list[LogicalPlan]]:
    """``root`` with the string keys of its group-bys encoded on small join sides (see the
    module's doc; ``root`` itself where none is), and ``nodes`` (nodes of ``root``) as they are
    in it. The lowering of each aggregate decodes the keys :func:`encoded_keys` finds (a
    property of the plan below it: the copies and merges the lowering makes of a subplan keep it)."""
    stop = frozenset(leaves)
    # (most plans encode nothing: each candidate is tried first, and the plan is rebuilt only
    # where one encodes; the walk and the rebuild cost a lowering ~170 Python calls)
    for agg in _candidates(root, stop):
        if _encoded_aggregate(agg, stop) is not agg:
            break
    else:
        return root, list(nodes)
    memo: dict[int, LogicalPlan] = {}
    out = _rewrite(root, stop, memo)
    return out, [memo.get(id(n), n) for n in nodes]


def _candidates(root: LogicalPlan, stop: Collection[int]) -> list[Aggregate]:
    """The aggregates of ``root`` with a string key column, over a join."""
    out: list[Aggregate] = []
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        if isinstance(node, Aggregate) and node.keys and _has_join(node.input):
            schema = node.input.schema
            for k in node.keys:
                c = k.child if type(k) is Alias else k  # type: ignore[attr-defined]
                if type(c) is Column and schema.field(c.name).dtype.is_string():  # type: ignore[attr-defined]
                    out.append(node)
                    break
        if isinstance(node, Unary):  # (the fields read directly: a walk of every lowering)
            todo.append(node.input)
        elif isinstance(node, Join):
            todo.append(node.left)
            todo.append(node.right)
        elif not isinstance(node, ScanSource):
            todo.extend(node.children())
    return out


def joins_built(root: LogicalPlan, shared: dict[int, tuple[LogicalPlan, LogicalPlan]]) -> int:
    """How many joins the lowering computes for ``root``: each node object once, and each group
    of ``shared`` subplans (see ``polars_plan.shared_subplans``) once, as its merged subplan."""
    seen: set[int] = set()
    count = 0
    todo = [root]
    while todo:
        node = todo.pop()
        hit = shared.get(id(node))
        if hit is not None:
            node = hit[1]
        if id(node) in seen:
            continue
        seen.add(id(node))
        count += isinstance(node, Join)
        todo.extend(node.children())
    return count


def encoded_keys(agg: Aggregate) -> tuple[str, ...]:
    """The output names of ``agg``'s keys that group on a column :func:`encode_group_keys`
    encoded below it (through the nodes it passes such a column through)."""
    out = []
    for k in agg.keys:
        c = strip_alias(k)
        if type(c) is Column and _reaches_encoding(agg.input, c.name):  # type: ignore[attr-defined]
            out.append(k.output_name())
    return tuple(out)


def _reaches_encoding(node: LogicalPlan, name: str) -> bool:
    while True:
        if isinstance(node, Project):
            e = next((x for x in node.exprs if x.output_name() == name), None)
            if e is None:
                return False
            src = strip_alias(e)
            if type(src) is Call and src.name == ENCODE:  # type: ignore[attr-defined]
                return True
            if type(src) is not Column:
                return False
            name, node = src.name, node.input  # type: ignore[attr-defined]
        elif isinstance(node, Filter):
            node = node.input
        elif isinstance(node, Join) and node.how in ("inner", "semi", "anti"):
            if name in node.left.schema.names:
                node = node.left
            elif node.how == "inner" and name in node.right.schema.names:
                node = node.right
            else:
                return False
        else:
            return False


def _has_join(node: LogicalPlan) -> bool:
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, Join)


def _rewrite(node: LogicalPlan, stop: Collection[int], memo: dict[int, LogicalPlan]) -> LogicalPlan:
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in stop:
        return node
    kids = node.children()
    new: LogicalPlan = node
    if not isinstance(node, ScanSource):
        new_kids = [_rewrite(c, stop, memo) for c in kids]
        new = node if all(a is b for a, b in zip(kids, new_kids)) else node.with_children(new_kids)
    if isinstance(new, Aggregate) and new.keys:
        new = _encoded_aggregate(new, stop)
    memo[id(node)] = new
    return new


def _encoded_aggregate(agg: Aggregate, stop: Collection[int]) -> Aggregate:
    schema = agg.input.schema
    wanted: set[str] = set()
    for k in agg.keys:
        c = k.child if type(k) is Alias else k  # type: ignore[attr-defined]
        if type(c) is Column and schema.field(c.name).dtype.is_string():  # type: ignore[attr-defined]
            wanted.add(c.name)  # type: ignore[attr-defined]
    for e in (*agg.keys, *agg.aggs):  # (a column a computed key or an aggregate reads stays a string)
        if type(e.child if type(e) is Alias else e) is not Column:  # type: ignore[attr-defined]
            wanted -= e.columns()
    # (no table of MIN_OTHER_ROWS rows below: nothing to estimate)
    if not wanted or not _has_join(agg.input) or _largest_table(agg.input) < MIN_OTHER_ROWS:
        return agg
    below, done = _push(agg.input, wanted, stop)
    if not done:
        return agg
    return Aggregate(below, agg.keys, agg.aggs)


def _push(node: LogicalPlan, wanted: set[str], stop: Collection[int]) -> tuple[LogicalPlan, set[str]]:
    """``node`` with the columns ``wanted`` (of its output) encoded below it where a small join
    side holds them; and the names encoded (the others stay strings)."""
    if id(node) in stop or not wanted:
        return node, set()
    if isinstance(node, Filter):
        w = wanted - node.predicate.columns()
        below, done = _push(node.input, w, stop)
        return (node.with_children([below]) if done else node), done
    if isinstance(node, Project):
        reads: dict[str, int] = {}
        for e in node.exprs:
            for read in e.columns():
                reads[read] = reads.get(read, 0) + 1
        source: dict[str, str] = {}  # input column -> output name
        for e in node.exprs:
            name = e.output_name()
            src = strip_alias(e)
            # (a column another expression reads too stays a string: that one would see the codes)
            if name in wanted and type(src) is Column and reads.get(src.name) == 1:  # type: ignore[attr-defined]
                source[src.name] = name  # type: ignore[attr-defined]
        below, done = _push(node.input, set(source), stop)
        return (node.with_children([below]) if done else node), {source[c] for c in done}
    if isinstance(node, Join) and node.how in ("inner", "semi", "anti") and node.left_on and not node.nulls_equal:
        lnames, rnames = node.left.schema.names, node.right.schema.names
        if not set(lnames).isdisjoint(rnames):
            return node, set()
        w = set(wanted)
        for e in (*node.left_on, *node.right_on):
            w -= e.columns()
        wl, wr = w.intersection(lnames), w.intersection(rnames)
        if node.how in ("semi", "anti"):
            left, dl = _push(node.left, wl, stop)
            return (node.with_children([left, node.right]) if dl else node), dl
        # (a side grouped by eager aggregation is estimated far above its rows, one per key:
        # no side is called small next to it)
        lrows = estimate(node.left).rows if w and not _grouped(node.left) else None
        rrows = estimate(node.right).rows if w and not _grouped(node.right) else None
        left, dl = _side(node.left, wl, lrows, rrows, stop, node.right)
        right, dr = _side(node.right, wr, rrows, lrows, stop, node.left)
        if not dl and not dr:
            return node, set()
        return node.with_children([left, right]), dl | dr
    return node, set()


def _largest_table(node: LogicalPlan) -> float:
    """The rows of the largest table ``node`` scans (0 where none is known)."""
    out = 0.0
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ScanSource):
            rows = n.source.statistics().num_rows
            out = max(out, rows or 0)
        else:
            todo.extend(n.children())
    return out


def _grouped(node: LogicalPlan) -> bool:
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, Aggregate)


def _one_table(node: LogicalPlan) -> bool:
    """``node`` reads one table: filters and projections over its scan (see MIN_RATIO_TABLE)."""
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, ScanSource)


def _side(side: LogicalPlan, wanted: set[str], rows: float | None, other: float | None,
          stop: Collection[int], other_side: LogicalPlan) -> tuple[LogicalPlan, set[str]]:
    """A join side with ``wanted`` encoded: on its top where it is small (``other``: the other
    side's estimated rows), else further down."""
    if not wanted:
        return side, set()
    if rows is not None and other is not None and other >= MIN_OTHER_ROWS and (
            rows * MIN_RATIO <= other
            or (rows * MIN_RATIO_TABLE <= other and _one_table(side) and _one_table(other_side))):
        exprs: list[Expr] = []
        for name in side.schema.names:
            col = Column(name)
            exprs.append(Call(ENCODE, (col,)).alias(name) if name in wanted else col)
        # (the side's own schema: the encoded columns keep their type, String, and nullability)
        return Project.of_checked_fields(side.schema, input=side, exprs=tuple(exprs)), set(wanted)
    return _push(side, wanted, stop)


def decode(keys: Sequence[str]) -> list[pl.Expr]:
    """The Polars expressions that cast the encoded keys ``keys`` back to strings."""
    return [cast(polars_col(k), pl.String) for k in keys]
