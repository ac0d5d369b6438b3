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

and any other is refused with an error naming it.
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
            from thresher.errors import UnsupportedError

            raise UnsupportedError(
                f"a correlated {_SYMBOL[cmp.key]} {'ANY' if is_any else 'ALL'} (subquery) is not supported "
                f"here: {cmp.sql()}; only = ANY (IN), <> ALL (NOT IN), and ANY as a WHERE condition")
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


def _filtered(q: Any, op: Any, x: Any) -> Any:
    """``SELECT 1 FROM ... WHERE <q's WHERE> AND x <op> <q's value>``."""
    from sqlglot import exp

    sel = q.copy()
    value = sel.expressions[0].unalias()
    sel.set("expressions", [exp.alias_(exp.Literal.number(1), "one")])
    return sel.where(op(this=x.copy(), expression=value.copy()), copy=False)
