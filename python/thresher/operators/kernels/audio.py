"""Audio kernels: decode (with resampling), duration, fixed-window segments (PyAV).

Decoded audio is a float32 tensor of shape ``(channels, samples)``. Resampling and channel
mixing use PyAV's ``AudioResampler`` (libswresample), so a FLAC at 44.1 kHz stereo becomes 16 kHz
mono in one pass while decoding.

Examples
--------
>>> from thresher.testing.media import make_audio
>>> decode_audio(make_audio(seconds=1.0), sample_rate=16_000, channels=1).shape
(1, 16000)
>>> round(audio_duration(make_audio(seconds=1.5)), 3)
1.5
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.config import get_config
from thresher.datatypes import DataType
from thresher.operators.kernels.base import KernelOutput
from thresher.operators.kernels.image import (
    binary_views,
    on_error_option,
    parallel_map,
    sources_option,
    tensors_to_arrow,
)
from thresher.operators.kernels.registry import kernel

_LAYOUTS = {1: "mono", 2: "stereo"}


def _open(data: bytes | memoryview) -> Any:
    import av

    if len(data) == 0:
        raise ValueError("empty input (0 bytes)")
    return av.open(io.BytesIO(data), mode="r")


def _stream(container: Any) -> Any:
    if not container.streams.audio:
        raise ValueError("no audio stream in the container")
    return container.streams.audio[0]


def _stream_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def audio_duration(data: bytes | memoryview) -> float:
    """Seconds, from the container header (or, failing that, from packet durations; no decoding)."""
    with _open(data) as c:
        s = _stream(c)
        d = _stream_duration(c, s)
        if d is not None:
            return d
        total = 0
        for packet in c.demux(s):
            total += packet.duration or 0
        return float(total * s.time_base)


def decode_audio(data: bytes | memoryview, sample_rate: int | None = None, channels: int | None = None) -> np.ndarray:
    """Decode to float32 ``(channels, samples)``, resampled/remixed when asked."""
    import av

    cfg = get_config()
    with _open(data) as c:
        s = _stream(c)
        d = _stream_duration(c, s)
        if d is not None and d > cfg.max_audio_duration:
            raise ValueError(f"audio of {d:.1f} s exceeds max_audio_duration={cfg.max_audio_duration}")
        if channels is not None and channels not in _LAYOUTS:
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        layout = _LAYOUTS[channels] if channels else s.layout.name
        rate = int(sample_rate or s.rate)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        chunks: list[np.ndarray] = []
        limit = int(cfg.max_audio_duration * rate)
        n = 0
        for frame in c.decode(s):
            for out in resampler.resample(frame):
                a = out.to_ndarray()
                chunks.append(a)
                n += a.shape[1]
            if n > limit:
                raise ValueError(f"audio exceeds max_audio_duration={cfg.max_audio_duration}")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise ValueError("no audio samples decoded")
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)


def _opts(options: dict[str, Any]) -> tuple[int | None, int | None]:
    sr, ch = options.get("sample_rate"), options.get("channels")
    return (int(sr) if sr else None), (int(ch) if ch else None)


@kernel("audio.decode")
def decode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    sr, ch = _opts(options)
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: decode_audio(b, sr, ch), views, on_error=on_error_option(options),
                               what="audio.decode", sources=sources_option(options, len(views)))
    return KernelOutput(tensors_to_arrow(out, DataType.tensor("float32")), errors)


@kernel("audio.duration")
def duration_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    views = binary_views(args[0])
    out, errors = parallel_map(audio_duration, views, on_error=on_error_option(options), what="audio.duration",
                               sources=sources_option(options, len(views)), threads=1)
    return KernelOutput(pa.array(out, pa.float64()), errors)


def segment_audio(data: bytes | memoryview, window_seconds: float, sample_rate: int | None = None,
                  channels: int | None = None, drop_last: bool = False) -> list[np.ndarray]:
    """Decode, then cut into windows of ``window_seconds`` (the last may be shorter unless dropped)."""
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    if sample_rate is None:
        with _open(data) as c:
            sample_rate = int(_stream(c).rate)
    a = decode_audio(data, sample_rate, channels)
    step = max(1, int(round(window_seconds * sample_rate)))
    out = [a[:, i : i + step] for i in range(0, a.shape[1], step)]
    if drop_last and out and out[-1].shape[1] < step:
        out.pop()
    return out


@kernel("audio.segment")
def segment_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    sr, ch = _opts(options)
    window = float(options["window_seconds"])
    drop_last = bool(options.get("drop_last", False))
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: segment_audio(b, window, sr, ch, drop_last), views,
                               on_error=on_error_option(options), what="audio.segment",
                               sources=sources_option(options, len(views)))
    flat = [seg for row in out for seg in (row or ())]
    offsets = np.cumsum([0] + [len(row or ()) for row in out])
    values = tensors_to_arrow(flat, DataType.tensor("float32"))
    mask = pa.array([row is None for row in out]) if any(row is None for row in out) else None
    return KernelOutput(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values, mask=mask), errors)
