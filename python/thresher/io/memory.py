"""An in-memory Arrow table as a source (from_pydict, from_arrow, from_pandas, from_polars)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from thresher import _polars
from thresher.io.predicate import Predicate
from thresher.io.source import Source, SourcePartition, SourceStatistics

DEFAULT_PARTITION_ROWS = 128 * 1024


class _MemoryPartition(SourcePartition):
    def __init__(self, table: pa.Table, index: int, token: str) -> None:
        self.table = table
        self.id = f"memory:{token}:{index}"
        self.num_rows = table.num_rows
        self.size_bytes = table.nbytes

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        t = self.table if columns is None else self.table.select(list(columns))
        if predicate is not None:
            full = self.table
            mask_table = full.filter(predicate.to_pyarrow())
            t = mask_table if columns is None else mask_table.select(list(columns))
        yield from t.to_batches(max_chunksize=batch_size)


class InMemorySource(Source):
    """Rows held in memory. Partitions are fixed row ranges, so their ids are stable."""

    def __init__(self, table: pa.Table, partition_rows: int = DEFAULT_PARTITION_ROWS, token: str | None = None) -> None:
        self.table = table
        self.partition_rows = max(1, partition_rows)
        self.name = f"memory[{table.num_rows} rows]"
        self._token = token or f"{id(table):x}"

    def arrow_schema(self) -> pa.Schema:
        return self.table.schema

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        n = self.table.num_rows
        if n == 0:
            return [_MemoryPartition(self.table, 0, self._token)]
        return [
            _MemoryPartition(self.table.slice(i, self.partition_rows), k, self._token)
            for k, i in enumerate(range(0, n, self.partition_rows))
        ]

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(self.table.num_rows, self.table.nbytes)

    def polars_scan(self, columns: Sequence[str] | None, predicate: Predicate | None) -> Any | None:
        if any(isinstance(t, pa.ExtensionType) for t in self.table.schema.types):
            return None
        t = self.table if columns is None else self.table.select(list(columns))
        lf = _polars.from_arrow(t, rechunk=False).lazy()
        if predicate is not None:
            from thresher.io.predicate import predicate_to_polars

            lf = _polars.from_arrow(self.table, rechunk=False).lazy().filter(predicate_to_polars(predicate))
            if columns is not None:
                lf = lf.select(list(columns))
        return lf

    def identity(self) -> tuple[Any, ...]:
        return ("memory", id(self.table))
