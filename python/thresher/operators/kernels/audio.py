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
from thresher.operators.kernels.base import KernelOutput, in_kernel_thread, kernel_threads
from thresher.operators.kernels.image import (
    binary_views,
    on_error_option,
    parallel_map,
    sources_option,
    tensors_to_arrow,
)
from thresher.operators.kernels.media_procs import in_ray_worker, process_call, process_pool_size
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


#: Decoded samples (per channel) gathered before one resampler call. FLAC frames hold 4,096
#: samples: resampling frame by frame spends more time in PyAV's per-call overhead (a filter-graph
#: push and pull, a new frame object, a small array) than in libswresample itself, and holds the
#: GIL for all of it. The resampler is a stream, so the output is the same sample for sample
#: whatever the block size; a block bounds the extra memory to about 6 s of decoded input.
_BLOCK_SAMPLES = 1 << 18


def decode_audio(data: bytes | memoryview, sample_rate: int | None = None, channels: int | None = None,
                 max_duration: float | None = None) -> np.ndarray:
    """Decode to float32 ``(channels, samples)``, resampled/remixed when asked.

    ``max_duration`` (seconds) defaults to ``config.max_audio_duration``.
    """
    import av

    limit_s = get_config().max_audio_duration if max_duration is None else max_duration
    if channels is not None and channels not in _LAYOUTS:
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    chunks: list[np.ndarray] = []
    with _open(data) as c:
        s = _stream(c)
        d = _stream_duration(c, s)
        if d is not None and d > limit_s:
            raise ValueError(f"audio of {d:.1f} s exceeds max_audio_duration={limit_s}")
        layout = _LAYOUTS[channels] if channels else s.layout.name
        rate = int(sample_rate or s.rate)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        pending: list[np.ndarray] = []
        pending_n = 0
        key: tuple[str, str, int] | None = None
        seconds_in = 0.0

        def flush() -> None:
            nonlocal pending_n
            assert key is not None
            block = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=1)
            frame = av.AudioFrame.from_ndarray(block, format=key[0], layout=key[1])
            frame.sample_rate = key[2]
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            pending.clear()
            pending_n = 0

        for frame in c.decode(s):
            k = (frame.format.name, frame.layout.name, int(frame.sample_rate))
            if k != key and pending:
                flush()  # a mid-stream format change: resample what came before on its own
            key = k
            pending.append(frame.to_ndarray())
            pending_n += frame.samples
            seconds_in += frame.samples / k[2]
            if seconds_in > limit_s:
                raise ValueError(f"audio exceeds max_audio_duration={limit_s}")
            if pending_n >= _BLOCK_SAMPLES:
                flush()
        if pending:
            flush()
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        raise ValueError("no audio samples decoded")
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)


def _opts(options: dict[str, Any]) -> tuple[int | None, int | None]:
    sr, ch = options.get("sample_rate"), options.get("channels")
    return (int(sr) if sr else None), (int(ch) if ch else None)


#: A batch whose compressed audio adds up to this many bytes decodes in worker processes (see
#: :mod:`~thresher.operators.kernels.media_procs`: PyAV's decode loop holds the GIL, so threads do
#: not spread files over the cores); a smaller one, where starting the workers would cost more than
#: it saves, on the kernel threads. Once the workers run, every multi-file batch uses them.
PROCESS_MIN_BYTES = 4 << 20


def _use_processes(views: Sequence[memoryview | None]) -> bool:
    items = [v for v in views if v is not None]
    if len(items) < 2 or kernel_threads() < 2 or in_kernel_thread() or in_ray_worker():
        return False
    return process_pool_size() > 0 or sum(v.nbytes for v in items) >= PROCESS_MIN_BYTES


def _per_file(views: Sequence[memoryview | None], name: str, *args: Any) -> Any:
    """``name(data, *args)`` of this module for one file: in a worker process or right here.

    ``max_duration`` travels with the call: a worker process does not see this process's config.
    """
    if _use_processes(views):
        procs = kernel_threads()
        return lambda b: process_call(__name__, name, bytes(b), *args, processes=procs)
    fn = globals()[name]
    return lambda b: fn(b, *args)


@kernel("audio.decode")
def decode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    sr, ch = _opts(options)
    views = binary_views(args[0])
    fn = _per_file(views, "decode_audio", sr, ch, get_config().max_audio_duration)
    out, errors = parallel_map(fn, views, on_error=on_error_option(options), what="audio.decode",
                               sources=sources_option(options, len(views)))
    return KernelOutput(tensors_to_arrow(out, DataType.tensor("float32")), errors)


@kernel("audio.duration")
def duration_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    views = binary_views(args[0])
    out, errors = parallel_map(audio_duration, views, on_error=on_error_option(options), what="audio.duration",
                               sources=sources_option(options, len(views)), threads=1)
    return KernelOutput(pa.array(out, pa.float64()), errors)


def segment_audio(data: bytes | memoryview, window_seconds: float, sample_rate: int | None = None,
                  channels: int | None = None, drop_last: bool = False,
                  max_duration: float | None = None) -> list[np.ndarray]:
    """Decode, then cut into windows of ``window_seconds`` (the last may be shorter unless dropped)."""
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    if sample_rate is None:
        with _open(data) as c:
            sample_rate = int(_stream(c).rate)
    a = decode_audio(data, sample_rate, channels, max_duration)
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
    fn = _per_file(views, "segment_audio", window, sr, ch, drop_last, get_config().max_audio_duration)
    out, errors = parallel_map(fn, views,
                               on_error=on_error_option(options), what="audio.segment",
                               sources=sources_option(options, len(views)))
    flat = [seg for row in out for seg in (row or ())]
    offsets = np.cumsum([0] + [len(row or ()) for row in out])
    values = tensors_to_arrow(flat, DataType.tensor("float32"))
    mask = pa.array([row is None for row in out]) if any(row is None for row in out) else None
    return KernelOutput(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values, mask=mask), errors)
