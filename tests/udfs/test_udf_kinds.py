"""@th.udf kinds (row, batch, class, generator), type checks and errors, on every executor."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import thresher as th
from thresher import col


@th.udf(return_dtype="int64")
def add_one(x: int) -> int:
    return x + 1


@th.udf
def shout(s: str) -> str:
    return s.upper() + "!"


@th.udf(return_dtype=th.DataType.embedding("float32", 3), batch=True, batch_format="numpy")
def spread(x: np.ndarray) -> np.ndarray:
    return np.stack([x, 2 * x, 3 * x], axis=1).astype(np.float32)


@th.udf(return_dtype="int64", batch=True, concurrency=1)
class Offset:
    loads = 0

    def __init__(self, k: int = 10) -> None:
        type(self).loads += 1
        self.k = k

    def __call__(self, a: pa.Array) -> pa.Array:
        return pc.add(a, self.k)


@th.udf(return_dtype={"word": "string", "pos": "int64"})
def words(text: str):  # type: ignore[no-untyped-def]
    for i, w in enumerate(text.split()):
        yield {"word": w, "pos": i}


@th.udf(return_dtype="int64", on_error="null")
def fragile(x: int) -> int:
    if x == 2:
        raise ValueError("two is bad")
    return x


def test_calling_on_values_runs_directly() -> None:
    assert add_one(1) == 2
    assert shout("hi") == "HI!"
    assert list(words("a b")) == [{"word": "a", "pos": 0}, {"word": "b", "pos": 1}]


def test_row_batch_class_udfs(runner: str) -> None:
    df = th.from_pydict({"a": [1, 2, None], "s": ["x", "y", "z"]})
    out = df.select(add_one(col("a")).alias("b"), shout(col("s")).alias("t"),
                    Offset.with_init_args(k=5)(col("a")).alias("c")).to_pydict(runner=runner)
    assert out == {"b": [2, 3, None], "t": ["X!", "Y!", "Z!"], "c": [6, 7, None]}
    e = th.from_pydict({"x": [1.0, 2.0]}).select(spread(col("x")).alias("e"))
    assert str(e.schema["e"]) == "embedding[float32, 3]"
    assert e.to_pydict(runner=runner)["e"] == [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]


def test_generator_udf_fans_out(runner: str) -> None:
    df = th.from_pydict({"id": [1, 2], "text": ["a b c", "d"]})
    out = df.flat_map(words, "text", keep=["id"]).to_pydict(runner=runner)
    assert out == {"id": [1, 1, 1, 2], "word": ["a", "b", "c", "d"], "pos": [0, 1, 2, 0]}


def test_large_fan_out_streams_in_batches() -> None:
    @th.udf(return_dtype={"i": "int64"})
    def explode_n(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield {"i": i}

    batches = list(th.from_pydict({"n": [10_000]}).flat_map(explode_n, "n").into_batches(1000).iter_batches())
    assert sum(b.num_rows for b in batches) == 10_000
    assert max(b.num_rows for b in batches) <= 1000


def test_return_type_is_checked_and_named() -> None:
    @th.udf(return_dtype="int64")
    def wrong(x: int) -> str:
        return "nope"

    with pytest.raises(th.ThresherError, match=r"udf wrong \(column 'a'\).*int64"):
        th.from_pydict({"a": [1]}).select(wrong(col("a"))).collect()

    @th.udf(return_dtype="int64", batch=True)
    def short(a: pa.Array) -> pa.Array:
        return a.slice(1)

    with pytest.raises(th.ThresherError, match="returned 1 values for 2 rows"):
        th.from_pydict({"a": [1, 2]}).select(short(col("a"))).collect()


def test_return_dtype_required() -> None:
    with pytest.raises(th.ThresherTypeError, match="return_dtype"):
        th.udf(lambda x: x)


def test_on_error_null_and_raise() -> None:
    df = th.from_pydict({"a": [1, 2, 3]})
    assert df.select(fragile(col("a"))).to_pydict() == {"a": [1, None, 3]}
    strict = fragile.with_options(on_error="raise")
    with pytest.raises(th.ThresherError, match="two is bad"):
        df.select(strict(col("a"))).collect()
    cols = df.select(fragile.with_options(on_error="column")(col("a")).alias("v"))
    assert cols.schema.names == ["v", "v_error"]
    assert "two is bad" in cols.to_pydict()["v_error"][1]


def test_class_udf_gets_its_own_stage() -> None:
    df = th.from_pydict({"a": [1, 2]}).with_columns(b=col("a") + 1).select(Offset(col("b")).alias("c"))
    stages = df.explain(format="dict")["physical"]
    assert any(s["actor"] for s in stages)
