"""Cases the window and expression fuzzer (tests/test_polars_window_fuzz.py) found, each compared
with Polars: values, column names and types. Each failed before its fix."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import thresher as th

D, Dec = datetime.date, decimal.Decimal
NAN = float("nan")


def _same_as_polars(table: pa.Table, pipeline: Callable[[Any, Any], Any]) -> None:
    want = pipeline(pl.from_arrow(table).lazy(), pl).collect()  # type: ignore[union-attr]
    got = pl.from_arrow(pipeline(th.from_arrow(table), th).to_arrow())
    assert isinstance(got, pl.DataFrame)
    assert got.schema == want.schema, f"{got.schema}\nvs Polars'\n{want.schema}"
    assert got.equals(want), f"{got}\nvs Polars'\n{want}"  # (NaN equals NaN here)


TABLE = pa.table({
    "k": pa.array([1, 1, 2, None, 2], pa.int64()),
    "i8": pa.array([5, None, -1, 127, 0], pa.int8()),
    "i32": pa.array([7, -5, None, 2, 0], pa.int32()),
    "f32": pa.array([1.5, None, NAN, -2.25, 0.0], pa.float32()),
    "f64": pa.array([0.1, -0.0, None, NAN, 2.5], pa.float64()),
    "m": pa.array([Dec("1.25"), None, Dec("-2.35"), Dec("9999999.99"), Dec("0.00")], pa.decimal128(10, 2)),
    "d": pa.array([D(2024, 2, 29), None, D(1969, 12, 31), D(2024, 12, 31), D(2023, 1, 1)], pa.date32()),
    "s": pa.array(["b", "a", None, "z", "q"], pa.string()),
    "lo": pa.array(["a", "b", "a", "a", "r"], pa.string()),
    "hi": pa.array(["c", "c", "z", "y", "s"], pa.string()),
    "b": pa.array([True, None, False, True, False], pa.bool_()),
})


@pytest.mark.parametrize("build", [
    lambda m: m.when(m.col("b")).then("s").otherwise("lo"),
    lambda m: m.when("b").then(m.col("s")).otherwise(m.lit("lo")),
    lambda m: m.col("s").is_between("lo", "hi"),
    lambda m: m.col("i32").is_between("i8", 5, closed="left"),
], ids=["then_otherwise", "when", "is_between", "is_between_mixed"])
def test_a_string_argument_names_a_column(build: Callable[[Any], Any]) -> None:
    # when/then/otherwise and is_between took a string for the text itself ('s' in every row,
    # s compared with 'lo'): a wrong answer. Polars parses a string there as a column name
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))


@pytest.mark.parametrize("build", [
    lambda m: m.when(m.col("b")).then(m.col("i32")).otherwise(0),
    lambda m: m.when(m.col("b")).then(m.col("i8")).otherwise(300),
    lambda m: m.when(m.col("b")).then(0).otherwise(m.col("i8")),
    lambda m: m.when(m.col("b")).then(m.col("f32")).otherwise(1),
    lambda m: m.when(m.col("b")).then(m.col("i8")).when(m.col("k") == 1).then(m.col("f32")).otherwise(2),
    lambda m: m.when(m.col("b")).then(m.col("m")).otherwise(0),
], ids=["int32_0", "int8_300", "0_int8", "float32_1", "chain", "decimal_0"])
def test_when_python_number_takes_the_branches_type(build: Callable[[Any], Any]) -> None:
    # a Python number in then/otherwise was Int64 and widened the result (then(int32).otherwise(0)
    # was Int64, Polars Int32), also in group_by().agg() lists
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.group_by("k", maintain_order=True).agg(build(m).alias("r")))


def test_when_then_without_otherwise_is_an_expression() -> None:
    # when(c).then(x) had no expression methods (AttributeError: '_ThenBuilder' has no 'alias')
    _same_as_polars(TABLE, lambda f, m: f.select(m.when(m.col("b")).then(m.col("i8")).alias("r"),
                                                 m.when(m.col("k") == 1).then(1).when(m.col("b")).then(2).alias("t")))


@pytest.mark.parametrize("agg", ["mean", "std", "var", "median", "quantile"])
def test_float32_aggregates_stay_float32(agg: str) -> None:
    # Float64 (Polars keeps Float32), in select, over() and group_by().agg()
    def e(m: Any) -> Any:
        c = m.col("f32")
        return c.quantile(0.5) if agg == "quantile" else getattr(c, agg)()

    _same_as_polars(TABLE, lambda f, m: f.select(e(m)))
    _same_as_polars(TABLE, lambda f, m: f.with_columns(e(m).over("k").alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.group_by("k", maintain_order=True).agg(e(m)))


def test_date_parts_have_polars_types() -> None:
    # each was Int32 (Polars: month, day, weekday, quarter Int8; ordinal day Int16)
    _same_as_polars(TABLE, lambda f, m: f.select(
        m.col("d").dt.year().alias("y"), m.col("d").dt.month().alias("mo"), m.col("d").dt.day().alias("dd"),
        m.col("d").dt.weekday().alias("w"), m.col("d").dt.quarter().alias("q"),
        (m.col("d").dt.ordinal_day() if m is pl else m.col("d").dt.day_of_year()).alias("o")))


def test_sqrt_of_float32_and_round_of_decimal_have_polars_types() -> None:
    # sqrt(Float32) was Float64; round(Decimal(10, 2), 1) kept Decimal(10, 2) (Polars: (11, 2))
    _same_as_polars(TABLE, lambda f, m: f.select(m.col("f32").sqrt(), m.col("m").round(1).alias("r1"),
                                                 m.col("m").round(0).alias("r0"), m.col("m").round(2).alias("r2")))


@pytest.mark.parametrize("build", [
    lambda m: m.col("f32").rolling_max(2).over("k", order_by="i32").max(),
    lambda m: m.col("i32").cum_sum().max(),
    lambda m: m.col("f64").shift(1).over("k").sum(),
], ids=["rolling_over_max", "cum_sum_max", "shift_over_sum"])
def test_aggregation_of_a_window_in_select(build: Callable[[Any], Any]) -> None:
    # crashed: "NotLowerable: col("f32").rolling_max(...).over(...)" while running
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r"), m.col("i8").sum()))


def test_rolling_min_of_strings_is_a_clear_error() -> None:
    # raised Polars' own InvalidOperationError from the type rule
    with pytest.raises(th.ThresherError, match="rolling_min"):
        th.from_arrow(TABLE).with_columns(th.col("s").rolling_min(2).over("k")).to_arrow()


@pytest.mark.parametrize("build", [
    lambda m: m.col("i8").clip(0, 5), lambda m: m.col("f64").clip(None, 1), lambda m: m.col("m").clip(0, 1),
    lambda m: m.col("i32").clip("i8"), lambda m: m.col("f32").fill_nan(0), lambda m: m.col("f64").fill_nan(None),
    lambda m: m.col("i32").fill_nan(-1.5), lambda m: m.col("f64").is_nan(), lambda m: m.col("f32").is_not_nan(),
    lambda m: m.col("f64").is_finite(), lambda m: m.col("f64").is_infinite(), lambda m: m.col("f32").floor(),
    lambda m: m.col("m").ceil(), lambda m: m.col("i8").floor(), lambda m: m.col("i8").diff(),
    lambda m: m.col("i32").diff(-1).over("k"), lambda m: m.col("f32").pct_change(),
    lambda m: m.col("m").diff().over("k", order_by="i8"), lambda m: m.col("f64").rolling_var(2, min_samples=1),
], ids=["clip", "clip_upper", "clip_decimal", "clip_column", "fill_nan", "fill_nan_none", "fill_nan_int",
        "is_nan", "is_not_nan", "is_finite", "is_infinite", "floor", "ceil_decimal", "floor_int", "diff",
        "diff_over", "pct_change", "diff_decimal", "rolling_var"])
def test_first_hour_polars_methods(build: Callable[[Any], Any]) -> None:
    # each was an AttributeError ('Column has no attribute ...')
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))


def test_expr_len_counts_nulls() -> None:
    # an AttributeError; a count is Int64 in Thresher (Polars UInt32, documented)
    def n(m: Any, e: Any) -> Any:
        return e.cast(pl.Int64) if m is pl else e

    _same_as_polars(TABLE, lambda f, m: f.select(n(m, m.col("i8").len())))
    _same_as_polars(TABLE, lambda f, m: f.with_columns(n(m, m.col("i8").len()).over("k").alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.group_by("k", maintain_order=True).agg(n(m, m.col("i8").len())))


@pytest.mark.parametrize("build", [
    lambda m: m.col("f64").shift().over("k").sum(),
    lambda m: m.col("f64").cum_max().over("k").mean(),
    lambda m: m.col("i8").max().over("k").rank("max", descending=True),
    lambda m: m.col("s").last().over("f64", order_by="f64", nulls_last=True).cum_max(),
    lambda m: m.col("f32").cum_max().over(None, order_by="f32").cum_sum(),
    lambda m: m.col("i8").max().over("k").rank() + m.col("i32").cum_sum().over("b"),
], ids=["sum_of_over", "mean_of_over", "rank_of_over", "cum_max_of_over", "cum_sum_of_ordered_over", "two"])
def test_a_function_of_a_window_in_with_columns_and_filter(build: Callable[[Any], Any]) -> None:
    # crashed while running: "NotLowerable: col("i32").shift().over([col("k")])": an aggregation or
    # a frame-wide cum_*/rank/... of an over() next to per-row columns (with_columns, filter)
    _same_as_polars(TABLE, lambda f, m: f.with_columns(build(m).alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.filter(build(m).is_not_null()))


@pytest.mark.parametrize("build", [
    lambda m: m.col("i32").max().rank(), lambda m: m.col("f64").sum().cum_sum(), lambda m: m.col("f64").max().shift(),
    lambda m: m.col("i8").max().diff() + 1, lambda m: m.col("f64").shift().over("k").sum().rank(),
], ids=["rank", "cum_sum", "shift", "diff", "rank_of_sum_of_over"])
def test_an_order_dependent_function_of_an_aggregate_selects_one_row(build: Callable[[Any], Any]) -> None:
    # a select of col(x).max().rank() gave one row per input row (Polars: one row)
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))


@pytest.mark.parametrize("build", [
    lambda m: m.col("s").str.head(1), lambda m: m.col("s").str.tail(-1), lambda m: m.col("s").str.pad_start(3, "*"),
    lambda m: m.col("s").str.pad_end(2), lambda m: m.col("s").str.zfill(3), lambda m: m.col("hi").str.reverse(),
    lambda m: m.col("s").str.to_integer(strict=False), lambda m: m.col("lo").str.count_matches("a|b"),
    lambda m: m.col("s").str.strip_chars_start("b"), lambda m: m.col("s").str.strip_chars_end(),
    lambda m: m.col("s").str.to_titlecase(), lambda m: m.col("d").dt.week(), lambda m: m.col("d").dt.iso_year(),
    lambda m: m.col("d").dt.is_leap_year(), lambda m: m.col("d").dt.month_start(), lambda m: m.col("d").dt.month_end(),
    lambda m: m.col("d").dt.ordinal_day(),
], ids=["head", "tail", "pad_start", "pad_end", "zfill", "reverse", "to_integer", "count_matches", "strip_start",
        "strip_end", "titlecase", "week", "iso_year", "is_leap_year", "month_start", "month_end", "ordinal_day"])
def test_first_hour_str_and_dt_methods(build: Callable[[Any], Any]) -> None:
    # each was an AttributeError ('StringNamespace' / 'DateTimeNamespace' object has no attribute ...)
    _same_as_polars(TABLE, lambda f, m: f.select(build(m).alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.group_by("k", maintain_order=True).agg(build(m).alias("r")))


def test_an_over_under_nested_aggregations_in_select() -> None:
    # crashed while running: NotLowerable: col("i32").min().over([col("k")]) (an over under a
    # mean under a sum under a first)
    def e(m: Any) -> Any:
        inner = (m.col("f64") + m.col("f64").min().over("k").mean()).sum()
        return m.when(m.col("i8") > 0).then(inner).otherwise("f32").first()

    _same_as_polars(TABLE, lambda f, m: f.select(e(m).alias("r")))
    _same_as_polars(TABLE, lambda f, m: f.with_columns(e(m).alias("r")))


DUPS = pa.table({
    "f": pa.array([0.0, -0.0, NAN, NAN, None, None, 1.0, 1.0]),
    "s": ["a", "a", None, "b", None, "c", "d", "a"],
    "i": pa.array([1, 2, 1, None, 5, None, 7, 1], pa.int8()),
    "b": [True, None, False, True, None, True, False, True],
    "k": [1, 1, 2, 2, 1, 2, 1, 2],
    "m": pa.array([Dec("1.5"), None, Dec("1.50")] + [None] * 5, pa.decimal128(10, 2)),
})


@pytest.mark.parametrize("column", ["f", "s", "i", "b", "m"])
@pytest.mark.parametrize("name", ["is_duplicated", "is_unique", "is_first_distinct", "is_last_distinct"])
def test_duplicate_flags_as_polars(column: str, name: str) -> None:
    # new (they were AttributeErrors): NULL and NaN count as values, 0.0 and -0.0 as one; the
    # first/last in row order, also after a sort
    def flag(m: Any) -> Any:
        return getattr(m.col(column), name)()

    _same_as_polars(DUPS, lambda f, m: f.with_columns(flag(m)))
    _same_as_polars(DUPS, lambda f, m: f.filter(flag(m) & (m.col("k") == 1)))
    _same_as_polars(DUPS, lambda f, m: f.sort(["k", "i", "s"], nulls_last=True).with_columns(r=flag(m)))


DEC_INT = pa.table({"m": pa.array([None, Dec("1.25"), Dec("-2.50")], pa.decimal128(10, 2)),
                    "i64": pa.array([10**12, 3, None], pa.int64()), "i32": pa.array([2147483647, None, 1], pa.int32()),
                    "i8": pa.array([5, None, 3], pa.int8()), "b": [True, False, None]})


@pytest.mark.parametrize("other", ["i64", "i32", "i8"])
def test_when_and_coalesce_of_a_decimal_and_an_integer_take_polars_type(other: str) -> None:
    # when(b).then(col(int64)).otherwise(col(decimal(10, 2))) was typed decimal(10, 2) and failed
    # while running ("Decimal value does not fit in precision 10"); Polars: decimal(38, 2) where
    # the decimal cannot hold the integer type, else the decimal. th.coalesce is new.
    _same_as_polars(DEC_INT, lambda f, m: f.select(
        m.when(m.col("b")).then(m.col(other)).otherwise(m.col("m")).alias("w"),
        m.when(m.col("b")).then(m.col("m")).when(m.col("i8") > 4).then(m.col(other)).alias("t"),
        m.coalesce("m", other, 0).alias("c"), m.coalesce(m.col(other), "m").alias("d")))


def test_over_with_a_key_holding_an_over_is_refused_by_name() -> None:
    # it failed while running with "NotLowerable" (is_duplicated of an expression with an over
    # reached it too)
    df = th.from_arrow(TABLE)
    with pytest.raises(th.UnsupportedError, match="a key holding an over"):
        df.select(th.len().over(th.col("i8").sum().over("k")).alias("r")).to_arrow()
    # is_duplicated is Polars' own function now (it was a window keyed on its argument): of an
    # expression with an over, the over is computed first, as Polars does
    _same_as_polars(TABLE, lambda f, m: f.select((m.col("f64") + m.col("i8").sum().over("k")).is_duplicated()
                                                 .alias("r")))
