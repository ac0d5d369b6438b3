"""stream_video_frames: explode(video.frames) runs as a streaming FlatMap with the same result."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from planner_helpers import fired, optimized

import thresher as th
from thresher import col
from thresher.errors import ThresherError
from thresher.planner.logical import Explode, FlatMap
from thresher.testing.media import corrupt_corpus, make_video


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Videos of 1, 3 and 2 s plus the corrupt ones (garbage, truncated, zero bytes)."""
    d = Path(tmp_path_factory.mktemp("videos"))
    for i, secs in enumerate((1, 3, 2)):
        (d / f"v{i}.mp4").write_bytes(make_video(seconds=secs, fps=10, width=64, height=48, gop_seconds=1, seed=i))
    bad = corrupt_corpus()
    for name in ("garbage.mp4", "truncated.mp4"):
        (d / name).write_bytes(bad[name])
    (d / "zero.mp4").write_bytes(b"")
    return str(d)


def _frames_df(video_dir: str, **opts: object) -> th.DataFrame:
    opts = {"every_seconds": 0.5, "width": 32, "height": 24, **opts}
    return (th.from_glob_path(os.path.join(video_dir, "*.mp4")).sort("path")
            .with_columns(v=col("path").url.download())
            .with_columns(f=col("v").video.frames(**opts), n=col("size") * 2)  # type: ignore[arg-type]
            .explode("f"))


def _same(on: pa.Table, off: pa.Table) -> None:
    assert on.schema == off.schema  # names, order and types, the image extension included
    assert on.num_rows == off.num_rows
    assert on.equals(off)  # same rows in the same order


def test_rewrite_gives_the_same_table_on_both_executors(video_dir: str, runner: str) -> None:
    df = _frames_df(video_dir)
    plan = optimized(df)
    assert not any(isinstance(n, Explode) for n in plan.walk())
    assert any(isinstance(n, FlatMap) and n.outer for n in plan.walk())
    on = df.to_arrow(runner=runner)
    off = df.to_arrow(runner=runner, optimize=False)
    _same(on, off)
    th.set_optimizer(disabled=["stream_video_frames"])
    _same(on, df.to_arrow(runner=runner))
    # 2 + 6 + 4 frames, and one null frame for each of the three videos that do not decode
    assert on.num_rows == 12 + 3
    f = on.column("f").combine_chunks()
    assert isinstance(f.type.field("image").type, pa.ExtensionType)
    assert f.null_count == 3
    assert on.column_names == ["path", "size", "modified", "v", "f", "n"]


def test_explain_shows_the_rule(video_dir: str) -> None:
    df = _frames_df(video_dir)
    text = df.explain(print_=False)
    assert "stream_video_frames" in text
    assert "FlatMap outer video.frames[every_seconds=0.5, width=32, height=24]" in text
    fired_rules = [r["rule"] for r in df.explain(format="dict")["rules"]]
    assert "stream_video_frames" in fired_rules


def test_null_video_and_only_frame_column(runner: str) -> None:
    good = make_video(seconds=1, fps=10, width=64, height=48, gop_seconds=1)
    df = th.from_pydict({"id": [1, 2, 3], "b": [good, None, good]}).select(
        col("b").video.frames(num_frames=3).alias("f"), "id").explode("f")
    on, off = df.to_arrow(runner=runner), df.to_arrow(runner=runner, optimize=False)
    _same(on, off)
    assert on.column("id").to_pylist() == [1, 1, 1, 2, 3, 3, 3]
    assert "stream_video_frames" in fired(df)


def test_fan_out_streams_in_batches(tmp_path: Path) -> None:
    # one video of 100 sampled frames: the output comes in several batches, not one list
    (tmp_path / "long.mp4").write_bytes(make_video(seconds=10, fps=10, width=32, height=32, gop_seconds=1))
    df = (th.from_glob_path(str(tmp_path / "*.mp4"))
          .select(col("path").url.download().video.frames().alias("f")).explode("f"))
    sizes = [b.num_rows for b in df.iter_batches()]
    assert sum(sizes) == 100 and len(sizes) >= 2
    assert max(sizes) <= 64


def test_not_rewritten_when_frames_used_by_another_column(video_dir: str) -> None:
    df = (th.from_glob_path(os.path.join(video_dir, "v*.mp4")).sort("path")
          .with_columns(f=col("path").url.download().video.frames(every_seconds=1.0))
          .with_columns(count=col("f").list.len())
          .explode("f"))
    assert "stream_video_frames" not in fired(df)
    t = df.to_arrow()
    assert t.column("count").to_pylist() == [1, 3, 3, 3, 2, 2]


def test_not_rewritten_for_several_columns_or_error_column(video_dir: str) -> None:
    base = th.from_glob_path(os.path.join(video_dir, "v*.mp4")).with_columns(v=col("path").url.download())
    two = base.with_columns(f=col("v").video.frames(every_seconds=1.0),
                            g=col("v").video.frames(every_seconds=1.0, width=8, height=8)).explode("f", "g")
    assert "stream_video_frames" not in fired(two)
    err = base.with_columns(f=col("v").video.frames(every_seconds=1.0, on_error="column")).explode("f")
    assert "stream_video_frames" not in fired(err)


def test_on_error_raise_still_raises(video_dir: str, runner: str) -> None:
    df = _frames_df(video_dir, on_error="raise")
    assert "stream_video_frames" in fired(df)
    with pytest.raises(ThresherError):
        df.to_arrow(runner=runner)


def test_unused_columns_are_not_carried_through_the_fan_out(video_dir: str) -> None:
    df = _frames_df(video_dir).select("f", "path")
    (flat,) = [n for n in optimized(df).walk() if isinstance(n, FlatMap)]
    assert flat.keep_input == ("path",)
    assert df.to_arrow().equals(df.to_arrow(optimize=False))


def test_download_is_taken_over_and_nulls_match(video_dir: str, tmp_path: Path, runner: str) -> None:
    v = os.path.join(video_dir, "v1.mp4")
    paths = [v, str(tmp_path / "missing.mp4"), None, os.path.join(video_dir, "garbage.mp4"),
             os.path.join(video_dir, "zero.mp4"), str(tmp_path), "file://" + os.path.join(video_dir, "v0.mp4")]
    df = th.from_pydict({"i": list(range(len(paths))), "p": paths}).select(
        "i", col("p").url.download().video.frames(every_seconds=1.0, width=16, height=16).alias("f")).explode("f")
    (flat,) = [n for n in optimized(df).walk() if isinstance(n, FlatMap)]
    assert "url.download+video.frames" in flat.describe()
    on, off = df.to_arrow(runner=runner), df.to_arrow(runner=runner, optimize=False)
    _same(on, off)
    assert on.column("i").to_pylist() == [0, 0, 0, 1, 2, 3, 4, 5, 6]


def test_download_with_on_error_raise_is_not_taken_over(video_dir: str) -> None:
    df = th.from_pydict({"p": [os.path.join(video_dir, "v0.mp4")]}).select(
        col("p").url.download(on_error="raise").video.frames().alias("f")).explode("f")
    (flat,) = [n for n in optimized(df).walk() if isinstance(n, FlatMap)]
    assert "url.download+" not in flat.describe()
    assert df.to_arrow().equals(df.to_arrow(optimize=False))


def test_limit_stops_the_fan_out_early(video_dir: str) -> None:
    df = _frames_df(video_dir).limit(5)
    on = df.to_arrow()
    assert on.num_rows == 5
    assert on.equals(df.to_arrow(optimize=False))
    first = next(iter(_frames_df(video_dir).iter_batches()))  # abandoning the stream must not hang
    assert first.num_rows > 0
