"""Parquet, CSV and JSON sinks: two-phase, idempotent writes into a directory.

Layout under ``root``::

    root/
      year=1995/part-<hash(job, partition)>-00000.parquet   visible data (Hive-style dirs)
      _staging/<job or writer id>/<partition>-<n>/...        written, not yet committed
      _thresher/jobs/<job id>.json                           what each job committed
      _thresher/commit.lock                                  serializes commits (a file lock)

``write`` writes a partition's rows into ``_staging`` (readers that follow the Hive convention,
e.g. pyarrow datasets and Spark, skip ``_``-prefixed paths). ``commit`` first records the final
paths as *pending* in the job manifest (written atomically: temp file + ``os.replace``), renames
the staged files into place, then marks the partitions committed. Final file names are a
deterministic function of ``(job id, partition id)``, so a commit repeated after a crash replaces
rather than duplicates, and a pending record left by a crash is rolled back on the next commit of
that job (or by :func:`cleanup_orphans`). Each rename is atomic; a multi-file commit becomes
visible file by file to readers that do not consult the manifest.

Every path goes through :func:`thresher.io.safety.safe_join`; partition values are Hive-escaped,
so no value can place a file outside ``root``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thresher.errors import ColumnNotFoundError, ThresherIOError, ThresherTypeError
from thresher.io.safety import hive_partition_dir, safe_join, safe_name, stable_token
from thresher.io.sink import CommitResult, Sink, WriteResult

STAGING_DIR = "_staging"
META_DIR = "_thresher"
_MODES = ("append", "overwrite", "error")


# --------------------------------------------------------------------------------------------
# Manifest and lock
# --------------------------------------------------------------------------------------------


def _atomic_write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with open(tmp, "w") as fh:
        json.dump(data, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _manifest_path(root: str, job_id: str) -> str:
    return safe_join(root, META_DIR, "jobs", safe_name(job_id) + ".json")


def _load_manifest(root: str, job_id: str) -> dict[str, Any]:
    path = _manifest_path(root, job_id)
    try:
        with open(path) as fh:
            m: dict[str, Any] = json.load(fh)
    except FileNotFoundError:
        return {"job_id": job_id, "committed": {}, "pending": {}}
    m.setdefault("committed", {})
    m.setdefault("pending", {})
    return m


@contextlib.contextmanager
def _root_lock(root: str) -> Iterator[None]:
    import fcntl

    d = safe_join(root, META_DIR)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "commit.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _visible_files(root: str) -> list[str]:
    """Data files under ``root``, skipping ``_``/``.``-prefixed files and directories."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        out.extend(os.path.join(dirpath, f) for f in filenames if not f.startswith(("_", ".")))
    return sorted(out)


def _rollback_pending(manifest: dict[str, Any]) -> list[str]:
    removed = []
    for files in manifest["pending"].values():
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(f)
                removed.append(f)
    manifest["pending"] = {}
    return removed


def cleanup_orphans(root: str | os.PathLike[str], older_than_s: float = 3600.0, keep: Sequence[str] = ()) -> list[str]:
    """Remove what crashed writers left behind under ``root``.

    Parameters
    ----------
    root : str or PathLike
        The sink root.
    older_than_s : float
        Only touch staging directories and pending commits older than this (seconds), so live
        writers are left alone. ``0`` removes everything not committed.
    keep : sequence of str
        Job (or writer) ids whose staging directories must be kept.

    Returns
    -------
    list of str
        The paths removed.
    """
    root_s = os.fspath(root)
    now = time.time()
    removed: list[str] = []
    keep_names = {safe_name(k) for k in keep}
    staging = os.path.join(root_s, STAGING_DIR)
    if os.path.isdir(staging):
        for name in sorted(os.listdir(staging)):
            p = safe_join(root_s, STAGING_DIR, name)
            if name in keep_names or now - os.path.getmtime(p) < older_than_s:
                continue
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    jobs = os.path.join(root_s, META_DIR, "jobs")
    if os.path.isdir(jobs):
        with _root_lock(root_s):
            for name in sorted(os.listdir(jobs)):
                p = os.path.join(jobs, name)
                if name.endswith(".json") and ".tmp-" not in name:
                    with open(p) as fh:
                        m = json.load(fh)
                    if (
                        m.get("pending")
                        and now - os.path.getmtime(p) >= older_than_s
                        and safe_name(m["job_id"]) not in keep_names
                    ):
                        removed += _rollback_pending(m)
                        _atomic_write_json(p, m)
                elif ".tmp-" in name and now - os.path.getmtime(p) >= older_than_s:
                    os.remove(p)
                    removed.append(p)
    return removed


# --------------------------------------------------------------------------------------------
# Splitting a batch by partition values
# --------------------------------------------------------------------------------------------


def split_by_partition(batch: pa.RecordBatch, partition_by: Sequence[str]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Yield ``(hive dir, rows without the partition columns)`` for each distinct key in ``batch``."""
    if not partition_by:
        yield "", batch
        return
    keys = pa.table({c: batch.column(c) for c in partition_by})
    order = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in partition_by])
    keys = keys.take(order)
    data = batch.take(order).drop_columns(list(partition_by))
    n = keys.num_rows
    if n == 0:
        return
    change = None
    for c in partition_by:
        col = keys.column(c).combine_chunks()
        a, b = col.slice(0, n - 1), col.slice(1)
        ne = pc.fill_null(pc.not_equal(a, b), True)
        ne = pc.or_(ne, pc.xor(pc.is_null(a), pc.is_null(b)))
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        ne = pc.and_(ne, pc.invert(both_null))
        change = ne if change is None else pc.or_(change, ne)
    assert change is not None
    starts = [0] + [i + 1 for i in pc.indices_nonzero(change).to_pylist()] + [n]
    for s, e in zip(starts[:-1], starts[1:]):
        values = [(c, keys.column(c)[s].as_py()) for c in partition_by]
        yield hive_partition_dir(values), data.slice(s, e - s)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, path: str, schema: pa.Schema) -> None:
        self.path = path
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _ParquetWriter(_Writer):
    def __init__(self, path: str, schema: pa.Schema, **options: Any) -> None:
        import pyarrow.parquet as pq

        super().__init__(path, schema)
        self._w = pq.ParquetWriter(path, schema, **options)

    def write(self, batch: pa.RecordBatch) -> None:
        self._w.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._w.close()


class _CsvWriter(_Writer):
    def __init__(self, path: str, schema: pa.Schema, **options: Any) -> None:
        import pyarrow.csv as pcsv

        super().__init__(path, schema)
        self._w = pcsv.CSVWriter(path, schema, write_options=pcsv.WriteOptions(**options) if options else None)

    def write(self, batch: pa.RecordBatch) -> None:
        self._w.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._w.close()


class _JsonWriter(_Writer):
    """Newline-delimited JSON through Polars (no Python loop over rows)."""

    def __init__(self, path: str, schema: pa.Schema, **options: Any) -> None:
        super().__init__(path, schema)
        self._fh = open(path, "wb")

    def write(self, batch: pa.RecordBatch) -> None:
        import polars as pl

        from thresher.datatypes import storage_batch

        if batch.num_rows:
            pl.from_arrow(storage_batch(batch)).write_ndjson(self._fh)  # type: ignore[union-attr]
        self.rows += batch.num_rows

    def close(self) -> None:
        self._fh.close()


def _has_type(t: pa.DataType, pred: Any) -> bool:
    if isinstance(t, pa.ExtensionType):
        return _has_type(t.storage_type, pred)
    if pred(t):
        return True
    return any(_has_type(t.field(i).type, pred) for i in range(t.num_fields))


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class FileSink(Sink):
    """Base of the file sinks; see the module docstring for the commit protocol.

    Parameters
    ----------
    root : str or PathLike
        The output directory (created when missing).
    partition_by : list of str, optional
        Columns that become Hive-style directories (``year=1995/``) and leave the files.
    mode : {"append", "overwrite", "error"}
        ``overwrite`` removes existing data files in the job's first commit; ``error`` refuses a
        root that already holds data files the job did not write.
    job_id : str, optional
        Names the staging directory (``_staging/<job>``); a random writer id when None.
    **options
        Passed to the format's writer (e.g. ``compression="zstd"`` for Parquet).
    """

    extension = ""
    name = "files"

    def __init__(
        self,
        root: str | os.PathLike[str],
        partition_by: Sequence[str] | None = None,
        mode: str = "append",
        job_id: str | None = None,
        **options: Any,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__} mode must be one of {_MODES}, got {mode!r}")
        self.root = os.path.abspath(os.fspath(root))
        self.partition_by = list(partition_by or [])
        self.mode = mode
        self.job_id = job_id
        self.options = options
        self._writer_token = safe_name(job_id) if job_id else "w-" + uuid.uuid4().hex[:12]
        self.name = f"{self.extension}[{self.root}]"

    # ---- per-format hooks ---------------------------------------------------------------
    def _open_writer(self, path: str, schema: pa.Schema) -> _Writer:
        raise NotImplementedError

    def _check_types(self, schema: pa.Schema) -> None:
        return None

    # ---- protocol -----------------------------------------------------------------------
    def check_schema(self, schema: pa.Schema) -> None:
        for c in self.partition_by:
            if schema.get_field_index(c) < 0:
                raise ColumnNotFoundError(f"partition_by column {c!r} not in the written columns {schema.names}")
            t = schema.field(c).type
            if (
                isinstance(t, pa.ExtensionType)
                or pa.types.is_nested(t)
                or pa.types.is_binary(t)
                or pa.types.is_large_binary(t)
            ):
                raise ThresherTypeError(f"partition_by column {c!r} has type {t}; partition on a scalar column")
        data_cols = [f for f in schema if f.name not in self.partition_by]
        if not data_cols:
            raise ThresherTypeError("partition_by leaves no columns to write")
        self._check_types(pa.schema(data_cols))
        if self.mode == "error" and os.path.isdir(self.root) and _visible_files(self.root):
            if self.job_id is None or not _load_manifest(self.root, self.job_id)["committed"]:
                raise ThresherIOError(f"{self.root} already holds data (mode='error')")

    def write(self, partition_id: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> WriteResult:
        """Write one partition into ``_staging`` (invisible)."""
        self.check_schema(schema)
        stage = safe_join(
            self.root, STAGING_DIR, self._writer_token, f"{stable_token(partition_id)}-{uuid.uuid4().hex[:8]}"
        )
        os.makedirs(stage, exist_ok=True)
        file_schema = pa.schema([f for f in schema if f.name not in self.partition_by])
        writers: dict[str, _Writer] = {}
        try:
            for batch in batches:
                if not batch.num_rows:
                    continue
                for rel_dir, part in split_by_partition(batch, self.partition_by):
                    w = writers.get(rel_dir)
                    if w is None:
                        d = safe_join(stage, rel_dir) if rel_dir else stage
                        os.makedirs(d, exist_ok=True)
                        w = writers[rel_dir] = self._open_writer(
                            os.path.join(d, f"part-00000.{self.extension}"), file_schema
                        )
                    w.write(part)
        finally:
            for w in writers.values():
                w.close()
        staged = [(rel, w.path) for rel, w in sorted(writers.items())]
        return WriteResult(
            partition_id,
            num_rows=sum(w.rows for w in writers.values()),
            num_bytes=sum(os.path.getsize(p) for _, p in staged),
            files=[p for _, p in staged],
            payload={"stage": stage, "staged": staged},
        )

    def committed_partitions(self, job_id: str) -> set[str]:
        return set(_load_manifest(self.root, job_id)["committed"]) if os.path.isdir(self.root) else set()

    def commit(self, job_id: str, results: Sequence[WriteResult]) -> CommitResult:
        """Rename staged files into place and record ``(job_id, partition)`` in the manifest."""
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(safe_join(self.root, META_DIR, "jobs"), exist_ok=True)
        unique: dict[str, WriteResult] = {}
        for r in results:
            unique.setdefault(r.partition_id, r)
        with _root_lock(self.root):
            path = _manifest_path(self.root, job_id)
            m = _load_manifest(self.root, job_id)
            if m["pending"]:  # a crash between rename and record: roll those renames back
                _rollback_pending(m)
                _atomic_write_json(path, m)
            todo = [r for pid, r in unique.items() if pid not in m["committed"]]
            skipped = [pid for pid in unique if pid in m["committed"]]
            seen = bool(m["committed"])
            if todo and not seen and self.mode in ("overwrite", "error"):
                existing = _visible_files(self.root)
                if existing and self.mode == "error":
                    raise ThresherIOError(f"{self.root} already holds data (mode='error')")
                for f in existing:
                    os.remove(f)
            moves: list[tuple[str, str, str]] = []  # (partition id, staged, final)
            for r in todo:
                token = stable_token(job_id, r.partition_id)
                for i, (rel_dir, staged) in enumerate((r.payload or {}).get("staged", [])):
                    name = f"part-{token}-{i:05d}.{self.extension}"
                    final = safe_join(self.root, rel_dir, name) if rel_dir else safe_join(self.root, name)
                    moves.append((r.partition_id, staged, final))
            m["pending"] = {r.partition_id: [f for pid, _, f in moves if pid == r.partition_id] for r in todo}
            _atomic_write_json(path, m)
            for _, staged, final in moves:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(staged, final)
            for r in todo:
                m["committed"][r.partition_id] = m["pending"].pop(r.partition_id)
            m["pending"] = {}
            _atomic_write_json(path, m)
        self.abort(list(unique.values()))
        return CommitResult(
            committed=[r.partition_id for r in todo],
            skipped=skipped,
            num_rows=sum(r.num_rows for r in todo),
            version=None,
        )

    def abort(self, results: Sequence[WriteResult]) -> None:
        """Remove the staging directories of ``results`` (committed files are elsewhere by now)."""
        for r in results:
            stage = (r.payload or {}).get("stage")
            if stage:
                shutil.rmtree(stage, ignore_errors=True)
                for d in (os.path.dirname(stage), os.path.dirname(os.path.dirname(stage))):
                    with contextlib.suppress(OSError):
                        os.rmdir(d)  # only when empty

    def identity(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.root, tuple(self.partition_by), self.mode)

    def checkpoint_location(self) -> str | None:
        return os.path.join(self.root, META_DIR, "checkpoints")


class ParquetSink(FileSink):
    """Parquet files (extension types survive with their metadata)."""

    extension = "parquet"

    def _open_writer(self, path: str, schema: pa.Schema) -> _Writer:
        return _ParquetWriter(path, schema, **self.options)


class CsvSink(FileSink):
    """CSV files with a header; nested, binary and multimodal columns are refused."""

    extension = "csv"

    def _check_types(self, schema: pa.Schema) -> None:
        for f in schema:
            if isinstance(f.type, pa.ExtensionType) or _has_type(
                f.type, lambda t: pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
            ):
                raise ThresherTypeError(f"column {f.name!r} of type {f.type} cannot be written to CSV; use Parquet")

    def _open_writer(self, path: str, schema: pa.Schema) -> _Writer:
        return _CsvWriter(path, schema, **self.options)


class JsonSink(FileSink):
    """Newline-delimited JSON files; binary columns (and media holding bytes) are refused."""

    extension = "json"

    def _check_types(self, schema: pa.Schema) -> None:
        for f in schema:
            if _has_type(
                f.type,
                lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t),
            ):
                raise ThresherTypeError(f"column {f.name!r} of type {f.type} holds bytes and cannot be written to JSON")

    def _open_writer(self, path: str, schema: pa.Schema) -> _Writer:
        return _JsonWriter(path, schema, **self.options)


__all__ = ["CsvSink", "FileSink", "JsonSink", "ParquetSink", "cleanup_orphans", "split_by_partition"]
