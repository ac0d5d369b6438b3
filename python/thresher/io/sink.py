"""The Sink protocol: two-phase, idempotent writes keyed by (job id, source partition).

``write`` puts data files in place but invisible; ``commit`` makes a set of written partitions
visible atomically and records their ids, so a job restarted with the same job id commits each
partition exactly once (``committed_partitions`` tells which ones are already in).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass
class WriteResult:
    """Data written for one source partition, not yet visible."""

    partition_id: str
    num_rows: int = 0
    num_bytes: int = 0
    files: list[str] = field(default_factory=list)
    #: format-specific handle the commit needs (Lance fragments, Iceberg DataFiles, ...)
    payload: Any = None
    #: the Ray node that wrote the files (None when written in the driver's process)
    node_id: str | None = None


_WRITER_METADATA: ContextVar[dict[str, str] | None] = ContextVar("thresher_writer_metadata", default=None)


@contextlib.contextmanager
def writer_metadata(meta: dict[str, str]) -> Iterator[None]:
    """Key-value metadata that data files written in this block carry (where the format has it:
    Parquet), e.g. ``{"thresher.node_id": ...}`` from a Ray write task.

    >>> with writer_metadata({"k": "v"}):
    ...     current_writer_metadata()
    {'k': 'v'}
    """
    token = _WRITER_METADATA.set({**(_WRITER_METADATA.get() or {}), **meta})
    try:
        yield
    finally:
        _WRITER_METADATA.reset(token)


def current_writer_metadata() -> dict[str, str]:
    """The metadata :func:`writer_metadata` set for files written now (empty: none)."""
    return dict(_WRITER_METADATA.get() or {})


@dataclass
class CommitResult:
    committed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    num_rows: int = 0
    #: e.g. Iceberg snapshot id or Lance version
    version: Any = None


class Sink(ABC):
    """A writable destination. One module per format or store under io/."""

    name: str = "sink"
    #: "append", "overwrite", ...: an overwriting sink may replace a job whose plan changed
    mode: str = "append"
    #: credentials for a sink on an object store (job records live there too)
    io_config: Any = None

    def preflight(self, job_id: str | None) -> None:
        """Raise before the plan runs when this write cannot succeed (target exists, bad location)."""
        return None

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise before any data file is written when ``schema`` cannot go into this sink."""
        return None

    def prepare(self, schema: pa.Schema) -> None:
        """Create, once and before writes run in other processes, what they need (a table)."""
        return None

    @abstractmethod
    def write(self, partition_id: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> WriteResult:
        """Write one partition's rows as invisible data files."""

    @abstractmethod
    def commit(self, job_id: str, results: Sequence[WriteResult]) -> CommitResult:
        """Make ``results`` visible atomically, skipping partitions already committed for ``job_id``."""

    def committed_partitions(self, job_id: str) -> set[str]:
        """Partition ids already committed under ``job_id`` (empty when unknown)."""
        return set()

    def abort(self, results: Sequence[WriteResult]) -> None:
        """Remove data files of results that will never be committed."""
        return None

    def checkpoint_location(self) -> str | None:
        """A folder or object prefix next to the data where job records live (None: no default)."""
        return None

    def identity(self) -> tuple[Any, ...]:
        return (type(self).__name__, id(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sink) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())

    def __repr__(self) -> str:
        return self.name
