"""Bad-media errors (issue 17 item 5): the raised error, the ``<col>_error`` column and the stats
name the operation, the row's position in the whole input (not in its batch or its partition)
and its source."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
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
    assert msg.startswith(f"image.decode failed on row {BAD} ")
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


FILES, ROWS = 4, 10
BAD_FILE, BAD_ROW = 2, 3  # in the third file: row 23 of the input, row 3 of its partition


@pytest.fixture
def photo_tables(tmp_path: Path) -> list[str]:
    """Four Parquet files (one partition each) of (path, raw jpeg bytes); one corrupt row in the third."""
    files = []
    for f in range(FILES):
        paths = [f"photos/{f}/{i:02d}.jpg" for i in range(ROWS)]
        raw = [make_jpeg(24, 16, seed=f * ROWS + i) if (f, i) != (BAD_FILE, BAD_ROW) else b"garbage"
               for i in range(ROWS)]
        files.append(str(tmp_path / f"part-{f}.parquet"))
        pq.write_table(pa.table({"path": paths, "raw": pa.array(raw, pa.binary())}), files[-1])
    return files


def test_multi_partition_input_names_the_global_row(photo_tables: list[str], runner: str) -> None:
    # was: "row 3 of partition part-2.parquet#rg0-0" (the position in the partition)
    df = th.read_parquet(photo_tables).with_columns(img=col("raw").image.decode(on_error="column"))
    out = df.collect(runner=runner, target_batch_bytes=4 * 600)  # several batches per partition
    errors = out.to_pydict()["img_error"]
    bad = BAD_FILE * ROWS + BAD_ROW
    assert [i for i, e in enumerate(errors) if e] == [bad]
    msg = errors[bad]
    assert msg.startswith(f"image.decode failed on row {bad} (source photos/{BAD_FILE}/{BAD_ROW:02d}.jpg): ")
    samples = [s for st in df.stats().stages.values() for s in st.error_samples]
    assert msg in samples
    raising = th.read_parquet(photo_tables).with_columns(img=col("raw").image.decode(on_error="raise"))
    with pytest.raises(th.ThresherError, match=rf"image.decode failed on row {bad} \(source photos/{BAD_FILE}/"):
        raising.collect(runner=runner, target_batch_bytes=4 * 600)


def test_without_a_path_column_the_partition_names_the_file(photo_tables: list[str]) -> None:
    df = th.read_parquet(photo_tables).select(img=col("raw").image.decode(on_error="column"))
    errors = [e for e in df.to_pydict()["img_error"] if e]
    assert len(errors) == 1
    assert errors[0].startswith(f"image.decode failed on row {BAD_FILE * ROWS + BAD_ROW} (source partition "
                                f"part-{BAD_FILE}.parquet#")


def test_glob_source_in_several_partitions(photos: str) -> None:
    from thresher.io.glob import GlobSource
    from thresher.readers import _scan

    # 30 files, 7 per partition: the bad file (row 22) sits in the fourth partition at position 1
    df = _scan(GlobSource(photos, files_per_partition=7)).with_columns(
        img=col("path").url.download().image.decode(on_error="column"))
    errors = [e for e in df.to_pydict(target_batch_bytes=4 * 60)["img_error"] if e]
    assert len(errors) == 1
    assert errors[0].startswith(f"image.decode failed on row {BAD} (source ")
    assert f"img_{BAD:03d}.jpg" in errors[0]


def test_rows_dropped_upstream_do_not_get_a_made_up_index(photo_tables: list[str]) -> None:
    # a filter before the decode moves rows: the error names the partition and the source, no row number
    df = th.read_parquet(photo_tables).filter(~col("path").str.ends_with("0.jpg")).with_columns(
        img=col("raw").image.decode(on_error="column"))
    errors = [e for e in df.to_pydict()["img_error"] if e]
    assert len(errors) == 1
    assert errors[0].startswith(f"image.decode failed on a row of partition part-{BAD_FILE}.parquet#")
    assert f"(source photos/{BAD_FILE}/{BAD_ROW:02d}.jpg)" in errors[0]


def test_row_numbering_counts_partitions_a_checkpoint_skipped() -> None:
    from thresher.engine.stages import RowNumbering
    from thresher.engine.stream import Morsel
    from thresher.io.memory import InMemorySource

    parts = InMemorySource(pa.table({"x": list(range(10))}), partition_rows=4).partitions(None, None)
    n = RowNumbering(parts, {parts[0].id}, None)  # a resumed job: partition 0 already committed
    got = [n.number(Morsel(p.id, b)).row_start for p in parts[1:] for b in p.read(None, None, 3)]
    assert got == [4, 7, 8]
    unknown = RowNumbering(parts, set(), predicate=object())  # a pushed predicate drops rows while reading
    assert unknown.number(Morsel(parts[0].id, parts[0].table.to_batches()[0])).row_start is None


def test_a_bad_row_counts_once_however_many_calls_fail_on_it(photos: str) -> None:
    # was (make demo): "bad rows=13" for 7 corrupt files: width() and height() each counted them
    df = th.from_glob_path(photos).with_columns(raw=col("path").url.download()).with_columns(
        w=col("raw").image.width(), h=col("raw").image.height())
    out = df.to_pydict()
    assert out["w"].count(None) == out["h"].count(None) == 1
    stage = next(st for st in df.stats().stages.values() if st.error_rows)
    assert stage.error_rows == 1, stage
    assert len(stage.error_samples) == 1 and f"row {BAD} " in stage.error_samples[0]


def test_row_numbering_counts_ray_ref_morsels_by_their_metadata() -> None:
    from thresher.engine.stages import RowNumbering
    from thresher.engine.stream import Morsel

    # a Ray scan hands over object refs with their row counts, never the batch itself
    n = RowNumbering([type("P", (), {"id": "p0", "num_rows": 7})()], set(), None)
    got = [n.number(Morsel("p0", None, ref=object(), rows=r)).row_start for r in (3, 4)]
    assert got == [0, 3]
    assert n.number(Morsel("p0", None)).is_end
