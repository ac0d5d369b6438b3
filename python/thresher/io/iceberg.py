"""Apache Iceberg: a snapshot-pinned source and a checkpointed, idempotent two-phase sink.

Reading: :class:`IcebergSource` pins a snapshot, plans data files with the pushed
:class:`~thresher.io.predicate.Predicate` turned into a pyiceberg expression (partition pruning and
file min/max statistics), and yields one partition per data file with the stable id
``"<snapshot id>:<file path>"``.

Writing: :class:`IcebergSink` writes Parquet data files into the table's data directory (they are
invisible until a snapshot references them), then ``commit`` adds them in one snapshot whose
summary records the job id and the committed partition ids. Before each commit attempt it
re-reads the table history and skips partitions the job already committed, so a job restarted
with the same id commits each partition exactly once, and retries on concurrent-commit conflicts
itself (tables it creates get ``commit.retry.num-retries=0`` so pyiceberg's own loop stays out).

Multimodal columns: pyiceberg refuses Arrow extension types, so tables are created from the
storage schema; the logical type of each such column is recorded in the table property
``thresher.type.<column>`` (and as a tag in the field doc), and scans re-wrap it. Iceberg has no
fixed-size list, so embeddings come back as lists and are cast back.

pyiceberg is imported lazily inside functions (``import thresher`` stays light).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType
from thresher.errors import ColumnNotFoundError, ThresherIOError, ThresherTypeError
from thresher.io import fs
from thresher.io.commit import (
    JOB_ID_KEY,
    PARTITIONS_KEY,
    decode_partition_ids,
    encode_partition_ids,
    retry_commit,
)
from thresher.io.config import IOConfig, resolve_io_config
from thresher.io.predicate import Comparison, Predicate
from thresher.io.safety import is_within, strip_file_scheme
from thresher.io.sink import CommitResult, Sink, WriteResult
from thresher.io.source import Source, SourcePartition, SourceStatistics
from thresher.io.table_types import (
    decode_logical_type,
    encode_logical_type,
    rewrap_batch,
    storage_schema,
    to_storage,
)

logger = logging.getLogger(__name__)

#: table property prefix recording the logical (extension) type of a column
TYPE_PROP_PREFIX = "thresher.type."
#: tag prefix written into the Iceberg field doc of an extension column
DOC_TAG = "thresher:"

CatalogLike = Any  # None | str | Mapping[str, str] | pyiceberg.catalog.Catalog


# --------------------------------------------------------------------------------------------
# Catalogs and tables
# --------------------------------------------------------------------------------------------


def default_catalog(warehouse_dir: str | os.PathLike[str], name: str = "thresher", database: str | None = None,
                    io_config: IOConfig | None = None) -> Any:
    """A pyiceberg ``SqlCatalog`` on SQLite, with its warehouse on local disk or an object store.

    Parameters
    ----------
    warehouse_dir : str or PathLike
        Folder or object prefix (``s3://bucket/warehouse``) for table data and metadata.
    name : str
        The catalog's name.
    database : str, optional
        The SQLite file; default ``<warehouse>/catalog.db`` (a remote warehouse needs one).
    io_config : IOConfig, optional
        Credentials and endpoint for a warehouse on an object store.

    Returns
    -------
    pyiceberg.catalog.sql.SqlCatalog

    Notes
    -----
    REST, Glue, Hive and other catalogs are configured through pyiceberg as usual
    (``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__*`` variables) and passed by name or as a dict.
    """
    from pyiceberg.catalog.sql import SqlCatalog

    where = os.fspath(warehouse_dir)
    if fs.is_local(where):
        path = fs.local_path(where)
        os.makedirs(path, exist_ok=True)
        warehouse = f"file://{path}"
        db = database or os.path.join(path, "catalog.db")
    else:
        fs.check_writable(where, "an Iceberg warehouse")
        if database is None:
            raise ThresherIOError(f"an Iceberg warehouse on {where!r} needs a local SQLite file: "
                                  "iceberg_catalog(warehouse, database='catalog.db')")
        warehouse = fs.normalize(where)
        db = database
    db = os.path.abspath(db)
    os.makedirs(os.path.dirname(db), exist_ok=True)
    props = {"uri": f"sqlite:///{db}", "warehouse": warehouse, **fs.iceberg_properties(io_config)}
    try:
        return SqlCatalog(name, **props)
    except Exception as e:  # sqlalchemy's OperationalError (sqlalchemy is pyiceberg's, not ours)
        # writers opening a new catalog file at once all find its tables missing and all create
        # them: the CREATE TABLE of every one but the first fails. The tables are there now.
        if "already exists" not in str(e):
            raise
        return SqlCatalog(name, **props)


def resolve_catalog(catalog: CatalogLike, io_config: IOConfig | None = None) -> Any:
    """A pyiceberg Catalog from None (the configured default), a name, a config dict or a Catalog.

    For a name or dict, ``io_config`` adds the FileIO properties (``s3.endpoint``, ...) the
    catalog's own configuration does not set.
    """
    from pyiceberg.catalog import Catalog, load_catalog

    if isinstance(catalog, Catalog):
        return catalog
    extra = fs.iceberg_properties(io_config)
    if catalog is None or isinstance(catalog, str):
        return load_catalog(catalog, **extra)
    if isinstance(catalog, Mapping):
        props = {**extra, **{str(k): str(v) for k, v in catalog.items()}}
        return load_catalog(props.pop("name", "default"), **props)
    raise TypeError(f"catalog must be None, a name, a dict of properties or a pyiceberg Catalog, got {type(catalog)}")


#: catalogs re-opened in this process from a pickled sink, by construction config (one per worker)
_REOPENED: dict[str, Any] = {}


def catalog_spec(catalog: Any) -> tuple[type, str, dict[str, str]]:
    """What re-opens ``catalog`` in another process: its class, name and properties.

    Every pyiceberg catalog is built as ``cls(name, **properties)`` (SQL: the database URI and
    the warehouse; REST: the endpoint and credentials; FileIO properties alike). A catalog that
    another process cannot reach the same way raises ``TypeError`` (the Ray executor then writes
    on the driver): an in-memory SQLite database exists only in the process that made it.
    """
    props = {str(k): v for k, v in dict(getattr(catalog, "properties", None) or {}).items()}
    uri = str(props.get("uri", ""))
    if uri.startswith("sqlite") and (":memory:" in uri or uri.rstrip("/") == "sqlite:"
                                     or "mode=memory" in uri):
        raise TypeError(f"Iceberg catalog {getattr(catalog, 'name', '?')!r} is an in-memory SQLite database: "
                        "other processes cannot open it (use a file: iceberg_catalog(warehouse))")
    return type(catalog), str(catalog.name), props


def reopen_catalog(spec: tuple[type, str, dict[str, str]]) -> Any:
    """The catalog of :func:`catalog_spec`, opened once per process."""
    import json

    cls, name, props = spec
    key = json.dumps([cls.__module__, cls.__qualname__, name, props], sort_keys=True, default=str)
    cat = _REOPENED.get(key)
    if cat is None:
        cat = _REOPENED[key] = cls(name, **props)
    return cat


def _identifier_str(table_or_identifier: Any) -> str:
    if isinstance(table_or_identifier, str):
        return table_or_identifier
    if isinstance(table_or_identifier, (tuple, list)):
        return ".".join(table_or_identifier)
    return ".".join(table_or_identifier.name())


def _load_table(table_or_identifier: Any, catalog: CatalogLike, io_config: IOConfig | None = None) -> Any:
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.table import Table

    if isinstance(table_or_identifier, Table):
        return table_or_identifier
    _check_identifier(table_or_identifier)
    try:
        return resolve_catalog(catalog, io_config).load_table(table_or_identifier)
    except NoSuchTableError:
        raise ThresherIOError(f"no Iceberg table {_identifier_str(table_or_identifier)!r} in the catalog") from None


def _check_identifier(identifier: Any) -> None:
    """Refuse an identifier without a namespace (``"events"``) before any work starts."""
    if isinstance(identifier, str):
        parts = identifier.split(".")
    elif isinstance(identifier, (tuple, list)):
        parts = list(identifier)
    else:
        return
    if len(parts) < 2 or not all(parts):
        raise ThresherIOError(f"Iceberg identifier {identifier!r} needs a namespace: 'namespace.table'")


def _logical_arrow_schema(iceberg_schema: Any, properties: Mapping[str, str]) -> pa.Schema:
    """The Thresher schema of an Iceberg schema: storage re-wrapped from ``thresher.type.*``."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    arrow = schema_to_pyarrow(iceberg_schema, include_field_ids=False)
    fields = []
    for f in arrow:
        tag = properties.get(TYPE_PROP_PREFIX + f.name)
        t = decode_logical_type(tag) if tag else DataType(f.type).to_arrow()
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


# --------------------------------------------------------------------------------------------
# Predicate -> pyiceberg expression
# --------------------------------------------------------------------------------------------


def predicate_to_iceberg(predicate: Predicate | None) -> Any:
    """Translate a neutral :class:`Predicate` into a pyiceberg ``BooleanExpression``."""
    from pyiceberg.expressions import AlwaysTrue, And

    if predicate is None or not predicate.terms:
        return AlwaysTrue()
    exprs = [_term_to_iceberg(t) for t in predicate.terms]
    return exprs[0] if len(exprs) == 1 else And(*exprs)


def _term_to_iceberg(t: Comparison) -> Any:
    from pyiceberg import expressions as E

    v = t.value
    if t.op == "is_null":
        return E.IsNull(t.column)
    if t.op == "is_not_null":
        return E.NotNull(t.column)
    if t.op == "is_in":
        vals = [x for x in v if x is not None]
        return E.In(t.column, set(vals)) if vals else E.AlwaysFalse()
    if v is None:  # SQL semantics: comparing with NULL matches nothing
        return E.AlwaysFalse()
    cls = {
        "==": E.EqualTo,
        "!=": E.NotEqualTo,
        "<": E.LessThan,
        "<=": E.LessThanOrEqual,
        ">": E.GreaterThan,
        ">=": E.GreaterThanOrEqual,
    }[t.op]
    return cls(t.column, v)


# --------------------------------------------------------------------------------------------
# Source
# --------------------------------------------------------------------------------------------


class IcebergFilePartition(SourcePartition):
    """One data file of a pinned snapshot (plus its delete files)."""

    def __init__(self, source_id: str, task: Any, metadata: Any, io: Any, schema: Any, target: pa.Schema) -> None:
        self.id = source_id
        self._schema = schema
        self.task = task
        self.num_rows = int(task.file.record_count)
        self.size_bytes = int(task.file.file_size_in_bytes)
        self._metadata = metadata
        self._io = io
        self._target = target

    def read(
        self,
        columns: Sequence[str] | None,
        predicate: Predicate | None,
        batch_size: int = 65536,
    ) -> Iterator[pa.RecordBatch]:
        from pyiceberg.io.pyarrow import ArrowScan

        schema = self._schema
        names = list(columns) if columns is not None else [f.name for f in schema.fields]
        for n in names:
            if self._target.get_field_index(n) < 0:
                raise ColumnNotFoundError(f"column {n!r} not in Iceberg table; columns: {self._target.names}")
        projected = schema.select(*names) if names else schema.select()
        scan = ArrowScan(self._metadata, self._io, projected, predicate_to_iceberg(predicate))
        target = pa.schema([self._target.field(n) for n in names])
        for batch in scan.to_record_batches([self.task]):
            batch = batch.select(names) if batch.schema.names != names else batch
            for start in range(0, max(batch.num_rows, 1), batch_size):
                chunk = batch.slice(start, batch_size)
                if chunk.num_rows or batch.num_rows == 0:
                    yield rewrap_batch(chunk, target)


class IcebergSource(Source):
    """Read an Iceberg table at one snapshot.

    Parameters
    ----------
    table_or_identifier : str, tuple or pyiceberg Table
        ``"namespace.table"`` or a loaded table.
    catalog : None, str, dict or pyiceberg Catalog
        Where to look the identifier up (see :func:`resolve_catalog`); ignored for a Table.
    snapshot_id : int, optional
        The snapshot to read; the current one when None (pinned at construction).

    Examples
    --------
    >>> src = IcebergSource("db.events", catalog=default_catalog("/tmp/wh"))  # doctest: +SKIP
    >>> [p.id for p in src.partitions(None, None)]  # doctest: +SKIP
    ['5312...:file:///tmp/wh/db/events/data/00000-0-....parquet']
    """

    exact_predicate = True
    supports_predicate = True

    def __init__(self, table_or_identifier: Any, catalog: CatalogLike = None, snapshot_id: int | None = None,
                 io_config: IOConfig | None = None) -> None:
        table = _load_table(table_or_identifier, catalog, resolve_io_config(io_config))
        self._identifier = _identifier_str(table)
        self._metadata = table.metadata
        self._io = table.io
        snap = self._metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
        if snapshot_id is not None and snap is None:
            raise ThresherIOError(f"Iceberg table {self._identifier}: no snapshot {snapshot_id}")
        self.snapshot_id: int | None = snap.snapshot_id if snap is not None else None
        self._snapshot = snap
        schema = self._metadata.schema()
        if snap is not None and snap.schema_id is not None:
            schema = next((s for s in self._metadata.schemas if s.schema_id == snap.schema_id), schema)
        self._iceberg_schema = schema
        self._arrow = _logical_arrow_schema(schema, self._metadata.properties)
        self.name = f"iceberg[{self._identifier}@{self.snapshot_id}]"
        self.last_planned_files: int | None = None

    def arrow_schema(self) -> pa.Schema:
        return self._arrow

    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        from pyiceberg.table import DataScan

        if self.snapshot_id is None:
            return []
        if predicate is not None:
            for c in predicate.columns():
                if self._arrow.get_field_index(c) < 0:
                    raise ColumnNotFoundError(f"predicate column {c!r} not in Iceberg table {self._identifier}")
        scan = DataScan(
            self._metadata, self._io, row_filter=predicate_to_iceberg(predicate), snapshot_id=self.snapshot_id
        )
        tasks = sorted(scan.plan_files(), key=lambda t: t.file.file_path)
        self.last_planned_files = len(tasks)
        return [
            IcebergFilePartition(
                f"{self.snapshot_id}:{t.file.file_path}", t, self._metadata, self._io, self._iceberg_schema, self._arrow
            )
            for t in tasks
        ]

    def statistics(self) -> SourceStatistics:
        if self._snapshot is None:
            return SourceStatistics(num_rows=0, size_bytes=0)
        s = self._snapshot.summary
        rows = s["total-records"] if s is not None else None
        size = s["total-files-size"] if s is not None else None
        return SourceStatistics(num_rows=int(rows) if rows else None, size_bytes=int(size) if size else None)

    def identity(self) -> tuple[Any, ...]:
        return ("IcebergSource", self._metadata.location, self.snapshot_id)


# --------------------------------------------------------------------------------------------
# Sink
# --------------------------------------------------------------------------------------------


def committed_partitions_of(table: Any, job_id: str) -> set[str]:
    """Partition ids that snapshots in the current lineage of ``table`` record for ``job_id``."""
    from pyiceberg.table.snapshots import ancestors_of

    out: set[str] = set()
    for snap in ancestors_of(table.current_snapshot(), table.metadata):
        if snap.summary is None:
            continue
        pids = decode_partition_ids(snap.summary.additional_properties, job_id)
        if pids is not None:
            out.update(pids)
    return out


def _job_has_snapshot(table: Any, job_id: str) -> bool:
    from pyiceberg.table.snapshots import ancestors_of

    return any(
        s.summary is not None and s.summary.additional_properties.get(JOB_ID_KEY) == job_id
        for s in ancestors_of(table.current_snapshot(), table.metadata)
    )


class IcebergSink(Sink):
    """Two-phase, idempotent writes into an Iceberg table (created on first write if missing).

    Parameters
    ----------
    table_or_identifier : str, tuple or pyiceberg Table
        The table; ``"namespace.table"`` is created (namespace included) when it does not exist.
    catalog : None, str, dict or pyiceberg Catalog
        The catalog (see :func:`resolve_catalog`).
    mode : {"append", "overwrite"}
        ``overwrite`` replaces the table's data in the job's first commit; later commits of the
        same job (incremental, or after a restart) append.
    partition_by : list of str, optional
        Identity-partition columns for a table this sink creates (an existing table keeps its spec).
    properties : dict, optional
        Extra table properties for a table this sink creates.
    max_commit_attempts : int
        Attempts of the check-then-commit loop on concurrent-commit conflicts.
    stream : bool
        Stream a partition's batches into data files with bounded memory (unpartitioned tables
        only) instead of materializing the partition first (the faster default).
    io_config : IOConfig, optional
        FileIO credentials when ``catalog`` is a name or a dict (default: the session's).
    """

    name = "iceberg"

    def __init__(
        self,
        table_or_identifier: Any,
        catalog: CatalogLike = None,
        mode: str = "append",
        partition_by: Sequence[str] | None = None,
        properties: Mapping[str, str] | None = None,
        max_commit_attempts: int = 30,
        stream: bool = False,
        io_config: IOConfig | None = None,
    ) -> None:
        if mode not in ("append", "overwrite"):
            raise ValueError(f"IcebergSink mode must be 'append' or 'overwrite', got {mode!r}")
        from pyiceberg.table import Table

        self.io_config = resolve_io_config(io_config)
        self._table: Any = table_or_identifier if isinstance(table_or_identifier, Table) else None
        if self._table is None:
            _check_identifier(table_or_identifier)
        self._catalog_obj: Any = (self._table.catalog if self._table is not None
                                  else resolve_catalog(catalog, self.io_config))
        self._catalog_spec: tuple[type, str, dict[str, str]] | None = None
        self._identifier = _identifier_str(table_or_identifier)
        self.mode = mode
        self.partition_by = list(partition_by or [])
        self.properties = dict(properties or {})
        self.max_commit_attempts = max_commit_attempts
        self.stream = stream
        self._checked: pa.Schema | None = None
        self.name = f"iceberg[{self._identifier}]"

    # ---- travelling to a worker ---------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a write task on a worker: the catalog travels as its construction config
        (class, name, properties; re-opened there on first use) and the table is loaded again
        there; raises ``TypeError`` for a catalog no other process can open."""
        state = dict(self.__dict__)
        state["_catalog_spec"] = self._catalog_spec or catalog_spec(self._catalog_obj)
        state["_catalog_obj"] = None
        state["_table"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def _catalog(self) -> Any:
        if self._catalog_obj is None:
            assert self._catalog_spec is not None
            self._catalog_obj = reopen_catalog(self._catalog_spec)
        return self._catalog_obj

    def prepare(self, schema: pa.Schema) -> None:
        """Create the table (and its namespace) here, once, before write tasks run elsewhere."""
        self.check_schema(schema)
        self._ensure_table(schema)

    # ---- table handling -----------------------------------------------------------------
    def checkpoint_location(self) -> str | None:
        table = self._load()
        if table is None:
            return None
        return fs.join(fs.normalize(str(table.location())), "_thresher", "checkpoints")

    def _load(self) -> Any | None:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            self._table = self._catalog.load_table(self._identifier)
        except NoSuchTableError:
            return None
        return self._table

    def _create(self, schema: pa.Schema) -> Any:
        from pyiceberg.exceptions import TableAlreadyExistsError

        sch, tags = storage_schema(schema)
        fields = []
        for f in sch:
            if f.name in tags:
                doc = f"{DOC_TAG}{DataType(schema.field(f.name).type)}"
                fields.append(f.with_metadata({**(f.metadata or {}), b"doc": doc.encode()}))
            else:
                fields.append(f)
        sch = pa.schema(fields)
        props = {
            "commit.retry.num-retries": "0",
            **{TYPE_PROP_PREFIX + k: v for k, v in tags.items()},
            **self.properties,
        }
        ns = tuple(self._identifier.split(".")[:-1])
        if ns:
            try:
                self._catalog.create_namespace_if_not_exists(ns)
            except Exception:  # a concurrent writer created it between the check and the insert
                self._catalog.load_namespace_properties(ns)
        try:
            tx = self._catalog.create_table_transaction(self._identifier, schema=sch, properties=props)
            if self.partition_by:
                with tx.update_spec() as spec:
                    for c in self.partition_by:
                        spec.add_identity(c)
            self._table = tx.commit_transaction()
        except Exception as e:  # lost a creation race (TableAlreadyExistsError, or a failed create commit)
            try:
                self._table = self._catalog.load_table(self._identifier)
            except Exception:
                raise e from None
            if not isinstance(e, TableAlreadyExistsError):
                logger.info("Iceberg table %s was created concurrently: %s", self._identifier, e)
        return self._table

    def _ensure_table(self, schema: pa.Schema) -> Any:
        return self._table if self._table is not None else (self._load() or self._create(schema))

    # ---- protocol -----------------------------------------------------------------------
    def check_schema(self, schema: pa.Schema) -> None:
        """Raise :class:`ThresherTypeError` when ``schema`` cannot be written to the table."""
        from pyiceberg.catalog import Catalog
        from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

        if self._checked is not None and self._checked.equals(schema):
            return
        sch, tags = storage_schema(schema)
        for c in self.partition_by:
            if sch.get_field_index(c) < 0:
                raise ColumnNotFoundError(f"partition_by column {c!r} not in the written columns {sch.names}")
        table = self._table if self._table is not None else self._load()
        if table is None:
            try:
                Catalog._convert_schema_if_needed(sch)
            except Exception as e:  # an Arrow type Iceberg cannot hold
                raise ThresherTypeError(
                    f"cannot create Iceberg table {self._identifier} from this schema: {e}"
                ) from None
            self._checked = schema
            return
        props = table.metadata.properties
        tschema = table.schema()
        tnames = {f.name for f in tschema.fields}
        extra = [n for n in sch.names if n not in tnames]
        if extra:
            raise ThresherTypeError(
                f"Iceberg table {self._identifier}: columns {extra} are not in the table (columns: {sorted(tnames)})"
            )
        for f in schema:
            have = props.get(TYPE_PROP_PREFIX + f.name)
            want = tags.get(f.name)
            if have != want:
                have_t = DataType(decode_logical_type(have)) if have else "a plain column"
                raise ThresherTypeError(
                    f"Iceberg table {self._identifier}: column {f.name!r} has type {have_t}, "
                    f"cannot write {DataType(f.type)}"
                )
        try:
            _check_pyarrow_schema_compatible(tschema, sch, format_version=table.metadata.format_version)
        except ValueError as e:
            raise ThresherTypeError(f"Iceberg table {self._identifier}: incompatible schema: {e}") from None
        self._checked = schema

    def write(self, partition_id: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> WriteResult:
        """Write Parquet data files for one partition into the table location (not yet visible)."""
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        self.check_schema(schema)
        table = self._ensure_table(schema)
        sch, _ = storage_schema(schema)
        order = [f.name for f in table.schema().fields if sch.get_field_index(f.name) >= 0]
        out_schema = pa.schema([sch.field(n) for n in order])

        def gen() -> Iterator[pa.RecordBatch]:
            for b in batches:
                if b.num_rows:
                    yield to_storage(b, iceberg=True).select(order)

        data: pa.Table | pa.RecordBatchReader
        if self.stream:
            if not table.metadata.spec().is_unpartitioned():
                raise ThresherIOError("IcebergSink(stream=True) needs an unpartitioned table (pyiceberg limitation)")
            data = pa.RecordBatchReader.from_batches(out_schema, gen())
        else:
            # One source partition is the unit of work: materializing it lets pyiceberg bin-pack
            # and split by partition key in one pass (2x faster than its streaming path).
            data = pa.Table.from_batches(list(gen()), schema=out_schema)
            if data.num_rows == 0:
                return WriteResult(partition_id, payload=[])
        files = list(_dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io))
        location = strip_file_scheme(table.metadata.location)
        for d in files:
            path = strip_file_scheme(d.file_path)
            if "://" not in path and not is_within(location, path):  # local warehouse: never outside the table
                raise ThresherIOError(f"data file {d.file_path} is outside table location {table.metadata.location}")
        return WriteResult(
            partition_id,
            num_rows=sum(int(d.record_count) for d in files),
            num_bytes=sum(int(d.file_size_in_bytes) for d in files),
            files=[d.file_path for d in files],
            payload=files,
        )

    def committed_partitions(self, job_id: str) -> set[str]:
        table = self._load()
        return set() if table is None else committed_partitions_of(table, job_id)

    def commit(self, job_id: str, results: Sequence[WriteResult]) -> CommitResult:
        """Add the data files of ``results`` in one snapshot; partitions already in are skipped.

        Every attempt re-reads the table and re-checks which partitions the job already
        committed, and pyiceberg's own retry loop is switched off for it (whoever created the
        table): that loop would re-apply the append on top of a concurrent committer's
        snapshot without this check, committing the same partitions twice.
        """
        from pyiceberg.exceptions import CommitFailedException, ValidationException

        unique: dict[str, WriteResult] = {}
        for r in results:
            unique.setdefault(r.partition_id, r)
        res = retry_commit(
            lambda: self._commit_once(job_id, unique),
            lambda e: isinstance(e, (CommitFailedException, ValidationException)),
            f"Iceberg table {self._identifier}, job {job_id!r}",
            self.max_commit_attempts,
        )
        # the data files of a partition the job had committed already (another committer of it
        # was first), and of a partition's duplicates, are referenced by no snapshot: delete them
        mine = {id(unique[pid]) for pid in res.committed}
        unused = [r for r in results if id(r) not in mine and r.files]
        if unused:
            self.abort(unused)
        return res

    def _commit_once(self, job_id: str, unique: Mapping[str, WriteResult]) -> CommitResult:
        from pyiceberg.table import DataScan

        table = self._load()
        if table is None:
            raise ThresherIOError(f"Iceberg table {self._identifier} does not exist; write() creates it")
        done = committed_partitions_of(table, job_id)
        todo = [r for pid, r in unique.items() if pid not in done]
        skipped = [pid for pid in unique if pid in done]
        if not todo:
            snap = table.current_snapshot()
            return CommitResult(skipped=skipped, version=snap.snapshot_id if snap else None)
        # only this in-memory copy changes: the catalog builds the new metadata from its own
        table.metadata = table.metadata.model_copy(
            update={"properties": {**table.metadata.properties, "commit.retry.num-retries": "0"}})
        props = encode_partition_ids(job_id, [r.partition_id for r in todo])
        tx = table.transaction()
        if self.mode == "overwrite" and not _job_has_snapshot(table, job_id):
            existing = []
            if table.current_snapshot() is not None:
                existing = [t.file for t in DataScan(table.metadata, table.io).plan_files()]
            with tx.update_snapshot(snapshot_properties=props).overwrite() as op:
                for f in existing:
                    op.delete_data_file(f)
                for r in todo:
                    for d in r.payload or []:
                        op.append_data_file(d)
        else:
            with tx.update_snapshot(snapshot_properties=props).fast_append() as op:
                for r in todo:
                    for d in r.payload or []:
                        op.append_data_file(d)
        new = tx.commit_transaction()
        snap = new.current_snapshot()
        return CommitResult(
            committed=[r.partition_id for r in todo],
            skipped=skipped,
            num_rows=sum(r.num_rows for r in todo),
            version=snap.snapshot_id if snap else None,
        )

    def abort(self, results: Sequence[WriteResult]) -> None:
        """Delete data files of uncommitted ``results`` (never files a snapshot references)."""
        table = self._load()
        if table is None:
            return
        referenced: set[str] = set()
        if table.current_snapshot() is not None:
            from pyiceberg.table import DataScan

            referenced = {t.file.file_path for t in DataScan(table.metadata, table.io).plan_files()}
        for r in results:
            for f in r.files:
                if f not in referenced:
                    try:
                        table.io.delete(f)
                    except Exception:  # already gone
                        pass

    def identity(self) -> tuple[Any, ...]:
        return ("IcebergSink", self._identifier, self.mode, tuple(self.partition_by))


__all__ = [
    "JOB_ID_KEY",
    "PARTITIONS_KEY",
    "TYPE_PROP_PREFIX",
    "IcebergSink",
    "IcebergSource",
    "committed_partitions_of",
    "decode_logical_type",
    "catalog_spec",
    "decode_partition_ids",
    "default_catalog",
    "encode_logical_type",
    "encode_partition_ids",
    "reopen_catalog",
    "resolve_catalog",
    "rewrap_batch",
    "storage_schema",
    "to_storage",
]
