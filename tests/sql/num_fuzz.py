"""A differential fuzzer of SQL numeric expressions over every numeric type against DuckDB.

Hypothesis draws a small table ``t`` (an ``id``, a group key ``g`` and one column of each numeric
type: TINYINT ``i8``, SMALLINT ``i16``, INTEGER ``i32``, BIGINT ``i64``, UBIGINT ``u64``, FLOAT
``f``, DOUBLE ``d``, DECIMAL(9, 2) ``m`` and DECIMAL(18, 4) ``n``, NULLs among the values; a HUGEINT
is ``CAST(... AS HUGEINT)``) and a query over an expression built from them: ``+ - * / // %``,
unary minus, ROUND (with and without digits), FLOOR, CEIL, ABS, SQRT, POWER, LN, LOG10, LOG2, LOG(b, x),
EXP, SIGN, CAST to each
numeric type, CASE / COALESCE / GREATEST / LEAST mixing types, and integer, DECIMAL and DOUBLE
literals. The query shapes: the expressions selected, compared in WHERE (with a literal or another
expression, where the translator types a predicate before it knows the input's types), filtered
through a derived table, aggregated (sum, avg, min, max, var_samp, var_pop, stddev_samp,
stddev_pop; grouped or not, in HAVING).

Each query must give DuckDB's rows (floats equal to within ``REL`` of each other: the same
operations in the same precision give the same bits, sums of many terms may not) and DuckDB's
result types as Arrow types (a DECIMAL's scale only: Thresher's precision is 38; see
``sql_fuzz.KNOWN_TYPE_DIFFERENCES`` for the other accepted differences), or be refused with a
``ThresherError``. A query DuckDB refuses (an overflow, a division of integers by zero) is skipped.

Used by ``test_sql_num_fuzz.py``.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

D = decimal.Decimal

#: column -> (Arrow type, values drawn from); the values stay small enough that sums and products
#: of a few of them fit every type (DuckDB's overflow errors are skipped, not compared)
COLUMNS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "i8": (pa.int8(), [None, 0, 1, -1, 2, 3, -7, 10, 100]),
    "i16": (pa.int16(), [None, 0, 1, -2, 3, 7, 300, -1000]),
    "i32": (pa.int32(), [None, 0, 1, -3, 5, 7, 100000, -65536]),
    "i64": (pa.int64(), [None, 0, 1, -1, 6, -9, 33333, 3000000000]),
    "u64": (pa.uint64(), [None, 0, 1, 2, 7, 12, 100000]),
    "f": (pa.float32(), [None, 0.0, -0.0, 1.1, 2.675, -2.5, 0.285, 100000.0, 3.3, 1e-3, 0.1, 99999.99, 0.5]),
    "d": (pa.float64(), [None, 0.0, -0.0, 1.1, 2.675, -2.5, 0.285, 1e10, 3.3, 0.1, 1.0 / 3, 0.5, -1e-7]),
    "m": (pa.decimal128(9, 2), [None] + [D(x) for x in ["0.00", "1.10", "-2.50", "2.68", "0.29", "99.99", "-0.01",
                                                          "3.30", "0.50", "1000.00"]]),
    "n": (pa.decimal128(18, 4), [None] + [D(x) for x in ["0.0000", "1.1000", "-2.5000", "2.6750", "0.2850", "3.3333",
                                                           "-0.0001", "12345.6789", "0.5000"]]),
}
NUMERIC = [c for c in COLUMNS]
LITERALS = ["0", "1", "2", "3", "-1", "7", "10", "100", "3000000000", "1.1", "2.5", "0.5", "2.675", "33333.33",
            "-0.01", "1e3", "1.5e0", "0.1e0", "NULL", "CAST(2 AS TINYINT)", "CAST(3 AS FLOAT)", "CAST(1.1 AS FLOAT)",
            "CAST(5 AS UBIGINT)", "CAST(7 AS HUGEINT)", "CAST(1.25 AS DECIMAL(5, 2))", "CAST(2.5 AS DOUBLE)"]
CAST_TYPES = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UBIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL(9, 2)",
              "DECIMAL(18, 4)", "DECIMAL(5, 1)", "DECIMAL(38, 10)"]
BINARY = ["+", "-", "*", "/", "//", "%"]
OPS = ["=", "<>", "<", "<=", ">", ">="]
AGGS = ["sum", "avg", "min", "max", "var_samp", "var_pop", "stddev_samp", "stddev_pop"]
#: aggregates whose value depends on the order the terms are added in (compared within REL_SUM)
ORDER_DEPENDENT = ("sum(", "avg(", "var_", "stddev_")

#: relative tolerance of floats (a float computed the same way in the same precision is the same)
REL = 0.0
#: of floats summed over rows (the order of the terms may differ)
REL_SUM = 1e-9


@st.composite
def tables(draw: Any, max_rows: int = 6) -> pa.Table:
    n = draw(st.integers(0, max_rows))
    data: dict[str, pa.Array] = {"id": pa.array(range(n), pa.int64()),
                                 "g": pa.array(draw(st.lists(st.sampled_from([None, 1, 2]), min_size=n, max_size=n)),
                                               pa.int64())}
    for name, (typ, values) in COLUMNS.items():
        data[name] = pa.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)), typ)
    return pa.table(data)


def leaf(draw: Any) -> str:
    k = draw(st.integers(0, 9))
    if k <= 5:
        return draw(st.sampled_from(NUMERIC))
    if k <= 8:
        return draw(st.sampled_from(LITERALS))
    return f"CAST({draw(st.sampled_from(NUMERIC))} AS HUGEINT)"


def expr(draw: Any, depth: int = 2) -> str:  # noqa: C901  (one grammar)
    if depth <= 0:
        return leaf(draw)
    k = draw(st.integers(0, 14))
    sub = lambda: expr(draw, depth - 1)  # noqa: E731
    if k <= 3:
        return f"({sub()} {draw(st.sampled_from(BINARY))} {sub()})"
    if k == 4:
        return leaf(draw)
    if k == 5:
        return f"(-{sub()})"
    if k == 6:
        fn = draw(st.sampled_from(["round", "floor", "ceil", "abs", "sign"]))
        return f"{fn}({sub()})"
    if k == 7:
        return f"round({sub()}, {draw(st.sampled_from(['0', '1', '2', '-1', '3']))})"
    if k == 8:
        fn = draw(st.sampled_from(["sqrt(abs({}))", "ln(abs({}) + 1)", "power({}, 2)", "power(abs({}), 0.5)",
                                   "exp(sign({}))", "log10(abs({}) + 1)", "log2(abs({}) + 1)",
                                   "log(3, abs({}) + 1)", "power({}, 3)", "{} ** 2"]))
        return fn.format(sub())
    if k == 9:
        return f"CAST({sub()} AS {draw(st.sampled_from(CAST_TYPES))})"
    if k == 10:
        return f"CASE WHEN {pred(draw, depth - 1)} THEN {sub()} ELSE {sub()} END"
    if k == 11:
        return f"CASE WHEN {pred(draw, depth - 1)} THEN {sub()} END"
    if k == 12:
        fn = draw(st.sampled_from(["coalesce", "greatest", "least"]))
        return f"{fn}({sub()}, {sub()})"
    if k == 13:
        return f"({sub()} {draw(st.sampled_from(['/', '*']))} {draw(st.sampled_from(LITERALS))})"
    return f"({draw(st.sampled_from(NUMERIC))} {draw(st.sampled_from(BINARY))} {draw(st.sampled_from(NUMERIC))})"


def pred(draw: Any, depth: int = 1) -> str:
    k = draw(st.integers(0, 3))
    if k == 0:
        return f"{expr(draw, depth)} {draw(st.sampled_from(OPS))} {draw(st.sampled_from(LITERALS))}"
    if k == 1:
        return f"{expr(draw, depth)} {draw(st.sampled_from(OPS))} {expr(draw, depth)}"
    if k == 2:
        return f"{expr(draw, depth)} BETWEEN {draw(st.sampled_from(LITERALS))} AND {draw(st.sampled_from(LITERALS))}"
    return f"{expr(draw, depth)} IN ({draw(st.sampled_from(LITERALS))}, {draw(st.sampled_from(LITERALS))})"


#: one-argument forms that keep a value (or nearly), for WHERE ``form = constant`` to find
KEEPING = ["{}", "abs({})", "round({}, 2)", "round({}, 3)", "round({})", "ceil({})", "floor({})", "-(-{})", "sqrt({} * {})",
           "power({}, 1)", "{} * 1", "{} / 1", "{} + 0", "{} - 0", "coalesce({}, 0)", "greatest({}, -5)", "least({}, 1e6)",
           "CASE WHEN id >= 0 THEN {} END", "CASE WHEN id < 0 THEN 0 ELSE {} END", "{} // 1", "{} % 1e9",
           "CAST({} AS DOUBLE)", "CAST({} AS FLOAT)", "CAST({} AS DECIMAL(18, 4))", "ln(exp({}))", "sign({}) * abs({})"]
#: constants equal to values the columns hold (as DECIMAL, DOUBLE and FLOAT literals)
HELD = ["1.1", "2.675", "0.285", "3.3", "0.1", "99999.99", "100000", "2.68", "2.67", "1.10", "0.29", "1.1e0", "3.3e0",
        "CAST(1.1 AS FLOAT)", "CAST(2.675 AS FLOAT)", "2.6750", "12345.6789", "0.5", "-2.5", "33333.33", "3", "7"]


@st.composite
def queries(draw: Any) -> str:
    shape = draw(st.integers(0, 6))
    if shape == 6:  # a form that keeps a column's value compared with a constant it holds (typed late)
        form = draw(st.sampled_from(KEEPING))
        x = draw(st.sampled_from(NUMERIC))
        e = form.replace("{}", x)
        op = draw(st.sampled_from(["=", "=", "<>", "<", ">="]))
        return f"SELECT id, {x} FROM t WHERE {e} {op} {draw(st.sampled_from(HELD))}"
    if shape == 0:  # expressions selected
        items = [f"{expr(draw)} AS c{i}" for i in range(draw(st.integers(1, 3)))]
        return f"SELECT id, {', '.join(items)} FROM t"
    if shape == 1:  # a WHERE (typed before the translator knows the types), the compared values shown
        a = expr(draw)
        op = draw(st.sampled_from(OPS))
        b = draw(st.sampled_from(LITERALS)) if draw(st.booleans()) else expr(draw, 1)
        return f"SELECT id, {a} AS c0 FROM t WHERE {a} {op} {b}"
    if shape == 2:  # a predicate selected and a WHERE of another form
        return f"SELECT id, {pred(draw, 2)} AS c0 FROM t WHERE {pred(draw, 1)} OR id = 0"
    if shape == 3:  # a derived table filtered on its expression
        a = expr(draw)
        return (f"SELECT id, v FROM (SELECT id, {a} AS v FROM t) WHERE v {draw(st.sampled_from(OPS))} "
                f"{draw(st.sampled_from(LITERALS))}")
    if shape == 4:  # aggregates, grouped or not
        aggs = [f"{draw(st.sampled_from(AGGS))}({expr(draw, 1)}) AS a{i}" for i in range(draw(st.integers(1, 3)))]
        if draw(st.booleans()):
            return f"SELECT g, {', '.join(aggs)} FROM t GROUP BY g"
        return f"SELECT {', '.join(aggs)} FROM t"
    agg = f"{draw(st.sampled_from(AGGS))}({expr(draw, 1)})"
    return (f"SELECT g, {agg} AS a0 FROM t GROUP BY g HAVING {agg} {draw(st.sampled_from(OPS))} "
            f"{draw(st.sampled_from(LITERALS))}")


# -- comparing results ---------------------------------------------------------------------------

def _norm(v: object) -> object:
    if isinstance(v, float) and v == 0.0:
        return 0.0  # (-0.0 equals 0.0 in SQL)
    if isinstance(v, bool):
        return int(v)
    return v


def _key(row: tuple[object, ...]) -> tuple[tuple[int, str], ...]:
    out = []
    for v in map(_norm, row):
        if v is None:
            out.append((0, ""))
        elif isinstance(v, (int, float, D)):
            out.append((1, "nan" if isinstance(v, float) and math.isnan(v) else f"{float(v):.8e}"))
        else:
            out.append((2, str(v)))
    return tuple(out)


def same(a: object, b: object, rel: float) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float, D)) and isinstance(b, (int, float, D)):
        if isinstance(a, float) or isinstance(b, float):
            x, y = float(a), float(b)
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            # (sums over rows: a variance of equal values is 0 in DuckDB, whose streaming sums
            # cancel exactly, and ~1e-16 in Polars' two passes)
            return x == y or math.isclose(x, y, rel_tol=rel, abs_tol=0.0 if rel == REL else 1e-12)
        return a == b
    return a == b


#: SUM of a UBIGINT is a UBIGINT (DuckDB: a HUGEINT), as SUM of a BIGINT is a BIGINT (see
#: ``sql_fuzz.KNOWN_TYPE_DIFFERENCES``)
UNSIGNED_SUM = {("uint64", "decimal(scale 0)")}


def type_name(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"decimal(scale {t.scale})"
    return str(t)


def differences(query: str, got: pa.Table, want: pa.Table) -> str | None:
    if got.num_columns != want.num_columns:
        return f"{got.num_columns} columns vs DuckDB's {want.num_columns}"
    from sql_fuzz import KNOWN_TYPE_DIFFERENCES

    for i, (g, w) in enumerate(zip(got.schema.types, want.schema.types)):
        pair = (type_name(g), type_name(w))
        if pair[0] != pair[1] and pair not in KNOWN_TYPE_DIFFERENCES | UNSIGNED_SUM and not pa.types.is_null(w):
            return f"column {i}: type {g} vs DuckDB's {w}"
    rel = REL_SUM if any(a in query for a in ORDER_DEPENDENT) else REL
    g_rows = sorted(zip(*(c.to_pylist() for c in got.columns)), key=_key) if got.num_rows else []
    w_rows = sorted(zip(*(c.to_pylist() for c in want.columns)), key=_key) if want.num_rows else []
    if len(g_rows) != len(w_rows) or not all(all(same(x, y, rel) for x, y in zip(a, b))
                                             for a, b in zip(g_rows, w_rows)):
        return f"rows differ: {g_rows}\nvs DuckDB's    {w_rows}"
    return None
