"""Polars' LazyFrame methods on a Thresher frame (python/thresher/frame_polars.py and the frame
options of dataframe.py), each compared with Polars on frames with NULLs, NaN, duplicates and no
rows: values, column names and types."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import UnsupportedError, UnsupportedMethodError

D = datetime.date
NAN = float("nan")

FULL = pa.table({
    "k": pa.array(["a", "b", "a", None, "b", "a"], pa.string()),
    "n": pa.array([3, None, 1, 3, 2, None], pa.int64()),
    "i": pa.array([1, 2, 2, None, -5, 7], pa.int32()),
    "f": pa.array([1.5, NAN, None, -2.5, NAN, 0.0], pa.float64()),
    "g": pa.array([None, 1.0, NAN, 2.0, 2.0, None], pa.float32()),
    "b": pa.array([True, None, False, True, False, None], pa.bool_()),
    "d": pa.array([D(2020, 1, 1), None, D(2021, 3, 1), D(2020, 5, 1), D(2020, 1, 1), None], pa.date32()),
})
EMPTY = FULL.slice(0, 0)
ONE = FULL.slice(3, 1)
TABLES = {"full": FULL, "empty": EMPTY, "one": ONE}


def _polars(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def _rows_key(row: tuple[Any, ...]) -> str:
    return repr(row)


def _same_rows(got: pl.DataFrame, want: pl.DataFrame) -> bool:
    """The same rows in any order (NaN equals NaN)."""
    if got.height != want.height:
        return False
    return bool(got.sort(pl.all(), nulls_last=True).equals(want.sort(pl.all(), nulls_last=True)))


def _same_as_polars(table: pa.Table, pipeline: Callable[[Any, Any], Any], *, ordered: bool = True,
                    counts_as_int64: bool = False) -> None:
    want = pipeline(_polars(table).lazy(), pl).collect()
    if counts_as_int64:  # (Thresher's counts are Int64; Polars' UInt32)
        want = want.with_columns(pl.col(pl.UInt32).cast(pl.Int64))
    got = _polars(pipeline(th.from_arrow(table), th).to_arrow())
    assert got.schema == want.schema, f"{got.schema} vs Polars' {want.schema}"
    if ordered:
        assert got.equals(want), f"{got}\nvs Polars'\n{want}"  # (NaN equals NaN here)
    else:
        assert _same_rows(got, want), f"{got}\nvs Polars'\n{want}"


@pytest.fixture(params=sorted(TABLES))
def table(request: pytest.FixtureRequest) -> pa.Table:
    return TABLES[request.param]


# ---- rows ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by,reverse", [("n", False), ("n", True), (["k", "n"], False), (["k", "i"], [True, False]),
                                        ("f", False), ("d", True)])
@pytest.mark.parametrize("k", [0, 2, 10])
def test_top_k_and_bottom_k(table: pa.Table, by: Any, reverse: Any, k: int) -> None:
    # ties (duplicate keys) may come in any order in Polars: compare the sorted rows and the keys' order
    keys = [by] if isinstance(by, str) else by
    for method in ("top_k", "bottom_k"):
        def run(f: Any, m: Any, method: str = method) -> Any:
            return getattr(f, method)(k, by=by, reverse=reverse)
        _same_as_polars(table, run, ordered=False)
        want = run(_polars(table).lazy(), pl).collect().select(keys)
        got = _polars(run(th.from_arrow(table), th).select(*keys).to_arrow())
        assert got.equals(want)


@pytest.mark.parametrize("n", [-1, -3, -10, 0, 2])
def test_head_tail_slice_with_negatives_as_polars_dataframe(table: pa.Table, n: int) -> None:
    # (Polars' LazyFrame refuses a negative head; its DataFrame takes one: a frame here is both)
    p, t = _polars(table), th.from_arrow(table)
    for got, want in ((t.head(n), p.head(n)), (t.tail(n), p.tail(n))):
        assert _polars(got.to_arrow()).equals(want)
    for offset in (0, 1, 3):
        if n < 0 and offset - n > table.num_rows:
            continue  # (Polars raises OverflowError; Thresher gives no rows)
        assert _polars(t.slice(offset, n).to_arrow()).equals(p.slice(offset, n))
    if n < 0:
        with pytest.raises(ValueError, match="negative length"):
            t.slice(-2, n)


@pytest.mark.parametrize("n,offset", [(1, 0), (2, 0), (2, 1), (3, 5), (4, 10)])
def test_gather_every(table: pa.Table, n: int, offset: int) -> None:
    _same_as_polars(table, lambda f, m: f.gather_every(n, offset))


def test_reverse(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.reverse())
    _same_as_polars(table, lambda f, m: f.filter(m.col("n") > 1).reverse().head(2))


@pytest.mark.parametrize("n", [1, -2, 0, 10])
def test_frame_shift(table: pa.Table, n: int) -> None:
    _same_as_polars(table, lambda f, m: f.shift(n))
    _same_as_polars(table, lambda f, m: f.select("n", "i").shift(n, fill_value=0))


@pytest.mark.parametrize("value", [0.0, None, -1, "expr"])
def test_fill_nan(table: pa.Table, value: Any) -> None:
    _same_as_polars(table, lambda f, m: f.fill_nan(m.col("n").cast(pl.Float64) if value == "expr" else value))


@pytest.mark.parametrize("subset", [None, "f", ["g"], ["f", "g"]])
def test_drop_nans(table: pa.Table, subset: Any) -> None:
    _same_as_polars(table, lambda f, m: f.drop_nans(subset))


def test_interpolate_of_numeric_frames() -> None:
    t = pa.table({"a": pa.array([None, 1, None, None, 4, None], pa.int64()),
                  "x": pa.array([1.0, None, 3.0, None, None, 9.0], pa.float64())})
    _same_as_polars(t, lambda f, m: f.interpolate())
    _same_as_polars(t.slice(0, 0), lambda f, m: f.interpolate())


# ---- whole-frame aggregations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sum", "mean", "median", "min", "max", "std", "var", "first", "last", "count"])
def test_frame_aggregations(table: pa.Table, method: str) -> None:
    # (Polars: text has no sum/mean/...: a null of the column's type. Documented differences: a
    # sum of booleans counts in UInt32 and of int32 in Int32, Thresher's in Int64; counts are Int64)
    cols = ["k", "n", "i", "f", "g"] if method in ("mean", "median") else ["k", "n", "i", "f", "g", "d"]

    def run(f: Any, m: Any) -> Any:
        out = getattr(f, method)()
        return out.with_columns(m.col("i").cast(pl.Int64)) if m is pl and method == "sum" else out

    _same_as_polars(table.select(cols), run, counts_as_int64=method == "count")
    _same_as_polars(table.select(["b"]), lambda f, m: getattr(f, method)(), counts_as_int64=True)


@pytest.mark.parametrize("ddof", [0, 2])
def test_frame_std_var_ddof(table: pa.Table, ddof: int) -> None:
    _same_as_polars(table.select(["n", "i", "f"]), lambda f, m: f.std(ddof))
    _same_as_polars(table.select(["n", "i", "f"]), lambda f, m: f.var(ddof))


@pytest.mark.parametrize("q,how", [(0.5, "nearest"), (0.25, "linear"), (1.0, "higher"), (0.3, "lower"),
                                   (0.5, "midpoint")])
def test_frame_quantile(table: pa.Table, q: float, how: str) -> None:
    _same_as_polars(table.select(["k", "n", "i", "f"]), lambda f, m: f.quantile(q, how))


def test_n_unique_is_duplicated_is_unique(table: pa.Table) -> None:
    p, t = _polars(table), th.from_arrow(table)
    assert t.n_unique() == p.n_unique()
    for subset in ("k", ["k", "n"]):
        assert t.n_unique(subset) == p.n_unique(subset)
    sub = table.select(["k", "n"])
    assert th.from_arrow(sub).is_duplicated().to_list() == _polars(sub).is_duplicated().to_list()
    assert th.from_arrow(sub).is_unique().to_list() == _polars(sub).is_unique().to_list()


# ---- columns ------------------------------------------------------------------------------------------------------


def test_seq_variants_schema_and_dict(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.select_seq("k", x=m.col("n") * 2))
    _same_as_polars(table, lambda f, m: f.with_columns_seq(x=m.col("n") * 2))
    t, p = th.from_arrow(table), _polars(table)
    assert t.collect_schema().names == list(p.collect_schema().names())
    assert _polars(t.clone().to_arrow()).equals(p.clone())
    assert t.get_column_index("f") == p.get_column_index("f")
    sub = table.select(["k", "n", "i", "b", "d"])  # (NaN != NaN: the columns without floats)
    assert th.from_arrow(sub).to_dict(as_series=False) == _polars(sub).to_dict(as_series=False)
    assert [s.name for s in th.from_arrow(sub).to_dict().values()] == sub.column_names


def test_schema_methods_as_polars(table: pa.Table) -> None:
    # Polars' Schema.names / dtypes / len are methods: Polars-style code runs unchanged
    t, p = th.from_arrow(table).collect_schema(), _polars(table).collect_schema()
    assert t.names() == p.names() == t.names
    assert type(t.names()) is list
    assert type(th.from_arrow(table).columns) is list  # (as Polars' columns: not the callable names)
    assert t.len() == p.len() == len(t)
    assert [str(d) for d in t.dtypes()] == [str(t[n]) for n in t.names()]
    assert t.dtypes() == list(t.values()) and len(t.dtypes()) == len(p.dtypes())


@pytest.mark.parametrize("mode", ["half_to_even", "half_away_from_zero"])
def test_round_mode(table: pa.Table, mode: str) -> None:
    _same_as_polars(table, lambda f, m: f.select(
        m.col("f").round(0, mode=mode), m.col("g").round(1, mode=mode), m.col("i").round(0, mode=mode),
        h=(m.col("f") * 1.25).round(1, mode=mode)))
    dec = pa.table({"x": pa.array([decimal.Decimal("9.95"), decimal.Decimal("-2.25"), None,
                                   decimal.Decimal("0.05")], pa.decimal128(5, 2))})
    _same_as_polars(dec, lambda f, m: f.select(m.col("x").round(1, mode=mode), y=m.col("x").round(3, mode=mode)))


def test_round_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        th.col("f").round(0, mode="up")


@pytest.mark.parametrize("nulls_equal", [False, True])
def test_is_in_nulls_equal(table: pa.Table, nulls_equal: bool) -> None:
    _same_as_polars(table, lambda f, m: f.select(
        m.col("k").is_in(["a", None], nulls_equal=nulls_equal), m.col("n").is_in([3], nulls_equal=nulls_equal),
        m.col("i").is_in([2, None, -5], nulls_equal=nulls_equal)))
    _same_as_polars(table, lambda f, m: f.filter(m.col("n").is_in([1, None], nulls_equal=nulls_equal)))


def test_replace(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.select(
        m.col("k").replace({"a": "z", None: "n"}), m.col("n").replace([3, None], [30, -1]),
        m.col("i").replace(2, 20), m.col("f").replace([NAN, 1.5], [0.0, None]),
        m.col("b").replace(None, False), m.col("d").replace(D(2020, 1, 1), D(1999, 1, 1)),
        x=m.col("k").replace(["a", "b"], "q")))
    _same_as_polars(table, lambda f, m: f.filter(m.col("k").replace(None, "a") == "a").select("k", "n"))


def test_replace_strict(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.select(
        m.col("k").replace_strict({"a": 1, "b": 2, None: 0}), m.col("n").replace_strict([3, 1, 2], [1.5, None, 2.5]),
        m.col("i").replace_strict([1, 2], ["x", "y"], default=None), m.col("b").replace_strict([True], [7], default=0.5),
        m.col("d").replace_strict({D(2020, 1, 1): "new"}, default="old"),
        x=m.col("k").replace_strict(["a"], [None], default=None), y=m.col("n").replace_strict([3], [30], default=-1),
        z=m.col("i").replace_strict([1, 2], [10, 20], default=-1, return_dtype=pl.Int8)))
    # a non-NULL value the mapping lacks, with no default, raises as in Polars
    if table.num_rows:
        with pytest.raises(th.errors.ThresherError, match="incomplete mapping"):
            th.from_arrow(table).select(th.col("n").replace_strict([1], [30])).to_arrow()
        with pytest.raises(pl.exceptions.InvalidOperationError):
            _polars(table).select(pl.col("n").replace_strict([1], [30]))


@pytest.mark.parametrize("left_closed", [False, True])
def test_cut(table: pa.Table, left_closed: bool) -> None:
    # (Polars gives a categorical, Thresher the string it reads one as: Polars' side cast to compare)
    _same_as_polars(table, lambda f, m: f.select(
        m.col("f").cut([-2.5, 0.0, 1.5], left_closed=left_closed).cast(pl.String),
        m.col("g").cut([1.5], labels=["lo", "hi"], left_closed=left_closed).cast(pl.String),
        m.col("i").cut([1, 2], labels=["a", "b", "c"], left_closed=left_closed).cast(pl.String),
        m.col("n").cut([2], left_closed=left_closed).cast(pl.String)))


def test_cut_bad_arguments() -> None:
    f = th.from_pydict({"x": [1.0]})
    with pytest.raises(th.errors.ThresherTypeError, match="2 labels"):
        f.select(th.col("x").cut([1], labels=["a"])).to_arrow()
    with pytest.raises(th.errors.ThresherTypeError, match="increasing"):
        f.select(th.col("x").cut([2, 1])).to_arrow()
    with pytest.raises(th.errors.ThresherTypeError, match="numeric"):
        th.from_pydict({"x": ["a"]}).select(th.col("x").cut([1])).to_arrow()


def test_replace_bad_arguments() -> None:
    with pytest.raises(TypeError, match="mapping"):
        th.col("x").replace([1, 2])
    with pytest.raises(ValueError, match="2 old values but 3"):
        th.col("x").replace([1, 2], [3, 4, 5])


def test_unnest() -> None:
    t = pa.table({"id": [1, 2, 3],
                  "s": pa.array([{"x": 1, "y": "a"}, None, {"x": None, "y": "c"}],
                                pa.struct([("x", pa.int64()), ("y", pa.string())])),
                  "u": pa.array([{"z": 1.5}, {"z": NAN}, None], pa.struct([("z", pa.float64())]))})
    _same_as_polars(t, lambda f, m: f.unnest("s"))
    _same_as_polars(t, lambda f, m: f.unnest("s", "u"))
    _same_as_polars(t, lambda f, m: f.unnest(["u"], separator="."))
    _same_as_polars(t.slice(0, 0), lambda f, m: f.unnest("s"))
    with pytest.raises(th.ThresherTypeError, match="'id'.*struct"):
        th.from_arrow(t).unnest("id")


def test_cast_with_a_dtype_as_key(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.cast({pl.Int64: pl.Float64, "i": pl.Int64}))
    _same_as_polars(table, lambda f, m: f.cast({pl.Float32: pl.Float64}))


def test_drop_and_rename_strict(table: pa.Table) -> None:
    _same_as_polars(table, lambda f, m: f.drop("k", "zz", strict=False))
    _same_as_polars(table, lambda f, m: f.rename({"k": "key", "zz": "q"}, strict=False))
    _same_as_polars(table, lambda f, m: f.rename({"k": "n", "n": "k"}))
    _same_as_polars(table, lambda f, m: f.rename(lambda c: c.upper() + "_"))


# ---- explode ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty_as_null", [True, False])
@pytest.mark.parametrize("keep_nulls", [True, False])
def test_explode_options_of_several_columns(empty_as_null: bool, keep_nulls: bool) -> None:
    t = pa.table({"k": ["a", "b", "a", None, "c"], "l": [[1, 2], [3], None, [], [None]],
                  "m": [["x", "y"], ["z"], None, [], ["w"]]})
    for tab in (t, t.slice(0, 0)):
        _same_as_polars(tab, lambda f, m: f.explode("l", "m", empty_as_null=empty_as_null, keep_nulls=keep_nulls))
        _same_as_polars(tab, lambda f, m: f.explode(["l"], empty_as_null=empty_as_null, keep_nulls=keep_nulls))


def test_explode_default_gives_empty_lists_a_null_row() -> None:
    # a deliberate difference (docs/guide/dataframe.md): Polars 2.1 drops the row of an empty list
    # by default; Thresher keeps one null row (empty_as_null=True) unless asked
    t = pa.table({"l": [[1], []]})
    assert th.from_arrow(t).explode("l").rows() == [(1,), (None,)]
    assert _polars(t).explode("l", empty_as_null=True).rows() == [(1,), (None,)]


# ---- joins --------------------------------------------------------------------------------------------------------

RIGHT = pa.table({"k": pa.array(["a", None, "c", "a"], pa.string()), "lo": pa.array([0, 1, None, 2], pa.int64()),
                  "hi": pa.array([2, 5, 3, None], pa.int64()), "n": pa.array([1, 3, 3, None], pa.int64())})


@pytest.mark.parametrize("left", ["full", "empty"])
@pytest.mark.parametrize("right", ["full", "empty"])
def test_join_where(left: str, right: str) -> None:
    lt = TABLES[left].select(["k", "n", "f"])
    rt = RIGHT if right == "full" else RIGHT.slice(0, 0)

    def check(pipeline: Callable[[Any, Any, Any], Any]) -> None:
        want = pipeline(_polars(lt).lazy(), _polars(rt).lazy(), pl).collect()
        got = _polars(pipeline(th.from_arrow(lt), th.from_arrow(rt), th).to_arrow())
        assert got.schema == want.schema
        assert _same_rows(got, want), f"{got}\nvs Polars'\n{want}"

    check(lambda a, b, m: a.join_where(b, m.col("n") >= m.col("lo"), m.col("n") < m.col("hi")))
    check(lambda a, b, m: a.join_where(b, m.col("n") != m.col("n_right")))
    check(lambda a, b, m: a.join_where(b, [m.col("n") > m.col("lo")], suffix="_r"))
    check(lambda a, b, m: a.join_where(b, m.col("k") == m.col("k_right"), m.col("n") <= m.col("hi")))


@pytest.mark.parametrize("strategy", ["backward", "forward", "nearest"])
def test_join_asof(strategy: str) -> None:
    quotes = pa.table({"t": pa.array([1, 5, 10, 10, 20], pa.int64()), "g": ["a", "b", "a", "b", "a"],
                       "px": [1.0, 2.0, NAN, None, 5.0]})
    trades = pa.table({"t": pa.array([0, 5, 12, 25], pa.int64()), "g": ["a", "a", "b", None], "qty": [7, 8, 9, 10]})
    for kw in ({"on": "t"}, {"on": "t", "by": "g"}, {"on": "t", "tolerance": 3},
               {"on": "t", "allow_exact_matches": False}):
        want = _polars(trades).lazy().join_asof(_polars(quotes).lazy(), strategy=strategy, **kw).collect()  # type: ignore[arg-type]
        got = th.from_arrow(trades).join_asof(th.from_arrow(quotes), strategy=strategy, **kw).to_polars()
        assert got.equals(want), f"{kw}: {got}\nvs Polars'\n{want}"


def test_join_positional_how_and_validate() -> None:
    a, b = FULL.select(["k", "n"]), RIGHT.select(["k", "lo"])
    want = _polars(a).lazy().join(_polars(b).lazy(), "k", "left").collect()
    got = _polars(th.from_arrow(a).join(th.from_arrow(b), "k", "left").to_arrow())
    assert _same_rows(got, want)
    assert got.schema == want.schema
    assert th.from_arrow(a).join(th.from_arrow(b), on="k", validate="m:m").count_rows() == \
        _polars(a).join(_polars(b), on="k", validate="m:m").height
    with pytest.raises(UnsupportedError, match="validate='1:m'"):
        th.from_arrow(a).join(th.from_arrow(b), on="k", validate="1:m")


@pytest.mark.parametrize("how", ["left", "inner", "full"])
@pytest.mark.parametrize("include_nulls", [False, True])
def test_update(how: str, include_nulls: bool) -> None:
    a = pa.table({"k": pa.array([1, 2, 3, None, 2], pa.int64()), "x": pa.array([10, 20, None, 40, 50], pa.int64()),
                  "y": ["a", "b", "c", "d", "e"], "f": [1.0, NAN, None, 2.0, 3.0]})
    b = pa.table({"k": pa.array([2, 3, 5, None], pa.int64()), "x": pa.array([None, 300, 500, 7], pa.int32()),
                  "z": [1, 2, 3, 4], "f": [NAN, None, 5.0, 6.0]})
    for x, y in ((a, b), (a, b.slice(0, 0)), (a.slice(0, 0), b)):
        for kw in ({"on": "k"}, {"left_on": "k", "right_on": "k"}, {}):
            want = _polars(x).lazy().update(_polars(y).lazy(), how=how, include_nulls=include_nulls,  # type: ignore[arg-type]
                                            **kw).collect()
            got = _polars(th.from_arrow(x).update(th.from_arrow(y), how=how, include_nulls=include_nulls,
                                                  **kw).to_arrow())
            assert got.schema == want.schema
            if how == "full":  # (Polars leaves the order of the unmatched right rows open)
                n = x.num_rows
                assert got.head(n).equals(want.head(n)) and _same_rows(got, want), f"{kw}: {got}\nvs Polars'\n{want}"
            else:
                assert got.equals(want), f"{kw}: {got}\nvs Polars'\n{want}"


def test_merge_sorted() -> None:
    a = pa.table({"k": pa.array([None, 1, 3, 3, 7], pa.int64()), "v": ["a", "b", "c", "d", "e"]})
    b = pa.table({"k": pa.array([None, 0, 3, 8], pa.int64()), "v": ["w", "x", "y", "z"]})
    for x, y in ((a, b), (b, a), (a, b.slice(0, 0)), (a.slice(0, 0), b)):
        want = _polars(x).lazy().merge_sorted(_polars(y).lazy(), "k").collect()
        got = _polars(th.from_arrow(x).merge_sorted(th.from_arrow(y), "k").to_arrow())
        # (Polars leaves the order of equal keys open: the keys in order, the rows as a multiset)
        assert got["k"].equals(want["k"]) and _same_rows(got, want), f"{got}\nvs Polars'\n{want}"


# ---- SQL, sinks ---------------------------------------------------------------------------------------------------


def test_sql_on_a_frame(table: pa.Table) -> None:
    t = table.select(["k", "n"])
    want = _polars(t).lazy().sql("SELECT k, sum(n) AS s FROM self WHERE n > 1 GROUP BY k ORDER BY k").collect()
    got = th.from_arrow(t).sql("SELECT k, sum(n) AS s FROM self WHERE n > 1 GROUP BY k ORDER BY k").rows()
    assert got == want.rows()
    assert th.from_arrow(t).sql("SELECT count(*) AS c FROM tbl", table_name="tbl").item() == table.num_rows


def test_sinks_write(tmp_path: Any) -> None:
    df = th.from_arrow(FULL.select(["k", "n"]))
    df.sink_parquet(str(tmp_path / "a.parquet"))
    df.sink_csv(str(tmp_path / "a.csv"))
    df.sink_ndjson(str(tmp_path / "a.jsonl"))
    assert pl.read_parquet(tmp_path / "a.parquet").rows() == df.rows()
    assert pl.read_csv(tmp_path / "a.csv").rows() == df.rows()
    assert pl.read_ndjson(tmp_path / "a.jsonl").rows() == df.rows()


# ---- what is missing says so ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["map_batches", "rolling", "group_by_dynamic", "transpose", "cache",
                                  "partition_by", "write_ipc"])
def test_a_missing_polars_method_names_itself_and_an_alternative(name: str) -> None:
    df = th.from_pydict({"a": [1]})
    with pytest.raises(UnsupportedMethodError, match=rf"DataFrame\.{name}\(\).*not supported.*use "):
        getattr(df, name)
    assert not hasattr(df, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_method'"):
        df.no_such_method  # noqa: B018


def test_every_polars_frame_method_is_there_or_refused_clearly() -> None:
    df = th.from_pydict({"a": [1]})
    # (internal or remote-execution names of Polars, not methods a user calls on a frame)
    skip = {"execute", "from_lazyframe_resolver", "remote"}
    silent = []
    for name in [*dir(pl.LazyFrame), *dir(pl.DataFrame)]:
        if name.startswith("_") or name in skip:
            continue
        try:
            getattr(df, name)
        except UnsupportedMethodError:
            pass
        except AttributeError:
            silent.append(name)
    assert not silent, f"Polars frame methods with no method and no clear refusal: {silent}"
