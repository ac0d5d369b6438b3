"""Media pipelines through the DataFrame API: files → download → decode → ... → Parquet → back."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.operators.kernels.image import image_views, view_to_ndarray
from thresher.testing.media import corrupt_corpus, make_jpeg, make_png, make_video, write_images


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("imgs")
    write_images(d, 5, 320, 240)
    with open(d / "img_zz_alpha.png", "wb") as f:
        f.write(make_png(64, 48, mode="RGBA"))
    return str(d)


def _files(pattern: str) -> th.DataFrame:
    return th.from_glob_path(pattern).sort("path")


def test_decode_resize_encode_parquet_roundtrip_keeps_image_type(image_dir, tmp_path) -> None:
    df = _files(os.path.join(image_dir, "*")).with_columns(
        img=col("path").url.download().image.decode(mode="RGB").image.resize(64, 48)
    ).with_columns(jpg=col("img").image.encode("jpeg", 90)).select("path", "img", "jpg")
    assert df.schema.field("img").dtype == th.DataType.image(mode="RGB", shape=(48, 64))
    out = str(tmp_path / "out")
    df.write_parquet(out)
    back = th.read_parquet(out).sort("path")
    assert back.schema.field("img").dtype.kind == "image"
    table = back.to_arrow()
    assert table.num_rows == 6
    views = image_views(table.column("img"))
    assert all(v is not None and (v[0], v[1], v[2]) == (64, 48, "RGB") for v in views)
    # the encoded column decodes to the stored pixels, JPEG-close (4:2:0 chroma on a small noisy
    # picture costs ~7 levels on average, as with Pillow's encoder)
    redecoded = back.select(col("jpg").image.decode(mode="RGB").alias("d")).to_arrow().column("d")
    for a, b in zip(image_views(redecoded), views):
        assert a is not None and b is not None
        assert np.abs(view_to_ndarray(a).astype(int) - view_to_ndarray(b)).mean() < 10.0


def test_fused_decode_resize_encode_call_matches_pillow(image_dir) -> None:
    # the reference is Pillow alone (full decode, bilinear resize): the optimizer fuses the chain
    # into the same kernel as the explicit call, so comparing the two would compare it with itself
    import io

    from PIL import Image

    from thresher.expressions.expr import Call

    files = col("path").url.download()
    opts = (("mode", "RGB"), ("width", 64), ("height", 64), ("format", "jpeg"), ("quality", 95))
    df = _files(os.path.join(image_dir, "*.jpg")).with_columns(
        fused=Call("image.decode_resize_encode", (files,), opts),
        chain=files.image.decode(mode="RGB").image.resize(64, 64).image.encode("jpeg", 95),
    )
    assert df.schema.field("fused").dtype == th.DataType.binary()
    t = df.to_arrow()
    assert t.column("fused").null_count == 0 and t.num_rows == 5
    for path, fused, chain in zip(*(t.column(c).to_pylist() for c in ("path", "fused", "chain"))):
        with Image.open(path) as im:
            ref = np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR), dtype=int)
        with Image.open(path) as im:  # Pillow's own reduced-scale decode: how far DCT scaling may go
            im.draft("RGB", (64, 64))
            draft = np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR), dtype=int)
        buf = io.BytesIO()  # what JPEG q95 with 4:2:0 chroma costs on this picture, by Pillow's encoder
        Image.fromarray(ref.astype(np.uint8)).save(buf, format="JPEG", quality=95, subsampling=2)
        jpeg_cost = np.abs(np.asarray(Image.open(buf).convert("RGB"), dtype=int) - ref).mean()
        allowed = np.abs(draft - ref).mean() + jpeg_cost + 1.0
        for blob in (fused, chain):
            got = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"), dtype=int)
            assert got.shape == (64, 64, 3)
            # a swapped channel, a crop or a wrong size is off by tens of levels
            assert np.abs(got - ref).mean() < allowed


@pytest.fixture
def with_corrupt(tmp_path) -> str:
    with open(tmp_path / "a_good.jpg", "wb") as f:
        f.write(make_jpeg(32, 24))
    with open(tmp_path / "b_truncated.jpg", "wb") as f:
        f.write(corrupt_corpus()["truncated.jpg"])
    return str(tmp_path)


def test_corrupt_file_becomes_null(with_corrupt) -> None:
    t = _files(os.path.join(with_corrupt, "*.jpg")).with_columns(
        img=col("path").url.download().image.decode()
    ).to_arrow()
    assert t.column("img").is_null().to_pylist() == [False, True]


def test_corrupt_file_error_column(with_corrupt) -> None:
    t = _files(os.path.join(with_corrupt, "*.jpg")).with_columns(
        img=col("path").url.download().image.decode(on_error="column")
    ).to_arrow()
    assert "img_error" in t.column_names
    errs = t.column("img_error").to_pylist()
    assert errs[0] is None
    assert errs[1] and "image.decode" in errs[1]
    assert t.column("img").is_null().to_pylist() == [False, True]


def test_missing_file_download_error_column(tmp_path) -> None:
    df = th.from_pydict({"path": [str(tmp_path / "nope.jpg")]}).with_columns(
        b=col("path").url.download(on_error="column"))
    t = df.to_arrow()
    assert t.column("b").null_count == 1
    assert "nope.jpg" in t.column("b_error")[0].as_py()


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("vids")
    for i, secs in enumerate((2.0, 3.0)):
        with open(d / f"v{i}.mp4", "wb") as f:
            f.write(make_video(seconds=secs, fps=10, width=96, height=64, gop_seconds=1.0, seed=i))
    return str(d)


def test_video_metadata_and_frames(video_dir) -> None:
    files = col("path").url.download()
    meta = _files(os.path.join(video_dir, "*.mp4")).select(
        "path", files.video.metadata().alias("meta")).to_arrow()
    m = meta.column("meta").to_pylist()
    assert [round(x["duration"], 2) for x in m] == [2.0, 3.0]
    assert {(x["width"], x["height"], x["codec"]) for x in m} == {(96, 64, "h264")}
    frames = _files(os.path.join(video_dir, "*.mp4")).select(
        "path", files.video.frames(every_seconds=0.5, width=32, height=24).alias("frame")
    ).explode("frame").to_arrow()
    assert frames.num_rows == 4 + 6
    first = frames.column("frame").combine_chunks()
    stamps = first.field("timestamp").to_pylist()
    assert stamps[:4] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    imgs = image_views(first.field("image"))
    assert {(v[0], v[1], v[2]) for v in imgs if v} == {(32, 24, "RGB")}


def test_repr_html_shows_images_inline(image_dir) -> None:
    df = _files(os.path.join(image_dir, "*.jpg")).limit(2).with_columns(
        img=col("path").url.download().image.decode().image.resize(32, 24)
    ).collect()
    html = df._repr_html_()
    assert html.count("<img") >= 2
    assert "data:image/" in html and ";base64," in html


def test_decoded_column_is_image_extension_in_arrow(image_dir) -> None:
    t = _files(os.path.join(image_dir, "*.jpg")).limit(1).with_columns(
        img=col("path").url.download().image.decode()).to_arrow()
    assert isinstance(t.column("img").type, pa.ExtensionType)


def _pyav_frames(path: str, every: float, width: int, height: int) -> list[tuple[float, np.ndarray]]:
    """Reference: PyAV alone, every frame decoded, the first at or after each ``every`` seconds."""
    import av

    out = []
    with av.open(path) as c:
        vs = c.streams.video[0]
        nxt = 0.0
        for frame in c.decode(vs):
            t = float(frame.pts * vs.time_base)
            if t >= nxt - 1e-6:
                out.append((t, frame.to_ndarray(format="rgb24", width=width, height=height)))
                nxt += every
    return out


def test_streaming_frames_generator_in_flat_map(video_dir) -> None:
    # the exploded form is rewritten into the same FlatMap by the optimizer, so the reference is
    # PyAV decoding the files directly
    from thresher.operators.kernels.video import video_frames_generator

    gen = video_frames_generator("frame", every_seconds=0.5, width=32, height=24)
    base = _files(os.path.join(video_dir, "*.mp4")).select("path", col("path").url.download().alias("b"))
    streamed = base.flat_map(gen, col("b"), keep=["path"]).to_arrow()
    exploded = base.select("path", col("b").video.frames(every_seconds=0.5, width=32, height=24).alias("frame")
                           ).explode("frame").to_arrow()
    assert streamed.column_names == ["path", "frame_timestamp", "frame_image"]
    paths = streamed.column("path").to_pylist()
    assert paths == exploded.column("path").to_pylist()
    ref = [(p, t, a) for p in sorted(set(paths)) for t, a in _pyav_frames(p, 0.5, 32, 24)]
    assert [r[0] for r in ref] == paths  # 2 s and 3 s of video: 4 + 6 frames, in order
    assert np.allclose(streamed.column("frame_timestamp").to_pylist(), [r[1] for r in ref], atol=1e-3)
    frame = exploded.column("frame").combine_chunks()
    refs = np.stack([r[2] for r in ref]).astype(int)
    for i, (got_a, got_b) in enumerate(zip(image_views(streamed.column("frame_image")),
                                           image_views(frame.field("image")))):
        assert got_a is not None and got_b is not None
        for got in (view_to_ndarray(got_a), view_to_ndarray(got_b)):
            assert got.shape == refs[i].shape
            # scalers differ by a few levels; the frame must be PyAV's frame i, not a neighbour
            dist = np.abs(refs - got.astype(int)).mean(axis=(1, 2, 3))
            same_video = np.array([r[0] == paths[i] for r in ref])
            assert dist[i] < 6.0 and int(np.argmin(np.where(same_video, dist, np.inf))) == i


def test_media_only_pipeline_does_not_import_polars(video_dir) -> None:
    # ~30 MB of RSS a kernels-only pipeline has no use for (the video memory benchmark counts it);
    # nor pandas (~40 MiB, PyArrow's probe), asyncio (http only) or pyarrow.fs (object stores)
    import subprocess
    import sys

    code = (
        "import sys, thresher as th\n"
        f"df = th.from_glob_path({os.path.join(video_dir, '*.mp4')!r}).select(\n"
        "    th.col('path').url.download().video.frames(every_seconds=1.0).alias('f')).explode('f')\n"
        "assert sum(b.num_rows for b in df.iter_batches()) > 0\n"
        "print([m for m in ('polars', 'pandas', 'asyncio', 'pyarrow.fs') if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
