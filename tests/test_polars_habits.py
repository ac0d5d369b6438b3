"""Polars habits (issue 17, items 2-4): the same small workload in Polars and Thresher, compared.

Each test names the issue item it covers. Polars is the reference: results are compared with
what Polars returns for the same data and the same call, not with hand-written values.
"""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher.operators.kernels.image import images_to_arrow
from thresher.operators.kernels.tensor import tensor_from_numpy
from thresher.testing.media import make_jpeg

DATA = {
    "id": [1, 2, 3, 4, 5, 6],
    "k": ["a", "b", "a", None, "b", "a"],
    "x": [1.5, None, 2.5, 4.0, None, -1.0],
    "n": [10, 20, None, 40, 50, 60],
}


def frames() -> tuple[pl.DataFrame, th.DataFrame]:
    return pl.DataFrame(DATA), th.from_pydict(DATA)


# ---- item 2: rows out the Polars way ------------------------------------------------------------


def test_item2_rows_out_like_polars() -> None:
    p, t = frames()
    c = t.collect()
    for frame in (t, c):  # a lazy frame runs the plan; a collected one reads its result
        assert frame.rows() == p.rows()
        assert frame.rows(named=True) == p.rows(named=True)
        assert list(frame.iter_rows()) == list(p.iter_rows())
        assert list(frame.iter_rows(named=True)) == list(p.iter_rows(named=True))
        assert frame.to_dicts() == p.to_dicts()
        assert frame.row(2) == p.row(2) and frame.row(-1) == p.row(-1)
        assert frame.row(1, named=True) == p.row(1, named=True)
        assert frame.row(by_predicate=th.col("id") == 4) == p.row(by_predicate=pl.col("id") == 4)
        assert frame.height == p.height and frame.width == p.width and frame.shape == p.shape
        assert [r for r in frame] == p.to_dicts()  # iteration yields rows (as in Daft)
        assert frame.item(2, "x") == p.item(2, "x") and frame.item(0, 1) == p.item(0, 1)
        assert [s.name for s in frame.iter_columns()] == [s.name for s in p.iter_columns()]
    # collect() gives a frame whose ["col"] is a column of values (Series), like Polars
    s = c["x"]
    assert isinstance(s, th.Series)
    assert s.to_list() == p["x"].to_list()
    np.testing.assert_array_equal(s.to_numpy(), p["x"].to_numpy())
    assert s.sum() == p["x"].sum() and s.max() == p["x"].max() and s.null_count() == p["x"].null_count()
    assert len(s) == len(p["x"]) and s[1] == p["x"][1] and s[-1] == p["x"][-1]
    assert c.get_column("k").to_list() == p.get_column("k").to_list()
    # a 1x1 frame has an item(); any other shape raises, as in Polars
    one = t.agg(th.col("n").sum())
    assert one.item() == p.select(pl.col("n").sum()).item()
    with pytest.raises(ValueError, match="single element"):
        t.item()
    with pytest.raises(ValueError):
        p.item()
    with pytest.raises(IndexError, match="out of bounds"):
        t.row(6)
    with pytest.raises(ValueError, match="more than one row"):
        t.row(by_predicate=th.col("k") == "a")
    assert t.filter(th.col("id") > 10).is_empty() and not t.is_empty()
    # the lazy frame's ["col"] stays an expression (as in Daft), so it can build plans
    assert t.filter(t["id"] > 4).rows() == p.filter(pl.col("id") > 4).rows()


# ---- item 4: media values out -----------------------------------------------------------------


def _image_frame() -> tuple[th.DataFrame, list[np.ndarray | None]]:
    rng = np.random.default_rng(0)
    pix = [rng.integers(0, 255, (4, 6, 3), dtype=np.uint8) for _ in range(3)]
    imgs: list[np.ndarray | None] = [*pix, None]
    t = tensor_from_numpy(np.arange(24, dtype="float32").reshape(4, 2, 3))
    return th.from_arrow(pa.table({"id": [0, 1, 2, 3], "img": images_to_arrow(imgs), "t": t})), imgs


def test_item4_media_values_out_as_numpy() -> None:
    df, imgs = _image_frame()
    rows = df.to_pylist()
    for r, want in zip(rows, imgs):
        if want is None:
            assert r["img"] is None
        else:
            assert isinstance(r["img"], np.ndarray) and r["img"].dtype == np.uint8
            np.testing.assert_array_equal(r["img"], want)  # H×W×C
    assert rows[1]["t"].shape == (2, 3) and rows[1]["t"].dtype == np.float32
    got = df.to_pydict()["img"]
    np.testing.assert_array_equal(got[0], imgs[0])
    assert [type(v).__name__ for v in df.rows()[0]] == ["int", "ndarray", "ndarray"]
    named = next(iter(df.iter_rows(named=True)))
    np.testing.assert_array_equal(named["img"], imgs[0])
    # PIL on request
    pil = df.to_pylist(images="pil")[0]["img"]
    assert pil.size == (6, 4) and pil.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(pil), imgs[0])
    # to_numpy stacks when every row is there and shapes agree, else an object array
    stacked = df.filter(th.col("id") < 3).to_numpy("img")
    assert stacked.shape == (3, 4, 6, 3) and stacked.dtype == np.uint8
    ragged = df.to_numpy("img")
    assert ragged.dtype == object and ragged.shape == (4,) and ragged[3] is None
    np.testing.assert_array_equal(ragged[2], imgs[2])
    tens = df.to_numpy("t")
    assert tens.shape == (4, 2, 3)
    np.testing.assert_array_equal(tens, np.arange(24, dtype="float32").reshape(4, 2, 3))
    assert df.collect()["t"].to_numpy().shape == (4, 2, 3)
    # a variable-shape tensor column: an object array of N-d arrays
    var = th.from_pydict({"v": [np.zeros((2, 2)), np.ones((3,))]}, schema={"v": th.DataType.tensor("float64")})
    out = var.to_numpy("v")
    assert out.dtype == object and [a.shape for a in out] == [(2, 2), (3,)]
    # values handed out are independent, writable copies
    rows[0]["img"][0, 0, 0] = 7
    assert df.to_pylist()[0]["img"][0, 0, 0] == imgs[0][0, 0, 0]


def test_item4_decoded_images_come_out_as_arrays() -> None:
    raw = th.from_pydict({"raw": [make_jpeg(32, 24, seed=1)]})
    out = raw.select(th.col("raw").image.decode().alias("img")).to_pylist()[0]["img"]
    assert isinstance(out, np.ndarray) and out.shape == (24, 32, 3) and out.dtype == np.uint8


def test_item4_media_types_survive_polars_and_pandas() -> None:
    df, imgs = _image_frame()
    want = df.to_arrow()
    p = df.to_polars()
    assert isinstance(p, pl.DataFrame) and p.height == 4
    back = th.from_polars(p)
    assert back.schema == df.schema
    assert back.to_arrow().equals(want)
    # Polars hands the storage back with 64-bit offsets: slicing and filtering in Polars must not
    # shift rows when the type is read back (the ENVIRONMENT.md extension-type warning)
    sl = th.from_polars(p.slice(1, 3).filter(pl.col("id") != 2))
    assert sl.schema == df.schema
    np.testing.assert_array_equal(sl.to_pylist()[0]["img"], imgs[1])
    assert sl.to_pylist()[1]["img"] is None
    pdf = df.to_pandas()
    assert isinstance(pdf["img"][0], np.ndarray) and pdf["img"][0].shape == (4, 6, 3)
    assert pdf["t"][0].shape == (2, 3)
    back = th.from_pandas(pdf)
    assert back.schema == df.schema
    assert back.to_arrow().equals(want)
    # a pandas frame made by hand: the schema names the media types
    hand = pd.DataFrame({"img": [imgs[0], None]})
    assert th.from_pandas(hand, schema={"img": th.DataType.image()}).to_numpy("img")[0].shape == (4, 6, 3)


def test_docstring_examples() -> None:
    for name in ("thresher.values", "thresher.series", "thresher.frame_rows", "thresher.interop"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, name
