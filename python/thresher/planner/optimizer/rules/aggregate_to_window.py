"""aggregate_to_window: a join with a group-by of the rows the join already has becomes a window.

A decorrelated scalar subquery whose tables are a subset of the outer query's (TPC-H Q2: the
cheapest supplier cost of a part among the outer query's own partsupp-supplier-nation-region
join; Q17: the average quantity of a part over the lineitems the outer query joins with its
parts) is a join of the outer rows ``L`` with a group-by of rows ``S`` that ``L`` contains
already. Both sides read and join the same tables; a window over ``L`` partitioned by the
correlation keys computes the same values from one pass (IBM's "WinMagic" rewrite).

Before::

    Join left on [col("p_partkey") = col("k")]
      Join inner on [col("l_partkey") = col("p_partkey")]       # L
        Scan lineitem                                             # S
        Scan part predicate=[p_brand == 'Brand#23']               # E
      Aggregate keys=[col("l_partkey").alias("k")] aggs=[col("l_quantity").mean().alias("a")]
        Scan lineitem                                             # S

After::

    Project [<L's columns>, col("a"), col("l_partkey").alias("k")]
      Window [col("l_quantity").mean().alias("a")] partition_by=[col("l_partkey")]
        Join inner on [col("l_partkey") = col("p_partkey")]
          Scan lineitem
          Scan part predicate=[p_brand == 'Brand#23']

Why it is the same: ``L`` is an inner-join tree whose leaves include every leaf of ``S`` (equal
plans: the same scans, filters and projections) with every join edge of ``S`` among them, and no
other edge between ``S``'s leaves; the other leaves ``E`` meet ``S`` only on the group keys. So
the rows of ``L`` with key values ``v`` are ``S(v) x E(v)``: every row of ``S(v)``, each repeated
``|E(v)|`` times. A min, max or mean over them equals the one over ``S(v)`` (each value repeated
the same number of times); a sum or a count would not, and is left alone. Every row of ``L`` has
its group (its own ``S`` part), so a left join finds a match for each row as the window does, and
the key columns are never NULL in ``L`` (each takes part in an equi-join).

``E`` may be empty: the DataFrame API's ``li.join(li.group_by("k").agg(...), on="k")`` (TPC-H
Q17 written so) joins a group-by of ``L`` itself. An aggregate may sit inside an expression
(``(0.2 * col("q").mean()).alias("limit")``): each aggregate call becomes a window column and
the expression is computed over them above the window. An inner join may also match an
aggregate's value (the DataFrame API's TPC-H Q2 joins on ``[partkey, supplycost] = [partkey,
min_cost]``): the window is then filtered on ``supplycost == min_cost``; and where the join
coalesced S's group key away, the window partitions by the L column it equals.
"""

from __future__ import annotations

from thresher.expressions.expr import AggCall, Alias, Column, Expr, combine_conjunction, strip_alias
from thresher.expressions.window import contains_window
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, Window
from thresher.planner.optimizer.rules._util import plan_has, rewrite_bottom_up, substitute

#: aggregates whose value over a group does not change when every row is repeated equally often
DUPLICATE_INSENSITIVE = frozenset({"min", "max", "mean"})


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if not plan_has(plan, _joins_a_group_by, only=(Join,)):
        return None
    return rewrite_bottom_up(plan, _rewrite, only=(Join,))


def _joins_a_group_by(node: LogicalPlan) -> bool:
    if not (isinstance(node, Join) and node.how in ("inner", "left")):
        return False
    right = node.right
    while isinstance(right, Project):
        right = right.input
    return isinstance(right, Aggregate) and bool(right.keys)


def _rewrite(node: LogicalPlan) -> LogicalPlan | None:
    # (not a join whose NULL keys match: a row of L with a NULL key would meet S's NULL group)
    if not (isinstance(node, Join) and node.how in ("inner", "left") and node.left_on and not node.nulls_equal):
        return None
    # the right side: [Project]* over a group-by of plain columns with duplicate-insensitive aggregates
    projects: list[Project] = []
    right = node.right
    while isinstance(right, Project):
        projects.append(right)
        right = right.input
    agg = right
    if not (isinstance(agg, Aggregate) and agg.keys and agg.aggs):
        return None
    group_keys: dict[str, str] = {}  # aggregate output name -> the column of S it groups on
    for k in agg.keys:
        src = strip_alias(k)
        if not isinstance(src, Column):
            return None
        group_keys[k.output_name()] = src.name
    for a in agg.aggs:
        src = strip_alias(a)
        calls = _agg_calls(src)
        if not calls or contains_window(src):
            return None
        for c in calls:
            # (a SQL max of floats, NaN the greatest: the window takes its max so too)
            if not (c.name in DUPLICATE_INSENSITIVE and c.options in ((), (("nan", "greatest"),)) and not _has_aggregate(c.child)):
                return None
        if not isinstance(src, AggCall) and src.columns() - {x for c in calls for x in c.columns()}:
            return None  # a column outside the aggregates (not a group key there)
    # each join key on the right is a group key (through the projections), and every group key is used
    pairs: list[tuple[str, str]] = []  # (L's join key column, S's group key column)
    # (L's column, an aggregate's output): an inner join on an aggregate's value keeps the rows
    # equal to it, a filter over the window (the DataFrame API's TPC-H Q2 joins on the cheapest cost)
    value_pairs: list[tuple[str, str]] = []
    plain = {a.output_name() for a in agg.aggs if isinstance(strip_alias(a), AggCall)}
    for le, re_ in zip(node.left_on, node.right_on):
        lk, rk = strip_alias(le), strip_alias(re_)
        if not (isinstance(lk, Column) and isinstance(rk, Column)):
            return None
        name = rk.name
        for p in projects:
            via = next((strip_alias(e) for e in p.exprs if e.output_name() == name), None)
            if not isinstance(via, Column):
                return None
            name = via.name
        if name not in group_keys:
            if node.how == "inner" and not projects and name in plain:
                value_pairs.append((lk.name, name))
                continue
            return None
        pairs.append((lk.name, group_keys[name]))
    s_keys = {s for _, s in pairs}
    if s_keys != set(group_keys.values()) or len(pairs) != len(group_keys):
        return None
    left = node.left
    l_tree = _inner_tree(left)
    s_tree = _inner_tree(agg.input)
    if l_tree is None or s_tree is None:
        return None
    l_leaves, l_edges = l_tree
    s_leaves, s_edges = s_tree
    owner = _owners(l_leaves)
    if owner is None or not set(left.schema.names) <= set(owner):
        return None  # a name suffixed by a join, or a column made above the leaves
    # the window partitions by S's group key, or by the L column joined with it where the join
    # coalesced the key away (the two are equal on every row of L: checked below)
    l_names = set(left.schema.names)
    part_col = {scol: (scol if scol in l_names else lcol) for lcol, scol in pairs}
    needed = set(part_col.values()) | {lcol for lcol, _ in value_pairs}
    for a in agg.aggs:
        needed |= a.columns()
    if not needed <= l_names:
        return None  # a key or an argument the join does not hand out
    # S's leaves: distinct leaves of L
    matched: set[int] = set()
    for sl in s_leaves:
        hit = [i for i, ll in enumerate(l_leaves)
               if i not in matched and ll.schema.names == sl.schema.names and _same_rows(ll, sl)]
        if len(hit) != 1:
            return None
        matched.add(hit[0])
    # S may be all of L (the DataFrame API's ``li.join(li.group_by(k).agg(...), on=k)``, TPC-H Q17):
    # the same rows are then joined twice; the window reads them once. The keys are still not NULL:
    # each must take part in an equi-join inside L (checked below)
    in_s = {n for n, i in owner.items() if i in matched}
    for x, y in s_edges:
        if x not in in_s or y not in in_s:
            return None
    for x, y in l_edges:
        sx, sy = x in in_s, y in in_s
        if sx and sy:
            if (x, y) not in s_edges and (y, x) not in s_edges:
                return None  # L restricts S's rows further
        elif sx or sy:
            if (x if sx else y) not in s_keys:
                return None  # E meets S on something other than the group keys
    equal = _classes(l_edges)
    for lcol, scol in pairs:
        if scol not in in_s or lcol not in owner:
            return None
        if lcol != scol and equal.get(lcol, lcol) != equal.get(scol, scol):
            return None
        if scol not in equal:
            return None  # the key takes part in no equi-join: it may be NULL
    return _window_plan(node, left, agg, projects, pairs, value_pairs, part_col)


def _same_rows(a: LogicalPlan, b: LogicalPlan) -> bool:
    """Equal plans, or equal below their renaming projections with the same columns out."""
    if a == b:
        return True
    base_a, names_a = _renamed(a)
    base_b, names_b = _renamed(b)
    return names_a == names_b and base_a == base_b


def _renamed(node: LogicalPlan) -> tuple[LogicalPlan, dict[str, str]]:
    """``node`` below its chain of column-renaming projections, and each output column's name there."""
    names = {n: n for n in node.schema.names}
    while isinstance(node, Project):
        srcs: dict[str, str] = {}
        for e in node.exprs:
            base = strip_alias(e)
            if not isinstance(base, Column):
                return node, names
            srcs[e.output_name()] = base.name
        names = {n: srcs[c] for n, c in names.items()}
        node = node.input
    return node, names


def _has_aggregate(e: Expr) -> bool:
    return isinstance(e, AggCall) or any(_has_aggregate(c) for c in e.children())


def _agg_calls(e: Expr) -> list[AggCall]:
    """The aggregate calls in ``e`` (outermost ones), once each by structure."""
    out: list[AggCall] = []
    seen: set[tuple[object, ...]] = set()

    def walk(x: Expr) -> None:
        if isinstance(x, AggCall):
            if x.key() not in seen:
                seen.add(x.key())
                out.append(x)
            return
        for c in x.children():
            walk(c)

    walk(e)
    return out


def _inner_tree(node: LogicalPlan) -> tuple[list[LogicalPlan], list[tuple[str, str]]] | None:
    """The leaves (maximal non-inner-join subplans) and equi-join edges of an inner-join tree;
    None if a join key is not a plain column. A join whose NULL keys match is a leaf: its keys
    may be NULL, and its edge does not make its columns equal in the sense the others do."""
    leaves: list[LogicalPlan] = []
    edges: list[tuple[str, str]] = []

    def walk(n: LogicalPlan) -> bool:
        if isinstance(n, Join) and n.how == "inner" and n.left_on and not n.nulls_equal:
            for le, re_ in zip(n.left_on, n.right_on):
                a, b = strip_alias(le), strip_alias(re_)
                if not (isinstance(a, Column) and isinstance(b, Column)):
                    return False
                edges.append((a.name, b.name))
            return walk(n.left) and walk(n.right)
        leaves.append(n)
        return True

    return (leaves, edges) if walk(node) else None


def _owners(leaves: list[LogicalPlan]) -> dict[str, int] | None:
    out: dict[str, int] = {}
    for i, leaf in enumerate(leaves):
        for n in leaf.schema.names:
            if n in out:
                return None
            out[n] = i
    return out


def _classes(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Column -> a representative of its equi-join class."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return {x: find(x) for x in parent}


def _window_plan(node: Join, left: LogicalPlan, agg: Aggregate, projects: list[Project],
                 pairs: list[tuple[str, str]], value_pairs: list[tuple[str, str]],
                 part_col: dict[str, str]) -> LogicalPlan | None:
    l_names = list(left.schema.names)
    taken = set(l_names)
    # a group key named as the L column it is joined with (``on="k"``) is that column
    same_key = {lcol for lcol, scol in pairs if lcol == scol}
    made = [a.output_name() for a in agg.aggs] + [k.output_name() for k in agg.keys
                                                    if k.output_name() not in same_key or projects]
    for p in projects:
        made += [e.output_name() for e in p.exprs]
    if taken & set(made):
        return None  # a name of the right side clashes with one of L's
    keys = tuple(Column(part_col[strip_alias(k).name]) for k in agg.keys)  # type: ignore[attr-defined]
    # a plain aggregate is a window column of its own name; one inside an expression (the
    # DataFrame API's ``(0.2 * col("q").mean()).alias("limit")``) is a window column of a fresh
    # name, and the expression is computed over it above the window
    win: list[Expr] = []
    made_by: dict[str, Expr] = {}
    fresh: dict[tuple[object, ...], str] = {}
    for a in agg.aggs:
        src = strip_alias(a)
        if isinstance(src, AggCall):
            win.append(a)
            made_by[a.output_name()] = Column(a.output_name())
            continue
        for c in _agg_calls(src):
            if c.key() not in fresh:
                fresh[c.key()] = name = f"__window{len(fresh)}"
                if name in taken or name in made:
                    return None
                win.append(Alias(c, name))

        def to_window_column(x: Expr) -> Expr | None:
            return Column(fresh[x.key()]) if isinstance(x, AggCall) else None

        made_by[a.output_name()] = src.transform(to_window_column)
    window: LogicalPlan = Window(left, exprs=tuple(win), partition_by=keys)
    if value_pairs:
        window = Filter(window, combine_conjunction([Column(lcol) == Column(a) for lcol, a in value_pairs]))
    # the right side's columns as expressions over the window's output (its projections composed)
    made_by.update({k.output_name(): Column(part_col[strip_alias(k).name]) for k in agg.keys})  # type: ignore[attr-defined]
    for p in reversed(projects):
        made_by = {e.output_name(): strip_alias(substitute(e, made_by)) for e in p.exprs}
    exprs: list[Expr] = []
    for n in node.schema.names:
        if n in taken:
            exprs.append(Column(n))
        elif n in made_by:
            e = made_by[n]
            exprs.append(e if isinstance(e, Column) and e.name == n else Alias(e, n))
        else:
            return None  # a right column renamed by the join's suffix
    out = Project(window, tuple(exprs))
    if [(f.name, f.dtype) for f in out.schema.fields] != [(f.name, f.dtype) for f in node.schema.fields]:
        return None
    return out
