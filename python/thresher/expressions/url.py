"""``expr.url``: fetch the bytes a path or url points to.

Examples
--------
>>> from thresher import col
>>> col("u").url.download(max_connections=8)
col("u").url.download(max_connections=8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import FunctionSpec, expect, register
from thresher.io.config import IOConfig, resolve_io_config


def _download(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.is_string() or f.dtype.is_null(), "string (a path or url)", "url.download")
    mc = opts.get("max_connections", 32)
    if not isinstance(mc, int) or mc < 1:
        raise ThresherTypeError(f"url.download: max_connections must be a positive integer, got {mc!r}")
    if opts.get("on_error", "null") not in ("null", "raise", "column"):
        raise ThresherTypeError(f"url.download: on_error must be 'null' or 'raise', got {opts.get('on_error')!r}")
    return DataType.file()


register(FunctionSpec("url.download", _download, "io", True, ("url_download",)))


class UrlNamespace:
    """Url functions, reached as ``expr.url``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def download(self, max_connections: int = 32, on_error: str = "null", timeout: float = 30.0,
                 max_bytes: int | None = None, io_config: IOConfig | None = None) -> Expr:
        """Fetch each path/url as a ``file`` column of bytes.

        Parameters
        ----------
        max_connections : int
            HTTP requests in flight at once (per batch).
        on_error : {"null", "raise"}
            A missing file, a 404, a timeout or a refused scheme becomes null plus an error
            message, or raises naming the row and the url.
        timeout : float
            Seconds per url, retries included.
        max_bytes : int, optional
            Refuse larger downloads (never more than ``th.config.max_download_bytes``).
        io_config : IOConfig, optional
            Credentials, endpoints and HTTP headers (default: ``th.set_io_config``'s when the
            expression is built, so it travels with the plan to Ray workers).

        Local paths, ``file://``, ``http(s)://`` and object stores (``s3://``, ``gs://``, ``az://``,
        ``hf://`` through :mod:`thresher.io.fs`) are fetched if their scheme is in
        ``th.config.allowed_url_schemes``.

        Examples
        --------
        >>> from thresher import col
        >>> col("path").url.download().image.decode()
        col("path").url.download().image.decode()
        """
        opts: tuple[tuple[str, Any], ...] = (("max_connections", max_connections), ("on_error", on_error),
                                             ("timeout", float(timeout)), ("max_bytes", max_bytes))
        cfg = resolve_io_config(io_config)
        if cfg != IOConfig():  # only a non-default config shows in the plan
            opts += (("io_config", cfg),)
        return Call("url.download", (self._expr,), opts)
