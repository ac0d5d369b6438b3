"""Differential SQL fuzzing against DuckDB of DOUBLE columns holding NaN, +-inf, -0.0 and NULL.

SQL orders NaN above every number and equal to itself (DuckDB: ``max`` of 1.0 and NaN is NaN, a
GROUP BY, DISTINCT, join or set operation puts NaNs together, and -0.0 equals 0.0 there), where
Polars' DataFrame semantics differ in places (its ``max`` skips NaN). The other SQL fuzzers draw
no NaN or infinity. Hypothesis draws two small tables ``t`` and ``u`` (``id``, a small integer
``g``, a string ``s``, a DOUBLE ``x``) and a query of one of these shapes over ``x``: aggregates
(grouped by ``g``, ``s`` or ``x`` itself, ROLLUP, HAVING, FILTER, DISTINCT), ORDER BY with
LIMIT, DISTINCT and set operations, joins and IN / NOT IN / EXISTS / ANY / ALL on ``x``,
comparisons with NaN and infinite constants, windows (partitioned or ordered by ``x``, framed
min/max), scalar expressions (greatest/least, CASE, NULLIF, rounding) and scalar subqueries.
Each query must give DuckDB's rows (-0.0 equal to 0.0, NaN to NaN), or be refused with a
``ThresherError``.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sql_fuzz import ordered_differences, type_differences  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import assert_mostly_supported  # noqa: E402
from thresher.errors import ThresherExecutionError, ThresherIOError  # noqa: E402

duckdb = pytest.importorskip("duckdb")

NAN, INF = float("nan"), float("inf")
XS = [None, NAN, INF, -INF, 0.0, -0.0, 1.5, -2.0, 3.0, 1e300]  # (no overflow to inf: where it meets -inf the sum of floats depends on the order)
GS = [None, 0, 1, 2]
SS = [None, "a", "b", ""]


@st.composite
def tables(draw: Any) -> dict[str, pa.Table]:
    out = {}
    for name in ("t", "u"):
        n = draw(st.integers(0, 7))
        out[name] = pa.table({
            "id": pa.array(range(n), pa.int64()),
            "g": pa.array(draw(st.lists(st.sampled_from(GS), min_size=n, max_size=n)), pa.int64()),
            "s": pa.array(draw(st.lists(st.sampled_from(SS), min_size=n, max_size=n)), pa.string()),
            "x": pa.array(draw(st.lists(st.sampled_from(XS), min_size=n, max_size=n)), pa.float64()),
        })
    return out


CONSTS = ["'nan'::DOUBLE", "'inf'::DOUBLE", "'-inf'::DOUBLE", "0", "-0.0", "1.5", "CAST(NULL AS DOUBLE)"]
OPS = ["=", "<>", "<", "<=", ">", ">="]
#: aggregates of x (each a column of its own)
AGGS = ["min(x)", "max(x)", "sum(x)", "avg(x)", "count(x)", "count(DISTINCT x)", "max(DISTINCT x)",
        "min(DISTINCT x)", "max(x) FILTER (WHERE g > 0)", "min(x) FILTER (WHERE s = 'a')", "max(x + 1)",
        "max(-x)", "min(abs(x))", "max(CASE WHEN g > 0 THEN x END)", "median(x)", "max(x) - min(x)",
        "count(*)", "max(greatest(x, 0))", "min(least(x, 0))"]
#: scalar expressions of x
SCALARS = ["x + 1", "x * 0", "-x", "abs(x)", "x - x", "greatest(x, 1.5)", "least(x, 1.5)", "greatest(x, g)",
           "coalesce(x, -1)", "nullif(x, 0)", "nullif(x, 'nan'::DOUBLE)", "round(x, 1)", "floor(x)", "ceil(x)",
           "sign(x)", "x = x", "x <> x", "x < 'inf'::DOUBLE", "CASE WHEN x > 0 THEN 'p' WHEN x <= 0 THEN 'n' ELSE 'o' END",
           "CASE WHEN g = 1 THEN x ELSE 0 END", "x IN (1.5, 'nan'::DOUBLE)", "x NOT IN (0.0, 3.0)",
           "x BETWEEN -2 AND 'inf'::DOUBLE", "x BETWEEN 0 AND 'nan'::DOUBLE", "sqrt(abs(x))", "x / 2", "x * x"]
WINDOW_AGGS = ["max(x)", "min(x)", "sum(x)", "count(x)", "avg(x)"]


def _pred(draw: Any) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return f"x {draw(st.sampled_from(OPS))} {draw(st.sampled_from(CONSTS))}"
    if kind == 1:
        return f"NOT (x {draw(st.sampled_from(OPS))} {draw(st.sampled_from(CONSTS))})"
    if kind == 2:
        return f"x IN ({', '.join(draw(st.lists(st.sampled_from(CONSTS[:-1]), min_size=1, max_size=3)))})"
    if kind == 3:
        return f"x {draw(st.sampled_from(['', 'NOT ']))}BETWEEN {draw(st.sampled_from(CONSTS))} AND {draw(st.sampled_from(CONSTS))}"
    return f"(x IS NULL OR g {draw(st.sampled_from(OPS))} 1)"


@st.composite
def queries(draw: Any) -> str:  # noqa: C901  (one grammar)
    shape = draw(st.integers(0, 8))
    where = f" WHERE {_pred(draw)}" if draw(st.booleans()) else ""
    if shape == 0:  # aggregates, grouped or not
        aggs = draw(st.lists(st.sampled_from(AGGS), min_size=1, max_size=3, unique=True))
        keys = draw(st.lists(st.sampled_from(["g", "s", "x"]), min_size=0, max_size=2, unique=True))
        if keys and draw(st.integers(0, 4)) == 0:
            group = f" GROUP BY ROLLUP({', '.join(keys)})"
        else:
            group = f" GROUP BY {', '.join(keys)}" if keys else ""
        having = ""
        if keys and draw(st.booleans()):
            having = f" HAVING {draw(st.sampled_from(['max(x)', 'min(x)', 'sum(x)']))} {draw(st.sampled_from(OPS))} " \
                     f"{draw(st.sampled_from(CONSTS))}"
        return f"SELECT {', '.join([*keys, *aggs])} FROM t{where}{group}{having}"
    if shape == 1:  # ORDER BY x with ties broken by id, LIMIT
        desc = draw(st.sampled_from(["", " DESC"]))
        nulls = draw(st.sampled_from(["", " NULLS FIRST", " NULLS LAST"]))
        limit = draw(st.sampled_from(["", " LIMIT 3", " LIMIT 2 OFFSET 1"]))
        e = draw(st.sampled_from(["x", "-x", "abs(x)", "x * 0", "greatest(x, 0)"]))
        return f"SELECT {e} AS k, id FROM t{where} ORDER BY k{desc}{nulls}, id{limit} -- ordered: 2"
    if shape == 2:  # DISTINCT and set operations
        if draw(st.booleans()):
            cols = draw(st.sampled_from(["x", "x, g", "x * 0", "abs(x)", "x + 0"]))
            return f"SELECT DISTINCT {cols} FROM t{where}"
        op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"]))
        e = draw(st.sampled_from(["x", "x, g", "abs(x)"]))
        return f"SELECT {e} FROM t{where} {op} SELECT {e} FROM u"
    if shape == 3:  # joins on x
        how = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]))
        on = draw(st.sampled_from(["t.x = u.x", "t.x = u.x AND t.g = u.g", "t.x = -u.x", "t.x = u.x + 0",
                                   "abs(t.x) = abs(u.x)"] + (["t.x < u.x", "t.x <> u.x"] if how == "JOIN" else [])))
        w = f" WHERE t.{_pred(draw)}" if draw(st.booleans()) else ""
        return f"SELECT t.id AS tid, u.id AS uid, t.x AS tx, u.x AS ux FROM t {how} u ON {on}{w}"
    if shape == 4:  # IN / NOT IN / EXISTS / ANY / ALL / scalar subqueries over x
        sub_where = draw(st.sampled_from(["", " WHERE u.x IS NOT NULL", " WHERE u.g > 0", " WHERE u.x > 0"]))
        form = draw(st.integers(0, 5))
        if form == 0:
            cond = f"x {draw(st.sampled_from(['IN', 'NOT IN']))} (SELECT u.x FROM u{sub_where})"
        elif form == 1:
            cond = (f"{draw(st.sampled_from(['', 'NOT ']))}EXISTS (SELECT 1 FROM u WHERE u.x = t.x"
                    f"{draw(st.sampled_from(['', ' AND u.g = t.g']))})")
        elif form == 2:
            cond = (f"x {draw(st.sampled_from(OPS))} {draw(st.sampled_from(['ANY', 'ALL']))} "
                    f"(SELECT u.x FROM u{sub_where})")
        elif form == 3:
            cond = f"x {draw(st.sampled_from(OPS))} (SELECT {draw(st.sampled_from(['max', 'min']))}(u.x) FROM u{sub_where})"
        elif form == 4:
            return (f"SELECT id, x, (SELECT {draw(st.sampled_from(['max', 'min', 'count', 'sum']))}(u.x) FROM u "
                    f"WHERE u.g = t.g) AS m FROM t")
        else:
            return f"SELECT id, x {draw(st.sampled_from(['IN', 'NOT IN']))} (SELECT u.x FROM u{sub_where}) AS b FROM t"
        return f"SELECT id, x FROM t WHERE {cond}"
    if shape == 5:  # windows
        agg = draw(st.sampled_from(WINDOW_AGGS))
        part = draw(st.sampled_from(["", "PARTITION BY g", "PARTITION BY x", "PARTITION BY s"]))
        order = draw(st.sampled_from(["", "ORDER BY id", "ORDER BY x, id", "ORDER BY x DESC, id"]))
        frame = ""
        if order and draw(st.booleans()):
            frame = draw(st.sampled_from([" ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING",
                                          " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                                          " ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"]))
        rank = draw(st.sampled_from(["rank() OVER (ORDER BY x)", "dense_rank() OVER (ORDER BY x DESC)",
                                     "row_number() OVER (ORDER BY x, id)", "lag(x) OVER (ORDER BY id)",
                                     "first_value(x) OVER (PARTITION BY g ORDER BY x DESC, id)",
                                     "count(*) OVER (PARTITION BY x)",
                                     "sum(id) OVER (ORDER BY x RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)"]))
        return f"SELECT id, x, {agg} OVER ({part} {order}{frame}) AS w, {rank} AS r FROM t{where}"
    if shape == 6:  # scalar expressions
        items = draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=3, unique=True))
        return f"SELECT id, {', '.join(items)} FROM t{where}"
    if shape == 7:  # a grouped derived table under outer filters and ORDER BY
        agg = draw(st.sampled_from(["max(x)", "min(x)", "sum(x)", "avg(x)"]))
        key = draw(st.sampled_from(["g", "s", "x"]))
        return (f"SELECT k, m FROM (SELECT {key} AS k, {agg} AS m FROM t{where} GROUP BY {key}) "
                f"WHERE m {draw(st.sampled_from(OPS))} {draw(st.sampled_from(CONSTS))} OR k IS NULL")
    # a join back to an aggregate of the same table (TPC-H q17's shape)
    agg = draw(st.sampled_from(["max", "min", "avg"]))
    return (f"SELECT t.id, t.x, a.m FROM t JOIN (SELECT g, {agg}(x) AS m FROM t GROUP BY g) a ON t.g = a.g "
            f"WHERE t.x {draw(st.sampled_from(OPS))} a.m")


def _norm(v: object) -> object:
    if isinstance(v, float) and v == 0.0:
        return 0.0  # (-0.0 equals 0.0 in SQL; which of the two a result shows is open)
    if isinstance(v, bool):
        return int(v)
    return v


def _key(row: tuple[object, ...]) -> tuple[tuple[int, str], ...]:
    out = []
    for v in map(_norm, row):
        if v is None:
            out.append((0, ""))
        elif isinstance(v, (int, float)):
            out.append((1, repr(float(v))))
        else:
            out.append((2, str(v)))
    return tuple(out)


def _same(a: object, b: object) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(c.to_pylist() for c in table.columns)), key=_key) if table.num_rows else []


def differences(got: pa.Table, want: pa.Table) -> str | None:
    if got.num_columns != want.num_columns:
        return f"{got.num_columns} columns vs DuckDB's {want.num_columns}"
    g, w = _rows(got), _rows(want)
    if len(g) != len(w) or not all(all(_same(x, y) for x, y in zip(a, b)) for a, b in zip(g, w)):
        return f"rows differ: {g} vs DuckDB's {w}"
    return None


def run_one(data: dict[str, pa.Table], query: str) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    con = duckdb.connect()
    for name, tab in data.items():
        con.register(name, tab)
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error:
        reject()  # (an overflow of 1e308 cast, an invalid query: nothing to compare with)
    frames = {n: th.from_arrow(t) for n, t in data.items()}
    try:
        got = th.sql(query, **frames).to_arrow()
    except (ThresherExecutionError, ThresherIOError) as exc:  # a failure while running is a bug
        raise AssertionError(f"{query}\nfailed while running: {exc}") from exc
    except th.ThresherError as exc:
        return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
    except Exception as exc:  # noqa: BLE001  (the point: anything else is a bug)
        raise AssertionError(f"{query}\ncrashed with {type(exc).__name__}: {exc}") from exc
    diff = differences(got, want) or ordered_differences(query, got, want) or type_differences(got, want)
    assert diff is None, f"{query}\ntables: { {n: t.to_pydict() for n, t in data.items()} }\n{diff}"
    return "match"


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    stats: Counter[str] = Counter()

    @settings(max_examples=n, derandomize=seed is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tables(), queries())
    def check(data: dict[str, pa.Table], query: str) -> None:
        outcome = run_one(data, query)
        stats["match" if outcome == "match" else "refused"] += 1
        if outcome != "match":
            stats[outcome] += 1

    if seed is not None:
        check = with_seed(seed)(check)
    check()
    return stats


def test_sql_float_fuzz_against_duckdb() -> None:
    assert_mostly_supported(fuzz(150), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sql_float_fuzz_against_duckdb_long(seed: int) -> None:
    assert_mostly_supported(fuzz(1500, seed), 0.1)


# -- what the fuzzer found, kept as regression tests ---------------------------------------------------
_T = pa.table({"id": pa.array(range(7), pa.int64()), "g": pa.array([1, 1, 2, 2, 3, None, 1], pa.int64()),
               "s": pa.array(["a", "b", "a", None, "b", "a", ""]),
               "x": pa.array([1.0, NAN, INF, None, NAN, -0.0, 3.0], pa.float64())})
_U = pa.table({"id": pa.array(range(3), pa.int64()), "g": pa.array([1, 2, None], pa.int64()),
               "s": pa.array(["a", "b", None]), "x": pa.array([NAN, 0.0, 2.0], pa.float64())})


@pytest.mark.parametrize("query", [
    "SELECT max(x) FROM t",
    "SELECT g, max(x), min(x) FROM t GROUP BY g",
    "SELECT s, max(x) FROM t GROUP BY ROLLUP(s)",
    "SELECT max(DISTINCT x), max(x) FILTER (WHERE g = 1) FROM t",
    "SELECT g, max(x) FROM t GROUP BY g HAVING max(x) > 2",
    "SELECT (SELECT max(x) FROM u)",
    "SELECT id FROM t WHERE x >= (SELECT max(x) FROM u)",
    "SELECT id, (SELECT max(u.x) FROM u WHERE u.g = t.g) FROM t",
    "SELECT t.id, t.x, a.m FROM t JOIN (SELECT g, max(x) AS m FROM t GROUP BY g) a ON t.g = a.g WHERE t.x < a.m",
    "SELECT id FROM t WHERE x < (SELECT max(t2.x) FROM t t2 WHERE t2.g = t.g)",
    "SELECT k, m FROM (SELECT g AS k, max(x) AS m FROM t GROUP BY g) WHERE m > 1",
    "SELECT id, max(x) OVER (PARTITION BY g) FROM t",
    "SELECT max(CAST(x AS REAL)) FROM t",
])
def test_sql_max_of_doubles_is_nan_where_one_is_nan(query: str) -> None:
    """SQL's max of DOUBLEs is NaN where a value is NaN (NaN is the greatest value, as DuckDB's);
    it skipped NaN (Polars' ``max``, the DataFrame API's): ``max`` of NaN and inf was inf."""
    assert run_one({"t": _T, "u": _U}, query) == "match"


def test_sql_max_of_doubles_over_partial_aggregates() -> None:
    """The partial aggregates of a grouped max (the local executor's partitions of a larger scan)
    keep NaN the greatest value too."""
    from thresher.expressions.expr import AggCall, Column
    from thresher.planner.partial_aggregates import partial_aggregates
    from thresher.planner.sql.coerce import SQL_NAN_MAX

    split = partial_aggregates((AggCall("max", Column("x"), SQL_NAN_MAX).alias("m"),), None)
    assert split is not None
    first, second, _ = split
    assert first[0].child.options == SQL_NAN_MAX and second[0].child.options == SQL_NAN_MAX  # type: ignore[attr-defined]


def test_sql_max_of_doubles_over_ray_partial_aggregates() -> None:
    """A global max split into per-task partials (Ray) keeps NaN the greatest value in both steps;
    it was not split before (the option was unknown to the split)."""
    from thresher.datatypes import Schema
    from thresher.expressions.expr import AggCall, Column, strip_alias
    from thresher.planner.distributions import _decompose
    from thresher.planner.sql.coerce import SQL_NAN_MAX

    split = _decompose((AggCall("max", Column("x"), SQL_NAN_MAX).alias("m"),), Schema.from_arrow(pa.schema([("x", pa.float64())])))
    assert split is not None
    partials, finals = split
    assert strip_alias(partials[0]).options == SQL_NAN_MAX  # type: ignore[attr-defined]
    assert strip_alias(finals[0]).options == SQL_NAN_MAX  # type: ignore[attr-defined]


def test_dataframe_max_still_skips_nan_as_polars() -> None:
    import polars as pl

    got = th.from_arrow(_T).group_by("g").agg(th.col("x").max().alias("m")).sort("g").to_arrow()
    want = pl.from_arrow(_T).group_by("g").agg(pl.col("x").max().alias("m")).sort("g")  # type: ignore[union-attr]
    assert differences(got, want.to_arrow()) is None


@pytest.mark.parametrize("query", ["SELECT id FROM t WHERE x IN (0, 3) ORDER BY id",
                                   "SELECT min(x) FROM t WHERE x IN (0)",
                                   "SELECT id FROM t WHERE x IN (3, 'nan'::DOUBLE) ORDER BY id"])
def test_sql_double_in_a_list_of_integers_pushed_into_the_scan(query: str) -> None:
    """``x IN (0, 3)`` of a DOUBLE, pushed into a scan Polars reads, failed while running
    ("'is_in' cannot check for Float64 values in List(Int64) data"): the list is of floats now."""
    assert run_one({"t": _T, "u": _U}, query) == "match"


def test_dataframe_is_in_integers_of_a_parquet_float_column(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_T, tmp_path / "t.parquet")
    got = th.read_parquet(str(tmp_path / "t.parquet")).filter(th.col("x").is_in([3, 1])).sort("id").to_arrow()
    assert got.column("id").to_pylist() == [0, 6]


@pytest.mark.parametrize("query", ["SELECT id FROM t WHERE x IN (0)", "SELECT id, x + 1 FROM t WHERE x IN (0.0, 3)",
                                   "SELECT id FROM t WHERE x IN (-0.0)"])
def test_sql_minus_zero_in_a_list_pushed_into_a_scan(query: str) -> None:
    """``x IN (0)`` pushed into an in-memory scan (Arrow's is_in, which hashes -0.0 apart from
    0.0) dropped the row holding -0.0; SQL (and Polars) find -0.0 equal to 0.0."""
    t = pa.table({"id": pa.array([0, 1, 2], pa.int64()), "x": pa.array([-0.0, 0.0, 3.0])})
    assert run_one({"t": t}, query) == "match"


@pytest.mark.parametrize("values", [[0.0], [-0.0, 2.5], [0]])
def test_dataframe_is_in_of_zero_keeps_minus_zero_as_polars(values: list[float], tmp_path: Path) -> None:
    """``is_in([0.0])`` pushed into a scan dropped the row holding -0.0 (Polars keeps it)."""
    import polars as pl
    import pyarrow.parquet as pq

    t = pa.table({"id": pa.array([0, 1, 2], pa.int64()), "x": pa.array([-0.0, 0.0, 2.5])})
    pq.write_table(t, tmp_path / "t.parquet")
    want = pl.from_arrow(t).filter(pl.col("x").is_in([float(v) for v in values]))["id"].to_list()  # type: ignore[index]
    for frame in (th.from_arrow(t), th.read_parquet(str(tmp_path / "t.parquet"))):
        # (no sort after it: the filter is the scan's own, Arrow's is_in)
        assert sorted(frame.filter(th.col("x").is_in(values)).to_arrow().column("id").to_pylist()) == want


# -- filters pushed into scans (pyarrow's for memory and Parquet) of special floats, against Polars -------
_SCAN = pa.table({"id": pa.array(range(8), pa.int64()), "x": pa.array([None, NAN, INF, -INF, 0.0, -0.0, 1.5, -2.0]),
                  "f32": pa.array([None, NAN, INF, -INF, 0.0, -0.0, 1.5, -2.0], pa.float32())})


def _scan_filter(m: Any, c: str, op: str, v: float) -> Any:
    x = m.col(c)
    if op == "is_in":
        return x.is_in([v, 1.5])
    if op == "between":
        return x.is_between(v, 2)
    return {"==": x == v, "!=": x != v, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]


def test_scan_filters_of_special_floats_as_polars(tmp_path: Path) -> None:
    """Every comparison of a float column with NaN, +-inf, +-0.0 and numbers, pushed into an
    in-memory and a Parquet scan (row groups of 3 rows, so statistics prune), keeps Polars' rows.
    ``x != inf`` dropped the NaN rows of a Parquet row group whose statistics (NaN left out) said
    min = max = inf; ``is_in([0.0])`` dropped -0.0 (see above)."""
    import polars as pl
    import pyarrow.parquet as pq

    pq.write_table(_SCAN, tmp_path / "t.parquet", row_group_size=3)
    wrong = []
    for c in ("x", "f32"):
        for op in ("==", "!=", "<", "<=", ">", ">=", "is_in", "between"):
            for v in (0, 0.0, -0.0, NAN, INF, -INF, 1.5):
                try:
                    want = sorted(pl.from_arrow(_SCAN).filter(_scan_filter(pl, c, op, v))["id"].to_list())  # type: ignore[union-attr]
                except (pl.exceptions.PolarsError, TypeError):  # (Polars refuses it: nothing to compare)
                    continue
                for frame in (th.from_arrow(_SCAN), th.read_parquet(str(tmp_path / "t.parquet"))):
                    got = sorted(frame.filter(_scan_filter(th, c, op, v)).to_arrow().column("id").to_pylist())
                    if got != want:
                        wrong.append((c, op, v, got, want))
    assert not wrong, wrong
