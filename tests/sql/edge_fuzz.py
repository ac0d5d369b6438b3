"""A differential fuzzer against DuckDB of the clause and NULL corners the other SQL fuzzers leave
out (used by ``test_sql_edge_fuzz.py``), over one small table ``t`` (integers, text with unicode,
upper and lower case and the empty string, a DOUBLE, a DECIMAL, dates and timestamps at month ends,
a boolean; NULLs and repeats everywhere) and a second one ``u`` to join with:

* ``order_query``: ORDER BY keys of mixed directions and NULLS FIRST / LAST, named by select
  alias (one that shadows a column too), position, expression of columns or of an alias, or an
  aggregate of a grouped query, with LIMIT / OFFSET (and DISTINCT); the keys end with a unique one
  (``id``, or the group key), so the order is total and compared as such.
* ``aggregate_query``: aggregates with FILTER (WHERE ...) and DISTINCT, ``string_agg`` with a
  separator and an ORDER BY inside, ``bool_and`` / ``bool_or``, ``min`` / ``max`` of text, dates,
  timestamps and booleans, ``arg_min`` / ``arg_max`` by the unique ``id``, ``median`` and
  ``quantile_disc``, grouped by columns, aliases, expressions, ``GROUP BY ALL`` or nothing, with a
  HAVING (without a GROUP BY too: one row or none) and an empty input.
* ``null_logic_query``: ``IS [NOT] DISTINCT FROM`` (select lists, WHERE, a join's ON), ``[NOT] IN``
  lists holding NULL, ``BETWEEN`` with NULL bounds, ``IS [NOT] TRUE / FALSE / UNKNOWN``, CASE with
  NULL branches, a simple CASE on NULL, COALESCE / NULLIF / GREATEST / LEAST over NULLs and mixed
  numeric types, AND / OR / NOT with NULLs, in select lists and in WHERE.
* ``calendar_query``: dates and timestamps shifted by intervals of several parts (years and
  months together: one shift of months in DuckDB), compared with text, truncated and extracted,
  grouped on, ordered by.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

D = datetime.date
TS = datetime.datetime
Dec = decimal.Decimal

_I = [None, 0, 1, 1, 2, -1, 3]
_S = [None, "", "x", "X", "é", "b", "ä", "Z", "x y", "日"]
_F = [None, -1.5, 0.0, 0.5, 2.0, 2.0]
_M = [None, *(Dec(x) for x in ("1.50", "-2.25", "0.00", "1.50", "10.00"))]
_D = [None, D(2024, 1, 31), D(2024, 2, 29), D(2023, 12, 31), D(2024, 3, 1), D(2021, 1, 3), D(2024, 12, 30)]
_TS = [None, TS(2024, 1, 31, 12), TS(2024, 2, 29, 23, 59, 59), TS(2023, 12, 31), TS(2024, 3, 10, 2, 30),
       TS(1969, 12, 31, 23, 59, 59)]
_P = [None, True, False]

#: column -> (Arrow type, kind, values)
T_COLUMNS: dict[str, tuple[pa.DataType, str, list[Any]]] = {
    "a": (pa.int64(), "int", _I), "b": (pa.int32(), "int", _I), "s": (pa.string(), "str", _S),
    "w": (pa.string(), "str", _S), "f": (pa.float64(), "float", _F), "m": (pa.decimal128(9, 2), "dec", _M),
    "d": (pa.date32(), "date", _D), "ts": (pa.timestamp("us"), "ts", _TS), "p": (pa.bool_(), "bool", _P),
}


@st.composite
def edge_tables(draw: Any) -> dict[str, pa.Table]:
    """``t`` (0..7 rows, a unique ``id``) and ``u`` (0..5 rows: ``k`` an integer key, ``v`` text)."""
    n = draw(st.integers(0, 7))
    data: dict[str, pa.Array] = {"id": pa.array(range(n), pa.int64())}
    for name, (typ, _, values) in T_COLUMNS.items():
        data[name] = pa.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)), typ)
    m = draw(st.integers(0, 5))
    u = pa.table({"k": pa.array(draw(st.lists(st.sampled_from(_I), min_size=m, max_size=m)), pa.int64()),
                  "v": pa.array(draw(st.lists(st.sampled_from(_S), min_size=m, max_size=m)), pa.string())})
    return {"t": pa.table(data), "u": u}


def _cols(*kinds: str) -> list[str]:
    return [c for c, (_, k, _) in T_COLUMNS.items() if k in kinds]


_DIRS = ["", " ASC", " DESC", " NULLS FIRST", " NULLS LAST", " DESC NULLS FIRST", " DESC NULLS LAST",
         " ASC NULLS FIRST"]
#: expressions of t's columns (order keys, group keys, select items)
_EXPRS = ["a", "b", "s", "w", "f", "m", "d", "ts", "p", "-a", "a + b", "a % 2", "lower(s)", "upper(w)", "length(s)",
          "s || w", "coalesce(a, b)", "coalesce(s, w)", "nullif(s, '')", "f * 2", "m + 1", "year(d)",
          "date_trunc('month', ts)", "CASE WHEN p THEN a END", "a IS NULL", "abs(f)", "left(s, 1)", "d - 1",
          "greatest(a, b)", "least(f, m)", "NOT p"]


@st.composite
def _limit(draw: Any) -> str:
    return draw(st.sampled_from(["", " LIMIT 3", " LIMIT 1", " LIMIT 0", " LIMIT 2 OFFSET 1", " LIMIT 10 OFFSET 5",
                                 " OFFSET 2", " LIMIT 4 OFFSET 0"]))


@st.composite
def order_query(draw: Any) -> str:
    """``SELECT ... ORDER BY <keys> [LIMIT / OFFSET]``, the keys made total; compared in order."""
    form = draw(st.integers(0, 3))
    if form <= 1:  # plain rows: items are expressions with aliases, keys name them any way
        items = draw(st.lists(st.sampled_from(_EXPRS), min_size=1, max_size=3, unique=True))
        # an alias that shadows a column (DuckDB: ORDER BY the alias, the select item)
        aliases = [draw(st.sampled_from([f"c{i}", f"c{i}", "a", "s", "b"])) for i in range(len(items))]
        if len(set(aliases)) < len(aliases):
            aliases = [f"c{i}" for i in range(len(items))]
        sel = [f"{e} AS {n}" for e, n in zip(items, aliases)]
        keys = []
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(items) - 1))
            how = draw(st.integers(0, 3))
            key = (aliases[i] if how == 0 else str(i + 2) if how == 1 else items[i] if how == 2
                   else draw(st.sampled_from(_EXPRS)))
            keys.append(key + draw(st.sampled_from(_DIRS)))
        keys.append("id" + draw(st.sampled_from(["", " DESC"])))
        where = f" WHERE {draw(null_predicate())}" if draw(st.integers(0, 2)) == 0 else ""
        return (f"SELECT id, {', '.join(sel)} FROM t{where} ORDER BY {', '.join(keys)}{draw(_limit())}"
                f" -- ordered: {len(items) + 1}")
    if form == 2:  # grouped: ordered by an aggregate, then the (unique) group key
        key = draw(st.sampled_from(["a", "s", "p", "d", "a % 2", "coalesce(s, w)", "b"]))
        aggs = draw(st.lists(st.sampled_from(["count(*)", "sum(b)", "min(s)", "max(d)", "count(DISTINCT w)", "avg(f)",
                                              "max(m)", "bool_or(p)"]), min_size=1, max_size=2, unique=True))
        okeys = [draw(st.sampled_from([*aggs, "g", "2", "count(*)"])) + draw(st.sampled_from(_DIRS))
                 for _ in range(draw(st.integers(0, 2)))]
        okeys.append("g" + draw(st.sampled_from(_DIRS)))
        having = f" HAVING {draw(st.sampled_from(aggs))} IS NOT NULL" if draw(st.integers(0, 3)) == 0 else ""
        return (f"SELECT {key} AS g, {', '.join(aggs)} FROM t GROUP BY {key}{having} ORDER BY {', '.join(okeys)}"
                f"{draw(_limit())} -- ordered: {1 + len(aggs)}")
    # DISTINCT: every select item a key, in some order and direction
    items = draw(st.lists(st.sampled_from(["a", "s", "p", "a % 2", "lower(s)", "d", "m"]), min_size=1, max_size=2,
                          unique=True))
    perm = draw(st.permutations(items))
    keys = [k + draw(st.sampled_from(_DIRS)) for k in perm]
    return (f"SELECT DISTINCT {', '.join(items)} FROM t ORDER BY {', '.join(keys)}{draw(_limit())}"
            f" -- ordered: {len(items)}")


_AGGS = ["count(*)", "count(s)", "count(DISTINCT s)", "count(DISTINCT a)", "sum(a)", "sum(DISTINCT b)", "min(s)",
         "max(w)", "min(d)", "max(ts)", "min(p)", "max(p)", "bool_and(p)", "bool_or(p)", "avg(b)", "max(m)",
         "min(f)", "string_agg(s, ',' ORDER BY id)", "string_agg(w ORDER BY id DESC)",
         "string_agg(DISTINCT s, '|' ORDER BY s)", "arg_min(s, id)", "arg_max(d, id)", "median(a)",
         "quantile_disc(b, 0.5)", "avg(DISTINCT a)", "sum(m)", "count(DISTINCT lower(s))", "max(length(s))",
         "string_agg(s, '' ORDER BY s DESC NULLS FIRST, id)", "max(a) - min(b)", "count(*) + count(a)"]
_FILTERS = ["a > 0", "s IS NOT NULL", "p", "NOT p", "s <> ''", "a IS DISTINCT FROM b", "d >= '2024-01-31'",
            "b IN (1, NULL)", "f BETWEEN 0 AND 2", "m IS NULL"]


@st.composite
def aggregate_query(draw: Any) -> str:
    aggs = []
    for _ in range(draw(st.integers(1, 3))):
        agg = draw(st.sampled_from(_AGGS))
        if draw(st.integers(0, 2)) == 0 and "(" in agg and not agg.startswith("max(a) -"):
            agg = f"{agg} FILTER (WHERE {draw(st.sampled_from(_FILTERS))})"
        aggs.append(agg)
    where = f" WHERE {draw(null_predicate())}" if draw(st.integers(0, 2)) == 0 else ""
    form = draw(st.integers(0, 4))
    if form == 0:  # no GROUP BY: one row, or none under a HAVING that fails
        having = ""
        if draw(st.booleans()):
            having = f" HAVING {draw(st.sampled_from(['count(*) > 2', 'sum(a) > 1', 'min(s) IS NULL', 'bool_or(p)', 'count(*) = 0', 'max(d) < DATE ' + repr('2024-06-01')]))}"
            if draw(st.integers(0, 3)) == 0:  # a HAVING of constants alone still makes one group
                having = f" HAVING {draw(st.sampled_from(['TRUE', 'FALSE', '1 = 1', 'NULL IS NULL', 'NOT (2 < 1)']))}"
                if draw(st.booleans()):  # ... over a select list of no aggregate
                    aggs = draw(st.lists(st.sampled_from(["1", "'x'", "NULL", "2.5", "1 + 1"]), min_size=1, max_size=2))
        return f"SELECT {', '.join(f'{x} AS c{i}' for i, x in enumerate(aggs))} FROM t{where}{having}"
    keys = draw(st.lists(st.sampled_from(["a", "s", "p", "a % 2", "lower(w)", "d", "coalesce(b, -9)", "s IS NULL",
                                          "date_trunc('year', d)", "b"]), min_size=1, max_size=2, unique=True))
    items = [f"{k} AS k{i}" for i, k in enumerate(keys)] + [f"{x} AS c{i}" for i, x in enumerate(aggs)]
    if form == 1:
        group = "ALL"
    elif form == 2:
        group = ", ".join(f"k{i}" for i in range(len(keys)))  # by alias
    else:
        group = ", ".join(keys)
    having = ""
    if draw(st.integers(0, 2)) == 0:
        having = f" HAVING {draw(st.sampled_from(['count(*) > 1', 'k0 IS NOT NULL', 'min(a) IS NULL', 'c0 IS NOT NULL', 'count(DISTINCT s) >= 1']))}"
    return f"SELECT {', '.join(items)} FROM t{where} GROUP BY {group}{having}"


_NULL_PREDICATES = [
    "a IS DISTINCT FROM b", "a IS NOT DISTINCT FROM b", "s IS DISTINCT FROM w", "s IS NOT DISTINCT FROM 'x'",
    "f IS DISTINCT FROM m", "d IS NOT DISTINCT FROM ts", "p IS DISTINCT FROM (a > 0)", "a IS DISTINCT FROM NULL",
    "a IN (1, NULL)", "a NOT IN (1, NULL)", "a NOT IN (2, 3)", "s IN ('x', NULL, '')", "s NOT IN ('X', 'é')",
    "b IN (a, NULL)", "b NOT IN (a, 0)", "m IN (1.5, 0)", "f IN (2, NULL)", "d IN ('2024-02-29', NULL)",
    "a BETWEEN b AND 2", "a BETWEEN NULL AND 2", "a NOT BETWEEN b AND NULL", "s BETWEEN 'a' AND 'y'",
    "f NOT BETWEEN -1 AND m", "d BETWEEN '2024-01-01' AND ts",
    "p IS TRUE", "p IS NOT TRUE", "p IS FALSE", "p IS NOT FALSE", "p IS UNKNOWN", "p IS NOT UNKNOWN",
    "(a > b) IS NOT TRUE", "(s = w) IS UNKNOWN", "p = (a > 0)", "NOT (a > 1)", "p AND a > 0", "p OR a > 0",
    "NOT (p OR s = 'x')", "coalesce(p, a > 1)", "nullif(a, b) IS NULL", "a = ANY (SELECT k FROM u)",
    "a NOT IN (SELECT k FROM u)", "s IN (SELECT v FROM u)", "NOT EXISTS (SELECT 1 FROM u WHERE u.k IS NOT DISTINCT FROM t.a)",
    "s NOT IN (SELECT v FROM u WHERE v IS NOT NULL)",
]


@st.composite
def null_predicate(draw: Any, depth: int = 0) -> str:
    if depth < 1 and draw(st.integers(0, 3)) == 0:
        op = draw(st.sampled_from(["AND", "OR"]))
        return f"({draw(null_predicate(depth + 1))} {op} {draw(null_predicate(depth + 1))})"
    return str(draw(st.sampled_from(_NULL_PREDICATES)))


_NULL_VALUES = [
    "CASE WHEN a > 1 THEN NULL WHEN a = 1 THEN 'one' END", "CASE WHEN p THEN NULL ELSE a END",
    "CASE a WHEN NULL THEN 'n' WHEN 1 THEN 'one' ELSE 'other' END", "CASE s WHEN '' THEN 0 WHEN 'x' THEN 1 END",
    "CASE WHEN p THEN 1 WHEN NOT p THEN 2.5 END", "CASE WHEN p IS NULL THEN f ELSE m END", "CASE WHEN p THEN d ELSE ts END",
    "CASE WHEN s IS NULL THEN w WHEN w IS NULL THEN s ELSE s || w END", "CASE WHEN NULL THEN 1 ELSE 2 END",
    "coalesce(NULL, a, b)", "coalesce(a, f, m)", "coalesce(b, m)", "coalesce(s, w, '?')", "coalesce(d, ts)",
    "coalesce(NULL, NULL)", "ifnull(f, a)", "nullif(a, b)", "nullif(s, '')", "nullif(NULL, a)", "nullif(f, 0)",
    "nullif(p, TRUE)", "greatest(a, b)", "greatest(a, NULL, b)", "least(f, m, a)", "greatest(s, w, 'b')",
    "least(d, ts)", "greatest(1, 2.5, a)", "least(NULL, NULL)", "greatest(m, b)", "least(p, NOT p)",
    "a IS DISTINCT FROM b", "s IS NOT DISTINCT FROM w", "a IN (b, NULL, 3)", "s NOT IN (w, 'x')",
    "a BETWEEN b AND NULL", "NULL BETWEEN a AND b", "p IS NOT TRUE", "p IS UNKNOWN", "p AND NULL", "p OR NULL",
    "NOT p", "(a > 1) = p", "a = NULL", "NULL IS NOT DISTINCT FROM NULL",
]


@st.composite
def null_logic_query(draw: Any) -> str:
    form = draw(st.integers(0, 3))
    if form == 3:  # a join ON IS [NOT] DISTINCT FROM (the NULL keys meet)
        kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "SEMI JOIN", "ANTI JOIN"]))
        on = draw(st.sampled_from(["t.a IS NOT DISTINCT FROM u.k", "t.s IS NOT DISTINCT FROM u.v",
                                   "t.a IS NOT DISTINCT FROM u.k AND t.s IS DISTINCT FROM u.v",
                                   "t.b IS NOT DISTINCT FROM u.k", "t.a IS DISTINCT FROM u.k"]))
        items = "t.id, t.a, t.s" + ("" if kind in ("SEMI JOIN", "ANTI JOIN") else ", u.k, u.v")
        return f"SELECT {items} FROM t {kind} u ON {on}"
    values = draw(st.lists(st.sampled_from(_NULL_VALUES), min_size=1, max_size=3))
    where = f" WHERE {draw(null_predicate())}" if form >= 1 else ""
    return f"SELECT id, {', '.join(f'{v} AS c{i}' for i, v in enumerate(values))} FROM t{where}"


_INTERVALS = ["1 year 2 months", "1 year -1 month", "2 years 11 months", "1 month 1 day", "-1 year 13 months",
              "1 year 1 month 1 day", "1 week 2 days", "1 day 2 hours", "1 year", "14 months", "1 month -1 day"]


@st.composite
def calendar_query(draw: Any) -> str:
    base = draw(st.sampled_from(["d", "ts", "DATE '2024-02-29'", "TIMESTAMP '2024-01-31 10:00:00'"]))
    iv = draw(st.sampled_from(_INTERVALS))
    shifted = f"({base} {draw(st.sampled_from(['+', '-']))} INTERVAL '{iv}')"
    form = draw(st.integers(0, 3))
    if form == 0:
        return f"SELECT id, {shifted} AS c0 FROM t"
    if form == 1:
        lit = draw(st.sampled_from(["'2024-01-01'", "DATE '2023-03-31'", "TIMESTAMP '2025-03-29 00:00:00'", "ts", "d"]))
        return f"SELECT id FROM t WHERE {shifted} {draw(st.sampled_from(['<', '>=', '=']))} {lit}"
    if form == 2:
        part = draw(st.sampled_from(["year", "month", "day", "quarter", "dow", "doy", "week"]))
        return f"SELECT extract({part} FROM {shifted}) AS g, count(*) AS n FROM t GROUP BY g"
    return f"SELECT id, {shifted} AS c0 FROM t ORDER BY c0 NULLS FIRST, id LIMIT 4 -- ordered: 2"


def edge_queries() -> st.SearchStrategy[str]:
    return st.one_of(order_query(), aggregate_query(), null_logic_query(), calendar_query())
