"""SQL window functions against DuckDB: hand-picked cases, a hypothesis fuzzer, errors, executors.

Every expected value comes from DuckDB on the same table. Rows carry a unique id ``i``; where a
function's value depends on the order among ORDER BY ties (row_number, lag, ROWS frames, ...), the
fuzzer appends ``i`` as a last ORDER BY key so both engines see one order.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import pyarrow as pa
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

T = pa.table({
    "i": list(range(10)),
    "k": [1, 1, 1, 1, 1, 2, 2, None, 2, 1],
    "g": ["a", "b", None, "a", "b", "a", None, "c", "c", "a"],
    "d": [1, None, 3, 3, 6, None, None, 2, 4, 1],
    "x": [10, 5, 7, None, 2, 1, 4, 8, None, -3],
    "f": [1.5, 2.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, -2.5, 0.25],
    "m": [decimal.Decimal(v) if v is not None else None
          for v in ("1.25", "2.50", None, "-3.75", "10.00", "0.01", "7.10", None, "5.55", "1.00")],
})


def _norm(v: Any) -> Any:
    if isinstance(v, (decimal.Decimal, float)):
        return float(v)
    return v


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(float(a)) or math.isnan(float(b)):
            return math.isnan(float(a)) and math.isnan(float(b))
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def check(query: str, table: pa.Table = T, runner: str = "local") -> None:
    """``query`` (which must select ``i`` first) gives DuckDB's rows, compared by ``i``."""
    con = duckdb.connect()
    con.register("t", table)
    expected = sorted(([_norm(v) for v in r] for r in con.execute(query).fetchall()), key=lambda r: r[0])
    got_table = th.sql(query, t=th.from_arrow(table)).to_arrow(runner=runner)
    got = sorted(([_norm(v) for v in r.values()] for r in got_table.to_pylist()), key=lambda r: r[0])
    assert len(got) == len(expected), (query, got, expected)
    for g, e in zip(got, expected):
        assert len(g) == len(e) and all(_same(a, b) for a, b in zip(g, e)), f"{query}\n got {g}\n want {e}"


CASES = [
    # the silent wrong answer: a ROWS frame must give a running sum, not the partition total
    "select i, sum(x) over (partition by k order by d, i rows between unbounded preceding and current row) from t",
    # default frame with ORDER BY: RANGE UNBOUNDED PRECEDING .. CURRENT ROW (peers included)
    "select i, sum(x) over (partition by k order by d) s, count(*) over (partition by k order by d desc) c from t",
    "select i, sum(x) over (partition by k) s, avg(f) over () a, min(g) over (partition by k) mn from t",
    "select i, sum(x) over (partition by k order by d rows between 1 preceding and 2 following) from t",
    "select i, sum(f) over (order by d desc, i rows between 3 preceding and 1 preceding) from t",
    "select i, avg(x) over (partition by k order by i rows between current row and unbounded following) from t",
    "select i, sum(x) over (partition by k order by d range between 2 preceding and current row) s, "
    "count(*) over (partition by k order by d range between 2 preceding and 1 following) c from t",
    "select i, sum(x) over (partition by k order by d desc nulls first range between 1 preceding and 2 following) "
    "from t",
    "select i, max(x) over (order by f range between 1.5 preceding and 1.5 following) from t",
    "select i, min(x) over (partition by k order by d, i rows between 1 preceding and 1 following) mn, "
    "max(g) over (order by d desc, i asc rows between 2 preceding and 1 preceding) mx from t",
    "select i, row_number() over (partition by k order by d desc, i) rn, rank() over (partition by k order by d) r, "
    "dense_rank() over (order by k, d nulls first) dr from t",
    "select i, percent_rank() over (partition by k order by d) pr, cume_dist() over (partition by k order by d) cd, "
    "ntile(3) over (partition by k order by d, i) nt, ntile(4) over (order by i) n4 from t",
    "select i, lag(x, 2, -1) over (partition by k order by d, i) l, lead(x) over (partition by k order by d, i) ld, "
    "lead(g, 1, 'none') over (order by i) lg from t",
    "select i, first_value(x) over (partition by k order by d, i) fv, last_value(x) over (partition by k order by d) "
    "lv, nth_value(x, 2) over (partition by k order by d, i) nv from t",
    "select i, first_value(x) over (order by i rows between 1 following and 3 following) from t",
    "select i, sum(m) over (partition by k order by i rows between 1 preceding and current row) s, "
    "avg(m) over (partition by k) a from t",
    "select i, 100.0 * x / sum(x) over (partition by k) pct, x - avg(x) over (partition by g) dev from t",
    "select i, count(x) over (order by d rows between unbounded preceding and unbounded following) from t",
    # IGNORE NULLS: the first/last/n-th non-NULL value of the frame; lag/lead count non-NULL rows only
    "select i, first_value(x ignore nulls) over (partition by k order by i rows between 1 preceding and 2 following) a, "
    "last_value(x ignore nulls) over (partition by k order by i) b, nth_value(f, 2 ignore nulls) over (order by i "
    "rows between unbounded preceding and unbounded following exclude current row) c, "
    "lag(x, 2, -1 ignore nulls) over (partition by k order by i) l, lead(g ignore nulls) over (order by i) ld, "
    "lag(m ignore nulls) over (order by d, i) lm from t",
]


@pytest.mark.parametrize("query", CASES)
def test_matches_duckdb(query: str) -> None:
    check(query)


def test_window_over_aggregate_in_group_by() -> None:
    # TPC-DS style (q12, q20, q98, q47/q57/q89): windows over the GROUP BY's aggregates
    q = ("select k as i, sum(x) s, avg(sum(x)) over () a, rank() over (order by sum(x) desc) r, "
         "sum(x) * 100 / sum(sum(x)) over () pct from t where k is not null group by k")
    check(q)
    q2 = ("select g as i, k, sum(f) s, avg(sum(f)) over (partition by k) a, "
          "rank() over (partition by k order by sum(f) desc nulls last) r from t where g is not null group by g, k")
    con = duckdb.connect()
    con.register("t", T)
    want = sorted(con.execute(q2).fetchall(), key=repr)
    got = sorted((tuple(r.values()) for r in th.sql(q2, t=th.from_arrow(T)).to_arrow().to_pylist()), key=repr)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert all(_same(_norm(a), _norm(b)) for a, b in zip(g, w)), (g, w)


def test_regressions_found_by_the_fuzzer() -> None:
    # sum over a frame of only NULLs is NULL (a whole-partition shortcut through Polars gave 0)
    t = pa.table({"i": [0, 1, 2], "k": [1, 1, 2], "x": pa.array([None, None, 3], pa.int64())})
    check("select i, sum(x) over () a, sum(x) over (partition by k) b, avg(x) over (partition by k) c from t", t)
    # a float sum whose frame starts past the partition's end (an empty frame on the last rows)
    check("select i, avg(f) over (partition by g order by i rows between 2 following and unbounded following) a, "
          "sum(f) over (order by i rows between 1 following and 3 following) b from t")
    # min/max over a column with NULLs (dense codes must not go through NaN)
    check("select i, min(x) over (order by i rows between 1 preceding and current row) from t", t)
    # max over a whole partition with a NaN is NaN (SQL orders NaN above every number; Polars' max,
    # behind the hash-partitioned path, skips it)
    t = pa.table({"i": [0, 1, 2, 3, 4], "k": [1, 1, 2, 2, 3], "f": [math.nan, -1.5, None, 1.0, math.nan]})
    check("select i, max(f) over () a, max(f) over (partition by k) b, min(f) over (partition by k) c, "
          "min(f) over () d from t", t)


def test_lag_with_a_negative_offset() -> None:
    check("select i, lag(x, -1) over (order by i) a, lead(x, -2, 0) over (order by i) b from t")


def test_qualify() -> None:
    check("select i, k, x from t qualify row_number() over (partition by k order by x desc nulls last, i) = 1")
    check("select i, x, rank() over (order by x) r from t qualify r <= 3 and x is not null")


def test_order_by_a_window() -> None:
    con = duckdb.connect()
    con.register("t", T)
    q = "select i, x from t order by row_number() over (order by x desc nulls last, i), i"
    assert th.sql(q, t=th.from_arrow(T)).to_pydict()["i"] == [r[0] for r in con.execute(q).fetchall()]
    q = "select k, sum(x) s from t group by k order by rank() over (order by sum(x) desc), k"
    assert th.sql(q, t=th.from_arrow(T)).to_pydict()["k"] == [r[0] for r in con.execute(q).fetchall()]


def test_named_window() -> None:
    check("select i, sum(x) over w s, row_number() over w rn from t window w as (partition by k order by i)")


def test_empty_input() -> None:
    check("select i, sum(x) over (partition by k order by i rows 2 preceding) s, rank() over (order by d) r "
          "from t where i < 0")


def test_float_special_values_in_moving_frames() -> None:
    t = pa.table({"i": list(range(8)), "f": [1.0, math.inf, 2.0, -math.inf, 3.0, None, 4.0, 5.0]})
    check("select i, sum(f) over (order by i rows between 1 preceding and current row) s, "
          "avg(f) over (order by i rows between 2 preceding and current row) a from t", t)


# ---------------------------------------------------------------------------------------------
# RANGE frames with offsets over every orderable key type; GROUPS frames; EXCLUDE
# ---------------------------------------------------------------------------------------------

_DAYS = [0, 1, 1, 29, 30, 31, 59, None, 60, 7, 8, 14]
TYPED = pa.table({
    "i": list(range(12)), "k": [1, 2, 1, 1, 2, 1, 2, 2, 1, 2, 1, 1], "x": [3, 1, 4, 1, 5, None, 2, 6, 5, 3, 5, 8],
    # Jan 31 2024 + days: month ends, a leap February, peers, a NULL
    "dt": pa.array([None if v is None else datetime.date(2024, 1, 31) + datetime.timedelta(days=v) for v in _DAYS],
                   pa.date32()),
    "ts": pa.array([None if v is None else datetime.datetime(2024, 1, 31, 6) + datetime.timedelta(days=v, hours=7 * j)
                    for j, v in enumerate(_DAYS)], pa.timestamp("us")),
    "ns": pa.array([datetime.datetime(2024, 1, 31) + datetime.timedelta(hours=7 * j) for j in range(12)],
                   pa.timestamp("ns")),
    "ms": pa.array([datetime.datetime(2024, 1, 31) + datetime.timedelta(hours=9 * j) for j in range(12)],
                   pa.timestamp("ms")),
    "tz": pa.array([datetime.datetime(2024, 3, 30, h, tzinfo=datetime.timezone.utc) for h in range(0, 24, 2)],
                   pa.timestamp("us", tz="UTC")),
    "tm": pa.array([datetime.time(h, m) for h, m in [(0, 10), (0, 50), (23, 40), (12, 0), (12, 0), (1, 5), (23, 59),
                                                     (0, 0), (11, 30), (22, 0), (3, 3)]] + [None], pa.time64("us")),
    "f32": pa.array([0.1, 0.2, 0.3, 0.7, 0.35, None, 1.1, 0.6, 0.9, 0.4, 0.45, 0.15], pa.float32()),
    "fl": pa.array([1.0, math.nan, 2.5, math.inf, -math.inf, None, 2.5, 0.0, -0.0, math.nan, 3.0, 1.5], pa.float64()),
    "i8": pa.array([1, 2, 3, -4, 100, 90, -100, 0, 5, 5, None, 6], pa.int8()),
    "dec": pa.array([decimal.Decimal(v) if v else None for v in
                     ["1.25", "1.30", "2.00", None, "1.25", "0.05", "3.10", "2.95", "1.00", "0.99", "1.01", "2.05"]],
                    pa.decimal128(6, 2)),
})


@pytest.mark.parametrize("key, offset", [
    ("dt", "7"), ("dt", "interval 7 days"), ("dt", "interval '1 month'"), ("dt", "interval 36 hours"),
    ("dt", "interval '1 year 2 months'"), ("ts", "interval 1 day"), ("ts", "interval '1 month 2 days 3 hours'"),
    ("ts", "interval 90 minutes"), ("ns", "interval 7 hours"), ("ns", "interval '1 day'"), ("ms", "interval 9 hours"),
    ("tz", "interval 4 hours"), ("tz", "interval 1 day"), ("tm", "interval 1 hour"),
    ("tm", "interval '2 hours 10 minutes'"), ("f32", "0.1"), ("f32", "0.25"), ("fl", "1"), ("fl", "0.5"),
    ("i8", "1"), ("i8", "2.5"), ("dec", "0.05"), ("dec", "0.125"), ("dec", "1"),
])
def test_range_offsets_over_each_key_type(key: str, offset: str) -> None:
    frames = (f"{offset} preceding and current row", f"{offset} preceding and {offset} following",
              f"current row and {offset} following", f"unbounded preceding and {offset} preceding",
              f"{offset} following and unbounded following")
    for direction in ("", " desc", " nulls first", " desc nulls first"):
        cols = []
        for j, frame in enumerate(frames):
            fn = ("sum(x) over (partition by k", "count(*) over (", "max(x) over (partition by k")[j % 3]
            exclude = " exclude current row" if j == 2 else ""
            cols.append(f"{fn} order by {key}{direction} range between {frame}{exclude}) w{j}")
        check(f"select i, {', '.join(cols)} from t", TYPED)


@pytest.mark.parametrize("query", [
    "select i, sum(x) over (partition by k order by x groups between 1 preceding and 1 following) from t",
    "select i, count(*) over (order by dt desc nulls first groups between 2 preceding and 1 preceding) from t",
    "select i, avg(x) over (order by i8 groups between current row and 2 following) from t",
    "select i, min(x) over (order by dt groups between 1 following and unbounded following) from t",
    "select i, sum(x) over (order by x rows between 1 preceding and 1 following exclude current row) s, "
    "max(x) over (order by x, i rows between 2 preceding and 2 following exclude current row) m from t",
    "select i, sum(x) over (order by dt range between interval 30 days preceding and current row exclude group) s, "
    "count(x) over (order by dt range between interval 30 days preceding and current row exclude ties) c from t",
    "select i, min(x) over (order by i8 groups between 1 preceding and 1 following exclude ties) a, "
    "max(x) over (order by i8 desc range between 5 preceding and 5 following exclude group) b from t",
    "select i, first_value(x) over (order by x, i rows between 2 preceding and 2 following exclude current row) f, "
    "last_value(x) over (order by x, i rows between 2 preceding and 2 following exclude current row) l, "
    "nth_value(x, 2) over (order by x, i rows between 2 preceding and 2 following exclude current row) n from t",
    "select i, sum(x) over (order by x rows between unbounded preceding and unbounded following exclude ties) s, "
    "avg(dec) over (order by k range between unbounded preceding and unbounded following exclude group) a, "
    "count(*) over (order by k rows between current row and current row exclude current row) c from t",
])
def test_groups_frames_and_exclude(query: str) -> None:
    check(query, TYPED)


@pytest.mark.parametrize("query, message", [
    ("select sum(x ignore nulls) over (order by d) from t", "IGNORE NULLS is supported in first_value"),
    ("select sum(x) over (order by d, i range between 1 preceding and current row) from t", "exactly one ORDER BY"),
    ("select sum(x) over (order by g range between 1 preceding and current row) from t", "key of type String"),
    ("select sum(x) over (order by d range between interval 1 day preceding and current row) from t",
     "INTERVAL offset .* over an ORDER BY key of type Int64"),
    ("select sum(x) over (order by cast(d as timestamp) range between 1 preceding and current row) from t",
     "needs an INTERVAL offset"),
    ("select sum(x) over (order by d rows between 1.5 preceding and current row) from t", "must be an integer"),
    ("select sum(x) over (order by d groups between interval 1 day preceding and current row) from t",
     "needs a RANGE frame"),
    ("select sum(x) over (order by d range between interval '1.5 days' preceding and current row) from t",
     "fractional number of days"),
    ("select sum(x) over (order by d rows between current row and 1 preceding) from t", "starts after it ends"),
    ("select sum(row_number() over (order by x)) from t", "aggregate cannot contain a window function"),
    ("select i from t where row_number() over (order by x) = 1", "Window"),
])
def test_unsupported_constructs_are_named(query: str, message: str) -> None:
    with pytest.raises(th.ThresherError, match=message):
        th.sql(query, t=th.from_arrow(T)).collect()


def test_both_executors(runner: str) -> None:
    for q in (CASES[0], CASES[6], CASES[11]):
        check(q, runner=runner)


# ---------------------------------------------------------------------------------------------
# the fuzzer
# ---------------------------------------------------------------------------------------------

TIE_SENSITIVE = {"row_number", "ntile", "lag", "lead", "first_value", "last_value", "nth_value"}
AGGS = ["sum(x)", "avg(x)", "min(x)", "max(x)", "count(x)", "count(*)", "sum(f)", "avg(f)", "min(g)", "max(g)",
        "max(f)", "sum(m)"]


@st.composite
def tables(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 25))
    small = st.one_of(st.none(), st.integers(0, 2))
    days = draw(st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 23), min_size=n, max_size=n))
    return pa.table({
        "i": pa.array(list(range(n)), pa.int64()),
        "k": pa.array(draw(st.lists(small, min_size=n, max_size=n)), pa.int64()),
        "g": pa.array(draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), min_size=n, max_size=n)),
                      pa.string()),
        "d": pa.array(draw(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=n, max_size=n)), pa.int64()),
        "x": pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-5, 10)), min_size=n, max_size=n)), pa.int64()),
        "f": pa.array(draw(st.lists(st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.25, 2.0, 3.5, math.nan,
                                                                          math.inf, -math.inf])),
                                    min_size=n, max_size=n)), pa.float64()),
        "m": pa.array(draw(st.lists(st.one_of(st.none(), st.sampled_from(["1.25", "-0.50", "3.00", "2.75"])),
                                    min_size=n, max_size=n)), pa.string()).cast(pa.decimal128(10, 2)),
        # dates around month ends (Jan 20 .. Mar 1, 2024: a leap February) and timestamps on them
        "dt": pa.array([None if v is None else datetime.date(2024, 1, 20) + datetime.timedelta(days=v)
                        for v in days], pa.date32()),
        "ts": pa.array([None if v is None else datetime.datetime(2024, 1, 20, h) + datetime.timedelta(days=v)
                        for v, h in zip(days, hours)], pa.timestamp("us")),
    })


#: RANGE offsets that fit each ORDER BY key's type (DuckDB computes ``key -/+ offset``)
RANGE_OFFSETS = {
    "d": ["0", "1", "2", "3", "0.5", "1.5"], "x": ["0", "1", "3", "2.5"], "f": ["0", "0.5", "1", "2.5"],
    "m": ["0", "0.25", "1", "1.125"],
    "dt": ["0", "1", "7", "interval 3 days", "interval '1 month'", "interval 36 hours", "interval '1 week'"],
    "ts": ["interval 12 hours", "interval 2 days", "interval '1 month'", "interval '1 day 6 hours'",
           "interval 0 minutes"],
}


@st.composite
def windows(draw: Any) -> str:
    func = draw(st.sampled_from(["row_number()", "rank()", "dense_rank()", "percent_rank()", "cume_dist()",
                                 "ntile(3)", "lag(x)", "lag(x, 2, 0)", "lead(g, 1, 'z')", "first_value(x)",
                                 "last_value(f)", "nth_value(x, 2)", "first_value(x ignore nulls)",
                                 "last_value(g ignore nulls)", "nth_value(f, 2 ignore nulls)", "lag(x, 2, 0 ignore nulls)",
                                 "lead(g ignore nulls)", *AGGS]))
    fname = func.split("(")[0]
    part = draw(st.lists(st.sampled_from(["k", "g"]), unique=True, max_size=2))
    keys = draw(st.lists(st.sampled_from(["d", "x", "f", "g", "m", "dt", "ts"]), unique=True, max_size=2))
    order = []
    for key in keys:
        order.append(key + draw(st.sampled_from(["", " asc", " desc"])) +
                     draw(st.sampled_from(["", " nulls first", " nulls last"])))
    frame = ""
    is_agg = fname in {a.split("(")[0] for a in AGGS} or fname in ("first_value", "last_value", "nth_value")
    if is_agg and draw(st.booleans()):
        # (sqlglot reads "OVER (GROUPS ..." without an ORDER BY as a window name: a syntax error)
        kind = draw(st.sampled_from(["rows", "range", "groups"] if keys else ["rows", "range"]))
        if kind == "range" and len(keys) == 1 and keys[0] in RANGE_OFFSETS:
            offsets = RANGE_OFFSETS[keys[0]]
        elif kind == "range":
            offsets = []
        else:
            offsets = ["0", "1", "2", "3"]
        bounds = ["unbounded preceding", "current row", "unbounded following"]
        if offsets:
            bounds += [f"{draw(st.sampled_from(offsets))} preceding", f"{draw(st.sampled_from(offsets))} following"]
        rank = {"unbounded preceding": 0, "preceding": 1, "current row": 2, "following": 3, "unbounded following": 4}

        def side(bound: str) -> int:
            return rank[bound if bound in rank else bound.rsplit(" ", 1)[-1]]

        a, b = draw(st.sampled_from(bounds)), draw(st.sampled_from(bounds))
        if side(a) > side(b):
            a, b = b, a
        if side(a) == 4 or side(b) == 0:
            a, b = "unbounded preceding", "unbounded following"
        exclude = draw(st.sampled_from(["", "", "", " exclude current row", " exclude group", " exclude ties",
                                        " exclude no others"]))
        frame = f" {kind} between {a} and {b}{exclude}"
    peer_frame = " range " in f" {frame} " or " groups " in f" {frame} " or "exclude group" in frame \
        or "exclude ties" in frame
    tie_sensitive = fname in TIE_SENSITIVE or " rows " in f" {frame} "
    if tie_sensitive and not peer_frame:
        order.append("i")
    elif tie_sensitive and fname in TIE_SENSITIVE:
        # a value function over a frame of peer groups: the frame's first row depends on ties
        frame = ""
        order.append("i")
    elif tie_sensitive and " rows " in f" {frame} ":
        # an aggregate over ROWS excluding peers: the frame's rows depend on ties
        order.append("i")
    spec = []
    if part:
        spec.append("partition by " + ", ".join(part))
    if order:
        spec.append("order by " + ", ".join(order))
    return f"{func} over ({' '.join(spec)}{frame})"


def _fuzz(table: pa.Table, wins: list[str]) -> None:
    cols = ", ".join(f"{w} as w{j}" for j, w in enumerate(wins))
    query = f"select i, {cols} from t"
    con = duckdb.connect()
    con.register("t", table)
    try:
        con.execute(query)
    except duckdb.Error:
        hypothesis.reject()  # not a valid window for the reference either (e.g. GROUPS without ORDER BY)
    check(query, table)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables(), st.lists(windows(), min_size=1, max_size=3))
def test_fuzz_against_duckdb(table: pa.Table, wins: list[str]) -> None:
    _fuzz(table, wins)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables(), st.lists(windows(), min_size=1, max_size=3))
def test_fuzz_against_duckdb_long(table: pa.Table, wins: list[str]) -> None:
    _fuzz(table, wins)


def _running_table() -> pa.Table:
    import random

    rnd = random.Random(5)
    n = 400
    return pa.table({
        "i": list(range(n)),
        "k": pa.array([rnd.choice([1, 2, 3, None]) for _ in range(n)], pa.int32()),
        "s": [rnd.choice(["a", "b", None]) for _ in range(n)],
        # (ROWS frames over ties have no one answer: the queries order by i after d)
        "d": [datetime.date(2000, 1, 1) + datetime.timedelta(days=i) if rnd.random() > 0.05 else None
              for i in range(n)],
        "x": pa.array([rnd.choice([None, rnd.randint(-50, 50)]) for _ in range(n)], pa.int32()),
        "m": pa.array([None if rnd.random() < 0.2 else decimal.Decimal(rnd.randint(-9999, 9999)) / 100
                       for _ in range(n)], pa.decimal128(12, 2)),
    })


RUNNING = "rows between unbounded preceding and current row"


@pytest.mark.parametrize("order", ["d, i", "d desc, i desc", "d nulls first, i nulls first",
                                   "d desc nulls last, i desc nulls last"])
def test_running_aggregates_run_in_polars_and_match_duckdb(order: str) -> None:
    """Running sum/count/min/max (ROWS UNBOUNDED PRECEDING to the current row, TPC-DS q51's
    cumulative sums) are Polars' cumulative functions over the partitions in their order, not a
    Python batch function: NULL values are skipped (NULL only before the frame holds one), NULL
    partition keys form a partition, NULL ORDER BY keys sort where the query says."""
    t = _running_table()
    q = (f"select i, sum(m) over (partition by k order by {order} {RUNNING}) sm, "
         f"sum(x) over (partition by k, s order by {order} {RUNNING}) sx, "
         f"count(m) over (partition by k order by {order} {RUNNING}) c, "
         f"max(m) over (partition by s order by {order} {RUNNING}) mx, "
         f"min(x) over (partition by k order by {order} {RUNNING}) mn, "
         f"max(d) over (partition by s order by {order} {RUNNING}) md from t")
    check(q, t)
    from thresher.planner.physical import compile

    program = compile(th.sql(q, t=th.from_arrow(t)).plan).root.spec.program([]).explain(optimized=False)
    assert "OPAQUE_PYTHON" not in program and "PYTHON" not in program, program


def test_running_aggregates_polars_cannot_take_stay_in_the_batch_function() -> None:
    """Mixed ORDER BY directions, float and BIGINT sums and string min/max keep the batch function."""
    t = _running_table().append_column("f", pa.array([float(v) / 3 for v in range(400)]))
    t = t.append_column("b", pa.array(list(range(400)), pa.int64()))
    for q in (f"select i, sum(m) over (partition by k order by d, i desc {RUNNING}) a from t",
              f"select i, sum(f) over (partition by k order by d, i {RUNNING}) a from t",
              f"select i, sum(b) over (partition by k order by d, i {RUNNING}) a from t",
              f"select i, max(s) over (partition by k order by d, i {RUNNING}) a from t",
              f"select i, sum(m) over (partition by f order by d, i {RUNNING}) a from t"):
        check(q, t)
