"""Extension <-> storage conversion (datatypes.py): the one copy every layer uses.

Checked against Arrow itself: the storage a conversion returns is the exact buffer Arrow holds
under the extension type, it survives a Parquet round trip, and wrapping it back
(``conform_array``/``conform_batch``) gives the original batch.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.datatypes import (
    DataType,
    Schema,
    conform_array,
    conform_batch,
    storage_array,
    storage_arrow_schema,
    storage_batch,
    storage_type,
)

_EMB = DataType.embedding("float32", 3)
_FILE = DataType.file()


def _batch() -> pa.RecordBatch:
    emb = conform_array(pa.array([[1, 2, 3], None, [4, 5, 6]], pa.list_(pa.float32(), 3)), _EMB)
    files = conform_array(pa.array([b"a", b"bc", None], pa.large_binary()), _FILE)
    nested = pa.StructArray.from_arrays([files, pa.array([1, 2, 3], pa.int64())], names=["f", "n"])
    listed = pa.LargeListArray.from_arrays(pa.array([0, 1, 1, 3], pa.int32()), emb)
    return pa.RecordBatch.from_arrays([emb, files, nested, listed, pa.array(["x", "y", None], pa.large_string())],
                                      names=["emb", "file", "nested", "listed", "s"])


def test_storage_batch_strips_every_extension_and_conform_wraps_it_back() -> None:
    b = _batch()
    st = storage_batch(b)
    assert st.schema.types == storage_arrow_schema(b.schema).types
    for t in st.schema.types:
        assert storage_type(t) == t, t  # no extension left at any depth
    assert st.column("emb").type == pa.list_(pa.float32(), 3)
    assert st.column("nested").type == pa.struct([("f", pa.large_binary()), ("n", pa.int64())])
    # through Parquet with no extension metadata at all, then back to the logical schema
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_batches([st]), sink)
    back = pq.read_table(io.BytesIO(sink.getvalue())).to_batches()[0]
    again = conform_batch(back, Schema.from_arrow(b.schema))
    assert again.equals(b)


def test_storage_array_keeps_the_container_and_shares_the_buffers() -> None:
    b = _batch()
    emb = b.column("emb")
    top = storage_array(emb)
    assert isinstance(top, pa.FixedSizeListArray) and top.equals(emb.storage)
    assert top.buffers()[0] is not None and top.buffers()[0].address == emb.storage.buffers()[0].address
    chunked = pa.chunked_array([emb, emb.slice(1)])
    sc = storage_array(chunked)
    assert isinstance(sc, pa.ChunkedArray) and sc.num_chunks == 2 and sc.type == emb.type.storage_type
    assert sc.to_pylist() == chunked.to_pylist()
    empty = storage_array(pa.chunked_array([], emb.type))
    assert isinstance(empty, pa.ChunkedArray) and len(empty) == 0 and empty.type == emb.type.storage_type
    # deep=False leaves nested extension types alone (only the outer one is unwrapped)
    nested = b.column("nested")
    assert storage_array(nested, deep=False).type == nested.type
    assert storage_array(nested).type == storage_type(nested.type)
    plain = pa.array([1, 2])
    assert storage_array(plain) is plain


def test_storage_batch_on_tables_and_plain_batches() -> None:
    b = _batch()
    table = pa.Table.from_batches([b, b])
    st = storage_batch(table)
    assert isinstance(st, pa.Table) and st.num_rows == 6
    assert st.to_batches()[0].equals(storage_batch(b))
    plain = pa.RecordBatch.from_arrays([pa.array([1])], names=["x"])
    assert storage_batch(plain) is plain


@pytest.mark.parametrize("with_rows", [True, False])
def test_to_polars_and_to_numpy_use_the_storage(with_rows: bool) -> None:
    pl = pytest.importorskip("polars")
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    df = th.from_pydict({"e": data, "k": [1, 2]})
    if not with_rows:
        df = df.filter(th.col("k") > 5)
    out = df.to_polars()
    assert isinstance(out, pl.DataFrame) and out.columns == ["e", "k"] and out.height == (2 if with_rows else 0)
    if with_rows:
        assert np.array_equal(np.stack(out["e"].to_list()), data)
        assert df.to_numpy("k").tolist() == [1, 2]
