"""``expr.image``: decode, encode, resize, crop, convert, tensors, header reads and hashes.

Encoded images are ``binary``/``file`` columns (from ``url.download()`` or a reader); decoded ones
are ``image`` columns (HWC uint8 pixels). Pixel operations need a decoded image: call
``.image.decode()`` first (the optimizer fuses ``decode().resize()`` into one cheaper
``image.decode_resize``). Header reads (``width``, ``height``, ``mode``, ``format``) work on both and
never decode pixels of encoded input.

Examples
--------
>>> from thresher import col
>>> col("bytes").image.decode(mode="RGB").image.resize(224, 224)
col("bytes").image.decode(mode='RGB').image.resize(width=224, height=224)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import FunctionSpec, expect, register

MODES = ("L", "LA", "RGB", "RGBA")
FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def is_encoded(f: Field) -> bool:
    """Encoded bytes: binary, file, or null."""
    return f.dtype.is_binary() or f.dtype.kind == "file" or f.dtype.is_null()


def is_decoded(f: Field) -> bool:
    return f.dtype.kind == "image" or f.dtype.is_null()


def _need_decoded(f: Field, fn: str) -> None:
    if is_encoded(f) and not f.dtype.is_null():
        raise ThresherTypeError(
            f"{fn}: column {f.name!r} has type {f.dtype} (encoded bytes), expected a decoded image; "
            f"decode it first: col({f.name!r}).image.decode().image.{fn.split('.', 1)[1]}(...)"
        )
    expect(f, is_decoded(f), "image", fn)


def _need_encoded(f: Field, fn: str) -> None:
    expect(f, is_encoded(f), "binary or file (encoded image bytes)", fn)


def _check_mode(mode: Any, fn: str) -> None:
    if mode is not None and mode not in MODES:
        raise ThresherTypeError(f"{fn}: mode must be one of {MODES}, got {mode!r}")


def _check_filter(name: Any, fn: str) -> None:
    if name not in FILTERS:
        raise ThresherTypeError(f"{fn}: filter must be one of {FILTERS}, got {name!r}")


def _check_size(opts: dict[str, Any], fn: str) -> tuple[int, int]:
    w, h = opts.get("width"), opts.get("height")
    if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
        raise ThresherTypeError(f"{fn}: width and height must be positive integers, got {w!r} x {h!r}")
    return w, h


def _params(f: Field) -> dict[str, Any]:
    return f.dtype.params if f.dtype.kind == "image" else {}


def _image(mode: Any, shape: Any) -> DataType:
    return DataType.image(mode=mode, shape=tuple(shape) if shape else None)


# ---- type rules ----------------------------------------------------------------------------------


def _decode(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _need_encoded(args[0], "image.decode")
    _check_mode(opts.get("mode"), "image.decode")
    return DataType.image(mode=opts.get("mode"))


def _decode_resize(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _need_encoded(args[0], "image.decode_resize")
    _check_mode(opts.get("mode"), "image.decode_resize")
    _check_filter(opts.get("filter", "bilinear"), "image.decode_resize")
    w, h = _check_size(opts, "image.decode_resize")
    return _image(opts.get("mode"), None if opts.get("keep_aspect") else (h, w))


def _decode_resize_encode(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _decode_resize(args, opts)
    _encode(args, opts, need_decoded=False)
    return DataType.binary()


def _resize(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _need_decoded(args[0], "image.resize")
    _check_filter(opts.get("filter", "bilinear"), "image.resize")
    w, h = _check_size(opts, "image.resize")
    return _image(_params(args[0]).get("mode"), None if opts.get("keep_aspect") else (h, w))


def _crop(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _need_decoded(args[0], "image.crop")
    box = opts.get("box")
    if not (isinstance(box, (tuple, list)) and len(box) == 4 and box[2] > box[0] and box[3] > box[1]):
        raise ThresherTypeError(f"image.crop: box must be (left, top, right, bottom), got {box!r}")
    return _image(_params(args[0]).get("mode"), (box[3] - box[1], box[2] - box[0]))


def _same_mode(fn: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        _need_decoded(args[0], fn)
        return _image(_params(args[0]).get("mode"), None)

    return rule


def _convert(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _need_decoded(args[0], "image.convert")
    mode = opts.get("mode")
    if mode not in MODES:
        raise ThresherTypeError(f"image.convert: mode must be one of {MODES}, got {mode!r}")
    return _image(mode, _params(args[0]).get("shape"))


def _encode(args: Sequence[Field], opts: dict[str, Any], need_decoded: bool = True) -> DataType:
    if need_decoded:
        _need_decoded(args[0], "image.encode")
    fmt = str(opts.get("format", "jpeg")).lower()
    if fmt not in ("jpeg", "jpg", "png", "webp"):
        raise ThresherTypeError(f"image.encode: format must be 'jpeg', 'png' or 'webp', got {fmt!r}")
    return DataType.binary()


def _tensor(dtype: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        fn = "image.to_tensor" if dtype == "uint8" else "image.normalize"
        _need_decoded(args[0], fn)
        p = _params(args[0])
        mode, shape = p.get("mode"), p.get("shape")
        if mode in _CHANNELS and shape:
            return DataType.tensor(dtype, (int(shape[0]), int(shape[1]), _CHANNELS[mode]))
        return DataType.tensor(dtype)

    return rule


def _header(fn: str, out: DataType) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        expect(args[0], is_encoded(args[0]) or is_decoded(args[0]), "image, binary or file", fn)
        return out

    return rule


def _hash(fn: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        _need_decoded(args[0], fn)
        return DataType.uint64()

    return rule


for _spec in (
    FunctionSpec("image.decode", _decode, "decode", True, ("image_decode",)),
    FunctionSpec("image.decode_resize", _decode_resize, "decode", True, ("image_decode_resize",)),
    # encode(decode_resize(x)) in one kernel: per item bytes -> pixels -> bytes, no pixels in Arrow
    FunctionSpec("image.decode_resize_encode", _decode_resize_encode, "decode", True, ("image_decode_resize_encode",)),
    FunctionSpec("image.resize", _resize, "decode", True, ("image_resize",)),
    FunctionSpec("image.crop", _crop, "scalar", True, ("image_crop",)),
    FunctionSpec("image.thumbnail", _same_mode("image.thumbnail"), "decode", True, ("image_thumbnail",)),
    FunctionSpec("image.convert", _convert, "scalar", True, ("image_convert",)),
    FunctionSpec("image.encode", _encode, "decode", True, ("image_encode",)),
    FunctionSpec("image.to_tensor", _tensor("uint8"), "scalar", False, ("image_to_tensor",)),
    FunctionSpec("image.normalize", _tensor("float32"), "scalar", True, ("image_normalize",)),
    FunctionSpec("image.width", _header("image.width", DataType.int32()), "io", True, ("image_width",)),
    FunctionSpec("image.height", _header("image.height", DataType.int32()), "io", True, ("image_height",)),
    FunctionSpec("image.mode", _header("image.mode", DataType.string()), "io", True, ("image_mode",)),
    FunctionSpec("image.format", _header("image.format", DataType.string()), "io", True, ("image_format",)),
    FunctionSpec("image.phash", _hash("image.phash"), "decode", True, ("image_phash",)),
    FunctionSpec("image.dhash", _hash("image.dhash"), "decode", True, ("image_dhash",)),
):
    register(_spec)


class ImageNamespace:
    """Image functions, reached as ``expr.image``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def _call(self, name: str, **options: Any) -> Expr:
        return Call(f"image.{name}", (self._expr,), tuple(options.items()))

    def decode(self, mode: str | None = None, on_error: str = "null") -> Expr:
        """Decode encoded bytes (JPEG, PNG, WebP, ...) to pixels.

        Parameters
        ----------
        mode : {"L", "LA", "RGB", "RGBA"}, optional
            Convert every image to this mode (otherwise the file's mode, palettes expanded).
        on_error : {"null", "raise"}
            A corrupt image becomes null with an error message, or raises naming the row.

        Images larger than ``th.config.max_image_pixels`` are refused before decoding.

        Examples
        --------
        >>> from thresher import col
        >>> col("b").image.decode("RGB")
        col("b").image.decode(mode='RGB')
        """
        return self._call("decode", mode=mode, on_error=on_error)

    def encode(self, format: str = "jpeg", quality: int = 90) -> Expr:
        """Encode pixels as ``"jpeg"``, ``"png"`` or ``"webp"`` bytes (JPEG drops alpha).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> df.select(img.image.encode("png").alias("png")).to_pydict()["png"][0][:4]
        b'\x89PNG'
        """
        return self._call("encode", format=format, quality=quality)

    def resize(self, width: int, height: int, keep_aspect: bool = False, filter: str = "bilinear") -> Expr:
        """Resize to ``width`` × ``height`` (``keep_aspect``: the largest size that fits).

        Examples
        --------
        >>> from thresher import col
        >>> col("img").image.resize(64, 32, keep_aspect=True)
        col("img").image.resize(width=64, height=32, keep_aspect=True)
        """
        return self._call("resize", width=width, height=height, keep_aspect=keep_aspect, filter=filter)

    def crop(self, box: tuple[int, int, int, int]) -> Expr:
        """Cut ``box = (left, top, right, bottom)`` out of each image (pixels outside are black).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> part = img.image.crop((0, 0, 16, 8))
        >>> df.select(part.image.width().alias("w"), part.image.height().alias("h")).to_pydict()
        {'w': [16], 'h': [8]}
        """
        return self._call("crop", box=tuple(int(v) for v in box))

    def thumbnail(self, size: int | tuple[int, int] = 128, filter: str = "bicubic") -> Expr:
        """Shrink (never enlarge) to fit in ``size``, keeping the aspect ratio.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> small = img.image.thumbnail(32)
        >>> df.select(small.image.width().alias("w"), small.image.height().alias("h")).to_pydict()
        {'w': [32], 'h': [24]}
        """
        s = (size, size) if isinstance(size, int) else tuple(size)
        return self._call("thumbnail", size=s, filter=filter)

    def convert(self, mode: str) -> Expr:
        """Convert to ``mode`` ("L", "LA", "RGB", "RGBA").

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> df.select(img.image.convert("L").image.mode().alias("m")).to_pydict()
        {'m': ['L']}
        """
        return self._call("convert", mode=mode)

    def to_tensor(self) -> Expr:
        """The pixels as a ``uint8`` HWC tensor (fixed shape when the image type pins it).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> df.select(img.image.to_tensor().tensor.shape().alias("s")).to_pydict()
        {'s': [[48, 64, 3]]}
        """
        return self._call("to_tensor")

    def normalize(self, mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225)
                  ) -> Expr:
        """``(pixels / 255 - mean) / std`` per channel as a float32 HWC tensor.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> df.select(img.image.normalize().alias("x")).schema
        Schema(x: tensor[float32])
        """
        return self._call("normalize", mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))

    def width(self) -> Expr:
        """Width in pixels, read from the header of encoded bytes (no pixel decode).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> df.select(th.col("b").image.width().alias("w")).to_pydict()
        {'w': [64]}
        """
        return self._call("width")

    def height(self) -> Expr:
        """Height in pixels, read from the header of encoded bytes (no pixel decode).

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> df.select(th.col("b").image.height().alias("h")).to_pydict()
        {'h': [48]}
        """
        return self._call("height")

    def mode(self) -> Expr:
        """Pillow mode ("RGB", "L", "CMYK", ...) from the header, or of the decoded image.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> df.select(th.col("b").image.mode().alias("m")).to_pydict()
        {'m': ['RGB']}
        """
        return self._call("mode")

    def format(self) -> Expr:
        """"jpeg", "png", ... from the header of encoded bytes; null for decoded images.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> df.select(th.col("b").image.format().alias("f")).to_pydict()
        {'f': ['jpeg']}
        """
        return self._call("format")

    def phash(self) -> Expr:
        """64-bit perceptual (DCT) hash as uint64; near-duplicates differ in few bits.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> same = df.select(img.image.phash().alias("a"), img.image.resize(32, 24).image.phash().alias("b"))
        >>> row = same.to_pylist()[0]
        >>> bin(row["a"] ^ row["b"]).count("1") <= 8  # a resized copy hashes within a few bits
        True
        """
        return self._call("phash")

    def dhash(self) -> Expr:
        """64-bit difference hash as uint64.

        Examples
        --------
        >>> import thresher as th
        >>> from thresher.testing.media import make_jpeg
        >>> df = th.from_pydict({"b": [make_jpeg(64, 48)]})
        >>> img = th.col("b").image.decode()
        >>> df.select(img.image.dhash().alias("h")).schema
        Schema(h: uint64)
        """
        return self._call("dhash")
