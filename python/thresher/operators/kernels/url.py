"""``url.download``: fetch local paths, ``file://``, ``http(s)://`` and object-store urls as bytes.

HTTP downloads run on one asyncio loop with ``httpx`` and at most ``max_connections`` requests in
flight; transient failures (connection errors, 429, 5xx) are retried with exponential backoff inside
the per-url time limit. Every download is capped in bytes (``max_bytes`` or
``th.config.max_download_bytes``) and time (``timeout``), and only the schemes in
``th.config.allowed_url_schemes`` are fetched. Object stores (``s3://``, ``gs://``, ``az://``,
``hf://``) go through :mod:`thresher.io.fs` with the expression's ``io_config``.

Examples
--------
>>> import pyarrow as pa, tempfile, os
>>> from thresher.operators.kernels.registry import get_kernel
>>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
>>> _ = open(path, "wb").write(b"hello")
>>> get_kernel("url.download")([pa.array([path, None])], {}).values.to_pylist()
[b'hello', None]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.config import get_config
from thresher.datatypes import DataType
from thresher.io import fs
from thresher.io.config import IOConfig
from thresher.operators.kernels.base import (
    KernelOutput,
    RowError,
    binary_array,
    on_error_option,
    parallel_map,
    storage_of,
)
from thresher.operators.kernels.registry import kernel

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")  # ~5 MiB, for http(s) only: a local file never starts an event loop


class DownloadError(Exception):
    """A url could not be fetched (the message says why)."""


def url_scheme(url: str) -> str:
    """The lower-case scheme of ``url``; ``""`` for a plain path (including ``C:\\...``)."""
    scheme = urlsplit(url).scheme.lower()
    return "" if len(scheme) <= 1 else scheme


def _read_local(path: str, max_bytes: int) -> bytes:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise DownloadError(f"{size} bytes exceeds max_bytes={max_bytes}")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DownloadError(f"more than max_bytes={max_bytes} bytes")
    return data


def _local_path(url: str) -> str:
    if url.lower().startswith("file://"):
        return unquote(urlsplit(url).path)
    if url.lower().startswith("file:"):
        return unquote(url[5:])
    return url


def locate(url: str, max_bytes: int | None = None, timeout: float | None = None,
           io_config: IOConfig | None = None) -> str | bytes:
    """What ``url.download`` would fetch for one url, without reading local files into memory.

    A local path or ``file://`` url comes back as a checked path (scheme allowed, a regular file,
    at most ``max_bytes``) for the caller to stream from disk; any other url is downloaded and its
    bytes returned. Raises :class:`DownloadError` where ``url.download`` gives null.
    """
    cfg = get_config()
    cap = int(min(max_bytes, cfg.max_download_bytes) if max_bytes is not None else cfg.max_download_bytes)
    scheme = url_scheme(url)
    if scheme not in set(cfg.allowed_url_schemes):
        raise DownloadError(f"url scheme {scheme or '<local path>'!r} is not allowed")
    if scheme in ("", "file"):
        path = _local_path(url)
        if not os.path.isfile(path):
            raise DownloadError(f"no such file: {path}")
        size = os.path.getsize(path)
        if size > cap:
            raise DownloadError(f"{size} bytes exceeds max_bytes={cap}")
        return path
    out = download([url], max_connections=1, timeout=timeout, max_bytes=max_bytes, on_error="raise",
                   io_config=io_config)
    data = out.values.storage[0].as_py()
    if data is None:
        raise DownloadError(f"could not fetch {url}")
    return bytes(data)


def _read_local_many(paths: list[str], max_bytes: int) -> list[Any]:
    """Read local files: sizes first, then each file straight into its slice of one buffer.

    Returns, per path, a memoryview of its bytes or the exception that stopped it. Reads run in
    a few chunks on the kernel pool (``readinto`` releases the GIL); no per-file ``bytes`` object is
    made, and the buffer is the one the Arrow array will own.
    """
    sizes: list[int] = []
    for p in paths:
        try:
            sizes.append(os.stat(p).st_size)
        except OSError:
            sizes.append(0)  # the read below reports the error
    total = sum(s for s in sizes if s <= max_bytes)
    buf = memoryview(bytearray(total))
    slots: list[tuple[str, int, int]] = []
    pos = 0
    for p, size in zip(paths, sizes):
        size = size if size <= max_bytes else -size  # too large: refused without reading
        slots.append((p, pos, size))
        pos += max(size, 0)

    def read(slot: tuple[str, int, int]) -> Any:
        p, start, size = slot
        if size < 0:
            raise DownloadError(f"{-size} bytes exceeds max_bytes={max_bytes}")
        with open(p, "rb") as f:
            got = f.readinto(buf[start:start + size]) if size else 0
            if got != size or f.read(1):
                return _read_local(p, max_bytes)  # the file changed since stat: read it whole
        return buf[start:start + size]

    vals, _ = parallel_map(_Guard(read), slots, on_error="null", what="url.download")
    return vals


class _Guard:
    """Turns an exception into a returned value, so the caller keeps each row's exception."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        try:
            return self.fn(item)
        except Exception as exc:  # noqa: BLE001 - recorded per row by the caller
            return exc


def _read_object_store(url: str, max_bytes: int, io_config: IOConfig | None = None) -> bytes:
    try:
        return fs.read_bytes(url, io_config, max_bytes=max_bytes)
    except fs.StorageError as exc:
        raise DownloadError(str(exc)) from None


_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


async def _fetch_http(client: Any, sem: asyncio.Semaphore, url: str, max_bytes: int, retries: int) -> bytes:
    import random

    import httpx

    attempt = 0
    while True:
        try:
            async with sem:
                async with client.stream("GET", url) as resp:
                    if resp.status_code >= 400:
                        if resp.status_code in _RETRY_STATUS and attempt < retries:
                            raise _Retry(f"HTTP {resp.status_code}")
                        raise DownloadError(f"HTTP {resp.status_code} {resp.reason_phrase}")
                    length = resp.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > max_bytes:
                        raise DownloadError(f"Content-Length {length} exceeds max_bytes={max_bytes}")
                    chunks, total = [], 0
                    async for chunk in resp.aiter_bytes():
                        total += len(chunk)
                        if total > max_bytes:
                            raise DownloadError(f"more than max_bytes={max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
        except (_Retry, httpx.TransportError) as exc:
            if attempt >= retries or isinstance(exc, httpx.UnsupportedProtocol):
                raise DownloadError(f"{type(exc).__name__}: {exc}") from exc
        attempt += 1
        await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


class _Retry(Exception):
    pass


async def _fetch_all(urls: Sequence[tuple[int, str]], max_connections: int, timeout: float, max_bytes: int,
                     retries: int, headers: dict[str, str] | None = None) -> dict[int, Any]:
    import httpx

    sem = asyncio.Semaphore(max(1, max_connections))
    limits = httpx.Limits(max_connections=max(1, max_connections), max_keepalive_connections=max(1, max_connections))
    out: dict[int, Any] = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits, follow_redirects=True,
                                 headers=headers or None) as client:

        async def one(i: int, url: str) -> None:
            try:
                out[i] = await asyncio.wait_for(_fetch_http(client, sem, url, max_bytes, retries), timeout)
            except asyncio.TimeoutError:
                out[i] = DownloadError(f"timed out after {timeout} s")
            except Exception as exc:  # noqa: BLE001 - recorded per row
                out[i] = exc

        await asyncio.gather(*(one(i, u) for i, u in urls))
    return out


def _run_async(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # called from inside an event loop (a notebook): run ours on a helper thread
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=target, name="thresher-download")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def download(urls: Sequence[str | None], *, max_connections: int = 32, timeout: float | None = None,
             max_bytes: int | None = None, on_error: str = "null", io_config: IOConfig | None = None) -> KernelOutput:
    """Fetch every url; see the module docstring. Returns a ``file`` array plus per-row errors."""
    cfg = get_config()
    timeout = float(timeout if timeout is not None else cfg.download_timeout)
    max_bytes = int(min(max_bytes, cfg.max_download_bytes) if max_bytes is not None else cfg.max_download_bytes)
    allowed = set(cfg.allowed_url_schemes)
    results: list[Any] = [None] * len(urls)
    http: list[tuple[int, str]] = []
    other: list[str | None] = [None] * len(urls)
    for i, url in enumerate(urls):
        if url is None:
            continue
        scheme = url_scheme(url)
        if scheme not in allowed:
            shown = sorted(s or "<local path>" for s in allowed)
            results[i] = DownloadError(f"url scheme {scheme or '<local path>'!r} is not allowed; allowed: {shown}")
        elif scheme in ("http", "https"):
            http.append((i, url))
        else:
            other[i] = url

    local = [i for i, u in enumerate(other) if u is not None and url_scheme(u) in ("", "file")]
    if local:
        for i, r in zip(local, _read_local_many([_local_path(other[i]) for i in local], max_bytes)):  # type: ignore[arg-type]
            results[i] = r
            other[i] = None
    if any(u is not None for u in other):
        # object reads wait on the network, not the CPU: as many in flight as max_connections
        vals, errs = parallel_map(lambda u: _read_object_store(u, max_bytes, io_config), other, on_error="null",
                                  what="url.download", sources=other, threads=max(1, max_connections))
        for i, u in enumerate(other):
            if u is not None:
                results[i] = vals[i] if errs is None or errs[i].as_py() is None else _Message(errs[i].as_py())
    if http:
        headers = io_config.http.all_headers() if io_config is not None else {}
        retries = max(cfg.download_retries, io_config.http.num_tries - 1) if io_config is not None \
            else cfg.download_retries
        fetched = _run_async(_fetch_all(http, max_connections, timeout, max_bytes, retries, headers))
        for i, v in fetched.items():
            results[i] = v
    values: list[Any] = [None] * len(urls)
    errors: list[str | None] = [None] * len(urls)
    for i, r in enumerate(results):
        if isinstance(r, (bytes, bytearray, memoryview)):
            values[i] = r
        elif r is not None:
            msg = r.text if isinstance(r, _Message) else \
                f"url.download failed on row {i} ({urls[i]}): {type(r).__name__}: {r}"
            if on_error == "raise":
                raise RowError(msg) from (r if isinstance(r, BaseException) else None)
            errors[i] = msg
    storage = binary_array(values)
    err_arr = pa.array(errors, pa.large_string()) if any(e is not None for e in errors) else None
    return KernelOutput(pa.ExtensionArray.from_storage(DataType.file().to_arrow(), storage), err_arr)


class _Message:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


@kernel("url.download")
def download_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    urls = storage_of(args[0]).cast(pa.large_string()).to_pylist()
    out = download(urls, max_connections=int(options.get("max_connections", 32)), timeout=options.get("timeout"),
                   max_bytes=options.get("max_bytes"), on_error=on_error_option(options),
                   io_config=options.get("io_config"))
    return out
