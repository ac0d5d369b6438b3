"""Output column names as DuckDB gives them, and unknown-column errors that list the columns.

DuckDB names an unaliased select item by printing the expression: ``count(*)`` is
``count_star()``, ``a + 1`` is ``(a + 1)``, ``sum(a)`` is ``sum(a)``, a string literal keeps its
quotes. :func:`name_select_items` aliases such items before sqlglot's qualifier would name them
``_col_0``, ``_col_1``, ... (checked against DuckDB in ``tests/sql/test_sql_habits.py``).

Examples
--------
>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT a + 1, count(*), sum(a) / 2 FROM t", dialect="duckdb")
>>> _ = name_select_items(tree)
>>> [e.alias for e in tree.expressions]
['(a + 1)', 'count_star()', '(sum(a) / 2)']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

_BINARY = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "//", exp.Mod: "%", exp.DPipe: "||",
    exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.And: "AND",
    exp.Or: "OR", exp.Like: "~~", exp.ILike: "~~*", exp.Is: "IS",
}
_UPPER_FUNCS = {"coalesce": "COALESCE"}
_CAST_NAMES = {"DOUBLE": "double", "DATE": "date", "TEXT": "VARCHAR"}


def duckdb_name(node: Any) -> str:
    """The column name DuckDB gives the unaliased select item ``node``."""
    n: Any = node
    if isinstance(n, exp.Paren):
        return duckdb_name(n.this)
    if isinstance(n, exp.Column):
        return f"{n.table}.{n.name}" if n.table else n.name
    if isinstance(n, exp.Literal):
        return f"'{n.this}'" if n.is_string else str(n.this)
    if isinstance(n, exp.Boolean):
        return "true" if n.this else "false"
    if isinstance(n, exp.Null):
        return "NULL"
    if isinstance(n, exp.Count) and isinstance(n.this, exp.Star):
        return "count_star()"
    if isinstance(n, exp.Neg):
        return f"(-({duckdb_name(n.this)}))"
    if isinstance(n, exp.Not) and isinstance(n.this, exp.Is):
        return f"({duckdb_name(n.this.left)} IS NOT {duckdb_name(n.this.right)})"
    if isinstance(n, exp.Not):
        return f"(NOT {duckdb_name(n.this)})"
    if isinstance(n, exp.Cast) and isinstance(n.to, exp.DataType):
        t = n.to.sql(dialect="duckdb")
        return f"CAST({duckdb_name(n.this)} AS {_CAST_NAMES.get(t, t)})"
    op = _BINARY.get(type(n))
    if op is not None:
        return f"({duckdb_name(n.left)} {op} {duckdb_name(n.right)})"
    if isinstance(n, exp.Between):
        return f"({duckdb_name(n.this)} BETWEEN {duckdb_name(n.args['low'])} AND {duckdb_name(n.args['high'])})"
    if isinstance(n, exp.In) and n.expressions:
        return f"({duckdb_name(n.this)} IN ({', '.join(duckdb_name(e) for e in n.expressions)}))"
    if isinstance(n, exp.In) and n.args.get("query") is not None:
        return f"({duckdb_name(n.this)} = ANY({_duckdb_query(n.args['query'])}))"
    if isinstance(n, exp.Exists):
        return f"EXISTS({_duckdb_query(n.this)})"
    if isinstance(n, exp.Subquery) and not n.alias:
        return f"({_duckdb_query(n)})"
    if isinstance(n, exp.Case) and n.args.get("this") is None:
        whens = "".join(f" WHEN ({duckdb_name(w.this)}) THEN ({duckdb_name(w.args['true'])})" for w in n.args["ifs"])
        default = n.args.get("default")
        return f"CASE {whens}" + (f" ELSE {duckdb_name(default)}" if default is not None else "") + " END"
    if isinstance(n, exp.Distinct):
        return "DISTINCT " + ", ".join(duckdb_name(e) for e in n.expressions)
    if isinstance(n, exp.Array):  # ([1, 2]: DuckDB's list_value(1, 2))
        return f"list_value({', '.join(duckdb_name(e) for e in n.expressions)})"
    if isinstance(n, exp.Func) and not isinstance(n, (exp.Cast, exp.Case)):
        fname = n.name if isinstance(n, exp.Anonymous) else "unnest" if isinstance(n, exp.Explode) else n.sql_name()
        fname = _UPPER_FUNCS.get(fname.lower(), fname.lower())
        args = [a for a in n.args.values() if a is not None]
        flat: list[Any] = []
        for a in args:
            flat.extend(a if isinstance(a, list) else [a])
        if all(isinstance(a, exp.Expression) for a in flat):
            return f"{fname}({', '.join(duckdb_name(a) for a in flat)})"
    return str(node.sql(dialect="duckdb", normalize_functions="lower"))


_QUERY_PARTS = frozenset({"expressions", "from_", "from", "joins", "where", "group", "having", "order", "limit",
                          "distinct"})


def _duckdb_query(q: Any) -> str:
    """A subquery as DuckDB prints it in a column name (``SELECT max(y) FROM u WHERE (u.k = t.k)``):
    a plain SELECT over tables (comma-joined), else sqlglot's text."""
    while isinstance(q, exp.Subquery) and not q.alias:
        q = q.this
    fallback = str(q.sql(dialect="duckdb", normalize_functions="lower"))
    if not isinstance(q, exp.Select) or any(v is not None and v != [] and k not in _QUERY_PARTS
                                            for k, v in q.args.items()):
        return fallback
    distinct = q.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        return fallback
    items = [f"{duckdb_name(i.this)} AS {i.alias}" if isinstance(i, exp.Alias) else duckdb_name(i)
             for i in q.expressions]
    text = "SELECT " + ("DISTINCT " if distinct is not None else "") + ", ".join(items)
    first = q.args.get("from_") or q.args.get("from")
    sources: list[Any] = [first]
    for j in q.args.get("joins") or []:
        if j.args.get("on") is not None or j.args.get("using") or j.side or j.kind:
            return fallback
        sources.append(j)
    if first is not None:
        names = []
        for src in sources:
            t = src.this
            if not isinstance(t, exp.Table) or t.args.get("db"):
                return fallback
            names.append(t.name + (f" AS {t.alias}" if t.alias else ""))
        text += " FROM " + " , ".join(names)
    if q.args.get("where") is not None:
        text += f" WHERE {duckdb_name(q.args['where'].this)}"
    group = q.args.get("group")
    if group is not None:
        if any(group.args.get(k) for k in group.args if k != "expressions"):
            return fallback
        text += " GROUP BY " + ", ".join(duckdb_name(g) for g in group.expressions)
    if q.args.get("having") is not None:
        text += f" HAVING {duckdb_name(q.args['having'].this)}"
    order = q.args.get("order")
    if order is not None:
        if any(o.args.get("nulls_first") is not None and o.args.get("nulls_first") != bool(o.args.get("desc"))
               for o in order.expressions):
            return fallback
        text += " ORDER BY " + ", ".join(duckdb_name(o.this) + (" DESC" if o.args.get("desc") else "")
                                         for o in order.expressions)
    limit = q.args.get("limit")
    if limit is not None:
        if not isinstance(limit, exp.Limit) or limit.args.get("offset") is not None:
            return fallback
        text += f" LIMIT {duckdb_name(limit.expression)}"
    return text


def name_select_items(tree: Any) -> dict[str, str]:
    """Alias every unaliased computed item of every SELECT with its DuckDB name (in place).

    Returns the names given, and the aliases the query writes in another case than lowercase,
    keyed by their lowercase form: sqlglot's DuckDB dialect folds even quoted identifiers to
    lowercase, so ``translate`` puts ``count(DISTINCT a)`` and ``AS Foo`` back on the result.
    """
    given: dict[str, str] = {}
    written: dict[str, str] = {}  # aliases as the query spells them: `AS Foo` names its column "Foo"
    for select in tree.find_all(exp.Select):
        items = []
        taken = {i.alias_or_name for i in select.expressions if isinstance(i, (exp.Alias, exp.Column))}
        for item in select.expressions:
            if isinstance(item, exp.Alias):  # find_all is breadth first: the outer query's spelling wins
                written.setdefault(item.alias.lower(), item.alias)
            if isinstance(item, (exp.Alias, exp.Column, exp.Star)) or any(
                    isinstance(n, exp.Window) or not isinstance(n.parent, exp.Count)
                    for n in item.find_all(exp.Star, exp.Window)):
                items.append(item)  # (named already, or a star or a window in it: left as written)
                continue
            name = base = duckdb_name(item)
            k = 1
            while name in taken:  # DuckDB repeats a name; a Thresher schema cannot: "sum(a)_1"
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            given[name.lower()] = name
            items.append(exp.Alias(this=item, alias=exp.to_identifier(name, quoted=True)))  # (alias_ gives a subquery a table alias)
        if any(a is not b for a, b in zip(items, select.expressions)):
            select.set("expressions", items)
    for lower, spelled in written.items():
        given.setdefault(lower, spelled)
    return given


_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved(?:\. Line: (\d+), Col: (\d+))?")


def unknown_column_message(error: str, tree: Any, catalog_columns: Mapping[str, list[str]]) -> str | None:
    """``unknown column 'c' ...; columns: t.a, t.b`` for sqlglot's unresolved-column error, else None.

    Lists the columns of the tables the query reads (all known tables when it reads none of them).
    """
    m = _UNRESOLVED.search(error)
    if m is None:
        return None
    used = [t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() in catalog_columns]
    tables = list(dict.fromkeys(used)) or sorted(catalog_columns)
    cols = [f"{t}.{c}" if len(tables) > 1 else c for t in tables for c in catalog_columns[t]]
    where = f" at line {m.group(2)}, column {m.group(3)}" if m.group(2) else ""
    close = _close(m.group(1), [c.split(".")[-1] for c in cols])
    return f"unknown column {m.group(1)!r}{where}{close}; columns: {', '.join(cols)}"


def _close(name: str, names: list[str]) -> str:
    import difflib

    got = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" (did you mean {got[0]!r}?)" if got else ""
