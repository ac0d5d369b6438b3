"""sqlglot AST rewrites that run between sqlglot's optimizer rules and the translation.

``array_any_to_min_max``: sqlglot's ``unnest_subqueries`` decorrelates an ``EXISTS`` whose
correlation has an inequality (TPC-H Q21: ``l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <>
l1.l_suppkey``) into a left join against ``ARRAY_AGG(l2.l_suppkey)`` per key and a test
``ARRAY_ANY(_u_0._u_1, _x -> _x <> l1.l_suppkey)``. Building a list per group costs about three
times a min/max aggregate, and "some element differs from v" is "min <> v or max <> v", so the
list becomes two aggregates::

    ARRAY_AGG(l2.l_suppkey) AS _u_1          ->  MIN(l2.l_suppkey) AS _u_1__min, MAX(l2.l_suppkey) AS _u_1__max
    ARRAY_ANY(_u_0._u_1, _x -> _x <> v)      ->  (_u_0._u_1__min <> v OR _u_0._u_1__max <> v)

Null elements are ignored either way (the list lowering also compared its min and max), and a
missing group gives NULL, as ``ARRAY_ANY`` over a NULL list does. The rewrite only happens when
every use of the list column is such an ``ARRAY_ANY``.
"""

from __future__ import annotations

from typing import Any


def array_any_to_min_max(tree: Any) -> Any:
    from sqlglot import exp

    uses: dict[tuple[str, str], list[Any]] = {}
    for col in tree.find_all(exp.Column):
        if col.table:
            uses.setdefault((col.table, col.name), []).append(col)
    for sub in list(tree.find_all(exp.Subquery)):
        inner = sub.this
        if not isinstance(inner, exp.Select) or not sub.alias:
            continue
        for proj in list(inner.expressions):
            if not (isinstance(proj, exp.Alias) and isinstance(proj.this, exp.ArrayAgg)):
                continue
            refs = uses.get((sub.alias, proj.alias), [])
            tests = [_ne_test(r) for r in refs]
            if not refs or any(t is None for t in tests):
                continue
            arg = proj.this.this
            lo, hi = f"{proj.alias}__min", f"{proj.alias}__max"
            proj.replace(exp.alias_(exp.Min(this=arg.copy()), lo))
            inner.append("expressions", exp.alias_(exp.Max(this=arg.copy()), hi))
            for test in tests:
                assert test is not None
                any_node, value = test
                cond = exp.or_(
                    exp.NEQ(this=exp.column(lo, table=sub.alias), expression=value.copy()),
                    exp.NEQ(this=exp.column(hi, table=sub.alias), expression=value.copy()),
                )
                any_node.replace(exp.Paren(this=cond))
    return tree


def _ne_test(ref: Any) -> tuple[Any, Any] | None:
    """``(array_any_node, v)`` when ``ref`` is the list of ``ARRAY_ANY(ref, x -> x <> v)``."""
    from sqlglot import exp

    node = ref.parent
    if not (isinstance(node, exp.ArrayAny) and node.this is ref):
        return None
    lam = node.expression
    if not (isinstance(lam, exp.Lambda) and len(lam.expressions) == 1 and isinstance(lam.this, exp.NEQ)):
        return None
    var = lam.expressions[0].name
    a, b = lam.this.this, lam.this.expression

    def is_var(n: Any) -> bool:
        return isinstance(n, (exp.Column, exp.Identifier)) and n.name == var and not getattr(n, "table", "")

    def mentions_var(n: Any) -> bool:
        return any(is_var(x) for x in n.walk())

    if is_var(a) and not mentions_var(b):
        return node, b
    if is_var(b) and not mentions_var(a):
        return node, a
    return None
