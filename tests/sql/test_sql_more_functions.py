"""DuckDB's smaller functions (``planner/sql/more_functions.py``) answered as DuckDB answers them
(differential tests, the same Arrow tables through both): isnan / isinf / isfinite, trunc, SIMILAR
TO, GLOB, dayname / monthname, the date part functions (quarter, hour, week, dayofyear, ...),
EXTRACT(epoch ...), prefix, pi and the trigonometric functions, degrees / radians, stddev_pop /
var_pop, count_if, approx_count_distinct, bit_and / bit_or / bit_xor and ROUND of an integer to a negative number of digits.
Each was refused before ("unknown function", "unsupported SQL construct")."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest

import thresher as th
from duckdb_diff import duckdb_rows, thresher_rows
from thresher.errors import ThresherError

pytest.importorskip("duckdb")

D = decimal.Decimal
T = pa.table({
    "g": pa.array([1, 1, 2, 2, 3, 3, None, 1], pa.int64()),
    "i": pa.array([1, -2, None, 4, 5, 15, -15, 0], pa.int64()),
    "k": pa.array([7, -25, 125, None, 0, -5, 45, 99], pa.int32()),
    "f": pa.array([1.5, float("nan"), float("inf"), None, -2.25, -0.5, float("-inf"), 0.0]),
    "r": pa.array([1.5, -2.7, None, 0.25, 3.0, -0.0, 2.5, 1e10], pa.float32()),
    "m": pa.array([D("1.57"), D("-2.79"), None, D("0.00"), D("-0.50"), D("9.99"), D("12.01"), D("-100.00")],
                  pa.decimal128(7, 2)),
    "s": pa.array(["apple", "Banana", None, "cherry pie", "a_b", "a\nb", "é*?", "[x]"]),
    "d": pa.array([datetime.date(2024, 1, 31), datetime.date(2023, 2, 28), None, datetime.date(2024, 2, 29),
                   datetime.date(1969, 12, 31), datetime.date(2021, 1, 3), datetime.date(2020, 12, 28),
                   datetime.date(1900, 3, 1)]),
    "ts": pa.array([datetime.datetime(2024, 1, 31, 12, 30, 5, 250000), None, datetime.datetime(2023, 6, 1),
                    datetime.datetime(2024, 2, 29, 23, 59, 59), datetime.datetime(1969, 12, 31, 23, 59, 59, 500000),
                    datetime.datetime(2021, 1, 3, 7, 8, 9), datetime.datetime(2000, 1, 1), None],
                   pa.timestamp("us")),
})
TABLES = {"t": T}

QUERIES = [
    # isnan / isinf / isfinite: of floats, integers and DECIMALs (finite), NULLs
    "SELECT i, isnan(f) AS a, isinf(f) AS b, isfinite(f) AS c, isnan(i) AS e, isinf(m) AS h, isfinite(r) AS j FROM t",
    "SELECT i FROM t WHERE isfinite(f) AND NOT isnan(r)",
    # trunc: toward zero, of x's type (DECIMAL(p, 0))
    "SELECT i, trunc(f) AS a, trunc(r) AS b, trunc(m) AS c, trunc(i) AS e, trunc(k) AS h, trunc(f * 3.5) AS j FROM t",
    # SIMILAR TO (a regular expression over the whole text) and GLOB
    "SELECT i, s SIMILAR TO 'a.*' AS a, s NOT SIMILAR TO '[a-z]+' AS b, s SIMILAR TO '(?i)APPLE' AS c, "
    "s SIMILAR TO 'a.b' AS e FROM t",
    "SELECT i, s GLOB 'a*' AS a, s GLOB '?pple' AS b, s GLOB '*[!a-c]' AS c, s GLOB '[Bc]*' AS e, "
    "s GLOB 'a\\_b' AS h, s NOT GLOB '*e' AS j, s GLOB 'a?b' AS l, s GLOB '?\\*\\?' AS n, s GLOB '[[]x]' AS o, "
    "s GLOB '[^a]*' AS p, s GLOB '' AS q FROM t",
    "SELECT i FROM t WHERE s GLOB '*a*' OR s SIMILAR TO '.*e'",
    # dayname / monthname (English), date parts as functions
    "SELECT i, dayname(d) AS a, monthname(d) AS b, dayname(ts) AS c, monthname(ts) AS e FROM t",
    "SELECT i, quarter(d) AS a, week(d) AS b, weekofyear(ts) AS c, dayofyear(d) AS e, dayofweek(d) AS h, "
    "isodow(d) AS j, dayofmonth(ts) AS l, weekday(d) AS n FROM t",
    "SELECT i, hour(ts) AS a, minute(ts) AS b, second(ts) AS c, hour(d) AS e, second(d) AS h FROM t",
    # epoch: seconds as a DOUBLE, of a DATE too
    "SELECT i, extract(epoch FROM ts) AS a, extract(epoch FROM d) AS b, date_part('epoch', ts) AS c FROM t",
    # prefix, pi, trigonometry, degrees / radians
    "SELECT i, prefix(s, 'a') AS a, prefix(s, '') AS b, prefix('apple', s) AS c FROM t",
    "SELECT i, pi() AS a, sin(f) AS b, cos(i) AS c, tan(m) AS e, atan(f) AS h, atan2(f, i) AS j, "
    "degrees(f) AS l, radians(k) AS n FROM t",
    # round of an integer to tens, hundreds, ... (half away from zero, of its type)
    "SELECT i, round(i, -1) AS a, round(k, -1) AS b, round(k, -2) AS c, round(i * 7, -1) AS e, "
    "round(k, -25) AS h, round(-15, -1) AS j, round(15, -1) AS l FROM t",
]

AGGREGATES = [
    "SELECT g, stddev_pop(i) AS a, var_pop(k) AS b, var_pop(f) AS c, stddev_pop(r) AS e "
    "FROM t GROUP BY g",
    "SELECT stddev_pop(i) AS a, var_pop(k) AS b FROM t",
    "SELECT stddev_pop(i) AS a, var_pop(k) AS b FROM t WHERE g > 100",
    "SELECT g, count_if(i > 1) AS a, count_if(s GLOB 'a*') AS b, count_if(NULL) AS c FROM t GROUP BY g",
    "SELECT count_if(i > 1) AS a, count_if(i > 100) AS b FROM t",
    "SELECT g, approx_count_distinct(s) AS a, approx_count_distinct(k % 2) AS b FROM t GROUP BY g",
    "SELECT g, count_if(k > 0) OVER (PARTITION BY g) AS b FROM t",
    # bit_and / bit_or / bit_xor: of the type, NULLs skipped, NULL over none; over whole partitions
    "SELECT g, bit_and(i) AS a, bit_or(k) AS b, bit_xor(i) AS c, bit_xor(CAST(k AS TINYINT)) AS e FROM t GROUP BY g",
    "SELECT bit_and(k) AS a, bit_or(i) AS b, bit_xor(k) AS c FROM t",
    "SELECT bit_and(k) AS a, bit_or(i) AS b FROM t WHERE g > 100",
    "SELECT g, i, bit_or(i) OVER (PARTITION BY g) AS a, bit_xor(k) OVER () AS b FROM t",
]


@pytest.mark.parametrize("query", QUERIES + AGGREGATES)
def test_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


def test_types_as_duckdb() -> None:
    from duckdb_diff import column_types

    query = ("SELECT isnan(f) AS a, trunc(f) AS b, trunc(m) AS c, trunc(k) AS e, round(k, -1) AS h, "
             "dayname(d) AS j, quarter(d) AS l, extract(epoch FROM ts) AS n, pi() AS o, s GLOB 'a*' AS p, "
             "bit_or(k) OVER () AS q, bit_xor(CAST(k AS SMALLINT)) OVER () AS r FROM t")
    got, want = column_types(query, TABLES)
    assert got == want


def test_integer_round_overflow_raises_as_duckdb() -> None:
    with pytest.raises(ThresherError, match="Overflow in ROUND"):
        th.sql("SELECT round(CAST(9223372036854775807 AS BIGINT), -1) AS r").to_arrow()
    with pytest.raises(ThresherError, match="Overflow in ROUND"):
        th.sql("SELECT round(k, -1) AS r FROM t", t=th.from_arrow(pa.table({"k": pa.array([125], pa.int8())}))
               ).to_arrow()


@pytest.mark.parametrize(("query", "names"), [
    ("SELECT trunc(f, 2) FROM t", "trunc(x, digits)"),
    ("SELECT s GLOB 'a\\' FROM t", "backslash"),
    ("SELECT s GLOB '[ab' FROM t", "unclosed"),
    ("SELECT s GLOB s FROM t", "GLOB needs a text literal"),
    ("SELECT week(d, 1) FROM t", "week(d, mode)"),
    ("SELECT bit_and(f) FROM t", "only integers"),
])
def test_refused_with_construct_and_position(query: str, names: str) -> None:
    with pytest.raises(ThresherError, match="line 1, column") as err:
        th.sql(query, t=th.from_arrow(T)).to_arrow()
    assert names in str(err.value)


DEC = pa.table({
    "g": pa.array([1, 1, 1, 2, 2, 3, 3, 3, 3, None], pa.int64()),
    "m": pa.array([D("1.00"), D("2.01"), D("-3.02"), D("0.10"), None, D("237.96"), D("708.11"), D("-4.87"),
                   D("-449.62"), D("5.55")], pa.decimal128(9, 2)),
    "w": pa.array([D("1"), D("2"), D("4"), D("-7"), D("8"), None, D("3"), D("5"), D("6"), D("9")], pa.decimal128(18, 0)),
})


@pytest.mark.parametrize("query", [
    "SELECT g, quantile_cont(m, 0.5) AS a, quantile_cont(m, 0.1) AS b, median(m) AS c, median(w) AS e, "
    "quantile_cont(w, 0.33) AS h FROM t GROUP BY g",
    "SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY m) AS a, median(m) AS b, quantile_cont(w, 0.9) AS c FROM t",
    "SELECT median(m) AS a FROM t WHERE g > 100",
    "SELECT g, median(m) FILTER (WHERE m > 0) AS a FROM t GROUP BY g",
])
def test_decimal_quantile_cont_and_median_as_duckdb(query: str) -> None:
    """quantile_cont / median of a DECIMAL: a DECIMAL of its type, the unscaled values interpolated
    in double precision and truncated (1.00 and 2.01: 1.50), as DuckDB; quantile_cont was refused
    and median answered the DOUBLE 1.505."""
    from duckdb_diff import column_types

    assert thresher_rows(query, {"t": DEC}) == duckdb_rows(query, {"t": DEC})
    got, want = column_types(query, {"t": DEC})
    assert got == want
