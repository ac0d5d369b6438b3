"""Sample: keep each row with probability ``fraction``, reproducibly.

The keep/drop decision of a row is a hash of (seed, partition, row position in the partition),
so the same seed keeps the same rows whatever the batch size or the executor.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from thresher.datatypes import Schema
from thresher.operators.base import Operator


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def keep_mask(seed: int, partition: str, start: int, n: int, fraction: float) -> np.ndarray:
    base = np.uint64(xxhash.xxh64_intdigest(f"{seed}:{partition}".encode()))
    with np.errstate(over="ignore"):
        h = _splitmix64(np.arange(start, start + n, dtype=np.uint64) ^ base)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) < fraction


class SampleOperator(Operator):
    """Stateless per batch: the caller passes the row offset within the partition."""

    def __init__(self, fraction: float, seed: int | None, schema: Schema) -> None:
        self.fraction = fraction
        self.seed = 0 if seed is None else seed
        self.schema = schema

    def process(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        return self.process_at(batch, "", 0)

    def process_at(self, batch: pa.RecordBatch, partition: str, start: int,
                   row_start: int | None = None) -> list[pa.RecordBatch]:
        mask = keep_mask(self.seed, partition, start, batch.num_rows, self.fraction)
        return [batch.filter(pa.array(mask))]
