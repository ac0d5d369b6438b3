"""The operator interface: one Arrow batch in, zero or more batches out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

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

    def take_metrics(self) -> dict[str, Any]:
        """Counters the operator's UDFs collected since the last call (e.g. model tokens); resets them."""
        return {}


def merge_metrics(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Add ``new`` into ``into``: numbers are summed, anything else (a snapshot) replaces the old value.

    Examples
    --------
    >>> merge_metrics({"tokens": 3, "routing": {"a": 1}}, {"tokens": 2, "routing": {"a": 2}})
    {'tokens': 5, 'routing': {'a': 2}}
    """
    for k, v in new.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            into[k] = into.get(k, 0) + v
        else:
            into[k] = v
    return into
