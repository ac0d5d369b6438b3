from __future__ import annotations

import numpy as np
from planner_helpers import count_kernel, optimized

from thresher import col
from thresher.planner.logical import Project
from thresher.planner.optimizer.rules import fuse_decode_resize


def test_decode_then_resize_becomes_one_call(images_df):
    q = images_df.select(col("path").url.download().image.decode(mode="RGB").image.resize(16, 8).alias("t"))
    out = fuse_decode_resize.apply(q.plan)
    assert isinstance(out, Project)
    (e,) = out.exprs
    assert "image.decode_resize(" in repr(e) and "image.decode(" not in repr(e)
    assert e.output_name() == "t"
    assert fuse_decode_resize.apply(out) is None


def test_decode_column_used_once_is_fused_after_merge(images_df):
    q = images_df.with_columns(img=col("path").url.download().image.decode()).select(
        col("img").image.resize(16, 8).alias("t"))
    assert "image.decode_resize(" in repr(optimized(q))


def test_decode_used_elsewhere_is_not_fused(images_df):
    q = images_df.with_columns(img=col("path").url.download().image.decode()).select(
        "img", col("img").image.resize(16, 8).alias("t"))
    assert "decode_resize" not in repr(optimized(q))


def test_same_shape_and_close_pixels(images_df):
    import thresher as th

    q = images_df.select("id", col("path").url.download().image.decode().image.resize(16, 8).alias("t"))
    with count_kernel("image.decode_resize", "image.decode") as n:
        on = q.to_arrow()
    assert n == {"image.decode_resize": 12, "image.decode": 0}
    th.set_optimizer(disabled=["fuse_decode_resize"])
    off = q.to_arrow()
    th.set_optimizer(disabled=[])
    assert on.schema == off.schema
    for a, b in zip(on.column("t").to_pylist(), off.column("t").to_pylist()):
        assert (a["width"], a["height"], a["mode"]) == (b["width"], b["height"], b["mode"])
        diff = np.abs(np.frombuffer(a["data"], np.uint8).astype(int) - np.frombuffer(b["data"], np.uint8).astype(int))
        assert diff.mean() < 16  # draft-mode DCT scaling vs full decode: close, not bit-equal
