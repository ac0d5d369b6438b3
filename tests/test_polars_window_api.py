"""The DataFrame API's window, cumulative and rolling functions against Polars, parameter by
parameter: each function (every option Polars takes) over nullable int32, float64 (NaN, -0.0),
string and date columns, without ``over`` and under ``over`` with one or two partition keys
(NULLs among them), an expression as key, ``order_by`` with ties and NULLs (one or two keys,
``descending``, ``nulls_last``) and ``mapping_strategy="join"``. Thresher and Polars run the same
expressions on the same frame; names, types and values must match (floats to 1e-9, NaN = NaN).

Deliberate differences (docs/guide/dataframe.md) are written into the Polars side: counts
(``count``, ``len``, ``n_unique``, ``null_count``) are Int64 in Thresher (Polars UInt32), and an
integer ``sum`` is Int64 (Polars keeps Int32). What Thresher refuses is checked at the end: each
refusal is a ``ThresherError`` naming the method or parameter.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import ThresherError

D = datetime.date
NAN = float("nan")

TABLE = pa.table({
    "k": pa.array([1, 1, 2, None, 2, 1, None, 2, 1, 3, 1, 2], pa.int64()),
    "g": pa.array(["a", "b", "a", "a", None, "b", "a", "b", "a", "a", "a", "b"]),
    "o": pa.array([3, 1, None, 2, 2, 1, 5, None, 0, 4, 3, 2], pa.int32()),
    "i": pa.array([5, None, -1, 7, 0, 5, None, 3, 5, -2, 5, 1], pa.int32()),
    "f": pa.array([1.5, None, NAN, -2.25, 0.0, 1.5, 3.0, None, NAN, 2.0, -0.0, 1.5], pa.float64()),
    "s": pa.array(["b", "a", None, "z", "q", "a", None, "b", "b", "c", "a", "q"]),
    "d": pa.array([D(2024, 1, 3), None, D(2023, 5, 1), D(2024, 1, 3), D(2020, 1, 1), None, D(2021, 2, 2),
                   D(2024, 1, 3), D(2022, 1, 1), D(2019, 9, 9), D(2020, 1, 1), None], pa.date32()),
    "w": pa.array([0.5, 1.0, -2.0, 4.0, 3.5, 0.0, 1.0, 2.0, -1.0, 6.0, 2.5, 1.0], pa.float64()),  # (no NULLs)
})

#: how each expression is windowed: (id, the over's arguments on a module: ``th`` or ``pl``)
OVERS: dict[str, Callable[[Any], dict[str, Any]] | None] = {
    "plain": None,
    "k": lambda m: {"partition_by": "k"},
    "k_g": lambda m: {"partition_by": ["k", "g"]},
    "k_more_g": lambda m: {"partition_by": "k", "more": ("g",)},
    "expr_key": lambda m: {"partition_by": m.col("i") % 2},
    "k_by_o": lambda m: {"partition_by": "k", "order_by": "o"},
    "k_by_o_desc": lambda m: {"partition_by": "k", "order_by": "o", "descending": True},
    "k_by_o_nulls_last": lambda m: {"partition_by": "k", "order_by": "o", "nulls_last": True},
    "k_by_o_desc_nulls_last": lambda m: {"partition_by": "k", "order_by": "o", "descending": True,
                                         "nulls_last": True},
    "k_by_o_s": lambda m: {"partition_by": "k", "order_by": ["o", "s"]},
    "k_by_o_s_desc": lambda m: {"partition_by": "k", "order_by": ["o", "s"], "descending": True},
    "by_o": lambda m: {"partition_by": None, "order_by": "o"},
    "by_expr_desc": lambda m: {"partition_by": None, "order_by": -m.col("o"), "descending": True},
    "g_by_d_nulls_last": lambda m: {"partition_by": "g", "order_by": "d", "nulls_last": True},
    "k_join": lambda m: {"partition_by": "k", "mapping_strategy": "join"},
}

#: counts: Int64 in Thresher, UInt32 in Polars (documented)
COUNTS = ("count", "len", "n_unique", "null_count")


def _windowed(e: Any, m: Any, over: str) -> Any:
    spec = OVERS[over]
    if spec is None:
        return e
    kw = spec(m)
    part, more = kw.pop("partition_by"), kw.pop("more", ())
    return e.over(part, *more, **kw)


def _same_as_polars(build: Callable[[Any], list[Any]], how: str = "with_columns", table: pa.Table = TABLE,
                    counted: bool = False) -> None:
    want = getattr(pl.from_arrow(table).lazy(), how)(build(pl)).collect()  # type: ignore[union-attr]
    got = pl.from_arrow(getattr(th.from_arrow(table), how)(*build(th)).to_arrow())
    assert isinstance(got, pl.DataFrame)
    if counted:
        want = want.with_columns(pl.col(pl.UInt32).cast(pl.Int64), pl.col(pl.List(pl.UInt32)).cast(pl.List(pl.Int64)))
    assert got.schema == want.schema, f"{got.schema}\nvs Polars'\n{want.schema}"
    for name in want.columns:
        a, b = got[name].to_list(), want[name].to_list()
        assert _same(a, b), f"column {name!r}:\n{a}\nvs Polars'\n{b}"


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def _over_all(fn: Callable[[Any], Any], overs: tuple[str, ...] = tuple(OVERS)) -> Callable[[Any], list[Any]]:
    """``fn`` (an expression on a module) once per way of windowing it, each a column."""
    return lambda m: [_windowed(fn(m), m, o).alias(f"r_{o}") for o in overs]


# ---- cumulative functions, shift, diff, pct_change, rank -----------------------------------------------------------

COLUMNS = ("i", "f", "s", "d")
CUMULATIVE = ("cum_sum", "cum_count", "cum_min", "cum_max", "cum_prod")


def _applies(name: str, c: str) -> bool:
    numeric_only = ("cum_sum", "cum_prod", "pct_change", "rolling_", "ewm_")
    return c in ("i", "f", "w") or not name.startswith(numeric_only)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", CUMULATIVE)
@pytest.mark.parametrize("c", COLUMNS)
def test_cumulative(c: str, name: str, reverse: bool) -> None:
    if not _applies(name, c):
        pytest.skip("numeric only")
    _same_as_polars(_over_all(lambda m: getattr(m.col(c), name)(reverse=reverse)))


FILLS = {"i": 99, "f": -1.5, "s": "zz", "d": D(2000, 1, 1)}


@pytest.mark.parametrize("fill", [False, True])
@pytest.mark.parametrize("n", [1, -1, 2, -3, 0, 20, -20])
@pytest.mark.parametrize("c", COLUMNS)
def test_shift(c: str, n: int, fill: bool) -> None:
    kw = {"fill_value": FILLS[c]} if fill else {}
    _same_as_polars(_over_all(lambda m: m.col(c).shift(n, **kw)))


@pytest.mark.parametrize("n", [1, 2, -1])
@pytest.mark.parametrize("c", ["i", "f", "d"])
def test_diff(c: str, n: int) -> None:
    # (a difference of dates is a duration, as in Polars)
    _same_as_polars(_over_all(lambda m: m.col(c).diff(n)))


@pytest.mark.parametrize("n", [1, 2, -1])
@pytest.mark.parametrize("c", ["i", "f"])
def test_pct_change(c: str, n: int) -> None:
    _same_as_polars(_over_all(lambda m: m.col(c).pct_change(n)))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("method", ["average", "min", "max", "dense", "ordinal"])
@pytest.mark.parametrize("c", COLUMNS)
def test_rank(c: str, method: str, descending: bool) -> None:
    # ties, NULLs (ranked NULL) and NaN (the greatest float) in every column
    _same_as_polars(_over_all(lambda m: m.col(c).rank(method, descending=descending)))


@pytest.mark.parametrize("c", COLUMNS)
def test_rank_random_with_a_seed(c: str) -> None:
    # (Polars' draw for a seed: Thresher passes the seed on, so the ranks are Polars' own)
    _same_as_polars(_over_all(lambda m: m.col(c).rank("random", seed=7)))


def test_rank_random_is_a_permutation_of_ordinal_ties() -> None:
    # (method="random" breaks ties at random: compared with "min"/"max" bounds, not Polars' draw)
    out = th.from_arrow(TABLE).select(r=th.col("i").rank("random", seed=1), lo=th.col("i").rank("min"),
                                      hi=th.col("i").rank("max")).to_pydict()
    for r, lo, hi in zip(out["r"], out["lo"], out["hi"]):
        assert (r is None) == (lo is None) and (r is None or lo <= r <= hi)
    ranks = [r for r in out["r"] if r is not None]
    assert sorted(ranks) == list(range(1, len(ranks) + 1))


# ---- fills and run ids ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, 1, 2])
@pytest.mark.parametrize("name", ["forward_fill", "backward_fill"])
@pytest.mark.parametrize("c", COLUMNS)
def test_forward_backward_fill(c: str, name: str, limit: int | None) -> None:
    _same_as_polars(_over_all(lambda m: getattr(m.col(c), name)(limit)))


@pytest.mark.parametrize("strategy", ["forward", "backward", "min", "max", "mean", "zero", "one"])
@pytest.mark.parametrize("c", COLUMNS)
def test_fill_null_strategy(c: str, strategy: str) -> None:
    if strategy == "mean" and c in ("s",) or strategy == "one" and c in ("s", "d"):
        pytest.skip("Polars refuses it")
    _same_as_polars(_over_all(lambda m: m.col(c).fill_null(strategy=strategy)))


@pytest.mark.parametrize("c", COLUMNS)
def test_rle_id(c: str) -> None:
    _same_as_polars(_over_all(lambda m: m.col(c).rle_id()))


@pytest.mark.parametrize("name", ["is_first_distinct", "is_last_distinct", "is_unique", "is_duplicated"])
@pytest.mark.parametrize("c", COLUMNS)
def test_distinct_flags(c: str, name: str) -> None:
    # (were windows over the column itself: under an over they were refused as nested windows)
    _same_as_polars(_over_all(lambda m: getattr(m.col(c), name)()))


# ---- rolling windows of rows ---------------------------------------------------------------------------------------

ROLLING = ("rolling_sum", "rolling_mean", "rolling_min", "rolling_max", "rolling_std", "rolling_var",
           "rolling_median")
ROLLING_OVERS = ("plain", "k", "k_by_o", "k_by_o_desc_nulls_last", "by_o", "k_join")


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("min_samples", [None, 0, 1, 2])
@pytest.mark.parametrize("window_size", [1, 2, 3, 20])
@pytest.mark.parametrize("name", ROLLING)
@pytest.mark.parametrize("c", ["i", "f"])
def test_rolling(c: str, name: str, window_size: int, min_samples: int | None, center: bool) -> None:
    if min_samples is not None and min_samples > window_size:
        pytest.skip("Polars refuses min_samples > window_size")
    _same_as_polars(_over_all(lambda m: getattr(m.col(c), name)(window_size, min_samples=min_samples,
                                                                   center=center), ROLLING_OVERS))


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("weights", [[1.0, 2.0], [0.5, 0.25, 0.25], [1.0, -1.0, 2.0]])
@pytest.mark.parametrize("name", ROLLING)
def test_rolling_weights(name: str, weights: list[float], center: bool) -> None:
    # (on a column without NULLs: Polars 2.1 does not weigh one with NULLs, see the refusals)
    _same_as_polars(_over_all(lambda m: getattr(m.col("w"), name)(len(weights), weights, min_samples=1,
                                                                     center=center), ROLLING_OVERS))


@pytest.mark.parametrize("ddof", [0, 2])
@pytest.mark.parametrize("name", ["rolling_std", "rolling_var"])
def test_rolling_ddof(name: str, ddof: int) -> None:
    _same_as_polars(_over_all(lambda m: getattr(m.col("f"), name)(3, min_samples=1, ddof=ddof), ROLLING_OVERS))


@pytest.mark.parametrize("interpolation", ["nearest", "lower", "higher", "midpoint", "linear", "equiprobable"])
@pytest.mark.parametrize("quantile", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("c", ["i", "f"])
def test_rolling_quantile(c: str, quantile: float, interpolation: str) -> None:
    _same_as_polars(_over_all(lambda m: m.col(c).rolling_quantile(quantile, interpolation, 3, min_samples=1),
                              ROLLING_OVERS))


MORE_ROLLING: dict[str, Callable[[Any, str], Any]] = {
    "skew": lambda m, c: m.col(c).rolling_skew(3, min_samples=2),
    "skew_unbiased_centred": lambda m, c: m.col(c).rolling_skew(3, bias=False, center=True),
    "kurtosis": lambda m, c: m.col(c).rolling_kurtosis(4, min_samples=3, fisher=False),
    "rank_average": lambda m, c: m.col(c).rolling_rank(3, min_samples=1),
    "rank_min": lambda m, c: m.col(c).rolling_rank(3, "min", min_samples=1),
    "rank_dense": lambda m, c: m.col(c).rolling_rank(2, "dense"),
    "rank_max_centred": lambda m, c: m.col(c).rolling_rank(3, "max", center=True),
    "interpolate": lambda m, c: m.col(c).interpolate(),
    "interpolate_nearest": lambda m, c: m.col(c).interpolate("nearest"),
    # windows of a duration (or of integers) over a by column: NULLs and ties in it
    "var_by": lambda m, c: m.col(c).rolling_var_by("d", "400d", min_samples=1),
    "var_by_ddof0": lambda m, c: m.col(c).rolling_var_by("d", "400d", ddof=0),
    "median_by": lambda m, c: m.col(c).rolling_median_by("d", "1000d", closed="both"),
    "quantile_by": lambda m, c: m.col(c).rolling_quantile_by("o", "2i", quantile=0.5, interpolation="linear"),
    "quantile_by_left": lambda m, c: m.col(c).rolling_quantile_by("o", "3i", quantile=0.25, closed="left"),
}


@pytest.mark.parametrize("name", sorted(MORE_ROLLING))
@pytest.mark.parametrize("c", ["i", "f"])
def test_more_rolling_and_interpolate(c: str, name: str) -> None:
    fn = MORE_ROLLING[name]
    overs = ("plain", "k", "k_by_o", "k_join") if name.endswith(("_by", "_left", "_ddof0")) else ROLLING_OVERS
    _same_as_polars(_over_all(lambda m: fn(m, c), overs))


EWM = [{"com": 1.0}, {"span": 3}, {"half_life": 2}, {"alpha": 0.5}, {"alpha": 0.5, "adjust": False},
       {"alpha": 0.3, "ignore_nulls": True}, {"alpha": 0.3, "min_samples": 2}]


@pytest.mark.parametrize("kw", EWM, ids=[str(k) for k in EWM])
@pytest.mark.parametrize("name", ["ewm_mean", "ewm_std", "ewm_var"])
@pytest.mark.parametrize("c", ["i", "f"])
def test_ewm(c: str, name: str, kw: dict[str, Any]) -> None:
    _same_as_polars(_over_all(lambda m: getattr(m.col(c), name)(**kw), ROLLING_OVERS))


# ---- aggregations in over and in select ----------------------------------------------------------------------------

AGGS = ("first", "last", "n_unique", "count", "null_count", "len", "sum", "min", "max")


@pytest.mark.parametrize("name", AGGS)
@pytest.mark.parametrize("c", COLUMNS)
def test_aggregation_in_over(c: str, name: str) -> None:
    if name == "sum" and c in ("s", "d"):
        pytest.skip("not summable")

    def fn(m: Any) -> Any:
        e = getattr(m.col(c), name)()
        return e.cast(pl.Int64) if m is pl and name == "sum" and c == "i" else e  # (documented: Int64)

    _same_as_polars(_over_all(fn), counted=name in COUNTS)


@pytest.mark.parametrize("name", [*AGGS, "first_ignore_nulls", "last_ignore_nulls"])
@pytest.mark.parametrize("c", COLUMNS)
def test_aggregation_in_select(c: str, name: str) -> None:
    if name == "sum" and c in ("s", "d"):
        pytest.skip("not summable")

    def fn(m: Any) -> Any:
        if name.endswith("_ignore_nulls"):
            return getattr(m.col(c), name.split("_")[0])(ignore_nulls=True)
        e = getattr(m.col(c), name)()
        return e.cast(pl.Int64) if m is pl and name == "sum" and c == "i" else e

    # one row: the aggregate alone, with a second aggregate, and the same under over (broadcast)
    _same_as_polars(lambda m: [fn(m).alias("a"), m.col("w").sum().alias("b")], how="select", counted=name in COUNTS)
    _same_as_polars(lambda m: [fn(m).alias("a"), m.col("w")], how="select", counted=name in COUNTS)
    _same_as_polars(lambda m: [fn(m).over("k").alias("a"), fn(m).over("g", order_by="o").alias("b")],
                    how="select", counted=name in COUNTS)


# ---- an over inside an over: the inner one within each outer group, as Polars -------------------------------------

NESTED: dict[str, Callable[[Any], Any]] = {
    "sum_then_cum_sum": lambda m: m.col("w").sum().over("k").cum_sum().over("g"),
    "rank_of_centered": lambda m: (m.col("i") - m.col("i").mean().over("k")).rank().over("g"),
    "outer_order": lambda m: m.col("i").cum_sum().over("k").over("g", order_by="o"),
    "outer_order_desc_nulls_last": lambda m: m.col("i").cum_sum().over("k").over("g", order_by="o", descending=True,
                                                                             nulls_last=True),
    "inner_order": lambda m: m.col("i").cum_sum().over("k", order_by="s").over("g"),
    "inner_order_nulls_last": lambda m: m.col("f").shift().over("k", order_by="s", nulls_last=True).over("g"),
    "frame_ordered_outer": lambda m: m.col("i").shift().over("k").over(None, order_by="o"),
    "aggregate_of_inner": lambda m: m.col("w").min().over("k").sum().over("g"),
    "three_levels": lambda m: m.col("w").sum().over("k").cum_sum().over("g").rank().over("d"),
    "same_keys": lambda m: m.col("i").cum_sum().over("k").over("k"),
    "two_inner": lambda m: (m.col("i").max().over("k") + m.col("f").min().over("s")).over("g"),
    "outer_join": lambda m: m.col("i").cum_sum().over("k").over("g", mapping_strategy="join"),
    "expression_keys": lambda m: m.col("w").sum().over(m.col("o") % 2).cum_max().over(m.col("s").is_null()),
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nested_over(name: str) -> None:
    # (these were refused: "window expressions cannot be nested")
    fn = NESTED[name]
    _same_as_polars(lambda m: [fn(m).alias("r")])
    _same_as_polars(lambda m: [fn(m).alias("r"), m.col("w").sum().alias("t")], how="select")


# ---- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build, names", [
    # (explode is taken now, as a column of its own length; not with order_by)
    (lambda: th.col("i").over("k", order_by="i", mapping_strategy="explode"), "mapping_strategy='explode', order_by"),
    (lambda: th.col("i").diff(1, "drop"), "null_behavior='drop'"),
    (lambda: th.col("i").shift(th.lit(1)), "shift"),
    (lambda: th.col("i").ewm_mean(), "ewm_mean"),
    (lambda: th.col("i").ewm_mean(alpha=0.5, span=2), "ewm_mean"),
    (lambda: th.col("i").rolling_quantile(1.5), "rolling_quantile"),
    (lambda: th.col("i").fill_null(strategy="forward", limit=-1), "limit"),
    (lambda: th.col("i").fill_null(0, limit=1), "limit"),
    # (Polars 2.1 follows no single order for these: neither both orders nor the inner one alone)
    (lambda: th.col("i").cum_sum().over("k", order_by="s").over("g", order_by="o"), "order_by= inside another over"),
    (lambda: th.col("i").cum_sum().over("k", order_by="s", descending=True).over("g"),
     "order_by= inside another over"),
], ids=["explode", "diff_drop", "shift_by_expr", "ewm_no_decay", "ewm_two_decays", "quantile_range",
        "negative_limit", "limit_without_strategy", "nested_both_ordered", "nested_inner_descending"])
def test_refused_when_built(build: Callable[[], Any], names: str) -> None:
    with pytest.raises(ThresherError, match=names.replace("(", r"\(").replace("[", r"\[")):
        th.from_arrow(TABLE).select(build())


@pytest.mark.parametrize("build, names", [
    (lambda: th.col("s").pct_change(), "pct_change"),
    (lambda: th.col("s").rolling_sum(2), "rolling_sum"),
    (lambda: th.col("d").cum_sum(), "cum_sum"),
    (lambda: th.col("s").ewm_mean(alpha=0.5), "ewm_mean"),
], ids=["pct_change_str", "rolling_sum_str", "cum_sum_date", "ewm_str"])
def test_refused_types_name_the_method(build: Callable[[], Any], names: str) -> None:
    # (Polars answers pct_change of strings with NULLs; Thresher refuses the type when built)
    with pytest.raises(ThresherError, match=names):
        th.from_arrow(TABLE).select(build())


@pytest.mark.parametrize("name", ROLLING)
def test_rolling_weights_of_a_column_with_nulls_is_refused(name: str) -> None:
    # Polars 2.1 panics ("weights not yet supported on array with null values"): an error that
    # names the parameter, not a PanicException
    from thresher.errors import ThresherExecutionError

    with pytest.raises(ThresherExecutionError, match=r"weights=.*is not supported"):
        th.from_arrow(TABLE).select(getattr(th.col("f"), name)(2, [1.0, 2.0])).to_arrow()


# ---- per-row expressions in group_by().agg(): each group's list, as Polars ----------------------------------------

AGG_LISTS: dict[str, Callable[[Any], Any]] = {
    "column": lambda m: m.col("s"),
    "arithmetic": lambda m: m.col("i") * 2,
    "cum_sum": lambda m: m.col("i").cum_sum(),
    "cum_count_reverse": lambda m: m.col("f").cum_count(reverse=True),
    "shift_fill": lambda m: m.col("s").shift(1, fill_value="z"),
    "shift_back": lambda m: m.col("d").shift(-2),
    "rank": lambda m: m.col("f").rank("dense", descending=True),
    "rolling_mean": lambda m: m.col("i").rolling_mean(2, min_samples=1),
    "diff": lambda m: m.col("i").diff(),
    "forward_fill": lambda m: m.col("i").forward_fill(),
    "ewm_mean": lambda m: m.col("f").ewm_mean(alpha=0.5),
    "rle_id": lambda m: m.col("s").rle_id(),
    "is_first_distinct": lambda m: m.col("s").is_first_distinct(),
    "is_duplicated": lambda m: m.col("f").is_duplicated(),
    "minus_mean": lambda m: m.col("i") - m.col("i").mean(),
    "share": lambda m: m.col("f") / m.col("w").sum(),
    "cum_sum_times_2": lambda m: m.col("i").cum_sum() * 2,
    "first_plus_row": lambda m: m.col("w").first() + m.col("w"),
    # one value per group: aggregations of per-row windows, windows of aggregations
    "cum_sum_last": lambda m: m.col("f").cum_sum().last(),
    "cum_max_max_plus_min": lambda m: m.col("w").cum_max().max() + m.col("w").min(),
    "sum_rank": lambda m: m.col("w").sum().rank(),
}


@pytest.mark.parametrize("keys", [["k"], ["k", "g"]], ids=["k", "k_g"])
@pytest.mark.parametrize("name", sorted(AGG_LISTS))
def test_per_row_expressions_in_agg_give_lists(name: str, keys: list[str]) -> None:
    # (these were refused: "window or order-dependent expression ... is not supported in agg()",
    # "... mixes per-row columns with aggregations")
    fn = AGG_LISTS[name]
    want = pl.from_arrow(TABLE).lazy().group_by(keys, maintain_order=True).agg(  # type: ignore[union-attr]
        fn(pl).alias("r")).collect()
    got = pl.from_arrow(th.from_arrow(TABLE).group_by(keys, maintain_order=True).agg(fn(th).alias("r")).to_arrow())
    assert isinstance(got, pl.DataFrame)
    assert got.schema == want.schema, f"{got.schema}\nvs Polars'\n{want.schema}"
    assert _same(got.rows(), want.rows()), f"{got.rows()}\nvs Polars'\n{want.rows()}"
