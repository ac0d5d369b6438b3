"""``expr.video``: metadata, sampled frames, clips and shots of encoded videos.

Examples
--------
>>> from thresher import col
>>> col("v").video.frames(every_seconds=1.0, width=224, height=224)
col("v").video.frames(every_seconds=1.0, width=224, height=224)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import FunctionSpec, expect, register


def _video_input(f: Field, fn: str) -> None:
    k = f.dtype.kind
    expect(f, k in ("video", "file", "binary") or f.dtype.is_null(), "video, file or binary (an encoded video)", fn)


def metadata_type() -> DataType:
    return DataType.struct({"duration": DataType.float64(), "fps": DataType.float64(), "width": DataType.int32(),
                            "height": DataType.int32(), "codec": DataType.string(), "frame_count": DataType.int64()})


def frames_type(width: int | None = None, height: int | None = None) -> DataType:
    shape = (height, width) if width and height else None
    return DataType.list(DataType.struct({"timestamp": DataType.float64(),
                                          "image": DataType.image(mode="RGB", shape=shape)}))


def _metadata(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _video_input(args[0], "video.metadata")
    return metadata_type()


def _positive(opts: dict[str, Any], name: str, fn: str, integer: bool = False) -> None:
    v = opts.get(name)
    if v is None:
        return
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if not ok or isinstance(v, bool) or v <= 0:
        raise ThresherTypeError(f"{fn}: {name} must be a positive {'integer' if integer else 'number'}, got {v!r}")


def _frames(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _video_input(args[0], "video.frames")
    _positive(opts, "every_seconds", "video.frames")
    for n in ("num_frames", "width", "height"):
        _positive(opts, n, "video.frames", integer=True)
    if opts.get("every_seconds") is not None and opts.get("num_frames") is not None:
        raise ThresherTypeError("video.frames: give every_seconds or num_frames, not both")
    return frames_type(opts.get("width"), opts.get("height"))


def _clip(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _video_input(args[0], "video.clip")
    start, end = opts.get("start", 0.0), opts.get("end")
    if end is not None and end <= start:
        raise ThresherTypeError(f"video.clip: end ({end}) must be after start ({start})")
    return DataType.video()


def _shots(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _video_input(args[0], "video.shots")
    th = opts.get("threshold", 0.3)
    if not (isinstance(th, (int, float)) and 0 < th < 1):
        raise ThresherTypeError(f"video.shots: threshold must be in (0, 1), got {th!r}")
    return DataType.list(DataType.struct({"start": DataType.float64(), "end": DataType.float64()}))


register(FunctionSpec("video.metadata", _metadata, "io", True, ("video_metadata",)))
register(FunctionSpec("video.frames", _frames, "decode", True, ("video_frames",)))
register(FunctionSpec("video.clip", _clip, "decode", True, ("video_clip",)))
register(FunctionSpec("video.shots", _shots, "decode", True, ("video_shots",)))


class VideoNamespace:
    """Video functions, reached as ``expr.video``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def _call(self, name: str, **options: Any) -> Expr:
        return Call(f"video.{name}", (self._expr,), tuple(options.items()))

    def metadata(self, on_error: str = "null") -> Expr:
        """``struct<duration, fps, width, height, codec, frame_count>`` read from the container
        without decoding any frame.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_video
        >>> df = th.from_pydict({"v": [make_video(seconds=2, fps=10, width=64, height=48, gop_seconds=1)]})
        >>> df.select(th.col("v").video.metadata().alias("m")).to_pydict()["m"][0]
        {'duration': 2.0, 'fps': 10.0, 'width': 64, 'height': 48, 'codec': 'h264', 'frame_count': 20}
        """
        return self._call("metadata", on_error=on_error)

    def frames(self, every_seconds: float | None = None, num_frames: int | None = None, keyframes_only: bool = False,
               width: int | None = None, height: int | None = None, on_error: str = "null") -> Expr:
        """Sampled frames as ``list<struct<timestamp, image>>``, decoding only what is needed.

        Parameters
        ----------
        every_seconds : float, optional
            One frame per interval from 0 s.
        num_frames : int, optional
            This many frames evenly spaced over the duration.
        keyframes_only : bool
            Only keyframes (nearest to each sampled time): the cheapest.
        width, height : int, optional
            Scale the frames (both: exact size; one: keep the aspect ratio).
        on_error : {"null", "raise"}
            A video that does not decode becomes null with a message, or raises.

        Explode the list to get one row per frame: the optimizer turns ``explode`` of this column
        into a streaming fan-out (rule ``stream_video_frames``), so a long video is never held as
        one list.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_video
        >>> df = th.from_pydict({"v": [make_video(seconds=2, fps=10, width=64, height=48, gop_seconds=1)]})
        >>> frames = df.select(th.col("v").video.frames(every_seconds=0.5, width=32, height=24).alias("f"))
        >>> rows = frames.explode("f").to_pylist()  # streamed, several videos at once (stream_video_frames)
        >>> [r["f"]["timestamp"] for r in rows], rows[0]["f"]["image"].shape  # images as H×W×C arrays
        ([0.0, 0.5, 1.0, 1.5], (24, 32, 3))
        """
        return self._call("frames", every_seconds=every_seconds, num_frames=num_frames,
                          keyframes_only=keyframes_only, width=width, height=height, on_error=on_error)

    def clip(self, start: float, end: float | None = None, on_error: str = "null") -> Expr:
        """``[start, end)`` seconds as a new MP4 (packets copied when the cut points are keyframes,
        else re-encoded with H.264).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_video
        >>> df = th.from_pydict({"v": [make_video(seconds=2, fps=10, width=64, height=48, gop_seconds=1)]})
        >>> first = th.col("v").video.clip(0.0, 1.0)  # keyframes at 0 s and 1 s: packets copied
        >>> df.select(first.video.metadata().alias("m")).to_pydict()["m"][0]["frame_count"]
        10
        """
        return self._call("clip", start=float(start), end=None if end is None else float(end), on_error=on_error)

    def shots(self, threshold: float = 0.3, min_shot_seconds: float = 0.0, on_error: str = "null") -> Expr:
        """Shot boundaries ``list<struct<start, end>>`` from frame-histogram differences.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_video
        >>> df = th.from_pydict({"v": [make_video(seconds=3, fps=10, width=64, height=48, cuts=[1.5])]})
        >>> df.select(th.col("v").video.shots().alias("s")).to_pydict()["s"][0]
        [{'start': 0.0, 'end': 1.5}, {'start': 1.5, 'end': 3.0}]
        """
        return self._call("shots", threshold=threshold, min_shot_seconds=min_shot_seconds, on_error=on_error)
