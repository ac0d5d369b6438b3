"""SQL's run-time arithmetic errors, as DuckDB raises them: differential tests.

Polars (and the DataFrame API, which follows it) wraps an integer that overflows and gives NULL
for an integer ``%`` or ``//`` by zero (inf for ``//`` of doubles); DuckDB raises ("Overflow in
multiplication of INT16", "Division by zero"). Thresher's SQL used to give the wrapped / NULL
value: a silent wrong answer. Now it raises too, but only on the rows DuckDB evaluates the
arithmetic on: a CASE branch's rows, a COALESCE argument's, the rows a WHERE's other AND terms
keep, an OR's other side does not keep. DuckDB's ``/`` is a DOUBLE division (``1 / 0`` is inf, ``0 /
0`` NaN), as Thresher's: not checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from duckdb_diff import duckdb_rows, thresher_rows
from thresher.errors import ThresherExecutionError

duckdb = pytest.importorskip("duckdb")

T = pa.table({
    "n": pa.array([1, 6, None, -7], pa.int32()),
    "d": pa.array([0, 2, 0, 3], pa.int32()),
    "f": pa.array([1.5, 0.0, None, 2.0], pa.float64()),
    "m": pa.array([Decimal("2.50"), Decimal("0.00"), None, Decimal("1.25")], pa.decimal128(9, 2)),
    "s": pa.array([30000, 2, None, -5], pa.int16()),
    "big": pa.array([2 ** 63 - 1, 1, None, -3], pa.int64()),
})
U = pa.table({"n": pa.array([1, 6, 3], pa.int32()), "k": pa.array([0, 3, 1], pa.int32())})
# INTEGER operands: checked in Polars itself (exact in Int64, cast back strictly), not by a batch
# function; a - b leaves INTEGER on the first row only
V = pa.table({"a": pa.array([2147483000, 5, 1, None], pa.int32()), "b": pa.array([-1000, 3, 1, 2], pa.int32())})
# repeated values one after another: Polars 2.1's comparison of a constant with a CASE of constants
# gave fewer values than rows there (see DIVISION_BY_ZERO)
W = pa.table({"n": pa.array([None, -1, 0, None, -2], pa.int64()), "f": [10.0, 10.0, -1.5, None, None],
              "d": pa.array([1, 1, 2, 0, 3], pa.int64())})
TABLES = {"t": T, "u": U, "v": V, "w": W}


def _duckdb(query: str) -> list[tuple[Any, ...]]:
    return duckdb_rows(query, TABLES)


def _thresher(query: str) -> list[tuple[Any, ...]]:
    return thresher_rows(query, TABLES)


DIVISION_BY_ZERO = [
    "SELECT n % d AS r FROM t",
    "SELECT n // d AS r FROM t",
    "SELECT 7 % 0 AS r",
    "SELECT n % 0 AS r FROM t",
    "SELECT f // 0 AS r FROM t",  # // of doubles is a division, of zero an error
    "SELECT m % 0 AS r FROM t",
    "SELECT m // d AS r FROM t",
    "SELECT n FROM t WHERE n % d = 0",
    "SELECT n FROM t WHERE n > 0 AND n // d = 0",  # n > 0 keeps the row where d = 0
    "SELECT sum(n % d) AS r FROM t",
    "SELECT d = 0 OR n % d > 1 AS r FROM t",  # a select list's OR evaluates both sides
    "SELECT d <> 0 AND n % d > 1 AS r FROM t",
    "SELECT CASE WHEN n % d > 1 THEN 1 WHEN d = 0 THEN 0 END AS r FROM t",  # the first condition sees every row
    "SELECT sum(n) OVER (PARTITION BY n % d) AS r FROM t",
    "SELECT coalesce(n, 1 % d) AS r FROM t",  # evaluated where n is NULL, and d is 0 there
    "SELECT t.n FROM t JOIN u ON t.n = u.n AND t.n % t.d = 0",
    "SELECT t.n FROM t JOIN u ON t.n = u.n AND u.n % u.k = 0",
    "SELECT n FROM w WHERE (-1 % 3) NOT BETWEEN CASE WHEN 0.5 NOT BETWEEN f AND 2.0 THEN 1 ELSE -1 END AND (n % 0)",
]


@pytest.mark.parametrize("query", DIVISION_BY_ZERO)
def test_division_by_zero_is_an_error_as_in_duckdb(query: str) -> None:
    with pytest.raises(duckdb.Error, match="Division by zero"):
        _duckdb(query)
    with pytest.raises(ThresherExecutionError, match="division by zero in"):
        _thresher(query)


OVERFLOW = [
    "SELECT s * 1000 AS r FROM t",
    "SELECT CAST(n * 10 AS SMALLINT) * 1000 AS r FROM t",
    "SELECT s + 32767 AS r FROM t",
    "SELECT big + 1 AS r FROM t",
    "SELECT big * 2 AS r FROM t",
    "SELECT n * 2147483647 AS r FROM t",
    "SELECT -(s - 2 - 32767) AS r FROM t",  # -(-32768) leaves SMALLINT
    "SELECT 2147483647::INTEGER + 1 AS r",
    "SELECT s * s AS r FROM t",
    "SELECT n FROM t WHERE s * s > n",
    "SELECT sum(s * 1000) AS r FROM t",
    "SELECT CASE WHEN s > 100 THEN s * 1000 END AS r FROM t",
    # INTEGER operands (the check in Polars): repeated in several aggregates (TPC-DS q50's shape),
    # grouped, a CASE branch that takes the row, a filter above that does not drop it
    "SELECT sum(CASE WHEN a - b <= 30 THEN 1 ELSE 0 END) AS x, "
    "sum(CASE WHEN a - b > 30 AND a - b <= 60 THEN 1 ELSE 0 END) AS y FROM v",
    "SELECT b, sum(a - b) AS x FROM v GROUP BY b",
    "SELECT a + 1000 AS x FROM v",
    "SELECT CASE WHEN b < 0 THEN a - b END AS x FROM v",
    "SELECT x FROM (SELECT a - b AS x FROM v) WHERE x < 100",
    "SELECT -(a - b) AS x FROM v",
    # compared with a constant where DuckDB's optimizer does not move it (x * c where c does not
    # divide it, x + c where k - c leaves the type, a constant outside the type, a BETWEEN): it
    # evaluates the arithmetic; Thresher answered (sqlglot moved every + and -, the lowering
    # computed every chain exactly)
    "SELECT n FROM t WHERE s + 30000 > -10000",
    "SELECT s + 30000 > -10000 AS r FROM t",
    "SELECT n FROM t WHERE s * 4 > 2",
    "SELECT n FROM t WHERE 1 + s * 2 > 0",
    "SELECT n FROM t WHERE s * 2 > 100000",
    "SELECT n FROM t WHERE s * 2 BETWEEN 0 AND 4",
    "SELECT n FROM t WHERE s + 30000 BETWEEN 1 AND 2",
    # a check in both sides of a CASE condition's AND runs on every row
    "SELECT CASE WHEN s * 1000 > n AND s * 1000 < 5 THEN 1 END AS r FROM t",
]


@pytest.mark.parametrize("query", OVERFLOW)
def test_integer_overflow_is_an_error_as_in_duckdb(query: str) -> None:
    with pytest.raises(duckdb.Error, match="Overflow"):
        _duckdb(query)
    with pytest.raises(ThresherExecutionError, match="integer overflow in"):
        _thresher(query)


SAME = [
    # guarded divisions: DuckDB does not evaluate them on the rows where d = 0
    "SELECT CASE WHEN d <> 0 THEN n % d END AS r FROM t",
    "SELECT CASE WHEN d = 0 THEN 0 ELSE n // d END AS r FROM t",
    "SELECT CASE d WHEN 0 THEN 0 ELSE n % d END AS r FROM t",
    "SELECT CASE WHEN d = 0 THEN 0 WHEN n % d > 1 THEN 1 END AS r FROM t",
    "SELECT IF(d <> 0, n % d, 0) AS r FROM t",
    "SELECT n % NULLIF(d, 0) AS r FROM t",
    "SELECT coalesce(d, n % d) AS r FROM t",  # d is never NULL: n % d is not evaluated
    "SELECT n FROM t WHERE d <> 0 AND n % d = 0",
    "SELECT n FROM t WHERE n % d = 0 AND d <> 0",
    "SELECT n FROM t WHERE d <> 0 AND n // d > 1 AND n > 0",
    "SELECT n FROM t WHERE d = 0 OR n % d > 1",
    "SELECT n FROM t WHERE d <> 0 AND (n % d = 0 OR n > 10)",
    "SELECT n FROM t WHERE coalesce(n % NULLIF(d, 0), 0) = 0",
    # a CASE WHEN condition's AND / OR short-circuits, as a WHERE's
    "SELECT CASE WHEN d = 0 OR n % d > 1 THEN 1 ELSE 2 END AS r FROM t",
    "SELECT CASE WHEN d <> 0 AND n % d > 1 THEN 1 WHEN d = 0 OR n // d = 0 THEN 2 END AS r FROM t",
    "SELECT sum(CASE WHEN d = 0 OR (n > 0 AND n % d > 1) THEN 1 END) AS r FROM t GROUP BY d",
    "SELECT sum(CASE WHEN d <> 0 THEN n % d END) AS r FROM t",
    "SELECT n % d AS r FROM t WHERE d <> 0",
    "SELECT r FROM (SELECT n, d, n % d AS r FROM t) WHERE d <> 0",
    "SELECT n FROM t GROUP BY n HAVING sum(d) <> 0 AND max(n) % sum(d) = 0",
    "SELECT t.n FROM t JOIN u ON t.n = u.n AND u.k <> 0 WHERE t.n % u.k = 0",
    "SELECT t.n FROM t LEFT JOIN u ON t.n = u.n AND u.k <> 0 AND u.n % u.k = 0",
    "SELECT n FROM t WHERE n IN (SELECT n % k FROM u WHERE k <> 0)",
    "SELECT n % 2 AS r FROM t WHERE n IS NULL OR d = 0",
    "SELECT NULL % 0 AS r",
    "SELECT CASE WHEN n > 100 THEN 7 % 0 END AS r FROM t",  # a constant: evaluated on no row
    "SELECT n, 7 % 0 AS r FROM t WHERE n > 100",
    "SELECT n % 0 AS r FROM t WHERE n IS NULL",  # NULL % 0 is NULL
    # DOUBLE and DECIMAL `/` and DOUBLE `%`: inf / NaN, no error
    "SELECT n / d AS r FROM t",
    "SELECT f / 0 AS r FROM t",
    "SELECT m / 0 AS r FROM t",
    "SELECT f % 0 AS r FROM t",
    "SELECT CASE WHEN d <> 0 THEN m % d END AS r FROM t",
    "SELECT CASE WHEN d <> 0 THEN f // d END AS r FROM t",
    # overflow only on rows not evaluated, or compared with a constant (DuckDB moves it)
    "SELECT CASE WHEN s < 100 THEN s * 1000 END AS r FROM t",
    "SELECT n FROM t WHERE s < 100 AND s * 1000 > n",
    "SELECT n FROM t WHERE s * 1000 > 0",
    "SELECT n FROM t WHERE s + 32767 > 0",
    "SELECT s * 1000 > 0 AS r FROM t",
    # an overflow in one side of a CASE condition's AND / OR: DuckDB evaluates it only on the rows
    # the other side does not decide (Thresher checked every row: "integer overflow" raised)
    "SELECT CASE WHEN s < 100 AND s * 1000 > n THEN 1 END AS r FROM t",
    "SELECT CASE WHEN s > 100 OR s * 1000 > n THEN 1 ELSE 2 END AS r FROM t",
    "SELECT sum(CASE WHEN s IS NOT NULL AND s < 10 AND s * 1000 < 0 THEN 1 END) AS r FROM t",
    # DuckDB's optimizer moves these constants (its MoveConstantsRule): nothing to overflow
    "SELECT n FROM t WHERE s * 2 > 4",
    "SELECT n FROM t WHERE s * 2 * 3 > 6",
    "SELECT n FROM t WHERE s * 2 + 2 > 0",
    "SELECT s * 3 <> 7 AS r, s * 3 = 7 AS q, 4 = s * 2 AS p FROM t",
    "SELECT n FROM t WHERE 10 - s < 0",
    "SELECT n FROM t WHERE (s + 3000) * 20 > 0",
    "SELECT n FROM t WHERE s + 30000 > 1",
    "SELECT n FROM t WHERE -s * 2 > 0",
    "SELECT n FROM t GROUP BY n HAVING max(s) * 1000 > 0",
    "SELECT s * 1000::INTEGER AS r FROM t",  # INTEGER arithmetic: no overflow
    "SELECT CAST(s AS INTEGER) * 1000 AS r FROM t",
    "SELECT -s AS r, s - 2 AS q, big - 4 AS p FROM t",
    "SELECT sum(s) AS r FROM t",
    # INTEGER operands (the check in Polars) on rows DuckDB does not evaluate it on
    "SELECT sum(CASE WHEN b > 0 THEN a - b ELSE 0 END) AS x, sum(CASE WHEN b > 0 THEN a - b END) AS y FROM v",
    "SELECT CASE WHEN b > 0 THEN a - b END AS x, CASE WHEN b > 1 THEN a - b END AS y FROM v",
    "SELECT coalesce(CASE WHEN b < 0 THEN 0 END, a - b) AS x FROM v",
    "SELECT a - b AS x FROM v WHERE b > 0",
    "SELECT x FROM (SELECT a - b AS x, b FROM v) WHERE b > 0",
    "SELECT b, sum(a - b) AS x FROM v WHERE b > 0 GROUP BY b",
    "SELECT a - b AS x, a * 2 AS y, -a AS z, b + 1 AS w FROM v WHERE a < 100",
    # NULLIF with a NULL side: a = NULL is never true (crashed: a NULL-typed when() condition)
    "SELECT NULLIF(NULL, f) AS r FROM t",
    "SELECT NULLIF(n, NULL) AS r FROM t",
]


def test_a_constant_compared_with_a_case_of_constants_guards_a_check() -> None:
    """An OR's left side a constant compared with a CASE of constants: Polars 2.1 gave the guard
    of the right side's check 4 values for 5 rows (``lit(-1) < when(c).then(1).otherwise(-1)``
    evaluated on its own), and the check failed with a Rust panic, a BaseException that ``except
    Exception`` lets through (SQL fuzzer, seed 402). Now DuckDB's division by zero."""
    t1 = pa.table({"a": [None, 3, None, None, 0], "b": [None, -1, 0, None, -2], "f": [10.0, 10.0, -1.5, None, None]})
    query = ("SELECT t1.a AS c0, count(*) AS c1 FROM t1 WHERE (-1 % 3) NOT BETWEEN CASE WHEN 0.5 NOT BETWEEN t1.f "
             "AND 2.0 THEN 1 ELSE -1 END AND (t1.b % 0) GROUP BY t1.a")
    with pytest.raises(duckdb.Error, match="Division by zero"):
        duckdb_rows(query, {"t1": t1})
    with pytest.raises(ThresherExecutionError, match="division by zero in"):
        thresher_rows(query, {"t1": t1})


@pytest.mark.parametrize("query", SAME + [
    # (the same shape where no division by zero is reached: the guard keeps the rows' values)
    "SELECT n FROM w WHERE -1 < CASE WHEN f > 0.5 THEN 1 ELSE -1 END OR n % d > 1",
    "SELECT n FROM w WHERE NOT (-1 < CASE WHEN f > 0.5 THEN 1 ELSE -1 END) AND n % d = 0",
    "SELECT -1 < CASE WHEN f > 0.5 THEN 1 ELSE -1 END AS r FROM w",
])
def test_guarded_and_valid_arithmetic_matches_duckdb(query: str) -> None:
    assert _thresher(query) == _duckdb(query)


def test_the_dataframe_api_keeps_polars_arithmetic() -> None:
    df = th.from_arrow(T)
    out = df.select((th.col("s") * 1000).alias("x"), (th.col("n") % th.col("d")).alias("y")).to_arrow()
    assert out.column("x").to_pylist() == [-15488, 2000, None, -5000]
    assert out.column("y").to_pylist() == [None, 0, None, 2]


def test_an_integer_check_runs_in_polars_and_names_its_expression() -> None:
    """INTEGER (or narrower) operands are checked without a Python batch function (Polars calls
    one per morsel and per occurrence: TPC-DS q50 checks ``x - y`` in five CASEs); the error Polars
    raises is reported as the overflow, naming the operation."""
    from thresher.operators.expr_to_polars import to_polars

    df = th.sql("SELECT a - b AS x, b * 2 AS y FROM v", v=th.from_arrow(V))
    node = df._plan  # the projection computing x and y
    lowered = [str(to_polars(e, node.input.schema)) for e in node.exprs]
    assert all("python_udf" not in x and "strict_cast" in x for x in lowered), lowered
    with pytest.raises(ThresherExecutionError, match=r"integer overflow in an expression of column 'a': .* does not fit Int32"):
        df.to_arrow()


# -- SUM of BIGINT values past BIGINT (DuckDB sums integers into a HUGEINT, exactly) -------------
# Polars' sum wraps: Thresher answered sum(b) = -4611686018427387899 for 3 * 2^62 + 5 (DuckDB
# 13835058055282163717). Thresher's SUM of integers stays a BIGINT: a sum that leaves it is an error.
W = pa.table({
    "b": pa.array([2 ** 62, 2 ** 62, 2 ** 62, 5], pa.int64()),
    "g": pa.array([1, 1, 2, 2], pa.int32()),
    "i": pa.array([2 ** 31 - 1] * 4, pa.int32()),
    "u": pa.array([2 ** 63, 2 ** 63, 1, 2], pa.uint64()),
    "n": pa.array([-(2 ** 62), -(2 ** 62), 2 ** 62, None], pa.int64()),
})

SUM_OVERFLOW = [
    "SELECT sum(b) AS r FROM w",
    "SELECT g, sum(b) AS r FROM w GROUP BY g",  # group 1 is 2^63
    "SELECT sum(b * 1) AS r FROM w",
    "SELECT sum(b) FILTER (WHERE g = 1) AS r FROM w",
    "SELECT g, sum(b) AS r FROM w GROUP BY ROLLUP (g)",  # (the sum of the partial sums too)
    "SELECT sum(u) AS r FROM w",
    "SELECT sum(CASE WHEN g = 1 THEN b ELSE 0 END) AS r FROM w",
    "SELECT sum(coalesce(b, n)) AS r FROM w",
    "SELECT sum(x) AS r FROM (SELECT g, sum(b) AS x FROM w WHERE g = 1 OR b = 5 GROUP BY g, b)",
    "SELECT g, sum(b) OVER (PARTITION BY g) AS r FROM w",  # a window over whole partitions
    "SELECT g, sum(b) OVER () AS r FROM w",
]


@pytest.mark.parametrize("query", SUM_OVERFLOW)
def test_a_bigint_sum_that_leaves_bigint_is_an_error(query: str) -> None:
    tables = {"w": W}
    assert duckdb_rows(query, tables)  # DuckDB answers (a HUGEINT)
    with pytest.raises(ThresherExecutionError, match="integer overflow in a SUM of BIGINT values"):
        thresher_rows(query, tables)


SUM_EXACT = [
    "SELECT sum(b) AS r FROM w WHERE g = 2",
    "SELECT sum(n) AS r FROM w",  # the partial sums leave BIGINT, the sum does not
    "SELECT sum(n) AS r, sum(i) AS q FROM w GROUP BY g",
    "SELECT sum(CAST(b AS DECIMAL(38, 0))) AS r FROM w",  # the exact sum, as DuckDB's
    "SELECT sum(i) AS r, sum(CAST(i AS BIGINT) + i) AS q FROM w",
    "SELECT sum(CASE WHEN g = 1 THEN 1 ELSE 0 END) AS r FROM w",
    # each partition's sum fits (all the values' magnitudes together do not: that was refused)
    "SELECT g, i, sum(n) OVER (PARTITION BY g) AS r FROM w",
    "SELECT g, i, sum(CASE WHEN g = 2 THEN b END) OVER (PARTITION BY g) AS r FROM w",
    # avg of BIGINT values is exact, as DuckDB's (Polars sums doubles: avg(2^63 - 1, -2^63) was 0.0)
    "SELECT avg(x) AS r FROM mm WHERE g = 1",
    "SELECT g, avg(x) AS r FROM mm GROUP BY g",
    "SELECT g, avg(x) OVER (PARTITION BY g) AS r FROM mm",
    "SELECT g, i, avg(n) OVER (PARTITION BY g) AS r, sum(n) OVER (PARTITION BY g) AS q FROM w",
    # a mean's partial sums under a ROLLUP are exact (they wrapped: avg(b) of group 1 was -4.6e18)
    "SELECT g, avg(b) AS r, avg(i) AS q, avg(u) AS p FROM w GROUP BY ROLLUP (g)",
    "SELECT g, avg(n) AS r, count(b) AS q FROM w GROUP BY CUBE (g)",
]


MM = pa.table({"g": pa.array([1, 1, 2], pa.int32()), "x": pa.array([2 ** 63 - 1, -(2 ** 63), 5], pa.int64())})


@pytest.mark.parametrize("query", SUM_EXACT)
def test_a_bigint_sum_that_fits_matches_duckdb(query: str) -> None:
    tables = {"w": W, "mm": MM}
    assert thresher_rows(query, tables) == duckdb_rows(query, tables)


def test_only_a_sum_that_can_leave_bigint_is_checked() -> None:
    """A sum of INTEGER (or narrower) values, or of CASE/COALESCE over them and constants, fits
    BIGINT below 2^32 rows: it is summed as before (TPC-H/TPC-DS ``sum(CASE ... THEN 1 ELSE 0
    END)``), only a BIGINT one in Int128."""
    from thresher.expressions.expr import AggCall

    df = th.sql("SELECT sum(i) AS a, sum(CASE WHEN g = 1 THEN 1 ELSE 0 END) AS b, sum(coalesce(i, 0)) AS c, "
                "sum(b) AS d FROM w", w=th.from_arrow(W))
    exact = {n.child.key() for p in [df._plan, *df._plan.walk()] for e in getattr(p, "aggs", ())
             for n in e.walk() if isinstance(n, AggCall) and n.option("exact")}
    assert len(exact) == 1, exact


# -- a chain of constants: DuckDB computes step by step in the operand's type ---------------------
# sqlglot's simplify merged x * 1000 * 1000 into x * 1000000 (an INTEGER, no error): Thresher
# answered 1000000 where DuckDB raises "Overflow in multiplication of INT16 (1000 * 1000)".
CHAIN_OVERFLOW = [
    "SELECT CAST(n AS SMALLINT) * 1000 * 1000 AS r FROM t",
    "SELECT s * 1000 * 1000 AS r FROM t",
    "SELECT 2 * s * 1000 AS r FROM t",
    "SELECT s + 32000 + 1000 AS r FROM t",
    "SELECT (s * 10) * 10 * 10 * 10 AS r FROM t",
    "SELECT s + 30000 + -1000 AS r FROM t",  # s + 30000 leaves SMALLINT first
    "SELECT sum(s * 1000 * 1000) AS r FROM t",
]


@pytest.mark.parametrize("query", CHAIN_OVERFLOW)
def test_a_chain_of_constants_overflows_at_its_step_as_in_duckdb(query: str) -> None:
    with pytest.raises(duckdb.Error, match="Overflow"):
        _duckdb(query)
    with pytest.raises(ThresherExecutionError, match="integer overflow in"):
        _thresher(query)


CHAIN_SAME = [
    "SELECT s * 2 * 3 AS r, s + 1 + 2 AS q, s - 1 - 2 AS p, 2 * s * 3 AS o FROM t WHERE s < 100",
    "SELECT s * 1000 * 0 AS r FROM t",  # DuckDB merges a multiplication chain: x * 0
    "SELECT 1000 * 1000 * s AS r FROM t WHERE s < 100",  # constants alone fold (an INTEGER)
    "SELECT n * 1.5 * 2 AS r, f * 0.1 * 3 AS q FROM t",
    "SELECT s FROM t WHERE s * 2 * 2 > 100",
    # constants alone are an INTEGER in DuckDB, not a literal taking the SMALLINT's type (sqlglot
    # folded 1000 * 2 into 2000: 1000 * (s + 2000) overflowed SMALLINT where DuckDB answers)
    "SELECT 1000 * (s + 1000 * 2) AS r, -3 * (s - 0 * 0 - 2) AS q, s + -1 * 30000 AS p FROM t",
    "SELECT s * (1 + 1) AS r, 2 * 1000 * s AS q, s + 3000000000 * 2 AS p FROM t",
]


@pytest.mark.parametrize("query", CHAIN_SAME)
def test_a_chain_of_constants_that_fits_matches_duckdb(query: str) -> None:
    assert _thresher(query) == _duckdb(query)


# -- % and // at an integer type's minimum -----------------------------------------------------------
# SQL's truncating % and // were sign(a) * (|a| % |b|): |a| wraps at the minimum (|-32768| is
# -32768 in SMALLINT), so -32768 % 3 was -1 (DuckDB -2) and -2^63 // 2 was 2^62 (DuckDB -2^62);
# x // -1 at the minimum wrapped where DuckDB raises "Overflow in division".
MINS = {t: pa.table({"a": pa.array([lo, lo + 1, -7, 7, 0, None, -1, 3], t), "b": pa.array([3, -2, 2, -2, 5, 3, 7, -3], t)})
        for t, lo in (("int8", -128), ("int16", -32768), ("int32", -2 ** 31), ("int64", -2 ** 63))}


@pytest.mark.parametrize("dtype", sorted(MINS))
@pytest.mark.parametrize("query", [
    "SELECT a, b, a % b AS r, a // b AS q FROM m",
    "SELECT a, a % 3 AS r, a // 2 AS q, a // -2 AS p, 5 % b AS o, -7 // b AS n FROM m",
    "SELECT a FROM m WHERE a % b = -2 OR a // b < -1000",
    "SELECT a, CASE WHEN a > -100 THEN a // -1 END AS r FROM m",
])
def test_remainder_and_division_at_the_minimum_match_duckdb(dtype: str, query: str) -> None:
    tables = {"m": MINS[dtype]}
    assert thresher_rows(query, tables) == duckdb_rows(query, tables)


@pytest.mark.parametrize("dtype", sorted(MINS))
def test_the_minimum_divided_by_minus_one_overflows_as_in_duckdb(dtype: str) -> None:
    tables = {"m": MINS[dtype]}
    with pytest.raises(duckdb.Error, match="Overflow"):
        duckdb_rows("SELECT a // -1 AS r FROM m", tables)
    with pytest.raises(ThresherExecutionError, match="integer overflow in"):
        thresher_rows("SELECT a // -1 AS r FROM m", tables)
