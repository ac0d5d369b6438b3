"""Frames to and from Polars and pandas, media types included.

- **Polars** keeps Arrow extension columns (``ext[thresher.image]``), so ``to_polars`` hands the
  media columns over as they are and ``from_polars`` gets the same types back. Polars returns
  them with 64-bit offset storage; ``datatypes`` accepts that layout when the type is read back
  and casts it to the canonical one (reading it with 32-bit offsets would shift rows).
- **pandas** has no extension-type round trip that keeps values usable, so ``to_pandas`` puts
  NumPy values in ``object`` columns (images ``H×W×C`` uint8, tensors N-d, embeddings 1-d) and
  records the frame's Arrow schema in ``DataFrame.attrs["thresher_schema"]`` (serialized IPC
  bytes). ``from_pandas`` reads it back (or an explicit ``schema=``) and rebuilds the media
  columns from those values. Pandas keeps ``attrs`` through selections and copies; an operation
  that drops them (some merges and concats) leaves plain object columns, which ``schema=`` fixes.

Examples
--------
>>> import numpy as np, thresher as th
>>> df = th.from_pydict({"t": np.zeros((2, 3), dtype="float32")})
>>> pdf = df.to_pandas()
>>> type(pdf["t"][0]).__name__, pdf["t"][0].shape
('ndarray', (3,))
>>> th.from_pandas(pdf).schema
Schema(t: tensor[float32, (3,)])
>>> th.from_polars(df.to_polars()).schema
Schema(t: tensor[float32, (3,)])
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import DataType, ThresherExtensionType, has_extension, storage_type
from thresher.errors import ThresherTypeError
from thresher.values import to_python

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

SCHEMA_ATTR = "thresher_schema"


def table_to_polars(table: pa.Table) -> pl.DataFrame:
    """A Polars frame over ``table``; extension columns are passed through as extension columns."""
    import polars as pl

    from thresher import _polars

    out = _polars.from_arrow(table)  # (keeps a column named '')
    assert isinstance(out, pl.DataFrame)
    return out


def table_to_pandas(table: pa.Table) -> pd.DataFrame:
    """A pandas frame: media as NumPy values in ``object`` columns, the schema in ``attrs``."""
    import pandas as pd

    media = [n for n, t in zip(table.column_names, table.schema.types) if has_extension(t)]
    plain = table.drop_columns(media) if media else table
    pdf = plain.to_pandas()
    for name in media:
        col = to_python(table.column(name))
        pdf[name] = pd.Series(col if col else [], dtype=object, index=pdf.index)
    pdf = pdf[table.column_names] if media else pdf
    # base64 text, not bytes: pandas and pyarrow copy attrs into JSON metadata
    pdf.attrs[SCHEMA_ATTR] = base64.b64encode(table.schema.serialize().to_pybytes()).decode()
    return pdf


def _schema_from_attrs(df: Any) -> dict[str, DataType]:
    raw = getattr(df, "attrs", {}).get(SCHEMA_ATTR)
    if not raw:
        return {}
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw)))
    return {f.name: DataType(f.type) for f in schema}


def python_to_arrow(values: list[Any], dtype: DataType) -> pa.Array:
    """Rebuild a media column from the values ``to_python`` hands out (arrays, Pillow images,
    ``None``) or from their storage form (dicts, bytes)."""
    t = dtype.to_arrow()
    first = next((v for v in values if v is not None), None)
    if isinstance(t, ThresherExtensionType) and not isinstance(first, (dict, bytes, str)):
        if t.kind == "image":
            from thresher.operators.kernels.image import images_to_arrow

            return images_to_arrow(values, dtype)
        if t.kind in ("tensor", "embedding"):
            from thresher.operators.kernels.image import tensors_to_arrow

            return tensors_to_arrow([None if v is None else np.asarray(v) for v in values], dtype)
    if has_extension(t) and not isinstance(t, pa.ExtensionType):
        raise ThresherTypeError(
            f"cannot rebuild a column of type {dtype} (media nested in {storage_type(t)}) from pandas values; "
            "use to_polars/from_polars or Arrow for nested media"
        )
    from thresher.datatypes import conform_array

    storage = pa.array(values, type=dtype.storage)
    return conform_array(storage, dtype)  # type: ignore[return-value]


def pandas_to_table(df: Any, schema: Mapping[str, Any] | None = None) -> pa.Table:
    """An Arrow table from a pandas frame; media columns typed by ``schema`` or ``attrs``."""
    from thresher.datatypes import to_dtype

    types = _schema_from_attrs(df)
    if schema:
        types.update({k: to_dtype(v) for k, v in schema.items()})
    media = {n: t for n, t in types.items() if n in df.columns and has_extension(t.to_arrow())}
    plain_cols = [c for c in df.columns if c not in media]
    plain_df = df[plain_cols]
    plain_df.attrs = {}  # the schema is applied here, not carried into Arrow metadata
    plain = pa.Table.from_pandas(plain_df, preserve_index=False)
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for c in df.columns:
        if c in media:
            arrays[c] = python_to_arrow(list(df[c]), media[c])
        else:
            col = plain.column(c)
            t = types.get(c)
            if t is not None and schema and c in schema:
                from thresher.datatypes import conform_array

                col = conform_array(col, t)
            arrays[c] = col
    return pa.table(arrays) if arrays else pa.table({})
