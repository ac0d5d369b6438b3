"""``expr.audio``: decode (resampled) to float32 ``(channels, samples)`` tensors, duration, segments.

Examples
--------
>>> from thresher import col
>>> col("a").audio.decode(sample_rate=16_000, channels=1)
col("a").audio.decode(sample_rate=16000, channels=1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import FunctionSpec, expect, register


def _audio_input(f: Field, fn: str) -> None:
    k = f.dtype.kind
    expect(f, k in ("audio", "video", "file", "binary") or f.dtype.is_null(), "audio, file or binary (encoded audio)",
           fn)


def _check(opts: dict[str, Any], fn: str) -> None:
    sr, ch = opts.get("sample_rate"), opts.get("channels")
    if sr is not None and (not isinstance(sr, int) or sr <= 0):
        raise ThresherTypeError(f"{fn}: sample_rate must be a positive integer, got {sr!r}")
    if ch is not None and ch not in (1, 2):
        raise ThresherTypeError(f"{fn}: channels must be 1 or 2, got {ch!r}")


def _decode(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _audio_input(args[0], "audio.decode")
    _check(opts, "audio.decode")
    return DataType.tensor("float32")


def _duration(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _audio_input(args[0], "audio.duration")
    return DataType.float64()


def _segment(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _audio_input(args[0], "audio.segment")
    _check(opts, "audio.segment")
    w = opts.get("window_seconds")
    if not isinstance(w, (int, float)) or w <= 0:
        raise ThresherTypeError(f"audio.segment: window_seconds must be positive, got {w!r}")
    return DataType.list(DataType.tensor("float32"))


register(FunctionSpec("audio.decode", _decode, "decode", True, ("audio_decode",)))
register(FunctionSpec("audio.duration", _duration, "io", True, ("audio_duration",)))
register(FunctionSpec("audio.segment", _segment, "decode", True, ("audio_segment",)))


class AudioNamespace:
    """Audio functions, reached as ``expr.audio``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def decode(self, sample_rate: int | None = None, channels: int | None = None, on_error: str = "null") -> Expr:
        """Decode to a float32 ``(channels, samples)`` tensor, resampled to ``sample_rate`` and
        mixed to ``channels`` (1 or 2) when given.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_audio
        >>> df = th.from_pydict({"a": [make_audio(seconds=2.0)]})  # FLAC, 44.1 kHz stereo
        >>> pcm = th.col("a").audio.decode(sample_rate=8000, channels=1)
        >>> df.select(pcm.tensor.shape().alias("s")).to_pydict()
        {'s': [[1, 16000]]}
        """
        return Call("audio.decode", (self._expr,),
                    (("sample_rate", sample_rate), ("channels", channels), ("on_error", on_error)))

    def duration(self, on_error: str = "null") -> Expr:
        """Seconds, from the container (no decoding).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_audio
        >>> df = th.from_pydict({"a": [make_audio(seconds=2.0)]})  # FLAC, 44.1 kHz stereo
        >>> df.select(th.col("a").audio.duration().alias("d")).to_pydict()
        {'d': [2.0]}
        """
        return Call("audio.duration", (self._expr,), (("on_error", on_error),))

    def segment(self, window_seconds: float, sample_rate: int | None = None, channels: int | None = None,
                drop_last: bool = False, on_error: str = "null") -> Expr:
        """Decode, then cut into ``window_seconds`` windows: ``list<tensor[float32]>``.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_audio
        >>> df = th.from_pydict({"a": [make_audio(seconds=2.0)]})  # FLAC, 44.1 kHz stereo
        >>> windows = th.col("a").audio.segment(0.5, sample_rate=8000, channels=1)
        >>> df.select(windows.list.len().alias("n")).to_pydict()
        {'n': [4]}
        """
        return Call("audio.segment", (self._expr,),
                    (("window_seconds", float(window_seconds)), ("sample_rate", sample_rate), ("channels", channels),
                     ("drop_last", drop_last), ("on_error", on_error)))
