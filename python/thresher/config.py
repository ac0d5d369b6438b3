"""Process-wide settings that guard untrusted input: url schemes, download caps, pixel and frame caps.

Settings are one immutable :class:`Config`. ``th.config`` is this module, and it is callable:

- ``th.config(max_download_bytes="64MB")`` changes settings from now on;
- ``with th.config(max_image_pixels=10_000): ...`` changes them for the block only;
- ``th.config.max_download_bytes`` reads one (``th.config.max_download_bytes = ...`` sets it).

Every name and value is checked at the call (an unknown name gets a did-you-mean). Overrides are
process-global (not per thread), because kernels run in worker threads; an executor that ships
work to other processes sends :func:`get_config` along with the plan.

Examples
--------
>>> import thresher as th
>>> th.config.max_image_pixels
89478485
>>> with th.config(max_image_pixels=1000):
...     th.config.max_image_pixels
1000
>>> th.config.max_image_pixels
89478485
>>> th.config(max_downlod_bytes=1)
Traceback (most recent call last):
...
thresher.errors.SettingError: unknown setting 'max_downlod_bytes' (did you mean 'max_download_bytes'?); settings: allowed_url_schemes, download_retries, download_timeout, kernel_threads, max_audio_duration, max_download_bytes, max_image_pixels, max_video_duration, max_video_frames
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from thresher.errors import SettingError


@dataclass(frozen=True)
class Config:
    """Limits applied by media and url kernels.

    Parameters
    ----------
    allowed_url_schemes : tuple of str
        Schemes ``url.download`` may fetch. ``""`` stands for plain local paths.
    max_download_bytes : int or str
        Bytes (``"64MB"`` is accepted). A download larger than this fails (the row becomes null with a message).
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


def did_you_mean(name: str, known: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    import difflib  # (only for a misspelt name)

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_SIZE_UNITS = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "K": 1 << 10, "M": 1 << 20,
               "G": 1 << 30, "T": 1 << 40, "B": 1}


def parse_size(name: str, value: Any) -> int:
    """Bytes from an int or a string like ``"512MB"``/``"1.5GiB"``; anything else raises naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SettingError(f"{name} must be a number of bytes or a size like '512MB', got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        s = value.strip().upper().replace("IB", "B").replace(" ", "")
        n = -1
        for unit, mult in _SIZE_UNITS.items():
            if s.endswith(unit):
                try:
                    n = int(float(s[: -len(unit)]) * mult)
                except ValueError:
                    n = -1
                break
        else:
            n = int(s) if s.isdigit() else -1
        if n < 0:
            raise SettingError(f"{name} must be a number of bytes or a size like '512MB', got {value!r}")
    if n <= 0:
        raise SettingError(f"{name} must be positive, got {value!r}")
    return n


def _positive_int(name: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SettingError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return v


def _positive_float(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise SettingError(f"{name} must be a positive number of seconds, got {v!r}")
    return float(v)


def _schemes(name: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str) or not all(isinstance(x, str) for x in v):
        raise SettingError(f"{name} must be a list of scheme names like ['https', 's3'], got {v!r}")
    return tuple(x.lower() for x in v)


def _threads(name: str, v: Any) -> int | None:
    return None if v is None else _positive_int(name, v)


_CHECKS: dict[str, Any] = {
    "allowed_url_schemes": _schemes,
    "max_download_bytes": parse_size,
    "download_timeout": _positive_float,
    "download_retries": lambda n, v: _positive_int(n, v, minimum=0),
    "max_image_pixels": _positive_int,
    "max_video_frames": _positive_int,
    "max_video_duration": _positive_float,
    "max_audio_duration": _positive_float,
    "kernel_threads": _threads,
}


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
    names = [f.name for f in dataclasses.fields(Config)]
    for key in changes:
        if key not in names:
            raise SettingError(f"unknown setting {key!r}{did_you_mean(key, names)}; settings: {', '.join(sorted(names))}")
    checked = {k: _CHECKS[k](k, v) for k, v in changes.items()}
    return dataclasses.replace(cfg, **checked)


class ConfigOverride:
    """What ``th.config(...)`` returns: the changes are already applied; as a context manager it
    restores the settings that were in force before the call when the block ends."""

    def __init__(self, changes: dict[str, Any]) -> None:
        self.previous = set_config(**changes)
        self.changes = changes

    def __enter__(self) -> Config:
        return _current

    def __exit__(self, *exc: object) -> None:
        global _current
        with _lock:
            _current = self.previous

    def __repr__(self) -> str:
        return f"th.config({', '.join(f'{k}={v!r}' for k, v in self.changes.items())})"


@contextmanager
def override(**changes: Any) -> Iterator[Config]:
    """Apply ``changes`` inside a ``with`` block, then restore the previous settings."""
    with ConfigOverride(changes) as cfg:
        yield cfg


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


class _ConfigProxy:
    """``th.config``: read settings as attributes, call it to change them (or in a ``with`` block)."""

    def __call__(self, **changes: Any) -> ConfigOverride:
        return ConfigOverride(changes)

    def set(self, **changes: Any) -> Config:
        return set_config(**changes)

    def get(self) -> Config:
        return get_config()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in _field_names():
            raise AttributeError(f"unknown setting {name!r}{did_you_mean(name, _field_names())}")
        return getattr(get_config(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        set_config(**{name: value})

    def __dir__(self) -> list[str]:
        return ["get", "set", *_field_names()]

    def __repr__(self) -> str:
        return repr(get_config())


config = _ConfigProxy()


class _ConfigModule(types.ModuleType):
    """The module ``thresher.config`` itself behaves as :data:`config` (``th.config(...)``)."""

    def __call__(self, **changes: Any) -> ConfigOverride:
        return ConfigOverride(changes)

    def __getattr__(self, name: str) -> Any:
        if name in _field_names():
            return getattr(get_config(), name)
        if name.startswith("__"):  # a probe (``from thresher.config import x`` asks for __path__): no suggestion
            raise AttributeError(f"module 'thresher.config' has no attribute {name!r}")
        raise AttributeError(f"module 'thresher.config' has no attribute {name!r}{did_you_mean(name, _field_names())}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _field_names():
            set_config(**{name: value})
        else:
            super().__setattr__(name, value)

    def __repr__(self) -> str:
        return repr(get_config())


sys.modules[__name__].__class__ = _ConfigModule
