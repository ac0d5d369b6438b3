"""fuse_decode_resize_encode: encode(decode_resize(x)) runs as one kernel with the same bytes."""

from __future__ import annotations

import pytest
from planner_helpers import count_kernel, fired, optimized

import thresher as th
from thresher import col
from thresher.expressions.expr import Call
from thresher.planner.logical import Project
from thresher.planner.optimizer.rules import fuse_decode_resize_encode


def test_encode_of_decode_resize_becomes_one_call(images_df):
    inner = Call("image.decode_resize", (col("path").url.download(),),
                 (("mode", "RGB"), ("width", 16), ("height", 8), ("keep_aspect", False), ("filter", "bilinear"),
                  ("on_error", "null")))
    q = images_df.select(inner.image.encode("png").alias("t"))
    out = fuse_decode_resize_encode.apply(q.plan)
    assert isinstance(out, Project)
    (e,) = out.exprs
    text = repr(e)
    assert "image.decode_resize_encode(" in text and "image.encode(" not in text
    assert "format='png'" in text and "width=16" in text and "mode='RGB'" in text
    assert e.output_name() == "t"
    assert fuse_decode_resize_encode.apply(out) is None


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_decode_resize_encode_chain_is_fused_with_the_same_bytes(images_df, fmt):
    q = images_df.select("id", col("path").url.download().image.decode(mode="RGB").image.resize(16, 8)
                         .image.encode(fmt, 85).alias("t"))
    rules = fired(q)
    assert rules.index("fuse_decode_resize") < rules.index("fuse_decode_resize_encode")
    with count_kernel("image.decode_resize_encode", "image.decode_resize", "image.encode") as n:
        on = q.to_arrow()
    assert n == {"image.decode_resize_encode": 12, "image.decode_resize": 0, "image.encode": 0}
    th.set_optimizer(disabled=["fuse_decode_resize_encode"])
    with count_kernel("image.decode_resize_encode", "image.decode_resize", "image.encode") as n:
        two_calls = q.to_arrow()
    assert n == {"image.decode_resize_encode": 0, "image.decode_resize": 12, "image.encode": 12}
    assert on.schema == two_calls.schema
    assert on.column("t").to_pylist() == two_calls.column("t").to_pylist()  # the same pixels, so the same bytes


def test_full_precision_chain_stays_unfused_without_fuse_decode_resize(images_df):
    q = images_df.select(col("path").url.download().image.decode().image.resize(16, 8).image.encode().alias("t"))
    th.set_optimizer(disabled=["fuse_decode_resize"])
    plan = repr(optimized(q, disabled=("fuse_decode_resize",)).pretty())
    assert "decode_resize" not in plan
    with count_kernel("image.decode_resize_encode", "image.decode") as n:
        q.to_arrow()
    assert n == {"image.decode_resize_encode": 0, "image.decode": 12}


def test_resized_column_used_elsewhere_is_not_fused(images_df):
    q = images_df.with_columns(small=col("path").url.download().image.decode().image.resize(16, 8)).select(
        "small", col("small").image.encode().alias("jpg"))
    plan = optimized(q).pretty()
    assert "decode_resize_encode" not in plan
    t = q.to_arrow()
    assert q.schema.field("small").dtype.kind == "image"
    assert all(b[:2] == b"\xff\xd8" for b in t.column("jpg").to_pylist())
