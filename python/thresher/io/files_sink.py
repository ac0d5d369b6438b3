"""Parquet, CSV and JSON sinks: two-phase, idempotent writes into a folder, local or on an object store.

Layout under ``root``::

    root/
      year=1995/part-<hash(job, partition)>-00000.parquet   visible data (Hive-style dirs)
      _staging/<job or writer id>/<partition>-<n>/...        written, not yet committed
      _thresher/jobs/<job id>.json                           local: what each job committed
      _thresher/jobs/<job id>/<hash(partition)>.json         object stores: one marker per partition
      _thresher/commit.lock                                  local: serializes commits (a file lock)
      _thresher/checkpoints/job-<hash>.json                  job records (plan fingerprint, completion)

``write`` writes a partition's rows into ``_staging`` (readers that follow the Hive convention,
e.g. pyarrow datasets, Polars and Spark, skip ``_``-prefixed paths). Final file names are a
deterministic function of ``(job id, partition id)``, so repeating a commit replaces rather than
duplicates. Locally, ``commit`` takes the root's file lock, records the final paths as *pending*
in the job manifest (:func:`thresher.io.commit.atomic_write_json`), renames the staged files into
place and marks the partitions committed; a pending record left by a crash is rolled back by the
next commit of that job (or :func:`cleanup_orphans`).

Object stores have neither rename nor locks. There a partition is claimed by creating its marker
object with a conditional put (``If-None-Match: *``): exactly one committer of ``(job, partition)``
wins, whoever runs it and however often. The marker lists the staged and final objects; the
winner copies staged to final (server-side), deletes the staged objects and rewrites the marker
with ``complete: true``. A committer that finds the marker already there completes the copy if a
crash interrupted it (copies are idempotent: same source, same name) and discards its own staged
files. ``committed_partitions`` counts a marker only when it says complete or all its final
objects exist: a job killed between the claim and the copies re-writes that partition on resume
and its commit finishes the claim. Each object appears whole, so a reader never sees a partial
file; a partition's files become visible one by one.

``path`` ending in the format's extension (``out/x.parquet``) writes that one file, like Polars:
the frame is written as a single partition and committed under exactly that name.

Every path goes through :func:`thresher.io.safety.safe_join`; partition values are Hive-escaped,
so no value can place a file outside ``root``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.errors import ColumnNotFoundError, ThresherIOError, ThresherTypeError
from thresher.io import fs
from thresher.io.commit import META_DIR, atomic_write_json, commit_lock, create_json, read_json
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.safety import hive_partition_dir, safe_join, safe_name, stable_token
from thresher.io.sink import CommitResult, Sink, WriteResult, current_writer_metadata

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

STAGING_DIR = "_staging"
_MODES = ("append", "overwrite", "error")


# --------------------------------------------------------------------------------------------
# Local manifest
# --------------------------------------------------------------------------------------------


def _manifest_path(root: str, job_id: str) -> str:
    return safe_join(root, META_DIR, "jobs", safe_name(job_id) + ".json")


def _load_manifest(root: str, job_id: str) -> dict[str, Any]:
    m = read_json(_manifest_path(root, job_id))
    if not isinstance(m, dict):
        return {"job_id": job_id, "committed": {}, "pending": {}}
    m.setdefault("committed", {})
    m.setdefault("pending", {})
    return m


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


def _newest_mtime(path: str) -> float:
    """The newest modification time of ``path`` and everything under it (inf when it is gone)."""
    try:
        newest = os.path.getmtime(path)
    except OSError:
        return float("inf")
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            with contextlib.suppress(OSError):
                newest = max(newest, os.path.getmtime(os.path.join(dirpath, n)))
    return newest


def cleanup_orphans(root: str | os.PathLike[str], older_than_s: float = 3600.0, keep: Sequence[str] = ()) -> list[str]:
    """Remove what crashed writers left behind under a local ``root``.

    Parameters
    ----------
    root : str or PathLike
        The sink root.
    older_than_s : float
        Only touch a partition's staging folder when nothing in it changed for this long
        (seconds), and pending commits older than this, so live writers are left alone, however
        long the job's folder has been there. ``0`` removes everything not committed.
    keep : sequence of str
        Job (or writer) ids whose staging directories must be kept.

    Returns
    -------
    list of str
        The paths removed.
    """
    root_s = fs.local_path(root)
    now = time.time()
    removed: list[str] = []
    keep_names = {safe_name(k) for k in keep}
    staging = os.path.join(root_s, STAGING_DIR)
    if os.path.isdir(staging):
        for name in sorted(os.listdir(staging)):
            if name in keep_names:
                continue
            job_dir = safe_join(root_s, STAGING_DIR, name)
            # one folder per written partition (``<partition>-<n>``), only ever touched by its
            # writer: judged by the newest time in it, as a writer streaming a slow partition
            # (hours behind a model) changes only its own file, deep inside, not the job's folder
            subs = sorted(os.listdir(job_dir)) if os.path.isdir(job_dir) else []
            for sub in subs:
                p = os.path.join(job_dir, sub)
                if now - _newest_mtime(p) < older_than_s:
                    continue
                if os.path.isdir(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(p)
                removed.append(p)
            with contextlib.suppress(OSError):
                os.rmdir(job_dir)  # only when empty
                removed.append(job_dir)
    jobs = os.path.join(root_s, META_DIR, "jobs")
    if os.path.isdir(jobs):
        with commit_lock(root_s):
            for name in sorted(os.listdir(jobs)):
                p = os.path.join(jobs, name)
                if name.endswith(".json") and ".tmp-" not in name:
                    m = read_json(p)
                    if (
                        isinstance(m, dict)
                        and m.get("pending")
                        and now - os.path.getmtime(p) >= older_than_s
                        and safe_name(m["job_id"]) not in keep_names
                    ):
                        removed += _rollback_pending(m)
                        atomic_write_json(p, m)
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
    """Writes one data file at ``uri`` (a local path or an object URI) through the fs layer."""

    def __init__(self, uri: str, schema: pa.Schema, io_config: IOConfig | None) -> None:
        self.path = uri
        self.rows = 0
        self.bytes = 0
        self._stream = fs.open_output_stream(uri, io_config)

    #: bytes written to the writer but held back in memory
    held_bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Write out what is held back."""
        return None

    def _finish(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self._finish()
            self.bytes = int(self._stream.tell())
        finally:
            self._stream.close()


#: rows of one Parquet row group (pyarrow's default for ``write_table``)
ROW_GROUP_ROWS = 1024 * 1024
#: bytes a Parquet writer holds back at most before it writes a row group
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: bytes all the open writers of one partition hold back at most (with ``partition_by``)
HELD_BYTES = 256 * 1024 * 1024


class _ParquetWriter(_Writer):
    """Batches are held back and written as row groups of ``row_group_size`` rows (or 64 MiB).

    Each ``write_batch`` call would end a row group, and every row group starts each column's
    dictionary afresh: a partition arriving as 7 batches of ~30k rows took 2x the CPU of the
    same rows in one row group (measured, 200k rows with a float32[16] column).
    """

    def __init__(self, uri: str, schema: pa.Schema, io_config: IOConfig | None, **options: Any) -> None:
        import pyarrow.parquet as pq

        super().__init__(uri, schema, io_config)
        self._row_group_rows = int(options.pop("row_group_size", None) or ROW_GROUP_ROWS)
        self._w = pq.ParquetWriter(self._stream, schema, **options)
        self._held: list[pa.RecordBatch] = []
        self._held_rows = 0
        self.held_bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._held.append(batch)
        self._held_rows += batch.num_rows
        self.held_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._held_rows >= self._row_group_rows or self.held_bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is held back, as row groups of ``row_group_size`` rows (the last may be shorter)."""
        if not self._held:
            return
        self._w.write_table(pa.Table.from_batches(self._held), row_group_size=self._row_group_rows)
        self._held, self._held_rows, self.held_bytes = [], 0, 0

    def _finish(self) -> None:
        self.flush()
        # who wrote the file (a Ray write task sets the node id): key-value metadata of the file
        meta = current_writer_metadata()
        if meta:
            self._w.add_key_value_metadata(meta)
        self._w.close()


class _CsvWriter(_Writer):
    def __init__(self, uri: str, schema: pa.Schema, io_config: IOConfig | None, **options: Any) -> None:
        import pyarrow.csv as pcsv

        super().__init__(uri, schema, io_config)
        self._w = pcsv.CSVWriter(self._stream, schema,
                                 write_options=pcsv.WriteOptions(**options) if options else None)

    def write(self, batch: pa.RecordBatch) -> None:
        self._w.write_batch(batch)
        self.rows += batch.num_rows

    def _finish(self) -> None:
        self._w.close()


class _JsonWriter(_Writer):
    """Newline-delimited JSON through Polars (no Python loop over rows)."""

    def write(self, batch: pa.RecordBatch) -> None:
        import io

        import polars as pl

        from thresher.datatypes import storage_batch

        if batch.num_rows:
            buf = io.BytesIO()
            pl.from_arrow(storage_batch(batch)).write_ndjson(buf)  # type: ignore[union-attr]
            self._stream.write(buf.getvalue())
        self.rows += batch.num_rows

    def _finish(self) -> None:
        return None


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
        The output folder (local path or ``s3://``, ``gs://``, ``az://`` URI), or with
        ``single_file`` the one file to write.
    partition_by : list of str, optional
        Columns that become Hive-style directories (``year=1995/``) and leave the files.
    mode : {"append", "overwrite", "error"}
        ``overwrite`` removes existing data files in the job's first commit; ``error`` refuses a
        root that already holds data files the job did not write.
    job_id : str, optional
        Names the staging directory (``_staging/<job>``); a random writer id when None.
    io_config : IOConfig, optional
        Credentials and endpoints for an object store (default: the session's).
    single_file : bool
        Write exactly the file ``root`` (one partition; see the module docstring).
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
        io_config: IOConfig | None = None,
        single_file: bool = False,
        **options: Any,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__} mode must be one of {_MODES}, got {mode!r}")
        raw = os.fspath(root)
        fs.check_writable(raw, type(self).__name__)
        self.io_config = resolve_io_config(io_config)
        self.single_file = single_file
        target = fs.normalize(raw)
        self.file: str | None = None
        if single_file:
            if partition_by:
                raise ThresherIOError(f"{type(self).__name__}: partition_by needs a folder, not the file {raw!r}")
            self.file = target
            target = fs.parent(target)
        self.root = target
        self.local = fs.is_local(self.root)
        self.partition_by = list(partition_by or [])
        self.mode = mode
        self.job_id = job_id
        self.options = options
        self._writer_token = safe_name(job_id) if job_id else "w-" + uuid.uuid4().hex[:12]
        self.name = f"{self.extension}[{self.file or self.root}]"

    # ---- per-format hooks ---------------------------------------------------------------
    def _open_writer(self, uri: str, schema: pa.Schema) -> _Writer:
        raise NotImplementedError

    def _check_types(self, schema: pa.Schema) -> None:
        return None

    # ---- paths --------------------------------------------------------------------------
    def _join(self, *parts: str) -> str:
        """A location under the root; every component checked (no escaping the root)."""
        if self.local:
            return safe_join(self.root, *parts)
        from thresher.io.safety import check_component

        for p in parts:
            check_component(p)
        return fs.join(self.root, *parts)

    def _visible(self) -> list[str]:
        if self.local:
            return _visible_files(self.root) if os.path.isdir(self.root) else []
        try:
            entries = fs.glob(self.root, self.io_config)
        except fs.StorageError:
            return []
        return [e.uri for e in entries]

    def _data_files(self) -> list[str]:
        """What a reader of this sink sees: the one file, or the visible files under the root."""
        if self.file is not None:
            return [self.file] if fs.exists(self.file, self.io_config) else []
        return self._visible()

    # ---- protocol -----------------------------------------------------------------------
    def preflight(self, job_id: str | None) -> None:
        """``mode="error"``: refuse a target that holds data this job did not write, before any work."""
        if self.mode == "error" and self._data_files():
            if job_id is None or not self._job_has_claims(job_id):
                raise ThresherIOError(f"{self.file or self.root} already holds data (mode='error')")

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
        self.preflight(self.job_id)

    def write(self, partition_id: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> WriteResult:
        """Write one partition into ``_staging`` (invisible)."""
        self.check_schema(schema)
        stage = self._join(STAGING_DIR, self._writer_token, f"{stable_token(partition_id)}-{uuid.uuid4().hex[:8]}")
        file_schema = pa.schema([f for f in schema if f.name not in self.partition_by])
        writers: dict[str, _Writer] = {}

        def open_writer(rel_dir: str) -> _Writer:
            d = fs.join(stage, rel_dir) if rel_dir else stage
            return self._open_writer(fs.join(d, f"part-00000.{self.extension}"), file_schema)

        held = 0  # bytes the open writers hold back, all together
        try:
            for batch in batches:
                if not batch.num_rows:
                    continue
                for rel_dir, part in split_by_partition(batch, self.partition_by):
                    w = writers.get(rel_dir)
                    if w is None:
                        w = writers[rel_dir] = open_writer(rel_dir)
                    before = w.held_bytes
                    w.write(part)
                    held += w.held_bytes - before
                    if held > HELD_BYTES:  # many Hive folders open at once: bound the memory
                        for o in writers.values():
                            o.flush()
                        held = 0
            if not writers and not self.partition_by and (self.file is not None or not self._data_files()):
                # an empty result still leaves a file holding the schema, which reads back
                writers[""] = open_writer("")
        finally:
            for w in writers.values():
                w.close()
        staged = [(rel, w.path) for rel, w in sorted(writers.items())]
        return WriteResult(
            partition_id,
            num_rows=sum(w.rows for w in writers.values()),
            num_bytes=sum(w.bytes for w in writers.values()),
            files=[p for _, p in staged],
            payload={"stage": stage, "staged": staged},
        )

    def _final(self, job_id: str, partition_id: str, rel_dir: str, i: int) -> str:
        if self.file is not None:
            return self.file
        name = f"part-{stable_token(job_id, partition_id)}-{i:05d}.{self.extension}"
        return self._join(rel_dir, name) if rel_dir else self._join(name)

    def _markers_dir(self, job_id: str) -> str:
        return self._join(META_DIR, "jobs", safe_name(job_id))

    def _markers(self, job_id: str) -> list[dict[str, Any]]:
        """The partition markers of ``job_id`` on an object store."""
        try:
            entries = fs.glob(fs.join(self._markers_dir(job_id), "*.json"), self.io_config)
        except fs.StorageError:
            return []
        if not entries:
            return []
        with concurrent.futures.ThreadPoolExecutor(min(16, len(entries))) as ex:
            recs = list(ex.map(lambda e: read_json(e.uri, self.io_config), entries))
        return [r for r in recs if isinstance(r, dict) and "partition_id" in r]

    def committed_partitions(self, job_id: str) -> set[str]:
        if self.local:
            return set(_load_manifest(self.root, job_id)["committed"]) if os.path.isdir(self.root) else set()
        markers = self._markers(job_id)
        # A marker claims its partition before the copies to the final names run: a committer
        # killed in between leaves a claim whose data is not (all) visible. Such a partition is
        # not committed yet; its writer writes it again and ``commit`` finishes the claim's copies.
        unsure = [m for m in markers if not m.get("complete")]
        finals = [str(final) for m in unsure for _, final in m.get("moves", [])]
        there: dict[str, bool] = {}
        if finals:
            with concurrent.futures.ThreadPoolExecutor(min(16, len(finals))) as ex:
                there = dict(zip(finals, ex.map(lambda f: fs.exists(f, self.io_config), finals), strict=True))
        return {
            str(m["partition_id"]) for m in markers
            if m.get("complete") or all(there[str(final)] for _, final in m.get("moves", []))
        }

    def _job_has_claims(self, job_id: str) -> bool:
        """Whether ``job_id`` has made anything visible here: a committed partition, or one whose
        commit a crash interrupted (a pending local record, an object-store marker not finished).

        ``mode="error"`` checks this, not :meth:`committed_partitions`: a job killed between its
        renames (or copies) and their record left data of its own, which its re-run must accept
        (its commit rolls the pending files back, or finishes the claimed copies).
        """
        if self.local:
            if not os.path.isdir(self.root):
                return False
            m = _load_manifest(self.root, job_id)
            return bool(m["committed"] or m["pending"])
        return bool(self._markers(job_id))

    def commit(self, job_id: str, results: Sequence[WriteResult]) -> CommitResult:
        """Make ``results`` visible, each ``(job_id, partition)`` exactly once."""
        unique: dict[str, WriteResult] = {}
        for r in results:
            unique.setdefault(r.partition_id, r)
        if self.local:
            res = self._commit_local(job_id, unique)
        else:
            res = self._commit_object_store(job_id, unique)
        self.abort(list(unique.values()))
        return res

    def _commit_local(self, job_id: str, unique: dict[str, WriteResult]) -> CommitResult:
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(safe_join(self.root, META_DIR, "jobs"), exist_ok=True)
        with commit_lock(self.root):
            path = _manifest_path(self.root, job_id)
            m = _load_manifest(self.root, job_id)
            if m["pending"]:  # a crash between rename and record: roll those renames back
                _rollback_pending(m)
                atomic_write_json(path, m)
            todo = [r for pid, r in unique.items() if pid not in m["committed"]]
            skipped = [pid for pid in unique if pid in m["committed"]]
            seen = bool(m["committed"])
            if todo and not seen and self.mode in ("overwrite", "error"):
                existing = self._data_files()
                if existing and self.mode == "error":
                    raise ThresherIOError(f"{self.file or self.root} already holds data (mode='error')")
                for f in existing:
                    os.remove(f)
            moves: list[tuple[str, str, str]] = []  # (partition id, staged, final)
            for r in todo:
                for i, (rel_dir, staged) in enumerate((r.payload or {}).get("staged", [])):
                    moves.append((r.partition_id, staged, self._final(job_id, r.partition_id, rel_dir, i)))
            m["pending"] = {r.partition_id: [f for pid, _, f in moves if pid == r.partition_id] for r in todo}
            atomic_write_json(path, m)
            for _, staged, final in moves:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(staged, final)
            for d in {os.path.dirname(f) for _, _, f in moves}:
                fs.fsync_dir(d)
            for r in todo:
                m["committed"][r.partition_id] = m["pending"].pop(r.partition_id)
            m["pending"] = {}
            atomic_write_json(path, m)
        return CommitResult(
            committed=[r.partition_id for r in todo],
            skipped=skipped,
            num_rows=sum(r.num_rows for r in todo),
            version=None,
        )

    def _commit_object_store(self, job_id: str, unique: dict[str, WriteResult]) -> CommitResult:
        markers = self._markers(job_id)
        if self.mode in ("overwrite", "error") and not markers and unique:
            existing = self._data_files()
            if existing:
                # another committer of this job may have claimed and copied partitions since the
                # markers were read: a marker is created before its copies, so every final object
                # in the listing has its marker by now, and those objects are the job's own
                claimed = {fs.normalize(str(final)) for m in self._markers(job_id) for _, final in m.get("moves", [])}
                existing = [f for f in existing if fs.normalize(f) not in claimed]
            if existing and self.mode == "error":
                raise ThresherIOError(f"{self.file or self.root} already holds data (mode='error')")
            for f in existing:  # the job's first commit: nothing of it is visible yet
                fs.delete(f, self.io_config)
        committed: list[str] = []
        skipped: list[str] = []
        rows = 0
        for pid, r in unique.items():
            moves = [[staged, self._final(job_id, pid, rel_dir, i)]
                     for i, (rel_dir, staged) in enumerate((r.payload or {}).get("staged", []))]
            marker = fs.join(self._markers_dir(job_id), stable_token(pid, n=32) + ".json")
            rec = {"job_id": job_id, "partition_id": pid, "moves": moves, "num_rows": r.num_rows}
            if create_json(marker, rec, self.io_config):
                self._complete(moves, own=True)
                atomic_write_json(marker, {**rec, "complete": True}, self.io_config)
                committed.append(pid)
                rows += r.num_rows
            else:
                won = read_json(marker, self.io_config)
                if isinstance(won, dict):
                    if not won.get("complete"):  # its committer may have died before the copies
                        self._complete(won.get("moves", []), own=False)
                        atomic_write_json(marker, {**won, "complete": True}, self.io_config)
                skipped.append(pid)
        return CommitResult(committed=committed, skipped=skipped, num_rows=rows, version=None)

    def _complete(self, moves: Sequence[Sequence[str]], own: bool) -> None:
        """Copy each staged object to its final name unless already there (idempotent)."""
        for staged, final in moves:
            if own or not fs.exists(final, self.io_config):
                try:
                    fs.copy(staged, final, self.io_config)
                except fs.StorageError:
                    # another committer of the same claim finished first and removed the staged
                    # object: the final one is there (same source, same name) or the data is lost
                    if not fs.exists(final, self.io_config):
                        raise ThresherIOError(f"commit of {final}: its staged data {staged} is gone") from None
        for staged, _ in moves:
            fs.delete(staged, self.io_config)

    def abort(self, results: Sequence[WriteResult]) -> None:
        """Remove the staging data of ``results`` (committed files are elsewhere by now)."""
        for r in results:
            payload = r.payload or {}
            stage = payload.get("stage")
            if not stage:
                continue
            if self.local:
                shutil.rmtree(stage, ignore_errors=True)
                for d in (os.path.dirname(stage), os.path.dirname(os.path.dirname(stage))):
                    with contextlib.suppress(OSError):
                        os.rmdir(d)  # only when empty
            else:
                fs.delete_dir(stage, self.io_config)

    def identity(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.file or self.root, tuple(self.partition_by), self.mode)

    def checkpoint_location(self) -> str | None:
        return fs.join(self.root, META_DIR, "checkpoints")


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The Parquet leaf paths worth a dictionary: all but floating-point values inside lists.

    Embeddings and tensors (``float32[16]``, lists of doubles) are high-entropy: pyarrow builds a
    dictionary of up to 1 MiB per column chunk, finds it too big and falls back to plain, in
    every row group of every file. Skipping that halved the CPU of writing a 200k-row frame with
    a ``float32[16]`` column as 4 files (0.34 s -> 0.16 s). Scalar floats keep their dictionary
    (prices, ratings repeat).
    """
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), buf)
    ps = pq.read_metadata(pa.BufferReader(buf.getvalue())).schema
    cols = [ps.column(i) for i in range(len(ps))]
    return [c.path for c in cols if not (c.physical_type in ("FLOAT", "DOUBLE") and c.max_repetition_level > 0)]


class ParquetSink(FileSink):
    """Parquet files (extension types survive with their metadata).

    Unless ``use_dictionary`` is given, floating-point values inside lists (embeddings) are
    written plain, without pyarrow's dictionary attempt (see :func:`dictionary_columns`).
    """

    extension = "parquet"
    _dictionary: tuple[pa.Schema, list[str]] | None = None

    def _open_writer(self, uri: str, schema: pa.Schema) -> _Writer:
        options = self.options
        if "use_dictionary" not in options:
            cached = self._dictionary
            if cached is None or not cached[0].equals(schema):
                cached = self._dictionary = (schema, dictionary_columns(schema))
            options = {**options, "use_dictionary": cached[1]}
        return _ParquetWriter(uri, schema, self.io_config, **options)


class CsvSink(FileSink):
    """CSV files with a header; nested, binary and multimodal columns are refused."""

    extension = "csv"

    def _check_types(self, schema: pa.Schema) -> None:
        for f in schema:
            if isinstance(f.type, pa.ExtensionType) or _has_type(
                f.type, lambda t: pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
            ):
                raise ThresherTypeError(f"column {f.name!r} of type {f.type} cannot be written to CSV; use Parquet")

    def _open_writer(self, uri: str, schema: pa.Schema) -> _Writer:
        return _CsvWriter(uri, schema, self.io_config, **self.options)


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

    def _open_writer(self, uri: str, schema: pa.Schema) -> _Writer:
        return _JsonWriter(uri, schema, self.io_config)


def is_single_file(path: str | os.PathLike[str], extensions: tuple[str, ...]) -> bool:
    """Whether a write target names one file (``out/x.parquet``) rather than a dataset folder."""
    p = os.fspath(path).rstrip("/")
    if not p.lower().endswith(extensions):
        return False
    if fs.is_local(p):
        return not os.path.isdir(fs.local_path(p))
    return True


__all__ = ["CsvSink", "FileSink", "JsonSink", "ParquetSink", "cleanup_orphans", "dictionary_columns",
           "is_single_file", "split_by_partition"]
