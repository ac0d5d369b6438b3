from __future__ import annotations

from planner_helpers import assert_rule_equivalent, count_kernel

import thresher as th
from thresher import col
from thresher.planner.logical import Filter, Project
from thresher.planner.optimizer.rules import common_subexpression_elimination as cse
from thresher.testing.media import make_jpeg


def test_repeated_decode_in_one_projection_is_hoisted():
    df = th.from_pydict({"b": [make_jpeg(8, 8)]})
    dec = col("b").image.decode()
    q = df.select(dec.image.phash().alias("p"), dec.image.dhash().alias("d"))
    out = cse.apply(q.plan)
    assert isinstance(out, Project) and isinstance(out.input, Project)
    assert [e.output_name() for e in out.exprs] == ["p", "d"]
    assert repr(out.exprs[0]) == 'col("__cse0").image.phash().alias("p")'
    assert out.input.schema.names == ["b", "__cse0"]
    assert cse.apply(out) is None


def test_cheap_repeats_are_left_alone():
    df = th.from_pydict({"a": [1]})
    assert cse.apply(df.select(((col("a") + 1) * 2).alias("x"), (col("a") + 1).alias("y")).plan) is None


def test_shared_between_filter_and_projection():
    df = th.from_pydict({"u": ["x"]})
    dl = col("u").url.download()
    plan = Project(Filter(df.plan, dl.is_not_null()), (dl.alias("bytes"),))
    out = cse.apply(plan)
    assert isinstance(out, Project) and repr(out.exprs[0]) == 'col("__cse0").alias("bytes")'
    assert isinstance(out.input, Filter) and repr(out.input.predicate) == 'col("__cse0").is_not_null()'


def test_decoded_once(images_df):
    dec = col("path").url.download().image.decode()
    q = images_df.select("id", dec.image.phash().alias("p"), dec.image.dhash().alias("d"))
    with count_kernel("image.decode", "url.download") as n:
        q.to_arrow()
    assert n == {"image.decode": 12, "url.download": 12}
    with count_kernel("image.decode") as n:
        q.to_arrow(optimize=False)
    assert n["image.decode"] == 24
    assert_rule_equivalent(q, "common_subexpression_elimination")
