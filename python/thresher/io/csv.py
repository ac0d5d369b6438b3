"""CSV source: one partition per file, read as a stream of batches with pyarrow.csv.

Types are inferred from the first file (or given as ``schema``) and imposed on every file, so a
file whose values do not fit fails with an error naming the file and the row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from thresher.errors import ThresherIOError
from thresher.io.parquet import expand_paths
from thresher.io.predicate import Predicate
from thresher.io.source import Source, SourcePartition, SourceStatistics


class _CsvPartition(SourcePartition):
    def __init__(self, source: CsvSource, path: str) -> None:
        self._source = source
        self.path = path
        self.id = path
        import os

        self.size_bytes = os.path.getsize(path)

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        src = self._source
        convert = pcsv.ConvertOptions(
            column_types={f.name: f.type for f in src.schema_},
            include_columns=list(columns) if columns is not None and predicate is None else None,
            strings_can_be_null=True,
        )
        try:
            reader = pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(block_size=1 << 22, column_names=None if src.has_header else src.schema_.names,
                                              autogenerate_column_names=False),
                parse_options=pcsv.ParseOptions(delimiter=src.delimiter),
                convert_options=convert,
            )
            for b in reader:
                if predicate is not None:
                    t = pa.Table.from_batches([b]).filter(predicate.to_pyarrow())
                    if columns is not None:
                        t = t.select(list(columns))
                    yield from t.to_batches(max_chunksize=batch_size)
                else:
                    yield from pa.Table.from_batches([b]).to_batches(max_chunksize=batch_size)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ThresherIOError(f"malformed CSV {self.path}: {exc}") from exc


class CsvSource(Source):
    def __init__(self, paths: Any, has_header: bool = True, delimiter: str = ",", schema: pa.Schema | None = None) -> None:
        self.files = expand_paths(paths, (".csv", ".tsv", ".txt", ".csv.gz"))
        self.has_header = has_header
        self.delimiter = delimiter
        if schema is None:
            try:
                reader = pcsv.open_csv(
                    self.files[0],
                    read_options=pcsv.ReadOptions(block_size=1 << 20, autogenerate_column_names=not has_header),
                    parse_options=pcsv.ParseOptions(delimiter=delimiter),
                )
                schema = reader.schema
                reader.close()
            except (pa.ArrowInvalid, OSError) as exc:
                raise ThresherIOError(f"reading CSV header of {self.files[0]}: {exc}") from exc
        self.schema_ = schema
        self.name = f"csv[{len(self.files)} file{'s' if len(self.files) != 1 else ''}]"

    def arrow_schema(self) -> pa.Schema:
        return self.schema_

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        return [_CsvPartition(self, f) for f in self.files]

    def statistics(self) -> SourceStatistics:
        import os

        return SourceStatistics(None, sum(os.path.getsize(f) for f in self.files))

    def identity(self) -> tuple[Any, ...]:
        return ("csv", tuple(self.files), self.has_header, self.delimiter)
