"""A differential fuzzer for conversions and dates against DuckDB (used by ``test_sql_conv_fuzz.py``):
hypothesis draws one table ``t`` of values at the edges of their types and a query over it.

* ``cast_query``: CAST and TRY_CAST between every pair of TINYINT, SMALLINT, INTEGER, BIGINT,
  UTINYINT, USMALLINT, UINTEGER, FLOAT, DOUBLE, DECIMAL of several precisions and scales, VARCHAR,
  BOOLEAN, DATE and TIMESTAMP, nested two deep, of columns holding each type's limits and one past
  them, .5 ties, NaN and infinities, and text in the forms DuckDB reads (spaces, signs, exponents,
  leading dots) and does not; compared with literals, summed, grouped, ordered. Where DuckDB raises
  a conversion error (a value out of range, text it cannot read) Thresher must raise too, never
  answer; the values and the result type (integers of the same width, DECIMALs of the same scale)
  must be DuckDB's.
* ``temporal_query``: DATE and TIMESTAMP columns compared with text literals (dates, timestamps,
  fractional seconds) and with each other, BETWEEN and IN of text, EXTRACT / date_part of every
  part DuckDB has for both types (epoch, isoyear, week, yearweek, century, ...), date_trunc,
  DATE - DATE, DATE + integer, TIMESTAMP +/- INTERVALs of several units, in select lists, WHERE,
  GROUP BY keys, HAVING without GROUP BY and ORDER BY ... NULLS FIRST/LAST with LIMIT/OFFSET.

Left out (other changes own them): ``date_add``/``age``, UBIGINT mixing, DATE + INTERVAL's type.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pyarrow as pa
from fn_fuzz import table_of
from hypothesis import strategies as st

D = datetime.date
TS = datetime.datetime
Dec = decimal.Decimal

#: column -> (Arrow type, SQL type name, values)
COLUMNS: dict[str, tuple[pa.DataType, str, list[Any]]] = {
    "i8": (pa.int8(), "TINYINT", [None, 0, 1, -1, 127, -128, 100, -100]),
    "i16": (pa.int16(), "SMALLINT", [None, 0, 127, 128, -129, 255, 256, 32767, -32768, -1]),
    "i32": (pa.int32(), "INTEGER", [None, 0, 255, 32768, -32769, 65535, 65536, 2**31 - 1, -2**31, -1, 1000]),
    "i64": (pa.int64(), "BIGINT", [None, 0, 2**31, -2**31 - 1, 2**32, 2**63 - 1, -2**63, 99, -99, 10**12, 2**53 + 1,
                                   2**53]),
    "u8": (pa.uint8(), "UTINYINT", [None, 0, 127, 128, 255]),
    "u32": (pa.uint32(), "UINTEGER", [None, 0, 2**31, 2**32 - 1, 65536]),
    "f": (pa.float64(), "DOUBLE", [None, 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 127.5, -128.5, 127.4999, 255.5,
                                   32767.5, 2147483647.4, 2147483647.5, 1e10, -1e19, 9.3e18, 2.0**53, 2.0**63, 1e-9, 3.14159,
                                   float("nan"), float("inf"), float("-inf"), 0.125, 1.005, 99.995]),
    "r": (pa.float32(), "FLOAT", [None, 0.0, 0.5, -2.5, 1.1, 3.4e38, 16777217.0, 127.5]),
    "m": (pa.decimal128(9, 3), "DECIMAL(9,3)", [None, Dec("0.000"), Dec("1.005"), Dec("-1.005"), Dec("99.995"),
                                                Dec("-99.995"), Dec("127.500"), Dec("-128.500"), Dec("999999.999"),
                                                Dec("0.001"), Dec("2.500"), Dec("-0.500")]),
    "n": (pa.decimal128(18, 0), "DECIMAL(18,0)", [None, Dec(0), Dec(128), Dec(-129), Dec(2**31), Dec(10**17),
                                                 Dec(-(10**18 - 1)), Dec(255), Dec(65536)]),
    "w": (pa.decimal128(38, 10), "DECIMAL(38,10)", [None, Dec("0.0000000005"), Dec("-0.0000000005"),
                                                    Dec("12345678901234567890.1234567890"), Dec("1.5"),
                                                    Dec("-2.5000000001")]),
    "s": (pa.string(), "VARCHAR", [None, "", " ", "0", "1", "-1", "+1", " 12 ", "1.5", "-1.5", "2.5", "-0.5", ".5",
                                   "5.", "1e2", "1E-2", "127", "128", "-129", "255", "256", "32768", "65536",
                                   "2147483648", "9223372036854775808", "1.005", "99.995", "abc", "1a", "0x10",
                                   "1_000", "nan", "NaN", "inf", "-Infinity", "true", "FALSE", "t", "f", "yes",
                                   "no", "on", "off", "y", "2024-02-29", "2023-02-29", "2024-02-29 12:34:56",
                                   "2024-02-29 12:34:56.789", "2024-02-29T01:02:03", "1999-12-31 23:59:59.999999",
                                   " 2024-01-01 ", "2024-1-5", "0001-01-01", "12:00:00", "1e400", "-0", "00012",
                                   "1.2.3", "--1", "١٢"]),
    "b": (pa.bool_(), "BOOLEAN", [None, True, False]),
    "d": (pa.date32(), "DATE", [None, D(2024, 2, 29), D(2024, 2, 28), D(2023, 12, 31), D(2024, 1, 1), D(2021, 1, 3),
                                D(2024, 12, 30), D(1999, 12, 31), D(2000, 1, 1), D(1970, 1, 1), D(1969, 12, 31),
                                D(2020, 12, 31), D(2027, 1, 1), D(1900, 3, 1), D(1583, 1, 1)]),
    "ts": (pa.timestamp("us"), "TIMESTAMP", [None, TS(2024, 2, 29, 12, 34, 56), TS(2024, 2, 29, 0, 0),
                                             TS(2024, 2, 29, 12, 34, 56, 789000), TS(2023, 12, 31, 23, 59, 59, 999999),
                                             TS(1999, 12, 31, 23, 59, 59), TS(1970, 1, 1), TS(1969, 12, 31, 23, 59, 59, 500000),
                                             TS(2021, 1, 3, 1, 2, 3), TS(2024, 12, 30, 6), TS(2000, 1, 1, 0, 0, 0, 1)]),
}
INT_COLS = ["i8", "i16", "i32", "i64", "u8", "u32"]
NUM_COLS = [*INT_COLS, "f", "r", "m", "n", "w"]

TARGETS = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "FLOAT", "DOUBLE",
           "DECIMAL(4,1)", "DECIMAL(9,2)", "DECIMAL(9,0)", "DECIMAL(18,3)", "DECIMAL(38,10)", "DECIMAL(3,3)",
           "DECIMAL(5,2)", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP"]

#: what DuckDB casts a column's type to (``None``: every target)
CASTABLE: dict[str, set[str]] = {
    "BOOLEAN": {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "FLOAT", "DOUBLE",
                "VARCHAR", "BOOLEAN", "DECIMAL(4,1)", "DECIMAL(9,2)", "DECIMAL(9,0)", "DECIMAL(18,3)", "DECIMAL(38,10)",
                "DECIMAL(3,3)", "DECIMAL(5,2)"},
    "DATE": {"VARCHAR", "DATE", "TIMESTAMP"},
    "TIMESTAMP": {"VARCHAR", "DATE", "TIMESTAMP"},
}
NUMERIC_TARGETS = {t for t in TARGETS if t not in ("VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP")}


def _targets(src_type: str) -> list[str]:
    if src_type in CASTABLE:
        return sorted(CASTABLE[src_type])
    if src_type == "VARCHAR":
        return TARGETS
    return sorted(NUMERIC_TARGETS | {"VARCHAR", "BOOLEAN"})


def tables(max_rows: int = 6) -> st.SearchStrategy[pa.Table]:
    """One table ``t`` of this module's ``COLUMNS`` (see ``fn_fuzz.table_of``)."""
    return table_of(COLUMNS, max_rows)


@st.composite
def cast_expr(draw: Any) -> tuple[str, str]:
    """A CAST / TRY_CAST of a column (one or two deep): (the expression, its SQL type)."""
    col = draw(st.sampled_from(sorted(COLUMNS)))
    expr, typ = col, COLUMNS[col][1]
    for _ in range(draw(st.integers(1, 2))):
        target = draw(st.sampled_from(_targets(typ)))
        fn = draw(st.sampled_from(["CAST", "CAST", "TRY_CAST"]))
        expr, typ = f"{fn}({expr} AS {target})", target
    return expr, typ


LITERALS = {"VARCHAR": ["'1'", "'abc'", "''"], "BOOLEAN": ["TRUE", "FALSE"], "DATE": ["DATE '2024-02-29'"],
            "TIMESTAMP": ["TIMESTAMP '2024-02-29 12:34:56'"]}


@st.composite
def cast_query(draw: Any) -> str:
    items = []
    for _ in range(draw(st.integers(1, 2))):
        expr, typ = draw(cast_expr())
        form = draw(st.integers(0, 5))
        if form == 1 and typ in NUMERIC_TARGETS:
            lit = draw(st.sampled_from(["0", "1", "-1", "0.5", "127", "128", "255", "1e3", "2.5"]))
            expr = f"({expr} {draw(st.sampled_from(['=', '<', '>=', '<>']))} {lit})"
        elif form == 2 and typ in NUMERIC_TARGETS and not typ.startswith("U"):
            expr = f"({expr} {draw(st.sampled_from(['+', '-', '*']))} {draw(st.sampled_from(['1', '2', '0.5', 'i8']))})"
        elif form == 3:
            expr = f"coalesce({expr}, {draw(st.sampled_from(LITERALS.get(typ, ['0', 'NULL'])))})"
        items.append(expr)
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
    shape = draw(st.integers(0, 6))
    if shape == 0:  # a filter on a cast
        expr, typ = draw(cast_expr())
        cond = f"{expr} IS NOT NULL" if typ not in NUMERIC_TARGETS else f"{expr} > {draw(st.sampled_from(['0', '1', '-1', '0.5']))}"
        return f"SELECT id, {select} FROM t WHERE {cond}"
    if shape == 1:  # aggregates of casts (a HAVING without GROUP BY too)
        aggs = [f"count({e})" for e in items] + [f"min({e})" for e in items] + [f"max({e})" for e in items]
        having = f" HAVING count(*) > {draw(st.integers(0, 3))}" if draw(st.booleans()) else ""
        return f"SELECT 0 AS id, {', '.join(f'{a} AS a{i}' for i, a in enumerate(aggs))} FROM t{having}"
    if shape == 2:  # grouped by a cast
        key = items[0]
        return (f"SELECT {key} AS id, count(*) AS n, min(id) AS lo FROM t GROUP BY 1")
    return f"SELECT id, {select} FROM t"


# -- dates and timestamps -------------------------------------------------------------------------

DATE_TEXT = ["'2024-02-29'", "'2024-01-01'", "'1999-12-31'", "'2023-12-31'", "'1970-01-01'", "'2000-01-01'"]
TS_TEXT = ["'2024-02-29 12:34:56'", "'2024-02-29 00:00:00'", "'2024-02-29 12:34:56.789'", "'2023-12-31 23:59:59.999999'",
           "'1970-01-01 00:00:00'", "'2024-02-29'", "'1969-12-31 23:59:59.5'", "'2024-02-29T12:34:56'"]
#: (DuckDB's era, isoyear, yearweek, dayofyear, century, decade, microseconds, milliseconds, dayofweek and weekday
#: parts, and date_trunc to decade and beyond, are refused by name: left out)
PARTS = ["year", "month", "day", "quarter", "dow", "isodow", "doy", "week", "epoch", "hour", "minute", "second"]
TRUNC = ["year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond"]
INTERVALS = ["INTERVAL 1 DAY", "INTERVAL 36 HOUR", "INTERVAL 90 MINUTE", "INTERVAL 1 MONTH", "INTERVAL 1 YEAR",
             "INTERVAL '1 day 2 hours'", "INTERVAL '1' SECOND", "INTERVAL 3 WEEK",
             "INTERVAL '2 months 1 day'"]


@st.composite
def temporal_value(draw: Any) -> str:
    """A DATE, TIMESTAMP or number computed from ``d`` and ``ts``."""
    form = draw(st.integers(0, 6))
    dated = draw(st.sampled_from(["d", "ts", "CAST(ts AS DATE)", "CAST(d AS TIMESTAMP)"]))
    if form == 0:
        return f"extract({draw(st.sampled_from(PARTS))} FROM {dated})"
    if form == 1:
        return f"date_part('{draw(st.sampled_from(PARTS))}', {dated})"
    if form == 2:
        return f"date_trunc('{draw(st.sampled_from(TRUNC))}', {dated})"
    if form == 3:
        return f"(d - {draw(st.sampled_from(['d', 'DATE ' + draw(st.sampled_from(DATE_TEXT))]))})"
    if form == 4:
        return f"(d {draw(st.sampled_from(['+', '-']))} {draw(st.sampled_from(['1', '0', '-1', '365', '-36500']))})"
    if form == 5:
        return f"(ts {draw(st.sampled_from(['+', '-']))} {draw(st.sampled_from(INTERVALS))})"
    return dated


@st.composite
def temporal_predicate(draw: Any) -> str:
    form = draw(st.integers(0, 5))
    op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
    if form == 0:
        return f"d {op} {draw(st.sampled_from(DATE_TEXT))}"
    if form == 1:
        return f"ts {op} {draw(st.sampled_from(TS_TEXT))}"
    if form == 2:
        return f"d {op} ts"
    if form == 3:
        col = draw(st.sampled_from(["d", "ts"]))
        lo, hi = sorted(draw(st.lists(st.sampled_from(DATE_TEXT), min_size=2, max_size=2)))
        return f"{col} {draw(st.sampled_from(['BETWEEN', 'NOT BETWEEN']))} {lo} AND {hi}"
    if form == 4:
        col = draw(st.sampled_from(["d", "ts"]))
        texts = DATE_TEXT if col == "d" else TS_TEXT
        vals = draw(st.lists(st.sampled_from(texts), min_size=1, max_size=3))
        return f"{col} {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(vals)})"
    return f"date_trunc('{draw(st.sampled_from(TRUNC[:5]))}', ts) {op} d"


@st.composite
def temporal_query(draw: Any) -> str:
    shape = draw(st.integers(0, 5))
    items = [draw(st.one_of(temporal_value(), temporal_predicate())) for _ in range(draw(st.integers(1, 2)))]
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(items))
    if shape == 0:
        return f"SELECT id, {select} FROM t WHERE {draw(temporal_predicate())}"
    if shape == 1:  # grouped by a date part / a truncation
        key = draw(temporal_value())
        return f"SELECT {key} AS id, count(*) AS n, min(ts) AS lo, max(d) AS hi FROM t GROUP BY 1"
    if shape == 2:  # HAVING without GROUP BY
        cond = draw(st.sampled_from(["count(*) > 2", "min(d) < DATE '2024-01-01'", "max(ts) >= '2024-02-29'",
                                     "count(d) = count(ts)", "sum(extract(year FROM d)) > 4000"]))
        return f"SELECT 0 AS id, min(d) AS c0, max(ts) AS c1, count(*) AS c2 FROM t HAVING {cond}"
    if shape == 3:  # ORDER BY a date with NULLS FIRST/LAST, LIMIT/OFFSET: the order checked, id breaks ties
        key = draw(temporal_value())
        nulls = draw(st.sampled_from(["", " NULLS FIRST", " NULLS LAST"]))
        direction = draw(st.sampled_from(["", " DESC", " ASC"]))
        limit = f" LIMIT {draw(st.integers(0, 4))}" if draw(st.booleans()) else ""
        offset = f" OFFSET {draw(st.integers(0, 3))}" if draw(st.booleans()) else ""
        return f"SELECT id, {key} AS k FROM t ORDER BY k{direction}{nulls}, id{limit}{offset} -- ordered"
    return f"SELECT id, {select} FROM t"


# -- values of different types meeting ------------------------------------------------------------

#: ``COLUMNS`` with values that are one FLOAT (DECIMAL 1.1 and 1.1000000001, BIGINT 16777216 and
#: 16777217; FLOAT 100000 is DECIMAL 100000.001 and 100000.002) or one DOUBLE (2**53 and 2**53 + 1,
#: already there): a subquery grouped by such values before they are compared answered twice
MIXED_COLUMNS = {
    **COLUMNS,
    "r": (pa.float32(), "FLOAT", [*COLUMNS["r"][2], 100000.0, 16777216.0]),
    "m": (pa.decimal128(9, 3), "DECIMAL(9,3)", [*COLUMNS["m"][2], Dec("1.100"), Dec("100000.001"), Dec("100000.002")]),
    "n": (pa.decimal128(18, 0), "DECIMAL(18,0)", [*COLUMNS["n"][2], Dec(16777216), Dec(16777217)]),
    "w": (pa.decimal128(38, 10), "DECIMAL(38,10)", [*COLUMNS["w"][2], Dec("1.1"), Dec("1.1000000001")]),
}


@st.composite
def two_tables(draw: Any) -> dict[str, pa.Table]:
    """Tables ``t`` and ``u``, drawn alike (joins of small domains match often)."""
    return {"t": draw(table_of(MIXED_COLUMNS, 5)), "u": draw(table_of(MIXED_COLUMNS, 5))}


#: columns that DuckDB compares with each other without an explicit cast
GROUPS = [[*NUM_COLS], ["d", "ts"], ["s"], ["b"]]


@st.composite
def _pair(draw: Any) -> tuple[str, str]:
    """Two columns DuckDB combines; a third of them a FLOAT and an integer or a DECIMAL (compared
    in FLOAT, also in subqueries)."""
    if draw(st.integers(0, 2)) == 0:
        other = draw(st.sampled_from([*INT_COLS, "m", "n", "w"]))
        return ("r", other) if draw(st.booleans()) else (other, "r")
    group = draw(st.sampled_from(GROUPS))
    return draw(st.sampled_from(group)), draw(st.sampled_from(group))


@st.composite
def mixed_query(draw: Any) -> str:
    """Values of two types meeting: a join on keys of different types (every kind of join), a set
    operation of two columns of different types, ``[NOT] IN (subquery)`` (correlated, over a set
    operation, in HAVING), ``<op> ANY / ALL``, ``EXISTS`` and a scalar subquery correlated on such
    keys, and comparisons of two such columns (results compared as multisets, ``-- multiset``)."""
    form = draw(st.integers(0, 8))
    a, b = draw(_pair())
    if form == 0:
        how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "SEMI JOIN", "ANTI JOIN"]))
        extra = ""
        if how == "JOIN" and draw(st.integers(0, 2)) == 0:  # (outer joins refuse a non-equality beside the key)
            c, e = draw(_pair())
            extra = f" AND t.{c} {draw(st.sampled_from(['=', '<', '>=', '<>']))} u.{e}"
        right = "" if how in ("SEMI JOIN", "ANTI JOIN") else f", u.{b} AS ub, u.id AS uid"
        return f"SELECT t.id, t.{a} AS ta{right} FROM t {how} u ON t.{a} = u.{b}{extra} -- multiset"
    if form == 1:
        op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"]))
        return f"SELECT {a} FROM t {op} SELECT {b} FROM u -- multiset"
    if form == 2:
        neg = draw(st.sampled_from(["", "NOT "]))
        where = f" WHERE u.id {draw(st.sampled_from(['<', '>']))} {draw(st.integers(0, 3))}" if draw(st.booleans()) else ""
        if draw(st.integers(0, 3)) == 0:  # correlated
            where = f" WHERE u.id {draw(st.sampled_from(['<', '<>', '=']))} t.id"
        if draw(st.booleans()):
            return f"SELECT id, {a} {neg}IN (SELECT {b} FROM u{where}) AS c0 FROM t -- multiset"
        return f"SELECT id, {a} FROM t WHERE {a} {neg}IN (SELECT {b} FROM u{where}) -- multiset"
    if form == 3:
        neg = draw(st.sampled_from(["", "NOT "]))
        extra = f" AND u.id {draw(st.sampled_from(['<', '<>']))} t.id" if draw(st.integers(0, 2)) == 0 else ""
        if draw(st.integers(0, 2)) == 0:
            return f"SELECT id, {neg}EXISTS (SELECT 1 FROM u WHERE u.{b} = t.{a}{extra}) AS c0 FROM t -- multiset"
        return f"SELECT id, {a} FROM t WHERE {neg}EXISTS (SELECT 1 FROM u WHERE u.{b} = t.{a}{extra}) -- multiset"
    if form == 4:
        agg = draw(st.sampled_from(["count(*)", "count(u.id)", "min(u.id)", "max(u.s)", "sum(u.i8)"]))
        if draw(st.booleans()):
            return f"SELECT id FROM t WHERE (SELECT count(*) FROM u WHERE u.{b} = t.{a}) > 1 -- multiset"
        return f"SELECT id, (SELECT {agg} FROM u WHERE u.{b} = t.{a}) AS c0 FROM t -- multiset"
    if form == 5:
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "IS DISTINCT FROM", "IS NOT DISTINCT FROM"]))
        return f"SELECT id, ({a} {op} {b}) AS c0 FROM t -- multiset"
    if form == 6:  # a quantified comparison, uncorrelated or correlated on the id
        op = draw(st.sampled_from(["=", "<>", "<", ">="]))
        which = draw(st.sampled_from(["ANY", "ALL"]))
        where = draw(st.sampled_from(["", " WHERE u.id < 3", " WHERE u.id <> t.id"]))
        if draw(st.booleans()):
            return f"SELECT id, {a} {op} {which} (SELECT {b} FROM u{where}) AS c0 FROM t -- multiset"
        return f"SELECT id, {a} FROM t WHERE {a} {op} {which} (SELECT {b} FROM u{where}) -- multiset"
    if form == 7:  # IN over a set operation, IN in HAVING
        c = draw(st.sampled_from(next(g for g in GROUPS if b in g)))
        neg = draw(st.sampled_from(["", "NOT "]))
        if draw(st.booleans()):
            op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]))
            return f"SELECT id, {a} FROM t WHERE {a} {neg}IN (SELECT {b} FROM u {op} SELECT {c} FROM u) -- multiset"
        return f"SELECT {a}, count(*) AS cnt FROM t GROUP BY {a} HAVING {a} {neg}IN (SELECT {b} FROM u) -- multiset"
    c, e = draw(_pair())
    return (f"SELECT {a}, count(*) AS cnt FROM (SELECT {a} FROM t UNION ALL SELECT {b} FROM u) AS x "
            f"GROUP BY {a} -- multiset")
