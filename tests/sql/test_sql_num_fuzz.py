"""Differential fuzzing of SQL numeric expressions over every numeric type against DuckDB (see
``num_fuzz.py``: values and result types), plus every failure it found, kept as regression tests.
"""

from __future__ import annotations

import sys
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import reject

sys.path.insert(0, str(Path(__file__).resolve().parent))

from num_fuzz import COLUMNS, differences, queries, tables  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import assert_mostly_supported, run_cases  # noqa: E402
from thresher.errors import ThresherExecutionError, ThresherIOError  # noqa: E402

duckdb = pytest.importorskip("duckdb")


def run_one(table: pa.Table, query: str) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    con = duckdb.connect()
    con.register("t", table)
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error:
        reject()  # an error in DuckDB too (an overflow, an integer division by zero)
    try:
        got = th.sql(query, t=th.from_arrow(table)).to_arrow()
    except (ThresherExecutionError, ThresherIOError) as exc:  # a failure while running is a bug, not a refusal
        if "is not supported" in str(exc):
            return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
        raise AssertionError(f"{query}\ntable: {table.to_pydict()}\nfailed while running: {exc}") from exc
    except th.ThresherError as exc:
        return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
    except Exception as exc:  # noqa: BLE001  (the point: anything else is a bug)
        raise AssertionError(f"{query}\ncrashed with {type(exc).__name__}: {exc}") from exc
    diff = differences(query, got, want)
    assert diff is None, f"{query}\ntable: {table.to_pydict()}\n{diff}"
    return "match"


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((tables(), queries()), run_one, n, seed)


def test_sql_numeric_fuzz_against_duckdb() -> None:
    assert_mostly_supported(fuzz(100), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sql_numeric_fuzz_against_duckdb_long(seed: int) -> None:
    assert_mostly_supported(fuzz(1500, seed), 0.1)


# -- every failure the fuzzer found, kept as a regression test ------------------------------------

def _table(**cols: list[object]) -> pa.Table:
    n = len(next(iter(cols.values())))
    data = {"id": pa.array(range(n), pa.int64()), "g": pa.array([1] * n, pa.int64())}
    for c, values in cols.items():
        data[c] = pa.array(values, COLUMNS[c][0])
    return pa.table(data)


FLOATS = _table(f=[1.1, 2.675, 3.3, None, 0.285], d=[1.1, 2.675, 2.5, None, -3.5],
                m=[D("1.10"), D("2.68"), D("-2.50"), None, D("0.29")],
                n=[D("2.6750"), D("1.1000"), D("0.2850"), None, D("-2.5000")],
                i8=[1, 7, 0, None, 100], i16=[3, 300, -2, None, 0], i32=[5, -65536, 7, None, 1],
                i64=[6, 3000000000, -9, None, 0], u64=[7, 100000, 0, None, 12])

REGRESSIONS: dict[str, tuple[pa.Table, str]] = {
    # a WHERE term is translated before its columns' types are known: ROUND of a FLOAT was a
    # DOUBLE there (compared with 1.1e0 in DOUBLE: 1.1 = 1.1, where DuckDB compares the FLOAT
    # 1.100000023841858 and finds no row; with CAST(1.1 AS FLOAT), the other way round) ...
    "where_round_of_float": (FLOATS, "SELECT id FROM t WHERE round(f, 2) = 1.1e0 OR round(f, 3) = CAST(2.675 AS FLOAT)"),
    # ... ROUND of a DECIMAL rounded its DOUBLE (2.675 is 2.67499999..., rounded to 2.67, where
    # the DECIMAL 2.6750 rounds half away from zero to 2.68) ...
    "where_round_of_decimal": (FLOATS, "SELECT id FROM t WHERE round(n, 2) = 2.68 OR round(m, 1) = 0.3"),
    # ... and SQRT of a FLOAT was a FLOAT (compared with a DECIMAL in FLOAT: equal where DuckDB's
    # DOUBLE is not)
    "where_sqrt_of_float": (FLOATS, "SELECT id FROM t WHERE sqrt(f) = 1.0488088481701516 OR sqrt(f * f) = 2.675"),
    # NULL / r and NULL // r of a FLOAT r are FLOATs (were DOUBLEs)
    "null_divided_by_float": (FLOATS, "SELECT id, NULL / f AS a, NULL // f AS b, f / NULL AS c FROM t"),
    # ROUND of an unsigned integer is a BIGINT (of a UBIGINT a HUGEINT), and a negative precision
    # of one rounds (it was refused)
    "round_of_unsigned": (FLOATS, "SELECT id, round(u64) AS a, round(u64, 2) AS b, round(CAST(i8 AS UINTEGER), 1) AS c, "
                                  "round(CAST(i8 AS UTINYINT), -1) AS d FROM t"),
    # ROUND(0) is an INTEGER, not a literal taking the TINYINT type of what it meets
    "round_of_integer_literal": (FLOATS, "SELECT id, round(0) + i8 AS a, round(7, 1) * i8 AS b FROM t"),
    # CAST(... AS HUGEINT) (was refused: 'unsupported SQL type INT128'); its // and % divide as
    # integers, also of a quotient of HUGEINTs ((i // h) // 2 was a DOUBLE), FLOOR and CEIL of a
    # HUGEINT are DOUBLEs (were HUGEINTs), a DOUBLE cast to one rounds half to even
    "hugeint_cast": (FLOATS, "SELECT id, CAST(i8 AS HUGEINT) // 2 AS a, CAST(i16 AS HUGEINT) % 7 AS b, "
                             "floor(CAST(i16 AS HUGEINT)) AS c, ceil(u64 - i64) AS e, "
                             "(i64 // CAST(i32 AS HUGEINT)) // 2 AS f, CAST(d AS HUGEINT) AS g FROM t"),
    # the negation of an unsigned integer holding 0 is 0 (failed while running: Polars has no
    # negation of a u64), of a larger one DuckDB's overflow error; -NULL and abs(NULL) are BIGINTs
    "negation_of_unsigned_and_null": (FLOATS, "SELECT id, -(u64 * 0) AS a, avg(-(u64 * 0)) OVER () AS b, -NULL AS c, "
                                              "abs(NULL) AS e, -CASE WHEN d > 0 THEN NULL END AS f FROM t"),
    # a DOUBLE literal in arithmetic with another constant stays a DOUBLE (sqlglot folded 1.5e0 * 2
    # to the DECIMAL 3.0: r + 1.5e0 * 2 was computed in FLOAT, 4.099999904632568 for DuckDB's
    # 4.100000023841858; 1e3 + 1 was the integer 1001)
    "double_literal_folded": (FLOATS, "SELECT id, f + 1.5e0 * 2 AS a, coalesce(1.5e0 * 7, m - f) AS b, 1e3 + 1 AS c, "
                                      "f * (1e3 + 0) AS e FROM t"),
    # ROUND of a DECIMAL to a negative precision rounds half away from zero (was refused)
    "round_of_decimal_to_tens": (_table(m=[D("14.50"), D("-14.50"), D("15.00"), D("-25.00"), D("149.99"), None],
                                        n=[D("0.0001"), D("-5.0000"), D("50.0000"), D("12345.6789"), D("-0.5000"), None]),
                                 "SELECT id, round(m, -1) AS a, round(m, -2) AS b, round(n, -3) AS c FROM t "
                                 "WHERE round(m, -1) <> 0 OR round(n, -1) = 0"),
    # var_pop / stddev_pop of a group whose values are all NULL is NULL (Polars' streaming engine
    # gave 0.0 where the values were a CASE's)
    "population_variance_of_nulls": (_table(i32=[5], d=[0.5]),
                                     "SELECT g, var_pop(CASE WHEN i32 > 100 THEN d END) AS a, "
                                     "stddev_pop(CASE WHEN i32 > 100 THEN d END) AS b FROM t GROUP BY g"),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_sql_numeric_fuzz_regression(name: str) -> None:
    table, query = REGRESSIONS[name]
    assert run_one(table, query) == "match"

