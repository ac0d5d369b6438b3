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
