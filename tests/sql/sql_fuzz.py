"""A differential SQL fuzzer: hypothesis draws small tables (NULLs, duplicates, empty groups) and
queries over them; each runs in Thresher and DuckDB and must give the same rows, or Thresher
must refuse with a ``ThresherError`` naming what it does not support (never another exception,
never different rows).

Used by ``test_sql_fuzz.py`` (a few hundred cases in ``make test``, thousands under ``slow``).
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

INTS = st.one_of(st.none(), st.integers(-2, 3))
STRS = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]))
FLOATS = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.25, 2.0, 10.0]))
# dates around a (leap) month end, for RANGE frames with day and month offsets
DATES = st.one_of(st.none(), st.sampled_from([datetime.date(2024, 1, 30), datetime.date(2024, 1, 31),
                                              datetime.date(2024, 2, 1), datetime.date(2024, 2, 29),
                                              datetime.date(2024, 3, 2)]))

# SMALLINTs whose products and sums leave the type (DuckDB: "Overflow in multiplication of INT16")
SMALLS = st.one_of(st.none(), st.sampled_from([-300, -2, 0, 3, 200, 30000]))

# DECIMAL(9, 2) values, for RANGE frames over decimals, casts and their types
DECS = st.one_of(st.none(), st.sampled_from([decimal.Decimal(x) for x in ("-1.50", "0.00", "0.25", "2.50", "2.75", "10.00")]))
# text for LIKE / ILIKE with escapes, string functions in GROUP BY keys and casts of text
WORDS = st.one_of(st.none(), st.sampled_from(["", "x", "X_y", "x%y", "ab", "Ab!", "a!b", "1", " 2 ", "-3", "1.5"]))

# BIGINTs whose sums leave BIGINT (DuckDB sums into a HUGEINT; Thresher must raise, never wrap)
BIGS = st.one_of(st.none(), st.sampled_from([2**62, -2**62, 2**63 - 1, -2**63, 1, 0, -3]))
# DECIMAL(18, 3) values, for decimal arithmetic whose scale and precision grow
DEC18 = st.one_of(st.none(), st.sampled_from([decimal.Decimal(x) for x in (
    "-1.500", "0.000", "0.001", "2.125", "123456789012.345", "99999999999999.999", "-99999999999999.999")]))

T1_COLS = {"a": "int", "b": "int", "s": "str", "f": "float", "d": "date", "h": "int16", "m": "dec", "w": "word",
           "g": "big", "n": "dec18"}
T2_COLS = {"a": "int", "c": "int", "s": "str"}


@st.composite
def tables(draw: Any) -> dict[str, pa.Table]:
    """Two tables of 0..7 rows from tiny domains, so joins match, groups repeat and NULLs abound."""
    out = {}
    for name, cols in (("t1", T1_COLS), ("t2", T2_COLS)):
        n = draw(st.integers(0, 7))
        data = {}
        for c, kind in cols.items():
            values = draw(st.lists({"int": INTS, "str": STRS, "float": FLOATS, "date": DATES, "int16": SMALLS,
                                    "dec": DECS, "word": WORDS, "big": BIGS, "dec18": DEC18}[kind],
                                   min_size=n, max_size=n))
            data[c] = pa.array(values, {"int": pa.int64(), "str": pa.string(), "float": pa.float64(),
                                        "date": pa.date32(), "int16": pa.int16(), "dec": pa.decimal128(9, 2),
                                        "word": pa.string(), "big": pa.int64(), "dec18": pa.decimal128(18, 3)}[kind])
        out[name] = pa.table(data)
    return out


def _cols(alias: str, cols: dict[str, str], kind: str | None = None) -> list[str]:
    return [f"{alias}.{c}" for c, k in cols.items() if kind is None or k == kind]


@st.composite
def value(draw: Any, cols: list[str], kind: str, depth: int = 0) -> str:
    """A scalar expression of ``kind`` ("int" | "str" | "float") over ``cols`` (qualified names
    with their kinds encoded as ``name:kind``)."""
    mine = [c.split(":")[0] for c in cols if c.endswith(":" + kind)]
    lits = {"int": st.sampled_from(["0", "1", "2", "-1", "NULL"]),
            "str": st.sampled_from(["'x'", "'y'", "'w'", "NULL"]),
            "float": st.sampled_from(["0.5", "2.0", "-1.5"])}[kind]
    options = [st.sampled_from(mine)] if mine else []
    options.append(lits)
    if depth < 2:
        if kind in ("int", "float"):
            options.append(st.tuples(value(cols, kind, depth + 1), st.sampled_from(["+", "-", "*"]),
                                     value(cols, kind, depth + 1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"))
        options.append(st.tuples(predicate(cols, depth + 1), value(cols, kind, depth + 1), value(cols, kind, depth + 1))
                       .map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"))
        options.append(st.tuples(value(cols, kind, depth + 1), value(cols, kind, depth + 1))
                       .map(lambda t: f"coalesce({t[0]}, {t[1]})"))
        # SQL's truncating % and //, and CASTs that round
        if kind == "int":
            options.append(st.tuples(value(cols, kind, depth + 1), st.sampled_from(["%", "//"]),
                                     st.sampled_from(["2", "-3", "3"])).map(lambda t: f"({t[0]} {t[1]} {t[2]})"))
            options.append(value(cols, "float", depth + 1).map(lambda v: f"CAST({v} AS INTEGER)"))
            # a divisor that may be 0 (an error in DuckDB), bare or guarded as queries guard it
            options.append(st.tuples(value(cols, kind, depth + 1), st.sampled_from(["%", "//"]),
                                     value(cols, kind, depth + 1), st.integers(0, 3)).map(_division))
            # SMALLINT arithmetic that may overflow (an error in DuckDB; Polars wraps)
            small = [c.split(":")[0] for c in cols if c.endswith(":int16")]
            if small:
                options.append(st.tuples(st.sampled_from(small), st.sampled_from(["*", "+", "-"]),
                                         st.sampled_from(small + ["1000", "2", "-1"]), st.booleans()).map(_small))
        if kind == "float":
            options.append(st.tuples(value(cols, kind, depth + 1), st.sampled_from(["0.75", "-2.0"]))
                           .map(lambda t: f"({t[0]} % {t[1]})"))
            options.append(st.tuples(value(cols, "float", depth + 1), st.sampled_from(["DECIMAL(9, 1)", "DECIMAL(9, 0)"]))
                           .map(lambda t: f"CAST({t[0]} AS {t[1]})"))
            options.append(value(cols, "int", depth + 1).map(lambda v: f"CAST({v} AS DOUBLE)"))
    return str(draw(st.one_of(options)))


def _division(t: tuple[str, str, str, int]) -> str:
    n, op, d, guard = t
    if guard == 1:
        return f"CASE WHEN {d} <> 0 THEN ({n} {op} {d}) END"
    if guard == 2:
        return f"({n} {op} NULLIF({d}, 0))"
    if guard == 3:
        return f"CASE WHEN {d} = 0 THEN 0 ELSE ({n} {op} {d}) END"
    return f"({n} {op} {d})"


def _small(t: tuple[str, str, str, bool]) -> str:
    x, op, y, guard = t
    if guard:  # only where it cannot overflow
        return f"CASE WHEN abs({x}) < 100 AND abs({y}) < 100 THEN ({x} {op} {y}) END"
    return f"({x} {op} {y})"


@st.composite
def predicate(draw: Any, cols: list[str], depth: int = 0) -> str:
    """A boolean expression (three-valued: comparisons with NULLs, IS NULL, IN, BETWEEN, NOT)."""
    kind = draw(st.sampled_from(["int", "str"] + (["float"] if any(c.endswith(":float") for c in cols) else [])))
    a = draw(value(cols, kind, depth + 1))
    choice = draw(st.integers(0, 6 if depth < 2 else 3))
    if choice == 0:
        return f"{a} {draw(st.sampled_from(['=', '<>', '<', '<=', '>', '>=']))} {draw(value(cols, kind, depth + 1))}"
    if choice == 1:
        if depth < 2 and draw(st.booleans()):  # IS [NOT] TRUE/FALSE is never NULL
            return (f"({draw(predicate(cols, depth + 1))}) IS {draw(st.sampled_from(['', 'NOT ']))}"
                    f"{draw(st.sampled_from(['TRUE', 'FALSE']))}")
        return f"{a} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if choice == 2:
        items = {"int": ["0", "1", "3"], "str": ["'x'", "'z'"], "float": ["0.5", "2.0"]}[kind]
        if draw(st.booleans()):
            items = items + ["NULL"]
        return f"{a} {draw(st.sampled_from(['', 'NOT ']))}IN ({', '.join(items)})"
    if choice == 3:
        lo, hi = draw(value(cols, kind, depth + 1)), draw(value(cols, kind, depth + 1))
        return f"{a} {draw(st.sampled_from(['', 'NOT ']))}BETWEEN {lo} AND {hi}"
    if choice == 4:
        return f"NOT ({draw(predicate(cols, depth + 1))})"
    if choice == 5 and kind == "int" and draw(st.booleans()):
        # a division guarded by the terms beside it (DuckDB does not evaluate it where d = 0)
        d = draw(value(cols, "int", depth + 1))
        cmp = f"{a} % {d} {draw(st.sampled_from(['=', '<>', '>']))} {draw(st.sampled_from(['0', '1']))}"
        return draw(st.sampled_from([f"({d} <> 0 AND {cmp})", f"({cmp} AND {d} <> 0)", f"({d} = 0 OR {cmp})"]))
    op = "AND" if choice == 5 else "OR"
    return f"({draw(predicate(cols, depth + 1))} {op} {draw(predicate(cols, depth + 1))})"


def _typed(alias: str, cols: dict[str, str]) -> list[str]:
    return [f"{alias}.{c}:{k}" for c, k in cols.items()]


@st.composite
def select_list(draw: Any, cols: list[str], n: int | None = None) -> list[str]:
    n = n if n is not None else draw(st.integers(1, 3))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["int", "str", "float", "bool"]))
        # a predicate as a value shows its NULLs (a WHERE would read NULL as FALSE)
        out.append(f"({draw(predicate(cols))})" if kind == "bool" else draw(value(cols, kind)))
    return out


@st.composite
def projection_query(draw: Any) -> str:
    cols = _typed("t1", T1_COLS)
    items = draw(select_list(cols))
    where = f" WHERE {draw(predicate(cols))}" if draw(st.booleans()) else ""
    distinct = "DISTINCT " if draw(st.integers(0, 4)) == 0 else ""
    order = ""
    if draw(st.integers(0, 3)) == 0:  # ORDER BY every output (ties are equal rows) with LIMIT/OFFSET
        keys = [f"{i + 1}{draw(st.sampled_from(['', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST']))}"
                for i in range(len(items))]
        order = f" ORDER BY {', '.join(keys)} LIMIT {draw(st.integers(0, 4))}"
        if draw(st.booleans()):
            order += f" OFFSET {draw(st.integers(0, 3))}"
    return f"SELECT {distinct}{', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{where}{order}"


@st.composite
def aggregate_query(draw: Any) -> str:
    cols = _typed("t1", T1_COLS)
    keys = draw(st.lists(st.sampled_from(["t1.a", "t1.s", "t1.b"]), min_size=0, max_size=2, unique=True))
    aggs = []
    for _ in range(draw(st.integers(1, 3))):
        fn = draw(st.sampled_from(["count(*)", "count", "sum", "min", "max", "avg", "count_distinct"]))
        if fn == "count(*)":
            aggs.append("count(*)")
            continue
        kind = "str" if fn in ("min", "max", "count", "count_distinct") and draw(st.booleans()) else \
            draw(st.sampled_from(["int", "float"]))
        arg = draw(value(cols, kind, 1))
        aggs.append(f"count(DISTINCT {arg})" if fn == "count_distinct" else f"{fn}({arg})")
    where = f" WHERE {draw(predicate(cols))}" if draw(st.booleans()) else ""
    group = ""
    if keys:
        style = draw(st.integers(0, 5))
        if style == 0 and len(keys) >= 1:
            group = f" GROUP BY ROLLUP ({', '.join(keys)})"
        elif style == 1 and len(keys) >= 1:
            group = f" GROUP BY CUBE ({', '.join(keys)})"
        else:
            group = f" GROUP BY {', '.join(keys)}"
    having = ""
    if keys and draw(st.integers(0, 2)) == 0:
        having = f" HAVING {draw(st.sampled_from(aggs))} {draw(st.sampled_from(['>', '<', '=', '<>']))} 1"
    items = keys + aggs
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{where}{group}{having}"


@st.composite
def join_query(draw: Any) -> str:
    how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", ", "]))
    on_key = draw(st.sampled_from([("t1.a", "t2.a"), ("t1.s", "t2.s"), ("t1.b", "t2.c"), ("(t1.b // -2)", "t2.c")]))
    cols = _typed("t1", T1_COLS) + _typed("t2", T2_COLS)
    extra = draw(st.sampled_from(["", "", " AND t2.c > 0", " AND t1.b IS NOT NULL"]))
    items = draw(select_list(cols))
    if how == ", ":
        cond = f"{on_key[0]} = {on_key[1]}{extra}"
        if draw(st.booleans()):  # the join key in every OR branch (TPC-DS q13/q48)
            cond = f"({cond} AND t1.b > 0) OR ({cond} AND t2.c < 2)"
        where = f" WHERE {cond}"
        frm = "t1, t2"
    else:
        where = f" WHERE {draw(predicate(cols))}" if draw(st.integers(0, 2)) == 0 else ""
        # (an outer join's ON with other terms, or no equality at all: the nested loop's answer)
        outer_extra = draw(st.sampled_from(["", "", extra, " AND t1.b < t2.c", " AND t1.s <> t2.s"]))
        cond = f"{on_key[0]} = {on_key[1]}{extra if how == 'JOIN' else outer_extra}"
        if draw(st.integers(0, 4)) == 0:
            cond = draw(st.sampled_from(["t1.b < t2.c", "t1.a <> t2.a AND t1.b >= t2.c", "t1.s < t2.s OR t2.c IS NULL"]))
        frm = f"t1 {how} t2 ON {cond}"
    if draw(st.integers(0, 2)) == 0:
        key = draw(st.sampled_from(["t1.a", "t2.s", "t2.c"]))
        agg = draw(st.sampled_from(["count(*)", "sum(t1.b)", "max(t2.c)", "count(t2.a)"]))
        return f"SELECT {key} AS c0, {agg} AS c1 FROM {frm}{where} GROUP BY {key}"
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM {frm}{where}"


@st.composite
def set_query(draw: Any) -> str:
    op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"]))
    n = draw(st.integers(1, 2))
    kinds = [draw(st.sampled_from(["int", "str"])) for _ in range(n)]

    def side(alias: str, cols: dict[str, str]) -> str:
        typed = _typed(alias, cols)
        items = [draw(value(typed, k, 1)) for k in kinds]
        where = f" WHERE {draw(predicate(typed))}" if draw(st.booleans()) else ""
        return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM {alias}{where}"

    return f"{side('t1', T1_COLS)} {op} {side('t2', T2_COLS)}"


@st.composite
def subquery_query(draw: Any) -> str:
    cols = _typed("t1", T1_COLS)
    inner_where = draw(predicate(_typed("t2", T2_COLS)))
    form = draw(st.integers(0, 4))
    if form == 0:
        cond = f"t1.a {draw(st.sampled_from(['', 'NOT ']))}IN (SELECT t2.a FROM t2 WHERE {inner_where})"
    elif form == 1:
        cond = f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND {inner_where})"
    elif form == 2:
        cond = f"t1.b > (SELECT {draw(st.sampled_from(['min', 'max', 'avg']))}(t2.c) FROM t2 WHERE {inner_where})"
    elif form == 3:
        cond = (f"(SELECT count(*) FROM t2 WHERE t2.s = t1.s AND {inner_where}) "
                f"{draw(st.sampled_from(['> 0', '= 0']))}")
    else:
        sub = f"(SELECT max(t2.c) AS m FROM t2 WHERE {inner_where})"
        return f"SELECT t1.a AS c0, {sub} AS c1 FROM t1"
    items = draw(select_list(cols, 2))
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1 WHERE {cond}"


@st.composite
def in_value_query(draw: Any) -> str:
    """``x [NOT] IN (subquery)`` and ``[NOT] EXISTS`` whose NULL is seen: a select item, a CASE
    value, under NOT / IS / a comparison in a WHERE, uncorrelated or correlated by an equality,
    over subqueries that may be empty or hold NULLs (SQL's three-valued answer)."""
    x, col = draw(st.sampled_from([("t1.a", "t2.a"), ("t1.b", "t2.c"), ("t1.s", "t2.s"), ("(t1.a + 1)", "t2.c")]))
    inner = draw(st.sampled_from(["", "", f" WHERE {col} IS NOT NULL", " WHERE t2.c > 1", " WHERE t2.c > 100",
                                  " WHERE t2.s = 'x'"]))
    corr = draw(st.sampled_from(["", "", "t2.s = t1.s", "t2.a = t1.b"]))
    inner = _where_and(inner, corr)
    sub = f"(SELECT {col} FROM t2{inner})"
    form = draw(st.integers(0, 3))
    test = (f"{x} {draw(st.sampled_from(['', 'NOT ']))}IN {sub}" if form < 3 else
            f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2{inner})")
    place = draw(st.integers(0, 4))
    if place == 0:
        return f"SELECT t1.a AS c0, {x} AS c1, ({test}) AS c2 FROM t1"
    if place == 1:
        return f"SELECT t1.a AS c0, CASE WHEN t1.b > 0 THEN ({test}) ELSE (NOT ({test})) END AS c1 FROM t1"
    if place == 2:
        check = draw(st.sampled_from(["IS NULL", "IS NOT NULL", "IS FALSE", "= FALSE"]))
        return f"SELECT t1.a AS c0, {x} AS c1 FROM t1 WHERE ({test}) {check}"
    if place == 3:
        return f"SELECT t1.a AS c0, {x} AS c1 FROM t1 WHERE NOT ({test}) OR t1.b > 2"
    return f"SELECT count(*) AS c0, count(CASE WHEN ({test}) IS NULL THEN 1 END) AS c1, sum(CAST(({test}) AS INTEGER)) AS c2 FROM t1"


def _where_and(inner: str, corr: str) -> str:
    """A subquery's WHERE from its own filter (`` WHERE ...`` or empty) and a correlation (or empty)."""
    return f"{inner} AND {corr}" if inner and corr else f" WHERE {corr}" if corr else inner


def _subquery_value(draw: Any, form: int, x: str, col: str, inner: str, where: str, scalars: list[str]) -> str:
    """``x [NOT] IN (SELECT col ...)`` (form 0), ``[NOT] EXISTS (...)`` (1) or a scalar ``(SELECT agg ...)`` (2)."""
    if form == 0:
        return f"{x} {draw(st.sampled_from(['', 'NOT ']))}IN (SELECT {col} FROM t2{inner})"
    if form == 1:
        return f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2{where})"
    return f"(SELECT {draw(st.sampled_from(scalars))} FROM t2{where})"


@st.composite
def grouped_subquery_query(draw: Any) -> str:
    """A subquery in a grouped SELECT: ``x [NOT] IN (q)``, ``[NOT] EXISTS (q)`` or a scalar ``(q)``
    in its select list (over a group key or an aggregate, correlated by a group key or not), or
    an IN / EXISTS in its HAVING; evaluated once per group."""
    key = draw(st.sampled_from(["t1.a", "t1.s", "t1.b"]))
    col = {"t1.a": "t2.a", "t1.s": "t2.s", "t1.b": "t2.c"}[key]
    x = draw(st.sampled_from([key, key, "max(t1.b)" if col != "t2.s" else "min(t1.s)", "count(*)"]))
    x_col = "t2.s" if x == "min(t1.s)" else col if x == key else "t2.c"
    inner = draw(st.sampled_from(["", "", f" WHERE {x_col} IS NOT NULL", " WHERE t2.c > 1", " WHERE t2.c > 100"]))
    corr = draw(st.sampled_from(["", "", f"{col} = {key}"]))
    where = _where_and(inner, corr)
    form = draw(st.integers(0, 3))
    if form < 3:
        test = _subquery_value(draw, form, x, x_col, inner, where, ["max(t2.c)", "count(*)", "min(t2.a)"])
    else:
        test = f"{x} IN (SELECT {x_col} FROM t2{inner}) OR count(*) > 1"
    filt = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.booleans()) else ""
    if form != 2 and draw(st.integers(0, 3)) == 0:
        return f"SELECT {key} AS c0, count(*) AS c1 FROM t1{filt} GROUP BY {key} HAVING {test}"
    order = f" ORDER BY c2 NULLS FIRST, c1 DESC, c0 NULLS LAST LIMIT {draw(st.integers(1, 4))}" if draw(
        st.booleans()) else ""
    return f"SELECT {key} AS c0, count(*) AS c1, ({test}) AS c2 FROM t1{filt} GROUP BY {key}{order}"


@st.composite
def grouped_key_subquery_query(draw: Any) -> str:
    """A GROUP BY key holding a subquery (``x IN (q)``, ``EXISTS (q)``, a scalar ``(q)``, a CASE
    over one; by position or written out, beside a plain key, in ROLLUP / GROUPING SETS), a window
    or QUALIFY beside a subquery in a grouped query (also with the subquery in HAVING), and a
    correlated ``x IN (SELECT agg ...)`` as a value."""
    x, col = draw(st.sampled_from([("t1.a", "t2.a"), ("t1.b", "t2.c"), ("t1.s", "t2.s")]))
    inner = draw(st.sampled_from(["", "", f" WHERE {col} IS NOT NULL", " WHERE t2.c > 1", " WHERE t2.c > 100"]))
    corr = draw(st.sampled_from(["", "t2.a = t1.a", "t2.s = t1.s"]))
    where = _where_and(inner, corr)
    filt = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    agg = draw(st.sampled_from(["count(*)", "sum(t1.b)", "max(t1.s)", "min(t1.f)", "count(DISTINCT t1.a)"]))
    shape = draw(st.integers(0, 3))
    if shape in (1, 2) and corr:  # (grouped by x: correlated by the key)
        where = _where_and(inner, f"{col} = {x}")
    if shape == 0:  # a subquery key
        form = draw(st.integers(0, 3))
        if form < 3:
            key = _subquery_value(draw, form, x, col, inner, where, ["max(t2.c)", "count(*)", "min(t2.s)"])
        else:
            key = f"CASE WHEN {x} IN (SELECT {col} FROM t2{inner}) THEN 1 ELSE 0 END"
        other = draw(st.sampled_from(["", "", "t1.a", "t1.s"]))
        items = [key, *([other] if other else []), agg]
        style = draw(st.integers(0, 4))
        if style == 0:
            group = ", ".join(str(i + 1) for i in range(len(items) - 1))
        elif style == 1:
            group = ", ".join(items[:-1])
        elif style == 2:
            group = f"ROLLUP ({', '.join(items[:-1])})"
        elif style == 3:
            group = f"GROUPING SETS (({', '.join(items[:-1])}), ({items[0]}), ())"
            items.append(f"grouping({items[0]})")
        else:  # (the key only in GROUP BY)
            items = [*items[1:]]
            group = key + (f", {other}" if other else "")
        having = f" HAVING {agg} IS NOT NULL OR count(*) > 1" if draw(st.integers(0, 3)) == 0 else ""
        return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{filt} GROUP BY {group}{having}"
    if shape == 1:  # a window or QUALIFY beside a subquery in the select list
        sub = draw(st.sampled_from([f"{x} IN (SELECT {col} FROM t2{inner})", f"EXISTS (SELECT 1 FROM t2{where})",
                                    f"(SELECT max(t2.c) FROM t2{where})"]))
        win = draw(st.sampled_from([f"rank() OVER (ORDER BY {agg} NULLS FIRST, {x} NULLS FIRST)",
                                    "sum(count(*)) OVER ()", f"count(*) OVER (PARTITION BY {agg})"]))
        items = [x, agg, sub, win] if draw(st.booleans()) else [x, agg, f"({sub}) IS NULL OR {win} > 1"]
        qualify = f" QUALIFY {win} <= 2" if draw(st.booleans()) else ""
        return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{filt} GROUP BY {x}{qualify}"
    if shape == 2:  # a subquery in HAVING beside windows (which run over the groups HAVING keeps)
        test = draw(st.sampled_from([f"{x} {draw(st.sampled_from(['', 'NOT ']))}IN (SELECT {col} FROM t2{inner})",
                                     f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2{where})"]))
        test = f"{test} OR count(*) > 1" if draw(st.booleans()) else test
        win = draw(st.sampled_from([f"row_number() OVER (ORDER BY {x} NULLS FIRST)", "sum(count(*)) OVER ()",
                                    f"rank() OVER (ORDER BY {agg} DESC NULLS LAST, {x} NULLS LAST)"]))
        qualify = f" QUALIFY {win} > 1" if draw(st.booleans()) else ""
        return f"SELECT {x} AS c0, {agg} AS c1, {win} AS c2 FROM t1{filt} GROUP BY {x} HAVING {test}{qualify}"
    # a correlated x IN (one aggregate)
    value = draw(st.sampled_from([f"max({col})", f"min({col})", "count(*)", "count(t2.c)"] if col != "t2.s" else
                                 ["max(t2.s)", "min(t2.s)"]))
    corr = draw(st.sampled_from(["t2.a = t1.a", "t2.s = t1.s", "t2.c = t1.b"]))
    sub = f"(SELECT {value} FROM t2{_where_and(inner, corr)})"
    lhs = x if "count" not in value else "t1.b"
    test = f"{lhs} {draw(st.sampled_from(['', 'NOT ']))}IN {sub}"
    place = draw(st.integers(0, 3))
    if place == 0:
        return f"SELECT t1.a AS c0, {lhs} AS c1, {test} AS c2 FROM t1{filt}"
    if place == 1:
        return f"SELECT t1.a AS c0, CASE WHEN {test} THEN 1 ELSE 0 END AS c1 FROM t1{filt}"
    if place == 2:
        return f"SELECT t1.a AS c0 FROM t1 WHERE ({test}) {draw(st.sampled_from(['IS NULL', 'IS NOT TRUE', 'OR t1.b > 2']))}"
    return f"SELECT t1.s AS c0, count(*) FILTER (WHERE {test}) AS c1 FROM t1{filt} GROUP BY t1.s"


@st.composite
def big_sum_query(draw: Any) -> str:
    """SUM / AVG of BIGINTs near 2^63 (grouped, filtered, over windows, of INTEGERs): DuckDB's
    HUGEINT sum answers where Thresher's BIGINT sum must raise, never wrap (see ``run_one``)."""
    arg = draw(st.sampled_from(["t1.g", "t1.g", "CAST(t1.g // 4 AS INTEGER)", "t1.g // 2", "t1.a"]))
    agg = draw(st.sampled_from(["sum", "sum", "avg", "min"]))
    form = draw(st.integers(0, 3))
    where = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 2)) == 0 else ""
    if form == 0:
        return f"SELECT {agg}({arg}) AS c0, count({arg}) AS c1 FROM t1{where}"
    if form == 1:
        key = draw(st.sampled_from(["t1.a", "t1.s", "ROLLUP (t1.s)"]))
        out = "t1.s" if "ROLLUP" in key else key
        return f"SELECT {out} AS c0, {agg}({arg}) AS c1 FROM t1{where} GROUP BY {key}"
    if form == 2:
        part = draw(st.sampled_from(["", "PARTITION BY t1.a", "PARTITION BY t1.s"]))
        return f"SELECT t1.a AS c0, {agg}({arg}) OVER ({part}) AS c1 FROM t1{where}"
    return f"SELECT {agg}({arg}) FILTER (WHERE {draw(predicate(_typed('t1', T1_COLS)))}) AS c0 FROM t1{where}"


#: decimal operands: DECIMAL(9, 2), DECIMAL(18, 3), casts to other precisions and scales, literals
DEC_OPERANDS = ["t1.m", "t1.n", "CAST(t1.m AS DECIMAL(4, 1))", "CAST(t1.n AS DECIMAL(38, 10))",
                "CAST(t1.m AS DECIMAL(30, 20))", "CAST(t1.n AS DECIMAL(20, 0))", "0.5", "1.125", "2", "t1.a",
                "CAST(t1.a AS DECIMAL(3, 0))", "t1.h"]


@st.composite
def decimal_query(draw: Any) -> str:
    """Arithmetic of DECIMALs of different precisions and scales (+ - * / % //, nested), AVG and
    SUM of them, compared with DuckDB: its result scales (types compare by scale), its overflow
    and scale errors (``Overflow in ...``: Thresher must raise or answer the exact value)."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        x, y = draw(st.sampled_from(DEC_OPERANDS)), draw(st.sampled_from(DEC_OPERANDS))
        e = f"({x} {draw(st.sampled_from(['+', '-', '*', '*', '/', '%', '//']))} {y})"
        if draw(st.booleans()):
            e = f"({e} {draw(st.sampled_from(['+', '-', '*']))} {draw(st.sampled_from(DEC_OPERANDS))})"
        items.append(e)
    if draw(st.integers(0, 2)) == 0:
        items = [f"{draw(st.sampled_from(['sum', 'avg', 'max']))}({e})" for e in items]
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1"


@st.composite
def values_query(draw: Any) -> str:
    """A VALUES list as a table (its columns typed over all its rows: INTEGER, BIGINT, DECIMAL, text,
    NULLs), read, joined with t1 and grouped."""
    rows = draw(st.lists(st.tuples(st.sampled_from(["1", "-2", "NULL", "3000000000", "0"]),
                                   st.sampled_from(["'x'", "'y'", "NULL"]),
                                   st.sampled_from(["0.5", "2", "NULL", "1.25"])), min_size=1, max_size=4))
    vals = ", ".join(f"({a}, {b}, {c})" for a, b, c in rows)
    form = draw(st.integers(0, 2))
    if form == 0:
        return f"SELECT v.x AS c0, v.y AS c1, v.z AS c2 FROM (VALUES {vals}) AS v(x, y, z)"
    if form == 1:
        return f"SELECT t1.a AS c0, v.y AS c1, v.z AS c2 FROM t1 JOIN (VALUES {vals}) AS v(x, y, z) ON t1.a = v.x"
    return f"SELECT v.y AS c0, count(*) AS c1, max(v.z) AS c2 FROM (VALUES {vals}) AS v(x, y, z) GROUP BY v.y"


#: ORDER BY keys of a RANGE frame with offsets, and offsets DuckDB accepts for their types
RANGE_KEYS = {"t1.b": ["0", "1", "2", "1.5"], "t1.f": ["0.5", "1", "2.5", "12"],
              "t1.d": ["1", "2", "interval 2 days", "interval '1 month'", "interval 36 hours"],
              "t1.m": ["0", "1", "0.25", "2.5", "1.125"], "t1.h": ["0", "1", "2"]}


@st.composite
def frame_clause(draw: Any, kind: str, offsets: list[str]) -> str:
    """``kind BETWEEN start AND end [EXCLUDE ...]`` with the start never after the end."""
    bounds = ["unbounded preceding", f"{draw(st.sampled_from(offsets))} preceding", "current row",
              f"{draw(st.sampled_from(offsets))} following", "unbounded following"]
    i = draw(st.integers(0, 3))
    j = draw(st.integers(max(i, 1), 4))
    exclude = draw(st.sampled_from(["", "", " EXCLUDE CURRENT ROW", " EXCLUDE GROUP", " EXCLUDE TIES",
                                    " EXCLUDE NO OTHERS"]))
    return f"{kind} BETWEEN {bounds[i]} AND {bounds[j]}{exclude}"


@st.composite
def window_query(draw: Any) -> str:
    """Window functions whose answer does not depend on how ties are broken: aggregates over a
    whole partition, over the default RANGE frame (peers included), over RANGE frames with
    offsets (numbers, days, intervals) and GROUPS frames, with or without EXCLUDE, rank/dense_rank,
    and ROWS frames over a total order (every column in ORDER BY)."""
    part = draw(st.sampled_from(["", "PARTITION BY t1.a", "PARTITION BY t1.s", "PARTITION BY t1.a, t1.s"]))
    direction = draw(st.sampled_from(["", " DESC", " NULLS FIRST", " DESC NULLS LAST"]))
    arg = draw(st.sampled_from(["t1.b", "t1.f", "(t1.b + 1)"]))
    form = draw(st.integers(0, 6))
    if form == 0:
        fn = f"{draw(st.sampled_from(['sum', 'count', 'min', 'max', 'avg']))}({arg}) OVER ({part})"
    elif form == 1:
        fn = f"{draw(st.sampled_from(['sum', 'count', 'max']))}({arg}) OVER ({part} ORDER BY t1.b{direction})"
    elif form == 2:
        fn = f"{draw(st.sampled_from(['rank', 'dense_rank']))}() OVER ({part} ORDER BY t1.b{direction}, t1.f)"
    elif form in (3, 4):
        frame = draw(st.sampled_from(["ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                                      "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING",
                                      "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"]))
        fn = (f"sum({arg}) OVER ({part} ORDER BY t1.a{direction}, t1.b, t1.s, t1.f "
              f"{frame})")
    else:
        agg = draw(st.sampled_from(["sum", "count", "min", "max", "avg"]))
        call = "count(*)" if agg == "count" and draw(st.booleans()) else f"{agg}({arg})"
        if form == 5:
            key = draw(st.sampled_from(sorted(RANGE_KEYS)))
            frame = draw(frame_clause("RANGE", RANGE_KEYS[key]))
        else:
            key = draw(st.sampled_from(["t1.b", "t1.d", "t1.s"]))
            frame = draw(frame_clause("GROUPS", ["0", "1", "2"]))
        fn = f"{call} OVER ({part} ORDER BY {key}{direction} {frame})"
    where = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 2)) == 0 else ""
    return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2, t1.f AS c3, {fn} AS c4 FROM t1{where}"


#: string expressions over t1.w and t1.s, for GROUP BY keys
TEXT_KEYS = ["upper(t1.w)", "lower(t1.w)", "length(t1.w)", "substr(t1.w, 1, 1)", "t1.s || t1.w", "trim(t1.w)",
             "coalesce(t1.w, t1.s)", "replace(t1.w, '!', '')", "left(t1.w, 1)", "t1.w LIKE 'a%'",
             "concat(t1.s, '-', t1.w)", "nullif(t1.w, '')", "reverse(t1.s)"]


@st.composite
def grouping_sets_query(draw: Any) -> str:
    """GROUPING SETS / ROLLUP / CUBE with grouping(), HAVING on aggregates and on grouping(), and
    string functions as keys (a key's NULL from the data and the NULL of a rolled-up key differ
    only in grouping())."""
    pool = ["t1.a", "t1.s", "t1.b"] + TEXT_KEYS
    keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    style = draw(st.integers(0, 3))
    if style == 0:
        sets = draw(st.lists(st.lists(st.sampled_from(keys), max_size=len(keys), unique=True)
                             .map(lambda k: f"({', '.join(k)})"), min_size=1, max_size=3))
        group = f"GROUPING SETS ({', '.join(sets)})"
    elif style == 1:
        group = f"ROLLUP ({', '.join(keys)})"
    elif style == 2:
        group = f"CUBE ({', '.join(keys)})"
    else:
        group = ", ".join(keys)
    agg = draw(st.sampled_from(["count(*)", "sum(t1.b)", "max(t1.w)", "min(t1.f)", "count(DISTINCT t1.s)",
                                "avg(t1.m)", "sum(t1.h)"]))
    items = [*keys, f"grouping({', '.join(keys)})", agg]
    having = ""
    hv = draw(st.integers(0, 3))
    if hv == 1:
        having = f" HAVING count(*) {draw(st.sampled_from(['>', '=', '<>']))} 1"
    elif hv == 2:
        having = f" HAVING grouping({keys[0]}) = {draw(st.integers(0, 1))}"
    elif hv == 3:
        having = f" HAVING {agg} IS NOT NULL"
    where = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{where} GROUP BY {group}{having}"


@st.composite
def nested_set_query(draw: Any) -> str:
    """Set operations (ALL or not) inside a FROM subquery, an IN subquery and a scalar count."""
    op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"]))
    left = draw(st.sampled_from(["SELECT t1.a AS k FROM t1", "SELECT t1.b AS k FROM t1 WHERE t1.s IS NOT NULL",
                                 "SELECT t1.a + 1 AS k FROM t1"]))
    right = draw(st.sampled_from(["SELECT t2.a AS k FROM t2", "SELECT t2.c AS k FROM t2",
                                  "SELECT t2.c AS k FROM t2 WHERE t2.s = 'x'"]))
    inner = f"{left} {op} {right}"
    form = draw(st.integers(0, 3))
    if form == 0:
        return f"SELECT u.k AS c0, count(*) AS c1 FROM ({inner}) AS u GROUP BY u.k"
    if form == 1:
        return (f"SELECT t1.a AS c0, t1.s AS c1 FROM t1 WHERE t1.b {draw(st.sampled_from(['', 'NOT ']))}IN "
                f"(SELECT u.k FROM ({inner}) AS u)")
    if form == 2:
        return f"SELECT (SELECT count(*) FROM ({inner}) AS u) AS c0, (SELECT sum(u.k) FROM ({inner}) AS u) AS c1"
    return f"SELECT u.k AS c0 FROM ({inner}) AS u JOIN t2 ON u.k = t2.a"


@st.composite
def correlated_select_query(draw: Any) -> str:
    """A correlated scalar subquery as a select item (an aggregate of the rows of t2 matching the
    row of t1; NULL or 0 where none does)."""
    agg = draw(st.sampled_from(["count(*)", "max(t2.c)", "sum(t2.c)", "min(t2.s)", "count(t2.c)", "avg(t2.c)"]))
    corr = draw(st.sampled_from(["t2.a = t1.a", "t2.s = t1.s", "t2.a = t1.a AND t2.s = t1.s"]))
    extra = draw(st.sampled_from(["", " AND t2.c > 0", " AND t2.c IS NOT NULL"]))
    sub = f"(SELECT {agg} FROM t2 WHERE {corr}{extra})"
    where = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 2)) == 0 else ""
    other = draw(st.sampled_from(["t1.b", "t1.s", "t1.f"]))
    return f"SELECT t1.a AS c0, {other} AS c1, {sub} AS c2 FROM t1{where}"


@st.composite
def inequality_correlated_query(draw: Any) -> str:
    """A subquery correlated by an inequality (``t2.c < t1.b``), alone or beside an equality, as a
    select item (an aggregate, or one inside an expression), compared in the WHERE, or as [NOT]
    EXISTS / [NOT] IN (as a condition or a value); plus a scalar aggregate subquery correlated by an
    equality inside a select item's expression."""
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "<>"]))
    outer = draw(st.sampled_from(["t1.b", "t1.a", "(t1.a + t1.b)", "t1.h"]))
    corr = draw(st.sampled_from([f"t2.c {op} {outer}", f"t2.c {op} {outer}", f"t2.a = t1.a AND t2.c {op} {outer}",
                                 f"t2.s = t1.s AND t2.a {op} {outer}", "t2.c BETWEEN t1.a AND t1.b",
                                 f"t2.c - t1.a {op} 1", "t2.a = t1.a"]))
    extra = draw(st.sampled_from(["", "", " AND t2.c IS NOT NULL", " AND t2.s <> 'x'"]))
    where = f" WHERE {corr}{extra}"
    agg = draw(st.sampled_from(["count(*)", "max(t2.c)", "sum(t2.c)", "min(t2.s)", "count(t2.c)", "avg(t2.c)"]))
    sub = f"(SELECT {agg} FROM t2{where})"
    filt = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 2)) == 0 else ""
    form = draw(st.integers(0, 5))
    if form == 0:
        return f"SELECT t1.a AS c0, t1.b AS c1, {sub} AS c2 FROM t1{filt}"
    if form == 1:
        num = agg not in ("min(t2.s)",)
        item = f"coalesce({sub}, -1)" if num else f"coalesce({sub}, 'none')"
        if num and draw(st.booleans()):
            item = f"{sub} + t1.a"
        return f"SELECT t1.a AS c0, {item} AS c1 FROM t1{filt}"
    if form == 2:
        agg = draw(st.sampled_from(["count(*)", "max(t2.c)", "sum(t2.c)", "avg(t2.c)"]))
        return (f"SELECT t1.a AS c0, t1.s AS c1 FROM t1 WHERE t1.b {draw(st.sampled_from(['<', '>=', '=']))} "
                f"(SELECT {agg} FROM t2{where})")
    if form == 3:
        test = f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2{where})"
    else:
        test = f"t1.a {draw(st.sampled_from(['', 'NOT ']))}IN (SELECT t2.a FROM t2{where})"
    if draw(st.booleans()):
        return f"SELECT t1.a AS c0, t1.b AS c1, ({test}) AS c2 FROM t1{filt}"
    return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE {test}"


@st.composite
def quantified_correlated_query(draw: Any) -> str:
    """A correlated ``x <op> ANY / ALL (subquery)`` (by an equality, an inequality or both; over
    plain rows, DISTINCT rows or one aggregate) as a select item, under NOT or IS NULL, in a CASE,
    in a WHERE (alone or in an OR) or in a HAVING; NULLs on both sides and outer rows without any
    inner row (ALL is TRUE there, ANY FALSE)."""
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]))
    quant = draw(st.sampled_from(["ANY", "ALL", "SOME"]))
    corr = draw(st.sampled_from(["t2.a = t1.a", "t2.s = t1.s", "t2.c < t1.a", "t2.a = t1.a AND t2.c <> t1.b",
                                 "t2.a >= t1.b", "t2.a = t1.a AND t2.s = t1.s"]))
    extra = draw(st.sampled_from(["", "", " AND t2.c IS NOT NULL", " AND t2.s <> 'x'"]))
    value = draw(st.sampled_from(["t2.c", "t2.c", "t2.a + 1", "DISTINCT t2.c", "max(t2.c)", "min(t2.a)"]))
    sub = f"(SELECT {value} FROM t2 WHERE {corr}{extra})"
    x = draw(st.sampled_from(["t1.b", "t1.a", "t1.a + t1.b", "t1.h", "1"]))
    test = f"{x} {op} {quant} {sub}"
    form = draw(st.integers(0, 6))
    if form == 0:
        return f"SELECT t1.a AS c0, t1.b AS c1, ({test}) AS c2 FROM t1"
    if form == 1:
        return f"SELECT t1.a AS c0, t1.b AS c1, NOT ({test}) AS c2, ({test}) IS NULL AS c3 FROM t1"
    if form == 2:
        return f"SELECT t1.a AS c0, CASE WHEN {test} THEN 'y' WHEN NOT ({test}) THEN 'n' ELSE 'u' END AS c1 FROM t1"
    if form == 3:
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE {neg}({test})"
    if form == 4:
        return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE ({test}) OR t1.a IS NULL"
    key = draw(st.sampled_from(["t1.a", "t1.s"]))
    agg = draw(st.sampled_from(["max(t1.b)", "count(*)", "min(t1.a)"]))
    corr = "t2.a = t1.a" if key == "t1.a" else "t2.s = t1.s"
    test = f"{agg} {op} {quant} (SELECT {value.replace('DISTINCT ', '')} FROM t2 WHERE {corr}{extra})"
    if form == 5:
        return f"SELECT {key} AS c0, {agg} AS c1 FROM t1 GROUP BY {key} HAVING {test}"
    return f"SELECT {key} AS c0, ({test}) AS c1 FROM t1 GROUP BY {key}"


@st.composite
def null_correlated_query(draw: Any) -> str:
    """A subquery whose correlation may hold on a NULL outer value (an OR, IS NULL, COALESCE, IS
    NOT DISTINCT FROM, a CASE), as a scalar aggregate item, [NOT] EXISTS, [NOT] IN or a quantified
    comparison, as a condition or a value."""
    corr = draw(st.sampled_from([
        "t2.a = t1.a OR t2.a IS NULL", "t2.a = t1.a OR t1.a IS NULL", "t1.a IS NULL", "t2.a IS NOT DISTINCT FROM t1.a",
        "t2.s IS NOT DISTINCT FROM t1.s AND t2.c > 0", "coalesce(t1.a, 0) = t2.a", "t2.c < coalesce(t1.b, 2)",
        "coalesce(t2.s, 'x') = coalesce(t1.s, 'x')", "t2.a IS DISTINCT FROM t1.b",
        "CASE WHEN t1.a IS NULL THEN t2.a IS NULL ELSE t2.a = t1.a END", "t2.a = t1.a OR t2.c = t1.b",
        "(t2.a = t1.a OR t1.b IS NULL) AND t2.s = t1.s"]))
    extra = draw(st.sampled_from(["", "", " AND t2.c IS NOT NULL", " AND t2.s <> 'x'"]))
    where = f" WHERE {corr}{extra}"
    form = draw(st.integers(0, 4))
    filt = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    if form == 0:
        agg = draw(st.sampled_from(["count(*)", "max(t2.c)", "sum(t2.c)", "min(t2.s)", "count(t2.c)"]))
        return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2, (SELECT {agg} FROM t2{where}) AS c3 FROM t1{filt}"
    if form == 1:
        test = f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM t2{where})"
    elif form == 2:
        test = f"t1.b {draw(st.sampled_from(['', 'NOT ']))}IN (SELECT t2.c FROM t2{where})"
    else:
        test = (f"t1.b {draw(st.sampled_from(['<', '>=', '=', '<>']))} {draw(st.sampled_from(['ANY', 'ALL']))} "
                f"(SELECT t2.c FROM t2{where})")
    if draw(st.booleans()):
        return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2, ({test}) AS c3 FROM t1{filt}"
    return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2 FROM t1 WHERE {test}"


@st.composite
def row_subquery_query(draw: Any) -> str:
    """A correlated scalar subquery selecting a row's value (no aggregate): ``ORDER BY v LIMIT 1``
    (the least or greatest), or none (DuckDB raises where one returns two rows: skipped), as a
    select item, inside an expression or compared in the WHERE."""
    value = draw(st.sampled_from(["t2.c", "t2.s", "t2.a + t2.c"]))
    corr = draw(st.sampled_from(["t2.a = t1.a", "t2.c = t1.b", "t2.a = t1.a AND t2.s = t1.s", "t2.c < t1.b",
                                 "t2.a = t1.a AND t2.c > 2", "t2.a = t1.a OR t1.a IS NULL"]))
    tail = draw(st.sampled_from(["", "", f" ORDER BY {value} LIMIT 1", f" ORDER BY {value} DESC LIMIT 1",
                                 f" ORDER BY {value} ASC NULLS LAST LIMIT 1"]))
    sub = f"(SELECT {value} FROM t2 WHERE {corr}{tail})"
    form = draw(st.integers(0, 2))
    filt = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    if form == 0:
        return f"SELECT t1.a AS c0, t1.b AS c1, {sub} AS c2 FROM t1{filt}"
    if form == 1:
        other = "'none'" if value == "t2.s" else "-1"
        return f"SELECT t1.a AS c0, coalesce({sub}, {other}) AS c1 FROM t1{filt}"
    x = "t1.s" if value == "t2.s" else "t1.b"
    return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE {x} {draw(st.sampled_from(['<', '>=', '=']))} {sub}"


@st.composite
def nested_correlated_query(draw: Any) -> str:
    """A subquery inside a correlated subquery that reads the outermost query's row (correlated two
    levels up), as EXISTS, IN or a compared aggregate, in a WHERE or a select item."""
    inner_corr = draw(st.sampled_from(["t3.c = t1.b", "t3.a = t1.a AND t3.s = t2.s", "t3.c > t1.b",
                                       "t3.a = t2.a AND t3.c = t1.b", "t3.s = t1.s"]))
    inner = draw(st.sampled_from([f"EXISTS (SELECT 1 FROM t2 AS t3 WHERE {inner_corr})",
                                  f"t2.c IN (SELECT t3.c FROM t2 AS t3 WHERE {inner_corr})",
                                  f"t2.c > (SELECT min(t3.c) FROM t2 AS t3 WHERE {inner_corr})"]))
    mid_corr = draw(st.sampled_from(["t2.a = t1.a", "t2.s = t1.s", "t2.c < t1.b"]))
    mid = f"SELECT {{}} FROM t2 WHERE {mid_corr} AND {inner}"
    form = draw(st.integers(0, 2))
    if form == 0:
        return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE EXISTS ({mid.format('1')})"
    if form == 1:
        return f"SELECT t1.a AS c0, t1.b AS c1, ({mid.format('count(*)')}) AS c2 FROM t1"
    return f"SELECT t1.a AS c0, t1.b AS c1 FROM t1 WHERE t1.b IN ({mid.format('t2.c')})"


#: casts between numeric, decimal, text and date types (source, targets)
CASTS = {"t1.a": ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL(9, 2)", "DECIMAL(4, 1)", "VARCHAR",
                  "UTINYINT"],
         "t1.f": ["INTEGER", "BIGINT", "DECIMAL(9, 2)", "DECIMAL(9, 0)", "VARCHAR", "SMALLINT", "FLOAT"],
         "t1.m": ["INTEGER", "DOUBLE", "DECIMAL(9, 1)", "DECIMAL(18, 4)", "VARCHAR", "TINYINT", "DECIMAL(3, 1)"],
         "t1.h": ["TINYINT", "INTEGER", "DECIMAL(5, 1)", "DOUBLE", "VARCHAR", "USMALLINT"],
         "t1.w": ["INTEGER", "DOUBLE", "DECIMAL(9, 2)", "BIGINT"],
         "t1.d": ["VARCHAR", "TIMESTAMP"],
         "t1.s": ["VARCHAR"]}


@st.composite
def typed_query(draw: Any) -> str:
    """Expressions whose result type is the point: CAST and TRY_CAST between numeric, decimal,
    text and date types, NULLIF and COALESCE of mixed types, and arithmetic of a SMALLINT or a
    DECIMAL with literals (the types are compared too, see :func:`type_differences`)."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        form = draw(st.integers(0, 4))
        if form == 0:
            src = draw(st.sampled_from(sorted(CASTS)))
            fn = draw(st.sampled_from(["CAST", "TRY_CAST"]))
            items.append(f"{fn}({src} AS {draw(st.sampled_from(CASTS[src]))})")
        elif form == 1:
            a, b = draw(st.sampled_from([("t1.h", "0"), ("t1.h", "t1.a"), ("t1.a", "t1.f"), ("t1.m", "0"),
                                         ("t1.m", "t1.f"), ("t1.h", "100000"), ("t1.m", "t1.a"), ("t1.b", "1.5")]))
            items.append(f"{draw(st.sampled_from(['coalesce', 'nullif', 'ifnull']))}({a}, {b})")
        elif form == 2:
            x = draw(st.sampled_from(["t1.h", "t1.m", "t1.a"]))
            items.append(f"({x} {draw(st.sampled_from(['+', '-', '*', '%', '//']))} "
                         f"{draw(st.sampled_from(['2', '-1', '1000', '0.5', 't1.h', 't1.a']))})")
        elif form == 3:
            items.append(f"CASE WHEN t1.a > 0 THEN {draw(st.sampled_from(['t1.h', 't1.m', '1', '2.5', 't1.f']))} "
                         f"ELSE {draw(st.sampled_from(['t1.a', '0', 'NULL', 't1.m']))} END")
        else:
            items.append(f"{draw(st.sampled_from(['abs', 'sign', 'round', 'floor', 'ceil']))}"
                         f"({draw(st.sampled_from(['t1.h', 't1.m', 't1.a', 't1.f']))})")
    agg = draw(st.integers(0, 3)) == 0
    if agg:
        items = [f"{draw(st.sampled_from(['sum', 'min', 'max', 'avg']))}({e})" for e in items]
    return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1"


@st.composite
def ordered_query(draw: Any) -> str:
    """ORDER BY keys with ASC/DESC and NULLS FIRST/LAST, LIMIT/OFFSET, ties left on the keys: the
    order of the key columns is checked row by row (``-- ordered: n``: the first n outputs are
    the keys), the other columns as a multiset only where no LIMIT can cut through ties."""
    keys = draw(st.lists(st.sampled_from(["t1.a", "t1.s", "t1.f", "t1.d", "t1.m", "upper(t1.w)", "t1.b % 2"]),
                         min_size=1, max_size=2, unique=True))
    order = ", ".join(f"{i + 1}{draw(st.sampled_from(['', ' ASC', ' DESC', ' NULLS FIRST', ' NULLS LAST', ' DESC NULLS FIRST', ' ASC NULLS LAST']))}"
                      for i in range(len(keys)))
    limit = ""
    if draw(st.booleans()):
        limit = f" LIMIT {draw(st.integers(0, 5))}"
        if draw(st.booleans()):
            limit += f" OFFSET {draw(st.integers(0, 4))}"
    elif draw(st.booleans()):
        limit = f" OFFSET {draw(st.integers(0, 4))}"
    distinct = "DISTINCT " if draw(st.integers(0, 3)) == 0 else ""
    items = keys + ([] if distinct or limit else ["t1.b"])  # (a LIMIT may cut through ties)
    where = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    return (f"SELECT {distinct}{', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t1{where} "
            f"ORDER BY {order}{limit} -- ordered: {len(keys)}")


@st.composite
def like_query(draw: Any) -> str:
    """LIKE / ILIKE / NOT LIKE with ``%``, ``_`` and an ESCAPE character, in a WHERE and as a value."""
    pat = draw(st.sampled_from(["'x%'", "'%!_%'", "'a!%b'", "'%b'", "'_'", "'%'", "''", "'x!%y'", r"'X\_%'",
                                "'a!!b'", "'%y'"]))
    op = draw(st.sampled_from(["LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"]))
    esc = " ESCAPE '!'" if "!" in pat else (r" ESCAPE '\'" if "\\" in pat else "")
    cond = f"t1.w {op} {pat}{esc}"
    if draw(st.booleans()):
        return f"SELECT t1.w AS c0, ({cond}) AS c1 FROM t1"
    return f"SELECT t1.w AS c0, t1.a AS c1 FROM t1 WHERE {cond}"


#: windows whose values do not depend on how ties are broken among the derived table's rows
#: (rows tied on every ORDER BY key are equal in the columns it keeps)
COMPOSED_WINDOWS = [
    "row_number() OVER (PARTITION BY t1.a ORDER BY t1.b, t1.s, t1.f, t1.d)",
    "row_number() OVER (ORDER BY t1.b DESC NULLS LAST, t1.a, t1.s, t1.f, t1.d)",
    "rank() OVER (PARTITION BY t1.s ORDER BY t1.b NULLS FIRST)",
    "dense_rank() OVER (ORDER BY t1.a DESC, t1.s)",
    "sum(t1.b) OVER (PARTITION BY t1.s)",
    "count(*) OVER (PARTITION BY t1.a, t1.s)",
    "lag(t1.b) OVER (PARTITION BY t1.s ORDER BY t1.a, t1.b, t1.f, t1.d)",
    "lead(t1.b, 1, -1) OVER (ORDER BY t1.a NULLS LAST, t1.b, t1.s, t1.f, t1.d)",
    "sum(t1.b) OVER (ORDER BY t1.d RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW)",
    "max(t1.f) OVER (PARTITION BY t1.a ORDER BY t1.d DESC RANGE BETWEEN CURRENT ROW AND INTERVAL 2 DAY FOLLOWING)",
    "min(t1.b) OVER (ORDER BY t1.b ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE TIES)",
    "avg(t1.f) OVER (PARTITION BY t1.s ORDER BY t1.a NULLS FIRST)",
]


@st.composite
def composed_query(draw: Any) -> str:
    """A derived table (a CTE or a FROM subquery) the optimizer pushes filters, projections and
    limits into or past: a window, ORDER BY ... LIMIT/OFFSET, a GROUP BY, a UNION ALL; then a WHERE
    on its outputs, a join with t2, a GROUP BY, a window or an ORDER BY ... LIMIT outside."""
    form = draw(st.integers(0, 3))
    where_in = f" WHERE {draw(predicate(_typed('t1', T1_COLS)))}" if draw(st.integers(0, 3)) == 0 else ""
    if form == 0:
        inner = (f"SELECT t1.a, t1.b, t1.s, t1.f, t1.d, {draw(st.sampled_from(COMPOSED_WINDOWS))} AS w "
                 f"FROM t1{where_in}")
    elif form == 1:
        order = ", ".join(f"{c}{draw(st.sampled_from(['', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST']))}"
                          for c in draw(st.permutations(["t1.a", "t1.b", "t1.s", "t1.f", "t1.d"])))
        off = f" OFFSET {draw(st.integers(0, 3))}" if draw(st.booleans()) else ""
        inner = (f"SELECT t1.a, t1.b, t1.s, t1.f, t1.d, t1.b * 2 AS w FROM t1{where_in} ORDER BY {order} "
                 f"LIMIT {draw(st.integers(0, 5))}{off}")
    elif form == 2:
        agg = draw(st.sampled_from(["count(*)", "sum(t1.b)", "max(t1.b)", "count(DISTINCT t1.b)", "min(t1.a + t1.b)"]))
        inner = (f"SELECT t1.a, max(t1.b) AS b, t1.s, sum(t1.f) AS f, max(t1.d) AS d, {agg} AS w FROM t1{where_in} "
                 f"GROUP BY t1.a, t1.s")
    else:
        all_ = draw(st.sampled_from(["UNION ALL", "UNION"]))
        inner = (f"SELECT t1.a, t1.b, t1.s, t1.f, t1.d, t1.a AS w FROM t1{where_in} {all_} "
                 f"SELECT t2.a, t2.c, t2.s, NULL, NULL, t2.c - t2.a FROM t2")
    preds = ["x.w > 1", "x.w IS NULL", "x.w <= 1", "x.a = 1", "x.s = 'x' OR x.w < 2", "x.b IS NOT NULL AND x.w <> 0",
             "x.w BETWEEN 1 AND 2", "x.w IN (1, 2, NULL)", "x.f > 0 OR x.d IS NULL", "x.d >= DATE '2024-01-31'"]
    where = " WHERE " + " AND ".join(draw(st.lists(st.sampled_from(preds), min_size=1, max_size=2, unique=True))) \
        if draw(st.integers(0, 3)) > 0 else ""
    case = ("CASE WHEN x.w > 1 THEN x.s WHEN x.w IS NULL THEN NULL WHEN x.s IS NULL THEN 'n' ELSE upper(x.s) END")
    outer = draw(st.integers(0, 4))
    head = f"WITH x AS ({inner}) " if draw(st.booleans()) else ""
    src = "x" if head else f"({inner}) AS x"
    if outer == 0:
        return f"{head}SELECT x.a AS c0, x.b AS c1, x.w AS c2, {case} AS c3 FROM {src}{where}"
    if outer == 1:
        how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]))
        key = draw(st.sampled_from(["x.a = t2.a", "x.s = t2.s", "x.w = t2.c"]))
        return f"{head}SELECT x.a AS c0, x.w AS c1, t2.c AS c2, t2.s AS c3 FROM {src} {how} t2 ON {key}{where}"
    if outer == 2:
        key = draw(st.sampled_from(["x.s", "x.a", "x.w"]))
        return (f"{head}SELECT {key} AS c0, count(*) AS c1, sum(x.w) AS c2, max(x.b) AS c3 FROM {src}{where} "
                f"GROUP BY {key}")
    if outer == 3:
        win = draw(st.sampled_from(["rank() OVER (ORDER BY x.w NULLS LAST)", "sum(x.w) OVER (PARTITION BY x.s)",
                                    "count(*) OVER ()", "max(x.b) OVER (PARTITION BY x.a)"]))
        return f"{head}SELECT x.a AS c0, x.w AS c1, {win} AS c2 FROM {src}{where}"
    n = draw(st.integers(0, 4))
    return (f"{head}SELECT x.w AS c0, x.a AS c1, x.s AS c2 FROM {src}{where} "
            f"ORDER BY x.w NULLS FIRST, x.a DESC, x.s LIMIT {n} -- ordered: 3")


@st.composite
def aggregate_form_query(draw: Any) -> str:
    """The aggregates and predicates beyond the plain ones: SUM / AVG (DISTINCT x) beside COUNT
    (DISTINCT x) and plain aggregates, string_agg / listagg / group_concat (ORDER BY the value),
    bool_and / bool_or, quantile_cont / quantile_disc / median / percentile_cont WITHIN GROUP, each
    now and then with FILTER (WHERE ...), grouped (GROUP BY keys, GROUP BY ALL, ROLLUP), ungrouped
    or over a window, ORDER BY ALL; arg_max / arg_min / max_by / min_by; IS [NOT] DISTINCT FROM in a select list, a WHERE or a join's
    ON; row values IN / NOT IN a list and IN a subquery."""
    cols = _typed("t1", T1_COLS)
    form = draw(st.integers(0, 5))
    if form == 3:
        a, b = draw(st.sampled_from([("t1.a", "t1.b"), ("t1.s", "t1.w"), ("t1.f", "t1.a"), ("t1.m", "t1.n"),
                                     ("t1.d", "t1.d"), ("t1.a", "t1.h")]))
        other = {"t1.a": "t2.a", "t1.b": "t2.c", "t1.s": "t2.s", "t1.w": "t2.s", "t1.f": "t2.c", "t1.m": "t2.a",
                 "t1.n": "t2.c", "t1.d": "t1.d", "t1.h": "t2.c"}
        test = f"{a} IS {draw(st.sampled_from(['', 'NOT ']))}DISTINCT FROM {draw(st.sampled_from([b, 'NULL', b]))}"
        where = draw(st.integers(0, 2))
        if where == 0:
            return f"SELECT t1.a AS c0, t1.b AS c1, {test} AS c2 FROM t1"
        if where == 1:
            return f"SELECT t1.a AS c0, t1.s AS c1 FROM t1 WHERE {test}"
        on = f"t1.a IS NOT DISTINCT FROM t2.a{draw(st.sampled_from(['', ' AND t1.s IS NOT DISTINCT FROM t2.s']))}"
        if other[a].startswith("t2") and draw(st.booleans()):
            on = f"{a} IS {draw(st.sampled_from(['', 'NOT ']))}DISTINCT FROM {other[a]}"
        return (f"SELECT t1.a AS c0, t1.s AS c1, t2.c AS c2 FROM t1 "
                f"{draw(st.sampled_from(['JOIN', 'LEFT JOIN']))} t2 ON {on}")
    if form == 4:
        pair = draw(st.sampled_from([("t1.a", "t1.s", ["0", "1", "NULL"], ["'x'", "'y'", "NULL"]),
                                     ("t1.a", "t1.b", ["1", "2", "NULL"], ["0", "3", "NULL"])]))
        x, y, xs, ys = pair
        if draw(st.integers(0, 2)) == 0:
            sub_y = "t2.s" if y == "t1.s" else "t2.c"
            filt = draw(st.sampled_from(["", " WHERE t2.c IS NOT NULL", " WHERE t2.a > 0"]))
            extra = draw(st.sampled_from(["", " AND t1.f IS NOT NULL"]))
            return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2 FROM t1 WHERE ({x}, {y}) IN (SELECT t2.a, {sub_y} FROM t2{filt}){extra}"
        rows = [f"({draw(st.sampled_from(xs))}, {draw(st.sampled_from(ys))})" for _ in range(draw(st.integers(1, 3)))]
        test = f"({x}, {y}) {draw(st.sampled_from(['', 'NOT ']))}IN ({', '.join(rows)})"
        if draw(st.booleans()):
            return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2, {test} AS c3 FROM t1"
        return f"SELECT t1.a AS c0, t1.b AS c1, t1.s AS c2 FROM t1 WHERE {test}"
    aggs = []
    for _ in range(draw(st.integers(1, 4))):
        fn = draw(st.integers(0, 10))
        num = draw(st.sampled_from(["t1.a", "t1.b", "t1.h", "t1.f", "t1.a + t1.b", "t1.m"]))
        ints = draw(st.sampled_from(["t1.a", "t1.b", "t1.h", "t1.f", "t1.a - t1.b"]))
        if fn == 0:
            agg = f"{draw(st.sampled_from(['sum', 'avg']))}(DISTINCT {num})"
        elif fn == 1:
            agg = draw(st.sampled_from([f"count(DISTINCT {num})", f"sum({num})", "count(*)", f"avg({num})"]))
        elif fn == 2:
            text = draw(st.sampled_from(["t1.s", "t1.w", "CAST(t1.a AS VARCHAR)"]))
            name = draw(st.sampled_from(["string_agg", "listagg", "group_concat"]))
            sep = draw(st.sampled_from(["", ", ','", ", ''", ", ' | '"]))
            agg = f"{name}({text}{sep} ORDER BY {text}{draw(st.sampled_from(['', ' DESC']))})"
        elif fn == 3:
            agg = f"{draw(st.sampled_from(['bool_and', 'bool_or']))}({draw(predicate(cols, 1))})"
        elif fn == 4:
            agg = f"quantile_cont({ints}, {draw(st.sampled_from(['0', '0.25', '0.5', '0.9', '1']))})"
        elif fn == 5:
            agg = f"quantile_disc({ints}, {draw(st.sampled_from(['0', '0.3', '0.5', '0.75', '1']))})"
        elif fn == 6:
            agg = f"median({ints})"
        elif fn == 7:
            agg = (f"percentile_{draw(st.sampled_from(['cont', 'disc']))}({draw(st.sampled_from(['0.5', '0.2']))}) "
                   f"WITHIN GROUP (ORDER BY {ints})")
        elif fn == 8:
            agg = f"quantile({ints}, {draw(st.sampled_from(['0.5', '0.1']))})"
        elif fn == 9:
            agg = f"{draw(st.sampled_from(['min', 'max']))}(DISTINCT {num})"
        else:
            name = draw(st.sampled_from(["arg_max", "arg_min", "max_by", "min_by"]))
            value = draw(st.sampled_from(["t1.a", "t1.s", "t1.f", "t1.d", "t1.m", "t1.w", "t1.h", "t1.a + t1.b"]))
            by = draw(st.sampled_from(["t1.b", "t1.f", "t1.d", "t1.s", "t1.a - t1.b", "t1.m", "t1.n", "t1.h"]))
            agg = f"{name}({value}, {by})"
        if draw(st.integers(0, 3)) == 0:
            agg += f" FILTER (WHERE {draw(predicate(cols, 1))})"
        aggs.append(agg)
    where = f" WHERE {draw(predicate(cols))}" if draw(st.integers(0, 2)) == 0 else ""
    if form == 5:  # over a window (the forms a window answers: the quantiles, COUNT (DISTINCT))
        win = draw(st.sampled_from([f"quantile_cont({ints}, 0.5)", f"quantile_cont({ints}, 0.25)",
                                    f"median({ints})", f"count(DISTINCT {ints})"]))
        part = draw(st.sampled_from(["", "PARTITION BY t1.a", "PARTITION BY t1.s"]))
        return f"SELECT t1.a AS c0, t1.s AS c1, {win} OVER ({part}) AS c2 FROM t1{where}"
    keys = draw(st.lists(st.sampled_from(["t1.a", "t1.s", "t1.b % 2"]), min_size=0 if form == 0 else 1,
                         max_size=2, unique=True))
    items = keys + aggs
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
    group = ""
    if keys:
        group = draw(st.sampled_from([f" GROUP BY {', '.join(keys)}", " GROUP BY ALL",
                                      f" GROUP BY ROLLUP ({', '.join(keys)})"]))
        if draw(st.integers(0, 2)) == 0:
            group += f" HAVING {draw(st.sampled_from(aggs))} IS NOT NULL"
    if form == 2:
        return f"SELECT {select} FROM t1{where}{group} ORDER BY ALL{draw(st.sampled_from(['', ' DESC']))} " \
               f"-- ordered: {len(items)}"
    return f"SELECT {select} FROM t1{where}{group}"


def queries() -> st.SearchStrategy[str]:
    return st.one_of(projection_query(), aggregate_query(), join_query(), set_query(), subquery_query(),
                     window_query(), grouping_sets_query(), nested_set_query(), correlated_select_query(),
                     typed_query(), ordered_query(), like_query(), in_value_query(), big_sum_query(),
                     decimal_query(), values_query(), grouped_subquery_query(), grouped_key_subquery_query(),
                     inequality_correlated_query(), composed_query(), aggregate_form_query(),
                     quantified_correlated_query(), null_correlated_query(),
                     row_subquery_query())


def _norm(v: object) -> object:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        return v.date()
    if isinstance(v, bool):
        return int(v)
    return v


def _key(row: tuple[object, ...]) -> tuple[tuple[int, str], ...]:
    out = []
    for v in row:
        v = _norm(v)
        if v is None:
            out.append((0, ""))
        elif isinstance(v, (int, float)):
            out.append((1, f"{float(v):.6e}"))
        else:
            out.append((2, str(v)))
    return tuple(out)


def _same(a: object, b: object) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(float(a)) or math.isnan(float(b)):  # (0.0 / 0.0 of DECIMALs: NaN in both)
            return math.isnan(float(a)) and math.isnan(float(b))
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _type_name(t: pa.DataType) -> str:
    """A result type as compared with DuckDB's: a DECIMAL by its scale (Thresher's precision is 38
    where DuckDB narrows it, the same values: docs/guide/sql.md), text as text."""
    if pa.types.is_decimal(t):
        return f"decimal(scale {t.scale})"
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return str(t)


#: where Thresher's type knowingly differs from DuckDB's (docs/guide/sql.md): SUM of integers is a
#: BIGINT (DuckDB: a HUGEINT, Arrow's decimal(38, 0); a sum past BIGINT raises, see run_one); an
#: integer constant in an aggregate or in arithmetic of constants alone (min(0), -7 // 2) is a
#: BIGINT (DuckDB: an INTEGER; on its own, SELECT 1, it is an INTEGER: test_sql_fuzz.py checks
#: that without this exception)
KNOWN_TYPE_DIFFERENCES = {("int64", "decimal(scale 0)"), ("int64", "int32")}


def type_differences(got: pa.Table, want: pa.Table) -> str | None:
    """The result columns whose types differ from DuckDB's (``None``: none does)."""
    out = []
    for i, (g, w) in enumerate(zip(got.schema.types, want.schema.types)):
        pair = (_type_name(g), _type_name(w))
        if pair[0] != pair[1] and pair not in KNOWN_TYPE_DIFFERENCES and not pa.types.is_null(w):
            out.append(f"c{i}: {g} vs DuckDB's {w}")
    return "; ".join(out) or None


def ordered_differences(query: str, got: pa.Table, want: pa.Table) -> str | None:
    """For a query marked ``-- ordered: n``: do the first ``n`` columns come in DuckDB's order?"""
    if "-- ordered: " not in query:
        return None
    n = int(query.rsplit("-- ordered: ", 1)[1])
    g = [tuple(_norm(got.column(i)[r].as_py()) for i in range(n)) for r in range(got.num_rows)]
    w = [tuple(_norm(want.column(i)[r].as_py()) for i in range(n)) for r in range(want.num_rows)]
    if len(g) != len(w) or not all(all(_same(x, y) for x, y in zip(a, b)) for a, b in zip(g, w)):
        return f"ORDER BY keys in another order: {g} vs DuckDB's {w}"
    return None


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(c.to_pylist() for c in table.columns)), key=_key) if table.num_rows else []


def differences(got: pa.Table, want: pa.Table) -> str | None:
    """What differs between two results compared as multisets of rows (``None``: the same)."""
    if got.num_columns != want.num_columns:
        return f"{got.num_columns} columns vs DuckDB's {want.num_columns}"
    g, w = rows(got), rows(want)
    if len(g) != len(w):
        return f"{len(g)} rows vs DuckDB's {len(w)}: {g} vs {w}"
    for a, b in zip(g, w):
        if not all(_same(x, y) for x, y in zip(a, b)):
            return f"rows differ: {g} vs {w}"
    return None
