"""Media types: plan-time type checks, and every media type through Parquet and Arrow IPC."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.datatypes import DataType, Field, Schema
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import col
from thresher.expressions.registry import get
from thresher.operators.kernels.embedding import embedding_from_numpy
from thresher.operators.kernels.registry import get_kernel
from thresher.operators.kernels.tensor import tensor_from_numpy
from thresher.testing.media import make_audio, make_jpeg, make_video

SCHEMA = Schema([
    Field("url", DataType.string()), Field("raw", DataType.binary()), Field("f", DataType.file()),
    Field("img", DataType.image("RGB")), Field("vid", DataType.video()), Field("aud", DataType.audio()),
    Field("t", DataType.tensor("float32", (2, 3))), Field("e", DataType.embedding("float32", 4)),
    Field("e8", DataType.embedding("float32", 8)), Field("n", DataType.int64()),
])


def test_pipeline_types() -> None:
    e = col("url").url.download().image.decode("RGB").image.resize(224, 224).image.to_tensor()
    assert e.resolve(SCHEMA).dtype == DataType.tensor("uint8", (224, 224, 3))
    assert col("raw").image.width().resolve(SCHEMA).dtype == DataType.int32()
    assert col("img").image.height().resolve(SCHEMA).dtype == DataType.int32()
    assert col("img").image.phash().resolve(SCHEMA).dtype == DataType.uint64()
    assert col("img").image.normalize().resolve(SCHEMA).dtype == DataType.tensor("float32")
    assert col("vid").video.metadata().resolve(SCHEMA).dtype.field("fps") == DataType.float64()
    frames = col("vid").video.frames(every_seconds=1.0, width=8, height=4).resolve(SCHEMA).dtype
    assert frames.inner().field("image") == DataType.image("RGB", (4, 8))
    assert col("aud").audio.decode(16_000, 1).resolve(SCHEMA).dtype == DataType.tensor("float32")
    assert col("aud").audio.segment(1.0).resolve(SCHEMA).dtype == DataType.list(DataType.tensor("float32"))
    assert col("t").tensor.reshape((3, 2)).resolve(SCHEMA).dtype == DataType.tensor("float32", (3, 2))
    assert col("e").embedding.cosine_similarity([1, 0, 0, 0]).resolve(SCHEMA).dtype == DataType.float64()
    assert col("e").embedding.normalize().resolve(SCHEMA).dtype == DataType.embedding("float32", 4)


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        (lambda: col("url").image.resize(8, 8), "column 'url' has type string"),
        (lambda: col("raw").image.resize(8, 8), "decode it first"),
        (lambda: col("f").image.crop((0, 0, 2, 2)), "decode it first"),
        (lambda: col("n").url.download(), "column 'n' has type int64"),
        (lambda: col("raw").url.download(), "column 'raw' has type binary"),
        (lambda: col("img").image.decode(), r"column 'img' has type image\[RGB\]"),
        (lambda: col("n").video.frames(), "column 'n'"),
        (lambda: col("vid").video.frames(every_seconds=1.0, num_frames=3), "not both"),
        (lambda: col("url").audio.decode(), "column 'url'"),
        (lambda: col("e").embedding.cosine_similarity(col("e8")), "dim 4"),
        (lambda: col("img").image.resize(0, 8), "positive"),
        (lambda: col("img").image.convert("CMYK"), "mode"),
        (lambda: col("t").tensor.reshape((-1, -1)), "at most one -1"),
    ],
)
def test_type_errors_at_plan_time(expr, needle: str) -> None:
    with pytest.raises(ThresherTypeError, match=needle):
        expr().resolve(SCHEMA)


def test_cost_classes() -> None:
    assert get("url.download").cost == "io"
    assert get("image.width").cost == "io"
    assert get("image.decode").cost == "decode"
    assert get("image.decode_resize").fallible
    assert get("video.metadata").cost == "io"
    assert get("embedding.cosine_similarity").cost == "scalar"


def _all_media_table() -> pa.Table:
    imgs = get_kernel("image.decode")([pa.array([make_jpeg(32, 24), None], pa.large_binary())], {"mode": "RGB"}).values
    ext = lambda dt, vals: pa.ExtensionArray.from_storage(dt.to_arrow(), pa.array(vals, pa.large_binary()))  # noqa: E731
    return pa.table({
        "img": imgs,
        "file": ext(DataType.file(), [b"abc", None]),
        "vid": ext(DataType.video(), [make_video(seconds=0.5, fps=4, width=32, height=32), None]),
        "aud": ext(DataType.audio(sample_rate=16000), [make_audio(seconds=0.2), None]),
        "tfix": tensor_from_numpy(np.arange(12, dtype="float32").reshape(2, 2, 3)),
        "tvar": tensor_from_numpy([np.ones((2, 2), "float32"), None]),
        "emb": embedding_from_numpy(np.eye(2, 4, dtype="float32")),
    })


def test_parquet_roundtrip(tmp_path) -> None:
    t = _all_media_table()
    pq.write_table(t, tmp_path / "m.parquet")
    back = pq.read_table(tmp_path / "m.parquet")
    assert back.schema.equals(t.schema)
    assert back.equals(t)
    assert back.schema.field("emb").type.params == {"dtype": "float32", "dim": 4}
    assert back.schema.field("aud").type.params["sample_rate"] == 16000


def test_ipc_roundtrip() -> None:
    t = _all_media_table()
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    back = pa.ipc.open_stream(sink.getvalue()).read_all()
    assert back.equals(t)
    assert back.schema.field("img").type.params["mode"] == "RGB"


def test_numpy_in_and_out_of_tensor_and_embedding_columns() -> None:
    stacked = np.arange(24, dtype="float32").reshape(4, 2, 3)
    df = th.from_pydict({"id": [0, 1, 2, 3], "t": stacked, "e": np.eye(4, 3, dtype="float32")},
                        schema={"e": th.DataType.embedding("float32", 3)})
    assert df.schema.field("t").dtype == th.DataType.tensor("float32", (2, 3))
    assert df.schema.field("e").dtype == th.DataType.embedding("float32", 3)
    np.testing.assert_array_equal(df.to_numpy("t"), stacked)
    np.testing.assert_array_equal(df.to_numpy("e"), np.eye(4, 3, dtype="float32"))
    np.testing.assert_array_equal(df.to_numpy("id"), [0, 1, 2, 3])
    with pytest.raises(th.ThresherTypeError):
        th.from_pydict({"e": np.zeros((2, 4))}, schema={"e": th.DataType.embedding("float32", 3)})


def test_reshape_type_matches_the_data() -> None:
    fixed = th.from_pydict({"t": np.arange(12, dtype="float32").reshape(2, 6)})
    q = fixed.select(th.col("t").tensor.reshape((3, -1)).alias("r"))
    assert q.schema.field("r").dtype == th.DataType.tensor("float32", (3, 2))  # -1 fixed at plan time
    assert q.to_numpy("r").shape == (2, 3, 2)
    with pytest.raises(th.ThresherTypeError):
        fixed.select(th.col("t").tensor.reshape((4, -1)))
    ragged = th.from_pydict({"t": tensor_from_numpy([np.ones(6, "float32"), np.ones(4, "float32")])})
    r = ragged.select(th.col("t").tensor.reshape((2, 3)).alias("r")).to_arrow()  # the 4-value row is null
    assert r.column("r").to_pylist() == [[1.0] * 6, None]
