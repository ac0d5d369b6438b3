"""The Source protocol: what every reader (Parquet, CSV, JSON, files, Iceberg, Lance, memory) is.

A source splits into partitions with **stable ids** (file + row-group range, snapshot + data
file, ...). Checkpoints and idempotent writes are keyed on those ids, so they must not change
between two runs over the same input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from thresher.io.predicate import Predicate


@dataclass(frozen=True)
class SourceStatistics:
    """What a source knows without reading data (None = unknown)."""

    num_rows: int | None = None
    size_bytes: int | None = None
    column_sizes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnStatistics:
    """What a source knows about one column without reading it (None = unknown): the smallest
    and largest value over all rows, the nulls, and a distinct count where the file records one."""

    min: Any = None
    max: Any = None
    null_count: int | None = None
    distinct_count: int | None = None
    #: a dictionary-encoded text column: about how many values its largest dictionary holds (the
    #: page's bytes over the bytes of a value of the min/max lengths; compressed pages read low)
    dictionary_values: float | None = None


#: the version of how sources name their partitions (SourcePartition.id). Write jobs record the
#: partitions they committed by id, and the plan fingerprint includes this number: bump it
#: whenever a source's ids change (2: glob partitions hashed with xxh3 instead of sha256), so a
#: job checkpointed by an older build is refused as a different plan instead of writing again
#: the partitions it already committed under their old ids.
PARTITION_ID_VERSION = 2


class SourcePartition(ABC):
    """One unit of reading (and of checkpointing)."""

    #: stable across runs over the same input, e.g. "data/a.parquet#rg0-3"
    id: str
    num_rows: int | None = None
    size_bytes: int | None = None

    @abstractmethod
    def read(
        self,
        columns: Sequence[str] | None,
        predicate: Predicate | None,
        batch_size: int,
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches with ``columns`` (all when None) holding only rows matching ``predicate``."""


class Source(ABC):
    """A readable dataset. Subclasses live in one module each under io/."""

    #: shown in explain(), e.g. "parquet[3 files]"
    name: str = "source"
    #: the predicate given to read() is applied exactly (not only used for pruning)
    exact_predicate: bool = True
    #: this source can apply a pushed predicate at all
    supports_predicate: bool = True

    @abstractmethod
    def arrow_schema(self) -> pa.Schema:
        """The full schema (before projection), in Arrow types."""

    @abstractmethod
    def partitions(self, columns: Sequence[str] | None, predicate: Predicate | None) -> list[SourcePartition]:
        """The partitions to read, pruned with ``predicate`` where statistics allow."""

    def statistics(self) -> SourceStatistics:
        return SourceStatistics()

    def column_statistics(self, name: str) -> ColumnStatistics | None:
        """Min/max/null statistics of column ``name`` (from file footers; None = unknown)."""
        return None

    def column_ranges(self, name: str) -> list[tuple[Any, Any]] | None:
        """``(min, max)`` of column ``name`` in each unit a scan can skip by its statistics (a
        Parquet row group; units that hold only NULLs are left out). None = unknown."""
        return None

    def polars_scan(self, columns: Sequence[str] | None, predicate: Predicate | None) -> Any | None:
        """Optionally a ``polars.LazyFrame`` over the same data (fast path for relational stages)."""
        return None

    def polars_scannable(self, columns: Sequence[str] | None, predicate: Predicate | None) -> bool:
        """Whether :meth:`polars_scan` gives a frame for these arguments (the lowering asks of
        every scan; a source whose answer does not depend on them says so without building it)."""
        return self.polars_scan(columns, predicate) is not None

    def identity(self) -> tuple[Any, ...]:
        """Value identity of the source, used for plan equality."""
        return (type(self).__name__, id(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())

    def __repr__(self) -> str:
        return self.name
