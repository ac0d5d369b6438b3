"""Logical data types and schemas.

A :class:`DataType` is a logical type with one canonical Arrow representation. Standard types map
to the Arrow types Polars produces (``large_string``, ``large_binary``, ``large_list``) so batches
coming out of Polars and out of sources agree without re-casting. Multimodal types (image, file,
video, audio, tensor, embedding) are Arrow extension types, so they survive Parquet, IPC, Lance and
Ray serialization with their metadata.

Examples
--------
>>> import thresher as th
>>> th.DataType.embedding("float32", 4)
DataType(embedding[float32, 4])
>>> th.DataType.image(mode="RGB").to_arrow().extension_name
'thresher.image'
"""

from __future__ import annotations

import builtins
import datetime
import decimal
import json
import operator
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pyarrow as pa

from thresher.errors import ColumnNotFoundError, ThresherTypeError

# --------------------------------------------------------------------------------------------
# Extension types
# --------------------------------------------------------------------------------------------

_MEDIA_KINDS = ("image", "file", "video", "audio", "tensor", "embedding")


def _image_storage() -> pa.DataType:
    # Decoded pixels in row-major HWC uint8 order; mode says how many channels.
    return pa.struct(
        [
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("mode", pa.string()),
            pa.field("data", pa.large_binary()),
        ]
    )


def _tensor_storage(dtype: pa.DataType, shape: tuple[int, ...] | None) -> pa.DataType:
    if shape is not None and all(d > 0 for d in shape):
        size = 1
        for d in shape:
            size *= d
        return pa.list_(dtype, size)
    return pa.struct([pa.field("shape", pa.list_(pa.int64())), pa.field("data", pa.large_list(dtype))])


class ThresherExtensionType(pa.ExtensionType):
    """One Arrow extension type per multimodal kind; parameters travel as JSON metadata."""

    def __init__(self, kind: str, params: Mapping[str, Any], storage: pa.DataType) -> None:
        self.kind = kind
        self.params = dict(params)
        super().__init__(storage, f"thresher.{kind}")

    def __arrow_ext_serialize__(self) -> bytes:
        return json.dumps(self.params, sort_keys=True).encode()

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> pa.ExtensionType:
        params = json.loads(serialized.decode()) if serialized else {}
        kind = cls._kind
        expected = _storage_for(kind, params)
        if not _storage_compatible(storage_type, expected):
            raise ThresherTypeError(
                f"thresher.{kind}: stored as {storage_type}, expected {expected}; "
                "the data was written by an incompatible producer"
            )
        if storage_type == expected:
            return _EXT_CLASSES[kind](params)
        # Polars hands back 64-bit offset storage: describe the data as it really is laid out
        # (reading it with 32-bit offsets would shift rows); `conform_array` casts it back.
        ext = _EXT_CLASSES[kind](params)
        ThresherExtensionType.__init__(ext, kind, params, storage_type)
        return ext

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_ext, (self.kind, self.params))

    def __repr__(self) -> str:
        return f"ThresherExtensionType({self.kind}, {self.params})"

    _kind = ""


def _storage_compatible(actual: pa.DataType, expected: pa.DataType) -> builtins.bool:
    if actual == expected:
        return True
    try:
        pa.array([], type=expected).cast(actual).cast(expected)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _storage_for(kind: str, params: Mapping[str, Any]) -> pa.DataType:
    if kind == "image":
        return _image_storage()
    if kind in ("file", "video", "audio"):
        return pa.large_binary() if params.get("storage", "binary") == "binary" else pa.large_string()
    if kind == "tensor":
        shape = params.get("shape")
        return _tensor_storage(_arrow_numeric(params["dtype"]), tuple(shape) if shape else None)
    if kind == "embedding":
        return pa.list_(_arrow_numeric(params["dtype"]), int(params["dim"]))
    raise ThresherTypeError(f"unknown extension kind {kind!r}")


def _make_ext(kind: str, params: Mapping[str, Any]) -> pa.ExtensionType:
    return _EXT_CLASSES[kind](params)


def _ext_class(kind: str) -> type[ThresherExtensionType]:
    def __init__(self: ThresherExtensionType, params: Mapping[str, Any]) -> None:
        ThresherExtensionType.__init__(self, kind, params, _storage_for(kind, params))

    return type(f"{kind.capitalize()}Type", (ThresherExtensionType,), {"__init__": __init__, "_kind": kind})


_EXT_CLASSES: dict[str, Any] = {k: _ext_class(k) for k in _MEDIA_KINDS}


def register_extension_types() -> None:
    """Register Thresher's extension types with pyarrow (idempotent; runs on import)."""
    for kind, klass in _EXT_CLASSES.items():
        try:
            pa.register_extension_type(klass(_default_params(kind)))
        except pa.ArrowKeyError:
            pass  # already registered in this process


def _default_params(kind: str) -> dict[str, Any]:
    if kind == "tensor":
        return {"dtype": "float32", "shape": None}
    if kind == "embedding":
        return {"dtype": "float32", "dim": 1}
    return {}


_NUMERIC = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}


def _arrow_numeric(name: str) -> pa.DataType:
    try:
        return _NUMERIC[str(name)]
    except KeyError:
        raise ThresherTypeError(f"unsupported tensor dtype {name!r}; use one of {sorted(_NUMERIC)}") from None


# --------------------------------------------------------------------------------------------
# DataType
# --------------------------------------------------------------------------------------------


#: Arrow type ids whose types are canonical as they are (numbers, decimals, dates and times): the
#: planner builds a DataType for every expression it types, most of them of these
_CANONICAL_IDS = frozenset(t.id for t in (
    pa.null(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(),
    pa.uint64(), pa.float16(), pa.float32(), pa.float64(), pa.decimal128(1), pa.decimal256(1), pa.date32(),
    pa.date64(), pa.timestamp("s"), pa.time32("s"), pa.time64("us"), pa.duration("s"),
    # and the canonical string and binary types themselves (every string literal and comparison
    # over strings types one)
    pa.large_string(), pa.large_binary()))


def _type_ids(*names: str) -> frozenset[int]:
    """The Arrow type ids ``pa.lib.Type_<name>`` of this pyarrow (DECIMAL32/64 are newer than 17)."""
    return frozenset(getattr(pa.lib, f"Type_{n}") for n in names if hasattr(pa.lib, f"Type_{n}"))


_SIGNED_IDS = _type_ids("INT8", "INT16", "INT32", "INT64")
_UNSIGNED_IDS = _type_ids("UINT8", "UINT16", "UINT32", "UINT64")
_INTEGER_IDS = _SIGNED_IDS | _UNSIGNED_IDS
_UINT64_ID = pa.lib.Type_UINT64
_FLOAT_IDS = _type_ids("HALF_FLOAT", "FLOAT", "DOUBLE")
_DECIMAL_IDS = _type_ids("DECIMAL32", "DECIMAL64", "DECIMAL128", "DECIMAL256")
_NUMERIC_IDS = _INTEGER_IDS | _FLOAT_IDS | _DECIMAL_IDS
_TEMPORAL_IDS = _type_ids("DATE32", "DATE64", "TIMESTAMP", "TIME32", "TIME64", "DURATION")
_LARGE_STRING_ID = pa.lib.Type_LARGE_STRING
_BOOL_ID = pa.lib.Type_BOOL
_STRUCT_ID = pa.lib.Type_STRUCT
_NULL_ID = pa.lib.Type_NA
_EXTENSION_ID = _EXT_CLASSES["file"]({}).id  # (pyarrow names no Type_EXTENSION)
#: the ids of the canonical types without parameters: one id, one type
_PLAIN_IDS = _INTEGER_IDS | _FLOAT_IDS | _type_ids("NA", "BOOL", "LARGE_STRING", "LARGE_BINARY", "DATE32", "DATE64")


def canonical_arrow(t: pa.DataType) -> pa.DataType:
    """The canonical Arrow type for data of type ``t`` (what every batch in flight uses)."""
    if t.id in _CANONICAL_IDS:
        return t
    if isinstance(t, ThresherExtensionType):
        # a type read back with another storage layout (Polars' 64-bit offsets) is the same
        # logical type: describe it canonically, `conform_array` casts the data
        expected = _storage_for(t.kind, t.params)
        return t if t.storage_type == expected else _EXT_CLASSES[t.kind](t.params)
    if isinstance(t, pa.ExtensionType):
        return t
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_fixed_size_binary(t):
        return t
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.large_list(pa.field(t.value_field.name, canonical_arrow(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(pa.field(t.value_field.name, canonical_arrow(t.value_type)), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, canonical_arrow(f.type), f.nullable) for f in t])
    if pa.types.is_dictionary(t):
        return canonical_arrow(t.value_type)
    if pa.types.is_map(t):
        return t
    return t


@dataclass(frozen=True)
class DataType:
    """A logical type with a fixed Arrow representation (:meth:`to_arrow`).

    Build one with the class constructors (``DataType.int64()``, ``DataType.image()``, ...) or
    from Arrow with :meth:`from_arrow`.

    Examples
    --------
    >>> DataType.from_arrow(pa.string())
    DataType(string)
    >>> DataType.list(DataType.int64()).to_arrow()
    LargeListType(large_list<item: int64>)
    """

    arrow: pa.DataType
    if TYPE_CHECKING:  # (not dataclass fields: each object's own, set in __post_init__)
        _tid: ClassVar[int]
        _skey: ClassVar[int | tuple[int, int, int] | None]

    def __post_init__(self) -> None:
        t = self.arrow
        tid = t.id
        if tid not in _CANONICAL_IDS:
            t = canonical_arrow(t)
            tid = t.id
            object.__setattr__(self, "arrow", t)
        self._set_ids(t, tid)

    def _set_ids(self, t: pa.DataType, tid: int) -> None:
        d = self.__dict__
        # the Arrow type id, kept as a plain int: the predicates below and ``==`` read it instead
        # of calling into Arrow each time (the type rules ask them of every typed expression)
        d["_tid"] = tid
        # the key of `supertype`'s cache: the id of a type without parameters, with precision and
        # scale for a decimal (a decimal column next to a literal), None for the others
        d["_skey"] = tid if tid in _PLAIN_IDS else (tid, t.precision, t.scale) if tid in _DECIMAL_IDS else None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._set_ids(self.arrow, self.arrow.id)  # (a type pickled before it kept its ids)

    def __eq__(self, other: object) -> builtins.bool:
        """Equal Arrow types (as the dataclass's own ``==``; its hash stays the dataclass's): types
        of two ids never are, and of one id without parameters always are, without asking Arrow."""
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        tid = self._tid
        if tid != other._tid:
            return False
        return tid in _PLAIN_IDS or builtins.bool(self.arrow == other.arrow)

    # ---- constructors ------------------------------------------------------------------
    @staticmethod
    def from_arrow(t: pa.DataType) -> DataType:
        return DataType(t)

    @staticmethod
    def null() -> DataType:
        return _PLAIN['null']

    @staticmethod
    def bool() -> DataType:
        return _PLAIN['bool']

    @staticmethod
    def int8() -> DataType:
        return _PLAIN['int8']

    @staticmethod
    def int16() -> DataType:
        return _PLAIN['int16']

    @staticmethod
    def int32() -> DataType:
        return _PLAIN['int32']

    @staticmethod
    def int64() -> DataType:
        return _PLAIN['int64']

    @staticmethod
    def uint8() -> DataType:
        return _PLAIN['uint8']

    @staticmethod
    def uint16() -> DataType:
        return _PLAIN['uint16']

    @staticmethod
    def uint32() -> DataType:
        return _PLAIN['uint32']

    @staticmethod
    def uint64() -> DataType:
        return _PLAIN['uint64']

    @staticmethod
    def float32() -> DataType:
        return _PLAIN['float32']

    @staticmethod
    def float64() -> DataType:
        return _PLAIN['float64']

    @staticmethod
    def decimal(precision: int, scale: int) -> DataType:
        # (one object per precision and scale: the type rules of decimal arithmetic ask for them)
        t = _DECIMAL_TYPES.get((precision, scale))
        if t is None:
            t = DataType(pa.decimal128(precision, scale))
            if type(precision) is int and type(scale) is int:
                _DECIMAL_TYPES[(precision, scale)] = t
        return t

    @staticmethod
    def string() -> DataType:
        return _PLAIN['string']

    @staticmethod
    def binary() -> DataType:
        return _PLAIN['binary']

    @staticmethod
    def date() -> DataType:
        return _PLAIN['date']

    @staticmethod
    def timestamp(unit: str = "us", tz: str | None = None) -> DataType:
        return DataType(pa.timestamp(unit, tz))

    @staticmethod
    def duration(unit: str = "us") -> DataType:
        return DataType(pa.duration(unit))

    @staticmethod
    def list(inner: DataType) -> DataType:
        return DataType(pa.large_list(inner.arrow))

    @staticmethod
    def fixed_size_list(inner: DataType, size: int) -> DataType:
        return DataType(pa.list_(inner.arrow, size))

    @staticmethod
    def struct(fields: Mapping[str, DataType]) -> DataType:
        return DataType(pa.struct([pa.field(k, v.arrow) for k, v in fields.items()]))

    # ---- multimodal -------------------------------------------------------------------
    @staticmethod
    def image(mode: str | None = None, shape: tuple[int, int] | None = None) -> DataType:
        """Decoded pixels (HWC uint8). ``mode`` is a Pillow mode ("RGB", "L", "RGBA")."""
        return DataType(_EXT_CLASSES["image"]({"mode": mode, "shape": list(shape) if shape else None}))

    @staticmethod
    def file() -> DataType:
        """Encoded bytes of a file (fetched from a path/url by ``url.download()``)."""
        return DataType(_EXT_CLASSES["file"]({}))

    @staticmethod
    def video() -> DataType:
        """An encoded video container (bytes)."""
        return DataType(_EXT_CLASSES["video"]({}))

    @staticmethod
    def audio(sample_rate: int | None = None) -> DataType:
        """Encoded audio (bytes); ``sample_rate`` is a hint for decoding."""
        return DataType(_EXT_CLASSES["audio"]({"sample_rate": sample_rate}))

    @staticmethod
    def tensor(dtype: str = "float32", shape: tuple[int, ...] | None = None) -> DataType:
        """An n-d array; a fixed ``shape`` stores it as a fixed-size list."""
        return DataType(_EXT_CLASSES["tensor"]({"dtype": str(dtype), "shape": list(shape) if shape else None}))

    @staticmethod
    def embedding(dtype: str = "float32", dim: int = 0) -> DataType:
        """A dense vector of ``dim`` values stored as ``fixed_size_list<dtype, dim>``."""
        if dim <= 0:
            raise ThresherTypeError(f"embedding dim must be positive, got {dim}")
        return DataType(_EXT_CLASSES["embedding"]({"dtype": str(dtype), "dim": int(dim)}))

    # ---- inspection ---------------------------------------------------------------------
    def to_arrow(self) -> pa.DataType:
        return self.arrow

    @property
    def storage(self) -> pa.DataType:
        """The Arrow storage type (the type itself for non-extension types)."""
        return self.arrow.storage_type if isinstance(self.arrow, pa.ExtensionType) else self.arrow

    @property
    def kind(self) -> str:
        """A short name: 'int64', 'string', 'image', 'list', ..."""
        k: str | None = self.__dict__.get("_kind")
        if k is None:  # once per type object (lowering a plan asks it of every argument's type)
            k = self._kind()
            object.__setattr__(self, "_kind", k)
        return k

    def _kind(self) -> str:
        t = self.arrow
        if isinstance(t, ThresherExtensionType):
            return t.kind
        if pa.types.is_large_string(t):
            return "string"
        if pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return "binary"
        if pa.types.is_large_list(t):
            return "list"
        if pa.types.is_fixed_size_list(t):
            return "fixed_size_list"
        if pa.types.is_struct(t):
            return "struct"
        if pa.types.is_decimal(t):
            return "decimal"
        if pa.types.is_timestamp(t):
            return "timestamp"
        if pa.types.is_date(t):
            return "date"
        if pa.types.is_duration(t):
            return "duration"
        if pa.types.is_boolean(t):
            return "bool"
        return str(t)

    @property
    def params(self) -> dict[str, Any]:
        t = self.arrow
        return dict(t.params) if isinstance(t, ThresherExtensionType) else {}

    def is_media(self) -> builtins.bool:
        return self._tid == _EXTENSION_ID and isinstance(self.arrow, ThresherExtensionType)

    # (the predicates below test the Arrow type id against sets, as ``pa.types.is_*`` do)
    def is_numeric(self) -> builtins.bool:
        return self._tid in _NUMERIC_IDS

    def is_integer(self) -> builtins.bool:
        return self._tid in _INTEGER_IDS

    def is_float(self) -> builtins.bool:
        return self._tid in _FLOAT_IDS

    def is_string(self) -> builtins.bool:
        return self._tid == _LARGE_STRING_ID

    def is_decimal(self) -> builtins.bool:
        return self._tid in _DECIMAL_IDS

    def is_binary(self) -> builtins.bool:
        return pa.types.is_large_binary(self.arrow) or pa.types.is_fixed_size_binary(self.arrow)

    def is_bool(self) -> builtins.bool:
        return self._tid == _BOOL_ID

    def is_temporal(self) -> builtins.bool:
        return self._tid in _TEMPORAL_IDS

    def is_null(self) -> builtins.bool:
        return self._tid == _NULL_ID

    def is_list(self) -> builtins.bool:
        return pa.types.is_large_list(self.arrow) or pa.types.is_fixed_size_list(self.arrow)

    def is_struct(self) -> builtins.bool:
        return self._tid == _STRUCT_ID

    def inner(self) -> DataType:
        """Element type of a list (or of a tensor/embedding)."""
        t = self.storage
        if pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list(t):
            return DataType(t.value_type)
        raise ThresherTypeError(f"{self} has no element type")

    def field(self, name: str) -> DataType:
        t = self.storage
        if not pa.types.is_struct(t):
            raise ThresherTypeError(f"{self} is not a struct; cannot take field {name!r}")
        idx = t.get_field_index(name)
        if idx < 0:
            raise ThresherTypeError(f"struct {self} has no field {name!r}; fields: {[f.name for f in t]}")
        return DataType(t.field(idx).type)

    def __repr__(self) -> str:
        return f"DataType({self})"

    def __str__(self) -> str:
        t = self.arrow
        if isinstance(t, ThresherExtensionType):
            p = t.params
            if t.kind == "embedding":
                return f"embedding[{p['dtype']}, {p['dim']}]"
            if t.kind == "tensor":
                shape = p.get("shape")
                return f"tensor[{p['dtype']}{', ' + str(tuple(shape)) if shape else ''}]"
            if t.kind == "image":
                return f"image[{p.get('mode') or 'any'}]"
            if t.kind == "audio" and p.get("sample_rate"):
                return f"audio[{p['sample_rate']} Hz]"
            return t.kind
        if pa.types.is_large_string(t):
            return "string"
        if pa.types.is_large_binary(t):
            return "binary"
        if pa.types.is_large_list(t):
            return f"list[{DataType(t.value_type)}]"
        if pa.types.is_struct(t):
            return "struct{" + ", ".join(f"{f.name}: {DataType(f.type)}" for f in t) + "}"
        if pa.types.is_boolean(t):
            return "bool"
        return str(t)


#: the types without parameters, one object each: ``DataType.int64()`` is asked for at every
#: typed expression (a comparison's bool, a literal's type), and building one canonicalized its
#: Arrow type each time
_PLAIN: dict[str, DataType] = {name: DataType(t) for name, t in (
    ("null", pa.null()), ("bool", pa.bool_()), ("int8", pa.int8()), ("int16", pa.int16()), ("int32", pa.int32()),
    ("int64", pa.int64()), ("uint8", pa.uint8()), ("uint16", pa.uint16()), ("uint32", pa.uint32()),
    ("uint64", pa.uint64()), ("float32", pa.float32()), ("float64", pa.float64()), ("string", pa.large_string()),
    ("binary", pa.large_binary()), ("date", pa.date32()))}




_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}


def integer_digits(t: pa.DataType) -> int | None:
    """The decimal digits every value of integer type ``t`` fits in (BIGINT 19, UBIGINT 20): the
    ``DECIMAL(digits, 0)`` DuckDB and Polars take it as next to a decimal; None for other types."""
    tid = t.id
    if tid not in _INTEGER_IDS:
        return None
    return _INT_DIGITS[t.bit_width] + (1 if tid == _UINT64_ID else 0)


def polars_supertype(a: DataType, b: DataType) -> DataType | None:
    """:func:`supertype` as Polars takes it where they differ: a decimal next to an integer
    stays that decimal where it holds every value of the integer type, and is ``decimal(38, s)``
    otherwise (:func:`supertype` keeps the decimal, too narrow for an int32's values); a uint64
    next to a signed integer has none (Polars' Int128, which Arrow lacks)."""
    for x, y in ((a, b), (b, a)):
        if x._tid == _UINT64_ID and y._tid in _SIGNED_IDS:
            return None
        if x.is_decimal() and y.is_integer():
            t, digits = x.arrow, integer_digits(y.arrow)
            assert digits is not None
            return x if t.precision - t.scale >= digits else DataType(pa.decimal128(38, t.scale))
    return supertype(a, b)


#: DuckDB's HUGEINT (a UBIGINT with a signed integer) as Arrow holds it: DECIMAL(38, 0)
HUGEINT = DataType(pa.decimal128(38, 0))


#: (key, key) -> the supertype of two types of those ``_skey`` (the types without parameters and
#: the decimals: a function of the keys alone), filled in as they are asked for
_SUPERTYPES: dict[tuple[Any, Any], DataType | None] = {}
_NOT_CACHED: Any = object()
#: (precision, scale) -> DataType.decimal(precision, scale)
_DECIMAL_TYPES: dict[tuple[int, int], DataType] = {}


def supertype(a: DataType, b: DataType) -> DataType | None:
    """The common type two values are compared/combined in, or None if there is none."""
    if a is b:
        return a
    ka, kb = a._skey, b._skey
    if ka is None or kb is None:
        return a if a == b else _supertype(a, b)
    if ka == kb:  # (one key, one type)
        return a
    key = (ka, kb)
    hit = _SUPERTYPES.get(key, _NOT_CACHED)
    if hit is _NOT_CACHED:
        hit = _SUPERTYPES[key] = _supertype(a, b)
    return hit  # type: ignore[no-any-return]


def _supertype(a: DataType, b: DataType) -> DataType | None:
    if a.is_null():
        return b
    if b.is_null():
        return a
    ta, tb = a.arrow, b.arrow
    if a.is_numeric() and b.is_numeric():
        if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
            if pa.types.is_floating(ta) or pa.types.is_floating(tb):
                return DataType.float64()
            if pa.types.is_decimal(ta) and pa.types.is_decimal(tb):
                scale = max(ta.scale, tb.scale)
                ints = max(ta.precision - ta.scale, tb.precision - tb.scale)
                return DataType(pa.decimal128(min(38, ints + scale), scale))
            # an integer takes the decimal of its digits (BIGINT: DECIMAL(19, 0)), as DuckDB: the
            # decimal alone (DECIMAL(10, 2) next to a BIGINT) cannot hold the integer's values
            dec, other = (ta, tb) if pa.types.is_decimal(ta) else (tb, ta)
            ints = max(dec.precision - dec.scale, integer_digits(other) or 0)
            return DataType(pa.decimal128(min(38, ints + dec.scale), dec.scale))
        if pa.types.is_floating(ta) or pa.types.is_floating(tb):
            width = max(ta.bit_width if pa.types.is_floating(ta) else 0, tb.bit_width if pa.types.is_floating(tb) else 0)
            other_int = tb if pa.types.is_integer(tb) else ta if pa.types.is_integer(ta) else None
            if width <= 32 and (other_int is None or other_int.bit_width <= 16):
                return DataType.float32()
            return DataType.float64()
        signed_a, signed_b = pa.types.is_signed_integer(ta), pa.types.is_signed_integer(tb)
        if signed_a == signed_b:
            return DataType(ta if ta.bit_width >= tb.bit_width else tb)
        unsigned = ta if not signed_a else tb
        signed = tb if not signed_a else ta
        widths = {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}
        if unsigned.bit_width < 64:
            wide = widths[unsigned.bit_width]
            return DataType(wide if wide.bit_width >= signed.bit_width else signed)
        # a UBIGINT with a signed integer: DuckDB's HUGEINT, which Arrow (and DuckDB's Arrow
        # export) holds as DECIMAL(38, 0); int64 lost UBIGINT values past 2^63 - 1
        return HUGEINT
    if a.is_temporal() and b.is_temporal():
        if pa.types.is_date(ta) and pa.types.is_timestamp(tb):
            return b
        if pa.types.is_timestamp(ta) and pa.types.is_date(tb):
            return a
    if a.is_string() and b.is_string():
        return a
    if a.is_binary() and b.is_binary():
        return a
    if a.is_list() and b.is_list():
        inner = supertype(a.inner(), b.inner())
        return DataType.list(inner) if inner is not None else None
    return None


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    dtype: DataType
    nullable: bool = True

    def __init__(self, name: str, dtype: DataType, nullable: builtins.bool = True) -> None:
        # (the instance dict written directly: a frozen dataclass's generated __init__ sets each
        # field through object.__setattr__, and the planner makes a Field for every typed expression)
        d = self.__dict__
        d["name"] = name
        d["dtype"] = dtype
        d["nullable"] = nullable

    def to_arrow(self) -> pa.Field:
        return pa.field(self.name, self.dtype.to_arrow(), self.nullable)


_FIELD_NAME = operator.attrgetter("name")
_FIELDS = operator.attrgetter("_fields")


class SchemaNames(list[str]):
    """A schema's column names: a list (``schema.names``) that is also callable, as Polars'
    ``Schema.names()`` is a method (``schema.names()`` returns a plain list copy).

    >>> names = Schema.from_arrow(pa.schema([("a", pa.int64())])).names
    >>> names, names()
    (['a'], ['a'])
    """

    __slots__ = ()

    def __call__(self) -> list[str]:
        return list(self)


class Schema(Mapping[str, DataType]):
    """An ordered mapping of column names to :class:`DataType`.

    Examples
    --------
    >>> s = Schema.from_arrow(pa.schema([("a", pa.int64()), ("b", pa.string())]))
    >>> s
    Schema(a: int64, b: string)
    >>> s["b"]
    DataType(string)
    """

    __slots__ = ("_fields", "_index", "_arrow")

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        self._fields: tuple[Field, ...] = tuple(fields)
        self._arrow: pa.Schema | None = None
        # (no comprehension: its frame is one more step of every node's schema)
        self._index = dict(zip(map(_FIELD_NAME, self._fields), range(len(self._fields))))
        if len(self._index) != len(self._fields):
            seen: set[str] = set()
            dups = [f.name for f in self._fields if f.name in seen or seen.add(f.name)]  # type: ignore[func-returns-value]
            raise ThresherTypeError(f"duplicate column names: {sorted(set(dups))}")

    @classmethod
    def _of(cls, fields: tuple[Field, ...], index: dict[str, int]) -> Schema:
        """A schema of ``fields`` whose name index ``index`` (name -> position, every name once)
        the caller built: a join's output is its left input's fields and index plus the right
        side's, and indexing every name again (``__init__``) was a tenth of building a TPC-H
        query's frames (its joins' schemas grow to 30-60 columns)."""
        new = object.__new__(cls)
        new._fields = fields
        new._arrow = None
        new._index = index
        return new

    @staticmethod
    def from_arrow(schema: pa.Schema) -> Schema:
        return Schema(Field(f.name, DataType(f.type), f.nullable) for f in schema)

    def to_arrow(self) -> pa.Schema:
        """The Arrow schema (built once per schema object: both are immutable, and a run asks
        for it at each stage and for the result)."""
        arrow = self._arrow
        if arrow is None:
            arrow = self._arrow = pa.schema([f.to_arrow() for f in self._fields])
        return arrow

    if TYPE_CHECKING:
        @property
        def fields(self) -> tuple[Field, ...]: ...
    else:
        #: the fields in order (a C getter, not a Python method: every plan node reads them)
        fields = property(_FIELDS)

    @property
    def names(self) -> SchemaNames:
        """The names in order, a copy (callers may change it); also callable, as Polars'
        ``Schema.names()``."""
        return SchemaNames(self._index)

    @property
    def names_view(self) -> KeysView[str]:
        """The names in order, read-only and not copied: a set-like view (``in``, iteration,
        ``len``, ``&`` / ``<=`` with sets; no indexing, and ``==`` compares as sets). For the
        optimizer's questions about a node's columns (``set(schema.names)``, ``name in``), where
        ``names`` built a list each time: ~45 per TPC-H query's planning."""
        return self._index.keys()

    def dtypes(self) -> list[DataType]:
        """The types in order (Polars' ``Schema.dtypes()``)."""
        return [f.dtype for f in self._fields]

    def len(self) -> int:
        """The number of columns (Polars' ``Schema.len()``)."""
        return len(self._fields)

    def field(self, name: str) -> Field:
        try:
            return self._fields[self._index[name]]
        except KeyError:
            raise ColumnNotFoundError(
                f"column {name!r} not found; available columns: {self.names}"
            ) from None

    def __getitem__(self, name: str) -> DataType:
        return self.field(name).dtype

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._index))

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> builtins.bool:
        return name in self._index

    def __eq__(self, other: object) -> builtins.bool:
        return isinstance(other, Schema) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def select(self, names: Iterable[str]) -> Schema:
        return Schema(self.field(n) for n in names)

    def __repr__(self) -> str:
        return "Schema(" + ", ".join(f"{f.name}: {f.dtype}" for f in self._fields) + ")"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{f.name}</td><td>{f.dtype}</td></tr>" for f in self._fields)
        return f"<table><tr><th>column</th><th>type</th></tr>{rows}</table>"


# --------------------------------------------------------------------------------------------
# Python values and names -> DataType
# --------------------------------------------------------------------------------------------


_SIGNED = ((8, "int8"), (16, "int16"), (32, "int32"), (64, "int64"))
_UNSIGNED = ((8, "uint8"), (16, "uint16"), (32, "uint32"), (64, "uint64"))


def _int_range(signed: builtins.bool, bits: int) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


#: integer type id -> the smallest and largest value of that type
_INTEGER_RANGES = {t.id: _int_range(pa.types.is_signed_integer(t), t.bit_width) for t in (
    pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())}


def literal_type_next_to(value: Any, other: DataType) -> DataType:
    """The type Polars gives a Python number used next to a value of type ``other`` (its
    "dynamic" literals): an int that fits an integer type takes that type (else the common type
    with the smallest integer type that holds it: ``UInt8`` and ``-1`` give ``Int16``), a number
    next to a float takes the float's type (``Float32`` stays), a float next to an integer is
    ``Float64``. Anything else is :func:`infer_literal_type`.

    >>> literal_type_next_to(1000, DataType.int8()), literal_type_next_to(2, DataType.float32())
    (DataType(int16), DataType(float))
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return infer_literal_type(value)
    # (the type asked by its id: a literal next to a column is typed for every comparison)
    if other.is_null() and isinstance(value, int) and -(2**31) <= value < 2**31:
        return DataType.int32()  # (next to a null, as alone: Polars' int32 when it fits)
    if other.is_float():
        return other
    if other.is_decimal() and isinstance(value, int):
        return DataType.decimal(38, 0)
    if other.is_bool() and isinstance(value, int):  # (b + 1: Polars' Int32 where it fits)
        return DataType.int32() if -(2**31) <= value < 2**31 else infer_literal_type(value)
    if isinstance(value, float) or not other.is_integer():
        return infer_literal_type(value)
    lo, hi = _INTEGER_RANGES[other._tid]
    if lo <= value <= hi:
        return other
    family = _UNSIGNED if value >= 0 and other._tid in _UNSIGNED_IDS else _SIGNED
    for bits, name in (*family, (64, "uint64")):
        lo, hi = _int_range(name.startswith("int"), bits)
        if lo <= value <= hi:
            st = supertype(other, getattr(DataType, name)())
            # (a negative number next to a uint64: Polars' Int64, not the HUGEINT of SQL's types)
            return DataType.int64() if st is HUGEINT else st or infer_literal_type(value)
    return infer_literal_type(value)


#: the literal types of the values of these exact classes (the first ones the tests below find)
_PLAIN_LITERAL_TYPES: dict[type, DataType] = {
    str: _PLAIN["string"], float: _PLAIN["float64"], bool: _PLAIN["bool"], type(None): _PLAIN["null"],
    bytes: _PLAIN["binary"],
}


def infer_literal_type(value: Any) -> DataType:
    """The type of a Python value as a literal (``lit(3)`` is int64, ``lit("a")`` string).

    Examples
    --------
    >>> infer_literal_type(3), infer_literal_type([1.5])
    (DataType(int64), DataType(list[double]))
    """
    plain = _PLAIN_LITERAL_TYPES.get(type(value))  # (str, float, bool, None, bytes themselves)
    if plain is not None:
        return plain
    if type(value) is int and -(2**63) <= value < 2**63:
        return _PLAIN["int64"]
    if value is None:
        return DataType.null()
    if isinstance(value, bool):
        return DataType.bool()
    if isinstance(value, int):
        return DataType.int64() if -(2**63) <= value < 2**63 else DataType.uint64()
    if isinstance(value, float):
        return DataType.float64()
    if isinstance(value, decimal.Decimal):
        exp = value.as_tuple().exponent
        scale = max(0, -exp) if isinstance(exp, int) else 0
        return DataType.decimal(38, scale)
    if isinstance(value, str):
        return DataType.string()
    if isinstance(value, bytes):
        return DataType.binary()
    if isinstance(value, datetime.datetime):
        return DataType.timestamp("us", None if value.tzinfo is None else str(value.tzinfo))
    if isinstance(value, datetime.date):
        return DataType.date()
    if isinstance(value, datetime.timedelta):
        return DataType.duration("us")
    if isinstance(value, (list, tuple)):
        return DataType(pa.array([list(value)]).type)
    raise ThresherTypeError(f"cannot make a literal from {type(value).__name__} value {value!r}")



_DTYPE_NAMES: dict[str, Callable[[], DataType]] = {
    "bool": DataType.bool, "boolean": DataType.bool,
    "int8": DataType.int8, "int16": DataType.int16, "int32": DataType.int32, "int64": DataType.int64,
    "uint8": DataType.uint8, "uint16": DataType.uint16, "uint32": DataType.uint32, "uint64": DataType.uint64,
    "float32": DataType.float32, "float64": DataType.float64, "float": DataType.float64, "double": DataType.float64,
    "string": DataType.string, "str": DataType.string, "utf8": DataType.string, "binary": DataType.binary,
    "date": DataType.date, "timestamp": DataType.timestamp, "datetime": DataType.timestamp,
    "float16": lambda: DataType(pa.float16()), "f32": DataType.float32,
    "f64": DataType.float64, "i8": DataType.int8, "i16": DataType.int16, "i32": DataType.int32,
    "i64": DataType.int64, "u8": DataType.uint8, "u16": DataType.uint16, "u32": DataType.uint32,
    "u64": DataType.uint64, "large_string": DataType.string, "large_utf8": DataType.string,
    "bytes": DataType.binary, "large_binary": DataType.binary, "duration": DataType.duration,
}


#: a name of ``_DTYPE_NAMES`` as written (``cast("float64")``) -> its type, filled in as they are
#: asked for (a DataType is immutable)
_NAMED_DTYPES: dict[str, DataType] = {}


def _foreign_dtype(dtype: Any) -> pa.DataType | None:
    """The Arrow type of a Polars or NumPy dtype (class or instance), else None."""
    module = (dtype if isinstance(dtype, type) else type(dtype)).__module__ or ""
    if module.split(".")[0] == "polars":
        import polars as pl

        # Polars knows its own Arrow mapping: an empty Series of that dtype, exported
        return pl.Series("x", [], dtype=dtype).to_arrow().type
    if module.split(".")[0] == "numpy":
        import numpy as np

        np_type = np.dtype(dtype)
        if np_type.kind in ("U", "S", "O"):
            return pa.large_string() if np_type.kind != "S" else pa.large_binary()
        return pa.from_numpy_dtype(np_type)
    return None


def to_dtype(dtype: DataType | pa.DataType | str | type | Any) -> DataType:
    """Coerce a dtype to a DataType: a DataType, an Arrow type, a Polars dtype (``pl.Float64``,
    ``pl.List(pl.Int64)``), a NumPy dtype (``np.float32``, ``np.dtype("int8")``), a Python type
    (int, str) or a name ("int64", "Float64", "utf8", or any pyarrow alias like "timestamp[ms]").

    >>> import polars as pl, numpy as np
    >>> to_dtype(pl.Float64), to_dtype(np.int8), to_dtype("Float32"), to_dtype("timestamp[ms]")
    (DataType(double), DataType(int8), DataType(float), DataType(timestamp[ms]))
    """
    if isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, pa.DataType):
        return DataType(dtype)
    if isinstance(dtype, str):
        named = _NAMED_DTYPES.get(dtype)
        if named is not None:
            return named
        if dtype.lower() in _DTYPE_NAMES:
            named = _NAMED_DTYPES[dtype] = _DTYPE_NAMES[dtype.lower()]()
            return named
        try:
            return DataType(pa.type_for_alias(dtype.lower()))
        except ValueError:
            raise ThresherTypeError(
                f"unknown data type {dtype!r}; use a name like 'int64', 'float64', 'string', 'date', "
                "'timestamp[us]', a DataType, or a Polars/NumPy/Arrow dtype"
            ) from None
    py = {int: DataType.int64, float: DataType.float64, str: DataType.string, bool: DataType.bool, bytes: DataType.binary}
    if isinstance(dtype, type) and dtype in py:
        return py[dtype]()
    try:
        foreign = _foreign_dtype(dtype)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ThresherTypeError(f"cannot convert data type {dtype!r}: {exc}") from None
    if foreign is not None:
        return DataType(foreign)
    raise ThresherTypeError(f"unknown data type {dtype!r}")


# --------------------------------------------------------------------------------------------
# Arrays and batches in canonical form
# --------------------------------------------------------------------------------------------


def conform_array(arr: pa.Array | pa.ChunkedArray, dtype: DataType) -> pa.Array | pa.ChunkedArray:
    """Cast ``arr`` to ``dtype``'s canonical Arrow type (wrapping extension storage)."""
    target = dtype.to_arrow()
    if arr.type == target:
        return arr
    if isinstance(target, pa.ExtensionType):
        storage = storage_array(arr, deep=False)
        if isinstance(storage, pa.ChunkedArray):
            storage = storage.combine_chunks()
        if storage.type != target.storage_type:
            storage = storage.cast(target.storage_type)
        return pa.ExtensionArray.from_storage(target, storage)
    storage = storage_array(arr, deep=False)
    if pa.types.is_decimal(storage.type) and pa.types.is_floating(target):
        return _decimal_to_float(storage, target)
    return storage.cast(target)


def _decimal_to_float(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """``arr``'s decimals as the nearest floats, as Polars' cast (and DuckDB's) gives them: Arrow's
    cast multiplies by 10^-scale and is an ulp off for about one value in ten (0.000123 became
    0.00012299999999999998: a set operation of a DECIMAL and a DOUBLE answered it)."""
    import polars as pl

    out = pl.from_arrow(arr).cast(pl.Float32 if pa.types.is_float32(target) else pl.Float64).to_arrow()  # type: ignore[union-attr]
    out = out.cast(target) if out.type != target else out
    return pa.chunked_array([out], target) if isinstance(arr, pa.ChunkedArray) else out


def conform_batch(batch: pa.RecordBatch, schema: Schema) -> pa.RecordBatch:
    """Return ``batch`` with exactly ``schema``'s columns and canonical Arrow types."""
    target = schema.to_arrow()
    if batch.schema.equals(target, check_metadata=False):
        return batch
    cols = []
    for f in schema.fields:
        idx = batch.schema.get_field_index(f.name)
        if idx < 0:
            raise ColumnNotFoundError(f"column {f.name!r} missing from batch with columns {batch.schema.names}")
        cols.append(conform_array(batch.column(idx), f.dtype))
    return pa.RecordBatch.from_arrays(cols, schema=target)


# --------------------------------------------------------------------------------------------
# Extension <-> storage: the one conversion every layer uses (wrapping back is conform_array)
# --------------------------------------------------------------------------------------------


def storage_type(t: pa.DataType) -> pa.DataType:
    """``t`` with every extension type, at any depth, replaced by its storage type.

    Examples
    --------
    >>> storage_type(pa.struct([("img", DataType.image().to_arrow())])) == pa.struct([("img", DataType.image().storage)])
    True
    """
    if isinstance(t, pa.ExtensionType):
        return storage_type(t.storage_type)
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, storage_type(f.type), f.nullable) for f in t])
    if pa.types.is_large_list(t):
        return pa.large_list(pa.field(t.value_field.name, storage_type(t.value_type)))
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, storage_type(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(pa.field(t.value_field.name, storage_type(t.value_type)), t.list_size)
    return t


def has_extension(t: pa.DataType) -> bool:
    """Whether ``t`` is, or nests, a Thresher extension type (a media/tensor/embedding column)."""
    return storage_type(t) != t


ArrowArrayT = TypeVar("ArrowArrayT", pa.Array, pa.ChunkedArray)


def storage_array(arr: ArrowArrayT, *, deep: bool = True) -> ArrowArrayT:
    """``arr`` (array or chunked array, kept as it is) as its storage: no copy for a top-level
    extension type; ``deep`` also casts extension types nested in structs and lists away.

    Examples
    --------
    >>> ext = pa.ExtensionArray.from_storage(DataType.file().to_arrow(), pa.array([b"x"], pa.large_binary()))
    >>> storage_array(ext).type, storage_array(pa.chunked_array([ext])).type
    (DataType(large_binary), DataType(large_binary))
    """
    if isinstance(arr.type, pa.ExtensionType):
        if isinstance(arr, pa.ChunkedArray):
            arr = pa.chunked_array([c.storage for c in arr.chunks], arr.type.storage_type)
        else:
            arr = arr.storage
    if deep and has_extension(arr.type):
        arr = arr.cast(storage_type(arr.type))
    return arr


def storage_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every extension type (at any depth) replaced by its storage; the types of
    :func:`storage_batch`'s output."""
    return pa.schema([pa.field(f.name, storage_type(f.type), f.nullable) for f in schema])


BatchT = TypeVar("BatchT", pa.RecordBatch, pa.Table)


def storage_batch(batch: BatchT) -> BatchT:
    """``batch`` (record batch or table) with extension types, also nested ones, replaced by their
    storage, for engines such as Polars that would otherwise mangle them."""
    if not any(has_extension(t) for t in batch.schema.types):
        return batch
    cols = [storage_array(c) for c in batch.columns]
    if isinstance(batch, pa.Table):
        return pa.Table.from_arrays(cols, names=batch.schema.names)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


register_extension_types()
