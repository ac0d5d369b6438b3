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


# ---- over() of an expression of its own length (mapping_strategy) --------------------------------

OVERS: dict[str, Callable[[Any], Any]] = {
    "sort": lambda m: m.col("x").sort().over("k"),
    "sort_desc_nulls_last": lambda m: m.col("x").sort(descending=True, nulls_last=True).over("k"),
    "reverse": lambda m: m.col("f").reverse().over("k"),
    "sort_ordered": lambda m: m.col("x").sort().over("k", order_by="i"),
    "reverse_ordered": lambda m: m.col("s").reverse().over("k", order_by="f"),
    "unique_join": lambda m: m.col("x").unique(maintain_order=True).over("k", mapping_strategy="join"),
    "sort_join": lambda m: m.col("f").sort().over("k", mapping_strategy="join"),
    "head_join": lambda m: m.col("x").head(1).over("k", mapping_strategy="join"),
    "drop_nulls_join": lambda m: m.col("x").drop_nulls().over("k", mapping_strategy="join"),
    "sort_explode": lambda m: m.col("x").sort().over("k", mapping_strategy="explode"),
    "unique_explode": lambda m: m.col("x").unique(maintain_order=True).over("k", mapping_strategy="explode"),
    "head_explode": lambda m: m.col("s").head(1).over("k", mapping_strategy="explode"),
    "drop_nulls_explode": lambda m: m.col("x").drop_nulls().over("k", mapping_strategy="explode"),
    "sum_explode": lambda m: m.col("x").sum().over("k", mapping_strategy="explode"),
    "rows_explode": lambda m: (m.col("i") * 2).over("k", "b", mapping_strategy="explode"),
}


@pytest.mark.parametrize("case", sorted(OVERS))
def test_over_of_expressions_of_their_own_length(table: pa.Table, case: str) -> None:
    fn = OVERS[case]
    _same_as_polars(table, lambda d, m: d.select(fn(m)))
    if not case.endswith("explode"):
        _same_as_polars(table, lambda d, m: d.with_columns(fn(m).alias("w")))


def test_over_of_a_length_change_mapped_to_rows_is_refused() -> None:
    df = th.from_arrow(FULL)
    with pytest.raises(th.ThresherTypeError, match=r"unique\(\) changes each group's length"):
        df.select(th.col("x").unique().over("k"))
    with pytest.raises(UnsupportedError, match="explode.*order_by"):
        th.col("x").sort().over("k", order_by="i", mapping_strategy="explode")


def test_list_get_of_an_expression(table: pa.Table) -> None:
    # (Thresher's list.get is NULL out of range; Polars' raises unless null_on_oob)
    _same_as_polars(table, lambda d, m: d.select(m.col("x").implode().over("k").list.get(
        m.col("i").clip(-1, 1).fill_null(0), **({"null_on_oob": True} if m is pl else {}))))


# ---- namespaces: pass-through methods ------------------------------------------------------------

D, TS = __import__("datetime").date, __import__("datetime").datetime
TD = __import__("datetime").timedelta
TEMPORAL = pa.table({
    "d": pa.array([D(2000, 2, 3), None, D(2001, 12, 31), D(1999, 1, 1)], pa.date32()),
    "ts": pa.array([TS(2024, 2, 29, 1), None, TS(1900, 1, 1), TS(2000, 1, 1)], pa.timestamp("us")),
    "du": pa.array([TD(hours=36, seconds=5), None, -TD(minutes=90), TD(0)], pa.duration("us")),
    "dn": pa.array([1, None, -5, 86400 * 10**9 + 7], pa.duration("ns")),
    "l": pa.array([[1, 2, None, 2], None, [], [5]], pa.list_(pa.int64())),
    "lb": pa.array([[True, None], None, [], [False, True]], pa.list_(pa.bool_())),
    "lf": pa.array([[1.5, NAN, -2.0], None, [], [None]], pa.list_(pa.float64())),
    "s": pa.array(["a.b*c", None, '{"a": {"b": 2}}', "1.25,x,y"], pa.string()),
})


@pytest.mark.parametrize("method", ["century", "millennium", "days_in_month"])
def test_dt_parts(method: str) -> None:
    _same_as_polars(TEMPORAL, lambda d, m: d.select(getattr(m.col("d").dt, method)(),
                                                    getattr(m.col("ts").dt, method)().alias("t")))


@pytest.mark.parametrize("unit", ["days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds"])
def test_dt_total(unit: str) -> None:
    _same_as_polars(TEMPORAL, lambda d, m: d.select(
        getattr(m.col("du").dt, f"total_{unit}")(), getattr(m.col("dn").dt, f"total_{unit}")().alias("n"),
        getattr(m.col("dn").dt, f"total_{unit}")(fractional=True).alias("f")))


LISTS: dict[str, Callable[[Any], Any]] = {
    "median": lambda e: e.list.median(),
    "std": lambda e: e.list.std(),
    "var0": lambda e: e.list.var(0),
    "diff": lambda e: e.list.diff(),
    "diff_drop": lambda e: e.list.diff(2, "drop"),
    "shift": lambda e: e.list.shift(),
    "shift_back": lambda e: e.list.shift(-2),
    "count_matches": lambda e: e.list.count_matches(2),
    "gather_every": lambda e: e.list.gather_every(2),
    "gather_every_offset": lambda e: e.list.gather_every(1, 1),
}


@pytest.mark.parametrize("case", sorted(LISTS))
def test_list_methods(case: str) -> None:
    fn = LISTS[case]
    _same_as_polars(TEMPORAL, lambda d, m: d.select(fn(m.col("l")), fn(m.col("lf")).alias("f")))


def test_list_any_all_and_string_methods() -> None:
    _same_as_polars(TEMPORAL, lambda d, m: d.select(m.col("lb").list.any(), m.col("lb").list.all().alias("a")))
    _same_as_polars(TEMPORAL, lambda d, m: d.select(
        m.col("s").str.escape_regex(), m.col("s").str.normalize("NFKC").alias("n"),
        m.col("s").str.json_path_match("$.a.b").alias("j"), m.col("s").str.splitn(",", 2).alias("sn"),
        m.col("s").str.split_exact(",", 1).alias("se"),
        m.col("s").str.splitn(",", 2).struct.field("field_0").str.to_decimal(scale=3).alias("dec")))


# ---- sort_by --------------------------------------------------------------------------------------

def _stable(m: Any) -> dict[str, Any]:
    return {"maintain_order": True} if m is pl else {}  # (Polars' own sort_by is stable only so)


SORT_BYS: dict[str, Callable[[Any], Any]] = {
    "one_key": lambda m: m.col("s").sort_by("x", **_stable(m)),
    "descending_nulls_last": lambda m: m.col("f").sort_by("i", descending=True, nulls_last=True, **_stable(m)),
    "keys": lambda m: m.col("x").sort_by(["k", "f"], descending=[False, True], **_stable(m)),
    "expression_key": lambda m: m.col("i").sort_by(m.col("x") * -1, "b", **_stable(m)),
}


@pytest.mark.parametrize("case", sorted(SORT_BYS))
def test_sort_by(table: pa.Table, case: str) -> None:
    fn = SORT_BYS[case]
    _same_as_polars(table, lambda d, m: d.select(fn(m)))
    _same_as_polars(table, lambda d, m: d.with_columns(fn(m).alias("sorted")))
    _same_as_polars(table, lambda d, m: d.select(fn(m).first(), fn(m).last().alias("l")))
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(
        fn(m).alias("all"), fn(m).last().alias("last"), fn(m).first().alias("first"), fn(m).head(2).alias("h")))


def test_reductions_of_list_operations_in_agg(table: pa.Table) -> None:
    _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(
        m.col("x").unique(maintain_order=True).last(), m.col("x").sort(nulls_last=True).head(2).sum().alias("s"),
        m.col("f").drop_nulls().max().alias("mx")))


# ---- clear refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("build, names", [
    (lambda: th.col("x").map_elements(len), r"Expr\.map_elements\(\) \(Polars'\).*@th\.udf"),
    (lambda: th.col("x").rle(), r"Expr\.rle\(\).*rle_id"),
    (lambda: th.col("x").str.join(","), r"Expr\.str\.join\(\).*list\.join"),
    (lambda: th.col("x").dt.replace_time_zone("UTC"), r"Expr\.dt\.replace_time_zone\(\)"),
    (lambda: th.col("x").list.set_union(th.col("y")), r"Expr\.list\.set_union\(\)"),
    (lambda: th.col("x").struct.unnest(), r"Expr\.struct\.unnest\(\).*DataFrame\.unnest"),
])
def test_polars_methods_thresher_lacks_are_named(build: Callable[[], Any], names: str) -> None:
    from thresher.errors import UnsupportedMethodError

    with pytest.raises(UnsupportedMethodError, match=names):
        build()
    assert not hasattr(th.col("x"), "not_a_polars_method")  # (a plain AttributeError for the rest)


def test_pipe() -> None:
    df = th.from_arrow(FULL)
    assert df.select(th.col("x").pipe(lambda e, n: e * n, 3)).to_pydict() == \
        _polars(FULL).select(pl.col("x").pipe(lambda e, n: e * n, 3)).to_dict(as_series=False)


def test_group_by_methods_thresher_lacks_are_named() -> None:
    from thresher.errors import UnsupportedMethodError

    with pytest.raises(UnsupportedMethodError, match=r"GroupBy\.map_groups\(\)"):
        th.from_arrow(FULL).group_by("k").map_groups(len)
    assert not hasattr(th.from_arrow(FULL).group_by("k"), "not_a_polars_method")


@pytest.mark.parametrize("by", ["i", "s", "f"])
@pytest.mark.parametrize("method", ["max_by", "min_by"])
def test_max_by_and_min_by(table: pa.Table, by: str, method: str) -> None:
    # (keys without ties within a group: which of tied rows Polars picks differs between its plans)
    _same_as_polars(table, lambda d, m: d.select(getattr(m.col("x"), method)(by),
                                                 getattr(m.col("s"), method)(m.col(by)).alias("s2")))
    if by != "f":
        _same_as_polars(table, lambda d, m: d.group_by("k", maintain_order=True).agg(
            getattr(m.col("x"), method)(by), getattr(m.col("f"), method)(by).alias("f2")))
        _same_as_polars(table, lambda d, m: d.select(getattr(m.col("x"), method)(by).over("k")))


def test_sql_arg_max_keeps_duckdb_semantics() -> None:
    # (SQL's arg_max skips rows whose value is NULL, as DuckDB; Expr.max_by is Polars')
    t = pa.table({"x": [1, None], "y": [1, 2]})
    assert th.sql("SELECT arg_max(x, y) AS a FROM t", t=t).to_pydict() == {"a": [1]}
    assert th.from_arrow(t).select(th.col("x").max_by("y")).to_pydict() == {"x": [None]}
