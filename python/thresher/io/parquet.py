"""Parquet source: files (or globs / Hive-partitioned folders) read through pyarrow.dataset.

Partitions are runs of consecutive row groups of one file (``path#rg3-5``), chosen after
pruning with the pushed predicate: Hive partition values prune files, row-group statistics prune
row groups. Relational stages can scan the same files with Polars (``polars_scan``).
"""

from __future__ import annotations

import os
import posixpath
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from thresher._polars import filter_, select_columns
from thresher.errors import ThresherIOError
from thresher.io import fs
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.predicate import Predicate, predicate_to_polars
from thresher.io.source import ColumnStatistics, Source, SourcePartition, SourceStatistics

TARGET_PARTITION_BYTES = 64 << 20


def expand_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], suffixes: tuple[str, ...],
                 io_config: IOConfig | None = None) -> list[str]:
    """Expand globs and folders (local or object store) into a sorted list of file locations."""
    return fs.expand_paths(paths, suffixes, io_config)


def _common_root(paths: list[str]) -> str | None:
    if not paths:
        return None
    return posixpath.commonpath([posixpath.dirname(p) for p in paths])


def one_filesystem(files: list[str], io_config: IOConfig | None) -> tuple[Any, list[str]]:
    """The filesystem all ``files`` live on and their paths on it (one store per source)."""
    schemes = {fs.split_uri(f)[0] for f in files}
    if len(schemes) > 1:
        raise ThresherIOError(f"one source cannot mix storage schemes: {sorted(s or 'local' for s in schemes)}")
    filesystem, _ = fs.resolve(files[0], io_config)
    return filesystem, [fs.resolve(f, io_config)[1] for f in files]


class _ParquetPartition(SourcePartition):
    def __init__(self, source: ParquetSource, fragment: ds.ParquetFileFragment, row_groups: list[int], pid: str,
                 num_rows: int | None, size: int | None) -> None:
        self._source = source
        self._fragment = fragment
        self._row_groups = row_groups
        self.id = pid
        self.num_rows = num_rows
        self.size_bytes = size

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        frag = self._fragment
        if self._row_groups is not None:
            frag = frag.subset(row_group_ids=self._row_groups)
        if predicate is not None and _has_view_columns(self._source.dataset.schema, columns, predicate):
            # pyarrow has no filter kernel for string_view/binary_view columns (tpchgen writes
            # them): scan unfiltered and filter each batch with Polars, which reads them natively
            yield from self._read_filtered_with_polars(frag, columns, predicate, batch_size)
            return
        try:
            scanner = ds.Scanner.from_fragment(
                frag,
                schema=self._source.dataset.schema,
                columns=list(columns) if columns is not None else None,
                filter=predicate.to_pyarrow() if predicate is not None else None,
                batch_size=batch_size,
                use_threads=True,
            )
            yield from scanner.to_batches()
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise fs.storage_error(self._source.uri_of(frag.path), f"reading (row groups {self._row_groups})",
                                   exc) from exc

    def _read_filtered_with_polars(self, frag: Any, columns: Sequence[str] | None, predicate: Predicate,
                                   batch_size: int) -> Iterator[pa.RecordBatch]:
        import polars as pl

        schema = self._source.dataset.schema
        wanted = list(columns) if columns is not None else list(schema.names)
        scan_cols = wanted + sorted(predicate.columns() - set(wanted))
        out_schema = pa.schema([schema.field(c) for c in wanted])
        expr = predicate_to_polars(predicate)
        try:
            scanner = ds.Scanner.from_fragment(frag, schema=schema, columns=scan_cols, batch_size=batch_size,
                                               use_threads=True)
            for batch in scanner.to_batches():
                df = pl.from_arrow(batch)
                assert isinstance(df, pl.DataFrame)
                kept = df.filter(expr).select(wanted).to_arrow()
                for b in kept.cast(out_schema).to_batches():
                    if b.num_rows:
                        yield b
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise fs.storage_error(self._source.uri_of(frag.path), f"reading (row groups {self._row_groups})",
                                   exc) from exc


def _has_view_columns(schema: pa.Schema, columns: Sequence[str] | None, predicate: Predicate) -> bool:
    names = (set(columns) if columns is not None else set(schema.names)) | predicate.columns()
    return any(pa.types.is_string_view(f.type) or pa.types.is_binary_view(f.type)
               for f in schema if f.name in names)


class ParquetSource(Source):
    """One or more Parquet files, local or on an object store; Hive-style ``key=value`` folders become columns.

    Parameters
    ----------
    paths : str, PathLike or list of them
        Files, folders or globs (``s3://bucket/data/**/*.parquet``).
    hive_partitioning : bool
        Turn ``key=value`` folders into columns.
    schema : pyarrow.Schema, optional
        Impose a schema instead of the first file's.
    io_config : IOConfig, optional
        Credentials and endpoints (default: the session's, captured now).
    """

    def __init__(self, paths: Any, hive_partitioning: bool = True, schema: pa.Schema | None = None,
                 io_config: IOConfig | None = None) -> None:
        self.io_config = resolve_io_config(io_config)
        entries = fs.expand_entries(paths, (".parquet", ".pq", ".parq"), self.io_config)
        self.files = [e.uri for e in entries]
        self._paths_arg = paths
        self._scheme = fs.split_uri(self.files[0])[0]
        self._fs, fs_paths = one_filesystem(self.files, self.io_config)
        root = _common_root(fs_paths)
        partitioning = None
        if hive_partitioning and root is not None and any("=" in part for f in fs_paths
                                                          for part in posixpath.relpath(f, root).split("/")[:-1]):
            partitioning = ds.HivePartitioning.discover(infer_dictionary=False)
        #: each file's size from the listing (object stores), None where unknown
        self._sizes: list[int] | None = None
        if self._scheme and partitioning is None and all(e.size >= 0 for e in entries):
            self._sizes = [e.size for e in entries]
        try:
            if self._sizes is not None:
                self.dataset = _object_store_dataset(self._fs, fs_paths, self._sizes, schema)
            else:
                self.dataset = ds.dataset(
                    fs_paths, format="parquet", partitioning=partitioning, filesystem=self._fs,
                    partition_base_dir=root if partitioning else None, schema=schema,
                )
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            shown = f"{self.files[:3]}{'...' if len(self.files) > 3 else ''}"
            raise fs.storage_error(shown if len(self.files) > 1 else self.files[0], "opening parquet", exc) from exc
        self._check_schemas()
        self._root = root
        self.name = f"parquet[{len(self.files)} file{'s' if len(self.files) != 1 else ''}]"
        self._hive = partitioning is not None

    def uri_of(self, fs_path: str) -> str:
        """The location (with its scheme) of a path on this source's filesystem."""
        return fs_path if not self._scheme else f"{self._scheme}://{fs_path}"

    def _check_schemas(self) -> None:
        base = self.dataset.schema
        for frag in list(self.dataset.get_fragments())[1:64]:
            phys = frag.physical_schema
            for f in phys:
                idx = base.get_field_index(f.name)
                if idx < 0:
                    continue
                bt = base.field(idx).type
                if bt != f.type and not _compatible(bt, f.type):
                    raise ThresherIOError(
                        f"schema mismatch in {frag.path}: column {f.name!r} is {f.type}, "
                        f"but {bt} in {self.files[0]}"
                    )

    def arrow_schema(self) -> pa.Schema:
        return self.dataset.schema

    def _pid(self, path: str, rgs: list[int]) -> str:
        rel = posixpath.relpath(path, self._root) if self._root else path
        return f"{rel}#rg{rgs[0]}-{rgs[-1]}" if rgs else f"{rel}#all"

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        expr = predicate.to_pyarrow() if predicate is not None else None
        out: list[SourcePartition] = []
        try:
            fragments = list(self.dataset.get_fragments(filter=expr)) if expr is not None else list(self.dataset.get_fragments())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            fragments = list(self.dataset.get_fragments())
        for frag in fragments:
            try:
                md = frag.metadata
            except (OSError, pa.ArrowInvalid) as exc:
                raise fs.storage_error(self.uri_of(frag.path), "reading the parquet footer of", exc) from exc
            if expr is not None:
                try:
                    kept = [f.row_groups[0].id for f in frag.split_by_row_group(filter=expr) if f.row_groups]
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    kept = list(range(md.num_row_groups))
            else:
                kept = list(range(md.num_row_groups))
            # group row groups into partitions of about TARGET_PARTITION_BYTES
            group: list[int] = []
            size = rows = 0
            for rg in kept:
                rgmd = md.row_group(rg)
                group.append(rg)
                size += rgmd.total_byte_size
                rows += rgmd.num_rows
                if size >= TARGET_PARTITION_BYTES:
                    out.append(_ParquetPartition(self, frag, group, self._pid(frag.path, group), rows, size))
                    group, size, rows = [], 0, 0
            if group:
                out.append(_ParquetPartition(self, frag, group, self._pid(frag.path, group), rows, size))
        return out

    def statistics(self) -> SourceStatistics:
        """Rows (from the footers) and bytes (from the file listing) of the dataset, cached as
        :meth:`column_statistics` is (the planner's estimates ask for them about a hundred times
        per query, a file-system call each time)."""
        cached = self.__dict__.get("_statistics")
        if cached is None:
            cached = self.__dict__["_statistics"] = self._statistics()
        return cached  # type: ignore[no-any-return]

    def _statistics(self) -> SourceStatistics:
        rows = 0
        size = 0
        if self._sizes is not None:
            size = sum(self._sizes)
        else:
            try:
                infos = self._fs.get_file_info([f.path for f in list(self.dataset.get_fragments())[:1000]])
                size = sum(int(i.size or 0) for i in infos)
            except (OSError, pa.ArrowException):
                pass
        try:
            for frag in self.dataset.get_fragments():
                rows += frag.metadata.num_rows
        except OSError:
            return SourceStatistics(None, size)
        return SourceStatistics(rows, size)

    def column_statistics(self, name: str) -> ColumnStatistics | None:
        """Min, max and nulls of a top-level column over every row group's footer statistics
        (cached; None when a file lacks them, or for more than 64 files)."""
        cache: dict[str, ColumnStatistics | None] = self.__dict__.setdefault("_column_stats", {})
        if name not in cache:
            cache[name] = self._column_statistics(name)
        return cache[name]

    def _column_chunks(self, name: str) -> list[tuple[Any, int]] | None:
        """Each row group's footer metadata of top-level column ``name`` with the group's row
        count, in file order; None for more than 64 files, a file without the column, or an
        unreadable footer. Column statistics and row-group ranges both read this walk."""
        out: list[tuple[Any, int]] = []
        try:
            fragments = list(self.dataset.get_fragments())
            if not fragments or len(fragments) > 64:
                return None
            for frag in fragments:
                md = frag.metadata
                idx = next((i for i in range(md.num_columns) if md.schema.column(i).path == name), None)
                if idx is None:
                    return None
                for rg in range(md.num_row_groups):
                    group = md.row_group(rg)
                    out.append((group.column(idx), group.num_rows))
        except (OSError, pa.ArrowException, TypeError, ValueError):
            return None
        return out

    def _column_statistics(self, name: str) -> ColumnStatistics | None:
        chunks = self._column_chunks(name)
        if chunks is None:
            return None
        lo: Any = None
        hi: Any = None
        nulls = 0
        dict_values: float | None = None
        try:
            for chunk, num_rows in chunks:
                n = _dictionary_values(chunk)
                if n is not None:
                    dict_values = n if dict_values is None else max(dict_values, n)
                st = chunk.statistics
                if st is None or not st.has_min_max or st.null_count is None:
                    if st is not None and st.null_count is not None and st.null_count == num_rows:
                        nulls += st.null_count  # an all-null row group has no min/max
                        continue
                    return None
                nulls += st.null_count
                lo = st.min if lo is None or st.min < lo else lo
                hi = st.max if hi is None or st.max > hi else hi
        except (OSError, pa.ArrowException, TypeError, ValueError):
            return None
        return ColumnStatistics(lo, hi, nulls, dictionary_values=dict_values)

    def column_ranges(self, name: str) -> list[tuple[Any, Any]] | None:
        """Each row group's ``(min, max)`` of top-level column ``name`` from the footers (cached;
        None when a row group lacks them, or for more than 64 files)."""
        cache: dict[str, list[tuple[Any, Any]] | None] = self.__dict__.setdefault("_column_ranges_cache", {})
        if name not in cache:
            cache[name] = self._column_ranges(name)
        return cache[name]

    def _column_ranges(self, name: str) -> list[tuple[Any, Any]] | None:
        chunks = self._column_chunks(name)
        if chunks is None:
            return None
        out: list[tuple[Any, Any]] = []
        try:
            for chunk, num_rows in chunks:
                st = chunk.statistics
                if st is not None and st.has_min_max:
                    out.append((st.min, st.max))
                elif st is None or st.null_count != num_rows:
                    return None
        except (OSError, pa.ArrowException, TypeError, ValueError):
            return None
        return out

    def polars_scan(self, columns: Sequence[str] | None, predicate: Predicate | None) -> Any | None:
        lf = _whole_scan(self)
        if lf is None:
            return None
        if predicate is not None:
            lf = filter_(lf, predicate_to_polars(predicate))
        if columns is not None:
            lf = select_columns(lf, columns)
        return lf

    def polars_scannable(self, columns: Sequence[str] | None, predicate: Predicate | None) -> bool:
        # the whole scan decides (narrowing it by columns and predicate always succeeds): the
        # lowering asked every scan for its frame only to test it, then built it again
        return _whole_scan(self) is not None

    def identity(self) -> tuple[Any, ...]:
        return ("parquet", tuple(self.files))


def _object_store_dataset(filesystem: Any, paths: list[str], sizes: list[int], schema: pa.Schema | None) -> ds.Dataset:
    """What ``ds.dataset(paths)`` builds (the first file's schema unless ``schema``), from
    fragments that know their size: ``ds.dataset`` re-asks each object's size on every open (a
    HEAD) and reads the first footer for discovery only, to read it again for the row groups.
    Here the first fragment reads its footer once and keeps it for planning and reading."""
    fmt = ds.ParquetFileFormat()
    frags = [fmt.make_fragment(p, filesystem, file_size=n) for p, n in zip(paths, sizes, strict=True)]
    if schema is None:
        frags[0].ensure_complete_metadata()
        schema = frags[0].physical_schema
    return ds.FileSystemDataset(frags, schema, fmt, filesystem)


#: id(source) -> (a weak reference to it, its Polars scan of every column or None): a LazyFrame
#: is an immutable description that each use narrows, and building the scan (path checks, the
#: credential provider) cost more than the rest of lowering a query, once per scan per planning
_WHOLE_SCANS: dict[int, tuple[weakref.ref[ParquetSource], Any]] = {}


def _whole_scan(source: ParquetSource) -> Any | None:
    hit = _WHOLE_SCANS.get(id(source))
    if hit is not None and hit[0]() is source:
        return hit[1]
    lf = _build_whole_scan(source)
    key = id(source)
    # the callback runs while the source is freed, before its id can be reused
    _WHOLE_SCANS[key] = (weakref.ref(source, lambda _r, k=key: _WHOLE_SCANS.pop(k, None)), lf)  # type: ignore[misc]
    return lf


def _build_whole_scan(source: ParquetSource) -> Any | None:
    import polars as pl

    schema = source.dataset.schema
    if any(isinstance(t, pa.ExtensionType) for t in schema.types):
        return None
    try:
        if source._scheme:
            # Polars' own object-store client would need the credentials again: scan through
            # the same pyarrow filesystem (predicates and projections still pushed down)
            return pl.scan_pyarrow_dataset(source.dataset)
        return pl.scan_parquet(source.files, hive_partitioning=source._hive)
    except Exception:  # noqa: BLE001 - fall back to our own reader
        return None


#: bytes of a dictionary page's header (about), and of each PLAIN value's length prefix
_DICT_PAGE_HEADER = 16
_PLAIN_LENGTH = 4


def _dictionary_values(chunk: Any) -> float | None:
    """About how many values the dictionary page of a text column chunk holds: the page's bytes
    (the footers' offsets) over the bytes of a value as long as the chunk's min and max on
    average. TPC-H: o_orderstatus 3 (3), r_name 4 (5), n_name 22 (25), l_shipmode 7 (7); snappy
    shrinks repetitive values (p_brand 10 of 25). None for other columns."""
    st = chunk.statistics
    start = chunk.dictionary_page_offset
    if not start or st is None or not st.has_min_max or not isinstance(st.min, str | bytes) \
            or chunk.physical_type != "BYTE_ARRAY":
        return None
    size = chunk.data_page_offset - start
    if size <= _DICT_PAGE_HEADER:
        return None
    width = _PLAIN_LENGTH + (len(st.min) + len(st.max)) / 2
    return max(1.0, (size - _DICT_PAGE_HEADER) / width)


def _compatible(a: pa.DataType, b: pa.DataType) -> bool:
    from thresher.datatypes import canonical_arrow

    if canonical_arrow(a) == canonical_arrow(b):
        return True
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return True
    if pa.types.is_floating(a) and pa.types.is_floating(b):
        return True
    return False
