"""JSON source: newline-delimited JSON or a JSON array of objects, one partition per file (pyarrow.json)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.json as pjson

from thresher.errors import ThresherIOError
from thresher.io import fs
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.csv import _open, file_sizes
from thresher.io.parquet import expand_paths
from thresher.io.predicate import Predicate
from thresher.io.source import Source, SourcePartition, SourceStatistics


def read_json_table(source: Any, parse_options: pjson.ParseOptions | None = None) -> pa.Table:
    """One JSON file as a table: newline-delimited objects, or one array of objects (``[{...}, ...]``).

    An array is re-encoded as NDJSON by Polars (vectorized, no Python loop over rows) so both
    layouts get pyarrow's type inference and ``parse_options`` alike.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    else:
        data = source.read()
    if bytes(data[:4096]).lstrip()[:1] == b"[":
        import io

        import polars as pl

        try:
            data = pl.read_json(io.BytesIO(data)).write_ndjson().encode()
        except Exception as exc:  # noqa: BLE001 - polars raises its own ComputeError/SchemaError kinds
            raise pa.ArrowInvalid(f"a JSON array must hold objects (one per row): {exc}") from exc
    return pjson.read_json(pa.BufferReader(data), parse_options=parse_options)


class _JsonPartition(SourcePartition):
    def __init__(self, source: JsonSource, path: str) -> None:
        self._source = source
        self.path = path
        self.id = path
        self.size_bytes = source.sizes.get(path)

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            t = read_json_table(
                _open(self.path, self._source.io_config),
                parse_options=pjson.ParseOptions(explicit_schema=self._source.schema_, unexpected_field_behavior="ignore"),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ThresherIOError(f"malformed JSON {self.path}: {exc}") from exc
        except OSError as exc:
            raise fs.storage_error(self.path, "reading", exc) from exc
        if predicate is not None:
            t = t.filter(predicate.to_pyarrow())
        if columns is not None:
            t = t.select(list(columns))
        yield from t.to_batches(max_chunksize=batch_size)


class JsonSource(Source):
    """JSON files (NDJSON or arrays of objects), local or on an object store (``io_config`` for credentials)."""

    def __init__(self, paths: Any, schema: pa.Schema | None = None, io_config: IOConfig | None = None) -> None:
        self.io_config = resolve_io_config(io_config)
        self.files = expand_paths(paths, (".json", ".jsonl", ".ndjson"), self.io_config)
        self.sizes = file_sizes(self.files, self.io_config)
        if schema is None:
            try:
                schema = read_json_table(_open(self.files[0], self.io_config)).schema
            except pa.ArrowInvalid as exc:
                raise ThresherIOError(f"reading JSON {self.files[0]}: {exc}") from exc
            except OSError as exc:
                raise fs.storage_error(self.files[0], "reading", exc) from exc
        self.schema_ = schema
        self.name = f"json[{len(self.files)} file{'s' if len(self.files) != 1 else ''}]"

    def arrow_schema(self) -> pa.Schema:
        return self.schema_

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        return [_JsonPartition(self, f) for f in self.files]

    def statistics(self) -> SourceStatistics:
        sizes = list(self.sizes.values())
        return SourceStatistics(None, None if any(s is None for s in sizes) else sum(s or 0 for s in sizes))

    def identity(self) -> tuple[Any, ...]:
        return ("json", tuple(self.files))
