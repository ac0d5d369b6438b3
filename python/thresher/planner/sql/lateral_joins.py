"""``lateral_joins``: ``LATERAL`` subqueries in FROM as the joins DuckDB's answers are.

A LATERAL subquery is evaluated once per row of the tables before it; each form below becomes a
plain join (or scalar subqueries) that gives the same rows, on the tree ``qualify`` left (every
column names its table), before decorrelation:

An uncorrelated one is a derived table::

    t CROSS JOIN LATERAL (SELECT y FROM u) s   ->  t CROSS JOIN (SELECT y FROM u) s

A correlated plain ``SELECT`` (no aggregate, GROUP BY, DISTINCT, window or LIMIT): its WHERE
terms that read the outer tables move to the join's ON, over the inner columns they read (output
as ``_lateral_c<i>``), and a select item that reads an outer table is computed in the outer
query (under a LEFT JOIN only where the lateral side matched)::

    t CROSS JOIN LATERAL (SELECT u.y, t.x + u.y AS z FROM u WHERE u.k = t.k AND u.y < t.x) s
      ->  t JOIN (SELECT u.y, u.k AS _lateral_c0, u.y AS _lateral_c1 FROM u) s
              ON s._lateral_c0 = t.k AND s._lateral_c1 < t.x       (s.z read as t.x + s._lateral_c1)

One aggregate row without GROUP BY (exactly one row per outer row, CROSS or LEFT alike): each
column read is that scalar subquery, which decorrelation joins as any other (``count`` of no
rows is 0 there too)::

    t, LATERAL (SELECT sum(u.y) AS s FROM u WHERE u.k = t.k) a   ->  t   (a.s read as (SELECT sum(u.y) FROM u WHERE u.k = t.k))

GROUP BY or DISTINCT correlated only by equalities ``inner = outer``: the inner side is output
(and grouped on), and the join matches it::

    t, LATERAL (SELECT u.g, sum(u.y) AS s FROM u WHERE u.k = t.k GROUP BY u.g) a
      ->  t JOIN (SELECT u.g, sum(u.y) AS s, u.k AS _lateral_c0 FROM u GROUP BY u.g, u.k) a ON a._lateral_c0 = t.k

(with an ON condition other than TRUE, that condition over the values filters an inner join's
rows; under a LEFT JOIN each value is ``CASE WHEN cond THEN value END``). A derived table that
reads an earlier FROM item by its name is a LATERAL one (``implicit_laterals``), as DuckDB reads it.

Anything else correlated (LIMIT, GROUP BY or DISTINCT correlated by more than equalities, a
window, a correlation in a nested subquery, in a JOIN's ON or in a GROUP BY, a set operation or a
table function after LATERAL) is refused with an error naming the construct.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from thresher.errors import UnsupportedError


def _where(node: Any) -> str:
    from thresher.planner.sql.translate import _where  # (translate imports this module)

    return _where(node)


def _refuse(what: str, node: Any) -> UnsupportedError:
    return UnsupportedError(f"{what} is not supported in a correlated LATERAL subquery: {_where(node)}")


def _depth(node: Any) -> int:
    d = 0
    while node.parent is not None:
        node, d = node.parent, d + 1
    return d


def lateral_joins(tree: Any) -> None:
    """Rewrites, in place, every LATERAL subquery of ``tree`` (see the module docstring); the
    deepest first, then those of one FROM from left to right (a later one may read an earlier one)."""
    laterals = list(tree.find_all(exp.Lateral))
    order = {id(n): i for i, n in enumerate(tree.walk())}
    for lateral in sorted(laterals, key=lambda n: (-_depth(n), order[id(n)])):
        _rewrite(lateral)


def implicit_laterals(joins: list[Any]) -> None:
    """A joined derived table that reads a column of a FROM item before it, by that item's name
    (``FROM t, (SELECT y FROM u WHERE u.k = t.k) s``), is a LATERAL one, as DuckDB reads it (it
    was "unknown column"); on the parsed tree, before ``qualify``. (An unqualified outer column
    is not seen here: qualify reports it unknown, as before.)"""
    for join in joins:
        select = join.parent
        if not isinstance(select, exp.Select):
            continue
        earlier = []
        frm = select.args.get("from_") or select.args.get("from")
        if frm is not None:
            earlier += [frm.this, *(frm.expressions or [])]
        for j in select.args.get("joins") or []:
            if j is join:
                break
            earlier.append(j.this)
        names = {e.alias_or_name for e in earlier if e.alias_or_name}
        body = join.this
        inside = {a.name for a in body.find_all(exp.TableAlias)} | {t.alias_or_name for t in body.find_all(exp.Table)}
        if any(c.table in names and c.table not in inside for c in body.this.find_all(exp.Column)):
            alias = body.args.get("alias")
            body.set("alias", None)
            join.set("this", exp.Lateral(this=body, alias=alias))


def _inner_sources(select: Any) -> set[str]:
    from sqlglot.optimizer.scope import build_scope

    scope = build_scope(select)
    return set(scope.sources) if scope is not None else set()


def _inner_columns(node: Any, inner: set[str]) -> list[Any]:
    return [c for c in node.find_all(exp.Column) if c.table in inner]


def _outer_columns(node: Any, inner: set[str]) -> list[Any]:
    return [c for c in node.find_all(exp.Column) if c.table and c.table not in inner]


def _rewrite(lateral: Any) -> None:
    join = lateral.parent
    body = lateral.this
    if not isinstance(join, exp.Join) or not isinstance(body, exp.Subquery):
        raise UnsupportedError(f"LATERAL is supported on a subquery after the first FROM item "
                               f"(CROSS JOIN LATERAL, a comma, [LEFT] JOIN LATERAL ... ON): {_where(lateral)}")
    alias = lateral.args.get("alias")
    inner = body.this
    from thresher.planner.sql.translate import _reads_outside

    if not _reads_outside(inner):  # an uncorrelated LATERAL is a derived table
        join.set("this", exp.Subquery(this=inner, alias=alias))
        return
    if not isinstance(inner, exp.Select):
        raise _refuse(f"a {inner.key.upper()}", inner)
    if alias is None or alias.columns:
        raise _refuse("a column list after the alias", lateral)
    select = join.parent
    name = alias.name
    sources = _inner_sources(inner)
    side = (join.side or "").upper()
    if side not in ("", "LEFT") or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
        raise _refuse(f"a {side or join.kind} JOIN LATERAL", join)
    left = side == "LEFT"
    on = join.args.get("on")
    on_true = on is None or (isinstance(on, exp.Boolean) and on.this is True)
    if join.args.get("using"):
        raise _refuse("USING", join)
    for key in ("joins", "group", "having", "order", "qualify", "windows", "with_", "with"):
        part = inner.args.get(key)
        if part is None or not part:
            continue
        parts = part if isinstance(part, list) else [part]
        for p in parts:
            if _outer_columns(p, sources):
                raise _refuse(f"a correlation in {key.rstrip('_').upper()}", p)
    for q in inner.find_all(exp.Query):
        if q is not inner and _reads_outside_of(q, sources):
            raise _refuse("a nested subquery that reads the outer query", q)
    if inner.args.get("fetch") is not None:
        raise _refuse("FETCH", inner.args["fetch"])
    if any(e.find(exp.Window) for e in inner.expressions):
        raise _refuse("a window function", inner)
    limited = inner.args.get("limit") is not None or inner.args.get("offset") is not None
    aggregated = any(_has_aggregate(e) for e in inner.expressions)
    if aggregated and inner.args.get("group") is None and inner.args.get("having") is None and not limited:
        if not _keyed_aggregate(select, join, inner, name, sources, left, on, on_true):
            _as_scalar_subqueries(select, join, inner, name, left, on, on_true)
    elif inner.args.get("group") is not None or inner.args.get("distinct") is not None or aggregated or limited:
        _grouped(join, inner, name, sources, left, on, on_true)
    else:
        _plain(select, join, inner, name, sources, left, on, on_true)


def _reads_outside_of(q: Any, sources: set[str]) -> bool:
    """Whether nested query ``q`` reads a table that neither it nor the lateral body defines."""
    defined = {a.name for a in q.find_all(exp.TableAlias)} | {t.alias_or_name for t in q.find_all(exp.Table)}
    return any(c.table and c.table not in defined and c.table not in sources for c in q.find_all(exp.Column))


def _has_aggregate(e: Any) -> bool:
    return any(a.find_ancestor(exp.Window) is None for a in e.find_all(exp.AggFunc))


def _references(select: Any, join: Any, name: str) -> list[Any]:
    """The columns ``name.<c>`` that the query around the lateral reads (its own body aside)."""
    out = []
    for c in select.find_all(exp.Column):
        if c.table == name and c.find_ancestor(exp.Lateral) is not join.this:
            out.append(c)
    return out


def _under(node: Any, top: Any) -> bool:
    while node is not None:
        if node is top:
            return True
        node = node.parent
    return False


def _conjuncts(where: Any) -> list[Any]:
    return list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]


def _and(terms: list[Any]) -> Any:
    return exp.and_(*terms) if len(terms) > 1 else terms[0]


def _set_on(join: Any, terms: list[Any], on: Any, on_true: bool) -> None:
    if not on_true:
        terms = terms + [on]
    if terms:
        join.set("on", _and(terms))
        if (join.kind or "").upper() == "CROSS":
            join.set("kind", None)
    else:
        join.set("on", None if not join.side else exp.true())


def _plain(select: Any, join: Any, inner: Any, name: str, sources: set[str], left: bool,
           on: Any, on_true: bool) -> None:
    taken = set(inner.named_selects)
    exported: dict[tuple[str, str], str] = {}

    def export(c: Any) -> Any:
        key = (c.table, c.name)
        if key not in exported:
            i = len(exported)
            while f"_lateral_c{i}" in taken:
                i += 1
            exported[key] = f"_lateral_c{i}"
            taken.add(exported[key])
        return exp.column(exported[key], table=name)

    def over_exports(e: Any) -> Any:
        return e.transform(lambda n: export(n) if isinstance(n, exp.Column) and n.table in sources else n, copy=True)

    moved: list[Any] = []
    where = inner.args.get("where")
    if where is not None:
        keep: list[Any] = []
        for term in _conjuncts(where):
            (moved if _outer_columns(term, sources) else keep).append(term)
        inner.set("where", exp.Where(this=_and(keep)) if keep else None)
        moved = [over_exports(t) for t in moved]
    computed: dict[str, Any] = {}
    items = []
    for item in inner.expressions:
        if _outer_columns(item, sources):
            computed[item.alias_or_name] = over_exports(item.this if isinstance(item, exp.Alias) else item)
        else:
            items.append(item)
    marker = None
    if computed and left:
        marker = "_lateral_m"
        while marker in taken:
            marker += "_"
        items.append(exp.alias_(exp.Literal.number(1), marker))
    for (table, col), out in exported.items():
        items.append(exp.alias_(exp.column(col, table=table), out))
    if not items:
        items.append(exp.alias_(exp.Literal.number(1), "_lateral_m"))
    inner.set("expressions", items)
    for c in _references(select, join, name):
        if c.name in computed:
            value = computed[c.name].copy()
            if marker is not None:
                value = exp.Case(ifs=[exp.If(this=exp.column(marker, table=name).is_(exp.null()).not_(), true=value)])
            c.replace(exp.paren(value, copy=False))
    join.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(name))))
    _set_on(join, moved, on, on_true)


def _grouped(join: Any, inner: Any, name: str, sources: set[str], left: bool, on: Any, on_true: bool) -> None:
    if any(_outer_columns(e, sources) for e in inner.expressions):
        raise _refuse("an outer column in the select list of a grouped or DISTINCT query", inner)
    group = inner.args.get("group")
    if group is not None and any(group.args.get(k) for k in ("grouping_sets", "rollup", "cube")):
        raise _refuse("GROUPING SETS / ROLLUP / CUBE", group)
    if isinstance(inner.args.get("distinct"), exp.Distinct) and inner.args["distinct"].args.get("on"):
        raise _refuse("DISTINCT ON", inner)
    limited = inner.args.get("limit") is not None or inner.args.get("offset") is not None
    if limited and inner.args.get("distinct") is not None:
        raise _refuse("LIMIT beside DISTINCT", inner)
    if limited and group is None and any(_has_aggregate(e) for e in inner.expressions):
        raise _refuse("LIMIT over an aggregate without GROUP BY", inner)
    where = inner.args.get("where")
    keep: list[Any] = []
    keys: list[tuple[Any, Any]] = []
    for term in _conjuncts(where) if where is not None else []:
        if not _outer_columns(term, sources):
            keep.append(term)
            continue
        pair = _equality(term, sources)
        if pair is None:
            raise _refuse("a correlation other than inner = outer beside GROUP BY, DISTINCT, LIMIT or an aggregate",
                          term)
        keys.append(pair)
    if group is None and not inner.args.get("distinct") and not keys:
        raise _refuse("an aggregate with HAVING", inner)
    if limited and not keys:
        raise _refuse("LIMIT without a correlation inner = outer", inner)
    inner.set("where", exp.Where(this=_and(keep)) if keep else None)
    taken = set(inner.named_selects)
    terms: list[Any] = []
    for inner_side, outer_side in keys:
        i = len(terms)
        while f"_lateral_c{i}" in taken:
            i += 1
        out = f"_lateral_c{i}"
        taken.add(out)
        inner.append("expressions", exp.alias_(inner_side.copy(), out))
        if group is not None:
            group.append("expressions", inner_side.copy())
        terms.append(exp.EQ(this=exp.column(out, table=name), expression=outer_side.copy()))
    if group is None and not inner.args.get("distinct") and not limited:  # (HAVING over the whole: per key now)
        inner.set("group", exp.Group(expressions=[k.copy() for k, _ in keys]))
    if limited:
        _limit_per_key(inner, [k for k, _ in keys])
    join.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(name))))
    _set_on(join, terms, on, on_true)


def _equality(term: Any, sources: set[str]) -> tuple[Any, Any] | None:
    """``(inner side, outer side)`` of ``inner = outer`` (either order), or None."""
    if not isinstance(term, exp.EQ):
        return None
    a, b = term.this, term.expression
    for x, y in ((a, b), (b, a)):
        inner_cols = [c for c in x.find_all(exp.Column)]
        if (inner_cols and not _outer_columns(x, sources) and not x.find(exp.Query)
                and all(c.table not in sources for c in y.find_all(exp.Column)) and not y.find(exp.Query)):
            return x, y
    return None


def _keyed_aggregate(select: Any, join: Any, inner: Any, name: str, sources: set[str], left: bool, on: Any,
                     on_true: bool) -> bool:
    """One aggregate row correlated only by equalities ``inner = outer`` as a LEFT JOIN of the
    aggregate grouped on the inner sides; a column read is its value over no rows (``count`` 0,
    any other aggregate NULL) where no group matched (False, changing nothing, otherwise)::

        t, LATERAL (SELECT count(*) AS n FROM u WHERE u.k = t.k) a
          ->  t LEFT JOIN (SELECT count(*) AS n, 1 AS _lateral_m, u.k AS _lateral_c0 FROM u GROUP BY u.k) a
                  ON a._lateral_c0 = t.k       (a.n read as CASE WHEN a._lateral_m IS NOT NULL THEN a.n ELSE 0 END)

    A term of outer columns alone (``t.x > 0``) is not a key: where it is not TRUE the values are
    those over no rows (``CASE WHEN a._lateral_m IS NOT NULL AND (t.x > 0) THEN a.n ELSE 0 END``).
    """
    if any(_outer_columns(e, sources) for e in inner.expressions):
        return False
    where = inner.args.get("where")
    terms = _conjuncts(where) if where is not None else []
    # (a term of outer columns alone, t.x > 0, decides whether the aggregate is over no rows)
    outer_only = [t for t in terms if _outer_columns(t, sources) and not _inner_columns(t, sources)
                  and not t.find(exp.Query)]
    keyed = [t for t in terms if _outer_columns(t, sources) and t not in outer_only]
    if not keyed or not all(_equality(t, sources) for t in keyed):
        return False
    if outer_only:
        rest = [t for t in terms if t not in outer_only]
        inner.set("where", exp.Where(this=_and(rest)))
    empty: dict[str, Any] = {}
    for item in inner.expressions:
        value = item.this if isinstance(item, exp.Alias) else item
        empty[item.alias_or_name] = value.transform(
            lambda n: (exp.Literal.number(0) if isinstance(n, (exp.Count, exp.CountIf, exp.ApproxDistinct)) else exp.null())
            if isinstance(n, exp.AggFunc) else n, copy=True)
    marker = "_lateral_m"
    while marker in inner.named_selects:
        marker += "_"
    inner.append("expressions", exp.alias_(exp.Literal.number(1), marker))
    targets = [c for c in _references(select, join, name) if on is None or not _under(c, on)]
    _grouped(join, inner, name, sources, True, exp.true(), True)
    join.set("side", "LEFT")
    join.set("kind", None)

    def value_of(col: Any) -> Any:
        matched: Any = exp.column(marker, table=name).is_(exp.null()).not_()
        if outer_only:
            matched = exp.and_(matched, *(exp.paren(t.copy()) for t in outer_only))
        return exp.Case(ifs=[exp.If(this=matched, true=col.copy())], default=empty[col.name].copy())

    _read_as(select, targets, name, left, on, on_true, value_of, set(empty))
    return True


def _as_scalar_subqueries(select: Any, join: Any, inner: Any, name: str, left: bool, on: Any, on_true: bool) -> None:
    items = {item.alias_or_name: item.this if isinstance(item, exp.Alias) else item for item in inner.expressions}

    def value_of(col: Any) -> Any:
        q = inner.copy()
        q.set("expressions", [exp.alias_(items[col.name].copy(), col.name)])
        q.set("distinct", None)
        return exp.Subquery(this=q)

    targets = [c for c in _references(select, join, name) if on is None or not _under(c, on)]
    join.pop()
    _read_as(select, targets, name, left, on, on_true, value_of, set(items))


def _read_as(select: Any, targets: list[Any], name: str, left: bool, on: Any, on_true: bool,
             value_of: Callable[[Any], Any], columns: set[str]) -> None:
    """Each column ``targets`` reads of the (one-row) lateral as ``value_of`` it; with an ON
    condition other than TRUE, the condition over those values is a WHERE term (an inner join) or,
    under a LEFT JOIN, decides each value: ``CASE WHEN cond THEN value END`` (NULL where the
    lateral row does not meet it)."""
    condition = None
    if not on_true:
        condition = on.copy()
        for c in list(condition.find_all(exp.Column)):
            if c.table == name and c.name in columns:
                c.replace(value_of(c))
    for c in targets:
        if c.name not in columns:
            continue
        value = value_of(c)
        if condition is not None and left:
            value = exp.Case(ifs=[exp.If(this=condition.copy(), true=value)])
        c.replace(value)
    if condition is not None and not left:
        where = select.args.get("where")
        select.set("where", exp.Where(this=condition if where is None else exp.and_(where.this, exp.paren(condition))))


def _count(node: Any, what: str) -> int:
    value = node.expression if node is not None else None
    if value is None:
        return 0
    if not (isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit()):
        raise _refuse(f"a {what} that is not an integer constant", node)
    return int(value.this)


def _limit_per_key(inner: Any, keys: list[Any]) -> None:
    """``ORDER BY o LIMIT n OFFSET m`` per value of the correlation keys: the rows numbered
    ``m + 1`` to ``m + n`` in each key's partition (which rows among ties is arbitrary, as in
    DuckDB)::

        QUALIFY row_number() OVER (PARTITION BY keys ORDER BY o) BETWEEN m + 1 AND m + n
    """
    limit, offset = inner.args.get("limit"), inner.args.get("offset")
    first = _count(offset, "OFFSET")
    order = inner.args.get("order")
    if order is not None:  # (an ORDER BY of an output name: its expression, in the window)
        named = {e.alias: e.this for e in inner.expressions if isinstance(e, exp.Alias)}
        order = order.transform(lambda n: named[n.name].copy() if isinstance(n, exp.Column) and not n.table
                                and n.name in named else n, copy=True)
    window = exp.Window(this=exp.RowNumber(), partition_by=[k.copy() for k in keys], order=order)
    number = window
    conds: list[Any] = [exp.GT(this=number, expression=exp.Literal.number(first))] if first else []
    if limit is not None:
        conds.append(exp.LTE(this=number.copy(), expression=exp.Literal.number(first + _count(limit, "LIMIT"))))
    for key in ("limit", "offset", "order"):
        inner.set(key, None)
    if conds:
        inner.set("qualify", exp.Qualify(this=_and(conds)))
