"""Entry points that create DataFrames from files, tables and in-memory data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.dataframe import DataFrame
from thresher.datatypes import DataType, Schema, conform_batch, to_dtype
from thresher.errors import ThresherTypeError
from thresher.io.config import IOConfig
from thresher.planner.logical import ScanSource


def _scan(source: Any) -> DataFrame:
    return DataFrame(ScanSource(source))


def read_parquet(path: Any, hive_partitioning: bool = True, io_config: IOConfig | None = None) -> DataFrame:
    """Lazily read Parquet files (a path, a glob, a folder or a list of them), local or remote.

    ``s3://``, ``gs://``, ``az://``/``abfs://``, ``hf://`` and ``https://`` locations are read
    through :mod:`thresher.io.fs` with ``io_config`` (default: ``th.set_io_config``'s, or the
    environment); a filter reads only the row groups whose statistics can match.

    >>> import thresher as th, tempfile, os, pyarrow as pa, pyarrow.parquet as pq
    >>> d = tempfile.mkdtemp(); pq.write_table(pa.table({"a": [1, 2]}), os.path.join(d, "x.parquet"))
    >>> th.read_parquet(os.path.join(d, "*.parquet")).to_pydict()
    {'a': [1, 2]}
    """
    from thresher.io.parquet import ParquetSource

    return _scan(ParquetSource(path, hive_partitioning=hive_partitioning, io_config=io_config))


def read_csv(path: Any, has_header: bool = True, delimiter: str = ",", schema: Schema | None = None,
             io_config: IOConfig | None = None) -> DataFrame:
    """Lazily read CSV files (local or on an object store, see :func:`read_parquet`)."""
    from thresher.io.csv import CsvSource

    return _scan(CsvSource(path, has_header=has_header, delimiter=delimiter,
                           schema=schema.to_arrow() if schema is not None else None, io_config=io_config))


def read_json(path: Any, schema: Schema | None = None, io_config: IOConfig | None = None) -> DataFrame:
    """Lazily read JSON files: newline-delimited objects (``.jsonl``/``.ndjson``) or a JSON array of
    objects per file (``[{"a": 1}, {"a": 2}]``), detected from the first byte of each file; local
    or on an object store (see :func:`read_parquet`)."""
    from thresher.io.json import JsonSource

    return _scan(JsonSource(path, schema=schema.to_arrow() if schema is not None else None, io_config=io_config))


def from_arrow(data: pa.Table | pa.RecordBatch | Sequence[pa.RecordBatch]) -> DataFrame:
    """A frame over Arrow data (columns are normalized to Thresher's canonical types)."""
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    else:
        table = pa.Table.from_batches(list(data))
    schema = Schema.from_arrow(table.schema)
    batches = [conform_batch(b, schema) for b in table.to_batches()]
    table = pa.Table.from_batches(batches, schema=schema.to_arrow()) if batches else schema.to_arrow().empty_table()
    from thresher.io.memory import InMemorySource

    return _scan(InMemorySource(table))


def from_pydict(data: Mapping[str, Any], schema: Mapping[str, Any] | pa.Schema | None = None) -> DataFrame:
    """A frame from a dict of columns; ``schema`` gives types (e.g. media types) explicitly.

    Types may be DataTypes, names (``"int64"``), Arrow, Polars or NumPy dtypes, or Python types.

    A NumPy array with two or more dimensions becomes a fixed-shape tensor column (rows along
    axis 0; ``schema`` may make it an embedding instead).

    >>> import numpy as np, thresher as th
    >>> th.from_pydict({"a": [1, 2], "t": np.zeros((2, 4, 3), dtype="float32")}).schema
    Schema(a: int64, t: tensor[float32, (4, 3)])
    """
    types: dict[str, DataType] = {}
    if schema:
        names = list(schema.names) if isinstance(schema, pa.Schema) else list(schema)
        missing = [n for n in names if n not in data]
        if missing:
            raise ThresherTypeError(f"from_pydict: schema names {missing} that are not in the data {list(data)}")
        # "int64", pa.int64(), pl.Int64, np.float32, int, DataType: whatever a Polars/pyarrow user passes
        types = {n: to_dtype(schema.field(n).type if isinstance(schema, pa.Schema) else schema[n]) for n in names}
    arrays = {}
    for k, v in data.items():
        t = types.get(k)
        if isinstance(v, np.ndarray) and v.ndim >= 2:
            from thresher.operators.kernels.tensor import tensor_from_numpy

            if t is not None and t.kind == "embedding" and (v.ndim != 2 or v.shape[1] != int(t.params["dim"])):
                raise ThresherTypeError(f"from_pydict: column {k!r} is an array of shape {v.shape}, not rows of "
                                        f"{t.params['dim']} values for {t}")
            v = tensor_from_numpy(v)
        if t is not None and t.is_media() and not isinstance(v, (pa.Array, pa.ChunkedArray)):
            from thresher.interop import python_to_arrow

            arrays[k] = python_to_arrow(list(v), t)  # NumPy arrays / Pillow images, as values come out
        elif t is not None:
            from thresher.datatypes import conform_array

            storage = pa.array(v, type=t.storage) if not isinstance(v, pa.Array) else v
            arrays[k] = conform_array(storage, t)
        else:
            arrays[k] = v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)
    return from_arrow(pa.table(arrays))


def from_pylist(rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    return from_arrow(pa.Table.from_pylist(list(rows)))


def from_pandas(df: Any, schema: Mapping[str, Any] | None = None) -> DataFrame:
    """A frame from a pandas DataFrame (the index is dropped).

    Media columns come back with their types when the frame came from ``to_pandas`` (the schema
    travels in ``df.attrs``) or when ``schema`` names their types; their values may be NumPy
    arrays or Pillow images.

    >>> import numpy as np, pandas as pd, thresher as th
    >>> pdf = pd.DataFrame({"img": [np.zeros((2, 3, 3), dtype="uint8")]})
    >>> th.from_pandas(pdf, schema={"img": th.DataType.image()}).schema
    Schema(img: image[any])
    """
    from thresher.interop import pandas_to_table

    return from_arrow(pandas_to_table(df, schema))


def from_polars(df: Any) -> DataFrame:
    """A frame from a Polars DataFrame; media (extension) columns keep their types."""
    return from_arrow(df.to_arrow())


def from_glob_path(pattern: str | Sequence[str], io_config: IOConfig | None = None) -> DataFrame:
    """One row per file matching ``pattern``: path, size, modified time (sorted by path).

    ``pattern`` may use ``*``, ``?`` and ``**`` (any depth), be a list of patterns, or name an
    object store (``s3://bucket/*.jpg``, credentials from ``io_config`` or the session default).
    It is listed when the frame is made; a pattern that matches no file raises ``ThresherIOError``.

    >>> import os, tempfile, thresher as th
    >>> d = tempfile.mkdtemp()
    >>> for name in ("a.jpg", "b.jpg", "c.txt"):
    ...     _ = open(os.path.join(d, name), "wb").write(b"12345")
    >>> df = th.from_glob_path(os.path.join(d, "*.jpg"))
    >>> [os.path.basename(p) for p in df.to_pydict()["path"]], df.to_pydict()["size"]
    (['a.jpg', 'b.jpg'], [5, 5])
    """
    from thresher.errors import ThresherIOError
    from thresher.io.glob import GlobSource

    source = GlobSource(pattern, io_config=io_config)  # type: ignore[arg-type]
    # listed now (once; the scan reuses it), so a pattern that matches nothing fails here, like read_parquet
    if not source.statistics().num_rows:
        raise ThresherIOError(f"no files match {pattern!r}")
    return _scan(source)


def read_iceberg(table: Any, catalog: Any = None, snapshot_id: int | None = None,
                 io_config: IOConfig | None = None) -> DataFrame:
    """Read an Iceberg table (an identifier like "db.t" with ``catalog``, or a pyiceberg Table).

    ``io_config`` reaches the table's data files when ``catalog`` is a name or a dict of
    properties (a Catalog object brings its own FileIO settings).
    """
    from thresher.io.iceberg import IcebergSource

    return _scan(IcebergSource(table, catalog=catalog, snapshot_id=snapshot_id, io_config=io_config))


def read_lance(uri: str, version: int | None = None, io_config: IOConfig | None = None,
               storage_options: Mapping[str, str] | None = None) -> DataFrame:
    """Read a Lance dataset (optionally at a version), local or on an object store.

    ``io_config`` is translated to Lance's ``storage_options``; explicit ``storage_options``
    (Lance's own keys) win over it.
    """
    from thresher.io.lance import LanceSource

    return _scan(LanceSource(uri, version=version, storage_options=storage_options, io_config=io_config))


def iceberg_catalog(warehouse: str, name: str = "thresher", database: str | None = None,
                    io_config: IOConfig | None = None) -> Any:
    """An embedded Iceberg catalog: pyiceberg's SqlCatalog on sqlite.

    ``warehouse`` is a local folder or an object-store prefix (``s3://bucket/wh``); the sqlite
    file is ``database`` (default: ``<warehouse>/catalog.db``, which needs a local warehouse).
    """
    from thresher.io.iceberg import default_catalog

    return default_catalog(warehouse, name=name, database=database, io_config=io_config)
