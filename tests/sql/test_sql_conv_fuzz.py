"""Differential fuzzing of casts and dates against DuckDB (see ``conv_fuzz.py``), plus every failure
it found.

A query either gives DuckDB's values and type (integers of the same width, DECIMALs of the same
scale; DuckDB's narrower DECIMAL precisions are a documented difference) or is refused with a
``ThresherError``; where DuckDB raises a conversion error Thresher must raise too. Any other
exception, a failure while running where DuckDB answers, or a different answer fails.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import reject

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conv_fuzz import cast_query, mixed_query, tables, temporal_query, two_tables  # noqa: E402
from fn_fuzz import differences, same_value  # noqa: E402
from sql_fuzz import differences as multiset_differences  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import assert_mostly_supported, run_cases  # noqa: E402
from thresher.errors import ThresherExecutionError, ThresherIOError  # noqa: E402

duckdb = pytest.importorskip("duckdb")

#: DuckDB's run-time errors of a conversion: Thresher must raise where DuckDB does
CONVERSION_ERROR = re.compile(r"Conversion Error|Out of Range Error|out of range|Could not convert|can't be cast|"
                              r"Overflow in")


def _type_difference(got: pa.DataType, want: pa.DataType) -> str | None:
    if pa.types.is_null(want) or pa.types.is_null(got):
        return None
    if pa.types.is_decimal(want) and pa.types.is_decimal(got):
        return None if got.scale == want.scale else f"{got} vs DuckDB's {want}"
    if pa.types.is_integer(want) or pa.types.is_floating(want) or pa.types.is_boolean(want):
        return None if got == want else f"{got} vs DuckDB's {want}"
    return None


def _ordered_difference(got: pa.Table, want: pa.Table) -> str | None:
    g, w = got.column("id").to_pylist(), want.column("id").to_pylist()
    if g != w:
        return f"rows in another order: ids {g} vs DuckDB's {w}"
    gk, wk = got.column(1).to_pylist(), want.column(1).to_pylist()
    if not all(same_value(a, b) for a, b in zip(gk, wk)):
        return f"keys {gk} vs DuckDB's {wk}"
    return None


def run_one(table: pa.Table | dict[str, pa.Table], query: str) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    con = duckdb.connect()
    data = table if isinstance(table, dict) else {"t": table}
    for name, tab in data.items():
        con.register(name, tab)
    duck_error = None
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        if not CONVERSION_ERROR.search(str(exc)):
            reject()  # not valid for the reference either
        duck_error = str(exc).splitlines()[0]
    try:
        got = th.sql(query, **{n: th.from_arrow(x) for n, x in data.items()}).to_arrow()
    except (ThresherExecutionError, ThresherIOError) as exc:
        if duck_error is not None:
            return "match"  # both raise
        if "is not supported" in str(exc):
            return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
        if "could not convert string" in str(exc):
            # text only DuckDB reads ('0x10', '1_000' as integers): an error, never a wrong value
            # (counted as a refusal, as test_sql_fn_fuzz does)
            return "refused: could not convert string"
        raise AssertionError(f"{query}\ntables: {_show(data)}\nfailed while running: {exc}") from exc
    except th.ThresherError as exc:
        return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
    except Exception as exc:  # noqa: BLE001  (the point: anything else is a bug)
        raise AssertionError(f"{query}\ncrashed with {type(exc).__name__}: {exc}") from exc
    assert duck_error is None, f"{query}\ntables: {_show(data)}\nanswered {got.to_pydict()} where DuckDB raised {duck_error}"
    if "-- ordered" in query:
        diff = _ordered_difference(got, want)
    elif "-- multiset" in query:
        diff = multiset_differences(got, want)
    else:
        diff = differences(got, want)
    if diff is None:
        for name, g, w in zip(want.column_names, got.schema.types, want.schema.types):
            diff = diff or (lambda d, n=name: d and f"{n}: type {d}")(_type_difference(g, w))
    assert diff is None, f"{query}\ntables: {_show(data)}\n{diff}\ngot {got.to_pydict()}\nDuckDB {want.to_pydict()}"
    return "match"


def _show(data: dict[str, pa.Table]) -> str:
    return "; ".join(f"{n}: {x.to_pydict()}" for n, x in data.items())


def fuzz_casts(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((tables(), cast_query()), run_one, n, seed)


def fuzz_dates(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((tables(), temporal_query()), run_one, n, seed)


def fuzz_mixed(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((two_tables(), mixed_query()), run_one, n, seed)


def test_cast_fuzz_against_duckdb() -> None:
    assert_mostly_supported(fuzz_casts(40), 0.15)


def test_date_fuzz_against_duckdb() -> None:
    assert_mostly_supported(fuzz_dates(40), 0.15)


def test_mixed_type_fuzz_against_duckdb() -> None:
    assert_mostly_supported(fuzz_mixed(40), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_mixed_type_fuzz_against_duckdb_long(seed: int) -> None:
    assert_mostly_supported(fuzz_mixed(1500, seed), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_cast_fuzz_against_duckdb_long(seed: int) -> None:
    assert_mostly_supported(fuzz_casts(1500, seed), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_date_fuzz_against_duckdb_long(seed: int) -> None:
    assert_mostly_supported(fuzz_dates(1500, seed), 0.15)


# -- what the fuzzers found ---------------------------------------------------------------------


def _same_as_duckdb(tables: dict[str, pa.Table], query: str) -> None:
    con = duckdb.connect()
    for name, tab in tables.items():
        con.register(name, tab)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, **{n: th.from_arrow(x) for n, x in tables.items()}).to_arrow()
    assert got.schema.types == want.schema.types, f"{query}: {got.schema} vs DuckDB's {want.schema}"
    assert sorted(map(repr, got.to_pylist())) == sorted(map(repr, want.to_pylist())), query


FLOATS = pa.table({"r": pa.array([1.1, None, 0.5], pa.float32()), "i": pa.array([3, 2**40, None], pa.int64()),
                   "m": pa.array([decimal.Decimal("99.995"), None, decimal.Decimal("0.1")], pa.decimal128(9, 3)),
                   "h": pa.array([1, 2, None], pa.int16()), "j": pa.array([7, None, 1], pa.int32())})


@pytest.mark.parametrize("query", [
    "SELECT coalesce(r, i) AS c FROM t", "SELECT coalesce(r, m) AS c FROM t", "SELECT ifnull(m, r) AS c FROM t",
    "SELECT coalesce(NULL, j, r) AS c FROM t", "SELECT greatest(r, m) AS c FROM t", "SELECT least(j, r) AS c FROM t",
    "SELECT CASE WHEN h = 1 THEN r ELSE m END AS c FROM t", "SELECT CASE WHEN h = 1 THEN j WHEN h = 2 THEN r END AS c FROM t",
    "SELECT r AS c FROM t UNION ALL SELECT m FROM t", "SELECT m AS c FROM t UNION SELECT r FROM t",
    "SELECT i AS c, r AS d FROM t UNION ALL SELECT r, j FROM t", "SELECT r AS c FROM t UNION SELECT 1.5",
    "SELECT m AS c FROM t INTERSECT SELECT r FROM t", "SELECT m AS c FROM t EXCEPT ALL SELECT r FROM t",
    "SELECT r AS c FROM t UNION ALL SELECT h FROM t", "SELECT coalesce(r, 1e3) AS c FROM t",
    "SELECT r AS c FROM t UNION ALL SELECT i FROM t UNION ALL SELECT m FROM t",
])
def test_float_with_an_integer_or_decimal_is_a_float(query: str) -> None:
    # (mixed-type fuzzer) a FLOAT meeting an INTEGER, BIGINT or DECIMAL in COALESCE, GREATEST,
    # CASE or a set operation was a DOUBLE (Polars' supertype): DuckDB's FLOAT, whose DECIMAL
    # 99.995 is 99.99500274658203 (Thresher gave 99.995)
    _same_as_duckdb({"t": FLOATS}, query)


@pytest.mark.parametrize("query", [
    "SELECT m AS c FROM t UNION ALL SELECT x FROM t", "SELECT x AS c FROM t UNION SELECT m FROM t",
    "SELECT m AS c FROM t EXCEPT SELECT x FROM t", "SELECT 1.0::DOUBLE AS c UNION ALL SELECT 0.000123",
    "SELECT c FROM (VALUES (1.0::DOUBLE), (0.000123), (1234.567891)) v(c)",
    "SELECT coalesce(x, m) AS c FROM t WHERE x < 0 UNION ALL SELECT m FROM t",
    "SELECT r AS c FROM t UNION ALL SELECT m FROM t",
])
def test_decimal_meeting_a_double_in_a_set_operation_is_the_nearest_double(query: str) -> None:
    # (hand-written probe) the set operation cast its DECIMAL input to DOUBLE with Arrow's cast,
    # which multiplies by 10^-scale and is an ulp off for about one value in ten: 0.000123 became
    # 0.00012299999999999998 (DuckDB and Polars: 0.000123)
    t = pa.table({"m": pa.array([decimal.Decimal(v) for v in ("0.000123", "0.300000", "1.150000", "1234.567891")]
                                + [None], pa.decimal128(10, 6)),
                  "x": pa.array([1.5, -0.25, None, 2.0, 0.1], pa.float64()),
                  "r": pa.array([1.5, None, 0.25, 2.0, 0.5], pa.float32())})
    _same_as_duckdb({"t": t}, query)


@pytest.mark.parametrize("query", [
    "SELECT id, CAST(b AS DECIMAL(9,2)) AS c FROM t", "SELECT id, TRY_CAST(b AS DECIMAL(3,3)) AS c FROM t",
    "SELECT id, coalesce(CAST(b AS DECIMAL(38,10)), 0) AS c FROM t", "SELECT id, CAST(TRUE AS DECIMAL(4,1)) AS c FROM t",
    "SELECT CAST(b AS DECIMAL(18,3)) = 1 AS k, count(*) AS n FROM t GROUP BY 1",
])
def test_cast_of_a_boolean_to_decimal(query: str) -> None:
    # (cast fuzzer) failed while running: Polars has no Boolean -> Decimal cast (DuckDB: 1 and 0)
    _same_as_duckdb({"t": pa.table({"id": [0, 1, 2], "b": [None, True, False]})}, query)


def test_cast_of_a_boolean_to_a_too_narrow_decimal_raises() -> None:
    t = th.from_arrow(pa.table({"b": [True]}))
    with pytest.raises(ThresherExecutionError):  # (DuckDB: "Could not cast value true to DECIMAL(3,3)")
        th.sql("SELECT CAST(b AS DECIMAL(3,3)) AS c FROM t", t=t).to_arrow()


@pytest.mark.parametrize("query", [
    "SELECT r = 1.1 AS c FROM t", "SELECT r <> CAST(1.1 AS DECIMAL(9,1)) AS c FROM t", "SELECT count(*) AS c FROM t WHERE r >= 1.1",
    "SELECT r BETWEEN 1.1 AND 2 AS c FROM t", "SELECT CAST(16777217 AS BIGINT) = CAST(16777216 AS FLOAT) AS c FROM t",
    "SELECT r < m AS c, r = h AS d FROM t", "SELECT a.w, b.r FROM t a JOIN t b ON a.w = b.r",
    "SELECT a.w, b.r FROM t a LEFT JOIN t b ON a.w = b.r",
])
def test_float_compared_with_an_integer_or_decimal_in_float(query: str) -> None:
    # (mixed-type fuzzer, slow seed 0) DuckDB compares a FLOAT with an integer or a DECIMAL in
    # FLOAT: `r = 1.1` of a FLOAT 1.1 is true (Thresher compared in DOUBLE, 1.100000023841858 <>
    # 1.1: WHERE r = 1.1 found no row), DECIMAL -2.5000000001 joins FLOAT -2.5
    t = FLOATS.append_column("w", pa.array([decimal.Decimal("-2.5000000001"), None, decimal.Decimal("1.1")],
                                           pa.decimal128(38, 10)))
    t = t.set_column(0, "r", pa.array([1.1, -2.5, None], pa.float32()))
    _same_as_duckdb({"t": t}, query)


@pytest.mark.parametrize("source", ["arrow", "parquet"])
@pytest.mark.parametrize("query", [
    "SELECT r, r IN (1.1, 7) AS c FROM t", "SELECT r FROM t WHERE r IN (1.1, 2)", "SELECT r FROM t WHERE r NOT IN (1.1, 2)",
    "SELECT r, r NOT IN (1.1, 7) AS c FROM t", "SELECT r FROM t WHERE r IN (1.1e0, 2)", "SELECT r, r IN (1.1e0, 2) AS c FROM t",
    "SELECT r, r IN (16777217, 3) AS c FROM t", "SELECT r FROM t WHERE r IN (CAST(1.1 AS DECIMAL(9,1)), NULL)",
])
def test_float_in_a_list_of_integers_or_decimals_in_float(tmp_path: Path, source: str, query: str) -> None:
    # (after the fix above) `r IN (1.1, 7)` of a FLOAT 1.1 is true in DuckDB (the list's constants
    # rounded to FLOAT); Thresher compared in DOUBLE: false as a value, and NOT IN kept the row; a
    # DOUBLE constant among them (1.1e0) makes DuckDB compare in DOUBLE, where a Parquet scan's
    # pushed-down test rounded the constant to FLOAT and found the row
    t = pa.table({"r": pa.array([1.1, 2.0, None, 16777216.0], pa.float32()), "k": pa.array([1, 2, 3, 4], pa.int32())})
    con = duckdb.connect()
    con.register("t", t)
    want = sorted(map(str, con.sql(query).fetchall()))
    if source == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(t, tmp_path / "t.parquet")
        frame = th.read_parquet(str(tmp_path / "t.parquet"))
    else:
        frame = th.from_arrow(t)
    got = sorted(str(tuple(row.values())) for row in th.sql(query, t=frame).to_arrow().to_pylist())
    assert got == want, query


#: a FLOAT r (NULL among them) against DECIMALs d, m, BIGINTs n, nn (NULL among them) and a DOUBLE
#: f against BIGINTs: values that are one FLOAT (DECIMAL 1.1 and 1.1000000001, 100000.001 and
#: 100000.002, BIGINT 16777216 and 16777217) or one DOUBLE (2**53 and 2**53 + 1)
SUBQUERY_T = pa.table({
    "id": pa.array([0, 1, 2, 3, 4, 5], pa.int32()),
    "r": pa.array([1.1, -2.5, None, 0.5, 16777216.0, 100000.0], pa.float32()),
    "f": pa.array([1.1, 2.0**53, None, 0.5, 16777216.0, 1e19], pa.float64()),
    "k": pa.array([1, 2, 3, 4, 5, 1], pa.int32()),
    "d": pa.array([None, datetime.date(2024, 2, 29), datetime.date(2024, 3, 1), None, None, None], pa.date32())})
SUBQUERY_U = pa.table({
    "id": pa.array([0, 1, 2, 3, 4, 5], pa.int32()),
    "d": pa.array([decimal.Decimal(x) if x else None for x in ["1.1", "-2.5000000001", None, "7", "1.1000000001", "3"]],
                  pa.decimal128(38, 10)),
    "m": pa.array([decimal.Decimal(x) for x in ["1.100", "0.500", "3.000", "-2.500", "100000.001", "100000.002"]],
                  pa.decimal128(9, 3)),
    "n": pa.array([16777217, 1, 2, 7, 16777216, 2**53 + 1], pa.int64()),
    "nn": pa.array([16777217, 1, None, 7, 2**53, 2**53 + 1], pa.int64()),
    "k": pa.array([1, 2, 3, 5, 1, 2], pa.int32()),
    "ts": pa.array([datetime.datetime(2024, 2, 29), datetime.datetime(2024, 2, 29, 1), None, None, None, None],
                   pa.timestamp("us"))})


@pytest.mark.parametrize("source", ["arrow", "parquet"])
@pytest.mark.parametrize("query", [
    # [NOT] IN (subquery): each a row twice (two DECIMALs / BIGINTs, one FLOAT, were two groups), a NOT IN kept rows
    "SELECT id FROM t WHERE r IN (SELECT d FROM u)", "SELECT id FROM t WHERE r NOT IN (SELECT m FROM u)",
    "SELECT id FROM t WHERE r NOT IN (SELECT d FROM u WHERE d IS NOT NULL)", "SELECT id, r IN (SELECT d FROM u) AS c FROM t",
    "SELECT id, r NOT IN (SELECT n FROM u) AS c FROM t", "SELECT id FROM t WHERE r IN (SELECT d FROM u UNION SELECT m FROM u)",
    "SELECT k, count(*) AS c FROM t GROUP BY k HAVING max(r) IN (SELECT m FROM u)",
    "WITH c AS (SELECT m AS x FROM u) SELECT id FROM t WHERE r IN (SELECT x FROM c)",
    "SELECT id FROM t WHERE r * 2 IN (SELECT m * 2 FROM u)", "SELECT id FROM t WHERE abs(r) NOT IN (SELECT m FROM u)",
    # = ANY / <> ALL
    "SELECT id FROM t WHERE r = ANY (SELECT d FROM u)", "SELECT id, r <> ALL (SELECT n FROM u) AS c FROM t",
    # EXISTS and scalar subqueries correlated by a FLOAT = DECIMAL / BIGINT
    "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.d = t.r)",
    "SELECT id, EXISTS (SELECT 1 FROM u WHERE u.d = t.r) AS c FROM t",
    "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.n = t.r AND u.k <> t.k)",
    "SELECT id, (SELECT count(*) FROM u WHERE u.d = t.r) AS c FROM t",
    "SELECT id, (SELECT min(u.id) FROM u WHERE u.n = t.r) AS c FROM t",
    "SELECT id FROM t WHERE (SELECT count(*) FROM u WHERE u.d = t.r) = 2",
    "SELECT id FROM t WHERE k IN (SELECT u.k FROM u WHERE u.d = t.r)",
    # correlated IN (a list test): failed while running ('list.contains' of a Float32 in a Decimal list)
    "SELECT id FROM t WHERE r IN (SELECT d FROM u WHERE u.k = t.k)", "SELECT id FROM t WHERE f IN (SELECT k FROM u WHERE u.id <> t.id)",
    "SELECT id FROM t WHERE d IN (SELECT ts FROM u WHERE u.id < t.id)",
    # a DOUBLE with BIGINTs (two BIGINTs one DOUBLE)
    "SELECT id, (SELECT count(*) FROM u WHERE u.nn = t.f) AS c FROM t", "SELECT id, f IN (SELECT nn FROM u) AS c FROM t",
    "SELECT id, f NOT IN (SELECT nn FROM u) AS c FROM t",
])
def test_float_compared_with_a_subquery_in_float(tmp_path: Path, source: str, query: str) -> None:
    # DuckDB compares a FLOAT with an integer or a DECIMAL in FLOAT in subqueries too: Thresher
    # compared IN / NOT IN / EXISTS / scalar subqueries in DOUBLE, and decorrelation grouped the
    # subquery by its own values before the join compared them in FLOAT (rows twice, counts split)
    con = duckdb.connect()
    con.register("t", SUBQUERY_T)
    con.register("u", SUBQUERY_U)
    want = sorted(map(repr, con.sql(query).fetchall()))
    if source == "parquet":
        import pyarrow.parquet as pq

        frames = {}
        for name, tab in (("t", SUBQUERY_T), ("u", SUBQUERY_U)):
            pq.write_table(tab, tmp_path / f"{name}.parquet")
            frames[name] = th.read_parquet(str(tmp_path / f"{name}.parquet"))
    else:
        frames = {"t": th.from_arrow(SUBQUERY_T), "u": th.from_arrow(SUBQUERY_U)}
    got = sorted(repr(tuple(row.values())) for row in th.sql(query, **frames).to_arrow().to_pylist())
    assert got == want, query


@pytest.mark.parametrize("query", [
    "SELECT id FROM t WHERE coalesce(r, 0) IN (SELECT m FROM u)", "SELECT id, coalesce(r, 0) IN (SELECT m FROM u) AS c FROM t",
])
def test_float_compared_with_a_subquery_of_unknown_type_is_refused(query: str) -> None:
    # where the comparison's type is not known before decorrelation groups the subquery, the
    # answer would hold a row twice (FLOAT 100000 is DECIMAL 100000.001 and 100000.002): refused
    frames = {"t": th.from_arrow(SUBQUERY_T), "u": th.from_arrow(SUBQUERY_U)}
    with pytest.raises(th.ThresherError, match="CAST the subquery's value to FLOAT"):
        th.sql(query, **frames).to_arrow()
