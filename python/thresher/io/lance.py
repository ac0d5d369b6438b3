"""Lance: a version-pinned fragment source and a checkpointed, idempotent two-phase sink.

Reading: :class:`LanceSource` pins a dataset version and yields one partition per fragment (stable
id ``"<version>:<fragment id>"``); projected columns and the pushed predicate (as a Lance SQL
filter) go into the scanner. Fragments written by :class:`LanceSink` carry per-column min/max/null
statistics (kept in the commit's transaction properties), which lets ``partitions`` skip whole
fragments a predicate cannot match. :meth:`LanceSource.take` reads rows by position.

Writing: ``write`` calls ``lance.fragment.write_fragments`` (data files nobody references yet);
``commit`` makes them visible with one ``LanceDataset.commit`` of an Append (or Overwrite)
transaction whose ``transaction_properties`` record the job id and partition ids. Lance itself
happily commits the same fragments twice, so the sink checks the history for ``(job, partition)``
before committing, holding a commit lock (a file lock for local datasets) so two committers of one
job cannot both pass the check, and retries on conflicts.

Data evolution: mode ``"merge_columns"`` (and :func:`add_columns`) adds new columns keyed by a join
column without rewriting the existing ones (``LanceFragment.merge`` + a Merge transaction; a resumed
job fills in the remaining rows with ``update_columns``, which rewrites only the new columns).

Types: every Thresher extension column is stored as its plain storage type with the logical type in
the field metadata (``thresher.type``) and re-wrapped on read, so an embedding column is a plain
``fixed_size_list<float32, d>`` that an IVF_PQ index accepts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.errors import ColumnNotFoundError, ThresherIOError, ThresherTypeError
from thresher.io import fs
from thresher.io.commit import (
    JOB_ID_KEY,
    commit_lock,
    decode_partition_ids,
    encode_partition_ids,
    job_lease,
    retry_commit,
)
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.predicate import Predicate
from thresher.io.sink import CommitResult, Sink, WriteResult
from thresher.io.source import Source, SourcePartition, SourceStatistics
from thresher.io.table_types import decode_logical_type, encode_logical_type, rewrap_batch, to_storage

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

# Lance's Rust logger prints a WARN on every create ("No existing dataset ... will be created"):
# errors only, unless the user set LANCE_LOG (read once, when lance is first imported)
os.environ.setdefault("LANCE_LOG", "error")

logger = logging.getLogger(__name__)

#: field metadata key holding the logical type of a column stored as plain storage
FIELD_TYPE_KEY = b"thresher.type"
#: transaction property holding per-fragment statistics, keyed by the fragment's first data file
STATS_KEY = "thresher.stats"
_MODES = ("create", "append", "overwrite", "merge_columns")


# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


def lance_storage_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with extension columns as storage + ``thresher.type`` field metadata."""
    fields = []
    for f in schema:
        tag = encode_logical_type(f.type)
        if tag is not None:
            fields.append(
                pa.field(f.name, f.type.storage_type, f.nullable, {**(f.metadata or {}), FIELD_TYPE_KEY: tag.encode()})
            )
        else:
            fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _storage_batch(batch: pa.RecordBatch, storage: pa.Schema) -> pa.RecordBatch:
    b = to_storage(batch)
    cols = [b.column(n) for n in storage.names]
    cols = [c if c.type == f.type else c.cast(f.type) for c, f in zip(cols, storage)]
    return pa.RecordBatch.from_arrays(cols, schema=storage)


def logical_schema(schema: pa.Schema) -> pa.Schema:
    """Invert :func:`lance_storage_schema`: re-wrap columns tagged with ``thresher.type``."""
    fields = []
    for f in schema:
        md = dict(f.metadata or {})
        tag = md.pop(FIELD_TYPE_KEY, None)
        if tag is not None:
            fields.append(pa.field(f.name, decode_logical_type(tag.decode()), f.nullable, md or None))
        else:
            fields.append(f)
    return pa.schema(fields)


def _plain(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(f.name, f.type) for f in schema]


# --------------------------------------------------------------------------------------------
# Transactions: job records and fragment statistics
# --------------------------------------------------------------------------------------------


def _open(uri: str, version: int | None = None, storage_options: Mapping[str, str] | None = None) -> Any | None:
    import lance

    try:
        return lance.dataset(uri, version=version, storage_options=dict(storage_options) if storage_options else None)
    except (ValueError, FileNotFoundError, OSError) as e:
        if version is not None:
            raise ThresherIOError(f"Lance dataset {uri}: cannot open version {version}: {e}") from None
        return None


def _transactions(ds: Any) -> list[Any]:
    return [t for t in ds.get_transactions(ds.version) if t is not None]


def committed_partitions_of(ds: Any, job_id: str) -> tuple[set[str], bool]:
    """``(partition ids committed under job_id, whether the job committed anything)``."""
    out: set[str] = set()
    seen = False
    for t in _transactions(ds):
        props = t.transaction_properties or {}
        pids = decode_partition_ids(props, job_id)
        if pids is not None:
            seen = True
            out.update(pids)
    return out, seen


def _fragment_stats(ds: Any) -> dict[str, dict[str, list[Any]]]:
    stats: dict[str, dict[str, list[Any]]] = {}
    for t in _transactions(ds):
        text = (t.transaction_properties or {}).get(STATS_KEY)
        if text:
            stats.update(json.loads(text))
    return stats


class _StatsCollector:
    """Running min/max/null counts of the simple columns of the batches that pass through."""

    def __init__(self, schema: pa.Schema) -> None:
        self.cols = [
            f.name
            for f in schema
            if pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
            or pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
        ]
        self.acc: dict[str, list[Any]] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        for c in self.cols:
            arr = batch.column(c)
            mm = pc.min_max(arr)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if isinstance(lo, float) and (lo != lo or hi != hi):
                lo = hi = None
            nulls = arr.null_count
            cur = self.acc.get(c)
            if cur is None:
                self.acc[c] = [lo, hi, nulls]
                continue
            cur[2] += nulls
            if lo is not None:
                cur[0] = lo if cur[0] is None else min(cur[0], lo)
                cur[1] = hi if cur[1] is None else max(cur[1], hi)

    def result(self) -> dict[str, list[Any]]:
        # long strings make large properties: drop their stats (no pruning on them)
        return {c: v for c, v in self.acc.items() if not any(isinstance(x, str) and len(x) > 64 for x in v[:2])}


def _options(uri: str, io_config: IOConfig | None, storage_options: Mapping[str, str] | None) -> dict[str, str] | None:
    """Lance ``storage_options``: the IOConfig translated, explicit options on top."""
    opts = {**(fs.lance_storage_options(uri, io_config) or {}), **dict(storage_options or {})}
    return opts or None


def _location(uri: str | os.PathLike[str]) -> str:
    """A dataset location: local paths absolute, URIs as given."""
    s = os.fspath(uri)
    return fs.local_path(s) if fs.is_local(s) else fs.normalize(s)


# --------------------------------------------------------------------------------------------
# Source
# --------------------------------------------------------------------------------------------

_DATASETS: dict[tuple[str, int], Any] = {}


def _dataset_at(uri: str, version: int, storage_options: Mapping[str, str] | None) -> Any:
    key = (uri, version)
    ds = _DATASETS.get(key)
    if ds is None:
        ds = _open(uri, version, storage_options)
        if len(_DATASETS) > 64:
            _DATASETS.clear()
        _DATASETS[key] = ds
    return ds


class LanceFragmentPartition(SourcePartition):
    """One fragment of a pinned dataset version."""

    def __init__(
        self,
        uri: str,
        version: int,
        fragment_id: int,
        num_rows: int | None,
        target: pa.Schema,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        self.id = f"{version}:{fragment_id}"
        self.uri = uri
        self.version = version
        self.fragment_id = fragment_id
        self.num_rows = num_rows
        self._target = target
        self._storage_options = dict(storage_options) if storage_options else None

    def read(
        self,
        columns: Sequence[str] | None,
        predicate: Predicate | None,
        batch_size: int = 65536,
    ) -> Iterator[pa.RecordBatch]:
        ds = _dataset_at(self.uri, self.version, self._storage_options)
        names = list(columns) if columns is not None else self._target.names
        for n in names:
            if self._target.get_field_index(n) < 0:
                raise ColumnNotFoundError(
                    f"column {n!r} not in Lance dataset {self.uri}; columns: {self._target.names}"
                )
        scanner = ds.scanner(
            columns=names,
            filter=predicate.to_sql() if predicate is not None and predicate.terms else None,
            fragments=[ds.get_fragment(self.fragment_id)],
            batch_size=batch_size,
        )
        target = pa.schema([self._target.field(n) for n in names])
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield rewrap_batch(batch, target)


class LanceSource(Source):
    """Read a Lance dataset at one version, one partition per fragment.

    Parameters
    ----------
    uri : str
        The dataset location (local path or object-store URI).
    version : int, optional
        The version to read; the latest when None (pinned at construction).
    storage_options : dict, optional
        Object-store options passed to Lance (its own keys; they win over ``io_config``).
    io_config : IOConfig, optional
        Credentials and endpoint (default: the session's), translated for Lance.
    """

    exact_predicate = True
    supports_predicate = True

    def __init__(self, uri: str, version: int | None = None, storage_options: Mapping[str, str] | None = None,
                 io_config: IOConfig | None = None) -> None:
        self.uri = _location(uri)
        self._storage_options = _options(self.uri, resolve_io_config(io_config), storage_options)
        ds = _open(self.uri, version, self._storage_options)
        if ds is None:
            raise ThresherIOError(f"no Lance dataset at {self.uri}")
        self._ds = ds
        self.version: int = ds.version
        self._arrow = logical_schema(ds.schema)
        self.name = f"lance[{os.path.basename(self.uri.rstrip('/'))}@v{self.version}]"
        _DATASETS[(self.uri, self.version)] = ds

    def arrow_schema(self) -> pa.Schema:
        return self._arrow

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        frags = self._ds.get_fragments()
        stats: dict[str, dict[str, list[Any]]] = {}
        if predicate is not None and predicate.terms:
            for c in predicate.columns():
                if self._arrow.get_field_index(c) < 0:
                    raise ColumnNotFoundError(f"predicate column {c!r} not in Lance dataset {self.uri}")
            stats = _fragment_stats(self._ds)
        out: list[SourcePartition] = []
        for f in frags:
            files = f.data_files()
            if stats and files:
                s = stats.get(files[0].path)
                if s is not None and not predicate.might_match({k: tuple(v) for k, v in s.items()}):  # type: ignore[union-attr]
                    continue
            out.append(
                LanceFragmentPartition(
                    self.uri, self.version, f.fragment_id, f.count_rows(), self._arrow, self._storage_options
                )
            )
        return out

    def take(self, indices: Sequence[int] | pa.Array, columns: Sequence[str] | None = None) -> pa.Table:
        """Rows at the given positions (0-based over the pinned version), in the given order."""
        t = self._ds.take(indices, columns=list(columns) if columns is not None else None)
        target = pa.schema([self._arrow.field(n) for n in t.schema.names])
        return pa.Table.from_batches([rewrap_batch(b, target) for b in t.to_batches()], schema=target)

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(num_rows=self._ds.count_rows())

    def identity(self) -> tuple[Any, ...]:
        return ("LanceSource", self.uri, self.version)


# --------------------------------------------------------------------------------------------
# Sink
# --------------------------------------------------------------------------------------------


class LanceSink(Sink):
    """Two-phase, idempotent writes into a Lance dataset.

    Parameters
    ----------
    uri : str
        The dataset location.
    mode : {"create", "append", "overwrite", "merge_columns"}
        ``create`` fails if a dataset exists that this job did not create; ``append`` creates it
        when missing; ``overwrite`` replaces the data in the job's first commit and appends after;
        ``merge_columns`` adds the written columns (other than ``on``) to existing rows matched by
        ``on``, without rewriting existing columns.
    on : str, optional
        The join column for ``merge_columns``.
    storage_options : dict, optional
        Object-store options passed to Lance (its own keys; they win over ``io_config``).
    max_commit_attempts : int
        Attempts of the check-then-commit loop on conflicts.
    io_config : IOConfig, optional
        Credentials and endpoint (default: the session's), translated for Lance.
    """

    name = "lance"

    def __init__(
        self,
        uri: str,
        mode: str = "append",
        on: str | None = None,
        storage_options: Mapping[str, str] | None = None,
        max_commit_attempts: int = 30,
        io_config: IOConfig | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"LanceSink mode must be one of {_MODES}, got {mode!r}")
        if mode == "merge_columns" and not on:
            raise ValueError("LanceSink(mode='merge_columns') needs on=<join column>")
        fs.check_writable(os.fspath(uri), "LanceSink")
        self.uri = _location(uri)
        self.mode = mode
        self.on = on
        self.io_config = resolve_io_config(io_config)
        self._storage_options = _options(self.uri, self.io_config, storage_options)
        self.max_commit_attempts = max_commit_attempts
        self._checked: pa.Schema | None = None
        self.name = f"lance[{os.path.basename(self.uri.rstrip('/'))}]"

    def checkpoint_location(self) -> str | None:
        return fs.join(self.uri, "_thresher", "checkpoints")

    def preflight(self, job_id: str | None) -> None:
        """Refuse ``mode="create"`` on an existing dataset before any work (unless this job made it)."""
        if self.mode != "create":
            return
        ds = _open(self.uri, None, self._storage_options)
        if ds is not None and not (job_id and committed_partitions_of(ds, job_id)[1]):
            raise ThresherIOError(f"Lance dataset {self.uri} already exists (mode='create'); use mode='append' "
                                  "or mode='overwrite'")

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise :class:`ThresherTypeError` when ``schema`` cannot go into the dataset."""
        if self._checked is not None and self._checked.equals(schema):
            return
        storage = lance_storage_schema(schema)
        ds = _open(self.uri, None, self._storage_options)
        if self.mode == "merge_columns":
            if ds is None:
                raise ThresherIOError(f"merge_columns needs an existing Lance dataset at {self.uri}")
            if self.on not in schema.names or self.on not in ds.schema.names:
                raise ColumnNotFoundError(f"merge_columns join column {self.on!r} must be in the data and the dataset")
            key_have, key_want = ds.schema.field(self.on).type, storage.field(self.on).type
            if key_have != key_want and not (pa.types.is_integer(key_have) and pa.types.is_integer(key_want)):
                raise ThresherTypeError(f"join column {self.on!r}: dataset has {key_have}, data has {key_want}")
            for f in storage:
                if f.name != self.on and f.name in ds.schema.names and ds.schema.field(f.name).type != f.type:
                    raise ThresherTypeError(
                        f"Lance dataset {self.uri}: column {f.name!r} has type {ds.schema.field(f.name).type}, "
                        f"cannot merge {f.type}"
                    )
        elif ds is not None and self.mode != "overwrite":
            have = logical_schema(ds.schema)
            if _plain(lance_storage_schema(have)) != _plain(storage) or _plain(have) != _plain(schema):
                raise ThresherTypeError(
                    f"Lance dataset {self.uri} has schema {_describe(have)}; cannot write {_describe(schema)}"
                )
        self._checked = schema

    def write(self, partition_id: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> WriteResult:
        """Write one partition as Lance fragments nobody references yet (or stage merge columns)."""
        from lance.fragment import write_fragments

        self.check_schema(schema)
        storage = lance_storage_schema(schema)
        if self.mode == "merge_columns":
            tbl = pa.Table.from_batches([_storage_batch(b, storage) for b in batches], schema=storage)
            return WriteResult(partition_id, num_rows=tbl.num_rows, num_bytes=tbl.nbytes, payload=tbl)
        stats = _StatsCollector(storage)

        def gen() -> Iterator[pa.RecordBatch]:
            for b in batches:
                if b.num_rows:
                    sb = _storage_batch(b, storage)
                    stats.add(sb)
                    yield sb

        frags = write_fragments(
            pa.RecordBatchReader.from_batches(storage, gen()),
            self.uri,
            schema=storage,
            storage_options=self._storage_options,
        )
        files = [d.path for f in frags for d in f.data_files()]
        st = stats.result()
        return WriteResult(
            partition_id,
            num_rows=sum(f.physical_rows for f in frags),
            files=files,
            payload={
                "fragments": frags,
                "schema": storage,
                "stats": {f.data_files()[0].path: st for f in frags if f.data_files()},
            },
        )

    def committed_partitions(self, job_id: str) -> set[str]:
        ds = _open(self.uri, None, self._storage_options)
        return set() if ds is None else committed_partitions_of(ds, job_id)[0]

    def commit(self, job_id: str, results: Sequence[WriteResult]) -> CommitResult:
        """Commit ``results`` in one Lance transaction, skipping partitions the job already committed."""
        unique: dict[str, WriteResult] = {}
        for r in results:
            unique.setdefault(r.partition_id, r)

        def attempt() -> CommitResult:
            with commit_lock(self.uri), job_lease(self.uri, job_id, self.io_config) as lease:
                if not fs.is_local(self.uri) and _open(self.uri, None, self._storage_options) is None:
                    # Lance rebases a second "create" (an Overwrite) on top of the first and would
                    # drop its rows: creators of a dataset on an object store take turns
                    with job_lease(self.uri, "\x00create", self.io_config) as create:

                        def fence() -> None:
                            lease.check()
                            create.check()

                        return self._commit_once(job_id, unique, fence)
                return self._commit_once(job_id, unique, lease.check)

        res = retry_commit(attempt, lambda e: isinstance(e, (OSError, RuntimeError)) and _is_conflict(e),
                           f"Lance dataset {self.uri}, job {job_id!r}", self.max_commit_attempts)
        # the fragments of a partition the job had committed already (another committer of it was
        # first), and of a partition's duplicates, are referenced by no version: delete them
        mine = {id(unique[pid]) for pid in res.committed}
        unused = [r for r in results if id(r) not in mine and r.files]
        if unused and self.mode != "merge_columns":
            self.abort(unused)
        return res

    def _commit_once(self, job_id: str, unique: Mapping[str, WriteResult],
                     fence: Callable[[], None] = lambda: None) -> CommitResult:
        import lance
        from lance import LanceOperation

        ds = _open(self.uri, None, self._storage_options)
        done, seen = committed_partitions_of(ds, job_id) if ds is not None else (set(), False)
        todo = [r for pid, r in unique.items() if pid not in done]
        skipped = [pid for pid in unique if pid in done]
        if not todo:
            return CommitResult(skipped=skipped, version=ds.version if ds is not None else None)
        props = encode_partition_ids(job_id, [r.partition_id for r in todo])
        if self.mode == "merge_columns":
            op = self._merge_operation(ds, todo)
        else:
            frags = [f for r in todo for f in (r.payload or {}).get("fragments", [])]
            stats: dict[str, Any] = {}
            for r in todo:
                stats.update((r.payload or {}).get("stats", {}))
            if stats:
                text = json.dumps(stats, default=str)
                if len(text) < 1_000_000:
                    props[STATS_KEY] = text
            schema = next((r.payload["schema"] for r in todo if r.payload), None)
            if ds is not None and self.mode == "create" and not seen:
                raise ThresherIOError(f"Lance dataset {self.uri} already exists (mode='create')")
            if ds is None or (self.mode == "overwrite" and not seen):
                if schema is None:
                    raise ThresherIOError(f"cannot create Lance dataset {self.uri}: no data written")
                op = LanceOperation.Overwrite(schema, frags)
            else:
                op = LanceOperation.Append(frags)
        tx = lance.Transaction(ds.version if ds is not None else 0, op, transaction_properties=props)
        fence()  # the job lease is still held (object stores): a lapsed holder does not commit
        new = lance.LanceDataset.commit(self.uri, tx, storage_options=self._storage_options)
        return CommitResult(
            committed=[r.partition_id for r in todo],
            skipped=skipped,
            num_rows=sum(r.num_rows for r in todo),
            version=new.version,
        )

    def _merge_operation(self, ds: Any, todo: Sequence[WriteResult]) -> Any:
        from lance import LanceOperation

        if ds is None:
            raise ThresherIOError(f"merge_columns needs an existing Lance dataset at {self.uri}")
        staged = pa.concat_tables([r.payload for r in todo if r.payload is not None])
        assert self.on is not None
        new_cols = [c for c in staged.column_names if c != self.on]
        present = [c for c in new_cols if c in ds.schema.names]
        if not present:
            merged, schema = [], None
            for f in ds.get_fragments():
                md, schema = f.merge(staged, self.on)
                merged.append(md)
            return LanceOperation.Merge(merged, schema)
        if len(present) != len(new_cols):
            raise ThresherTypeError(
                f"Lance dataset {self.uri}: merge_columns of {new_cols} where only {present} exist already"
            )
        updated, modified = [], set()
        for f in ds.get_fragments():
            md, fields = f.update_columns(staged, left_on=self.on)
            updated.append(md)
            modified.update(fields)
        return LanceOperation.Update(
            updated_fragments=updated, fields_modified=sorted(modified), update_mode="rewrite_columns"
        )

    def abort(self, results: Sequence[WriteResult]) -> None:
        """Delete the data files of fragments that will never be committed."""
        ds = _open(self.uri, None, self._storage_options)
        referenced = {d.path for f in ds.get_fragments() for d in f.data_files()} if ds is not None else set()
        for r in results:
            for p in r.files:
                if p not in referenced:
                    with contextlib.suppress(fs.StorageError):
                        fs.delete(fs.join(self.uri, "data", p), self.io_config)

    def identity(self) -> tuple[Any, ...]:
        return ("LanceSink", self.uri, self.mode, self.on)


def _is_conflict(e: BaseException) -> bool:
    text = str(e).lower()
    return "conflict" in text or "retry" in text or "concurrent" in text or "commit" in text and "version" in text


def _describe(schema: pa.Schema) -> str:
    from thresher.datatypes import DataType

    return "(" + ", ".join(f"{f.name}: {DataType(f.type)}" for f in schema) + ")"


def add_columns(uri: str, table_with_key: pa.Table, on: str = "id", job_id: str | None = None,
                io_config: IOConfig | None = None) -> CommitResult:
    """Add the columns of ``table_with_key`` to a Lance dataset by joining on ``on``.

    Existing columns are not rewritten (a Lance Merge adds new data files next to them); rows
    without a match get nulls. With ``job_id`` the call is idempotent: a repeat is skipped.

    Parameters
    ----------
    uri : str
        The dataset location.
    table_with_key : pyarrow.Table
        The join column plus the new columns (extension types allowed).
    on : str
        The join column.
    job_id : str, optional
        Makes the call idempotent (recorded in the transaction).

    Returns
    -------
    CommitResult
    """
    sink = LanceSink(uri, mode="merge_columns", on=on, io_config=io_config)
    res = sink.write("add_columns", table_with_key.to_batches(), table_with_key.schema)
    return sink.commit(job_id or f"add_columns-{time.time_ns()}", [res])


__all__ = [
    "FIELD_TYPE_KEY",
    "JOB_ID_KEY",
    "LanceFragmentPartition",
    "LanceSink",
    "LanceSource",
    "add_columns",
    "committed_partitions_of",
    "lance_storage_schema",
    "logical_schema",
]
