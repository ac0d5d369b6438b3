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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.config import get_config
from thresher.datatypes import DataType
from thresher.errors import ThresherExecutionError
from thresher.operators.kernels.base import (  # noqa: F401 - shared helpers, re-exported for the other kernels
    KernelOutput,
    RowError,
    binary_array,
    binary_views,
    kernel_threads,
    numpy_array,
    on_error_option,
    parallel_map,
    sources_option,
    storage_of,
)
from thresher.operators.kernels.registry import kernel

CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")

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


RawImage = tuple  # (width, height, mode, pixels): pixels any C-contiguous buffer of HWC uint8


def raw_image(im: Any) -> tuple[int, int, str, Any]:
    """``(width, height, mode, pixels)`` of a Pillow image or an HWC ndarray (pixels copied once).

    Kernels call this on their worker threads, so the copy out of Pillow runs in parallel too.
    """
    if isinstance(im, np.ndarray):
        h, w = im.shape[:2]
        c = 1 if im.ndim == 2 else im.shape[2]
        return w, h, {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c], np.ascontiguousarray(im, dtype=np.uint8)
    if isinstance(im, tuple):
        return im
    w, h = im.size
    return w, h, im.mode, im.tobytes()


def images_to_arrow(images: Sequence[Any], dtype: DataType | None = None) -> pa.Array:
    """Build an image extension array from Pillow images, ``(h, w, c)`` ndarrays, raw tuples, or None.

    A raw tuple is ``(width, height, mode, pixels)`` (see :func:`raw_image`). The pixel buffers are
    copied once, into one exact-size Arrow buffer.
    """
    raws = [None if im is None else raw_image(im) for im in images]
    n = len(raws)
    ws = np.fromiter((0 if r is None else r[0] for r in raws), dtype=np.int32, count=n)
    hs = np.fromiter((0 if r is None else r[1] for r in raws), dtype=np.int32, count=n)
    valid = np.fromiter((r is not None for r in raws), dtype=bool, count=n)
    storage = pa.StructArray.from_arrays(
        [numpy_array(ws), numpy_array(hs), pa.array(["" if r is None else r[2] for r in raws], pa.string()),
         binary_array([b"" if r is None else r[3] for r in raws])],
        names=["width", "height", "mode", "data"],
        mask=None if valid.all() else numpy_array(~valid),
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


def _check_pixels(w: int, h: int) -> None:
    cap = get_config().max_image_pixels
    if cap and w * h > cap:
        raise ValueError(f"image of {w}x{h} = {w * h} pixels exceeds max_image_pixels={cap} "
                         "(possible decompression bomb)")


def _jpeg_header(data: bytes | memoryview, mode: str | None) -> tuple[Any, int, int, str] | None:
    """``(simplejpeg, width, height, output mode)`` when libjpeg-turbo can decode ``data`` directly.

    That path reads the header and decodes with the GIL released (Pillow's JPEG plugin parses the
    header in Python and unpacks RGB to its 4-byte layout under the GIL).
    """
    if mode not in (None, "RGB", "L") or len(data) < 4 or bytes(data[:2]) != b"\xff\xd8":
        return None
    sj = _simplejpeg()
    if sj is None:
        return None
    try:
        h, w, colorspace, _ = sj.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in ("Gray", "YCbCr", "RGB"):
        return None  # CMYK/YCCK: Pillow converts those
    _check_pixels(w, h)
    return sj, w, h, mode or ("L" if colorspace == "Gray" else "RGB")


def _sj_decode(sj: Any, data: bytes | memoryview, out_mode: str, min_w: int = 0, min_h: int = 0) -> np.ndarray:
    arr = sj.decode_jpeg(data, colorspace="GRAY" if out_mode == "L" else "RGB", min_width=min_w, min_height=min_h)
    return arr[..., 0] if out_mode == "L" else arr


def decode_raw(data: bytes | memoryview, mode: str | None = None) -> tuple[int, int, str, Any]:
    """Decode to ``(width, height, mode, pixels)`` (JPEG through libjpeg-turbo when installed)."""
    head = _jpeg_header(data, mode)
    if head is not None:
        sj, _, _, out_mode = head
        return raw_image(_sj_decode(sj, data, out_mode))
    return raw_image(decode_one(data, mode))


def decode_resize_one(data: bytes | memoryview, width: int, height: int, mode: str | None = None,
                      keep_aspect: bool = False, resample: str = "bilinear", use_simplejpeg: bool = True) -> Any:
    """Decode at a reduced JPEG DCT scale (≥ the target size), then resize to exactly the target.

    Returns a Pillow image. JPEGs in RGB/grey go through libjpeg-turbo's scaled decode (M/8 scales,
    the smallest at least the target), wrapped without a copy for Pillow's resize; every step
    releases the GIL. Other input goes through Pillow's ``draft`` (1/2, 1/4, 1/8 scales).
    """
    from PIL import Image

    flt = _pil_filter(resample)
    head = _jpeg_header(data, mode) if use_simplejpeg else None
    if head is not None:
        sj, w0, h0, out_mode = head
        tw, th = fit_size(w0, h0, width, height, keep_aspect)
        arr = _sj_decode(sj, data, out_mode, tw, th)
        ah, aw = arr.shape[:2]
        if out_mode == "L":
            small = Image.frombuffer("L", (aw, ah), arr, "raw", "L", 0, 1)
        else:
            small = Image.frombuffer("RGB", (aw, ah), arr, "raw", "RGB", 0, 1)
        return small if small.size == (tw, th) else small.resize((tw, th), flt)
    im = open_checked(data)
    tw, th = fit_size(im.size[0], im.size[1], width, height, keep_aspect)
    if im.format == "JPEG":
        im.draft(mode if mode in ("RGB", "L") else im.mode, (tw, th))
    im.load()
    im = _normalize_mode(im, mode)
    return im if im.size == (tw, th) else im.resize((tw, th), flt)


def encoder(fmt: str, quality: int) -> Callable[[Any], bytes]:
    """A function that encodes a Pillow image or a raw image tuple as ``fmt`` bytes.

    JPEG goes through libjpeg-turbo (simplejpeg) when installed; alpha is dropped for JPEG.
    """
    fmt = fmt.lower()
    if fmt not in ("jpeg", "jpg", "png", "webp"):
        raise ThresherExecutionError(f"image.encode: format must be jpeg, png or webp, got {fmt!r}")
    sj = _simplejpeg() if fmt in ("jpeg", "jpg") else None
    pil_format = {"jpg": "JPEG"}.get(fmt, fmt.upper())

    def encode(im: Any) -> bytes:
        if isinstance(im, tuple):
            im = view_to_pil(im) if im[2] in ("L", "RGBA") or sj is None or fmt not in ("jpeg", "jpg") \
                else np.frombuffer(im[3], dtype=np.uint8).reshape(im[1], im[0], CHANNELS[im[2]])
        if fmt in ("jpeg", "jpg") and not isinstance(im, np.ndarray) and im.mode in ("LA", "RGBA"):
            im = im.convert("L" if im.mode == "LA" else "RGB")  # JPEG has no alpha
        if sj is not None:
            arr = im if isinstance(im, np.ndarray) else np.asarray(im)
            grey = arr.ndim == 2 or arr.shape[2] == 1
            arr = arr.reshape(arr.shape[0], arr.shape[1], 1 if grey else 3)
            return bytes(sj.encode_jpeg(np.ascontiguousarray(arr), quality=quality,
                                        colorspace="GRAY" if grey else "RGB", colorsubsampling="420"))
        buf = io.BytesIO()
        im.save(buf, format=pil_format, quality=quality)
        return buf.getvalue()

    return encode


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


def _errors_what(name: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"on_error": on_error_option(options), "what": name}


@kernel("image.decode")
def decode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    mode = options.get("mode")
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: decode_raw(b, mode), views, sources=sources_option(options, len(views)),
                               **_errors_what("image.decode", options))
    return KernelOutput(images_to_arrow(out, DataType.image(mode=mode)), errors)


def _decode_resize_options(options: dict[str, Any]) -> tuple[int, int, str | None, bool, str]:
    w, h = int(options["width"]), int(options["height"])
    flt = options.get("filter", "bilinear")
    _pil_filter(flt)
    return w, h, options.get("mode"), bool(options.get("keep_aspect", False)), flt


@kernel("image.decode_resize")
def decode_resize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    w, h, mode, keep, flt = _decode_resize_options(options)
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: raw_image(decode_resize_one(b, w, h, mode, keep, flt)), views,
                               sources=sources_option(options, len(views)),
                               **_errors_what("image.decode_resize", options))
    shape = None if keep else (h, w)
    return KernelOutput(images_to_arrow(out, DataType.image(mode=mode, shape=shape)), errors)


@kernel("image.decode_resize_encode")
def decode_resize_encode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    """Encoded bytes → decode at a reduced scale → resize → encode, per item, no pixels in Arrow."""
    w, h, mode, keep, flt = _decode_resize_options(options)
    enc = encoder(str(options.get("format", "jpeg")), int(options.get("quality", 90)))
    views = binary_views(args[0])
    out, errors = parallel_map(lambda b: enc(decode_resize_one(b, w, h, mode, keep, flt)), views,
                               sources=sources_option(options, len(views)),
                               **_errors_what("image.decode_resize_encode", options))
    return KernelOutput(binary_array(out), errors)


def _image_map(name: str, args: Sequence[pa.Array], options: dict[str, Any], fn: Callable[[Any], Any],
               dtype: DataType) -> KernelOutput:
    items = image_views(args[0])
    out, errors = parallel_map(lambda it: raw_image(fn(it)), items, sources=sources_option(options, len(items)),
                               **_errors_what(name, options))
    return KernelOutput(images_to_arrow(out, dtype), errors)


@kernel("image.resize")
def resize_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    w, h = int(options["width"]), int(options["height"])
    keep = bool(options.get("keep_aspect", False))
    flt = _pil_filter(options.get("filter", "bilinear"))

    def one(item: tuple[int, int, str, memoryview]) -> Any:
        tw, th = fit_size(item[0], item[1], w, h, keep)
        if (tw, th) == (item[0], item[1]):
            return item
        return view_to_pil(item).resize((tw, th), flt)

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
        return view_to_pil(item).convert(mode) if item[2] != mode else item

    return _image_map("image.convert", args, options, one, image_type_like(args[0], mode=mode))


@kernel("image.encode")
def encode_kernel(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    enc = encoder(str(options.get("format", "jpeg")), int(options.get("quality", 90)))
    items = image_views(args[0])
    out, errors = parallel_map(enc, items, **_errors_what("image.encode", options))
    return KernelOutput(binary_array(out), errors)


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
