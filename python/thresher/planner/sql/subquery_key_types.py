"""``subquery_key_types``: the values a subquery is compared by, cast to the type DuckDB compares
them in before decorrelation groups the subquery by them.

DuckDB compares a FLOAT with an integer or a DECIMAL in FLOAT (:func:`coerce.float32_common`) and
a BIGINT, a HUGEINT or a wide DECIMAL with a DOUBLE in DOUBLE. Decorrelation
(``unnest_subqueries``) answers ``x IN (SELECT y ...)``, and a subquery correlated by ``u.y =
t.x``, with a join onto the subquery grouped by ``y``: grouped by ``y``'s own values, two of them
that are one FLOAT (DECIMAL 1.1 and 1.1000000001, BIGINT 16777216 and 16777217) were two groups,
and the join, comparing in FLOAT, matched the outer row to both (its row twice under IN and
EXISTS, a count or a minimum split between two rows). So the integer or DECIMAL side is cast in
the query itself, the grouping then being of the compared values::

    t.r IN (SELECT u.m FROM u)                  ->  t.r IN (SELECT CAST(u.m AS FLOAT) AS m FROM u)
    EXISTS (SELECT 1 FROM u WHERE u.m = t.r)    ->  EXISTS (SELECT 1 FROM u WHERE CAST(u.m AS FLOAT) = t.r)
    t.f IN (SELECT u.n FROM u)                  ->  t.f IN (SELECT CAST(u.n AS DOUBLE) AS n FROM u)

(FLOAT ``t.r``, DECIMAL ``u.m``, DOUBLE ``t.f``, BIGINT ``u.n``; an outer side that is the exact
one is cast instead, and a set operation's column through a derived table over it). Only
comparisons that read a column of an enclosing query are cast (the others the translation types
as any WHERE term), and only where both sides' types are known here: columns (as sqlglot's schema
has them), numeric constants, CASTs, ``+ - *`` of those, MIN / MAX / ANY_VALUE / ABS / FLOOR / CEIL /
SUM of them.
Elsewhere the translation finds the types: an uncorrelated ``NOT IN`` is an anti join whose keys
it types (``Translator._typed_keys``), and a decorrelated join on a key that would need this cast
is refused (``Translator._refuse_lossy_grouped_keys``), not answered with rows twice.
"""

from __future__ import annotations

from typing import Any

from thresher.datatypes import DataType
from thresher.errors import ThresherError
from thresher.planner.sql.coerce import float32_common

_FLOAT32 = DataType.float32()
_FLOAT64 = DataType.float64()


def cast_subquery_keys(tree: Any, schema: Any) -> None:
    """Casts, in place, the compared values of ``tree``'s subqueries as the module docstring says
    (``schema``: sqlglot's)."""
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.scope import traverse_scope

    ins = [n for n in tree.find_all(exp.In) if n.args.get("query") is not None and not isinstance(n.this, exp.Tuple)]
    compared: dict[int, Any] = {}
    for scope in traverse_scope(tree):
        for col in scope.external_columns:
            up = col.parent
            while up is not None and up is not scope.expression and not isinstance(up, exp.Predicate):
                up = up.parent
            if isinstance(up, _comparisons()):
                compared[id(up)] = up
    if not ins and not compared:
        return
    annotate_types(tree, schema=schema)
    try:
        for node in ins:
            _cast_in(node)
        for node in compared.values():
            a, b = _type_of(node.this), _type_of(node.expression)
            to = floating_common(a, b)
            if to is not None:
                for side, t in (("this", a), ("expression", b)):
                    if t != to:
                        node.set(side, _cast(node.args[side], to))
    finally:
        for n in tree.walk():  # (the types were for this pass only: later passes see the tree as before)
            n.type = None


def _comparisons() -> tuple[type, ...]:
    from sqlglot import exp

    return (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)


def floating_common(a: DataType | None, b: DataType | None) -> DataType | None:
    """The floating type an exact ``a`` or ``b`` must be cast to, to be compared with the other as
    DuckDB compares them (``None``: none, or a type is unknown)."""
    if float32_common([a, b]):
        return _FLOAT32
    if a is None or b is None:
        return None
    if _FLOAT64 in (a, b) and (_wide(a) or _wide(b)):
        return _FLOAT64
    return None


def _wide(t: DataType) -> bool:
    """An integer or DECIMAL type two of whose values can be one DOUBLE."""
    if t.kind == "decimal":
        return bool(t.arrow.precision > 15)
    return t.is_integer() and t.arrow.bit_width >= 64


def _cast_in(node: Any) -> None:
    from sqlglot import exp

    sub = node.args["query"]
    q = sub.this if isinstance(sub, exp.Subquery) else sub
    x = _type_of(node.this)
    v = _query_type(q)
    to = floating_common(x, v)
    if to is None:
        return
    if x != to:
        node.set("this", _cast(node.this, to))
    if v == to:
        return
    if isinstance(q, exp.Select):
        item = q.selects[0]
        if isinstance(item, exp.Alias):
            item.set("this", _cast(item.this, to))
        else:
            item.replace(exp.alias_(_cast(item.copy(), to), item.alias_or_name))
        return
    name = q.named_selects[0]
    from thresher.planner.sql.translate import _fresh_alias  # (translate imports this module)

    inner = _fresh_alias(node.root(), "_keyed")
    wrapped = exp.select(exp.alias_(_cast(exp.column(name, table=inner), to), name)).from_(
        exp.Subquery(this=q.copy(), alias=exp.TableAlias(this=exp.to_identifier(inner))))
    if isinstance(sub, exp.Subquery):
        sub.set("this", wrapped)
    else:
        node.set("query", wrapped)


def _query_type(q: Any) -> DataType | None:
    """The type of a one-column query's value (a set operation's: DuckDB's common type of its
    inputs' where known)."""
    from sqlglot import exp

    if isinstance(q, exp.Select):
        return _type_of(q.selects[0]) if len(q.selects) == 1 else None
    if isinstance(q, exp.SetOperation):
        return _arithmetic(_query_type(q.this), _query_type(q.expression))
    if isinstance(q, exp.Subquery):
        return _query_type(q.this)
    return None


def _type_of(node: Any) -> DataType | None:
    """``node``'s type where this pass can be sure of it (see the module docstring), else None."""
    from sqlglot import exp

    while isinstance(node, (exp.Paren, exp.Alias, exp.Neg)):
        node = node.this
    if isinstance(node, (exp.Min, exp.Max, exp.AnyValue, exp.Abs, exp.Floor, exp.Ceil)) and not (
            node.args.get("decimals") or node.args.get("to")):
        return _type_of(node.this)
    if isinstance(node, exp.Sum):
        t = _type_of(node.this)
        return None if t is None else _FLOAT64 if t.is_float() else DataType.decimal(38, 0)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        a, b = node.this, node.expression
        if _integer_literal(a):
            a = b
        elif _integer_literal(b):
            b = a
        return _arithmetic(_type_of(a), _type_of(b))
    if isinstance(node, exp.Literal) and node.is_number:  # (DuckDB's: 7 an INTEGER, 1.1 a DECIMAL, 1e3 a DOUBLE)
        text = node.name.lower()
        if "e" in text:
            return _FLOAT64
        return DataType.int64() if node.is_int else DataType.decimal(18, len(text.partition(".")[2]))
    if isinstance(node, exp.Column):
        sql_type = node.type
    elif isinstance(node, (exp.Cast, exp.TryCast)):
        sql_type = node.to
    else:
        return None
    if sql_type is None or sql_type.is_type(exp.DataType.Type.UNKNOWN):
        return None
    from thresher.planner.sql.translate import _dtype_from_sql

    try:
        t = _dtype_from_sql(sql_type)
    except ThresherError:
        return None
    return t if t.is_numeric() else None


def _integer_literal(node: Any) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.Literal) and node.is_int


def _arithmetic(a: DataType | None, b: DataType | None) -> DataType | None:
    """The class of DuckDB's type of ``a`` with ``b`` that decides how it is compared: a DOUBLE,
    a FLOAT, or an integer or DECIMAL (BIGINT, or ``a`` where both are one type)."""
    if a is None or b is None:
        return None
    if _FLOAT64 in (a, b):
        return _FLOAT64
    if _FLOAT32 in (a, b):
        return _FLOAT32
    if a.is_float() or b.is_float():
        return None
    return a if a == b else DataType.int64()


def _cast(node: Any, to: DataType) -> Any:
    from sqlglot import exp

    return exp.Cast(this=node, to=exp.DataType.build("FLOAT" if to == _FLOAT32 else "DOUBLE"))
