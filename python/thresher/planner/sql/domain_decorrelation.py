"""``decorrelate_by_domain``: a subquery correlated other than by equalities, correlated by
equalities against the distinct outer values (the "domain" of the correlation).

sqlglot's ``unnest_subqueries`` decorrelates a subquery whose correlated conditions are
equalities ``inner = outer`` (it groups the subquery by the inner side and left-joins it), and an
``EXISTS`` with one extra ``<>`` (TPC-H Q21). A scalar subquery, ``EXISTS`` or ``IN`` correlated by
an inequality (``u.y < t.g``) or by an expression of outer columns it leaves correlated, and the
translation refused it. DuckDB answers such a query by joining the distinct outer values with the
subquery's tables; so does this rewrite, at the AST level, before ``unnest_subqueries``::

    SELECT t.g, (SELECT max(u.y) FROM u WHERE u.y < t.g) FROM t
      ->
    SELECT t.g, (SELECT max(u.y) FROM u, (SELECT DISTINCT t.g AS _c0 FROM t) AS _dom_0
                 WHERE u.y < _dom_0._c0 AND _dom_0._c0 = t.g) FROM t

which ``unnest_subqueries`` then decorrelates as usual (a left join of the subquery grouped by
``_dom_0._c0``; a missing group reads NULL, COUNT's 0). The domain reads the outer query's FROM
(the one outer table when the correlation reads one, else all of its FROM and joins) and its WHERE
conjuncts that read only those tables: a superset of the outer rows' values, which is enough, as
each outer row finds its own group by the equalities.

Where every correlated condition is NULL when one of its outer columns is (comparisons and
BETWEEN over columns, literals, arithmetic and casts: ``u.y < t.g + 1``), an outer row whose
value is NULL has no rows in the subquery, and the equalities, which do not match NULL, give it
the subquery over no rows: exact. A correlation that may be TRUE on a NULL outer value (an OR,
IS NULL, COALESCE, CASE, IS NOT DISTINCT FROM, a function) is joined with the domain NULL-safely
instead: the domain also holds ``COALESCE(c, 0)`` and ``COALESCE(c, 1)`` (two literals of the
column's type that differ), never NULL and together telling every value and NULL apart, and the
equalities compare those::

    SELECT t.k, (SELECT count(*) FROM u WHERE u.k = t.k OR t.k IS NULL) FROM t
      ->
    SELECT t.k, (SELECT count(*) FROM u, (SELECT DISTINCT t.k AS _c0, COALESCE(t.k, 0) AS _c0_0,
                 COALESCE(t.k, 1) AS _c0_1 FROM t) AS _dom_0
                 WHERE NOT (NOT u.k = _dom_0._c0 AND NOT _dom_0._c0 IS NULL)
                   AND _dom_0._c0_0 = COALESCE(t.k, 0) AND _dom_0._c0_1 = COALESCE(t.k, 1)) FROM t

(the correlated OR, now of the subquery's own tables, written without OR as ``hide_local_ors``
does). That needs the column's type: an outer column of a derived table or CTE, or of another
type, is left as it is (and refused as before). Only what sqlglot would not decorrelate by itself
is rewritten, so the plans of queries it did decorrelate (all 121 TPC-H and TPC-DS SQL queries)
do not change.

``hoist_nested_scalar_subqueries`` / ``put_back_hoisted``: ``unnest_subqueries`` decorrelates a
scalar subquery that is a whole select item, not one inside an item's expression (``COALESCE((...),
0)``, ``(...) + 1``); such an aggregate subquery is made an item of its own for it, and what it
becomes is put back in the expression.
"""

from __future__ import annotations

from typing import Any

# Nodes that are NULL when an operand is (on the path from an outer column to its condition).
_STRICT_INNER = ("Paren", "Neg", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "Cast", "DPipe",
                 "EQ", "NEQ", "GT", "GTE", "LT", "LTE")
# (the sqlglot node names of) arithmetic a compared scalar subquery may sit in
_ARITHMETIC_NAMES = ("Paren", "Neg", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "Cast")
# Conditions that are not TRUE when an operand is NULL (BETWEEN is NULL or FALSE then).
_STRICT_ROOT = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Between")


def decorrelate_by_domain(tree: Any, schema: Any = None) -> bool:
    """Rewrites, in place, each subquery that ``unnest_subqueries`` would leave correlated but can
    decorrelate once correlated by equalities against the domain (see the module docstring);
    returns whether it wrote an OR as ``NOT (NOT x AND NOT y)`` (``show_hidden_ors`` writes it
    back). ``schema`` (sqlglot's, of the tables) types the outer columns of a correlation that
    may hold on a NULL; without it such a subquery is left as it is."""
    from sqlglot.optimizer.scope import ScopeType, traverse_scope

    todo = []
    for scope in traverse_scope(tree):
        if not scope.external_columns or scope.scope_type != ScopeType.SUBQUERY or scope.parent is None:
            continue
        plan = _plan(scope, schema)
        if plan is not None:
            todo.append(plan)
    hidden = False
    for i, (select, parent, outer, defaults) in enumerate(todo):
        hidden |= _rewrite(select, parent, outer, _fresh(tree, i), defaults)
    return hidden


def _fresh(tree: Any, i: int) -> str:
    from sqlglot import exp

    taken = {a.name for a in tree.find_all(exp.TableAlias)}
    n = i
    while f"_dom_{n}" in taken:
        n += 1
    return f"_dom_{n}"


def _plan(scope: Any, schema: Any) -> tuple[Any, Any, list[Any], dict[tuple[str, str], tuple[Any, Any]] | None] | None:
    """``(select, parent select, outer columns, null-safe keys)`` when the subquery of ``scope``
    qualifies for the rewrite, else None; the keys (``_null_safe_keys``) where a correlated
    condition may hold on a NULL outer value, else None."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import find_in_scope
    from sqlglot.optimizer.unnest_subqueries import _is_post_aggregation, _is_supported_scalar_aggregate

    select = scope.expression
    parent = select.parent_select
    where = select.args.get("where")
    if (not isinstance(select, exp.Select) or parent is None or scope.parent.expression is not parent
            or where is None or not isinstance(select.parent, (exp.Subquery, exp.Exists))):
        return None
    if any(select.args.get(k) for k in ("group", "having", "qualify", "limit", "offset", "fetch", "order",
                                        "laterals", "with_", "windows")):
        return None
    if select.find(exp.Window) or any(s is not select and not _derived_table(s, select)
                                      for s in select.find_all(exp.Query)):
        return None
    outer_sources = scope.parent.sources
    outer = scope.external_columns
    if any(c.table not in outer_sources or c.find_ancestor(exp.Where, exp.Select) is not where for c in outer):
        return None
    # where the subquery is: a whole select item, a WHERE's (NOT) EXISTS / IN / comparison
    sub = select.parent if isinstance(select.parent, exp.Subquery) else select
    up: Any = sub.parent
    while isinstance(up, exp.Paren):
        up = up.parent
    if isinstance(up, exp.Alias) and up.parent is parent and up.arg_key == "expressions" or (
            up is parent and sub.arg_key == "expressions"):
        kind = "scalar"
    elif isinstance(up, exp.Exists):
        kind = "exists"
    elif isinstance(up, exp.In) and up.args.get("query") is sub:
        kind = "in"
    else:
        while type(up).__name__ in _ARITHMETIC_NAMES:  # (an operand of a comparison: sqlglot takes the comparison)
            up = up.parent
        if not isinstance(up, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            return None
        kind = "scalar"
    top = up
    while top.parent is not None and top.parent is not parent:
        top = top.parent
    if top.arg_key not in ("expressions", "where"):
        return None
    if top.arg_key == "expressions" and (parent.args.get("group") or any(
            find_in_scope(p, exp.AggFunc) for p in parent.expressions)) and _is_post_aggregation(select, parent):
        return None
    if kind == "scalar":
        proj = select.expressions[0] if len(select.expressions) == 1 else None
        if proj is None or not isinstance(proj, exp.Alias) or not _is_supported_scalar_aggregate(proj.this):
            return None
    elif kind == "in":
        if len(select.expressions) != 1 or select.expressions[0].find(exp.AggFunc):
            return None
    # the correlated conjuncts of the WHERE: strict in their outer columns
    outer_ids = {id(c) for c in outer}
    conjuncts = [c for c in _conjuncts(where.this) if any(id(n) in outer_ids for n in c.find_all(exp.Column))]
    if any(c.find(exp.AggFunc, exp.Select, exp.Window) for c in conjuncts):
        return None
    if all(_strict(c, outer_ids) for c in conjuncts):
        if _sqlglot_decorrelates(conjuncts, outer_ids, kind):
            return None
        return select, parent, outer, None
    keys = _null_safe_keys(outer, outer_sources, schema)
    return None if keys is None else (select, parent, outer, keys)


def _strict(c: Any, outer_ids: set[int]) -> bool:
    """Whether condition ``c`` is not TRUE where one of its outer columns is NULL (by its shape)."""
    from sqlglot import exp

    if type(c).__name__ not in _STRICT_ROOT:
        return False
    for col in c.find_all(exp.Column):
        if id(col) not in outer_ids:
            continue
        node = col.parent
        while node is not c:
            if type(node).__name__ not in _STRICT_INNER:
                return False
            node = node.parent
    return True


def _null_safe_keys(outer: list[Any], sources: dict[str, Any], schema: Any
                    ) -> dict[tuple[str, str], tuple[Any, Any]] | None:
    """Per outer column ``(table, name)``, two literals of its type that differ (``0`` and ``1``,
    ``''`` and ``'x'``, ...): ``COALESCE(c, a)`` and ``COALESCE(c, b)`` are never NULL and together
    tell every value and NULL apart (a value equal to both ``a`` and ``b`` does not exist), so
    equalities over them join a NULL outer value with its own domain row. None where a column is
    not one of a base table's, or of a type without such literals."""
    from sqlglot import exp

    if schema is None:
        return None
    out: dict[tuple[str, str], tuple[Any, Any]] = {}
    for col in outer:
        source = sources.get(col.table)
        if not isinstance(source, exp.Table):
            return None
        try:
            dtype = schema.get_column_type(source, col.name)
        except Exception:  # noqa: BLE001  (an unknown table or column: not rewritten)
            return None
        T = exp.DataType.Type
        if dtype.is_type(*exp.DataType.INTEGER_TYPES, *exp.DataType.REAL_TYPES):
            pair: tuple[Any, Any] = (exp.Literal.number(0), exp.Literal.number(1))
        elif dtype.is_type(*exp.DataType.TEXT_TYPES):
            pair = (exp.Literal.string(""), exp.Literal.string("x"))
        elif dtype.is_type(T.BOOLEAN):
            pair = (exp.false(), exp.true())
        elif dtype.is_type(T.DATE):
            pair = (exp.cast(exp.Literal.string("1970-01-01"), "DATE"), exp.cast(exp.Literal.string("1970-01-02"), "DATE"))
        else:
            return None
        out[(col.table, col.name)] = pair
    return out


def _derived_table(query: Any, select: Any) -> bool:
    """Whether ``query`` (inside ``select``) is a table of ``select``'s FROM or joins or inside
    one (not a query in an expression)."""
    from sqlglot import exp

    node = query
    while node is not select:
        if isinstance(node, (exp.From, exp.Join)) and node.parent is select:
            return True
        node = node.parent
    return False


def _sqlglot_decorrelates(conjuncts: list[Any], outer_ids: set[int], kind: str) -> bool:
    """Whether ``unnest_subqueries`` decorrelates these conditions itself (and the translation
    reads what it makes of them): all are ``inner = outer``, or an EXISTS has such an equality and
    one ``inner <> outer``."""
    from sqlglot import exp

    def split(c: Any) -> bool:  # one side reads only outer columns, the other only inner ones
        if not isinstance(c, exp.Binary):
            return False
        sides = [[id(n) in outer_ids for n in s.find_all(exp.Column)] for s in (c.left, c.right)]
        return any(all(a) and a and not any(b) for a, b in (sides, sides[::-1]))

    eqs = [c for c in conjuncts if isinstance(c, exp.EQ) and split(c)]
    rest = [c for c in conjuncts if not (isinstance(c, exp.EQ) and split(c))]
    if not eqs:
        return False
    return not rest or (kind == "exists" and len(rest) == 1 and isinstance(rest[0], exp.NEQ) and split(rest[0]))


def _conjuncts(node: Any) -> list[Any]:
    from sqlglot import exp

    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _rewrite(select: Any, parent: Any, outer: list[Any], alias: str,
             null_safe: dict[tuple[str, str], tuple[Any, Any]] | None) -> bool:
    """The rewrite; with ``null_safe`` keys (see ``_null_safe_keys``) the domain is joined on
    ``COALESCE(c, a)`` and ``COALESCE(c, b)`` instead of ``c`` (a NULL outer value finds its row),
    and each correlated OR, now of the subquery's own tables, is written without OR for
    ``unnest_subqueries`` (returns whether one was)."""
    from sqlglot import exp

    from thresher.planner.sql.rewrites import _HIDDEN_OR, _de_morgan

    keys: dict[tuple[str, str], str] = {}
    for col in outer:
        keys.setdefault((col.table, col.name), f"_c{len(keys)}")
    tables = {t for t, _ in keys}
    frm = parent.args["from_"]
    joins = parent.args.get("joins") or []
    one = [s for s in [frm, *joins] if s.this.alias_or_name in tables] if len(tables) == 1 else []
    if len(one) == 1 and not isinstance(one[0], exp.Join) or len(one) == 1 and not (
            one[0].side or one[0].kind not in ("", "INNER", "CROSS")):
        sources: list[Any] = [exp.From(this=one[0].this.copy())]
    else:
        sources = [frm.copy(), *(j.copy() for j in joins)]
    names = {s.this.alias_or_name for s in sources}
    items = [exp.alias_(exp.column(name, table=table), key) for (table, name), key in keys.items()]
    if null_safe is not None:
        items += [exp.alias_(exp.Coalesce(this=exp.column(name, table=table), expressions=[d.copy()]), f"{key}_{i}")
                  for (table, name), key in keys.items() for i, d in enumerate(null_safe[(table, name)])]
    domain = exp.select(*items)
    domain.set("distinct", exp.Distinct())
    domain.set("from_", sources[0])
    if sources[1:]:
        domain.set("joins", sources[1:])
    pwhere = parent.args.get("where")
    if pwhere is not None:
        kept = [c.copy() for c in _conjuncts(pwhere.this) if not c.find(exp.Query, exp.Rand)
                and all(col.table in names for col in c.find_all(exp.Column))]
        if kept:
            domain.set("where", exp.Where(this=exp.and_(*kept, copy=False)))
    outer_ids = {id(c) for c in outer}
    correlated = [c for c in _conjuncts(select.args["where"].this)
                  if any(id(n) in outer_ids for n in c.find_all(exp.Column))]
    for col in outer:
        col.replace(exp.column(keys[(col.table, col.name)], table=alias))
    select.append("joins", exp.Join(this=exp.Subquery(this=domain, alias=exp.TableAlias(
        this=exp.to_identifier(alias)))))
    if null_safe is None:
        equalities = [exp.EQ(this=exp.column(key, table=alias), expression=exp.column(name, table=table))
                      for (table, name), key in keys.items()]
    else:
        equalities = [exp.EQ(this=exp.column(f"{key}_{i}", table=alias),
                             expression=exp.Coalesce(this=exp.column(name, table=table), expressions=[d.copy()]))
                      for (table, name), key in keys.items() for i, d in enumerate(null_safe[(table, name)])]
    hidden = False
    for c in correlated:
        if null_safe is not None and c.find(exp.Or):  # (of the subquery's own tables now: see hide_local_ors)
            rewritten = _de_morgan(c)
            rewritten.meta[_HIDDEN_OR] = True
            if rewritten is not c:
                c.replace(rewritten)
            hidden = True
    where = select.args["where"]
    where.set("this", exp.and_(where.this, *equalities, copy=False))
    return hidden


#: the text of the string literal that stands where ``hoist_nested_scalar_subqueries`` took a subquery
_HOISTED = "__thresher_hoisted_subquery_"


def hoist_nested_scalar_subqueries(tree: Any) -> list[tuple[Any, str]]:
    """A correlated scalar aggregate subquery inside a select item's expression, moved to a select
    item of its own, in place, for ``unnest_subqueries`` (which decorrelates a subquery that is a
    whole select item or compared, not one inside ``COALESCE(...)`` or ``... + 1``)::

        SELECT coalesce((SELECT max(u.y) FROM u WHERE u.k = t.k), -1) AS m FROM t
          ->
        SELECT coalesce('<stand-in 0>', -1) AS m, (SELECT max(u.y) ... ) AS <stand-in 0> FROM t

    ``put_back_hoisted`` then writes what decorrelation made of the item (``_u_0.max_y``, COUNT's
    ``COALESCE(_u_0.n, 0)``) where the stand-in is and drops the item. Only an aggregate without
    GROUP BY (one row whatever the data) in a select list without aggregates, not under an
    aggregate or a window function; returns (select, stand-in) pairs."""
    from sqlglot import exp
    from sqlglot.optimizer.scope import ScopeType, traverse_scope
    from sqlglot.optimizer.unnest_subqueries import _is_supported_scalar_aggregate

    todo = []
    for scope in traverse_scope(tree):
        select = scope.expression
        parent = select.parent_select
        if (not scope.external_columns or scope.scope_type != ScopeType.SUBQUERY or parent is None
                or not isinstance(select, exp.Select) or not isinstance(select.parent, exp.Subquery)
                or not isinstance(parent, exp.Select) or scope.parent is None
                or scope.parent.expression is not parent):
            continue
        if any(select.args.get(k) for k in ("group", "having", "qualify", "limit", "offset", "fetch")):
            continue
        proj = select.expressions[0] if len(select.expressions) == 1 else None
        if proj is None or not isinstance(proj, exp.Alias) or not _is_supported_scalar_aggregate(proj.this):
            continue
        sub: Any = select.parent
        item: Any = sub
        while item.parent is not parent:
            item = item.parent
            if isinstance(item, (exp.AggFunc, exp.Window, exp.Query, exp.Lambda)):
                break
        if item.parent is not parent or item.arg_key != "expressions" or item.unalias().unnest() is sub:
            continue
        if parent.args.get("group") or any(_aggregates(p) for p in parent.expressions):
            continue
        todo.append((parent, sub))
    hoisted = []
    for i, (parent, sub) in enumerate(todo):
        name = f"{_HOISTED}{i}"
        sub.replace(exp.Literal.string(name))
        parent.append("expressions", exp.Alias(this=sub, alias=exp.to_identifier(name)))
        hoisted.append((parent, name))
    return hoisted


def _aggregates(node: Any) -> bool:
    from sqlglot import exp
    from sqlglot.optimizer.scope import find_in_scope

    return find_in_scope(node, exp.AggFunc) is not None


def put_back_hoisted(hoisted: list[tuple[Any, str]]) -> None:
    """The items ``hoist_nested_scalar_subqueries`` added, back where their stand-ins are (as
    decorrelation left them: a column of its join, or the subquery it did not decorrelate)."""
    from sqlglot import exp

    for parent, name in hoisted:
        item = next(p for p in parent.expressions if isinstance(p, exp.Alias) and p.alias == name)
        stand_in = next(n for p in parent.expressions for n in p.find_all(exp.Literal)
                        if n.is_string and n.this == name)
        parent.set("expressions", [p for p in parent.expressions if p is not item])
        stand_in.replace(item.this)
