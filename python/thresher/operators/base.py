"""The operator interface: one Arrow batch in, zero or more batches out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pyarrow as pa

from thresher.datatypes import Schema


class Operator(ABC):
    """A row-local operator. ``process`` may be called from several threads at once."""

    #: the output schema
    schema: Schema

    @abstractmethod
    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """Transform one batch."""

    def error_count(self) -> int:
        return 0

    def error_samples(self) -> list[str]:
        return []
