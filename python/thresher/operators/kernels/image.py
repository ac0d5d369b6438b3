"""Image kernels: decode, encode, resize, crop, thumbnail, convert, tensors, header reads, hashes.

Decoded images are stored as ``struct<width, height, mode, data>`` (HWC uint8). Kernels read the
pixel buffers zero-copy from Arrow (:func:`image_views`), work per item with Pillow (which releases
the GIL) on a small thread pool (:func:`parallel_map`), and catch failures per row.

``image.decode_resize`` is the fused decode→resize the optimizer substitutes: JPEGs are decoded at a
reduced DCT scale (simplejpeg's ``min_width``/``min_height`` when installed, else Pillow's
``draft``) and then resized to the exact size, which is several times cheaper than a full decode and
within ~1 dB PSNR of it (see ``tests/operators/kernels/test_image.py``).

This module also holds the per-item helpers the other media kernels share.

Examples
--------
>>> import pyarrow as pa
>>> from thresher.operators.kernels.registry import get_kernel
>>> from thresher.testing.media import make_jpeg
>>> out = get_kernel("image.width")([pa.array([make_jpeg(64, 48)], pa.large_binary())], {})
>>> out.values.to_pylist()
[64]
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.config import get_config
from thresher.datatypes import DataType
from thresher.errors import ThresherExecutionError
from thresher.operators.kernels.base import KernelOutput, RowError
from thresher.operators.kernels.registry import kernel

CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")

# --------------------------------------------------------------------------------------------
# Shared helpers (used by the video, audio and url kernels too)
# --------------------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def kernel_threads() -> int:
    """Threads a kernel may use inside one batch (``config.kernel_threads`` or the core count)."""
    return max(1, get_config().kernel_threads or os.cpu_count() or 1)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="thresher-kernel")
            _pool_size = n
        return _pool


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def parallel_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    on_error: str = "null",
    what: str = "value",
    sources: Sequence[Any] | None = None,
    threads: int | None = None,
) -> tuple[list[Any], pa.Array | None]:
    """Apply ``fn`` to each non-None item on a thread pool; catch failures per row.

    Returns the results (None for null or failed rows) and a ``large_string`` array of error
    messages (None when every row succeeded). With ``on_error="raise"`` the first failing row (in
    row order) raises :class:`RowError` naming the row and its source.

    Examples
    --------
    >>> vals, errs = parallel_map(lambda x: 10 // x, [1, None, 0], what="div")
    >>> vals
    [10, None, None]
    >>> errs.to_pylist()[2]
    'div failed on row 2: ZeroDivisionError: integer division or modulo by zero'
    """
    n_threads = threads or kernel_threads()

    def guarded(item: Any) -> Any:
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 - one bad row must not kill the job
            return _Failed(exc)

    idx = [i for i, it in enumerate(items) if it is not None]
    if n_threads > 1 and len(idx) > 1 and threading.current_thread().name.find("thresher-kernel") < 0:
        results = list(_get_pool(n_threads).map(guarded, [items[i] for i in idx]))
    else:
        results = [guarded(items[i]) for i in idx]
    out: list[Any] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    any_error = False
    for i, r in zip(idx, results):
        if isinstance(r, _Failed):
            src = f" ({sources[i]})" if sources is not None and sources[i] is not None else ""
            msg = f"{what} failed on row {i}{src}: {type(r.exc).__name__}: {r.exc}"
            if on_error == "raise":
                raise RowError(msg) from r.exc
            errors[i] = msg
            any_error = True
        else:
            out[i] = r
    return out, (pa.array(errors, type=pa.large_string()) if any_error else None)


def storage_of(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The storage array of ``arr`` (one chunk), whatever extension type wraps it."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    return arr


def binary_views(arr: pa.Array | pa.ChunkedArray) -> list[memoryview | None]:
    """Zero-copy views of each item of a (large_)binary/string array (None for nulls)."""
    arr = storage_of(arr)
    if pa.types.is_binary_view(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_binary())
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        arr = arr.cast(pa.large_binary())
    if not (pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)):
        raise ThresherExecutionError(f"expected binary data, got an array of {arr.type}")
    n = len(arr)
    if n == 0:
        return []
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
    return [
        data[s:e] if valid is None or valid[i] else None for i, (s, e) in enumerate(zip(starts, ends))
    ]


def sources_option(options: dict[str, Any], n: int) -> list[Any] | None:
    """Per-row source names (paths/urls) the caller passed as ``options["sources"]``, if any."""
    src = options.get("sources")
    if src is None:
        return None
    src = list(src.to_pylist() if hasattr(src, "to_pylist") else src)
    return src if len(src) == n else None


def on_error_option(options: dict[str, Any]) -> str:
    mode = options.get("on_error", "null")
    if mode not in ("null", "raise", "column"):
        raise ThresherExecutionError(f"on_error must be 'null', 'raise' or 'column', got {mode!r}")
    return str(mode)


# --------------------------------------------------------------------------------------------
# Image <-> Arrow
# --------------------------------------------------------------------------------------------


def image_views(arr: pa.Array | pa.ChunkedArray) -> list[tuple[int, int, str, memoryview] | None]:
    """``(width, height, mode, pixels)`` per row of an image array, pixels viewed zero-copy."""
    st = storage_of(arr)
    if not pa.types.is_struct(st.type):
        raise ThresherExecutionError(f"expected a decoded image array, got {arr.type}")
    widths, heights, modes, datas = st.flatten()  # applies the struct's offset and validity
    ws, hs, ms = widths.to_pylist(), heights.to_pylist(), modes.to_pylist()
    views = binary_views(datas)
    valid = st.is_valid().to_numpy(zero_copy_only=False) if st.null_count else None
    out: list[tuple[int, int, str, memoryview] | None] = []
    for i in range(len(st)):
        if (valid is not None and not valid[i]) or views[i] is None:
            out.append(None)
        else:
            out.append((ws[i], hs[i], ms[i], views[i]))  # type: ignore[arg-type]
    return out


def view_to_ndarray(item: tuple[int, int, str, memoryview]) -> np.ndarray:
    """HWC uint8 ndarray (read-only view) of one decoded image."""
    w, h, mode, data = item
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, CHANNELS[mode])


def view_to_pil(item: tuple[int, int, str, memoryview]) -> Any:
    """A Pillow image sharing the Arrow buffer (no copy)."""
    from PIL import Image

    w, h, mode, data = item
    return Image.frombuffer(mode, (w, h), data, "raw", mode, 0, 1)


def images_to_arrow(images: Sequence[Any], dtype: DataType | None = None) -> pa.Array:
    """Build an image extension array from Pillow images, ``(h, w, c)`` ndarrays, or None."""
    n = len(images)
    ws, hs, ms, ds = [0] * n, [0] * n, [""] * n, [b""] * n
    mask = [True] * n
    for i, im in enumerate(images):
        if im is None:
            continue
        if isinstance(im, np.ndarray):
            h, w = im.shape[:2]
            c = 1 if im.ndim == 2 else im.shape[2]
            ws[i], hs[i], ms[i] = w, h, {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
            ds[i] = np.ascontiguousarray(im, dtype=np.uint8).tobytes()
        else:
            ws[i], hs[i] = im.size
            ms[i] = im.mode
            ds[i] = im.tobytes()
        mask[i] = False
    storage = pa.StructArray.from_arrays(
        [pa.array(ws, pa.int32()), pa.array(hs, pa.int32()), pa.array(ms, pa.string()),
         pa.array(ds, pa.large_binary())],
        names=["width", "height", "mode", "data"],
        mask=pa.array(mask, pa.bool_()) if any(mask) else None,
    )
    target = (dtype or DataType.image()).to_arrow()
    return pa.ExtensionArray.from_storage(target, storage)


def image_type_like(arr: pa.Array | pa.ChunkedArray, mode: str | None = None, shape: Any = "keep") -> DataType:
    """The output image type: the input's params with ``mode``/``shape`` replaced."""
    params = dict(arr.type.params) if isinstance(arr.type, pa.ExtensionType) and hasattr(arr.type, "params") else {}
    m = mode if mode is not None else params.get("mode")
    s = params.get("shape") if shape == "keep" else shape
    return DataType.image(mode=m, shape=tuple(s) if s else None)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _pil_filter(name: str) -> Any:
    from PIL import Image

    if name not in FILTERS:
        raise ThresherExecutionError(f"unknown resize filter {name!r}; use one of {FILTERS}")
    return getattr(Image.Resampling, name.upper())


def open_checked(data: bytes | memoryview) -> Any:
    """``Image.open`` (header only) that refuses images over ``config.max_image_pixels``."""
    from PIL import Image

    if len(data) == 0:
        raise ValueError("empty input (0 bytes)")
    cap = get_config().max_image_pixels
    if cap and Image.MAX_IMAGE_PIXELS is not None and cap > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = cap  # our cap is the one in force; Pillow's would refuse first
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    if cap and w * h > cap:
        raise ValueError(
            f"image of {w}x{h} = {w * h} pixels exceeds max_image_pixels={cap} (possible decompression bomb)"
        )
    return im


def _normalize_mode(im: Any, mode: str | None) -> Any:
    if mode is not None:
        if mode not in CHANNELS:
            raise ValueError(f"unsupported image mode {mode!r}; use one of {sorted(CHANNELS)}")
        return im if im.mode == mode else im.convert(mode)
    if im.mode in CHANNELS:
        return im
    if im.mode == "P" and "transparency" in im.info:
        return im.convert("RGBA")
    if im.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
        return im.convert("L")
    if im.mode == "PA":
        return im.convert("RGBA")
    return im.convert("RGB")


def decode_one(data: bytes | memoryview, mode: str | None = None) -> Any:
    """Decode encoded bytes to a Pillow image in one of L/LA/RGB/RGBA (or ``mode``)."""
    im = open_checked(data)
    im.load()
    return _normalize_mode(im, mode)


def fit_size(w: int, h: int, tw: int, th: int, keep_aspect: bool) -> tuple[int, int]:
    """Target size; with ``keep_aspect`` the largest size within ``tw`` × ``th`` keeping w/h."""
    if not keep_aspect:
        return tw, th
    scale = min(tw / w, th / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _simplejpeg() -> Any | None:
    try:
        import simplejpeg
    except ImportError:  # optional extra "jpeg"
        return None
    return simplejpeg


def decode_resize_one(data: bytes | memoryview, width: int, height: int, mode: str | None = None,
                      keep_aspect: bool = False, resample: str = "bilinear", use_simplejpeg: bool = True) -> Any:
    """Decode at a reduced JPEG DCT scale (≥ the target size), then resize to exactly the target."""
    from PIL import Image

    flt = _pil_filter(resample)
    sj = _simplejpeg() if use_simplejpeg else None
    if sj is not None and mode in (None, "RGB", "L") and bytes(data[:2]) == b"\xff\xd8":
        # fast path without Pillow's (GIL-holding) header parser: libjpeg-turbo reads the header
        # and decodes at the smallest DCT scale >= the target, with the GIL released
        try:
            h0, w0, colorspace, _ = sj.decode_jpeg_header(data)
        except ValueError:
            colorspace = None
        if colorspace in ("Gray", "YCbCr", "RGB"):
            cap = get_config().max_image_pixels
            if cap and w0 * h0 > cap:
                raise ValueError(f"image of {w0}x{h0} = {w0 * h0} pixels exceeds max_image_pixels={cap} "
                                 "(possible decompression bomb)")
            out_mode = mode or ("L" if colorspace == "Gray" else "RGB")
            tw, th = fit_size(w0, h0, width, height, keep_aspect)
            arr = sj.decode_jpeg(data, colorspace="GRAY" if out_mode == "L" else "RGB", min_width=tw, min_height=th)
            small = Image.fromarray(arr[..., 0] if out_mode == "L" else arr)
            return small if small.size == (tw, th) else small.resize((tw, th), flt)
    im = open_checked(data)
    tw, th = fit_size(im.size[0], im.size[1], width, height, keep_aspect)
    if im.format == "JPEG":
        im.draft(mode if mode in ("RGB", "L") else im.mode, (tw, th))
    im.load()
    im = _normalize_mode(im, mode)
    return im if im.size == (tw, th) else im.resize((tw, th), flt)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


def _errors_what(name: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"on_error": on_error_option(options), "what": name}


@kernel("image.decode")
def decode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    mode = options.get("mode")
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: decode_one(b, mode), views, sources=sources_option(options, len(views)),
                               **_errors_what("image.decode", options))
    return KernelOutput(images_to_arrow(out, DataType.image(mode=mode)), errors)


@kernel("image.decode_resize")
def decode_resize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    w, h = int(options["width"]), int(options["height"])
    mode, keep = options.get("mode"), bool(options.get("keep_aspect", False))
    flt = options.get("filter", "bilinear")
    _pil_filter(flt)
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: decode_resize_one(b, w, h, mode, keep, flt), views,
                               sources=sources_option(options, len(views)),
                               **_errors_what("image.decode_resize", options))
    shape = None if keep else (h, w)
    return KernelOutput(images_to_arrow(out, DataType.image(mode=mode, shape=shape)), errors)


def _image_map(name: str, args: Sequence[pa.Array], options: dict[str, Any], fn: Callable[[Any], Any],
               dtype: DataType) -> KernelOutput:
    items = image_views(args[0])
    out, errors = parallel_map(fn, items, sources=sources_option(options, len(items)), **_errors_what(name, options))
    return KernelOutput(images_to_arrow(out, dtype), errors)


@kernel("image.resize")
def resize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    w, h = int(options["width"]), int(options["height"])
    keep = bool(options.get("keep_aspect", False))
    flt = _pil_filter(options.get("filter", "bilinear"))

    def one(item: tuple[int, int, str, memoryview]) -> Any:
        tw, th = fit_size(item[0], item[1], w, h, keep)
        im = view_to_pil(item)
        return im.resize((tw, th), flt) if (tw, th) != im.size else im.copy()

    return _image_map("image.resize", args, options, one, image_type_like(args[0], shape=None if keep else (h, w)))


@kernel("image.crop")
def crop_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    box = tuple(int(v) for v in options["box"])
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise ThresherExecutionError(f"image.crop: box must be (left, top, right, bottom) with right>left, "
                                     f"bottom>top; got {box}")
    shape = (box[3] - box[1], box[2] - box[0])
    return _image_map("image.crop", args, options, lambda it: view_to_pil(it).crop(box),
                      image_type_like(args[0], shape=shape))


@kernel("image.thumbnail")
def thumbnail_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    size = options.get("size", (128, 128))
    size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    flt = _pil_filter(options.get("filter", "bicubic"))

    def one(item: tuple[int, int, str, memoryview]) -> Any:
        im = view_to_pil(item).copy()
        im.thumbnail(size, flt)
        return im

    return _image_map("image.thumbnail", args, options, one, image_type_like(args[0], shape=None))


@kernel("image.convert")
def convert_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    mode = options["mode"]
    if mode not in CHANNELS:
        raise ThresherExecutionError(f"image.convert: unsupported mode {mode!r}; use one of {sorted(CHANNELS)}")

    def one(item: tuple[int, int, str, memoryview]) -> Any:
        im = view_to_pil(item)
        return im.convert(mode) if im.mode != mode else im.copy()

    return _image_map("image.convert", args, options, one, image_type_like(args[0], mode=mode))


@kernel("image.encode")
def encode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    fmt = str(options.get("format", "jpeg")).lower()
    if fmt not in ("jpeg", "jpg", "png", "webp"):
        raise ThresherExecutionError(f"image.encode: format must be jpeg, png or webp, got {fmt!r}")
    quality = int(options.get("quality", 90))
    sj = _simplejpeg() if fmt in ("jpeg", "jpg") else None

    def one(item: tuple[int, int, str, memoryview]) -> bytes:
        mode = item[2]
        if fmt in ("jpeg", "jpg") and mode in ("LA", "RGBA"):
            im = view_to_pil(item).convert("L" if mode == "LA" else "RGB")  # JPEG has no alpha
            mode = im.mode
            if sj is None:
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=quality)
                return buf.getvalue()
            arr = np.asarray(im)
        else:
            arr = view_to_ndarray(item)
        if sj is not None:
            return bytes(sj.encode_jpeg(np.ascontiguousarray(arr.reshape(arr.shape[0], arr.shape[1], -1)),
                                        quality=quality, colorspace="GRAY" if mode == "L" else "RGB",
                                        colorsubsampling="420"))
        buf = io.BytesIO()
        view_to_pil(item).save(buf, format={"jpg": "JPEG"}.get(fmt, fmt.upper()), quality=quality)
        return buf.getvalue()

    items = image_views(args[0])
    out, errors = parallel_map(one, items, **_errors_what("image.encode", options))
    return KernelOutput(pa.array(out, pa.large_binary()), errors)


def tensor_type_for(dtype: str, arr: pa.Array | pa.ChunkedArray) -> DataType:
    """Fixed-shape tensor when the image type pins mode and shape, else variable-shape."""
    params = arr.type.params if isinstance(arr.type, pa.ExtensionType) and hasattr(arr.type, "params") else {}
    mode, shape = params.get("mode"), params.get("shape")
    if mode in CHANNELS and shape:
        return DataType.tensor(dtype, (int(shape[0]), int(shape[1]), CHANNELS[mode]))
    return DataType.tensor(dtype)


def tensors_to_arrow(arrays: Sequence[np.ndarray | None], dtype: DataType) -> pa.Array:
    """Build a tensor extension array (fixed or variable shape per ``dtype``) from ndarrays."""
    target = dtype.to_arrow()
    st = target.storage_type
    value_type = st.value_type if pa.types.is_fixed_size_list(st) else st.field("data").type.value_type
    np_dtype = value_type.to_pandas_dtype()
    mask = np.array([a is None for a in arrays], dtype=bool)
    if pa.types.is_fixed_size_list(st):
        size = st.list_size
        flat = np.zeros(len(arrays) * size, dtype=np_dtype)
        for i, a in enumerate(arrays):
            if a is not None:
                if a.size != size:
                    raise ThresherExecutionError(f"tensor of {a.size} values on row {i} does not fit {dtype}")
                flat[i * size : (i + 1) * size] = a.ravel()
        storage = pa.FixedSizeListArray.from_arrays(pa.array(flat), size, mask=pa.array(mask) if mask.any() else None)
        return pa.ExtensionArray.from_storage(target, storage)
    sizes = np.array([0 if a is None else a.size for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.concatenate([a.ravel().astype(np_dtype, copy=False) for a in arrays if a is not None]) \
        if any(a is not None for a in arrays) else np.zeros(0, np_dtype)
    data = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(flat, value_type))
    shapes = pa.array([None if a is None else list(a.shape) for a in arrays], pa.list_(pa.int64()))
    storage = pa.StructArray.from_arrays([shapes, data], names=["shape", "data"],
                                         mask=pa.array(mask) if mask.any() else None)
    return pa.ExtensionArray.from_storage(target, storage)


@kernel("image.to_tensor")
def to_tensor_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    items = image_views(args[0])
    arrays = [None if it is None else view_to_ndarray(it) for it in items]
    return KernelOutput(tensors_to_arrow(arrays, tensor_type_for("uint8", args[0])))


def _fit_channels(v: np.ndarray, c: int, pad: float) -> np.ndarray:
    # L uses the first value, RGBA leaves alpha as (a - 0) / 1
    if v.size in (1, c):
        return v
    if v.size > c:
        return v[:c]
    return np.concatenate([v, np.full(c - v.size, pad, np.float32)])


@kernel("image.normalize")
def normalize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    mean = np.asarray(options.get("mean", (0.485, 0.456, 0.406)), dtype=np.float32)
    std = np.asarray(options.get("std", (0.229, 0.224, 0.225)), dtype=np.float32)
    scale = float(options.get("scale", 1 / 255))

    def one(item: tuple[int, int, str, memoryview]) -> np.ndarray:
        a = view_to_ndarray(item).astype(np.float32) * np.float32(scale)
        c = a.shape[2]
        return (a - _fit_channels(mean, c, 0.0)) / _fit_channels(std, c, 1.0)

    items = image_views(args[0])
    out, errors = parallel_map(one, items, **_errors_what("image.normalize", options))
    return KernelOutput(tensors_to_arrow(out, tensor_type_for("float32", args[0])), errors)


# ---- header reads (no pixel decoding for encoded input) ------------------------------------------


def _is_decoded(arr: pa.Array | pa.ChunkedArray) -> bool:
    return pa.types.is_struct(storage_of(arr).type)


def _header_kernel(name: str, field: str, out_type: pa.DataType, header: Callable[[Any], Any]) -> None:
    @kernel(name)
    def run(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
        arr = args[0]
        if _is_decoded(arr):
            st = storage_of(arr)
            if field == "format":
                return KernelOutput(pa.nulls(len(st), out_type))
            vals = st.flatten()[("width", "height", "mode").index(field)]
            return KernelOutput(vals.cast(out_type))
        views = binary_views(arr)
        out, errors = parallel_map(lambda b: header(open_checked_header(b)), views, threads=1,
                                   **_errors_what(name, options))
        return KernelOutput(pa.array(out, out_type), errors)


def open_checked_header(data: bytes | memoryview) -> Any:
    from PIL import Image

    if len(data) == 0:
        raise ValueError("empty input (0 bytes)")
    return Image.open(io.BytesIO(data))


_header_kernel("image.width", "width", pa.int32(), lambda im: im.size[0])
_header_kernel("image.height", "height", pa.int32(), lambda im: im.size[1])
_header_kernel("image.mode", "mode", pa.large_string(), lambda im: im.mode)
_header_kernel("image.format", "format", pa.large_string(), lambda im: (im.format or "").lower() or None)


# ---- perceptual hashes ---------------------------------------------------------------------------

_DCT32 = np.cos(np.pi * np.outer(np.arange(32), 2 * np.arange(32) + 1) / 64).astype(np.float64)


def _bits_to_u64(bits: np.ndarray) -> int:
    return int(np.packbits(bits.astype(np.uint8).ravel()).view(">u8")[0])


def phash_one(item: tuple[int, int, str, memoryview]) -> int:
    """DCT hash (as in ``imagehash.phash``): 32×32 grey, 8×8 lowest frequencies vs their median."""
    from PIL import Image

    g = np.asarray(view_to_pil(item).convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    dct = _DCT32 @ g @ _DCT32.T
    low = dct[:8, :8]
    return _bits_to_u64(low > np.median(low))


def dhash_one(item: tuple[int, int, str, memoryview]) -> int:
    """Difference hash: 9×8 grey, each pixel brighter than its left neighbour."""
    from PIL import Image

    g = np.asarray(view_to_pil(item).convert("L").resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_u64(g[:, 1:] > g[:, :-1])


@kernel("image.phash")
def phash_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    out, errors = parallel_map(phash_one, image_views(args[0]), **_errors_what("image.phash", options))
    return KernelOutput(pa.array(out, pa.uint64()), errors)


@kernel("image.dhash")
def dhash_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    out, errors = parallel_map(dhash_one, image_views(args[0]), **_errors_what("image.dhash", options))
    return KernelOutput(pa.array(out, pa.uint64()), errors)
