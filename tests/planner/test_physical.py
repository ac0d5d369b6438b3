from __future__ import annotations

from planner_helpers import StubUDF, optimized, udf_call

import thresher as th
from thresher import col
from thresher.planner.physical import DEFAULT_BATCH_ROWS, MEDIA_BATCH_ROWS, plan_physical


def _stages(df, optimize=True):
    return plan_physical(optimized(df) if optimize else df.plan).stages()


def test_row_local_cpu_operators_fuse_into_one_stage():
    df = th.from_pydict({"a": [1, 2, 3], "u": ["x", "y", "z"]})
    q = df.with_columns(b=col("a") + 1).filter(col("b") > 1).with_columns(c=col("u").str.upper())
    stages = _stages(q, optimize=False)
    assert [s.kind for s in stages] == ["scan", "map"]
    assert len(stages[1].ops) == 3
    assert stages[1].batch_size == DEFAULT_BATCH_ROWS


def test_media_work_gets_small_batches():
    df = th.from_pydict({"p": ["a"]})
    (scan, m) = _stages(df.with_columns(b=col("p").url.download()), optimize=False)
    assert m.batch_size == MEDIA_BATCH_ROWS and m.cost == "io"


def test_gpu_class_udf_starts_its_own_stage_with_resources():
    gpu = StubUDF(lambda x: x, th.DataType.int64(), name="embed", num_gpus=1.0, num_cpus=2.0, is_class=True,
                  concurrency=(1, 2), batch_size=16)
    df = th.from_pydict({"a": [1, 2]})
    q = (df.with_columns(b=col("a") + 1).with_columns(e=udf_call(gpu, col("b")))
         .with_columns(f=udf_call(gpu, col("e"))).with_columns(g=col("a") * 2))
    stages = _stages(q, optimize=False)
    assert [s.kind for s in stages] == ["scan", "map", "map", "map"]
    cpu1, g, cpu2 = stages[1:]
    assert len(g.ops) == 2  # two ops on the same GPU UDF share the stage
    assert g.resources.num_gpus == 1.0 and g.resources.num_cpus == 2.0
    assert g.actor and g.concurrency == (1, 2) and g.batch_size == 16
    assert cpu1.resources.num_gpus == 0 and cpu2.resources.num_gpus == 0
    d = g.to_dict()
    assert d["resources"]["num_gpus"] == 1.0 and d["batch_size"] == 16 and d["actor"] is True


def test_barriers_end_streaming_stages():
    df = th.from_pydict({"a": [1, 2, 2], "b": [1, 2, 3]})
    q = df.with_columns(c=col("a") * 2).group_by("a").agg(col("c").sum()).with_columns(d=col("a") + 1)
    kinds = [(s.kind, s.boundary) for s in _stages(q, optimize=False)]
    assert ("relational", "barrier") in kinds


def test_join_strategy_shows_in_the_stage():
    a = th.from_pydict({"k": [1, 2]})
    q = a.join(th.from_pydict({"k": [1], "v": ["x"]}), on="k")
    rel = [s for s in _stages(q) if s.kind == "relational"]
    assert rel and rel[0].to_dict()["joins"] == ["broadcast"]


def test_same_rows_through_every_stage_kind():
    df = th.from_pydict({"a": [3, 1, 2, None], "l": [[1], [2, 3], [], None]})
    q = df.explode("l").with_columns(b=col("a") * 2).filter(col("b") > 0).sort("a", "l").limit(3)
    assert q.to_pydict() == q.to_pydict(optimize=False) == {"a": [1, 1, 2], "l": [2, 3, None], "b": [2, 2, 4]}
