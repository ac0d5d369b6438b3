"""Video kernels: container metadata, sampled frames, clips and shot boundaries (PyAV).

Frame sampling decodes only what it needs. One demux pass (packets only, no decoding) gives
every frame's timestamp and the keyframes. Each wanted frame is then reached either by decoding
forward from the current position, or, when a keyframe lies between the position and the target,
by seeking to the last keyframe before the target; on the way, packets before the target are
decoded with ``skip_frame="NONREF"`` (frames nothing else references are dropped undecoded).
When every target is a keyframe (``keyframes_only=True``, or an interval that lands on the GOP)
only keyframes are decoded. Frames are scaled in swscale while being converted to RGB.

:func:`iter_frames` is the generator behind ``video.frames``; an executor that explodes frames
can stream it row by row instead of materializing a list per video.

Examples
--------
>>> from thresher.testing.media import make_video
>>> data = make_video(seconds=2, fps=10, width=64, height=48, gop_seconds=1)
>>> [round(f["timestamp"], 2) for f in iter_frames(data, every_seconds=0.5)]
[0.0, 0.5, 1.0, 1.5]
>>> video_metadata(data)["frame_count"]
20
"""

from __future__ import annotations

import bisect
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.config import get_config
from thresher.datatypes import DataType
from thresher.operators.kernels.base import KernelOutput
from thresher.operators.kernels.image import (
    binary_views,
    images_to_arrow,
    on_error_option,
    parallel_map,
    sources_option,
)
from thresher.operators.kernels.registry import kernel

METADATA_TYPE = pa.struct([
    pa.field("duration", pa.float64()), pa.field("fps", pa.float64()), pa.field("width", pa.int32()),
    pa.field("height", pa.int32()), pa.field("codec", pa.string()), pa.field("frame_count", pa.int64()),
])
SHOT_TYPE = pa.struct([pa.field("start", pa.float64()), pa.field("end", pa.float64())])


def frame_struct_type(width: int | None = None, height: int | None = None) -> pa.DataType:
    """``struct<timestamp: float64, image: image[RGB]>`` (image shape pinned when both sizes are)."""
    shape = (height, width) if width and height else None
    return pa.struct([pa.field("timestamp", pa.float64()),
                      pa.field("image", DataType.image(mode="RGB", shape=shape).to_arrow())])


class _MemoryFile(io.RawIOBase):
    """A read-only, seekable file over a buffer, without copying it (``io.BytesIO`` copies a
    memoryview: a whole video per open container)."""

    def __init__(self, data: memoryview) -> None:
        super().__init__()
        self._buf = data.cast("B") if data.format != "B" or data.ndim != 1 else data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, out: Any) -> int:
        n = max(0, min(len(out), len(self._buf) - self._pos))
        out[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        end = len(self._buf) if size is None or size < 0 else min(len(self._buf), self._pos + size)
        chunk = bytes(self._buf[self._pos:end])
        self._pos = max(self._pos, end)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._buf)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _open(data: bytes | memoryview | str) -> Any:
    import av

    if isinstance(data, str):  # a checked local path (see VideoFramesGenerator): FFmpeg reads it in place
        if os.path.getsize(data) == 0:
            raise ValueError("empty input (0 bytes)")
        return av.open(data, mode="r")
    if len(data) == 0:
        raise ValueError("empty input (0 bytes)")
    # bytes are shared by BytesIO without a copy; a memoryview (an Arrow buffer) is read in place
    f = io.BytesIO(data) if isinstance(data, bytes) else _MemoryFile(memoryview(data))
    return av.open(f, mode="r")


def _video_stream(container: Any) -> Any:
    if not container.streams.video:
        raise ValueError("no video stream in the container")
    return container.streams.video[0]


def _duration(container: Any, vs: Any) -> float:
    if vs.duration is not None and vs.time_base is not None:
        return float(vs.duration * vs.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def video_metadata(data: bytes | memoryview) -> dict[str, Any]:
    """Duration, fps, size, codec and frame count from the container (no frame is decoded)."""
    with _open(data) as c:
        vs = _video_stream(c)
        duration = _duration(c, vs)
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        fps = float(rate) if rate else 0.0
        count = int(vs.frames) if vs.frames else int(round(duration * fps))
        cc = vs.codec_context
        return {"duration": duration, "fps": fps, "width": int(cc.width), "height": int(cc.height),
                "codec": cc.name, "frame_count": count}


@dataclass
class _Index:
    """Presentation timestamps (stream time base) of every frame and of the keyframes, sorted."""

    pts: list[int]
    keyframes: list[int]
    time_base: Fraction
    start: int
    slices: int = 1  # slices per frame of an H.264 stream (those of its first keyframe); 1 otherwise
    #: every packet has a timestamp of its own: one packet per frame (not a field, not a part)
    one_packet_per_frame: bool = False


def _index(container: Any, vs: Any) -> _Index:
    pts: list[int] = []
    keys: list[int] = []
    slices = 0
    untimed = False
    h264 = vs.codec_context.name == "h264"
    for packet in container.demux(vs):
        if packet.pts is None:
            untimed = untimed or packet.size > 0  # (the demuxer ends with an empty packet)
            continue
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
            if h264 and not slices:
                slices = h264_slice_count(bytes(packet), vs.codec_context.extradata)
    pts.sort()
    keys.sort()
    if not pts:
        raise ValueError("the video stream has no frames")
    if not keys or keys[0] > pts[0]:
        keys.insert(0, pts[0])
    container.seek(pts[0], stream=vs, backward=True, any_frame=False)
    single = not untimed and all(a != b for a, b in zip(pts, pts[1:]))
    return _Index(pts, keys, Fraction(vs.time_base), vs.start_time if vs.start_time is not None else pts[0],
                  max(1, slices), single)


def h264_slice_count(packet: bytes, extradata: bytes | None) -> int:
    """The slice NAL units (types 1 and 5) in one H.264 packet: the slices of its picture.

    MP4/MKV store NAL units behind a 1-4 byte length (its size in the ``avcC`` extradata, which
    starts with 1), raw and MPEG-TS streams behind ``00 00 01`` start codes. A malformed packet
    counts what could be read (at least 1 is assumed by the caller).

    >>> h264_slice_count(bytes([0, 0, 0, 2, 0x65, 0, 0, 0, 0, 2, 0x65, 0]), bytes([1, 100, 0, 31, 0xff]))
    2
    >>> h264_slice_count(bytes([0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 9, 0, 0, 1, 0x41, 3]), None)
    2
    """
    types: list[int] = []
    if extradata and extradata[0] == 1 and len(extradata) > 4:  # avcC: length-prefixed
        size = (extradata[4] & 3) + 1
        j = 0
        while j + size < len(packet):
            n = int.from_bytes(packet[j:j + size], "big")
            types.append(packet[j + size] & 0x1F)
            j += size + n
    else:  # Annex B: start codes
        j = packet.find(b"\x00\x00\x01")
        while 0 <= j and j + 3 < len(packet):
            types.append(packet[j + 3] & 0x1F)
            j = packet.find(b"\x00\x00\x01", j + 3)
    return sum(1 for t in types if t in (1, 5))


def _targets(ix: _Index, every_seconds: float | None, num_frames: int | None, keyframes_only: bool) -> list[int]:
    tb = ix.time_base
    first, last = ix.pts[0], ix.pts[-1]
    frame_dur = (ix.pts[1] - ix.pts[0]) if len(ix.pts) > 1 else 1
    duration = float((last - first + frame_dur) * tb)
    pool = ix.keyframes if keyframes_only else ix.pts
    if every_seconds is None and num_frames is None:
        return list(pool)
    if every_seconds is not None:
        if every_seconds <= 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")
        times = np.arange(0.0, duration - 1e-9, float(every_seconds))
    else:
        if num_frames is None or num_frames <= 0:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        times = np.linspace(0.0, duration, int(num_frames), endpoint=False)
    out: list[int] = []
    half = frame_dur / 2
    for t in times:
        want = first + float(t) / tb
        if keyframes_only:
            # the keyframe nearest the wanted time
            j = bisect.bisect_left(pool, want)
            cands = [pool[k] for k in (j - 1, j) if 0 <= k < len(pool)]
            p = min(cands, key=lambda x: abs(x - want))
        else:
            j = bisect.bisect_left(pool, want - half)
            p = pool[min(j, len(pool) - 1)]
        if not out or out[-1] != p:
            out.append(p)
    return sorted(set(out))


def iter_frames(
    source: bytes | memoryview | str,
    every_seconds: float | None = None,
    num_frames: int | None = None,
    keyframes_only: bool = False,
    width: int | None = None,
    height: int | None = None,
    threads: int = 1,
) -> Iterator[dict[str, Any]]:
    """Yield ``{"timestamp": seconds, "image": HWC uint8 ndarray}`` for each sampled frame.

    Parameters
    ----------
    source : bytes, memoryview or str
        An encoded video container (MP4, MKV, WebM, ...), or the path of a local one (read by
        FFmpeg as it goes, never whole).
    every_seconds : float, optional
        One frame per interval, starting at 0 (the first frame at or after each time).
    num_frames : int, optional
        This many frames evenly spaced over the duration.
    keyframes_only : bool
        Only keyframes (the one nearest each sampled time): the cheapest decode.
    width, height : int, optional
        Scale frames while converting to RGB (one of them keeps the aspect ratio).
    threads : int
        Decoder threads (FFmpeg slice threading on a stream with that many slices per frame,
        frame threading otherwise; 1: decode on the calling thread only). A second frame thread
        adds ~3.5 MiB at 720p, a second slice thread nothing, where a second video decoding at
        the same time adds ~17 MiB.

    With neither ``every_seconds`` nor ``num_frames`` every frame (or keyframe) is yielded.
    ``th.config.max_video_frames`` and ``max_video_duration`` cap the work per video.
    """
    cfg = get_config()
    pin_mmap_threshold()
    # freed pages go back to the OS after the video (see release_freed_memory) and before it:
    # what planning and earlier rows freed (a run's first video starts right after the plan was
    # optimized and lowered) is then not still resident under the decoder's pictures (~1 MiB
    # off the video benchmark's peak; a trim takes ~0.3 ms)
    release_freed_memory()
    try:
        with _open(source) as container:
            vs = _video_stream(container)
            duration = _duration(container, vs)
            if duration > cfg.max_video_duration:
                raise ValueError(f"video of {duration:.1f} s exceeds max_video_duration={cfg.max_video_duration}")
            ix = _index(container, vs)
            targets = _targets(ix, every_seconds, num_frames, keyframes_only)
            if len(targets) > cfg.max_video_frames:
                raise ValueError(f"{len(targets)} frames requested, more than max_video_frames={cfg.max_video_frames}")
            size = _out_size(vs, width, height)
            _set_threads(vs, threads, ix.slices)
            yield from _decode_targets(container, vs, ix, targets, size)
    finally:
        release_freed_memory()


def _glibc() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()
_TRIM = _LIBC.malloc_trim if _LIBC is not None else None
_M_MMAP_THRESHOLD = -3
_mmap_pinned = False


def pin_mmap_threshold() -> None:
    """Keep glibc's mmap threshold at its initial 128 KiB (once per process; a no-op elsewhere).

    glibc serves allocations over the threshold with their own mmap, returned to the OS on free,
    but raises the threshold to the size of each such block freed (up to 32 MiB). After the first
    video closes, a decoder's picture buffers (~1.4 MiB each at 720p) come from the arena of the
    thread that decodes, and every run's new threads leave freed pages in their arenas: resident
    memory grew ~10 MiB per run of the same job (measured: 104, 117, 125, 132 MiB settled after
    each of four runs; 102-103 with the threshold pinned).
    """
    global _mmap_pinned
    if _mmap_pinned or _LIBC is None:
        return
    _mmap_pinned = True
    _LIBC.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def release_freed_memory() -> None:
    """Give the pages the decoder just freed back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    An H.264 decoder allocates its picture buffers (about 12 MiB at 720p) on whichever thread runs
    it, so they land in that thread's glibc arena, and glibc keeps an arena's freed pages: with a
    new worker thread per run, resident memory grew by 10-20 MiB with every run of the same video
    job (measured: 172, 195, 209, 222 MiB over four runs; 149-161 MiB with a trim after each video).
    """
    if _TRIM is not None:
        _TRIM(0)


def _set_threads(vs: Any, threads: int, slices: int = 1) -> None:
    """``threads`` decoder threads: slice threading when each frame has at least that many slices,
    frame threading otherwise; none for one thread.

    Slice threads decode the slices of one picture together, in the one decoder context; frame
    threads each hold a context of their own and decode several pictures at once, one more frame
    of delay each (720p, 2 threads: ~3.5 MiB more than one thread, where slice threads add
    nothing and were as fast on a 2-slice stream). FFmpeg's default (slice threads, one per core)
    would leave all but one idle on the usual x264 stream of one slice per frame.
    """
    if threads > 1 and slices >= threads:
        vs.thread_type = "SLICE"
        vs.thread_count = int(threads)
    elif threads > 1:
        vs.thread_type = "FRAME"
        vs.thread_count = int(threads)
    else:
        vs.thread_type = "NONE"
        vs.thread_count = 1


def _out_size(vs: Any, width: int | None, height: int | None) -> tuple[int, int] | None:
    if width is None and height is None:
        return None
    w0, h0 = vs.codec_context.width, vs.codec_context.height
    if width is None:
        assert height is not None
        width = max(1, round(w0 * height / h0))
    if height is None:
        height = max(1, round(h0 * width / w0))
    return int(width), int(height)


def _to_rgb(frame: Any, size: tuple[int, int] | None, reformatter: Any) -> np.ndarray:
    """The frame as RGB (scaled to ``size`` with area averaging), through the video's one
    ``VideoReformatter`` on the calling thread."""
    if size is None:
        return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()  # type: ignore[no-any-return]
    return reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24",  # type: ignore[no-any-return]
                                interpolation="AREA", threads=1).to_ndarray()


def _decode_targets(container: Any, vs: Any, ix: _Index, targets: list[int],
                    size: tuple[int, int] | None) -> Iterator[dict[str, Any]]:
    if not targets:
        return
    cc = vs.codec_context
    tb = ix.time_base
    pos_of = {p: i for i, p in enumerate(ix.pts)}
    key_set = set(ix.keyframes)
    only_keys = all(t in key_set for t in targets)
    queue = list(targets)
    qi = 0
    # one swscale context for the video, on this thread: frame.to_ndarray(width=...) builds a
    # context per frame, and swscale's default starts a thread per core for each (~0.5 ms of
    # work for a 720p frame scaled to 224x224): ~1 MiB less peak RSS on the video benchmark
    from av.video.reformatter import VideoReformatter

    reformatter = VideoReformatter()
    pos: int | None = None  # pts of the last frame decoded
    target = queue[0]
    restart = False
    no_drain: set[int] = set()  # targets a drain did not produce (decoded the long way instead)

    def key_before(p: int) -> int:
        return ix.keyframes[max(0, bisect.bisect_right(ix.keyframes, p) - 1)]

    def seek_needed(p: int, at: int | None) -> bool:
        """Whether reaching ``p`` from the frame at ``at`` takes a seek (a keyframe in between)."""
        if at is None:
            return True
        k = key_before(p)
        return pos_of.get(k, 0) > pos_of.get(at, -1) + 1 or p <= at

    def take(frames: Any) -> Iterator[dict[str, Any]]:
        """Yield the targets among decoded ``frames``; ``restart`` once the next target is past a keyframe."""
        nonlocal pos, qi, target, restart
        for frame in frames:
            if frame.pts is None:
                continue
            pos = frame.pts
            while qi < len(queue) and frame.pts >= queue[qi]:
                if frame.pts == queue[qi] or frame.pts - queue[qi] < _frame_gap(ix, queue[qi]):
                    yield {"timestamp": float((frame.pts - ix.start) * tb), "image": _to_rgb(frame, size, reformatter)}
                qi += 1
            if qi >= len(queue):
                return
            if queue[qi] != target:
                target = queue[qi]
                if seek_needed(target, pos):
                    restart = True
                    return

    while qi < len(queue):
        target = queue[qi]
        if seek_needed(target, pos):
            container.seek(key_before(target), stream=vs, backward=True, any_frame=False)
            pos = None
        restart = False
        for packet in container.demux(vs):
            if only_keys:
                cc.skip_frame = "NONKEY"
            elif packet.pts is not None and packet.pts < target and not packet.is_keyframe:
                cc.skip_frame = "NONREF"
            else:
                cc.skip_frame = "DEFAULT"
            yield from take(packet.decode())
            if qi >= len(queue):
                return
            if restart:
                break
            if (ix.one_packet_per_frame and packet.pts == target and target not in no_drain
                    and (qi + 1 >= len(queue) or seek_needed(queue[qi + 1], target))):
                # the target's packet is in and what comes next is past a keyframe (or nothing):
                # drain the decoder instead of feeding it the frames its reordering delay waits
                # for (B-frames: ~2 more decoded pictures per target, each a buffer of its own)
                drained = target
                yield from take(cc.decode(None))
                if qi >= len(queue):
                    return
                if queue[qi] == drained:  # not produced (a damaged frame?): decode it the long way
                    no_drain.add(drained)
                pos = None  # a drained decoder takes packets again only after a seek (which flushes it)
                break
        else:
            return  # end of stream: remaining targets do not exist


def _frame_gap(ix: _Index, p: int) -> int:
    i = bisect.bisect_left(ix.pts, p)
    return (ix.pts[i + 1] - ix.pts[i]) if i + 1 < len(ix.pts) else 1


def _frames_arrow(rows: Sequence[list[dict[str, Any]] | None], width: int | None, height: int | None) -> pa.Array:
    st = frame_struct_type(width, height)
    image_type = DataType.from_arrow(st.field("image").type)
    flat_images: list[Any] = []
    stamps: list[float] = []
    offsets = [0]
    mask = []
    for r in rows:
        mask.append(r is None)
        for f in r or ():
            flat_images.append(f["image"])
            stamps.append(f["timestamp"])
        offsets.append(len(stamps))
    images = images_to_arrow(flat_images, image_type)
    structs = pa.StructArray.from_arrays([pa.array(stamps, pa.float64()), images], fields=list(st))
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), structs,
                                         mask=pa.array(mask, pa.bool_()) if any(mask) else None)


@kernel("video.metadata")
def metadata_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    views = binary_views(args[0])
    out, errors = parallel_map(video_metadata, views, on_error=on_error_option(options), what="video.metadata",
                               sources=sources_option(options, len(views)))
    return KernelOutput(pa.array(out, METADATA_TYPE), errors)


@kernel("video.frames")
def frames_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    kw: dict[str, Any] = {k: options.get(k) for k in ("every_seconds", "num_frames", "width", "height")}
    keyframes_only = bool(options.get("keyframes_only", False))
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: list(iter_frames(b, keyframes_only=keyframes_only, **kw)), views,
                               on_error=on_error_option(options), what="video.frames",
                               sources=sources_option(options, len(views)))
    w, h = kw["width"], kw["height"]
    return KernelOutput(_frames_arrow(out, w, h), errors)


# ---- streaming frames (explode without a list per video) -----------------------------------------


def iter_frame_rows(source: bytes | memoryview | str, every_seconds: float | None = None, num_frames: int | None = None,
                    keyframes_only: bool = False, width: int | None = None, height: int | None = None,
                    threads: int = 1) -> Iterator[dict[str, Any]]:
    """:func:`iter_frames` as Arrow-ready Python rows: ``{"timestamp", "image": {width, height, mode, data}}``.

    Each row matches the element type of ``video.frames`` (:func:`frame_struct_type`), so
    ``pa.array(rows, frame_struct_type(...))`` builds the exploded column one batch at a time.
    """
    for f in iter_frames(source, every_seconds, num_frames, keyframes_only, width, height, threads):
        img = f["image"]
        yield {"timestamp": f["timestamp"],
               "image": {"width": int(img.shape[1]), "height": int(img.shape[0]), "mode": "RGB", "data": img.tobytes()}}


class VideoFramesGenerator:
    """A generator UDF for a FlatMap node: one output row per sampled frame, streamed.

    ``explode(video.frames(...))`` builds the whole list of frames of a video before exploding it;
    a FlatMap over this generator yields the frames as they are decoded, cut into batches of
    ``batch_size`` rows, so a long video never sits in memory whole. It quacks like
    :class:`thresher.udfs.udf.UDF` (``fn``, ``return_dtype``, ``is_generator``, resources) without
    importing the UDF layer; pickles for Ray.

    The frames come out as two columns, ``<column>_timestamp`` (float64) and ``<column>_image``
    (image[RGB]), the fields of the ``video.frames`` element struct; with ``as_struct=True`` as
    one column ``<column>`` of that struct type, exactly what ``explode`` of ``video.frames``
    gives (the ``stream_video_frames`` optimizer rule uses this form).

    Parameters
    ----------
    column : str
        The prefix of the output columns (the exploded ``video.frames`` column's name).
    every_seconds, num_frames, keyframes_only, width, height
        As in ``video.frames``.
    on_error : {"null", "raise"}
        A video that does not decode yields no rows ("null"), or raises.
    as_struct : bool
        One struct column instead of two flat ones.
    download : dict, optional
        The options of a ``url.download`` (``on_error="null"``) this generator takes over: its
        argument is then the path/url, a local file is decoded straight from disk (never read
        into memory whole) and any other url is downloaded per row; a url that cannot be fetched
        yields nothing, as the null that ``url.download`` would give.

    Examples
    --------
    >>> from thresher.testing.media import make_video
    >>> gen = video_frames_generator("frame", every_seconds=0.5, width=16, height=12)
    >>> rows = list(gen(make_video(seconds=1, fps=10, width=64, height=48)))
    >>> [r["frame_timestamp"] for r in rows], rows[0]["frame_image"]["width"]
    ([0.0, 0.5], 16)
    """

    # the GeneratorUDFProtocol (expressions/udf_protocol.py)
    batch = False
    batch_format = "python"
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None
    concurrency: int | tuple[int, int] | None = None
    max_retries: int = 0
    cost: str = "decode"
    cost_per_row: float | None = None
    init_args: tuple[Any, ...] = ()
    is_class: bool = False
    is_generator: bool = True
    thread_safe: bool = True  # no state between calls: the local executor may decode several videos at once
    #: decoder threads per video; more videos at once only past this many cores (see ``rows_at_once``)
    threads_per_video: int = 4
    buffer_args: bool = True  # takes the video as a zero-copy view of the Arrow buffer

    def __init__(self, column: str = "frame", every_seconds: float | None = None, num_frames: int | None = None,
                 keyframes_only: bool = False, width: int | None = None, height: int | None = None,
                 on_error: str = "null", batch_size: int | None = None, as_struct: bool = False,
                 download: dict[str, Any] | None = None) -> None:
        if on_error not in ("null", "raise"):
            raise ValueError(f"on_error must be 'null' or 'raise', got {on_error!r}")
        self.column = column
        self.options: dict[str, Any] = {"every_seconds": every_seconds, "num_frames": num_frames,
                                        "keyframes_only": keyframes_only, "width": width, "height": height}
        self.on_error = on_error
        self.batch_size = batch_size
        self.init_kwargs: dict[str, Any] = {}
        self.name = "video.frames"
        self.as_struct = as_struct
        self.download = dict(download) if download is not None else None
        if self.download is not None and self.download.get("on_error", "null") != "null":
            raise ValueError("a download taken over by video_frames_generator must have on_error='null'")
        st = frame_struct_type(width, height)
        self.return_dtype = DataType.from_arrow(st if as_struct else
                                                pa.struct([pa.field(f"{column}_{f.name}", f.type) for f in st]))

    @property
    def fn(self) -> VideoFramesGenerator:
        return self

    def _split(self) -> tuple[int, int]:
        """``(videos at once, decoder threads each)`` on this process's kernel threads.

        Every video being decoded holds its own decoder (~17 MiB at 720p); a second decoder
        thread on the same video costs ~3.5 MiB (frame threads) or nothing (slice threads, on a
        stream of several slices per frame). So cores go to decoder threads first, up to
        ``threads_per_video``, and only then to more videos: 1 x 2 on two cores, 4 x 4 on 16. In
        a Ray worker (one task per core) a video decodes on its task's thread alone.
        """
        from thresher.operators.kernels.base import kernel_threads
        from thresher.operators.kernels.media_procs import in_ray_worker

        if in_ray_worker():
            return 1, 1
        cores = kernel_threads()
        rows = max(1, cores // max(1, self.threads_per_video))
        return rows, max(1, cores // rows)

    def rows_at_once(self, workers: int) -> int:
        """How many input rows (videos) the fan-out may decode at once, of its ``workers``
        (read by ``FlatMapOperator.process_stream``)."""
        return max(1, min(workers, self._split()[0]))

    @staticmethod
    def row_nbytes(row: dict[str, Any]) -> int:
        """Bytes a yielded frame holds (its pixels), for the fan-out's batch and buffer limits."""
        size = 64
        for v in row.values() if isinstance(row, dict) else ():
            if isinstance(v, np.ndarray):
                size += int(v.nbytes)
            elif isinstance(v, dict):
                size += len(v.get("data") or b"")
        return size

    def build_column(self, rows: Sequence[dict[str, Any] | None]) -> pa.Array:
        """The ``struct<timestamp, image>`` column of a batch of yielded frames (None: a null
        row), pixels copied once from the decoded arrays into the Arrow buffer."""
        if not self.as_struct:
            raise TypeError("build_column needs as_struct=True")
        st = frame_struct_type(self.options["width"], self.options["height"])
        image_type = DataType.from_arrow(st.field("image").type)
        images = images_to_arrow([None if r is None else r["image"] for r in rows], image_type)
        stamps = pa.array([None if r is None else r["timestamp"] for r in rows], pa.float64())
        valid = [r is not None for r in rows]
        mask = None if all(valid) else pa.array([not v for v in valid], pa.bool_())
        return pa.StructArray.from_arrays([stamps, images], fields=list(st), mask=mask)

    def shared_service(self, max_replicas: int) -> None:
        return None  # every decode is independent

    @property
    def explain_name(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if v not in (None, False))
        err = f", on_error={self.on_error!r}" if self.on_error != "null" else ""
        return f"{'url.download+' if self.download is not None else ''}video.frames[{opts}{err}]"

    def __call__(self, source: bytes | memoryview | str) -> Iterator[dict[str, Any]]:
        if self.download is not None:
            from thresher.operators.kernels.base import RowError
            from thresher.operators.kernels.url import DownloadError, locate

            try:
                source = locate(str(source), max_bytes=self.download.get("max_bytes"),
                                timeout=self.download.get("timeout"))
            except (DownloadError, RowError, OSError, ValueError):
                return  # url.download(on_error="null") gives null: no frames
        threads = self._split()[1]
        if self.as_struct:
            # pixels stay ndarrays until build_column
            yield from iter_frames(source, **self.options, threads=threads)
            return
        ts, im = f"{self.column}_timestamp", f"{self.column}_image"
        for row in iter_frame_rows(source, **self.options, threads=threads):
            yield {ts: row["timestamp"], im: row["image"]}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if v not in (None, False))
        extra = "".join(f", {k}={v!r}" for k, v in (("on_error", self.on_error), ("as_struct", self.as_struct))
                        if v not in ("null", False))
        return f"video_frames_generator({self.column!r}, {opts}{extra})"

    def _key(self) -> tuple[Any, ...]:
        return (self.column, tuple(self.options.items()), self.on_error, self.batch_size, self.as_struct,
                tuple(sorted((self.download or {}).items())) if self.download is not None else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VideoFramesGenerator) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def video_frames_generator(column: str = "frame", every_seconds: float | None = None, num_frames: int | None = None,
                           keyframes_only: bool = False, width: int | None = None, height: int | None = None,
                           on_error: str = "null", batch_size: int | None = None,
                           as_struct: bool = False, download: dict[str, Any] | None = None) -> VideoFramesGenerator:
    """The streaming form of ``explode(video.frames(...).alias(column))``: see :class:`VideoFramesGenerator`."""
    return VideoFramesGenerator(column, every_seconds, num_frames, keyframes_only, width, height, on_error, batch_size,
                                as_struct, download)


# ---- clip -------------------------------------------------------------------------------------


def clip_video(data: bytes | memoryview, start: float, end: float | None = None) -> bytes:
    """The part ``[start, end)`` seconds as a new MP4 (video stream only).

    Packets are copied unchanged when ``start`` is a keyframe and ``end`` a keyframe or the end;
    otherwise the frames in range are decoded and re-encoded with libx264.
    """
    import av

    with _open(data) as src:
        vs = _video_stream(src)
        ix = _index(src, vs)
        tb = ix.time_base
        s_pts = ix.start + start / tb
        e_pts = ix.start + end / tb if end is not None else float("inf")
        if e_pts <= s_pts:
            raise ValueError(f"clip end {end} must be after start {start}")
        gap = _frame_gap(ix, ix.pts[0]) / 2
        key_at_start = any(abs(k - s_pts) <= gap for k in ix.keyframes)
        key_at_end = e_pts > ix.pts[-1] or any(abs(k - e_pts) <= gap for k in ix.keyframes)
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as out:
            if key_at_start and key_at_end:
                ostream = out.add_stream_from_template(vs)
                first: int | None = None
                src.seek(int(max(ix.pts[0], s_pts - gap)), stream=vs, backward=True)
                for packet in src.demux(vs):
                    if packet.pts is None or packet.dts is None:
                        continue
                    if packet.pts < s_pts - gap:
                        continue
                    if packet.pts >= e_pts - gap:
                        if packet.is_keyframe:
                            break
                        continue
                    if first is None:
                        first = packet.pts
                    packet.pts -= first
                    packet.dts -= first
                    packet.stream = ostream
                    out.mux(packet)
            else:
                rate = vs.average_rate or vs.guessed_rate or 30
                ostream = out.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
                ostream.width, ostream.height, ostream.pix_fmt = vs.codec_context.width, vs.codec_context.height, \
                    "yuv420p"
                src.seek(ix.keyframes[max(0, bisect.bisect_right(ix.keyframes, s_pts) - 1)], stream=vs)
                n = 0
                for frame in src.decode(vs):
                    if frame.pts is None or frame.pts < s_pts - gap:
                        continue
                    if frame.pts >= e_pts - gap:
                        break
                    new = frame.reformat(format="yuv420p")
                    new.pts = n
                    new.time_base = Fraction(1, 1) / Fraction(rate)
                    n += 1
                    for p in ostream.encode(new):
                        out.mux(p)
                for p in ostream.encode():
                    out.mux(p)
        return buf.getvalue()


@kernel("video.clip")
def clip_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    start, end = float(options.get("start", 0.0)), options.get("end")
    end = None if end is None else float(end)
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: clip_video(b, start, end), views, on_error=on_error_option(options),
                               what="video.clip", sources=sources_option(options, len(views)))
    return KernelOutput(pa.ExtensionArray.from_storage(DataType.video().to_arrow(), pa.array(out, pa.large_binary())),
                        errors)


# ---- shots --------------------------------------------------------------------------------------


def detect_shots(data: bytes | memoryview, threshold: float = 0.3, min_shot_seconds: float = 0.0
                 ) -> list[dict[str, float]]:
    """Shot boundaries by grey-histogram difference between consecutive frames.

    A cut is placed where half the L1 distance of two consecutive 32-bin histograms (64×36 grey
    thumbnails) exceeds ``threshold`` (in [0, 1]). Returns ``[{"start", "end"}]`` in seconds.
    """
    cfg = get_config()
    with _open(data) as c:
        vs = _video_stream(c)
        duration = _duration(c, vs)
        if duration > cfg.max_video_duration:
            raise ValueError(f"video of {duration:.1f} s exceeds max_video_duration={cfg.max_video_duration}")
        vs.thread_type = "AUTO"
        tb = Fraction(vs.time_base)
        start_pts = vs.start_time or 0
        times: list[float] = []
        prev: np.ndarray | None = None
        cuts: list[float] = []
        for n, frame in enumerate(c.decode(vs)):
            if n >= cfg.max_video_frames:
                raise ValueError(f"more than max_video_frames={cfg.max_video_frames} frames")
            t = float(((frame.pts or 0) - start_pts) * tb)
            g = frame.to_ndarray(format="gray", width=64, height=36)
            hist = np.bincount((g >> 3).ravel(), minlength=32).astype(np.float64) / g.size
            if prev is not None and 0.5 * np.abs(hist - prev).sum() > threshold:
                if not cuts or t - cuts[-1] >= min_shot_seconds:
                    cuts.append(t)
            prev = hist
            times.append(t)
    if not times:
        return []
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    end = max(duration, times[-1] + step)
    bounds = [times[0], *cuts, end]
    return [{"start": a, "end": b} for a, b in zip(bounds[:-1], bounds[1:])]


@kernel("video.shots")
def shots_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    threshold = float(options.get("threshold", 0.3))
    min_len = float(options.get("min_shot_seconds", 0.0))
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: detect_shots(b, threshold, min_len), views,
                               on_error=on_error_option(options), what="video.shots",
                               sources=sources_option(options, len(views)))
    return KernelOutput(pa.array(out, pa.large_list(SHOT_TYPE)), errors)
