"""``GlobSource``: the files matching a glob pattern, one row per file (``th.from_glob_path``).

Columns: ``path`` (string), ``size`` (int64 bytes), ``modified`` (timestamp[us, UTC]). The listing
is sorted by path and cut into chunks of ``files_per_partition``; a partition's id is the pattern,
its chunk number and a hash of the paths in it, so it is stable across runs over the same files.
Local patterns use :mod:`glob` (``**`` recursive); object-store patterns (``s3://``, ``gs://``,
``az://``, ``hf://``) are listed through :mod:`thresher.io.fs` with the source's ``io_config``.

Examples
--------
>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> for n in ("b.jpg", "a.jpg", "c.txt"):
...     _ = open(os.path.join(d, n), "wb").write(b"x")
>>> src = GlobSource(os.path.join(d, "*.jpg"))
>>> [os.path.basename(p) for p in src.read_all().column("path").to_pylist()]
['a.jpg', 'b.jpg']
"""

from __future__ import annotations

import datetime
import glob as _glob
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import xxhash

from thresher._lazy import lazy_module
from thresher.errors import ThresherIOError
from thresher.io import fs
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.predicate import Predicate
from thresher.io.source import Source, SourcePartition, SourceStatistics

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

SCHEMA = pa.schema([
    pa.field("path", pa.large_string(), nullable=False),
    pa.field("size", pa.int64()),
    pa.field("modified", pa.timestamp("us", tz="UTC")),
])


def _list_files(pattern: str, io_config: IOConfig | None = None) -> list[tuple[str, int, datetime.datetime | None]]:
    if not fs.is_local(pattern):
        if fs.scheme_of(pattern) in ("http", "https"):
            raise ThresherIOError(f"cannot list files over http: {pattern!r} (use a list of urls)")
        return [(e.uri, e.size, e.mtime) for e in fs.glob(pattern, io_config)]
    # local patterns keep Python's glob (relative patterns give relative paths, as before)
    local = pattern[len("file://"):] if pattern.startswith("file://") else pattern
    if os.path.isdir(local):
        local = os.path.join(local, "**", "*")
    out: list[tuple[str, int, datetime.datetime | None]] = []
    for p in sorted(_glob.glob(local, recursive=True)):
        try:
            st = os.stat(p)
        except OSError:
            continue  # vanished between listing and stat
        if not os.path.isfile(p):
            continue
        out.append((p, st.st_size, datetime.datetime.fromtimestamp(st.st_mtime, tz=datetime.timezone.utc)))
    return out


class GlobPartition(SourcePartition):
    """A contiguous chunk of the sorted listing."""

    def __init__(self, pid: str, rows: list[tuple[str, int, datetime.datetime | None]]) -> None:
        self.id = pid
        self.rows = rows
        self.num_rows = len(rows)
        self.size_bytes = sum(len(r[0]) + 16 for r in rows)

    def read(self, columns: Sequence[str] | None, predicate: Predicate | None, batch_size: int
             ) -> Iterator[pa.RecordBatch]:
        names = list(columns) if columns is not None else SCHEMA.names
        need = set(names) | (predicate.columns() if predicate is not None else set())
        fields = [f for f in SCHEMA if f.name in need]
        step = max(1, batch_size)
        for start in range(0, len(self.rows), step):
            chunk = self.rows[start : start + step]
            cols = {"path": [r[0] for r in chunk], "size": [r[1] for r in chunk], "modified": [r[2] for r in chunk]}
            batch = pa.RecordBatch.from_arrays([pa.array(cols[f.name], f.type) for f in fields],
                                               schema=pa.schema(fields))
            if predicate is not None:
                batch = batch.filter(pc.fill_null(_eval(predicate, batch), False))
            yield batch.select(names)


def _eval(predicate: Predicate, batch: pa.RecordBatch) -> pa.Array:
    import pyarrow.dataset as ds

    return ds.dataset(pa.Table.from_batches([batch])).to_table(columns={"m": predicate.to_pyarrow()}).column("m") \
        .combine_chunks()


class GlobSource(Source):
    """Files matching ``pattern`` as rows ``(path, size, modified)``.

    Parameters
    ----------
    pattern : str
        A glob (``data/**/*.jpg``), a directory (all files under it) or an fsspec url pattern.
    files_per_partition : int
        Files per partition (the unit of parallelism and of checkpointing).
    io_config : IOConfig, optional
        Credentials and endpoints for object stores (default: the session's, captured now).
    """

    exact_predicate = True
    supports_predicate = True

    def __init__(self, pattern: str, files_per_partition: int = 1000, io_config: IOConfig | None = None) -> None:
        if files_per_partition < 1:
            raise ValueError("files_per_partition must be positive")
        self.io_config = resolve_io_config(io_config)
        self.pattern = pattern
        self.files_per_partition = files_per_partition
        self._files: list[tuple[str, int, datetime.datetime | None]] | None = None
        self.name = f"glob[{pattern}]"

    def _listing(self) -> list[tuple[str, int, datetime.datetime | None]]:
        if self._files is None:
            self._files = _list_files(self.pattern, self.io_config)
        return self._files

    def arrow_schema(self) -> pa.Schema:
        return SCHEMA

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        files = self._listing()
        parts: list[SourcePartition] = []
        for k, start in enumerate(range(0, len(files), self.files_per_partition)):
            rows = files[start : start + self.files_per_partition]
            # (xxh3, not hashlib: importing hashlib loads OpenSSL, ~3.5 MiB of RSS for an id)
            digest = xxhash.xxh3_64_hexdigest("\n".join(r[0] for r in rows).encode())
            parts.append(GlobPartition(f"{self.pattern}#{k}:{digest}", rows))
        return parts

    def statistics(self) -> SourceStatistics:
        files = self._listing()
        return SourceStatistics(num_rows=len(files), size_bytes=sum(len(f[0]) + 16 for f in files))

    def read_all(self, batch_size: int = 65_536) -> pa.Table:
        """All rows as one table (for tests and small listings)."""
        batches = [b for p in self.partitions(None, None) for b in p.read(None, None, batch_size)]
        return pa.Table.from_batches(batches, schema=SCHEMA)

    def identity(self) -> tuple[Any, ...]:
        return ("GlobSource", self.pattern, self.files_per_partition)
