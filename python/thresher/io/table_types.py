"""Logical (extension) types in table formats that cannot hold Arrow extension types.

Lance and Iceberg store a Thresher extension column as its plain storage type and record the
logical type as a small JSON tag (Lance: field metadata ``thresher.type``; Iceberg: the table
property ``thresher.type.<column>``); scans re-wrap it with :func:`rewrap_batch`. Iceberg has no
unsigned 64-bit integer: such columns are stored bit for bit as ``long`` and tagged.

Examples
--------
>>> import pyarrow as pa
>>> from thresher.datatypes import DataType
>>> tag = encode_logical_type(DataType.image().to_arrow())
>>> decode_logical_type(tag) == DataType.image().to_arrow()
True
>>> encode_logical_type(pa.int64()) is None
True
"""

from __future__ import annotations

import json

import pyarrow as pa

from thresher.datatypes import DataType, ThresherExtensionType, _make_ext, conform_array, storage_array
from thresher.errors import ThresherTypeError


def encode_logical_type(t: pa.DataType) -> str | None:
    """A JSON tag for a Thresher extension type (None for a plain Arrow type)."""
    if not isinstance(t, ThresherExtensionType):
        return None
    return json.dumps({"kind": t.kind, "params": t.params}, sort_keys=True)


_UINT64_TAG = json.dumps({"kind": "uint64"})


def decode_logical_type(tag: str) -> pa.DataType:
    """Invert :func:`encode_logical_type`."""
    if tag == _UINT64_TAG:
        return pa.uint64()
    try:
        d = json.loads(tag)
        return _make_ext(d["kind"], d["params"])
    except (ValueError, KeyError, TypeError) as e:
        raise ThresherTypeError(f"unreadable thresher logical type tag {tag!r}: {e}") from None


def storage_schema(schema: pa.Schema, iceberg: bool = True) -> tuple[pa.Schema, dict[str, str]]:
    """``schema`` with extension columns replaced by storage; returns ``(schema, {column: tag})``.

    Iceberg has no unsigned 64-bit integer: such columns (perceptual hashes, MinHash values) are
    stored bit for bit as ``long`` and tagged, and read back as ``uint64``.
    """
    fields, tags = [], {}
    for f in schema:
        tag = encode_logical_type(f.type)
        if iceberg and f.type == pa.uint64():
            tags[f.name] = _UINT64_TAG
            fields.append(pa.field(f.name, pa.int64(), f.nullable, f.metadata))
        elif tag is not None:
            tags[f.name] = tag
            fields.append(pa.field(f.name, f.type.storage_type, f.nullable, f.metadata))
        elif isinstance(f.type, pa.ExtensionType):
            raise ThresherTypeError(f"column {f.name!r}: foreign extension type {f.type} cannot be stored")
        else:
            fields.append(f)
    return pa.schema(fields, metadata=schema.metadata), tags


def to_storage(batch: pa.RecordBatch | pa.Table, iceberg: bool = False) -> pa.RecordBatch | pa.Table:
    """``batch`` with extension columns replaced by their storage arrays (and, for Iceberg,
    ``uint64`` reinterpreted as ``int64``)."""
    if not any(isinstance(t, pa.ExtensionType) or (iceberg and t == pa.uint64()) for t in batch.schema.types):
        return batch
    cols = []
    for c in batch.columns:
        if iceberg and c.type == pa.uint64():
            c = c.cast(pa.int64(), safe=False)
        elif isinstance(c.type, pa.ExtensionType):
            c = storage_array(c, deep=False)
        cols.append(c)
    sch, _ = storage_schema(batch.schema, iceberg=iceberg)
    if isinstance(batch, pa.Table):
        return pa.Table.from_arrays(cols, schema=sch)
    return pa.RecordBatch.from_arrays(cols, schema=sch)


def rewrap_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` (storage types as a store returns them) to ``target``'s logical types."""
    cols = []
    fields = []
    for name in batch.schema.names:
        arr = batch.column(name)
        idx = target.get_field_index(name)
        if idx < 0:
            cols.append(arr)
            fields.append(batch.schema.field(name))
            continue
        f = target.field(idx)
        if arr.type != f.type:
            if isinstance(f.type, pa.ExtensionType):
                arr = conform_array(arr, DataType(f.type))
            else:
                arr = arr.cast(f.type, safe=not (f.type == pa.uint64() and arr.type == pa.int64()))
        cols.append(arr)
        fields.append(pa.field(name, f.type, f.nullable))
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


__all__ = ["decode_logical_type", "encode_logical_type", "rewrap_batch", "storage_schema", "to_storage"]
