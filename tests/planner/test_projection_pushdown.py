from __future__ import annotations

from planner_helpers import assert_rule_equivalent, count_kernel, optimized

from thresher import col
from thresher.planner.logical import ScanSource


def test_unused_media_column_is_never_downloaded_or_decoded(images_df):
    q = images_df.with_columns(img=col("path").url.download().image.decode(),
                               n=col("id") * 2).select("id", "n")
    assert "download" not in optimized(q).pretty()
    with count_kernel("url.download", "image.decode") as n:
        out = q.to_arrow()
    assert n == {"url.download": 0, "image.decode": 0}
    assert out.column("n").to_pylist() == [2 * i for i in range(12)]
    with count_kernel("url.download", "image.decode") as n:
        q.to_arrow(optimize=False)
    assert n == {"url.download": 12, "image.decode": 12}
    assert_rule_equivalent(q, "projection_pushdown", ordered=True)


def test_scan_reads_only_needed_columns(images_df):
    q = images_df.select("label")
    scans = [n for n in optimized(q).walk() if isinstance(n, ScanSource)]
    assert scans[0].columns == ("label",)


def test_semi_join_sides_with_the_same_names_keep_only_what_they_use(tmp_path):
    """A semi join outputs its left side only, so names both sides have (a table semi-joined
    with itself, TPC-DS q83's ``date_dim IN (SELECT ... FROM date_dim)``) do not make either
    side keep every column: the left keeps what is used above and its keys, the right its keys."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import thresher as th

    pq.write_table(pa.table({"k": [1, 2, 3, 4, None], "w": [10, 20, 10, 30, 10], "s": list("abcde"),
                             "x": [1.0, 2.0, 3.0, 4.0, 5.0]}), tmp_path / "t.parquet")
    t = th.read_parquet(str(tmp_path / "t.parquet"))
    q = th.sql("SELECT k FROM t WHERE w IN (SELECT w FROM t WHERE s IN ('a', 'd'))", t=t)
    scans = sorted((n.columns for n in optimized(q).walk() if isinstance(n, ScanSource)), key=len)
    assert scans == [("w",), ("k", "w")]
    out = assert_rule_equivalent(q, "projection_pushdown")
    assert sorted(out.column("k").to_pylist(), key=repr) == sorted([1, 3, 4, None], key=repr)


def _fresh_schemas_match(plan) -> int:  # type: ignore[no-untyped-def]
    """Every node's schema equals the one its constructor derives (the rule selects narrowed
    nodes' schemas from the nodes they narrow instead of deriving them)."""
    from dataclasses import fields

    seen = 0
    for node in plan.walk():
        fresh = type(node)(**{f.name: getattr(node, f.name) for f in fields(node)})
        assert [(f.name, f.dtype, f.nullable) for f in fresh.schema.fields] == \
            [(f.name, f.dtype, f.nullable) for f in node.schema.fields], node.describe()
        seen += 1
    return seen


def test_narrowed_projections_and_group_bys_keep_their_fields(images_df):
    # a projection loses `m` but keeps the download whose `img_error` column is used (two output
    # fields for one expression); a group-by loses an aggregation; both get their schemas from
    # the nodes they narrow
    from thresher.planner.optimizer.rules import projection_pushdown

    q = (images_df.with_columns(img=col("path").url.download(on_error="column"), n=col("id") * 2, m=col("id") + 1)
         .select("id", "img_error", "n", "m"))
    plan = q.select("img_error", "n").plan
    out = projection_pushdown.apply(plan)
    assert out is not None and "alias(\"m\")" not in out.pretty()
    assert _fresh_schemas_match(out) >= 3
    g = images_df.group_by("label").agg(col("id").sum().alias("s"), col("id").max().alias("hi")).select("label", "hi")
    out = projection_pushdown.apply(g.plan)
    assert out is not None and "alias(\"s\")" not in out.pretty()
    assert _fresh_schemas_match(out) >= 3
    assert_rule_equivalent(g, "projection_pushdown")
