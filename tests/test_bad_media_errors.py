"""Bad-media errors (issue 17 item 5): the raised error, the ``<col>_error`` column and the stats
name the operation, the row's position in its partition (not in its batch) and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

import thresher as th
from thresher import col
from thresher.testing.media import make_jpeg

BAD = 22


@pytest.fixture
def photos(tmp_path: Path) -> str:
    for i in range(30):
        (tmp_path / f"img_{i:03d}.jpg").write_bytes(make_jpeg(40, 30, seed=i) if i != BAD else b"not a jpeg")
    return str(tmp_path / "*.jpg")


def test_error_column_and_stats_name_row_and_source(photos: str) -> None:
    # was: "image.decode failed on row 6" (the position in a batch of 8) and no file named
    df = th.from_glob_path(photos).with_columns(
        raw=col("path").url.download()).with_columns(img=col("raw").image.decode(on_error="column"))
    out = df.collect(target_batch_bytes=8 * 60)  # small batches: batch position != row
    errors = [e for e in out.to_pydict()["img_error"] if e]
    assert len(errors) == 1
    msg = errors[0]
    assert msg.startswith(f"image.decode failed on row {BAD} of partition ")
    assert f"(source {Path(photos).parent / f'img_{BAD:03d}.jpg'})" in msg
    samples = [s for st in df.stats().stages.values() for s in st.error_samples]
    assert msg in samples


def test_raised_error_names_row_and_source(photos: str) -> None:
    df = th.from_glob_path(photos).select(col("path").url.download().image.decode(on_error="raise").alias("img"))
    with pytest.raises(th.ThresherError, match=rf"image.decode failed on row {BAD} .*img_{BAD:03d}\.jpg"):
        df.collect(target_batch_bytes=8 * 60)


def test_cast_of_a_path_string_to_media_is_refused_at_plan_time() -> None:
    # was: accepted; decoding the path's own characters gave all nulls and no hint
    df = th.from_pydict({"p": ["a.mp4", "b.mp4"]})
    for t in (th.DataType.video(), th.DataType.image(), th.DataType.audio(), th.DataType.file()):
        with pytest.raises(th.ThresherTypeError, match=r"url\.download\(\)"):
            df.with_columns(v=col("p").cast(t))


def test_glob_matching_nothing_errors_like_read_parquet(tmp_path: Path) -> None:
    # was: a frame of 0 rows
    with pytest.raises(th.ThresherIOError, match="no files match"):
        th.from_glob_path(str(tmp_path / "nope" / "*.jpg"))
    with pytest.raises(th.ThresherIOError, match="no files match"):
        th.read_parquet(str(tmp_path / "nope" / "*.parquet"))
