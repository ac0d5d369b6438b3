"""The DataFrame API's windows against Polars: same frames, same expressions, same results and types."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher import col

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

D = {"k": ["a", "b", "a", "a", "b", None, "b"], "j": [1, 1, 2, 1, 2, 2, None], "d": [3, 1, 1, 2, 2, 5, None],
     "x": [10, 20, None, 30, 5, 1, 7], "f": [1.5, None, 2.5, -1.0, 3.0, 0.5, 0.5]}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


TYPES = {"k": pa.string(), "j": pa.int64(), "d": pa.int64(), "x": pa.int64(), "f": pa.float64()}


def _dtype_ok(got: Any, want: Any) -> bool:
    # the one known difference: count() is int64 in Thresher (u32 in Polars), also outside windows
    return bool(got == want or (got == pl.Int64 and want == pl.UInt32))


def check(build: Callable[[Any], list[Any]], data: dict[str, list[Any]] = D, how: str = "with_columns",
          runner: str = "local") -> None:
    """``build(col)`` gives the same frame (values and types) in Thresher and in Polars."""
    table = pa.table({k: pa.array(v, TYPES[k]) for k, v in data.items()})
    pf = pl.from_arrow(table)
    assert isinstance(pf, pl.DataFrame)
    want = getattr(pf, how)(build(pl.col))
    df = getattr(th.from_arrow(table), how)(build(col))
    got = df.to_arrow(runner=runner)
    assert got.column_names == want.columns
    got_pl = pl.from_arrow(got)
    assert isinstance(got_pl, pl.DataFrame)
    for name in want.columns:
        assert _dtype_ok(got_pl[name].dtype, want[name].dtype), (name, got_pl[name].dtype, want[name].dtype)
        assert _same(got_pl[name].to_list(), want[name].to_list()), (name, got_pl[name].to_list(),
                                                                      want[name].to_list())


CASES: dict[str, Callable[[Any], list[Any]]] = {
    "cum_sum_over": lambda c: [c("x").cum_sum().over("k", order_by="d")],
    "cum_ops_whole": lambda c: [c("x").cum_sum(), c("f").cum_max().alias("cm"), c("x").cum_count().alias("cc"),
                                c("f").cum_min(reverse=True).alias("cmin"), c("x").cum_prod().alias("cp")],
    "shift_fill": lambda c: [c("x").shift(1, fill_value=0).over("k", order_by="d"),
                             c("f").shift(-2).alias("s2")],
    "rank": lambda c: [c("x").rank().over("k"), c("f").rank("dense", descending=True).alias("r2"),
                       c("d").rank("ordinal").alias("r3"), c("d").rank("min").over("j").alias("r4")],
    "rolling": lambda c: [c("f").rolling_mean(3).alias("m"), c("f").rolling_std(2).alias("s"),
                          c("x").rolling_min(2).alias("mn"), c("x").rolling_max(2, min_samples=1).alias("mx"),
                          c("x").rolling_sum(2, min_samples=1).over("k", order_by="d", descending=True).alias("rs")],
    "agg_over": lambda c: [(c("x") - c("x").mean().over("k")).alias("dev"), c("f").max().over("k", "j").alias("mx"),
                           c("x").count().over("j").alias("n")],
    "join_strategy": lambda c: [c("x").sum().over("k", mapping_strategy="join").alias("j1"),
                                c("x").cum_sum().over("k", mapping_strategy="join").alias("j2")],
    "broadcast": lambda c: [c("x"), c("x").sum().alias("tot"), (c("f") / c("f").sum()).alias("share")],
    "multi_key_order": lambda c: [c("x").cum_sum().over("k", order_by=["j", "d"], nulls_last=True).alias("cs")],
    "order_only": lambda c: [c("x").cum_sum().over(order_by="d", descending=True).alias("cs")],
    "expression_keys": lambda c: [c("x").sum().over(c("d") % 2).alias("s")],
    "rolling_by": lambda c: [c("x").rolling_sum_by("d", "2i").alias("s"),
                             c("f").rolling_mean_by("d", "3i", closed="both").alias("m"),
                             c("x").rolling_max_by("j", "1i", min_samples=0).over("k").alias("mx"),
                             c("f").rolling_min_by("d", "2i", closed="left").over("k", order_by="x").alias("mn"),
                             c("f").rolling_std_by("d", "4i").alias("sd")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_polars(name: str) -> None:
    check(CASES[name])


def test_select_of_aggregations_gives_one_row() -> None:
    check(lambda c: [c("x").sum(), c("f").mean().alias("m"), (c("d").max() - c("d").min()).alias("r")], how="select")


def test_agg_of_a_bare_column_gives_its_list() -> None:
    pf = pl.DataFrame(D)
    want = pf.group_by("k").agg(pl.col("x"), (pl.col("d") * 2).alias("d2"), pl.col("f").max()).sort("k")
    got = th.from_pydict(D).group_by("k").agg(col("x"), (col("d") * 2).alias("d2"), col("f").max()).sort("k")
    assert got.to_pydict() == want.to_dict(as_series=False)
    assert th.from_pydict(D).agg(col("x")).to_pydict() == pf.select(pl.col("x").implode()).to_dict(as_series=False)


def test_filter_on_a_window() -> None:
    pf = pl.DataFrame(D)
    want = pf.filter(pl.col("x") > pl.col("x").mean().over("k"))
    got = th.from_pydict(D).filter(col("x") > col("x").mean().over("k"))
    assert got.to_pydict() == want.to_dict(as_series=False)


def test_type_errors_at_plan_build_time() -> None:
    df = th.from_pydict(D)
    with pytest.raises(th.ThresherTypeError, match="cum_sum: column 'k' has type string"):
        df.select(col("k").cum_sum())
    with pytest.raises(th.ThresherTypeError, match="window_size"):
        df.select(col("x").rolling_sum(0))
    with pytest.raises(th.ThresherTypeError, match="unknown method"):
        df.select(col("x").rank("nope"))
    with pytest.raises(th.ThresherTypeError, match="is a constant, not an aggregation"):
        df.group_by("k").agg(th.lit(1))
    with pytest.raises(th.UnsupportedError, match=r"mapping_strategy='nope'.*group_to_rows, join, explode"):
        col("x").over("k", mapping_strategy="nope")
    with pytest.raises(th.UnsupportedError, match=r"mapping_strategy='explode', order_by=\.\.\.\) is not supported"):
        col("x").over("k", order_by="d", mapping_strategy="explode")
    with pytest.raises(th.ThresherTypeError, match="duration string"):
        df.select(col("x").rolling_sum_by("d", 3))  # type: ignore[arg-type]
    with pytest.raises(th.ThresherTypeError, match="rolling_sum_by.*window_size='3x'"):
        df.select(col("x").rolling_sum_by("d", "3x"))
    with pytest.raises(th.ThresherTypeError, match="closed must be one of"):
        df.select(col("x").rolling_sum_by("d", "3i", closed="middle"))
    with pytest.raises(th.ThresherTypeError, match="temporal or integer"):
        df.select(col("x").rolling_sum_by("k", "3i"))
    with pytest.raises(th.UnsupportedError, match="an over with order_by= inside another over"):
        df.select(col("x").cum_sum().over("k", order_by="d").over("j", order_by="d"))


DATED = pa.table({
    "k": pa.array(["a", "b", "a", "a", "b", None, "b", "a"]),
    "d": pa.array([datetime.date(2024, 1, 31) + datetime.timedelta(days=n) for n in (0, 3, 1, 29, 3, 9, 30, 7)]),
    "t": pa.array([datetime.datetime(2024, 3, 30, 22) + datetime.timedelta(hours=n) for n in (0, 5, 1, 30, 2, 9, 3, 7)],
                  pa.timestamp("us")),
    "x": pa.array([10, 20, 30, 40, 5, 1, 7, 2], pa.int64()),
    "f": pa.array([1.5, None, 2.5, -1.0, 3.0, 0.5, 0.5, 4.0], pa.float64()),
})


@pytest.mark.parametrize("window, closed", [("1d", "right"), ("7d", "both"), ("1mo", "right"), ("2w", "left"),
                                            ("36h", "none"), ("1mo2d", "right")])
def test_rolling_by_a_date_or_datetime(window: str, closed: str) -> None:
    pf = pl.from_arrow(DATED)
    assert isinstance(pf, pl.DataFrame)
    for by in ("d", "t"):
        def build(c: Any, by: str = by) -> list[Any]:
            return [c("x").rolling_sum_by(by, window, closed=closed).alias("s"),
                    c("f").rolling_mean_by(by, window, closed=closed).over("k").alias("m"),
                    c("x").rolling_max_by(by, window, closed=closed, min_samples=2).alias("mx")]

        want = pf.with_columns(build(pl.col))
        got = pl.from_arrow(th.from_arrow(DATED).with_columns(build(col)).to_arrow())
        assert isinstance(got, pl.DataFrame)
        for name in ("s", "m", "mx"):
            assert got[name].dtype == want[name].dtype, (by, name)
            assert _same(got[name].to_list(), want[name].to_list()), (by, window, name)


def test_rolling_by_is_sqls_range_frame() -> None:
    # x has no NULLs, so Polars' sum (0 over nothing) and SQL's (NULL) cannot differ; x is unique,
    # so rows are matched by it (DuckDB returns them in window order)
    duckdb = pytest.importorskip("duckdb")
    q = ("select x, sum(x) over (partition by k order by d range between interval 6 days preceding and current row) s, "
         "max(x) over (order by t range between interval 5 hours preceding and current row) m from dated")
    con = duckdb.connect()
    con.register("dated", DATED)
    want = sorted((x, int(s), m) for x, s, m in con.execute(q).fetchall())
    got = th.from_arrow(DATED).select(col("x"), col("x").rolling_sum_by("d", "7d").over("k").alias("s"),
                                      col("x").rolling_max_by("t", "5h", closed="both").alias("m")).to_pydict()
    assert sorted(zip(got["x"], got["s"], got["m"])) == want
    via_sql = th.sql(q, dated=th.from_arrow(DATED)).to_pydict()
    assert sorted(zip(via_sql["x"], via_sql["s"], via_sql["m"])) == want


def test_both_executors(runner: str) -> None:
    for name in ("cum_sum_over", "agg_over", "rolling", "rolling_by"):
        check(CASES[name], runner=runner)
    check(lambda c: [c("x").sum(), c("f").mean().alias("m")], how="select", runner=runner)


# ---------------------------------------------------------------------------------------------
# the fuzzer
# ---------------------------------------------------------------------------------------------

INNER: list[Callable[[Any, str], Any]] = [
    lambda e, v: e.cum_sum(), lambda e, v: e.cum_min(), lambda e, v: e.cum_max(reverse=True),
    lambda e, v: e.cum_count(), lambda e, v: e.shift(1), lambda e, v: e.shift(-1, fill_value=0),
    lambda e, v: e.rank("min"), lambda e, v: e.rank("dense", descending=True), lambda e, v: e.rank(),
    lambda e, v: e.rolling_sum(2, min_samples=1), lambda e, v: e.rolling_mean(3, min_samples=2),
    lambda e, v: e.rolling_max(2), lambda e, v: e.rolling_sum_by("d", "2i"),
    lambda e, v: e.rolling_mean_by("d", "3i", closed="both"), lambda e, v: e.rolling_min_by("d", "1i", min_samples=0),
    lambda e, v: e.sum(), lambda e, v: e.mean(), lambda e, v: e.min(),
    lambda e, v: e.max(), lambda e, v: e.count(),
]


@st.composite
def frames(draw: Any) -> dict[str, list[Any]]:
    n = draw(st.integers(1, 20))
    return {
        "k": draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b"])), min_size=n, max_size=n)),
        "d": draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=n, max_size=n)),
        "x": draw(st.lists(st.one_of(st.none(), st.integers(-5, 9)), min_size=n, max_size=n)),
        "f": draw(st.lists(st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.25, 2.0])), min_size=n, max_size=n)),
    }


@st.composite
def window_exprs(draw: Any) -> Callable[[Any], list[Any]]:
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        inner = draw(st.integers(0, len(INNER) - 1))
        value = draw(st.sampled_from(["x", "f"]))
        part = draw(st.lists(st.sampled_from(["k", "d"]), unique=True, max_size=1))
        order = draw(st.sampled_from([None, "d", "x", ["k", "d"]]))
        desc, nl = draw(st.booleans()), draw(st.booleans())
        specs.append((inner, value, part, order, desc, nl))

    def build(c: Any) -> list[Any]:
        out = []
        for j, (inner, value, part, order, desc, nl) in enumerate(specs):
            e = INNER[inner](c(value), value)
            if part or order is not None:
                e = e.over(part or None, order_by=order, descending=desc, nulls_last=nl)
            out.append(e.alias(f"w{j}"))
        return out

    build.specs = specs  # type: ignore[attr-defined]  (shown by hypothesis on failure)
    return build


def _fuzz(data: dict[str, list[Any]], build: Callable[[Any], list[Any]]) -> None:
    check(build, data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), window_exprs())
def test_fuzz_against_polars(data: dict[str, list[Any]], build: Callable[[Any], list[Any]]) -> None:
    _fuzz(data, build)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), window_exprs())
def test_fuzz_against_polars_long(data: dict[str, list[Any]], build: Callable[[Any], list[Any]]) -> None:
    _fuzz(data, build)


def test_min_max_over_an_order_of_two_rows() -> None:
    """Found by the fuzzer: Polars' lazy engine gave ``min().over(None, order_by=...)`` (and max,
    also inside arithmetic) the first row's value over a two-row frame; eager Polars is right."""
    data = {"k": [None, None], "d": [None, None], "x": [0, -1], "f": [None, 0.5]}
    check(lambda c: [c("x").min().over(None, order_by="x").alias("a"),
                     c("x").max().over(None, order_by="x", descending=True).alias("b"),
                     (c("x").min() + c("f").max()).over(None, order_by="d").alias("c"),
                     c("x").cum_max().over(None, order_by="x").alias("e")], data)
