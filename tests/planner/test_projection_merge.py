from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col
from thresher.planner.logical import Project
from thresher.planner.optimizer.rules import projection_merge


def test_stacked_projections_merge():
    df = th.from_pydict({"a": [1, 2]})
    q = df.select((col("a") + 1).alias("b")).select((col("b") * 2).alias("c"))
    out = projection_merge.apply(q.plan)
    assert isinstance(out, Project) and not isinstance(out.input, Project)
    assert repr(out.exprs[0]) == '((col("a") + 1) * 2).alias("c")'
    assert_rule_equivalent(q, "projection_merge")


def test_expensive_used_twice_is_not_duplicated():
    df = th.from_pydict({"u": ["x"]})
    q = df.select(col("u").url.download().alias("b")).select(col("b").alias("c"), col("b").alias("d"))
    assert projection_merge.apply(q.plan) is None


def test_decode_is_not_pulled_into_a_model_actor_stage():
    # the decode must stay on the CPU stage in front of the class UDF's actor pool
    @th.udf(return_dtype="int64", batch=True, concurrency=1)
    class Model:
        def __call__(self, images):  # type: ignore[no-untyped-def]
            return [0] * len(images)

    df = th.from_pydict({"p": ["x.jpg"]})
    q = df.with_columns(img=col("p").url.download().image.decode()).with_columns(y=Model(col("img")))
    assert projection_merge.apply(q.plan) is None
    from thresher.planner.physical import plan_physical

    kinds = [(s.kind, s.actor) for s in plan_physical(q._optimized(True)).stages()]
    assert ("map", True) in kinds and ("map", False) in kinds, kinds
    # a cheap expression still merges into it
    cheap = df.with_columns(n=col("p").str.len_bytes()).with_columns(y=Model(col("n")))
    assert isinstance(projection_merge.apply(cheap.plan), Project)
