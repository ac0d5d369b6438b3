"""Three differential SQL fuzzers against DuckDB beside ``sql_fuzz.py`` (used by
``test_sql_shape_fuzz.py``), each over its own small tables:

* ``window_function_query``: window functions whose value depends on the row order or the frame:
  ``row_number``/``ntile`` and ``lag``/``lead`` (offsets 0 to 3, defaults of the value's type, of another
  type or a column), ``first_value``/``last_value``/``nth_value`` with ``IGNORE NULLS`` / ``RESPECT NULLS``
  and ROWS / GROUPS frames (numeric offsets, ``EXCLUDE``), aggregates over such frames, beside
  the tie-independent ``rank``/``dense_rank``/``percent_rank``/``cume_dist`` and the default RANGE
  frame; ORDER BY keys of mixed directions and NULLS FIRST/LAST, an expression as a key; the
  window in a select list, a QUALIFY, a derived table filtered or grouped outside, or an ORDER BY
  ... LIMIT. An order-dependent function is ordered by a unique ``id`` last, so ties cannot change
  its value.
* ``shape_query``: nested query shapes: FROM subqueries two and three levels deep, set operations
  (ALL or not) of two and three inputs with and without parentheses, joins (inner, outer, SEMI,
  ANTI) of derived tables on keys with NULLs, ORDER BY ... LIMIT/OFFSET inside a subquery (a total
  order), a CTE referenced twice (self-join, IN over itself, UNION ALL of itself, a scalar count of
  itself in HAVING).
* ``integer_query``: integers of every width (TINYINT .. BIGINT, UTINYINT .. UINTEGER) at their
  extremes: ``+ - * / // %``, unary minus, ``abs``, ``sign``, casts among the widths (CAST and
  TRY_CAST), comparisons, IN lists and BETWEEN with constants outside the column's type, CASE /
  COALESCE / GREATEST over mixed widths, aggregates of them, grouped by an expression (constant
  ones too). DuckDB's run-time errors (overflow, a cast out of range, a division by zero) must be
  Thresher's too (see ``test_sql_shape_fuzz.run_integer``).
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

D = datetime.date

# -- window functions ----------------------------------------------------------------------------

_WX = st.one_of(st.none(), st.sampled_from([-2, 0, 1, 1, 3, 5]))
_WG = st.one_of(st.none(), st.sampled_from([0, 1, 2]))
_WS = st.one_of(st.none(), st.sampled_from(["a", "b", "B", ""]))
_WF = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, -0.0, 0.5, 2.0, float("nan")]))
_WD = st.one_of(st.none(), st.sampled_from([D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 1), D(2023, 12, 31)]))
_WM = st.one_of(st.none(), st.sampled_from([decimal.Decimal(x) for x in ("-1.50", "0.00", "0.25", "2.50")]))
_WINDOW_COLUMNS = {"g": (_WG, pa.int64()), "x": (_WX, pa.int64()), "y": (_WX, pa.int32()), "s": (_WS, pa.string()),
                   "f": (_WF, pa.float64()), "d": (_WD, pa.date32()), "m": (_WM, pa.decimal128(9, 2))}


@st.composite
def window_tables(draw: Any) -> dict[str, pa.Table]:
    """One table ``t`` of 0..9 rows: a unique ``id`` (in a drawn order) and columns full of NULLs
    and ties (NaN and -0.0 in ``f``)."""
    n = draw(st.integers(0, 9))
    data = {"id": pa.array(draw(st.permutations(list(range(n)))), pa.int64())}
    for c, (values, t) in _WINDOW_COLUMNS.items():
        data[c] = pa.array(draw(st.lists(values, min_size=n, max_size=n)), t)
    return {"t": pa.table(data)}


_DIRECTIONS = ["", " ASC", " DESC", " NULLS FIRST", " NULLS LAST", " DESC NULLS FIRST", " DESC NULLS LAST",
               " ASC NULLS FIRST"]
_ORDER_KEYS = ["x", "y", "s", "f", "d", "m", "g", "x + y", "-x"]


@st.composite
def _order(draw: Any, total: bool) -> str:
    """An ORDER BY list; ``total``: ended by the unique ``id`` (no ties left)."""
    keys = draw(st.lists(st.sampled_from(_ORDER_KEYS), min_size=0 if total else 1, max_size=3, unique=True))
    parts = [f"{k}{draw(st.sampled_from(_DIRECTIONS))}" for k in keys]
    if total:
        parts.append(f"id{draw(st.sampled_from(['', ' DESC']))}")
    return ", ".join(parts)


@st.composite
def _frame(draw: Any) -> str:
    kind = draw(st.sampled_from(["ROWS", "ROWS", "GROUPS"]))
    offsets = ["0", "1", "2", "3"]
    bounds = ["UNBOUNDED PRECEDING", f"{draw(st.sampled_from(offsets))} PRECEDING", "CURRENT ROW",
              f"{draw(st.sampled_from(offsets))} FOLLOWING", "UNBOUNDED FOLLOWING"]
    i = draw(st.integers(0, 3))
    j = draw(st.integers(max(i, 1), 4))
    exclude = draw(st.sampled_from(["", "", "", " EXCLUDE CURRENT ROW", " EXCLUDE GROUP", " EXCLUDE TIES",
                                    " EXCLUDE NO OTHERS"]))
    if draw(st.integers(0, 3)) == 0:  # the short form: a start only
        return f"{kind} {bounds[i]}{exclude}" if i < 3 else ""
    return f"{kind} BETWEEN {bounds[i]} AND {bounds[j]}{exclude}"


#: (also defaults of another type, which DuckDB casts to the value's: lag(x, 1, 0.5) is 1)
_LAG_DEFAULTS = {"x": ["-1", "0", "NULL", "x", "0.5", "-2.5", "'7'", "m", "y"], "s": ["'z'", "NULL", "s", "1", "2.5"],
                 "f": ["0.5", "-1", "m", "x"], "d": ["DATE '2000-01-01'", "'2024-02-29'"],
                 "m": ["0", "1.5", "1.234", "-0.005", "x", "f"], "y": ["x", "0.5", "m"], "x + 1": ["100", "y"]}


@st.composite
def _window(draw: Any) -> str:
    form = draw(st.integers(0, 5))
    part = draw(st.sampled_from(["", "", "PARTITION BY g ", "PARTITION BY s ", "PARTITION BY g, s ",
                                 "PARTITION BY x % 2 "]))
    if form == 0:  # ranks: the same whatever the order among ties
        fn = draw(st.sampled_from(["rank()", "dense_rank()", "percent_rank()", "cume_dist()"]))
        return f"{fn} OVER ({part}ORDER BY {draw(_order(False))})"
    if form == 1:
        fn = draw(st.sampled_from(["row_number()", f"ntile({draw(st.integers(1, 5))})"]))
        return f"{fn} OVER ({part}ORDER BY {draw(_order(True))})"
    if form == 2:
        fn = draw(st.sampled_from(["lag", "lead"]))
        arg = draw(st.sampled_from(sorted(_LAG_DEFAULTS)))
        k = draw(st.sampled_from(["", ", 0", ", 1", ", 2", ", 3"]))
        if k and draw(st.booleans()):
            k += f", {draw(st.sampled_from(_LAG_DEFAULTS[arg]))}"
        return f"{fn}({arg}{k}) OVER ({part}ORDER BY {draw(_order(True))})"
    if form == 3:
        arg = draw(st.sampled_from(["x", "y", "f", "s", "d", "m", "x * 2", "coalesce(x, -9)"]))
        fn = draw(st.sampled_from(["first_value", "last_value", "nth_value"]))
        call = f"{fn}({arg}{', ' + str(draw(st.integers(1, 3))) if fn == 'nth_value' else ''}"
        nulls = draw(st.sampled_from(["", "", " IGNORE NULLS", " RESPECT NULLS"]))
        frame = draw(_frame()) if draw(st.booleans()) else ""
        return f"{call}{nulls}) OVER ({part}ORDER BY {draw(_order(True))} {frame})"
    if form == 4:
        agg = draw(st.sampled_from(["sum", "count", "min", "max", "avg", "count(*)"]))
        arg = draw(st.sampled_from(["x", "y", "f", "m"]))
        call = "count(*)" if agg == "count(*)" else f"{agg}({arg if agg != 'min' or draw(st.booleans()) else 's'})"
        return f"{call} OVER ({part}ORDER BY {draw(_order(True))} {draw(_frame())})"
    agg = draw(st.sampled_from(["sum(x)", "count(*)", "min(s)", "max(f)", "avg(m)"]))
    frame = draw(st.sampled_from(["", "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                                  "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
                                  "GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW",
                                  "RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE GROUP"]))
    return f"{agg} OVER ({part}ORDER BY {draw(_order(False))} {frame})"


@st.composite
def window_function_query(draw: Any) -> str:
    ws = [draw(_window()) for _ in range(draw(st.integers(1, 3)))]
    where = draw(st.sampled_from(["", "", " WHERE x IS NOT NULL", " WHERE g <> 1", " WHERE s > 'a'"]))
    items = ", ".join(f"{w} AS w{i}" for i, w in enumerate(ws))
    form = draw(st.integers(0, 4))
    if form == 0:
        return f"SELECT id, {items} FROM t{where}"
    if form == 1:
        return f"SELECT id, {items} FROM t{where} QUALIFY {ws[0]} IS NOT NULL"
    if form == 2:
        return f"SELECT id, w0 AS c FROM (SELECT id, {items} FROM t{where}) AS q WHERE w0 IS NOT NULL"
    if form == 3:
        return f"SELECT id, {items} FROM t{where} ORDER BY w0 NULLS FIRST, id LIMIT {draw(st.integers(0, 5))}"
    return f"SELECT g, count(*) AS n, max(w0) AS mx FROM (SELECT id, g, {items} FROM t{where}) AS q GROUP BY g"


# -- query shapes --------------------------------------------------------------------------------

_SX = st.one_of(st.none(), st.sampled_from([-2, 0, 1, 1, 3]))
_SS = st.one_of(st.none(), st.sampled_from(["a", "b", "B", ""]))
_SF = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 2.0]))
_SHAPE_COLUMNS = ["k", "v", "s", "f"]
_SET_OPS = ["UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"]
_SORTS = ["", " DESC", " NULLS FIRST", " DESC NULLS LAST"]


@st.composite
def shape_tables(draw: Any) -> dict[str, pa.Table]:
    """Tables ``t`` and ``u`` of 0..7 rows with the same columns ``(k, v, s, f)``."""
    out = {}
    for name in ("t", "u"):
        n = draw(st.integers(0, 7))
        out[name] = pa.table({"k": pa.array(draw(st.lists(_SX, min_size=n, max_size=n)), pa.int64()),
                              "v": pa.array(draw(st.lists(_SX, min_size=n, max_size=n)), pa.int32()),
                              "s": pa.array(draw(st.lists(_SS, min_size=n, max_size=n)), pa.string()),
                              "f": pa.array(draw(st.lists(_SF, min_size=n, max_size=n)), pa.float64())})
    return out


@st.composite
def _relation(draw: Any, depth: int = 0) -> str:
    """A table or a parenthesized query with the columns ``(k, v, s, f)``."""
    form = draw(st.integers(0, 6 if depth < 2 else 1))
    t = draw(st.sampled_from(["t", "u"]))
    if form == 0:
        return t
    if form == 1:
        cond = draw(st.sampled_from(["k > 0", "s IS NOT NULL", "v <> 1", "f < 1", "k IS NULL OR v > 0", "NOT (k = v)"]))
        return f"(SELECT * FROM {t} WHERE {cond})"
    if form == 2:
        a, b = draw(_relation(depth + 1)), draw(_relation(depth + 1))
        return f"(SELECT * FROM {a} AS l{depth} {draw(st.sampled_from(_SET_OPS))} SELECT * FROM {b} AS r{depth})"
    if form == 3:
        op1, op2 = draw(st.sampled_from(_SET_OPS)), draw(st.sampled_from(_SET_OPS))
        a, b, c = draw(_relation(depth + 1)), draw(_relation(depth + 1)), draw(_relation(depth + 1))
        if draw(st.booleans()):
            return (f"(SELECT * FROM {a} AS a{depth} {op1} (SELECT * FROM {b} AS b{depth} {op2} "
                    f"SELECT * FROM {c} AS c{depth}))")
        return f"(SELECT * FROM {a} AS a{depth} {op1} SELECT * FROM {b} AS b{depth} {op2} SELECT * FROM {c} AS c{depth})"
    if form == 4:  # a total order: every column a key
        order = ", ".join(f"{c}{draw(st.sampled_from(_SORTS))}" for c in draw(st.permutations(_SHAPE_COLUMNS)))
        return (f"(SELECT * FROM {draw(_relation(depth + 1))} AS o{depth} ORDER BY {order} "
                f"LIMIT {draw(st.integers(0, 4))} OFFSET {draw(st.integers(0, 2))})")
    if form == 5:
        return (f"(SELECT k + 1 AS k, CASE WHEN v > 0 THEN v ELSE NULL END AS v, upper(s) AS s, f * 2 AS f "
                f"FROM {draw(_relation(depth + 1))} AS p{depth})")
    a, b = draw(_relation(depth + 1)), draw(_relation(depth + 1))
    how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "SEMI JOIN", "ANTI JOIN"]))
    key = draw(st.sampled_from(["k", "s"]))
    if how in ("SEMI JOIN", "ANTI JOIN"):
        return f"(SELECT j1.* FROM {a} AS j1 {how} {b} AS j2 ON j1.{key} = j2.{key})"
    side = "j2" if how == "RIGHT JOIN" else "j1"
    return f"(SELECT {side}.k, j2.v, {side}.s, j1.f FROM {a} AS j1 {how} {b} AS j2 ON j1.{key} = j2.{key})"


@st.composite
def shape_query(draw: Any) -> str:
    rel = draw(_relation())
    if draw(st.booleans()):  # a CTE, read once or twice
        head = f"WITH c AS {rel if rel.startswith('(') else f'(SELECT * FROM {rel})'} "
        form = draw(st.integers(0, 5))
        if form == 1:
            how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "FULL JOIN"]))
            return f"{head}SELECT x.k, x.s, y.v FROM c AS x {how} c AS y ON x.k = y.v"
        if form == 2:
            return f"{head}SELECT k, count(*) AS n FROM c GROUP BY k HAVING count(*) > (SELECT count(*) FROM c) / 4"
        if form == 3:
            return (f"{head}SELECT * FROM c WHERE k IN (SELECT v FROM c WHERE v IS NOT NULL) "
                    f"UNION ALL SELECT * FROM c WHERE s = 'a'")
        src = "c"
    else:
        head, src = "", rel
        form = draw(st.sampled_from([0, 4, 5]))
    if form == 4:
        return f"{head}SELECT s, sum(v) AS sv, count(DISTINCT k) AS dk FROM {src} AS q GROUP BY s"
    if form == 5:
        return f"{head}SELECT DISTINCT k, s FROM {src} AS q"
    return f"{head}SELECT * FROM {src} AS q"


# -- integers of every width ---------------------------------------------------------------------

INTEGER_COLUMNS: dict[str, tuple[pa.DataType, list[int | None]]] = {
    "i8": (pa.int8(), [None, 0, 1, -1, 127, -128, 100, -7]),
    "i16": (pa.int16(), [None, 0, 3, -3, 32767, -32768, 300]),
    "i32": (pa.int32(), [None, 0, 7, -7, 2**31 - 1, -2**31, 65536]),
    "i64": (pa.int64(), [None, 0, -2, 5, 2**63 - 1, -2**63, 2**32]),
    "u8": (pa.uint8(), [None, 0, 1, 255, 128]),
    "u16": (pa.uint16(), [None, 0, 2, 65535]),
    "u32": (pa.uint32(), [None, 0, 3, 2**32 - 1]),
}
_INT_NAMES = list(INTEGER_COLUMNS)
_INT_LITERALS = ["0", "1", "-1", "2", "127", "128", "-129", "255", "256", "300", "32768", "65536", "2147483648",
                 "-2147483649", "4294967296", "9223372036854775807", "1.5", "-0.5", "NULL", "CAST(1 AS TINYINT)",
                 "CAST(200 AS UTINYINT)", "CAST(-5 AS SMALLINT)"]
# (no UBIGINT: its sum with a signed integer is a HUGEINT, which Thresher does not have)
_INT_TYPES = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "DOUBLE",
              "DECIMAL(5, 1)", "DECIMAL(18, 0)", "VARCHAR"]


@st.composite
def integer_tables(draw: Any) -> dict[str, pa.Table]:
    n = draw(st.integers(0, 6))
    data = {"id": pa.array(range(n), pa.int64())}
    for c, (t, values) in INTEGER_COLUMNS.items():
        data[c] = pa.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)), t)
    return {"t": pa.table(data)}


@st.composite
def _int_expr(draw: Any, depth: int = 0) -> str:
    leaf = st.sampled_from(_INT_NAMES + _INT_NAMES + _INT_LITERALS)
    if depth >= 2:
        return str(draw(leaf))
    sub = _int_expr(depth + 1)
    form = draw(st.integers(0, 9))
    if form <= 2:
        return str(draw(leaf))
    if form == 3:
        return f"({draw(sub)} {draw(st.sampled_from(['+', '-', '*', '//', '%', '/']))} {draw(sub)})"
    if form == 4:
        return f"{draw(st.sampled_from(['abs', 'sign', '-', 'ceil', 'floor']))}({draw(sub)})"
    if form == 5:
        return f"{draw(st.sampled_from(['CAST', 'TRY_CAST']))}({draw(sub)} AS {draw(st.sampled_from(_INT_TYPES))})"
    if form == 6:
        return f"CASE WHEN {draw(_int_predicate(depth + 1))} THEN {draw(sub)} ELSE {draw(sub)} END"
    if form == 7:
        fn = draw(st.sampled_from(["coalesce", "greatest", "least", "nullif", "ifnull"]))
        return f"{fn}({draw(sub)}, {draw(sub)})"
    return f"CAST({draw(_int_predicate(depth + 1))} AS INTEGER)"


@st.composite
def _int_predicate(draw: Any, depth: int = 0) -> str:
    form = draw(st.integers(0, 3))
    a = draw(_int_expr(depth + 1))
    if form <= 1:
        return f"{a} {draw(st.sampled_from(['=', '<>', '<', '<=', '>', '>=']))} {draw(_int_expr(depth + 1))}"
    if form == 2:
        values = draw(st.lists(st.sampled_from(_INT_LITERALS), min_size=1, max_size=3))
        return f"{a} {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(values)})"
    return f"{a} BETWEEN {draw(_int_expr(depth + 1))} AND {draw(_int_expr(depth + 1))}"


@st.composite
def integer_query(draw: Any) -> str:
    form = draw(st.integers(0, 4))
    items = [draw(_int_expr()) for _ in range(draw(st.integers(1, 2)))]
    where = f" WHERE {draw(_int_predicate())}" if draw(st.integers(0, 2)) == 0 else ""
    if form == 0:
        items = [f"({draw(_int_predicate())})"] + items[1:]
    if form == 1:
        aggs = [f"{draw(st.sampled_from(['sum', 'min', 'max', 'avg', 'count']))}({e})" for e in items]
        return f"SELECT {', '.join(f'{e} AS c{i}' for i, e in enumerate(aggs))} FROM t{where}"
    if form == 2:
        return f"SELECT {items[0]} AS c0, count(*) AS c1 FROM t{where} GROUP BY 1"
    return f"SELECT id, {', '.join(f'{e} AS c{i}' for i, e in enumerate(items))} FROM t{where}"
