"""Process-wide settings that guard untrusted input: url schemes, download caps, pixel and frame caps.

Settings are one immutable :class:`Config`. Read the current one with :func:`get_config`; change it
for a block with ``th.config(...)`` (a context manager) or for good with ``config.set(...)``.
Overrides are process-global (not per thread), because kernels run in worker threads; an executor
that ships work to other processes sends :func:`get_config` along with the plan.

Examples
--------
>>> from thresher.config import config, get_config
>>> get_config().max_image_pixels == 89_478_485
True
>>> with config(max_image_pixels=1000):
...     get_config().max_image_pixels
1000
>>> config.max_image_pixels
89478485
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Config:
    """Limits applied by media and url kernels.

    Parameters
    ----------
    allowed_url_schemes : tuple of str
        Schemes ``url.download`` may fetch. ``""`` stands for plain local paths.
    max_download_bytes : int
        A download larger than this fails (the row becomes null with a message).
    download_timeout : float
        Seconds allowed per download (connect + read), including retries' waits.
    download_retries : int
        Retries of a download that failed with a transient error (connection, 429, 5xx).
    max_image_pixels : int
        Width × height cap checked from the header before decoding (Pillow's default
        ``MAX_IMAGE_PIXELS``), against decompression bombs.
    max_video_frames : int
        The most frames one video row may yield (``video.frames``, ``video.shots``).
    max_video_duration : float
        Seconds; longer videos are refused by frame-decoding functions.
    max_audio_duration : float
        Seconds; longer audio is refused by ``audio.decode``/``audio.segment``.
    kernel_threads : int or None
        Threads a media kernel uses inside one batch (None: ``os.cpu_count()``).
    """

    allowed_url_schemes: tuple[str, ...] = ("", "file", "http", "https", "s3", "gs", "gcs", "az", "abfs", "hf")
    max_download_bytes: int = 1 << 30
    download_timeout: float = 30.0
    download_retries: int = 3
    max_image_pixels: int = 89_478_485
    max_video_frames: int = 100_000
    max_video_duration: float = 6 * 3600.0
    max_audio_duration: float = 6 * 3600.0
    kernel_threads: int | None = None


_lock = threading.Lock()
_current = Config()


def get_config() -> Config:
    """The settings in force now."""
    return _current


def set_config(**changes: Any) -> Config:
    """Replace settings for the rest of the process; returns the previous :class:`Config`."""
    global _current
    with _lock:
        previous = _current
        _current = _replace(previous, changes)
    return previous


def _replace(cfg: Config, changes: dict[str, Any]) -> Config:
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known settings: {sorted(names)}")
    if "allowed_url_schemes" in changes:
        changes = {**changes, "allowed_url_schemes": tuple(s.lower() for s in changes["allowed_url_schemes"])}
    return dataclasses.replace(cfg, **changes)


@contextmanager
def override(**changes: Any) -> Iterator[Config]:
    """Apply ``changes`` inside a ``with`` block, then restore the previous settings."""
    global _current
    previous = set_config(**changes)
    try:
        yield _current
    finally:
        with _lock:
            _current = previous


class _ConfigProxy:
    """``th.config``: read settings as attributes, call it to override them in a block."""

    def __call__(self, **changes: Any) -> Any:
        return override(**changes)

    def set(self, **changes: Any) -> Config:
        return set_config(**changes)

    def get(self) -> Config:
        return get_config()

    def __getattr__(self, name: str) -> Any:
        return getattr(get_config(), name)

    def __repr__(self) -> str:
        return repr(get_config())


config = _ConfigProxy()
