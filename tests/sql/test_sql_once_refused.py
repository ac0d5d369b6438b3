"""SQL constructs that were refused ("DISTINCT ON is not supported", "unsupported SQL construct
BitwiseAnd", ...) answered as DuckDB answers them: values and result types, through the same Arrow
tables (differential tests). Results compared in order where the query fixes the order."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest

import thresher as th
from duckdb_diff import column_types, duckdb_rows, thresher_rows
from thresher.errors import ThresherError

duckdb = pytest.importorskip("duckdb")

T = pa.table({
    "a": pa.array([1, 2, 2, 3, None, 1, 3, None], pa.int64()),
    "b": pa.array([5, 4, 3, 2, 1, 7, 9, 8], pa.int32()),
    "s": pa.array(["x", "y", "y", None, "z", "q", "x", None]),
    "y": pa.array([7, -3, 0, 127, None, -128, 1, 64], pa.int8()),
    "h": pa.array([3, 300, -5, None, 0, 12, 7, 1], pa.int16()),
    "uy": pa.array([200, 100, 0, 63, 64, None, 1, 255], pa.uint8()),
    "ub": pa.array([9, 0, 2 ** 64 - 1, None, 2 ** 63, 1, 5, 7], pa.uint64()),
    "f": pa.array([1.5, 2.5, None, -1.0, 3.25, 0.5, 2.0, -7.5]),
})
TABLES = {"t": T}


def _ordered(query: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(Thresher's rows, DuckDB's rows), in the order each answers."""
    con = duckdb.connect()
    con.register("t", T)
    want = con.sql(query).to_arrow_table().to_pylist()
    got = th.sql(query, t=th.from_arrow(T)).to_arrow().to_pylist()
    return got, want


# -- DISTINCT ON: the first row of each key in ORDER BY's order, the answer in that order --------
DISTINCT_ON = [
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b",
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a DESC NULLS LAST, b DESC",
    "SELECT DISTINCT ON (a) b FROM t ORDER BY a, b",  # (a key not selected)
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY b DESC",  # (ORDER BY not led by the key)
    "SELECT DISTINCT ON (1) a, b FROM t ORDER BY a, b",
    "SELECT DISTINCT ON (a + 1) a AS z, b FROM t ORDER BY b",
    "SELECT DISTINCT ON (z) a AS z, b FROM t ORDER BY b",
    "SELECT DISTINCT ON (a, s) a, s, b FROM t ORDER BY b",
    "SELECT DISTINCT ON (a % 2) a, b FROM t ORDER BY b DESC",
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY b LIMIT 2",
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY b LIMIT 2 OFFSET 1",
    "SELECT DISTINCT ON (a) * FROM t ORDER BY a NULLS FIRST, b",
    "SELECT DISTINCT ON (s) s, sum(b) AS sb FROM t GROUP BY s, a ORDER BY s, sum(b) DESC, a",
    "SELECT DISTINCT ON (a) a, row_number() OVER (ORDER BY b) AS r FROM t ORDER BY b DESC",
    "SELECT DISTINCT ON (a) a, b FROM (SELECT a, b FROM t WHERE b > 2) q ORDER BY a, b",
]


@pytest.mark.parametrize("query", DISTINCT_ON)
def test_distinct_on_as_duckdb(query: str) -> None:
    got, want = _ordered(query)
    assert got == want
    g, w = column_types(query, TABLES)
    assert [n for n, _ in g] == [n for n, _ in w]


def test_distinct_on_without_order_by_keeps_one_row_per_key() -> None:
    """Without ORDER BY DuckDB keeps any row of each key: the keys and the row count agree."""
    query = "SELECT DISTINCT ON (a) a, b FROM t"
    got, want = _ordered(query)
    assert sorted(map(repr, (r["a"] for r in got))) == sorted(map(repr, (r["a"] for r in want)))
    rows = {(r["a"], r["b"]) for r in T.select(["a", "b"]).to_pylist()}
    assert all((r["a"], r["b"]) in rows for r in got)


# -- GROUP BY (): one group of every row ---------------------------------------------------------
GROUP_BY_EMPTY = [
    "SELECT count(*) AS c FROM t GROUP BY ()",
    "SELECT count(*) AS c, sum(a) AS s FROM t WHERE a > 100 GROUP BY ()",
    "SELECT 1 AS x FROM t GROUP BY ()",
    "SELECT 1 AS x FROM t WHERE a > 100 GROUP BY ()",
    "SELECT count(*) AS c FROM t GROUP BY (), ()",
    "SELECT count(*) AS c FROM t GROUP BY () HAVING count(*) > 100",
    "SELECT a, count(*) AS c FROM t GROUP BY a, ()",
    "SELECT a, count(*) AS c FROM t GROUP BY ROLLUP (a), ()",
    "SELECT a, s, count(*) AS c FROM t GROUP BY GROUPING SETS ((a), ()), s",
]


@pytest.mark.parametrize("query", GROUP_BY_EMPTY)
def test_group_by_empty_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


# -- bitwise operators: &, |, xor, <<, >>, ~, bit_count (DuckDB's ^ is a power) -----------------
BITS = [
    "SELECT a & b AS p, a | b AS q, xor(a, b) AS r, a << 2 AS s1, b >> 1 AS s2, ~a AS n, bit_count(a) AS c, "
    "2 ^ 3 AS w, a >> 70 AS z, b >> 31 AS z2 FROM t",
    "SELECT b & 3 AS p, b << 20 AS q, bit_count(b) AS c, ~b AS n, 5 << 2 AS k, (5 << 2) + 1 AS k2, ~5 AS k3, "
    "a & NULL AS k4, NULL & NULL AS k5, ~NULL AS k6, b | 300 AS k7, b >> 40 AS k8, -b >> 1 AS k9, "
    "b >> -1 AS k10, 0 << 40 AS k11 FROM t",
    "SELECT y & h AS p, y | 1 AS q, xor(y, 1000) AS r, y >> 3 AS s1, ~y AS n, bit_count(y) AS c, bit_count(h) AS e, "
    "h << y % 4 AS g, y << 0 AS o FROM t WHERE y >= 0 AND h >= 0",
    "SELECT uy & 1 AS p, uy | 300 AS q, ~uy AS n, uy >> 9 AS r, uy >> 3 AS s1, bit_count(uy) AS c, "
    "uy & y AS e FROM t",
    "SELECT ub & 1 AS p, ~ub AS n, ub >> 63 AS r, ub >> 1 AS s1, bit_count(ub) AS c, ub | ub AS e FROM t",
    "SELECT bit_count(-1) AS c, bit_count(a - 5) AS d, bit_count(CAST(-1 AS BIGINT)) AS e FROM t",
    "SELECT a FROM t WHERE a & 1 = 1 OR b >> 2 = 2",
    "SELECT b >> 1 AS k, max(a & 1) AS s, bit_or(b << 1) AS o FROM t GROUP BY b >> 1",
]


@pytest.mark.parametrize("query", BITS)
def test_bitwise_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)
    got, want = column_types(query, TABLES)
    assert got == want


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT b << 40 FROM t", "Left-shift value out of range"),
    ("SELECT 1 << 62", "Left-shift value out of range"),
    ("SELECT -b << 1 FROM t", "Cannot left-shift negative number"),
    ("SELECT b << -1 FROM t", "Cannot left-shift by negative number"),
    ("SELECT b << 29 FROM t", "Overflow in left shift"),
    ("SELECT y << 6 FROM t WHERE y = 7", "Overflow in left shift"),
    ("SELECT uy << 1 FROM t WHERE uy = 200", "Overflow in left shift"),
])
def test_left_shift_errors_as_duckdb(query: str, message: str) -> None:
    con = duckdb.connect()
    con.register("t", T)
    with pytest.raises(duckdb.OutOfRangeException):
        con.sql(query).fetchall()
    with pytest.raises(ThresherError, match=message):
        th.sql(query, t=th.from_arrow(T)).to_arrow()


def test_left_shift_of_unsigned_to_its_top_bit_as_duckdb() -> None:
    query = "SELECT uy << 1 AS r FROM t WHERE uy = 100 OR uy = 63"
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT f & 1 FROM t", "expected an integer"),
    ("SELECT ub << a FROM t", "HUGEINT"),  # (ub & a: DuckDB's HUGEINT, answered, see test_sql_duckdb_gaps)
])
def test_bitwise_refused(query: str, message: str) -> None:
    with pytest.raises(ThresherError, match=message):
        th.sql(query, t=th.from_arrow(T)).to_arrow()


# -- date_add(x, INTERVAL ...): x + INTERVAL as a TIMESTAMP; age() refused (an INTERVAL) --------
D = pa.table({
    "d": pa.array([datetime.date(2024, 1, 31), datetime.date(2023, 2, 28), None, datetime.date(1969, 12, 31)]),
    "ts": pa.array([datetime.datetime(2024, 1, 31, 12, 30, 5), None, datetime.datetime(2023, 6, 1),
                    datetime.datetime(1969, 12, 31, 23, 59, 59, 500000)], pa.timestamp("us")),
})


@pytest.mark.parametrize("query", [
    "SELECT date_add(d, INTERVAL 1 MONTH) AS a, date_add(d, INTERVAL 36 HOUR) AS b, "
    "date_add(DATE '2024-01-31', INTERVAL 1 MONTH) AS c, date_add(ts, INTERVAL '1 year 2 days') AS e, "
    "date_add(ts, INTERVAL 1 DAY) AS f FROM t",
    "SELECT datediff('month', d, ts) AS a, date_diff('day', d, DATE '2024-03-01') AS b, date_part('year', ts) AS c, "
    "last_day(d) AS e, make_date(2024, 2, 29) AS f, strftime(d, '%Y/%m/%d') AS g, "
    "strptime('2024-01-02 10:11:12', '%Y-%m-%d %H:%M:%S') AS h FROM t",
])
def test_date_functions_as_duckdb(query: str) -> None:
    assert thresher_rows(query, {"t": D}) == duckdb_rows(query, {"t": D})
    got, want = column_types(query, {"t": D})
    assert got == want


def test_age_refused_naming_it() -> None:
    with pytest.raises(ThresherError, match=r"age\(\) is not supported.*INTERVAL.*line 1, column"):
        th.sql("SELECT age(ts, TIMESTAMP '2020-01-01') FROM t", t=th.from_arrow(D)).to_arrow()


# -- outer, semi and anti joins whose ON is not only equalities: DuckDB's nested loop join -------
J_T = pa.table({"a": pa.array([1, 1, None, None, 3, 2], pa.int64()),
                "f": pa.array([float("nan"), float("nan"), None, None, 1.5, 2.0]),
                "s": pa.array(["x", "x", None, None, "y", "z"])})
J_U = pa.table({"x": pa.array([1, 2, None], pa.int64()), "g": pa.array([0.5, float("nan"), 3.0])})


@pytest.mark.parametrize("query", [
    "SELECT * FROM t LEFT JOIN u ON t.a < u.x",
    "SELECT * FROM t FULL JOIN u ON t.f < u.g",
    "SELECT * FROM t RIGHT JOIN u ON t.a >= u.x AND t.s <> 'z'",
    "SELECT t.a, u.x, u.g FROM t LEFT JOIN u ON t.a = u.x AND t.f > u.g",
    "SELECT t.a, u.x FROM t LEFT JOIN u ON t.a = u.x AND t.f IS NULL",
    "SELECT t.a, u.x FROM t LEFT JOIN u ON t.a > 1",
    "SELECT t.*, u.x, v.g AS vg FROM t LEFT JOIN u ON t.a < u.x LEFT JOIN u AS v ON v.g > t.f",
    "SELECT * FROM t LEFT JOIN u ON t.a < u.x WHERE u.x IS NULL",
    "SELECT * FROM t LEFT JOIN u ON t.a < u.x WHERE u.x > 1",
    "SELECT t.s, count(u.x) AS c FROM t LEFT JOIN u ON t.a <= u.x OR u.x IS NULL GROUP BY t.s",
    "SELECT t.a, u.x FROM t JOIN u ON t.a = u.x LEFT JOIN u AS v ON v.x > t.a",
    "SELECT * FROM t FULL JOIN u ON true",
    "SELECT count(*) AS c FROM t FULL JOIN u ON t.a < u.x",  # (projection pushdown kept a column per input)
    "SELECT count(*) AS c FROM t LEFT JOIN u ON t.f < u.g",
    "SELECT * FROM t LEFT JOIN u ON false",
    "SELECT t.a, t.s FROM t SEMI JOIN u ON t.a < u.x",
    "SELECT t.a, t.s FROM t ANTI JOIN u ON t.a < u.x",
    "SELECT t.a, t.s FROM t ANTI JOIN u ON t.a = u.x AND t.f < u.g",
])
def test_non_equi_outer_joins_as_duckdb(query: str) -> None:
    tables = {"t": J_T, "u": J_U}
    assert thresher_rows(query, tables) == duckdb_rows(query, tables)
    got, want = column_types(query, tables)
    assert got == want


# -- corr / covar_pop / covar_samp / regr_*: compared to DuckDB's with a relative tolerance ----------
# (DuckDB streams; Thresher sums centred products in two passes: the last digits differ)
R = pa.table({"y": pa.array([1.0, 2.0, 3.0, 5.0, 1.0, 2.0, 2.0, None, 3.0, 3.0, 0.25, -7.5]),
              "x": pa.array([2.0, 4.0, 7.0, None, 1.0, 2.0, 3.0, 1.0, 5.0, 5.0, 1e6, 1e6 + 3]),
              "g": pa.array([1, 1, 1, 2, 3, 4, 4, 5, 6, 6, 7, 7]),
              "i": pa.array([1, 5, 2, 8, 3, 3, 9, 1, 4, 4, -2, 6], pa.int32())})
_STATS = ("corr(y, x) AS a, covar_pop(y, x) AS b, covar_samp(y, x) AS c, regr_slope(y, x) AS d, "
          "regr_intercept(y, x) AS e, regr_r2(y, x) AS f, regr_count(y, x) AS h, regr_avgx(y, x) AS j, "
          "regr_avgy(y, x) AS k, regr_sxx(y, x) AS l, regr_syy(y, x) AS m, regr_sxy(y, x) AS n")


def _close(got: list[dict[str, object]], want: list[dict[str, object]]) -> bool:
    import math

    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        for u, v in zip(g.values(), w.values()):
            if u is None or v is None or isinstance(u, str):
                if u != v:
                    return False
            elif isinstance(u, float) and math.isnan(u):
                if not (isinstance(v, float) and math.isnan(v)):
                    return False
            elif not math.isclose(float(u), float(v), rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
                return False
    return True


@pytest.mark.parametrize("query", [
    f"SELECT g, {_STATS} FROM t GROUP BY g ORDER BY g",  # (no pair, one pair, a constant x or y)
    f"SELECT {_STATS} FROM t",
    f"SELECT {_STATS} FROM t WHERE g > 100",
    "SELECT covar_pop(y, i) AS a, covar_samp(i, x) AS b, corr(i, i) AS c, regr_slope(i, y) AS d FROM t",
    "SELECT g, corr(y, x) FILTER (WHERE i > 1) AS a, regr_count(y, x) FILTER (WHERE i > 1) AS b FROM t "
    "GROUP BY g ORDER BY g",
    "SELECT g, corr(y, x) OVER (PARTITION BY g) AS a, covar_samp(y, x) OVER () AS b FROM t ORDER BY g, i",
])
def test_regression_aggregates_as_duckdb(query: str) -> None:
    con = duckdb.connect()
    con.register("t", R)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, t=th.from_arrow(R)).to_arrow()
    assert _close(got.to_pylist(), want.to_pylist())
    assert [(f.name, str(f.type)) for f in got.schema] == [(f.name, str(f.type)) for f in want.schema]


# -- a set operation of VARCHAR with another type: VARCHAR, the other side cast as CAST does ----
U = pa.table({"i": pa.array([5, None, -3], pa.int32()), "f": [1.5, 1e301, 0.1],
              "d": [datetime.date(2024, 1, 2), None, datetime.date(1900, 1, 1)], "b": [True, False, None],
              "m": pa.array([decimal.Decimal("2.50"), decimal.Decimal("-0.05"), None], pa.decimal128(5, 2)),
              "s": ["x", None, "7"],
              "ts": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 500000), None, datetime.datetime(2000, 1, 1)],
                             pa.timestamp("us")),
              "r": pa.array([3.25, None, 0.1], pa.float32()), "l": pa.array([2 ** 40, None, -1], pa.int64())})


@pytest.mark.parametrize("query", [
    "SELECT i AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT s AS c FROM t UNION SELECT i FROM t",
    "SELECT f AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT d AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT b AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT m AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT ts AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT r AS c FROM t UNION ALL SELECT s FROM t",
    "SELECT 1 AS c UNION ALL SELECT 'x'",
    "SELECT i AS c, s AS e FROM t UNION SELECT s, l FROM t",
    "SELECT i AS c FROM t UNION ALL SELECT '7'",
    "SELECT i AS c FROM t INTERSECT SELECT s FROM t",
    "SELECT i AS c FROM t EXCEPT SELECT s FROM t",
    "SELECT NULL AS c UNION ALL SELECT s FROM t",
])
def test_set_operation_of_text_and_another_type_as_duckdb(query: str) -> None:
    assert thresher_rows(query, {"t": U}) == duckdb_rows(query, {"t": U})
    got, want = column_types(query, {"t": U})
    assert got == want


def test_duplicate_output_names_of_a_derived_table_stay_refused() -> None:
    """A derived table with two columns named a (DuckDB answers, and refuses ``s.a`` as ambiguous);
    the query's own outputs are renamed as DuckDB's DataFrames name them (test_sql_duckdb_gaps)."""
    with pytest.raises(ThresherError, match=r"duplicate output column name 'a'.*line 1, column"):
        th.sql("SELECT * FROM (SELECT a, a FROM t) AS s", t=th.from_arrow(T)).to_arrow()
