"""Polars frames in and out of relational stages: Arrow tables as LazyFrames, results back.

Extension columns travel as their storage (Polars does not know them) and are re-wrapped from
the stage's schema on the way out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from thresher import _polars
from thresher._lazy import lazy_module
from thresher.datatypes import Schema, conform_batch, storage_batch
from thresher.errors import ThresherError, ThresherExecutionError, without_polars_context
from thresher.operators.expr_to_polars import polars_dtype, polars_error_message

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


def table_to_lazy(table: pa.Table, schema: Schema) -> pl.LazyFrame:
    """A LazyFrame over ``table`` (extension columns as their storage)."""
    if table.num_rows == 0 and table.num_columns == 0:
        return pl.LazyFrame(schema={f.name: polars_dtype(f.dtype) for f in schema.fields})
    batches = [storage_batch(b) for b in table.to_batches()]
    if not batches:
        storage_schema = pa.schema([pa.field(f.name, f.dtype.storage) for f in schema.fields])
        return _polars.from_arrow(storage_schema.empty_table()).lazy()
    df = _polars.from_arrow(pa.Table.from_batches(batches), rechunk=False)
    assert isinstance(df, pl.DataFrame)
    return df.lazy()


def collect_lazy(lf: pl.LazyFrame, schema: Schema, engine: str = "auto") -> pa.Table:
    """Collect ``lf`` and conform the result to ``schema`` (extension types re-wrapped)."""
    try:
        df = lf.collect(engine=engine)  # type: ignore[call-overload]
    except pl.exceptions.PolarsError as exc:
        raise ThresherExecutionError(polars_error_message(exc)) from exc
    except pl.exceptions.PanicException as exc:  # (a BaseException: Polars failed on a case it lacks)
        raise ThresherExecutionError(polars_error_message(exc)) from None
    except ThresherError as exc:  # raised in a batch function: Polars appended its expression
        without_polars_context(exc)
        raise
    table = df.to_arrow()
    target = schema.to_arrow()
    if table.schema.equals(target, check_metadata=True):
        # already the stage's types (no extension column, nothing to widen): conforming each
        # batch would compare the same schemas again and rebuild the same table
        return table
    batches = [conform_batch(b, schema) for b in table.to_batches()]
    return pa.Table.from_batches(batches, schema=target)
