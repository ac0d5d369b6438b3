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

    def warm_up(self) -> None:  # noqa: B027 - optional hook: most operators have nothing to build
        """Build what the first batch would (a class UDF's instance: its model), ahead of it."""

    def error_count(self) -> int:
        return 0

    def error_samples(self) -> list[str]:
        return []

    def take_metrics(self) -> dict[str, Any]:
        """Counters the operator's UDFs collected since the last call (e.g. model tokens); resets them."""
        return {}


def merge_metrics(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Add counters ``new`` into ``into``: numbers sum, nested dicts merge the same way, lists of
    numbers sum element-wise (per replica), other lists concatenate, anything else replaces.

    Examples
    --------
    >>> merge_metrics({"tokens": 3, "routing": {"per": [1, 2]}}, {"tokens": 2, "routing": {"per": [1, 0, 4]}})
    {'tokens': 5, 'routing': {'per': [2, 2, 4]}}
    """
    for k, v in new.items():
        old = into.get(k)
        if _is_number(v):
            into[k] = (old if _is_number(old) else 0) + v
        elif isinstance(v, dict):
            into[k] = merge_metrics(dict(old) if isinstance(old, dict) else {}, v)
        elif isinstance(v, list) and isinstance(old, list):
            if all(map(_is_number, v)) and all(map(_is_number, old)):
                n = max(len(v), len(old))
                into[k] = [(old[i] if i < len(old) else 0) + (v[i] if i < len(v) else 0) for i in range(n)]
            else:
                into[k] = old + v
        else:
            into[k] = v
    return into


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
