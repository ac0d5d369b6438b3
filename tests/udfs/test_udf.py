"""@th.udf as an API: direct calls, batch formats, return types, options, errors; every kind on
every executor (the ``runner`` fixture)."""

from __future__ import annotations

import threading

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import thresher as th
from thresher import col
from thresher.expressions.expr import UDFCall
from thresher.udfs.udf import UDF


@th.udf(return_dtype="int64", cost="scalar")
def inc(x: int, by: int = 1) -> int:
    return x + by


@th.udf
def length(s: str) -> int:
    return len(s)


@th.udf(return_dtype="float64", batch=True)
def np_double(x: np.ndarray) -> np.ndarray:
    assert isinstance(x, np.ndarray)
    return x * 2.0


@th.udf(return_dtype="string", batch=True)
def pl_upper(s: pl.Series) -> pl.Series:
    assert isinstance(s, pl.Series)
    return s.str.to_uppercase()


@th.udf(return_dtype=pa.int32(), batch=True)
def arrow_len(s: pa.Array) -> pa.Array:
    assert isinstance(s, pa.Array)
    return pc.utf8_length(s)


@th.udf(return_dtype="int64", batch=True, concurrency=(1, 2), batch_size=4)
class AddModel:
    """A stand-in for a model: loaded once per worker, applied per batch."""

    def __init__(self, k: int = 100) -> None:
        self.k = k

    def __call__(self, a: pa.Array) -> pa.Array:
        assert len(a) <= 4
        return pc.add(a, self.k)


@th.udf(return_dtype={"clip": "int64", "label": "string"}, batch_size=3)
class Clips:
    """A generator class UDF: one video-like row -> several clip rows."""

    def __init__(self) -> None:
        self.prefix = "clip"

    def __call__(self, n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield {"clip": i, "label": f"{self.prefix}{i}"}


@th.udf(return_dtype="int64", batch=True, on_error="null")
def picky(a: pa.Array) -> pa.Array:
    if pc.any(pc.equal(a, 3)).as_py():
        raise ValueError("three")
    return a


def test_direct_calls_run_the_function() -> None:
    assert inc(1) == 2 and inc(1, by=5) == 6
    assert length("abc") == 3
    assert np_double(np.array([1.0])).tolist() == [2.0]
    assert AddModel(pa.array([1])).to_pylist() == [101]
    assert list(Clips(2)) == [{"clip": 0, "label": "clip0"}, {"clip": 1, "label": "clip1"}]


def test_calling_on_expressions_builds_a_udf_call() -> None:
    e = inc(col("a"), 3)
    assert isinstance(e, UDFCall) and e.udf is inc
    assert isinstance(inc(col("a"), by=2), UDFCall)


def test_metadata_the_planner_reads() -> None:
    assert (AddModel.is_class, AddModel.concurrency, AddModel.batch_size, AddModel.cost) == (True, (1, 2), 4, "model")
    assert inc.cost == "scalar" and not inc.is_class and inc.on_error == "raise"
    assert length.return_dtype == th.DataType.int64()  # from the annotation
    assert str(arrow_len.return_dtype) == "int32"  # from an Arrow type
    assert (np_double.batch_format, pl_upper.batch_format, arrow_len.batch_format) == ("numpy", "polars", "arrow")
    assert Clips.is_generator and Clips.is_class
    assert isinstance(AddModel.with_options(num_gpus=1), UDF) and AddModel.with_options(num_gpus=1).num_gpus == 1


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        th.udf(return_dtype="int64", concurrency=(3, 1))(lambda x: x)
    with pytest.raises(ValueError, match="on_error"):
        th.udf(return_dtype="int64", on_error="ignore")(lambda x: x)
    with pytest.raises(ValueError, match="cost"):
        th.udf(return_dtype="int64", cost="cheap")(lambda x: x)
    with pytest.raises(th.ThresherTypeError, match="return_dtype"):
        th.udf(lambda x: x)


def test_unpicklable_udf_fails_when_decorated() -> None:
    lock = threading.Lock()

    def uses_lock(x: int) -> int:
        with lock:
            return x

    with pytest.raises(th.ThresherTypeError, match="uses_lock cannot be pickled"):
        th.udf(return_dtype="int64")(uses_lock)


def test_every_kind_on_every_executor(runner: str) -> None:
    df = th.from_pydict({"a": [1, 2, None, 4], "s": ["ab", "c", "def", None]})
    out = df.select(
        inc(col("a"), by=10).alias("inc"),
        length(col("s")).alias("len"),
        np_double(col("a").cast("float64")).alias("dbl"),
        pl_upper(col("s")).alias("up"),
        arrow_len(col("s")).alias("alen"),
    ).to_pydict(runner=runner)
    assert out == {"inc": [11, 12, None, 14], "len": [2, 1, 3, None], "dbl": [2.0, 4.0, None, 8.0],
                   "up": ["AB", "C", "DEF", None], "alen": [2, 1, 3, None]}
    model = th.from_pydict({"a": list(range(10))}).select(AddModel.with_init_args(k=1000)(col("a")).alias("m"))
    assert model.to_pydict(runner=runner) == {"m": [1000 + i for i in range(10)]}


def test_generator_class_udf_on_every_executor(runner: str) -> None:
    df = th.from_pydict({"video": ["v1", "v2", "v3"], "n": [2, 0, 4]})
    out = df.flat_map(Clips, col("n"), keep=["video"]).to_pydict(runner=runner)
    assert out["video"] == ["v1", "v1", "v3", "v3", "v3", "v3"]
    assert out["clip"] == [0, 1, 0, 1, 2, 3]
    assert out["label"][2] == "clip0"


def test_batch_udf_on_error_null_isolates_the_bad_rows(runner: str) -> None:
    df = th.from_pydict({"a": [1, 2, 3, 4]}).select(picky(col("a")).alias("v"))
    out = df.collect(runner=runner)
    assert out.to_pydict() == {"v": [1, 2, None, 4]}
    stats = out.stats()
    assert stats is not None and sum(s.error_rows for s in stats.stages.values()) == 1
    errs = th.from_pydict({"a": [1, 3]}).select(picky.with_options(on_error="column")(col("a")).alias("v"))
    got = errs.to_pydict(runner=runner)
    assert got["v"] == [1, None] and "three" in got["v_error"][1]


def test_wrong_type_or_length_names_udf_and_column(runner: str) -> None:
    @th.udf(return_dtype="int64", batch=True)
    def too_short(a: pa.Array) -> pa.Array:
        return a.slice(1)

    with pytest.raises(th.ThresherError, match=r"udf too_short \(column 'x'\) returned 1 values for 2 rows"):
        th.from_pydict({"x": [1, 2]}).select(too_short(col("x"))).collect(runner=runner)

    @th.udf(return_dtype="int64")
    def wrong_type(x: int) -> int:
        return "text"  # type: ignore[return-value]

    with pytest.raises(th.ThresherError, match=r"udf wrong_type \(column 'x'\).*int64"):
        th.from_pydict({"x": [1]}).select(wrong_type(col("x"))).collect(runner=runner)


def test_in_process_retries() -> None:
    calls = {"n": 0}

    @th.udf(return_dtype="int64", max_retries=2)
    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("try again")
        return x

    assert th.from_pydict({"x": [7]}).select(flaky(col("x"))).to_pydict() == {"x": [7]}
    assert calls["n"] == 3
