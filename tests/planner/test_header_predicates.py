from __future__ import annotations

from planner_helpers import assert_rule_equivalent, count_kernel, optimized

import thresher as th
from thresher import col
from thresher.planner.logical import Filter, Project
from thresher.planner.optimizer.rules import header_predicates
from thresher.testing.media import make_jpeg


def test_inline_width_of_decode_becomes_header_read():
    df = th.from_pydict({"b": [make_jpeg(8, 8)]})
    plan = Filter(df.plan, col("b").image.decode().image.width() > 4)
    out = header_predicates.apply(plan)
    assert isinstance(out, Filter)
    assert repr(out.predicate) == ('((col("b").image.width() > 4) & '
                                   'col("b").image.decode().is_not_null())')
    assert header_predicates.apply(out) is None


def test_non_strict_term_is_left_alone():
    df = th.from_pydict({"b": [make_jpeg(8, 8)]})
    # fill_null makes a failed decode pass: the header read would not be equivalent
    plan = Filter(df.plan, col("b").image.decode().image.width().fill_null(0) < 4)
    assert header_predicates.apply(plan) is None


def test_width_predicate_moves_below_the_decoding_projection():
    df = th.from_pydict({"b": [make_jpeg(8, 8)], "x": [1]})
    proj = df.with_columns(img=col("b").image.decode())
    plan = Filter(proj.plan, col("img").image.height() >= 8)
    out = header_predicates.apply(plan)
    assert isinstance(out, Filter) and repr(out.predicate) == 'col("img").is_not_null()'
    assert isinstance(out.input, Project)
    below = out.input.input
    assert isinstance(below, Filter) and repr(below.predicate) == '(col("b").image.height() >= 8)'


def test_metadata_column_predicate_moves_below_decode():
    df = th.from_pydict({"b": [make_jpeg(8, 8)]})
    proj = df.with_columns(w=col("b").image.width(), img=col("b").image.decode())
    out = header_predicates.apply(Filter(proj.plan, col("w") > 4))
    assert isinstance(out, Project) and isinstance(out.input, Filter)
    assert repr(out.input.predicate) == '(col("b").image.width() > 4)'


def test_decodes_only_rows_passing_the_header_predicate(images_df):
    q = (images_df.with_columns(img=col("path").url.download().image.decode())
         .filter((col("img").image.width() >= 64) & (col("label") == "cat"))
         .select("id", "img"))
    plan = optimized(q)
    text = plan.pretty()
    assert text.index("image.decode") < text.index("image.width")  # the header read is below
    with count_kernel("image.decode", "url.download") as n:
        out = q.to_arrow()
    assert sorted(out.column("id").to_pylist()) == [0, 6]
    assert n["image.decode"] == 2  # 12 images, 4 cats, 2 of them wide
    assert n["url.download"] == 4  # downloaded once each, only the cats
    with count_kernel("image.decode") as n:
        q.to_arrow(optimize=False)
    assert n["image.decode"] == 12
    assert_rule_equivalent(q, "header_predicates")


def test_corrupt_image_with_a_readable_header_is_still_dropped(tmp_path):
    good = make_jpeg(64, 8)
    bad = good[: len(good) // 3]  # header intact, pixels truncated
    df = th.from_pydict({"b": [good, bad]})
    q = df.with_columns(img=col("b").image.decode()).filter(col("img").image.width() > 10).select(
        col("img").image.width().alias("w"))
    assert_rule_equivalent(q, "header_predicates")
