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
