"""Video kernels: metadata without decoding, sampled frames (exact vs a full decode), clips, shots."""

from __future__ import annotations

import dataclasses
import io

import av
import numpy as np
import pyarrow as pa
import pytest

from thresher.config import config
from thresher.operators.kernels import video as video_kernels
from thresher.operators.kernels.base import RowError
from thresher.operators.kernels.registry import get_kernel
from thresher.operators.kernels.video import iter_frames, video_metadata
from thresher.testing.media import corrupt_corpus, make_video


@pytest.fixture(scope="module")
def video() -> bytes:
    return make_video(seconds=6, fps=30, width=160, height=120, gop_seconds=2, cuts=(2.5, 4.2))


def run(name: str, arr: pa.Array, **options):
    return get_kernel(name)([arr], options)


def test_metadata_without_decoding(video, monkeypatch) -> None:
    decoded = []
    orig = av.packet.Packet.decode
    monkeypatch.setattr(av.packet.Packet, "decode", lambda self: decoded.append(1) or orig(self))
    out = run("video.metadata", pa.array([video, None], pa.large_binary()))
    assert out.values.to_pylist() == [
        {"duration": 6.0, "fps": 30.0, "width": 160, "height": 120, "codec": "h264", "frame_count": 180}, None]
    assert decoded == []


def _reference(video: bytes, **scale) -> dict[float, np.ndarray]:
    with av.open(io.BytesIO(video)) as c:
        return {round(float(f.time), 4): f.to_ndarray(format="rgb24", **scale) for f in c.decode(video=0)}


def test_frames_exact(video) -> None:
    ref = _reference(video)
    for kw, times in (({"every_seconds": 1.0}, [0, 1, 2, 3, 4, 5]), ({"num_frames": 4}, [0, 1.5, 3, 4.5]),
                      ({"every_seconds": 0.7}, [0, 0.7, 1.4, 2.1, 2.8, 3.5, 4.2, 4.9, 5.6])):
        frames = list(iter_frames(video, **kw))
        assert [round(f["timestamp"], 4) for f in frames] == pytest.approx(times, abs=0.02)
        for f in frames:
            np.testing.assert_array_equal(f["image"], ref[round(f["timestamp"], 4)])
    assert len(list(iter_frames(video))) == 180
    scale = {"width": 40, "height": 30, "interpolation": "AREA"}
    ref = _reference(video, **scale)
    frames = list(iter_frames(video, every_seconds=1.0, width=40, height=30))
    assert len(frames) == 6
    for f in frames:
        assert f["image"].shape == (30, 40, 3)
        np.testing.assert_array_equal(f["image"], ref[round(f["timestamp"], 4)])


@pytest.mark.parametrize("slices", [1, 3])
def test_decoder_threads_by_slices(slices, monkeypatch) -> None:
    """Two decoder threads: slice threading on a stream with >= 2 slices per frame, frame
    threading on one slice per frame; either way the frames equal a plain full decode."""
    data = make_video(seconds=3, fps=10, width=96, height=64, gop_seconds=1, noise=3.0, slices=slices)
    with av.open(io.BytesIO(data)) as c:
        assert video_kernels._index(c, c.streams.video[0]).slices == slices
    chosen = []
    set_threads = video_kernels._set_threads

    def spy(vs, threads, n_slices=1):
        set_threads(vs, threads, n_slices)
        chosen.append((vs.thread_type.name, vs.thread_count))

    monkeypatch.setattr(video_kernels, "_set_threads", spy)
    ref = _reference(data)
    frames = list(iter_frames(data, every_seconds=0.5, threads=2))
    assert chosen == [("SLICE" if slices > 1 else "FRAME", 2)]
    assert [f["timestamp"] for f in frames] == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5])
    for f in frames:
        np.testing.assert_array_equal(f["image"], ref[round(f["timestamp"], 4)])


@pytest.mark.parametrize("drain", ["works", "gives nothing"])
def test_drain_after_each_target(video, monkeypatch, drain) -> None:
    """When the next target is past a keyframe, the decoder is drained after the target's packet
    instead of being fed the frames its B-frame delay waits for; a drain that does not produce
    the target falls back to decoding on. Either way: the same frames as a full decode."""
    ref = _reference(video)
    fed = []
    decode = av.packet.Packet.decode
    monkeypatch.setattr(av.packet.Packet, "decode", lambda self: fed.append(self.pts) or decode(self))
    if drain == "gives nothing":
        cc_decode = av.video.codeccontext.VideoCodecContext.decode
        monkeypatch.setattr(av.video.codeccontext.VideoCodecContext, "decode",
                            lambda self, packet=None: [] if packet is None else cc_decode(self, packet))
    frames = list(iter_frames(video, every_seconds=1.0))
    assert [f["timestamp"] for f in frames] == [0, 1, 2, 3, 4, 5]
    for f in frames:
        np.testing.assert_array_equal(f["image"], ref[round(f["timestamp"], 4)])
    with_drain = len(fed)
    fed.clear()
    original_index = video_kernels._index
    monkeypatch.setattr(video_kernels, "_index",
                        lambda c, vs: dataclasses.replace(original_index(c, vs), one_packet_per_frame=False))
    assert [f["timestamp"] for f in iter_frames(video, every_seconds=1.0)] == [0, 1, 2, 3, 4, 5]
    if drain == "works":
        assert with_drain < len(fed)  # fewer packets decoded
    else:
        assert with_drain > len(fed)  # each target decoded again the long way


def test_keyframes_only_decodes_only_keyframes(video, monkeypatch) -> None:
    frames = list(iter_frames(video, keyframes_only=True))
    assert [f["timestamp"] for f in frames] == [0.0, 2.0, 4.0]
    near = list(iter_frames(video, keyframes_only=True, every_seconds=1.5))
    assert [f["timestamp"] for f in near] == [0.0, 2.0, 4.0]


def test_sampling_skips_work(video, monkeypatch) -> None:
    """1 frame/s with a 2 s GOP decodes far fewer than all 180 frames."""
    count = []
    orig = av.packet.Packet.decode

    def counting(self):
        out = orig(self)
        count.extend(out)
        return out

    monkeypatch.setattr(av.packet.Packet, "decode", counting)
    list(iter_frames(video, every_seconds=1.0))
    assert len(count) < 120


def test_frames_kernel_scaled(video) -> None:
    out = run("video.frames", pa.array([video, None], pa.large_binary()), every_seconds=2.0, width=32, height=24)
    v = out.values
    assert v.null_count == 1
    first = v[0].values
    assert first.field("timestamp").to_pylist() == [0.0, 2.0, 4.0]
    img = first.field("image")
    assert img.type.params == {"mode": "RGB", "shape": [24, 32]}
    assert get_kernel("image.width")([img], {}).values.to_pylist() == [32, 32, 32]


def test_frame_caps(video) -> None:
    with config(max_video_frames=3):
        out = run("video.frames", pa.array([video], pa.large_binary()), every_seconds=1.0)
        assert out.values.null_count == 1 and "max_video_frames=3" in out.errors[0].as_py()
    with config(max_video_duration=5.0):
        out = run("video.frames", pa.array([video], pa.large_binary()), every_seconds=1.0)
        assert "max_video_duration" in out.errors[0].as_py()


def test_clip_stream_copy_and_reencode(video) -> None:
    copy = run("video.clip", pa.array([video], pa.large_binary()), start=2.0, end=4.0).values[0].as_py()
    meta = video_metadata(copy)
    assert meta["frame_count"] == 60 and meta["duration"] == pytest.approx(2.0, abs=0.05)
    reenc = run("video.clip", pa.array([video], pa.large_binary()), start=1.0, end=2.5).values[0].as_py()
    meta = video_metadata(reenc)
    assert meta["frame_count"] == 45 and meta["width"] == 160
    first = next(iter_frames(reenc, num_frames=1))["image"]
    ref = _reference(video)[1.0]
    assert np.abs(first.astype(int) - ref).mean() < 6  # re-encoded: close, not identical


def test_shots(video) -> None:
    shots = run("video.shots", pa.array([video], pa.large_binary())).values[0].as_py()
    assert [(round(s["start"], 2), round(s["end"], 2)) for s in shots] == [(0.0, 2.5), (2.5, 4.2), (4.2, 6.0)]


def test_bad_videos() -> None:
    corpus = corrupt_corpus()
    data = pa.array([corpus["garbage.mp4"], corpus["truncated.mp4"], b"", corpus["text.jpg"]], pa.large_binary())
    for name, opts in (("video.metadata", {}), ("video.frames", {"every_seconds": 1.0}), ("video.shots", {}),
                       ("video.clip", {"start": 0.0, "end": 1.0})):
        out = run(name, data, **opts)
        assert out.values.null_count == 4, name
        assert all(f"row {i}" in e for i, e in enumerate(out.errors.to_pylist()))
    with pytest.raises(RowError, match=r"row 0 \(clip.mp4\)"):
        run("video.frames", data, on_error="raise", sources=["clip.mp4", None, None, None])
