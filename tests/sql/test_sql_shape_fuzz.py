"""Differential SQL fuzzing against DuckDB of window functions, query shapes and integers of
every width (see ``shape_fuzz.py``), plus every failure these fuzzers found.

A query gives DuckDB's rows (and types) or is refused with a ``ThresherError``; where DuckDB
raises at run time (an overflow, a cast out of range, a division by zero) Thresher must raise too.
"""

from __future__ import annotations

import datetime
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis.strategies import SearchStrategy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shape_fuzz import (  # noqa: E402
    integer_query,
    integer_tables,
    shape_query,
    shape_tables,
    window_function_query,
    window_tables,
)
from sql_fuzz import differences, type_differences  # noqa: E402
from test_sql_fuzz import run_one  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import PANIC, assert_mostly_supported, run_cases  # noqa: E402
from thresher.errors import ThresherExecutionError  # noqa: E402

duckdb = pytest.importorskip("duckdb")

#: DuckDB's run-time errors an integer query may meet
DUCKDB_RAISES = re.compile(r"Overflow|out of range|Division by zero|Could not cast|can't be cast|Could not convert")


def run_integer(data: dict[str, pa.Table], query: str) -> str:
    """``"match"``, ``"refused: ..."`` or ``"answered where DuckDB raised"`` (a WHERE, CASE or
    COALESCE may spare Thresher a row DuckDB evaluates); raises AssertionError on a wrong answer,
    an answer where DuckDB raised an error in an expression every row evaluates, an error where
    DuckDB answered, or a crash."""
    con = duckdb.connect()
    con.register("t", data["t"])
    frames = {"t": th.from_arrow(data["t"])}
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        if not DUCKDB_RAISES.search(str(exc)):
            reject()  # not valid SQL for the reference either
        try:
            th.sql(query, **frames).to_arrow()
        except ThresherExecutionError:
            return "match"
        except th.ThresherError as e:
            return f"refused: {type(e).__name__}: {str(e)[:100]}"
        except (Exception, PANIC) as e:  # noqa: BLE001
            raise AssertionError(f"{query}\nDuckDB: {exc}\nThresher crashed: {type(e).__name__}: {e}") from e
        if re.search(r" WHERE |CASE|coalesce|ifnull|nullif|greatest|least", query):
            return "answered where DuckDB raised"
        raise AssertionError(f"{query}\n{data['t'].to_pydict()}\nDuckDB raised {exc}; Thresher answered") from None
    try:
        got = th.sql(query, **frames).to_arrow()
    except ThresherExecutionError as e:
        raise AssertionError(f"{query}\n{data['t'].to_pydict()}\nThresher raised {e}; DuckDB answered") from e
    except th.ThresherError as e:
        return f"refused: {type(e).__name__}: {str(e)[:100]}"
    except (Exception, PANIC) as e:  # noqa: BLE001
        raise AssertionError(f"{query}\n{data['t'].to_pydict()}\ncrashed with {type(e).__name__}: {e}") from e
    diff = differences(got, want) or type_differences(got, want)
    assert diff is None, f"{query}\n{data['t'].to_pydict()}\n{diff}"
    return "match"


def _fuzz(tables: SearchStrategy[Any], queries: SearchStrategy[Any], n: int, check: Any = run_one,
          seed: int | None = None) -> Counter[str]:
    stats = run_cases((tables, queries), check, n, seed)
    return stats


def test_window_functions_against_duckdb() -> None:
    assert_mostly_supported(_fuzz(window_tables(), window_function_query(), 100), 0.1)


def test_query_shapes_against_duckdb() -> None:
    assert_mostly_supported(_fuzz(shape_tables(), shape_query(), 100), 0.1)


def test_integers_against_duckdb() -> None:
    assert_mostly_supported(_fuzz(integer_tables(), integer_query(), 150, run_integer), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_window_shape_integer_fuzz_long(seed: int) -> None:
    assert_mostly_supported(_fuzz(window_tables(), window_function_query(), 1500, seed=seed), 0.1)
    assert_mostly_supported(_fuzz(shape_tables(), shape_query(), 1500, seed=seed), 0.1)
    assert_mostly_supported(_fuzz(integer_tables(), integer_query(), 1500, run_integer, seed=seed), 0.15)


# -- every failure these fuzzers found, kept as a regression test ---------------------------------

def _ints(**cols: list[Any]) -> dict[str, pa.Table]:
    from shape_fuzz import INTEGER_COLUMNS

    n = len(next(iter(cols.values())))
    data = {"id": pa.array(range(n), pa.int64())}
    for c, (t, _) in INTEGER_COLUMNS.items():
        data[c] = pa.array(cols.get(c, [None] * n), t)
    return {"t": pa.table(data)}


EXTREMES = _ints(i8=[127, -128, 0, None], i16=[32767, -32768, 0, None], i32=[2**31 - 1, -2**31, 0, None],
                 i64=[2**63 - 1, -2**63, 0, None], u8=[255, 0, 1, None], u16=[65535, 0, 2, None],
                 u32=[2**32 - 1, 0, 3, None])
EMPTY = _ints(i8=[])


def _window_table() -> dict[str, pa.Table]:
    import decimal

    return {"t": pa.table({"id": pa.array([0, 1, 2], pa.int64()), "x": pa.array([1, None, 3], pa.int64()),
                           "y": pa.array([7, 8, None], pa.int32()), "s": pa.array(["a", None, "b"]),
                           "f": pa.array([0.5, None, -1.0], pa.float64()), "d": pa.array([None] * 3, pa.date32()),
                           "m": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-2.50")],
                                         pa.decimal128(9, 2))})}


@pytest.mark.parametrize("query", [
    # lag/lead's default is cast to the value's type, which the result keeps, as DuckDB: lag(x, 1,
    # 0.5) of a BIGINT gave 0 (the default truncated where DuckDB's cast rounds, and typed as a
    # DECIMAL), lag(m, 1, 1.234) was a DECIMAL(38, 3); a text default of a DATE failed while running
    "SELECT id, lag(x, 1, 0.5) OVER (ORDER BY id) AS c0, lead(x, 1, -2.5) OVER (ORDER BY id) AS c1 FROM t",
    "SELECT id, lag(m, 1, 1.234) OVER (ORDER BY id) AS c0, lead(m, 2, x) OVER (ORDER BY id) AS c1 FROM t",
    "SELECT id, lag(y, 1, 0.5) OVER (ORDER BY id) AS c0, lead(x, 1, m) OVER (ORDER BY id) AS c1 FROM t",
    "SELECT id, lag(s, 1, 2.5) OVER (ORDER BY id) AS c0, lead(x, 1, '7') OVER (ORDER BY id) AS c1 FROM t",
    "SELECT id, lag(d, 1, '2024-02-29') OVER (ORDER BY id) AS c0, lag(f, 1, m) OVER (ORDER BY id) AS c1 FROM t",
    "SELECT id, lag(m, 1, f) OVER (ORDER BY id) AS c0 FROM t",
])
def test_lag_lead_default_takes_the_value_type(query: str) -> None:
    assert run_one(_window_table(), query) == "match"


@pytest.mark.parametrize(("data", "query"), [
    # abs() of a signed integer's smallest value wrapped to itself (abs(-128) was -128); DuckDB:
    # "Overflow on abs(-128)"
    (EXTREMES, "SELECT abs(i8) AS c0 FROM t"),
    (EXTREMES, "SELECT abs(i64) AS c0 FROM t"),
    (EXTREMES, "SELECT abs(i16) AS c0, abs(i32) AS c1, abs(u8) AS c2 FROM t WHERE i16 > -32768"),
    # x IN (a constant outside x's type) failed while running ("unexpected value while building
    # Series of type UInt8")
    (EXTREMES, "SELECT id, u8 NOT IN (-2147483649, -1, 65536) AS c0, i8 IN (300, 127) AS c1 FROM t"),
    (EXTREMES, "SELECT id FROM t WHERE i32 IN (2147483648, 0, NULL)"),
    # ... and a WHERE's x IN (an integer, a fraction) of an integer x, pushed into the scan, failed
    # while running ("unexpected value while building Series of type Decimal(38, 1)")
    (EXTREMES, "SELECT id FROM t WHERE i32 IN (7, 1.5, NULL)"),
    (EXTREMES, "SELECT id FROM t WHERE u8 IN (255, 0.5) OR i64 NOT IN (0, 2.5)"),
    # a // of an unsigned operand negated it where the divisor is -1 (Polars has no negation of
    # UInt32: "128 // u32" failed while planning)
    (_ints(i8=[None, -1], u32=[4294967295, None]), "SELECT count(*) AS c0 FROM t WHERE (128 // u32) IN (-5, 0)"),
    (EXTREMES, "SELECT id, 128 // u32 AS c0, u8 // -1 AS c1, -7 // u16 AS c2 FROM t WHERE u32 > 0 AND u16 > 0"),
    # a constant GROUP BY key: one group over an empty table (DuckDB: none), a Polars panic for a
    # constant boolean, and ROLLUP's rolled-up key was the constant, not NULL
    (EMPTY, "SELECT 1 AS c0, count(*) AS c1 FROM t GROUP BY 1"),
    (EMPTY, "SELECT 'x' AS c0, count(*) AS c1, sum(i8) AS c2 FROM t GROUP BY c0"),
    (EMPTY, "SELECT count(*) AS c0 FROM t GROUP BY 'x'"),
    (EXTREMES, "SELECT (2 IN (3, 4)) AS c0, count(*) AS c1 FROM t GROUP BY 1"),
    (EMPTY, "SELECT CAST(2 IN (-129, 256) AS INTEGER) AS c0, count(*) AS c1 FROM t GROUP BY 1"),
    (EXTREMES, "SELECT 1 AS c0, count(*) AS c1 FROM t GROUP BY ROLLUP (1)"),
    (EXTREMES, "SELECT 1 AS c0, u8 AS c1, count(*) AS c2, grouping(u8) AS c3 FROM t GROUP BY CUBE (1, u8)"),
    (EXTREMES, "SELECT 1 AS c0, count(*) AS c1 FROM t WHERE i8 > 100 GROUP BY 1 HAVING count(*) > 0"),
])
def test_integer_fuzzer_regression(data: dict[str, pa.Table], query: str) -> None:
    assert run_integer(data, query) == "match"


TIMES = pa.table({
    "id": pa.array([0, 1, 2, 3], pa.int64()),
    "d": pa.array([datetime.date(2024, 1, 31), None, datetime.date(2024, 2, 29), datetime.date(2023, 3, 31)]),
    "ts": pa.array([datetime.datetime(2024, 1, 31, 5), None, datetime.datetime(2024, 2, 29, 23, 59),
                    datetime.datetime(2023, 3, 31)])})


@pytest.mark.parametrize("query", [
    # an interval of several parts crashed with a ValueError (int('1 day 2 hours'))
    "SELECT id, ts - INTERVAL '1 day 2 hours' AS c0, ts + INTERVAL '1 month 2 days 3 minutes' AS c1 FROM t",
    "SELECT id, CAST(d + INTERVAL '1 month 1 day' AS DATE) AS c0, CAST(d - INTERVAL '1 month 1 day' AS DATE) AS c1 "
    "FROM t",
    "SELECT id, CAST(DATE '2024-01-31' + INTERVAL '1 month 1 day' AS DATE) AS c0, ts + INTERVAL '-1 day' AS c1, "
    "ts + INTERVAL '2 weeks' AS c2, CAST(d + INTERVAL '3' DAY AS DATE) AS c3 FROM t",
])
def test_intervals_of_several_parts(query: str) -> None:
    con = duckdb.connect()
    con.register("t", TIMES)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, t=th.from_arrow(TIMES)).to_arrow()
    assert differences(got, want) is None, (got.to_pydict(), want.to_pydict())


@pytest.mark.parametrize("interval", ["INTERVAL '1.5' DAY", "INTERVAL '10' MILLISECOND", "INTERVAL '1 fortnight'",
                                      "INTERVAL (id) DAY", "INTERVAL ''"])
def test_intervals_refused_with_a_clear_error(interval: str) -> None:
    with pytest.raises(th.UnsupportedError, match="interval"):
        th.sql(f"SELECT ts + {interval} AS c FROM t", t=th.from_arrow(TIMES)).to_arrow()


def test_is_in_with_values_outside_the_type_is_polars() -> None:
    """The DataFrame API's is_in of integers outside the column's type (it failed while running)."""
    table = pa.table({"x": pa.array([1, 44, None, 255], pa.uint8()), "y": pa.array([-128, 0, None, 5], pa.int8())})
    exprs = {"a": ("x", [300, 1, None]), "b": ("x", [-5]), "c": ("y", [-129, -128, 1000]), "d": ("y", [2**40, 5])}
    got = th.from_arrow(table).select(**{k: th.col(c).is_in(v) for k, (c, v) in exprs.items()}).to_arrow()
    want = pl.from_arrow(table).select(**{k: pl.col(c).is_in(v) for k, (c, v) in exprs.items()})  # type: ignore[union-attr]
    assert got.to_pydict() == want.to_dict(as_series=False)


@pytest.mark.parametrize(("data", "query"), [
    # an ARRAY_AGG of no rows is NULL (it was an empty list)
    (EMPTY, "SELECT array_agg(i8) AS c0, list(u8) AS c1, count(*) AS c2 FROM t"),
    (EXTREMES, "SELECT array_agg(i8) AS c0 FROM t WHERE i8 > 127"),
    # ARRAY_AGG over a window: each partition's list on every row (it failed while running:
    # "Unsupported cast from int64 to large_list")
    (EXTREMES, "SELECT id, array_agg(i8) OVER (PARTITION BY u8 > 1) AS c0 FROM t"),
    (EXTREMES, "SELECT id, list(u32) OVER () AS c0 FROM t"),
])
def test_array_agg_regression(data: dict[str, pa.Table], query: str) -> None:
    con = duckdb.connect()
    con.register("t", data["t"])
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, t=th.from_arrow(data["t"])).to_arrow()
    assert differences(got, want) is None, (got.to_pydict(), want.to_pydict())


def test_agg_list_over_is_polars_implode_over() -> None:
    """``agg_list().over(...)``: each partition's list on every row, as Polars' ``implode().over``
    (it failed while running)."""
    table = pa.table({"a": pa.array([1, 2, None], pa.int64()), "s": pa.array(["x", None, "x"])})
    got = th.from_arrow(table).select("s", l=th.col("a").agg_list().over("s"),
                                      m=th.col("a").agg_list().over("s", order_by="a")).to_arrow()
    want = pl.from_arrow(table).select("s", l=pl.col("a").implode().over("s"),  # type: ignore[union-attr]
                                       m=pl.col("a").implode().over("s", order_by="a"))
    assert got.to_pydict() == want.to_dict(as_series=False)
