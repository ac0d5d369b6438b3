"""collect_lazy: a relational stage's Polars result as an Arrow table of exactly the stage's schema."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from thresher.datatypes import DataType, Field, Schema, conform_batch
from thresher.engine.polars_frames import collect_lazy, table_to_lazy


def _conformed(lf: pl.LazyFrame, schema: Schema) -> pa.Table:
    table = lf.collect().to_arrow()
    return pa.Table.from_batches([conform_batch(b, schema) for b in table.to_batches()], schema=schema.to_arrow())


def test_result_already_in_the_stage_types_is_the_conformed_table() -> None:
    # Polars hands back int64 / float64 / bool as the schema has them: returned as they are
    schema = Schema([Field("a", DataType.int64()), Field("b", DataType.float64()), Field("c", DataType.bool())])
    lf = pl.LazyFrame({"a": [1, None, 3], "b": [0.5, 1.5, None], "c": [True, None, False]})
    got = collect_lazy(lf, schema)
    assert got.schema.equals(schema.to_arrow(), check_metadata=True)
    assert got.equals(_conformed(lf, schema))


def test_result_in_other_types_is_conformed() -> None:
    # strings come back from Polars as views; an embedding as its storage (a fixed-size list)
    emb = DataType.embedding("float32", 2)
    schema = Schema([Field("s", DataType.string()), Field("e", emb)])
    storage = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 2)
    src = pa.table({"s": ["x", None, "z"], "e": pa.ExtensionArray.from_storage(emb.to_arrow(), storage)})
    lf = table_to_lazy(src, schema)
    assert not lf.collect().to_arrow().schema.equals(schema.to_arrow())
    got = collect_lazy(lf, schema)
    assert got.schema.equals(schema.to_arrow(), check_metadata=True)
    assert got.equals(_conformed(lf, schema))
    assert got.equals(src.cast(schema.to_arrow()))
