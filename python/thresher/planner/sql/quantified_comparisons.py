"""``quantified_comparisons``: ``x <op> ANY (q)`` and ``x <op> ALL (q)`` as DuckDB answers them.

``= ANY`` is ``IN`` and ``<> ALL`` is ``NOT IN`` by SQL's definition, three-valued answer included,
so they become those (whose NULLs the IN passes keep: ``x = ANY (q)`` as a value read FALSE where
DuckDB reads NULL)::

    x = ANY (SELECT y FROM u)    ->  x IN (SELECT y FROM u)
    x <> ALL (SELECT y FROM u)   ->  x NOT IN (SELECT y FROM u)

Another comparison over an uncorrelated ``q`` (it was "unsupported SQL construct Any") compares
``x`` with the least or greatest value of ``q``, and its NULL cases are written out::

    x > ANY (q)  ->  CASE WHEN (SELECT count(*) FROM q) = 0 THEN FALSE
                          WHEN x > (SELECT min(y) FROM q) THEN TRUE
                          WHEN x IS NULL OR (SELECT count(y) FROM q) < (SELECT count(*) FROM q) THEN NULL
                          ELSE FALSE END

(``ALL``: TRUE over no rows, FALSE where some value fails the comparison: ``x <= max(y)`` for
``> ALL``). ``<> ANY`` and ``= ALL`` test ``x <> min OR x <> max``. Over a correlated ``q`` (a
plain SELECT), an ``ANY`` that is a WHERE's condition (where NULL and FALSE both drop the row) is
an EXISTS, correlated by the comparison (see ``domain_decorrelation``)::

    t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k)  ->  EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND t.g > u.y)

and any other over a plain SELECT (DISTINCT and ORDER BY dropped: the compared set is the same)
is a CASE over EXISTS tests of its rows (see ``_exists_case``), each correlated as ``q`` is plus a
strict comparison with ``x``, which decorrelation joins as any EXISTS::

    t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k)
      ->  CASE WHEN EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND t.g <= u.y) THEN FALSE
               WHEN t.g IS NULL AND EXISTS (SELECT 1 FROM u WHERE u.k = t.k) THEN NULL
               WHEN EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND u.y IS NULL) THEN NULL
               ELSE TRUE END

(a select item, under NOT or IS, in a CASE, in a WHERE or, lifted with its grouped query by
``lift_grouped_subqueries``, in a HAVING). Over one aggregate without GROUP BY (one row) it is the
comparison with that scalar subquery. Over GROUP BY, HAVING, LIMIT, a window or a set operation it
is refused with an error naming it.
"""

from __future__ import annotations

from typing import Any

_SYMBOL = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def quantified_comparisons(tree: Any) -> bool:
    """Rewrites, in place, each ``ANY`` / ``ALL`` comparison it can (see the module docstring);
    returns whether it wrote an ``IN``."""
    from sqlglot import exp

    wrote_in = False
    for node in list(tree.find_all(exp.Any, exp.All)):
        cmp = node.parent
        if not isinstance(cmp, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)) or cmp.expression is not node:
            continue
        q = node.this.this if isinstance(node.this, exp.Subquery) else node.this
        if not isinstance(q, exp.Query) or len(q.named_selects) != 1:
            continue
        is_any = isinstance(node, exp.Any)
        if isinstance(cmp, exp.EQ) and is_any or isinstance(cmp, exp.NEQ) and not is_any:
            test = exp.In(this=cmp.this.copy(), query=exp.Subquery(this=q.copy()))
            cmp.replace(test if is_any else exp.Not(this=test))
            wrote_in = True
            continue
        if _correlated(q):
            if is_any and _where_conjunct(cmp) and _plain(q):
                cmp.replace(exp.Exists(this=_filtered(q, type(cmp), cmp.this)))
                continue
            rows = _rows(q)
            if rows is not None:
                cmp.replace(exp.Paren(this=_exists_case(type(cmp), cmp.this, rows, is_any)))
                continue
            if _one_aggregate(q):  # one row: the comparison with its value, a scalar subquery
                cmp.set("expression", exp.Subquery(this=q.copy()))
                continue
            from thresher.errors import UnsupportedError

            raise UnsupportedError(
                f"a correlated {_SYMBOL[cmp.key]} {'ANY' if is_any else 'ALL'} (subquery) over an aggregate, "
                f"GROUP BY, HAVING, DISTINCT, LIMIT, window or set operation is not supported: {cmp.sql()}; "
                f"only one over a plain SELECT ... FROM ... WHERE")
        cmp.replace(exp.Paren(this=_case(type(cmp), cmp.this.copy(), q, is_any)))
    return wrote_in


def _correlated(q: Any) -> bool:
    from sqlglot import exp

    defined = {a.name for a in q.find_all(exp.TableAlias)} | {t.alias_or_name for t in q.find_all(exp.Table)}
    return any(c.table and c.table not in defined for c in q.find_all(exp.Column))


def _case(op: Any, x: Any, q: Any, is_any: bool) -> Any:
    from sqlglot import exp

    name = q.named_selects[0]

    def over(agg: Any) -> Any:
        return exp.Subquery(this=exp.select(exp.alias_(agg, "v")).from_(
            exp.Subquery(this=q.copy(), alias=exp.TableAlias(this=exp.to_identifier("_quantified")))))

    col = exp.column(name, table="_quantified")
    rows = over(exp.Count(this=exp.Star()))
    values = over(exp.Count(this=col.copy()))
    lo, hi = over(exp.Min(this=col.copy())), over(exp.Max(this=col.copy()))
    if op in (exp.NEQ, exp.EQ):  # <> ANY: some value differs; = ALL: none does
        decided = exp.or_(exp.NEQ(this=x.copy(), expression=lo), exp.NEQ(this=x.copy(), expression=hi))
    elif is_any:  # some value passes: the least (x > y) or the greatest (x < y) does
        decided = op(this=x.copy(), expression=lo if op in (exp.GT, exp.GTE) else hi)
    else:  # some value fails: x <= max for > ALL, x < max for >= ALL, x >= min for < ALL, x > min for <= ALL
        flipped = {exp.GT: exp.LTE, exp.GTE: exp.LT, exp.LT: exp.GTE, exp.LTE: exp.GT}[op]
        decided = flipped(this=x.copy(), expression=hi if op in (exp.GT, exp.GTE) else lo)
    empty = exp.false() if is_any else exp.true()
    return exp.Case(ifs=[
        exp.If(this=exp.EQ(this=rows.copy(), expression=exp.Literal.number(0)), true=empty),
        exp.If(this=decided, true=exp.true() if is_any else exp.false()),
        exp.If(this=exp.or_(exp.Is(this=x.copy(), expression=exp.null()), exp.LT(this=values, expression=rows)),
               true=exp.null()),
    ], default=exp.false() if is_any else exp.true())


#: the comparison that is TRUE exactly where ``op`` is FALSE (both NULL on a NULL operand)
def _negated(op: Any) -> Any:
    from sqlglot import exp

    return {exp.GT: exp.LTE, exp.GTE: exp.LT, exp.LT: exp.GTE, exp.LTE: exp.GT, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}[op]


def _exists_case(op: Any, x: Any, q: Any, is_any: bool) -> Any:
    """A correlated ``x <op> ANY / ALL (q)`` (``q`` a plain SELECT of one value ``e``) as EXISTS
    tests of ``q``'s rows, each correlated as ``q`` is plus a strict comparison with ``x``::

        CASE WHEN EXISTS (q WHERE x <op> e) THEN TRUE           -- ALL: x <not op> e ... THEN FALSE
             WHEN x IS NULL AND EXISTS (q) THEN NULL
             WHEN EXISTS (q WHERE e IS NULL) THEN NULL
             ELSE FALSE END                                     -- ALL: TRUE (also over no rows)
    """
    from sqlglot import exp

    decided = _filtered(q, op if is_any else _negated(op), x)
    value = q.expressions[0].unalias()
    rows = q.copy()
    rows.set("expressions", [exp.alias_(exp.Literal.number(1), "one")])
    nulls = rows.copy().where(exp.Is(this=value.copy(), expression=exp.null()), copy=False)
    return exp.Case(ifs=[
        exp.If(this=exp.Exists(this=decided), true=exp.true() if is_any else exp.false()),
        exp.If(this=exp.and_(exp.Is(this=x.copy(), expression=exp.null()), exp.Exists(this=rows), copy=False),
               true=exp.null()),
        exp.If(this=exp.Exists(this=nulls), true=exp.null()),
    ], default=exp.false() if is_any else exp.true())


def _where_conjunct(node: Any) -> bool:
    from sqlglot import exp

    up = node.parent
    while isinstance(up, (exp.And, exp.Paren)):
        up = up.parent
    return isinstance(up, exp.Where) and isinstance(up.parent, exp.Select)


def _plain(q: Any) -> bool:
    from sqlglot import exp

    return isinstance(q, exp.Select) and not any(q.args.get(k) for k in (
        "group", "having", "qualify", "limit", "offset", "fetch", "distinct", "windows")) and not any(
        p.find(exp.AggFunc, exp.Window) for p in q.expressions)


def _rows(q: Any) -> Any:
    """``q`` as a plain SELECT (``_plain``) of the same set of values, or None: DISTINCT and an ORDER
    BY without LIMIT do not change what ANY / ALL compare with."""
    if _plain(q):
        return q
    if q.args.get("limit") or q.args.get("offset") or q.args.get("fetch"):
        return None
    rows = q.copy()
    rows.set("distinct", None)
    rows.set("order", None)
    return rows if _plain(rows) else None


def _one_aggregate(q: Any) -> bool:
    """Whether ``q`` is an aggregate without GROUP BY, HAVING, window, LIMIT or OFFSET: one row."""
    from sqlglot import exp

    return isinstance(q, exp.Select) and not any(q.args.get(k) for k in (
        "group", "having", "qualify", "limit", "offset", "fetch", "windows")) and any(
        p.find(exp.AggFunc) for p in q.expressions) and not any(p.find(exp.Window) for p in q.expressions)


def _filtered(q: Any, op: Any, x: Any) -> Any:
    """``SELECT 1 FROM ... WHERE <q's WHERE> AND x <op> <q's value>``."""
    from sqlglot import exp

    sel = q.copy()
    value = sel.expressions[0].unalias()
    sel.set("expressions", [exp.alias_(exp.Literal.number(1), "one")])
    return sel.where(op(this=x.copy(), expression=value.copy()), copy=False)
