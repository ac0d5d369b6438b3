"""Deterministic media generators for tests, demos and benchmarks.

Everything is generated in memory from a seed, so no test needs a network or a fixture file:
JPEG/PNG images of varied sizes, H.264 MP4 videos with a known GOP (and optional scene cuts), FLAC
and WAV audio, and a corpus of corrupt inputs.

Examples
--------
>>> from thresher.testing.media import make_jpeg, make_video
>>> len(make_jpeg(64, 48)) > 0
True
>>> data = make_video(seconds=1, fps=10, width=64, height=48, gop_seconds=0.5)
>>> data[4:8]
b'ftyp'
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Sequence

import numpy as np


def image_array(width: int, height: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth, textured HWC uint8 picture (gradients + blobs, compresses like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for _c in range(channels):
        fx, fy = rng.uniform(1, 6, 2)
        phase = rng.uniform(0, 2 * np.pi)
        p = 127 + 80 * np.sin(2 * np.pi * (fx * x / max(width, 1) + fy * y / max(height, 1)) + phase)
        for _ in range(3):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.3) * max(width, height)
            p += 60 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r)) * rng.choice([-1, 1])
        planes.append(p)
    arr = np.stack(planes, axis=-1) + rng.normal(0, 4, (height, width, channels))
    return np.clip(arr, 0, 255).astype(np.uint8)


def _encode_pil(arr: np.ndarray, fmt: str, **kw: object) -> bytes:
    from PIL import Image

    im = Image.fromarray(arr if arr.shape[-1] != 1 else arr[..., 0])
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_jpeg(width: int = 320, height: int = 240, seed: int = 0, quality: int = 90) -> bytes:
    """A JPEG (RGB, 4:2:0) of ``width`` × ``height``."""
    return _encode_pil(image_array(width, height, seed), "JPEG", quality=quality)


def make_png(width: int = 320, height: int = 240, seed: int = 0, mode: str = "RGB") -> bytes:
    """A PNG in ``mode`` ("RGB", "RGBA" or "L")."""
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    return _encode_pil(image_array(width, height, seed, channels), "PNG")


def make_images(n: int, sizes: Sequence[tuple[int, int]] = ((320, 240), (200, 300), (64, 64)), fmt: str = "jpeg",
                seed: int = 0) -> list[bytes]:
    """``n`` encoded images cycling through ``sizes``."""
    make = make_jpeg if fmt == "jpeg" else make_png
    return [make(*sizes[i % len(sizes)], seed=seed + i) for i in range(n)]


def write_images(directory: str | os.PathLike[str], n: int, width: int = 1024, height: int = 768,
                 seed: int = 0, quality: int = 90) -> list[str]:
    """Write ``n`` JPEGs into ``directory`` (``img_00000.jpg``...); returns the sorted paths.

    Files already there with the right name are kept, so benchmarks can reuse a corpus.
    """
    os.makedirs(directory, exist_ok=True)
    base = [image_array(width, height, seed + k) for k in range(min(n, 8))]
    paths = []
    for i in range(n):
        p = os.path.join(os.fspath(directory), f"img_{i:05d}.jpg")
        if not os.path.exists(p):
            arr = np.roll(base[i % len(base)], shift=(i * 7) % width, axis=1)
            with open(p, "wb") as f:
                f.write(_encode_pil(arr, "JPEG", quality=quality))
        paths.append(p)
    return paths


def make_video(seconds: float = 4.0, fps: int = 30, width: int = 320, height: int = 240, gop_seconds: float = 2.0,
               codec: str = "libx264", cuts: Sequence[float] = (), seed: int = 0, bframes: int | None = None,
               container: str = "mp4", noise: float = 0.0, slices: int | None = None) -> bytes:
    """An H.264 video with a keyframe exactly every ``gop_seconds`` (no scene-cut keyframes).

    Each frame is a moving pattern; at every time in ``cuts`` the scene changes abruptly (new
    colours), which ``video.shots`` should detect. Frame ``i`` has pts ``i`` in a 1/fps time base.
    ``noise`` (a standard deviation in grey levels) adds changing grain, so that predicted frames
    carry residuals and the bitrate looks like a camera's rather than a slide show's.
    ``slices`` pins the slices per frame (x264 frame threads); by default PyAV's slice-threaded
    x264 writes one slice per encoder thread, which depends on the machine's cores.
    """
    import av

    gop = max(1, round(gop_seconds * fps))
    buf = io.BytesIO()
    out = av.open(buf, "w", format=container)
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    if bframes is not None:
        params += f":bframes={bframes}"
    if slices is not None:
        params += f":slices={slices}"
    stream = out.add_stream(codec, rate=fps, options={"x264-params": params, "preset": "veryfast"})
    if slices is not None:
        stream.codec_context.thread_type = "FRAME"  # x264's sliced threads would cut a slice per thread
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    n = round(seconds * fps)
    cut_frames = sorted(round(c * fps) for c in cuts)
    scenes = [image_array(width + 64, height, seed + k) for k in range(len(cut_frames) + 1)]
    grain = []
    if noise > 0:
        rng = np.random.default_rng(seed)
        grain = [rng.normal(0, noise, (height, width, 1)).astype(np.int16) for _ in range(7)]
    for i in range(n):
        scene = sum(1 for c in cut_frames if i >= c)
        shift = (i * 2) % 64
        arr = np.ascontiguousarray(scenes[scene][:, shift : shift + width])
        if grain:
            arr = np.clip(arr + grain[i % len(grain)], 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


def write_videos(directory: str | os.PathLike[str], n: int, seconds: float = 60.0, width: int = 1280,
                 height: int = 720, fps: int = 30, gop_seconds: float = 2.0, noise: float = 3.0) -> list[str]:
    """Write ``n`` H.264 MP4s (``vid_000.mp4``...) into ``directory``; returns the sorted paths.

    Files already there are kept (a benchmark corpus is made once); they are encoded on a few
    threads (libx264 releases the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor

    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"vid_{i:03d}.mp4") for i in range(n)]

    def one(i: int) -> None:
        if os.path.exists(paths[i]):
            return
        data = make_video(seconds=seconds, fps=fps, width=width, height=height, gop_seconds=gop_seconds, seed=i,
                          noise=noise)
        tmp = paths[i] + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, paths[i])

    with ThreadPoolExecutor(max(1, min(n, os.cpu_count() or 1))) as ex:
        list(ex.map(one, range(n)))
    return paths


def write_audio_files(directory: str | os.PathLike[str], n: int, seconds: float = 60.0, sample_rate: int = 44_100,
                      channels: int = 2, fmt: str = "flac") -> list[str]:
    """Write ``n`` audio files (``aud_000.flac``...) into ``directory``; returns the sorted paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(n):
        p = os.path.join(directory, f"aud_{i:03d}.{fmt}")
        if not os.path.exists(p):
            data = make_audio(seconds=seconds, sample_rate=sample_rate, channels=channels, fmt=fmt, seed=i)
            with open(p + ".tmp", "wb") as f:
                f.write(data)
            os.replace(p + ".tmp", p)
        paths.append(p)
    return paths


def audio_array(seconds: float, sample_rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A (channels, samples) float32 signal: a chord per channel plus a little noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    rows = []
    for c in range(channels):
        f = 220.0 * (c + 1)
        sig = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(2 * np.pi * 1.5 * f * t) + 0.01 * rng.normal(size=t.size)
        rows.append(sig)
    return np.clip(np.stack(rows), -1, 1).astype(np.float32)


def make_audio(seconds: float = 2.0, sample_rate: int = 44_100, channels: int = 2, fmt: str = "flac",
               seed: int = 0) -> bytes:
    """FLAC (16-bit) or WAV (16-bit PCM) bytes of :func:`audio_array`."""
    import av

    pcm = (audio_array(seconds, sample_rate, channels, seed) * 32767).astype(np.int16)
    buf = io.BytesIO()
    out = av.open(buf, "w", format="flac" if fmt == "flac" else "wav")
    codec = "flac" if fmt == "flac" else "pcm_s16le"
    layout = "stereo" if channels == 2 else "mono"
    stream = out.add_stream(codec, rate=sample_rate, layout=layout)
    chunk = 4096
    for start in range(0, pcm.shape[1], chunk):
        block = np.ascontiguousarray(pcm[:, start : start + chunk].T.reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width`` × ``height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def corrupt_corpus(seed: int = 0) -> dict[str, bytes]:
    """Bad inputs by name: each must become a null plus an error, never a crash.

    Keys: ``truncated.jpg`` (a JPEG cut in half), ``text.jpg`` (not an image), ``empty.jpg``
    (zero bytes), ``bomb.png`` (a PNG header declaring 10^10 pixels), ``garbage.mp4`` (random
    bytes), ``truncated.mp4`` (a video cut after its header), ``text.flac``.
    """
    jpeg = make_jpeg(256, 192, seed=seed)
    video = make_video(seconds=1, fps=10, width=64, height=48, gop_seconds=0.5, seed=seed)
    rng = np.random.default_rng(seed)
    return {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "text.jpg": b"this is not an image, just some text pretending to be one\n" * 4,
        "empty.jpg": b"",
        "bomb.png": png_bomb_header(),
        "garbage.mp4": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.mp4": video[: min(len(video) // 3, 600)],
        "text.flac": b"fLaC but not really" * 10,
    }
