"""The DataFrame API end to end on the local executor, checked against Polars."""

from __future__ import annotations

import datetime

import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher import col, lit
from thresher.io.memory import InMemorySource
from thresher.planner.logical import ScanSource


@pytest.fixture
def people() -> th.DataFrame:
    return th.from_pydict(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "name": ["ann", "bob", "cid", "dee", None, "fay"],
            "age": [31, 25, None, 47, 52, 25],
            "city": ["paris", "rome", "paris", "oslo", "rome", "paris"],
            "joined": [datetime.date(2020, 1, 5), datetime.date(2021, 6, 1), datetime.date(2019, 3, 9),
                       datetime.date(2020, 11, 30), datetime.date(2022, 2, 2), datetime.date(2021, 7, 7)],
            "tags": [["a", "b"], [], None, ["c"], ["d", "e", "f"], ["g"]],
        }
    )


def rows(df: th.DataFrame, **kw: object) -> list[dict]:
    return df.to_pylist(**kw)


def sorted_rows(df: th.DataFrame, key: str) -> list[dict]:
    return sorted(df.to_pylist(), key=lambda r: (r[key] is None, r[key]))


def test_schema_known_before_running(people: th.DataFrame) -> None:
    df = people.with_columns(year=col("joined").dt.year(), old=col("age") > 40).select("name", "year", "old")
    assert df.schema.names == ["name", "year", "old"]
    assert str(df.schema["year"]) == "int32"
    assert df.schema["old"].is_bool()


def test_type_errors_name_the_column(people: th.DataFrame) -> None:
    with pytest.raises(th.ThresherTypeError, match="'name'.*string"):
        people.select(col("name") + 1)
    with pytest.raises(th.ThresherTypeError, match="'age'.*int64.*expected string"):
        people.select(col("age").str.lower())
    with pytest.raises(th.ThresherTypeError, match="bool"):
        people.filter(col("age"))
    with pytest.raises(th.ColumnNotFoundError, match="nope"):
        people.select("nope")
    with pytest.raises(th.ThresherTypeError, match="cum_sum: column 'name' has type string"):
        people.select(col("name").cum_sum())
    # an all-aggregation select is one row, as in Polars (no longer an error)
    assert people.select(col("age").count()).count_rows() == 1


def test_arithmetic_comparisons_logic(people: th.DataFrame) -> None:
    df = people.select(
        "id",
        (col("age") + 1).alias("a1"),
        (col("age") - col("id")).alias("d"),
        (col("age") * 2).alias("m"),
        (col("age") / 2).alias("h"),
        (col("age") // 10).alias("fd"),
        (col("age") % 10).alias("md"),
        ((col("age") > 30) & ~(col("city") == "rome") | col("age").is_null()).alias("b"),
        col("age").is_between(25, 31).alias("btw"),
        col("city").is_in(["paris", "oslo"]).alias("isin"),
        col("age").fill_null(0).alias("f"),
        col("age").cast("float64").alias("c"),
        th.when(col("age") > 40).then(lit("old")).when(col("age") > 26).then(lit("mid")).otherwise(lit("young")).alias("w"),
    )
    out = {r["id"]: r for r in rows(df)}
    assert out[1] == {"id": 1, "a1": 32, "d": 30, "m": 62, "h": 15.5, "fd": 3, "md": 1, "b": True, "btw": True,
                      "isin": True, "f": 31, "c": 31.0, "w": "mid"}
    assert out[3]["a1"] is None and out[3]["b"] is True and out[3]["f"] == 0 and out[3]["w"] == "young"
    assert out[2]["b"] is False and out[2]["isin"] is False


def test_string_date_list_struct_namespaces(people: th.DataFrame) -> None:
    df = people.select(
        "id",
        col("name").str.upper().alias("up"),
        col("name").str.len().alias("n"),
        col("city").str.contains("^p").alias("p"),
        col("city").str.starts_with("ro").alias("sw"),
        col("city").str.ends_with("lo").alias("ew"),
        col("city").str.replace("a", "4").alias("r"),
        col("city").str.extract(r"(\w)(\w)", 2).alias("x"),
        col("city").str.slice(1, 2).alias("s"),
        col("city").str.split("r").alias("sp"),
        col("joined").dt.year().alias("y"),
        col("joined").dt.month().alias("mo"),
        col("joined").dt.day().alias("dd"),
        col("joined").dt.truncate("1mo").alias("t"),
        col("tags").list.len().alias("tl"),
        col("tags").list.get(0).alias("t0"),
        col("tags").list.join("-").alias("tj"),
    )
    out = {r["id"]: r for r in rows(df)}
    assert out[1]["up"] == "ANN" and out[1]["n"] == 3 and out[1]["p"] is True
    assert out[2]["sw"] is True and out[4]["ew"] is True
    assert out[1]["r"] == "p4ris" and out[1]["x"] == "a" and out[1]["s"] == "ar"
    assert out[2]["sp"] == ["", "ome"]
    assert (out[4]["y"], out[4]["mo"], out[4]["dd"]) == (2020, 11, 30)
    assert out[4]["t"] == datetime.date(2020, 11, 1)
    assert out[5]["tl"] == 3 and out[5]["t0"] == "d" and out[5]["tj"] == "d-e-f"
    assert out[2]["t0"] is None and out[3]["tl"] is None


def test_struct_field() -> None:
    df = th.from_pydict({"s": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]})
    assert df.select(col("s").struct.field("b")).to_pydict() == {"b": ["x", "y"]}


def test_frame_ops(people: th.DataFrame) -> None:
    assert people.drop("tags", "joined").columns == ["id", "name", "age", "city"]
    assert people.rename({"id": "pk"}).columns[0] == "pk"
    assert people.head(2).to_pydict()["id"] == [1, 2]
    assert people.limit(2, offset=3).to_pydict()["id"] == [4, 5]
    s = people.sort(["age", "id"], descending=[True, False], nulls_last=True).to_pydict()["id"]
    assert s == [5, 4, 1, 2, 6, 3]
    assert people.with_row_index("i", offset=10).select("i", "id").to_pydict() == {
        "i": [10, 11, 12, 13, 14, 15], "id": [1, 2, 3, 4, 5, 6]}
    assert people.count_rows() == 6
    assert people.filter(col("city") == "paris").count_rows() == 3
    u = people.select("city").union(people.select("city")).unique().sort("city").to_pydict()
    assert u == {"city": ["oslo", "paris", "rome"]}
    assert people.select("city").distinct().count_rows() == 3
    assert len(people.into_batches(4).collect()) == 6


def test_explode(people: th.DataFrame) -> None:
    out = people.select("id", "tags").explode("tags").to_pydict()
    assert out["id"] == [1, 1, 2, 3, 4, 5, 5, 5, 6]
    assert out["tags"] == ["a", "b", None, None, "c", "d", "e", "f", "g"]
    # empty and null lists keep one row with a null element (Daft's and Polars 1.x semantics)


def test_group_by_all_aggregations(people: th.DataFrame) -> None:
    df = people.group_by("city").agg(
        col("age").sum().alias("sum"),
        col("age").mean().alias("mean"),
        col("age").min().alias("min"),
        col("age").max().alias("max"),
        col("age").count().alias("count"),
        col("age").n_unique().alias("nu"),
        col("id").first().alias("first"),
        col("id").last().alias("last"),
        col("age").std().alias("std"),
        col("id").agg_list().alias("ids"),
        th.count().alias("rows"),
    )
    out = {r["city"]: r for r in rows(df)}
    assert out["paris"]["sum"] == 56 and out["paris"]["count"] == 2 and out["paris"]["rows"] == 3
    assert out["paris"]["mean"] == 28.0 and out["paris"]["nu"] == 3  # 31, 25 and null (as Polars)
    assert sorted(out["paris"]["ids"]) == [1, 3, 6]
    assert out["rome"]["min"] == 25 and out["rome"]["max"] == 52
    assert out["oslo"]["std"] is None
    g = people.agg(col("age").sum().alias("s"), th.count().alias("n")).to_pydict()
    assert g == {"s": [180], "n": [6]}


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "semi", "anti", "cross"])
def test_join_kinds_match_polars(how: str) -> None:
    left = {"k": [1, 2, 2, 3, None], "v": ["a", "b", "c", "d", "e"]}
    right = {"k2": [2, 3, 3, 4, None], "w": [20, 30, 31, 40, 50], "v": ["x", "y", "z", "q", "n"]}
    L, R = th.from_pydict(left), th.from_pydict(right)
    if how == "cross":
        got = L.join(R, how="cross")
        ref = pl.DataFrame(left).join(pl.DataFrame(right), how="cross")
    else:
        got = L.join(R, left_on="k", right_on="k2", how=how)
        ref = pl.DataFrame(left).join(pl.DataFrame(right), left_on="k", right_on="k2",
                                      how={"outer": "full"}.get(how, how), coalesce=how not in ("outer",))  # type: ignore[arg-type]
    g = got.to_polars()
    # a right join names its key as the right side does, as in Polars (columns in Polars' order)
    assert g.columns == ref.columns if how != "outer" else set(g.columns) == set(ref.columns), (g.columns, ref.columns)
    assert g.height == ref.height
    cols = sorted(ref.columns)
    key = lambda r: tuple((x is None, str(x)) for x in r)  # noqa: E731
    assert sorted(g.select(cols).rows(), key=key) == sorted(ref.select(cols).rows(), key=key)


def test_join_suffix_and_schema() -> None:
    a = th.from_pydict({"id": [1, 2], "name": ["x", "y"]})
    b = th.from_pydict({"id": [1, 2], "name": ["p", "q"]})
    j = a.join(b, on="id")
    assert j.columns == ["id", "name", "name_right"]
    assert sorted(j.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "name": "x", "name_right": "p"}, {"id": 2, "name": "y", "name_right": "q"}]


def test_sample_is_reproducible_across_batch_sizes() -> None:
    df = th.from_pydict({"x": list(range(5000))})
    a = df.sample(0.3, seed=7).to_pydict()["x"]
    b = df.into_batches(333).sample(0.3, seed=7).to_pydict()["x"]
    assert a == b
    assert 1200 < len(a) < 1800
    assert df.sample(0.3, seed=8).to_pydict()["x"] != a


def test_outputs(people: th.DataFrame) -> None:
    df = people.select("id", "name")
    assert isinstance(df.to_arrow(), pa.Table)
    assert df.to_pandas().shape == (6, 2)
    assert df.to_polars().shape == (6, 2)
    assert df.to_pylist()[0] == {"id": 1, "name": "ann"}
    assert sum(b.num_rows for b in df.iter_batches()) == 6
    c = df.collect()
    assert "ann" in repr(c)
    assert "<table" in c._repr_html_()
    assert "lazy" in df._repr_html_()


class _CountingSource(InMemorySource):
    reads = 0

    def partitions(self, columns, predicate):  # type: ignore[no-untyped-def]
        type(self).reads += 1
        return super().partitions(columns, predicate)

    def polars_scan(self, columns, predicate):  # type: ignore[no-untyped-def]
        return None  # force reads through partitions()


def test_laziness_nothing_runs_until_collect() -> None:
    src = _CountingSource(pa.table({"x": [1, 2, 3]}))
    df = th.DataFrame(ScanSource(src)).filter(col("x") > 1).with_columns(y=col("x") * 2).sort("y")
    assert df.schema.names == ["x", "y"]
    df.explain(format="dict")
    assert _CountingSource.reads == 0
    assert df.to_pydict() == {"x": [2, 3], "y": [4, 6]}
    assert _CountingSource.reads == 1


def test_n_unique_counts_null_as_polars_and_sql_count_distinct_does_not() -> None:
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    d = {"g": [1, 1, 1, 2, 3, 3], "a": [1, None, 1, None, 2, 3]}
    df, p = th.from_pydict(d), pl.DataFrame(d)
    got = df.group_by("g").agg(col("a").n_unique().alias("n")).sort("g").to_pydict()
    assert got == p.group_by("g").agg(pl.col("a").n_unique().alias("n")).sort("g").to_dict(as_series=False)
    assert df.select(col("a").n_unique().alias("n")).to_pydict() == {"n": [p["a"].n_unique()]}
    assert df.with_columns(n=col("a").n_unique().over("g")).to_pydict() == \
        p.with_columns(n=pl.col("a").n_unique().over("g")).to_dict(as_series=False)
    q = "select g, count(distinct a) as n from t group by g order by g"
    t = df.to_arrow()
    con = duckdb.connect()
    con.register("t", t)
    assert th.sql(q, t=df).to_arrow().to_pylist() == con.sql(q).to_arrow_table().to_pylist()
