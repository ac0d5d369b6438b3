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
from thresher.io import fs
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.parquet import expand_paths
from thresher.io.predicate import Predicate
from thresher.io.source import Source, SourcePartition, SourceStatistics


class _CsvPartition(SourcePartition):
    def __init__(self, source: CsvSource, path: str) -> None:
        self._source = source
        self.path = path
        self.id = path
        self.size_bytes = source.sizes.get(path)

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        src = self._source
        convert = pcsv.ConvertOptions(
            column_types={f.name: f.type for f in src.schema_},
            include_columns=list(columns) if columns is not None and predicate is None else None,
            strings_can_be_null=True,
        )
        try:
            reader = pcsv.open_csv(
                _open(self.path, src.io_config),
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
        except OSError as exc:
            raise fs.storage_error(self.path, "reading", exc) from exc


def _open(uri: str, io_config: IOConfig | None) -> Any:
    """An input stream over a local or remote file (``.gz`` and friends decompressed)."""
    filesystem, path = fs.resolve(uri, io_config)
    try:
        return filesystem.open_input_stream(path, compression="detect")
    except (OSError, pa.ArrowException) as exc:
        raise fs.storage_error(uri, "opening", exc) from None


def file_sizes(files: list[str], io_config: IOConfig | None) -> dict[str, int | None]:
    """Sizes of ``files`` in one listing call per store (None where unknown)."""
    if not files:
        return {}
    try:
        filesystem, _ = fs.resolve(files[0], io_config)
        infos = filesystem.get_file_info([fs.resolve(f, io_config)[1] for f in files])
        return {f: (int(i.size) if i.size is not None else None) for f, i in zip(files, infos)}
    except (OSError, pa.ArrowException):
        return dict.fromkeys(files)


class CsvSource(Source):
    """CSV files, local or on an object store (``io_config`` for credentials)."""

    def __init__(self, paths: Any, has_header: bool = True, delimiter: str = ",", schema: pa.Schema | None = None,
                 io_config: IOConfig | None = None) -> None:
        self.io_config = resolve_io_config(io_config)
        self.files = expand_paths(paths, (".csv", ".tsv", ".txt", ".csv.gz"), self.io_config)
        self.sizes = file_sizes(self.files, self.io_config)
        self.has_header = has_header
        self.delimiter = delimiter
        if schema is None:
            try:
                reader = pcsv.open_csv(
                    _open(self.files[0], self.io_config),
                    read_options=pcsv.ReadOptions(block_size=1 << 20, autogenerate_column_names=not has_header),
                    parse_options=pcsv.ParseOptions(delimiter=delimiter),
                )
                schema = reader.schema
                reader.close()
            except pa.ArrowInvalid as exc:
                raise ThresherIOError(f"reading CSV header of {self.files[0]}: {exc}") from exc
            except OSError as exc:
                raise fs.storage_error(self.files[0], "reading the CSV header of", exc) from exc
        self.schema_ = schema
        self.name = f"csv[{len(self.files)} file{'s' if len(self.files) != 1 else ''}]"

    def arrow_schema(self) -> pa.Schema:
        return self.schema_

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        return [_CsvPartition(self, f) for f in self.files]

    def statistics(self) -> SourceStatistics:
        sizes = list(self.sizes.values())
        return SourceStatistics(None, None if any(s is None for s in sizes) else sum(s or 0 for s in sizes))

    def identity(self) -> tuple[Any, ...]:
        return ("csv", tuple(self.files), self.has_header, self.delimiter)
