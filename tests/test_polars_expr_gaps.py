"""Polars methods Thresher lacked (issue 15), each compared with Polars on frames full of NULLs,
NaN, duplicates, a group of NULLs only and no rows: values, column names and types.

Aggregations (``product``, ``arg_max``/``arg_min``, ``skew``, ``kurtosis``, ``entropy``,
``nan_max``/``nan_min``, ``approx_n_unique``, ``index_of``, ``search_sorted``) in ``select``,
``group_by().agg()`` and under ``over``; ``replace``/``replace_strict`` with expressions;
``col(*names)``, ``col(*dtypes)``, ``th.exclude`` and the top-level shortcuts (``th.sum("a")``);
``group_by().sum()`` and the other group shortcuts; element-wise ``truncate``,
``round_sig_figs``, ``erf``, ``bitwise_*``, ``xor``, ``is_close``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import thresher as th
from thresher.errors import UnsupportedError

NAN = float("nan")

FULL = pa.table({
    "k": pa.array(["a", "a", "b", None, "b", "c", "a", "c"], pa.string()),
    "x": pa.array([3, None, 1, 4, 1, None, 3, None], pa.int64()),
    "i": pa.array([3, -1, 0, 4, 255, None, 7, None], pa.int32()),
    "f": pa.array([1.5, NAN, None, -2.25, 5.0, None, 0.0, None], pa.float64()),
    "b": pa.array([True, None, False, True, True, None, False, None], pa.bool_()),
    "c": pa.array([False, True, True, None, False, None, True, None], pa.bool_()),
    "s": pa.array(["p", None, "q", "r", "p", "s", None, None], pa.string()),
})
TABLES = {"full": FULL, "empty": FULL.slice(0, 0), "one": FULL.slice(3, 1), "nulls": FULL.slice(5, 3)}


def _polars(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def _same_as_polars(table: pa.Table, pipeline: Callable[[Any, Any], Any], *, counts_as_int64: bool = False,
                    exact: bool = True) -> None:
    want = pipeline(_polars(table).lazy(), pl).collect()
    if counts_as_int64:  # (Thresher's counts are Int64; Polars' UInt32)
        want = want.with_columns(pl.col(pl.UInt32).cast(pl.Int64))
    got = _polars(pipeline(th.from_arrow(table), th).to_arrow())
    assert got.schema == want.schema, f"{got.schema} vs Polars' {want.schema}"
    if exact:
        assert got.equals(want), f"{got}\nvs Polars'\n{want}"  # (NaN equals NaN here)
    else:  # (a statistic summed in another order: the last bits may differ)
        assert_frame_equal(got, want, rel_tol=1e-9)


@pytest.fixture(params=sorted(TABLES))
def table(request: pytest.FixtureRequest) -> pa.Table:
    return TABLES[request.param]


AGGS: dict[str, Callable[[Any], Any]] = {
    "product": lambda e: e.product(),
    "arg_max": lambda e: e.arg_max(),
    "arg_min": lambda e: e.arg_min(),
    "skew": lambda e: e.skew(),
    "skew_unbiased": lambda e: e.skew(bias=False),
    "kurtosis": lambda e: e.kurtosis(),
    "kurtosis_pearson": lambda e: e.kurtosis(fisher=False, bias=False),
    # (of non-negative values: Polars' entropy of a negative one differs between its engines)
    "entropy": lambda e: e.abs().entropy(),
    "nan_max": lambda e: e.nan_max(),
    "nan_min": lambda e: e.nan_min(),
    "approx_n_unique": lambda e: e.approx_n_unique(),
    "index_of": lambda e: e.index_of(3),
    "index_of_null": lambda e: e.index_of(None),
}


@pytest.mark.parametrize("column", ["x", "i", "f"])
@pytest.mark.parametrize("agg", sorted(AGGS))
def test_aggregations(table: pa.Table, column: str, agg: str) -> None:
    fn = AGGS[agg]
    _same_as_polars(table, lambda d, m: d.select(fn(m.col(column))))
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(fn(m.col(column)),
                                                                                  fn(m.col(column)).alias("again")))
    _same_as_polars(table, lambda d, m: d.select("k", fn(m.col(column)).over("k")))


@pytest.mark.parametrize("agg", ["product", "arg_max", "arg_min"])
def test_aggregations_of_booleans(table: pa.Table, agg: str) -> None:
    fn = AGGS[agg]
    _same_as_polars(table, lambda d, m: d.select(fn(m.col("b"))))
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(fn(m.col("c"))))


@pytest.mark.parametrize("column", ["x", "f"])
def test_entropy_not_normalized(table: pa.Table, column: str) -> None:
    # (in select only: Polars' group_by gives 0.0 for a group of one value, its select does not)
    _same_as_polars(table, lambda d, m: d.select(m.col(column).abs().entropy(base=2, normalize=False)))


def test_arg_max_of_strings(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(m.col("s").arg_max(),
                                                                                  m.col("s").arg_min().alias("lo")))


def test_product_of_a_null_column_is_refused() -> None:
    with pytest.raises(th.ThresherTypeError, match="product"):
        th.from_pydict({"x": [None, None]}).select(th.col("x").product()).collect()


def test_sql_product_keeps_duckdb_semantics() -> None:
    # (SQL's product is DuckDB's: a DOUBLE, NULL over no value; Expr.product is Polars')
    t = pa.table({"x": pa.array([None], pa.int64())})
    assert th.sql("SELECT product(x) AS p FROM t", t=t).to_pydict() == {"p": [None]}
    assert th.from_arrow(t).select(th.col("x").product()).to_pydict() == {"x": [1]}


def test_search_sorted(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.sort("x").select(m.col("x").search_sorted(3), m.col("x").search_sorted(
        1, "left").alias("l"), m.col("x").search_sorted(3, "right").alias("r")))
    _same_as_polars(table, lambda d, m: d.sort("f", descending=True).select(m.col("f").search_sorted(
        1.0, descending=True)))


REPLACES: dict[str, Callable[[Any], Any]] = {
    "new_aggregate": lambda m: m.col("x").replace(1, m.col("i").max()),
    "old_and_new_aggregates": lambda m: m.col("x").replace(m.col("x").min(), m.col("x").max()),
    "list_to_aggregate": lambda m: m.col("x").replace([1, 3], m.col("i").first()),
    "new_literal": lambda m: m.col("x").replace(3, m.lit(9)),
    "strict_default_column": lambda m: m.col("x").replace_strict({1: 100}, default=m.col("i")),
    "strict_default_widens": lambda m: m.col("x").replace_strict({1: 1.5, None: 0.5}, default=m.col("x")),
    "strict_default_strings": lambda m: m.col("s").replace_strict({"p": "P"}, default=m.col("s")),
    "strict_default_float": lambda m: m.col("x").replace_strict({1: 100}, default=m.col("f")),
    "strict_return_dtype": lambda m: m.col("x").replace_strict({1: 100}, default=m.col("i"), return_dtype=pl.Int32),
}


@pytest.mark.parametrize("case", sorted(REPLACES))
def test_replace_with_expressions(table: pa.Table, case: str) -> None:
    fn = REPLACES[case]
    _same_as_polars(table, lambda d, m: d.select(fn(m)))
    _same_as_polars(table, lambda d, m: d.with_columns(fn(m).alias("r")).filter(m.col("k").is_not_null()))


def test_replace_with_expressions_per_group(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.select(m.col("x").replace(1, m.col("i").max()).over("k")))
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(
        m.col("x").replace_strict({1: 100}, default=m.col("i")).sum()))


def test_replace_refuses_a_column_as_a_mapping() -> None:
    # Polars reads col("y") there as the list of y's values; Thresher names what it does not take
    with pytest.raises(UnsupportedError, match="replace: `new`"):
        th.col("x").replace(1, th.col("y"))
    with pytest.raises(UnsupportedError, match="replace_strict"):
        th.col("x").replace_strict(th.col("a"), th.col("b"))


SELECTIONS: dict[str, Callable[[Any], Any]] = {
    "names": lambda m: m.col("s", "x"),
    "names_list": lambda m: m.col(["i", "x"]) * 2,
    "dtypes": lambda m: m.col(pl.Int64, pl.Int32),
    "dtype_list": lambda m: m.col([pl.Float64, pl.String]),
    "dtype_bool": lambda m: m.col(pl.Boolean).not_(),
    "exclude": lambda m: m.exclude("k", "s"),
    "exclude_list": lambda m: m.exclude(["k", "s", "b", "c"]).max(),
    # (an Int32 column sums in Int64 in Thresher, in Int32 in Polars: see test_sum_of_int32_widens)
    "sum": lambda m: m.sum("x", "f"),
    "mean": lambda m: m.mean("x", "f"),
    "median": lambda m: m.median("i"),
    "min": lambda m: m.min("x", "s"),
    "max": lambda m: m.max("x", "s"),
    "first": lambda m: m.first("x", "s"),
    "last": lambda m: m.last("f"),
    "std": lambda m: m.std("x"),
    "var": lambda m: m.var("f", 0),
    "quantile": lambda m: m.quantile("x", 0.3),
}


@pytest.mark.parametrize("case", sorted(SELECTIONS))
def test_column_selections_and_shortcuts(table: pa.Table, case: str) -> None:
    fn = SELECTIONS[case]
    _same_as_polars(table, lambda d, m: d.select(fn(m)))


def test_selections_in_agg_and_with_columns(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(m.col("x", "i").max(),
                                                                                  m.col(pl.Float64).sum()))
    _same_as_polars(table, lambda d, m: d.with_columns(m.col(pl.Int64, pl.Int32) + 1))


def test_n_unique_shortcut(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.select(m.n_unique("x", "s")), counts_as_int64=True)


def test_column_selection_errors() -> None:
    df = th.from_pydict({"a": [1]})
    with pytest.raises(th.ColumnNotFoundError, match="nope"):
        df.select(th.col("a", "nope")).collect()
    with pytest.raises(th.ThresherTypeError, match="not a mix"):
        th.col("a", pl.Int64)


GROUP_SHORTCUTS = ["sum", "mean", "median", "min", "max", "first", "last", "all"]


@pytest.mark.parametrize("method", GROUP_SHORTCUTS)
def test_group_by_shortcuts(table: pa.Table, method: str) -> None:
    # (Thresher sums booleans and Int32 in Int64: Polars in UInt32 and Int32)
    numeric = method in ("sum", "mean", "median")
    _same_as_polars(table, lambda d, m: getattr((d.drop("s", "i") if numeric else d).group_by("k", maintain_order=True),
                                                method)(), counts_as_int64=method == "sum")


def test_group_by_shortcuts_with_arguments(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).n_unique(), counts_as_int64=True)
    # (Polars' quantile of a column that is not a number is NULL; Thresher's raises)
    _same_as_polars(table, lambda d, m: d.drop("s", "b", "c").group_by("k", maintain_order=True).quantile(0.5))
    _same_as_polars(table, lambda d, m: d.group_by("k", "b", maintain_order=True).head(1))
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).tail(2))


ELEMENTWISE: dict[str, Callable[[Any], Any]] = {
    "truncate": lambda e: e.truncate(),
    "truncate_1": lambda e: e.truncate(1),
    "round_sig_figs": lambda e: e.round_sig_figs(2),
    "erf": lambda e: e.erf(),
}


@pytest.mark.parametrize("column", ["x", "i", "f"])
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise(table: pa.Table, column: str, case: str) -> None:
    fn = ELEMENTWISE[case]
    _same_as_polars(table, lambda d, m: d.select(fn(m.col(column))))


@pytest.mark.parametrize("method", ["count_ones", "count_zeros", "leading_ones", "leading_zeros", "trailing_ones",
                                    "trailing_zeros"])
def test_bitwise_counts(table: pa.Table, method: str) -> None:
    _same_as_polars(table, lambda d, m: d.select(getattr(m.col("x"), f"bitwise_{method}")(),
                                                 getattr(m.col("i"), f"bitwise_{method}")()))


def test_xor_and_is_close(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.select(m.col("b").xor(m.col("c")), m.col("x").xor(m.col("i")).alias("n"),
                                                 m.col("i").xor(5).alias("l")))
    _same_as_polars(table, lambda d, m: d.select(m.col("f").is_close(m.col("x"), abs_tol=1.0),
                                                 m.col("f").is_close(1.5).alias("y"),
                                                 m.col("f").is_close(m.col("f"), nans_equal=True).alias("z")))
    with pytest.raises(th.ThresherTypeError, match="xor"):
        th.from_arrow(FULL).select(th.col("b").xor(th.col("x"))).collect()


_VALUES = st.one_of(st.none(), st.integers(-3, 3))


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.sampled_from(["a", "b", None]), max_size=8), data=st.data())
def test_fuzz_group_aggregations(keys: list[str | None], data: st.DataObject) -> None:
    values = data.draw(st.lists(_VALUES, min_size=len(keys), max_size=len(keys)))
    t = pa.table({"k": pa.array(keys, pa.string()), "x": pa.array(values, pa.int64())})
    for name in ("product", "arg_max", "arg_min", "index_of", "skew", "kurtosis"):
        fn, exact = AGGS[name], name not in ("skew", "kurtosis")
        _same_as_polars(t, lambda d, m, fn=fn: d.group_by("k", maintain_order=True).agg(fn(m.col("x"))), exact=exact)
        _same_as_polars(t, lambda d, m, fn=fn: d.select(fn(m.col("x")).over("k")), exact=exact)


def test_sum_of_int32_widens() -> None:
    # a documented difference: Thresher sums every integer type in Int64 (Polars keeps Int32)
    t = pa.table({"x": pa.array([2**31 - 1, 1], pa.int32())})
    assert th.from_arrow(t).select(th.sum("x")).to_pydict() == {"x": [2**31]}
