"""Cases the frame fuzzer (tests/test_polars_frame_fuzz.py) found, each compared with Polars:
values, column names and types. Each failed before its fix."""

from __future__ import annotations

import datetime
import decimal
import re
import warnings
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import thresher as th


def _polars(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    out.columns = table.column_names  # (from_arrow renames a column named '')
    return out


def _same_as_polars(table: pa.Table, pipeline: Callable[[Any, Any], Any]) -> None:
    want = pipeline(_polars(table).lazy(), pl).collect()
    got = _polars(pipeline(th.from_arrow(table), th).to_arrow())
    assert got.schema == want.schema
    assert got.equals(want), f"{got}\nvs Polars'\n{want}"  # (NaN equals NaN here)


def test_select_of_constants_is_one_row() -> None:
    # was three rows (one per input row); Polars: a select of only constants is one row, also of
    # an empty frame, and a constant next to an aggregation too
    for n in (3, 0):
        t = pa.table({"a": pa.array(list(range(n)), pa.int64())})
        _same_as_polars(t, lambda f, m: f.select(x=m.lit(None)))
        _same_as_polars(t, lambda f, m: f.select(m.lit("s").alias("y"), m.col("a").sum()))


def test_fill_null_zero_fills_every_type_and_keeps_types() -> None:
    # strategy="zero" filled only numeric columns, and made Int32/Int8 columns Int64
    t = pa.table({"i": pa.array([None, 2], pa.int32()), "e": pa.array([1, None], pa.int8()),
                  "f": pa.array([None, 1.5], pa.float32()), "s": ["a", None], "b": [None, True],
                  "d": pa.array([None, datetime.date(2020, 1, 1)]),
                  "m": pa.array([None, decimal.Decimal("1.50")], pa.decimal128(10, 2))})
    _same_as_polars(t, lambda f, m: f.fill_null(strategy="zero"))
    _same_as_polars(t.select(["i", "e", "f", "b", "m"]), lambda f, m: f.fill_null(strategy="one"))


@pytest.mark.parametrize("value", [0, -1, 1000, 2.5])
def test_fill_null_value_takes_polars_literal_type(value: Any) -> None:
    # fill_null(0) made an Int8 column Int64 (Polars: Int8; -1 on UInt8 is Int16, 1000 on Int8 Int16)
    t = pa.table({"e": pa.array([1, None], pa.int8()), "u": pa.array([None, 1], pa.uint8()),
                  "f": pa.array([None, 1.5], pa.float32()), "i": pa.array([None, 2], pa.int32()),
                  "m": pa.array([None, decimal.Decimal("1.50")], pa.decimal128(10, 2))})
    _same_as_polars(t, lambda f, m: f.fill_null(value))


@pytest.mark.parametrize("predicate", [lambda m: m.col("f") >= -1, lambda m: m.col("f") > 0,
                                       lambda m: m.col("f") == float("nan"), lambda m: -1 < m.col("f")])
def test_filter_keeps_nan_as_the_greatest_value(predicate: Callable[[Any], Any]) -> None:
    # the filter pushed into the in-memory scan ran in pyarrow, where NaN >= -1 is false:
    # df.filter(col('f') >= -1) dropped the NaN row Polars keeps (and DuckDB: NaN is the greatest)
    t = pa.table({"f": [-2.5, 1e300, 0.1, float("nan"), None], "i": [1, 2, 3, 4, 5]})
    _same_as_polars(t, lambda f, m: f.filter(predicate(m)))


def test_arithmetic_with_a_python_number_takes_the_column_type() -> None:
    # col(int8) * -3 was typed Int64 but computed (by Polars) in Int8: 127 * -3 gave -125 in an
    # Int64 column; now Int8 as in Polars (-125, wrapped), and * 1000 is Int16 (no wrap)
    t = pa.table({"e": pa.array([127, -128, None], pa.int8()), "u": pa.array([1, 255, 0], pa.uint8()),
                  "i": pa.array([2**31 - 1, 1, 0], pa.int32()), "f": pa.array([1.5, None, 2.0], pa.float32()),
                  "m": pa.array([decimal.Decimal("1.50"), None, None], pa.decimal128(10, 2))})
    _same_as_polars(t, lambda f, m: f.select(
        (m.col("e") * -3).alias("a"), (m.col("e") * 1000).alias("b"), (m.col("u") - 1).alias("c"),
        (m.col("u") + -1).alias("d"), (m.col("i") * -3).alias("g"), (2 - m.col("e")).alias("h"),
        (m.col("f") * 2).alias("j"), (m.col("f") / 2).alias("k"), (m.col("e") * 2.5).alias("l"),
        (m.col("m") * 2).alias("n"), (m.col("e") // -2).alias("o"), m.col("e").fill_null(1000).alias("p")))


def test_slice_null_count_and_sum_of_booleans() -> None:
    # slice and null_count were missing (AttributeError); sum of a boolean column was refused
    t = pa.table({"a": [1, None, 3, None, 5], "b": [True, None, True, False, True]})
    for off, ln in ((1, 2), (-3, 2), (2, None), (-1, None), (-9, 2), (9, 1), (0, 0)):
        _same_as_polars(t, lambda f, m, o=off, n=ln: f.slice(o, n))
    want = pl.from_arrow(t).select(pl.col("a").null_count(), pl.col("b").sum())
    got = th.from_arrow(t).select(th.col("a").null_count(), th.col("b").sum()).to_arrow()
    assert got.to_pydict() == want.to_dict(as_series=False)  # (values; th counts are Int64, Polars UInt32)


def test_filter_of_a_parquet_file_keeps_nan(tmp_path: Any) -> None:
    # the same in a Parquet scan's pyarrow filter
    path = str(tmp_path / "f.parquet")
    pl.DataFrame({"f": [-2.5, float("nan"), None, 3.0]}).write_parquet(path)
    want = pl.scan_parquet(path).filter(pl.col("f") >= -1).collect()["f"].to_list()
    got = th.read_parquet(path).filter(th.col("f") >= -1).to_pydict()["f"]
    assert str(got) == str(want) == "[nan, 3.0]"


@pytest.mark.parametrize("value", [0, 2**40, 2.5, "z", True])
def test_fill_null_of_a_column_of_nulls(value: Any) -> None:
    # a column of nulls (with_columns(x=lit(None))) was left null by fill_null(0); Polars fills it
    # (Int32 for a small int, as its literals)
    t = pa.table({"n": pa.nulls(2), "a": pa.array([1, None], pa.int64())})
    _same_as_polars(t, lambda f, m: f.fill_null(value))


def test_a_column_named_by_the_empty_string() -> None:
    # a pivot on an empty string makes a column named ''; a plan over it failed in Polars
    # ('unable to find column ""': Polars' from_arrow renames it column_0)
    t = pa.table({"": [1, None, 3], "a": ["x", "y", "x"]})
    _same_as_polars(t, lambda f, m: f.filter(m.col("") > 0).with_columns(n=m.col("").max().over("a")))
    _same_as_polars(t, lambda f, m: f.select(m.col("") * 2))


def test_pivot_on_a_column_named_by_the_empty_string() -> None:
    # the pivot's own Polars reshape failed: to_polars() renamed the column '' to column_1
    t = pa.table({"": ["x", "", None, "x"], "b": [True, None, True, False], "v": [1, 2, 3, 4]})
    want = _polars(t).pivot("", index="b", values="v", aggregate_function="sum")
    got = th.from_arrow(t).pivot("", index="b", values="v", aggregate_function="sum")
    assert got.columns == want.columns
    assert _polars(got.to_arrow()).rows() == want.rows()


def test_power_has_polars_type() -> None:
    # col(int8) ** 2 was declared Float64 but computed (by Polars) in Int8: 100 ** 2 gave 16.0;
    # Polars: Int8 16 (the base's integer type), and float32 ** x stays Float32
    t = pa.table({"e": pa.array([100, 3], pa.int8()), "i": pa.array([2, 3], pa.int32()), "k": [3, 2],
                  "u": pa.array([2, 3], pa.uint8()), "f": pa.array([2.0, 0.5], pa.float32()), "d": [2.0, 1.5]})
    _same_as_polars(t, lambda f, m: f.select(
        (m.col("e") ** 2).alias("a"), (m.col("k") ** 2).alias("b"), (m.col("e") ** 0.5).alias("c"),
        (m.col("e") ** m.col("k")).alias("g"), (m.col("i") ** m.col("u")).alias("h"), (m.col("f") ** 2).alias("j"),
        (m.col("f") ** m.col("d")).alias("n"), (m.col("e") ** m.col("f")).alias("o"),
        (m.col("d") ** m.col("f")).alias("q"), (m.col("u") ** 2).alias("r")))


def test_lit_of_a_number_next_to_a_column() -> None:
    # th.lit(2) * col(int8) was declared Int64 but Polars computed it in Int8 (2 * 100 gave -56 in
    # an Int64 column); th.lit is dynamic as pl.lit: Int8 (-56, as Polars), lit(200) * int8 Int16
    t = pa.table({"e": pa.array([100, 3, None], pa.int8()), "f": pa.array([1.5, None, 2.0], pa.float32())})
    _same_as_polars(t, lambda f, m: f.select((m.lit(2) * m.col("e")).alias("a"), (m.lit(200) * m.col("e")).alias("b"),
                                             (m.col("f") - m.lit(1)).alias("c"), m.col("e").fill_null(m.lit(7))))


def test_fill_null_mean_fills_dates_too() -> None:
    # strategy="mean" left dates and timestamps null (Polars fills them with the mean date/time)
    t = pa.table({"d": pa.array([datetime.date(2020, 1, 1), None, datetime.date(2020, 1, 4)]),
                  "t": pa.array([datetime.datetime(2020, 1, 1), None, datetime.datetime(2020, 1, 2)]),
                  "i": pa.array([1, None, 2], pa.int8())})
    _same_as_polars(t, lambda f, m: f.fill_null(strategy="mean"))


@pytest.mark.parametrize("int_type", [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64()])
def test_relaxed_concat_of_an_integer_and_a_decimal(int_type: pa.DataType) -> None:
    # concat(how='diagonal_relaxed') of an Int64 and a Decimal(10, 2) column gave Decimal(10, 2),
    # which cannot hold an int64 (Polars: Decimal(38, 2); an int8 fits, Decimal(10, 2) stays)
    a = pa.table({"m": pa.array([7, None], int_type)})
    b = pa.table({"m": pa.array([decimal.Decimal("1.50")], pa.decimal128(10, 2))})
    for how in ("vertical_relaxed", "diagonal_relaxed"):
        want = pl.concat([_polars(a).lazy(), _polars(b).lazy()], how=how).collect()  # type: ignore[call-overload]
        got = _polars(th.concat([th.from_arrow(a), th.from_arrow(b)], how=how).to_arrow())
        assert got.schema == want.schema
        assert got.rows() == want.rows()


_NE_LEFT = pa.table({"k": pa.array([None, 1, 1, 2, None], pa.int64()), "m": ["x", "a", None, "b", None],
                     "x": pa.array([1, 2, 3, 4, 5], pa.int64())})
_NE_RIGHT = pa.table({"k": pa.array([None, 1, None, 3], pa.int64()), "m": [None, None, "a", "b"],
                      "y": pa.array([10, 20, 30, 40], pa.int64())})


def _join_as_polars(pipeline: Callable[[Any, Any, Any], Any]) -> None:
    want = pipeline(_polars(_NE_LEFT).lazy(), _polars(_NE_RIGHT).lazy(), pl).collect()
    got = _polars(pipeline(th.from_arrow(_NE_LEFT), th.from_arrow(_NE_RIGHT), th).to_arrow())
    assert got.schema == want.schema
    assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr), f"{got}\nvs Polars'\n{want}"


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
@pytest.mark.parametrize("on", [["k"], ["k", "m"]])
@pytest.mark.parametrize("coalesce", [None, True, False])
def test_join_nulls_equal(how: str, on: list[str], coalesce: bool | None) -> None:
    # join(nulls_equal=True) raised a TypeError naming the argument; NULL keys match each other
    if coalesce is not None and how in ("semi", "anti"):
        return
    _join_as_polars(lambda a, b, m: a.join(b, on=on, how=how, nulls_equal=True, coalesce=coalesce))
    _join_as_polars(lambda a, b, m: a.join(b.rename({"k": "kk"}), left_on=on, right_on=["kk", *on[1:]], how=how,
                                           nulls_equal=True, coalesce=coalesce))


def test_join_nulls_equal_under_optimizer_rewrites() -> None:
    # shapes where rules read join keys: a filter above (pushed into both sides, IS NOT NULL on
    # keys inferred), a chain of joins (reordered), a group-by joined on its keys (semi-join
    # reduction), a semi join below an inner join
    _join_as_polars(lambda a, b, m: a.join(b, on="k", nulls_equal=True).filter(m.col("x") > 1))
    _join_as_polars(lambda a, b, m: a.join(b, on="k", how="left", nulls_equal=True).filter(m.col("y").is_null()))
    _join_as_polars(lambda a, b, m: a.filter(m.col("x") > 1).join(b, on="k", nulls_equal=True)
                    .join(b.select("k", m.col("y").alias("z")), on="k", nulls_equal=True))
    _join_as_polars(lambda a, b, m: a.filter(m.col("x") < 5).join(
        b.group_by("k").agg(m.col("y").sum()), on="k", nulls_equal=True))
    _join_as_polars(lambda a, b, m: a.join(b, on="k", how="semi", nulls_equal=True)
                    .join(b.select("k", "y"), on="k").group_by("k").agg(m.col("x").sum()))
    _join_as_polars(lambda a, b, m: a.join(b, on="k", how="semi").join(b.select("k", "y"), on="k", nulls_equal=True)
                    .select("k", "y"))


@pytest.mark.parametrize("coalesce", [None, True, False])
@pytest.mark.parametrize("keys", [(["i", "m"], ["k", "m"]), (["i"], ["k"])])
def test_right_join_key_named_like_a_left_column(coalesce: bool | None, keys: tuple[list[str], list[str]]) -> None:
    # a right join whose right key has the name of a left column that is no key raised "duplicate
    # column names: ['k']"; Polars names the right key k_right (a left key merged away frees its name)
    left = pa.table({"i": pa.array([1, 2, None], pa.int64()), "m": ["a", "b", "a"], "k": pa.array([7, 8, 9], pa.int64())})
    right = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "m": ["a", "b", "a"], "y": pa.array([10, 20, 30], pa.int64())})
    lk, rk = keys
    want = _polars(left).lazy().join(_polars(right).lazy(), left_on=lk, right_on=rk, how="right",
                                     coalesce=coalesce).collect()
    got = _polars(th.from_arrow(left).join(th.from_arrow(right), left_on=lk, right_on=rk, how="right",
                                          coalesce=coalesce).to_arrow())
    assert got.schema == want.schema
    assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr)


def test_keyword_string_in_select_names_a_column() -> None:
    # select(z="y") and with_columns(z="y") gave the text 'y' in every row; Polars reads a string
    # as a column name there too (other values stay literals)
    t = pa.table({"y": pa.array([1, 2], pa.int64()), "s": ["a", "b"]})
    _same_as_polars(t, lambda f, m: f.select("s", z="y", w=m.lit("y"), n=2.5))
    _same_as_polars(t, lambda f, m: f.with_columns(z="s", y="y"))


def test_keyword_arguments_of_group_by_and_agg_are_named_expressions() -> None:
    # group_by("g").agg(z="y") raised a TypeError; in Polars keywords of agg are named expressions
    # and a string is a column (z: each group's list of y); group_by keywords name keys
    t = pa.table({"g": pa.array([1, 1, 2, None], pa.int64()), "y": pa.array([1, None, 3, 4], pa.int64()),
                  "s": ["a", "b", None, "a"]})
    _same_as_polars(t, lambda f, m: f.group_by("g", maintain_order=True).agg(
        z="y", t=m.col("y").sum(), u=m.col("s").max(), v=m.col("y").mean()))
    _same_as_polars(t, lambda f, m: f.group_by("g", maintain_order=True).agg(m.col("s").max(), z="y"))
    _same_as_polars(t, lambda f, m: f.group_by(k="g", maintain_order=True).agg(m.col("y").sum()))
    _same_as_polars(t, lambda f, m: f.group_by("s", k=m.col("y") > 1, maintain_order=True).agg(z="g"))
    _same_as_polars(t, lambda f, m: f.group_by("g", maintain_order=True).agg(m.col("y").sum()).sort("g"))


def test_agg_of_a_named_constant_is_refused() -> None:
    # agg(lit(1).alias("z")) failed deep in execution (an Arrow cast error); Polars gives the
    # constant per group, which Thresher does not support: a clear refusal naming it
    df = th.from_pydict({"g": [1, 1, 2], "y": [1, 2, 3]})
    for bad in ({"z": 1}, {"z": th.lit(1)}, {"z": th.lit(1) + 1}):
        with pytest.raises(th.errors.ThresherTypeError, match="constant"):
            df.group_by("g").agg(**bad)


def test_unique_after_a_join_reads_its_input_once() -> None:
    # unique(keep="none") (and maintain_order) numbered the rows, then semi-joined them with the
    # row numbers its group-by picked: two reads of the input, and a join's row order is open, so
    # the numbers differed (frame fuzzer seed 203: the single 'p' row dropped, a NULL-key row of a
    # duplicated key kept). Now a window over the keys in one pass.
    n = None
    left = pa.table({"k": pa.array([n] * 4, pa.int64()), "b": pa.array([n] * 4, pa.bool_())})
    right = pa.table({"k": pa.array([n] * 5, pa.int64()), "g": pa.array([n, n, n, "p", n], pa.string())})

    def pipe(f: Any, r: Any, m: Any, keep: str, mo: bool) -> Any:
        out = m.concat([f, r], how="diagonal").join(r, how="left", on="g", coalesce=False)
        return out.with_columns(x=m.col("b").is_null().over("b")).unique(["g"], keep=keep, maintain_order=mo)

    for keep, mo in (("none", False), ("none", True)):
        want = pipe(_polars(left).lazy(), _polars(right).lazy(), pl, keep, mo).collect()
        got = _polars(pipe(th.from_arrow(left), th.from_arrow(right), th, keep, mo).to_arrow())
        assert got.schema == want.schema
        assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr), f"{got}\nvs Polars'\n{want}"


@pytest.mark.parametrize("subset", [["f"], ["s"], ["i", "s"], ["f", "s"], ["l", "i"]])
@pytest.mark.parametrize("keep", ["first", "last", "none"])
@pytest.mark.parametrize("maintain_order", [True, False])
def test_unique_keeps_polars_rows(subset: list[str], keep: str, maintain_order: bool) -> None:
    # NULL, NaN and list keys group as in Polars (unique by a window over the keys)
    t = pa.table({"f": pa.array([0.0, 0.0, float("nan"), float("nan"), None, None, 1.5, 1.5, 2.0], pa.float64()),
                  "s": pa.array(["a", "a", None, None, "b", "c", "b", "b", "é"]),
                  "i": pa.array([1, 1, 2, 2, None, None, 3, 4, 5], pa.int64()),
                  "l": pa.array([[1], [1], None, [], [], None, [2, None], [2, None], [3]], pa.list_(pa.int64())),
                  "d": pa.array(range(9), pa.int32())})
    want = _polars(t).lazy().unique(subset, keep=keep, maintain_order=maintain_order).collect()  # type: ignore[arg-type]
    got = _polars(th.from_arrow(t).unique(subset, keep=keep, maintain_order=maintain_order).to_arrow())
    assert got.schema == want.schema
    rows, wanted = got.rows(), want.rows()
    if not maintain_order:
        rows, wanted = sorted(rows, key=repr), sorted(wanted, key=repr)
    assert repr(rows) == repr(wanted), f"{got}\nvs Polars'\n{want}"


def test_right_join_on_one_right_key_twice() -> None:
    # frame fuzzer seed 204: left_on=["s", "k2"], right_on=["g", "g"], how="right" gave the right
    # column k2 its own values; Polars gives it the key's (its full join of the same keys panics):
    # refused, naming the keys; coalesce=False, and the second left key named like no right
    # column, are as Polars
    left = pa.table({"s": ["q", "q", None], "k2": ["q", "r", None], "x": pa.array([1, 2, 3], pa.int64())})
    right = pa.table({"k2": ["a", "b", "c"], "g": ["q", "z", None]})
    for coalesce in (None, True):
        with pytest.raises(th.errors.UnsupportedError, match="'g' twice, the second time with the left key 'k2'"):
            th.from_arrow(left).join(th.from_arrow(right), how="right", left_on=["s", "k2"], right_on=["g", "g"],
                                     coalesce=coalesce)
    want = _polars(left).lazy().join(_polars(right).lazy(), how="right", left_on=["s", "k2"], right_on=["g", "g"],
                                     coalesce=False).collect()
    got = _polars(th.from_arrow(left).join(th.from_arrow(right), how="right", left_on=["s", "k2"], right_on=["g", "g"],
                                           coalesce=False).to_arrow())
    assert got.schema == want.schema
    assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr)
    for lo in (["k2", "s"],):
        want = _polars(left).lazy().join(_polars(right).lazy(), how="right", left_on=lo, right_on=["g", "g"]).collect()
        got = _polars(th.from_arrow(left).join(th.from_arrow(right), how="right", left_on=lo,
                                               right_on=["g", "g"]).to_arrow())
        assert got.schema == want.schema
        assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr)


def test_typed_int64_and_float64_constants_keep_their_type_next_to_narrow_columns() -> None:
    """Frame fuzzer seed 210: a typed Int64 constant (th.lit(.., dtype), or a constant column that
    projection_merge inlines into the expression reading it) was lowered as Polars' untyped
    literal, which takes an Int32 operand's type: Int32 max + 1 wrapped to -2147483648 in a column
    declared Int64. Float64 constants next to Float32 columns likewise computed in Float32."""
    table = pa.table({"i": pa.array([2147483647, 1, None], pa.int32()), "f": pa.array([1.1, 2.2, None], pa.float32())})

    def typed(m: Any, value: Any, name: str) -> Any:
        return m.lit(value, dtype=name if m is th else getattr(pl, name.capitalize()))

    _same_as_polars(table, lambda f, m: f.select(m.col("i") + typed(m, 1, "int64"),
                                                 (m.col("f") + typed(m, 0.1, "float64")).alias("g")))
    # a constant column inlined by projection_merge (Thresher's keyword constant is Int64, Polars'
    # Int32: a documented difference, so the Polars side writes it typed)
    _same_as_polars(table, lambda f, m: (f.select("i", "f", x0=1, y0=0.1) if m is th else
                                         f.select("i", "f", x0=typed(m, 1, "int64"), y0=typed(m, 0.1, "float64")))
                    .with_columns(x0=m.col("i") + m.col("x0"), y0=m.col("f") + m.col("y0")))


@pytest.mark.parametrize("how", ["inner", "left", "full"])
@pytest.mark.parametrize("coalesce", [None, True, False])
@pytest.mark.parametrize("keys", [
    (lambda m: m.col("k") + 1, lambda m: "k"),
    (lambda m: m.col("x") + 0, lambda m: "j"),
    (lambda m: ["k", m.col("x") * 1], lambda m: ["k", "j"]),
    (lambda m: ["k", "x"], lambda m: ["k", m.col("j") - 1]),
])
def test_join_on_an_expression_keeps_the_right_keys(how: str, coalesce: bool | None, keys: Any) -> None:
    # an inner/left join with a left key that is an expression dropped the right key column
    # (Polars keeps it, as 'k_right': it merges no key once a key is an expression), and a full
    # join with coalesce=True merged the plain-column key pairs next to an expression key
    left_on, right_on = keys
    t = pa.table({"k": pa.array([1, 2, None, 2, 3], pa.int64()), "x": pa.array([1, 2, 3, 4, 5], pa.int64())})
    r = pa.table({"k": pa.array([2, 3, None, 4], pa.int64()), "j": pa.array([3, 4, 5, 6], pa.int64()),
                  "v": ["p", "q", "r", "s"]})

    def pipeline(f: Any, m: Any) -> Any:
        other = m.from_arrow(r) if m is th else pl.from_arrow(r).lazy()  # type: ignore[union-attr]
        out = f.join(other, left_on=left_on(m), right_on=right_on(m), how=how, coalesce=coalesce)
        return out.sort(out.columns, nulls_last=True) if m is th else out.sort(pl.all(), nulls_last=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (Polars warns that it turns coalescing off)
        _same_as_polars(t, pipeline)


@pytest.mark.parametrize("agg", ["sum", "mean", "min", "max"])
def test_list_aggregations_take_polars_types(agg: str) -> None:
    # list.sum of int32 was declared int64 but summed in int32 (2147483647 + 1 wrapped), of
    # booleans gave a boolean (True where Polars counts 2), of decimal(10, 2) kept precision 10
    # (Polars: 38); list.mean of float32 was float64 (Polars: float32)
    t = pa.table({"g": [1, 1, 1, 2], "i": pa.array([2147483647, 1, None, 5], pa.int32()),
                  "e": pa.array([-128, -1, None, 3], pa.int8()), "b": [True, True, None, False],
                  "f": pa.array([1.5, None, 2.0, 0.1], pa.float32()), "x": [0.1, 0.2, None, float("nan")],
                  "m": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25"), None, None], pa.decimal128(10, 2))})

    def pipeline(f: Any, m: Any) -> Any:
        lists = f.group_by("g", maintain_order=True).agg([m.col(c) for c in ("i", "e", "b", "f", "x", "m")])

        def one(c: str) -> Any:
            e = m.col(c)
            if m is pl and agg == "sum" and c in ("i", "e", "b"):  # (int64 in Thresher; documented)
                e = e.cast(pl.List(pl.Int64))
            return getattr(e.list, agg)()

        return lists.select("g", *[one(c) for c in ("i", "e", "b", "f", "x", "m")])

    _same_as_polars(t, pipeline)


def test_list_methods_passed_to_polars() -> None:
    t = pa.table({"s": ["b,a,,b", None, "", "c"]})
    _same_as_polars(t, lambda f, m: f.select(
        m.col("s").str.split(",").list.first().alias("first"), m.col("s").str.split(",").list.last().alias("last"),
        m.col("s").str.split(",").list.sort(descending=True).alias("sort"),
        m.col("s").str.split(",").list.unique(maintain_order=True).alias("unique"),
        m.col("s").str.split(",").list.n_unique().alias("n_unique"),
        m.col("s").str.split(",").list.slice(1, 2).list.reverse().alias("slice"),
        m.col("s").str.split(",").list.arg_max().alias("arg_max"),
        m.col("s").str.to_datetime("%Y", strict=False).alias("ts")))


def test_rename_with_a_function() -> None:
    # rename(function) raised "'function' object is not iterable" (Polars renames each column)
    t = pa.table({"a": [1, 2], "b": ["x", "y"]})
    _same_as_polars(t, lambda f, m: f.rename(lambda c: c.upper() if c == "a" else c + "_"))


@pytest.mark.parametrize("build, names", [
    (lambda: th.col("a", pl.Int64), "col('a', Int64)"),  # (col(pl.Int64) alone selects by type now)
    (lambda: th.col("a").is_in(th.col("a")), 'is_in(col("a"))'),
])
def test_unsupported_polars_forms_are_named(build: Callable[[], Any], names: str) -> None:
    # col(<dtype>) raised "object of type 'DataTypeClass' has no len()" (a mix of names and types
    # still does), is_in(<column>)
    # "'Column' object is not iterable": now errors that name the construct
    with pytest.raises(th.ThresherError, match=re.escape(names)):
        build()


@pytest.mark.parametrize("dtype, fmt", [(pl.Date, "%Y-%m-%d"), (pl.Datetime, "%Y-%m-%d %H:%M:%S%.f"),
                                        (pl.Datetime("ms"), None), (pl.Datetime("ns", "UTC"), "%Y-%m-%d %H:%M:%S%.f")])
def test_strptime_as_polars(dtype: Any, fmt: str | None) -> None:
    # str.strptime was an AttributeError: now to_date / to_datetime with the type's unit and zone
    t = pa.table({"t": ["2024-01-02 03:04:05.123", "x", None, "2024-02-29 23:59:00.5", "2024-01-02"]})
    _same_as_polars(t, lambda f, m: f.select(m.col("t").str.strptime(dtype, fmt, strict=False)))


@pytest.mark.parametrize("value", ["i64", "i32", "i8", 0])
def test_fill_null_of_a_decimal_with_an_integer_takes_polars_type(value: Any) -> None:
    # col(decimal(10, 2)).fill_null(col(int64)) was typed decimal(10, 2) and failed while running
    # ("Decimal value does not fit in precision 10"); Polars: decimal(38, 2) where the decimal
    # cannot hold the integer type
    t = pa.table({"m": pa.array([None, decimal.Decimal("1.25"), None], pa.decimal128(10, 2)),
                  "i64": pa.array([10**12, 3, None], pa.int64()), "i32": pa.array([2147483647, 3, None], pa.int32()),
                  "i8": pa.array([5, None, 3], pa.int8())})

    def fill(m: Any) -> Any:
        return m.col(value) if isinstance(value, str) else value

    _same_as_polars(t, lambda f, m: f.select(m.col("m").fill_null(fill(m)).alias("a"),
                                             m.col("i8").fill_null(m.col("m")).alias("b")))


def test_uint64_next_to_a_signed_integer_is_refused() -> None:
    # Polars' common type is Int128, which Arrow lacks: it failed while running with
    # "Invalid or unsupported format string: '_pli128'"
    df = th.from_arrow(pa.table({"i": pa.array([1, None], pa.int64()), "u": pa.array([None, 2**64 - 1], pa.uint64())}))
    with pytest.raises(th.ThresherTypeError, match="cannot be filled with uint64"):
        df.select(th.col("i").fill_null(th.col("u"))).to_arrow()


# ---- found by the chain fuzzer (tests/test_polars_chain_fuzz.py) ----------------------------------------------------

_CHAIN = pa.table({"k": pa.array([1, 1, 2, 2, None, 1], pa.int64()), "x": pa.array([1, None, 3, 4, 5, 2], pa.int64()),
                   "y": pa.array([1, -1, 1, 1, 0, None], pa.int64()), "f": [0.5, None, -1.0, 2.0, 1.0, 3.0]})


@pytest.mark.parametrize("agg", ["sum", "mean", "min", "max", "count", "len", "std", "median"])
def test_aggregation_of_a_filtered_column(agg: str) -> None:
    # col(x).filter(p).sum() was an AttributeError ("Column has no attribute 'filter'")
    def filtered(m: Any) -> Any:
        out = getattr(m.col("x").filter(m.col("y") > 0), agg)()
        return out.cast(pl.Int64) if m is pl and agg in ("count", "len") else out

    _same_as_polars(_CHAIN, lambda f, m: f.group_by("k", maintain_order=True).agg(filtered(m).alias("a")))
    _same_as_polars(_CHAIN, lambda f, m: f.select(filtered(m).alias("a")))
    _same_as_polars(_CHAIN, lambda f, m: f.with_columns(filtered(m).over("k").alias("a")))


def test_filtered_column_refuses_what_would_keep_nulls() -> None:
    # (first() of when(p).then(x) would be the first row's NULL, not the first row where p holds)
    df = th.from_arrow(_CHAIN)
    with pytest.raises(th.UnsupportedError, match=r"filter\(...\).first is not supported"):
        df.group_by("k").agg(th.col("x").filter(th.col("y") > 0).first())


def test_sort_takes_maintain_order() -> None:
    # sort(..., maintain_order=True) was a TypeError; Thresher's sort is stable
    _same_as_polars(_CHAIN, lambda f, m: f.sort("k", descending=True, maintain_order=True, multithreaded=False))
    _same_as_polars(_CHAIN, lambda f, m: f.sort("y").sort("k", nulls_last=True, maintain_order=True))


def test_over_inside_an_aggregation_in_agg_is_refused() -> None:
    # failed while running ("NotLowerable: col("x").max().over([col("y")])"): Polars evaluates it
    # within each group
    df = th.from_arrow(_CHAIN)
    with pytest.raises(th.UnsupportedError, match=r"over\(\) inside an aggregation"):
        df.group_by("k").agg(th.col("x").max().over("y").first())


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti", "cross"])
@pytest.mark.parametrize("order", ["left", "right", "left_right", "right_left"])
def test_join_maintain_order(how: str, order: str) -> None:
    # join(..., maintain_order=...) was a TypeError; rows without a partner come last, as in Polars
    left = pa.table({"id": pa.array(range(6), pa.int64()), "k": pa.array([2, 1, 2, None, 7, 1], pa.int64())})
    right = pa.table({"k": pa.array([1, 2, 2, None, 8, 1], pa.int64()), "v": pa.array([10, 20, None, 40, 50, 60])})
    keys: dict[str, Any] = {} if how == "cross" else {"on": "k", "nulls_equal": how == "left"}

    def pipeline(f: Any, m: Any) -> Any:
        other = pl.from_arrow(right).lazy() if m is pl else th.from_arrow(right)
        return f.join(other, how=how, maintain_order=order, **keys)

    if order in ("left_right", "right_left") or how in ("semi", "anti"):
        _same_as_polars(left, pipeline)
        return
    # "left" / "right" keep that side's order only: the other side's rows within one row of it
    # come in any order (Polars' own order there changes between runs under load), so the rows
    # are compared as a set and the kept side's column as a sequence
    want = pipeline(_polars(left).lazy(), pl).collect()
    got = _polars(pipeline(th.from_arrow(left), th).to_arrow())
    assert got.schema == want.schema
    assert got.sort(got.columns, nulls_last=True).equals(want.sort(want.columns, nulls_last=True))
    kept = "id" if order == "left" else "v"
    assert got[kept].to_list() == want[kept].to_list(), f"{got}\nvs Polars'\n{want}"


def test_fill_nan_of_a_decimal_is_refused() -> None:
    # failed while running ("is_not_nan operation not supported for dtype decimal[10,2]"; chain
    # fuzzer seed 145): a decimal has no NaN
    df = th.from_arrow(pa.table({"m": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2))}))
    with pytest.raises(th.ThresherTypeError, match="fill_nan: .* expected a float or integer type"):
        df.select(th.col("m").fill_nan(0)).to_arrow()


def test_difference_of_dates_and_timestamps_has_polars_duration_unit() -> None:
    # (group-by fuzzer) a date minus a date was Duration('ms') where Polars 2 gives 'us'; a
    # timestamp minus a date or timestamp of other units was always 'us' (Polars: the timestamp's
    # unit, the coarser of two)
    t = pa.table({"d": pa.array([datetime.date(2024, 1, 1), None, datetime.date(1969, 12, 31)]),
                  "ts": pa.array([datetime.datetime(2024, 1, 1, 0, 0, 0, 1), None, datetime.datetime(1970, 1, 1)]),
                  "k": pa.array([1, 1, 2], pa.int64())})
    t = t.append_column("tms", t.column("ts").cast(pa.timestamp("ms"), safe=False)).append_column(
        "tns", t.column("ts").cast(pa.timestamp("ns")))
    _same_as_polars(t, lambda f, m: f.select(
        a=m.col("d") - m.col("d"), b=m.col("ts") - m.col("d"), c=m.col("tms") - m.col("d"),
        e=m.col("tns") - m.col("d"), g=m.col("tms") - m.col("tms"), h=m.col("d") - m.col("tns"),
        i=m.col("tms") - m.col("tns"), j=m.col("d").max() - m.col("d").min()))
    _same_as_polars(t, lambda f, m: f.group_by("k", maintain_order=True).agg(m.col("d").max() - m.col("d").min()))

# ---- uint64 with a signed integer, bool arithmetic, temporal means, math methods ------------------------------------

_U = pa.table({"u": pa.array([1, 2, 2**63 + 5, None], pa.uint64()), "i": pa.array([-1, 5, 7, 3], pa.int64())})


@pytest.mark.parametrize("op", ["+", "-", "*", "//", "%"])
def test_uint64_with_a_signed_integer_is_refused_at_plan_time(op: str) -> None:
    # Polars computes it in Int128, which Arrow lacks: it failed while running with ArrowInvalid
    # "Invalid or unsupported format string: '_pli128'"; now a type error naming both columns
    df = th.from_arrow(_U)
    with pytest.raises(th.ThresherTypeError, match=r"column 'u' \(uint64\) with 'i' \(int64\) .*Int128"):
        df.select(eval(f"th.col('u') {op} th.col('i')"))


def test_uint64_with_a_signed_integer_as_polars_where_polars_answers_in_arrow() -> None:
    # a division is a Float64; a negative Python number next to a uint64 is Polars' Int64 (its
    # values past Int64 NULL, as Polars'); a positive one keeps the uint64
    _same_as_polars(_U, lambda f, m: f.select((m.col("u") / m.col("i")).alias("a"), (m.col("u") + -1).alias("b"),
                                              (m.col("u") + 1).alias("c"), (m.col("u") < m.col("i")).alias("d")))


_B = pa.table({"b": [True, False, None, True], "c": [False, False, True, None], "n": pa.array([1, 2, 3, 4], pa.int32()),
               "e": pa.array([1, -2, 3, 4], pa.int8()), "u": pa.array([1, 2, 3, 4], pa.uint8()),
               "f": [1.5, 2.0, None, 4.0], "g": pa.array([0.5, 1.0, 2.0, None], pa.float32())})


def test_bool_arithmetic_as_polars() -> None:
    # "+: column 'b' has type bool, expected a numeric type"; Polars casts a bool next to a number
    # to that number's type, and adds two bools as UInt32
    _same_as_polars(_B, lambda f, m: f.select(
        (m.col("b") + m.col("n")).alias("a"), (m.col("b") * m.col("f")).alias("x"), (m.col("b") + 1).alias("y"),
        (m.col("b") + m.col("c")).alias("z"), (m.col("n") / m.col("b")).alias("w"), (m.col("b") + m.col("e")).alias("v"),
        (m.col("b") - m.col("u")).alias("t"), (m.col("b") + m.col("g")).alias("s"), (m.col("b") // m.col("n")).alias("r"),
        (1 - m.col("b")).alias("q"), (m.col("b") + 2**40).alias("p"), (m.col("b") + True).alias("o")))


_D = pa.table({"k": [1, 1, 2, 2, 2], "d": pa.array([19000, 19001, None, 19004, 19010], pa.date32()),
               "ts": pa.array([1, 2, 3, None, 7], pa.timestamp("us")),
               "du": pa.array([1, 2, 4, None, 8], pa.duration("us"))})


def test_mean_and_median_of_dates_and_datetimes_as_polars() -> None:
    # "mean: column 'd' has type date32[day], expected a numeric type"; Polars: a datetime
    _same_as_polars(_D, lambda f, m: f.select(
        m.col("d").mean().alias("a"), m.col("d").median().alias("b"), m.col("ts").mean().alias("c"),
        m.col("ts").median().alias("e"), m.col("du").mean().alias("g"), m.col("d").quantile(0.5).alias("h")))
    _same_as_polars(_D, lambda f, m: f.group_by("k").agg(m.col("d").mean(), m.col("ts").median()).sort("k"))
    _same_as_polars(_D, lambda f, m: f.select(m.col("d").mean().over("k")))


_P = pa.table({"n": pa.array([1, -2, None, 4], pa.int32()), "e": pa.array([1, 2, 3, 4], pa.int8()),
               "f": [0.5, -0.25, None, 0.75], "g": pa.array([0.5, 0.25, None, 1.0], pa.float32()),
               "u": pa.array([1, 2, 3, None], pa.uint8()), "b": [True, False, None, True], "c": [False, False, True, None]})


def test_pow_and_named_operators_as_polars() -> None:
    # Expr.pow and 2 ** col (__rpow__) were missing; so were Polars' named operators
    _same_as_polars(_P, lambda f, m: f.select(
        m.col("n").pow(2).alias("a"), (2 ** m.col("n").abs()).alias("p"), (2 ** m.col("e")).alias("q"),
        (2.5 ** m.col("g")).alias("r"), m.col("f").pow(m.col("n")).alias("s"), m.col("n").add(1).alias("t"),
        m.col("n").sub(m.col("u")).alias("v"), m.col("n").mul(2.5).alias("w"), m.col("n").truediv(2).alias("x"),
        m.col("n").floordiv(3).alias("y"), m.col("n").mod(3).alias("z"), m.col("n").neg().alias("nn"),
        m.col("n").eq(1).alias("eq"), m.col("n").ne(1).alias("ne"), m.col("n").lt(1).alias("lt"),
        m.col("n").le(1).alias("le"), m.col("n").gt(1).alias("gt"), m.col("n").ge(1).alias("ge"),
        m.col("b").and_(m.col("c"), True).alias("and"), m.col("b").or_(m.col("c")).alias("or"),
        m.col("b").not_().alias("not")))


@pytest.mark.parametrize("method", ["sin", "cos", "tan", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                                    "arcsinh", "arccosh", "arctanh", "degrees", "radians", "exp", "log", "log10",
                                    "log1p", "cbrt", "sign"])
def test_math_methods_as_polars(method: str) -> None:
    # each was missing (AttributeError)
    _same_as_polars(_P, lambda f, m: f.select(*(getattr(m.col(c), method)().alias(c) for c in ("n", "f", "g", "u"))))
    if method == "log":
        _same_as_polars(_P, lambda f, m: f.select(m.col("f").log(2), m.col("g").log(10).alias("h")))


def test_null_aware_equality_hash_has_nulls_and_bitwise_aggregations_as_polars() -> None:
    # eq_missing, ne_missing, hash, has_nulls, bitwise_and / _or / _xor were missing
    t = pa.table({"k": [1, 1, 2, 2], "a": pa.array([1, None, 3, None], pa.int32()), "b": pa.array([1, None, 4, 2], pa.int32()),
                  "s": ["x", None, "y", "z"]})
    _same_as_polars(t, lambda f, m: f.select(
        m.col("a").eq_missing(m.col("b")).alias("e"), m.col("a").ne_missing(m.col("b")).alias("n"),
        m.col("a").eq_missing(None).alias("z"), m.col("s").hash(7).alias("h"), m.col("a").hash().alias("g")))
    _same_as_polars(t, lambda f, m: f.select(m.col("a").has_nulls(), m.col("b").bitwise_and().alias("x"),
                                             m.col("b").bitwise_or().alias("y"), m.col("b").bitwise_xor().alias("z")))
    _same_as_polars(t, lambda f, m: f.group_by("k").agg(m.col("a").has_nulls(), m.col("b").bitwise_xor()).sort("k"))
