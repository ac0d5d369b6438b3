"""Deduplication as a two-step operator: per-batch keys (streaming), then one global decision.

``keys`` runs on every batch as it streams by and keeps only what the decision needs (band
hashes for fuzzy dedup, a 64-bit content hash for exact, a pHash, an embedding); ``decide`` sees
all keys once and returns, per row, its group (the smallest row position in its duplicate group)
and whether it is the kept one. Removal is then a filter by row position: no join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import Schema, storage_array
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Expr
from thresher.operators.evaluate import ExprEvaluator

if TYPE_CHECKING:
    import polars as pl
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it
    pl = lazy_module("polars")  # only exact dedup hashes with Polars: a planner import must not load it

METHODS = ("exact", "fuzzy", "semantic", "image")


class ShingleStore:
    """Every document's shingle hashes (CSR) kept for ``verify``: in memory up to ``limit`` bytes,
    beyond that appended to a temporary file and read back as a memory map.

    Verification reads only the documents of candidate pairs, so spilled hashes cost disk, not
    memory: long documents (4 bytes per shingle) no longer bound how many fit on one machine.

    >>> st = ShingleStore(limit=8)
    >>> st.add(np.array([1, 2, 3], np.uint32), np.array([0, 2, 3]))
    >>> st.add(np.array([4, 5], np.uint32), np.array([0, 2]))
    >>> h, off = st.arrays()
    >>> h.tolist(), off.tolist(), st.spilled
    ([1, 2, 3, 4, 5], [0, 2, 3, 5], True)
    >>> st.close()
    """

    def __init__(self, limit: int = 1 << 30) -> None:
        self.limit = limit
        self.parts: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = [np.zeros(1, np.int64)]
        self.total = 0
        self.file: Any = None
        self.spilled = False

    def add(self, hashes: np.ndarray, offsets: np.ndarray) -> None:
        """Append one batch: ``hashes`` (uint32) and its per-document ``offsets`` (from 0)."""
        self.offsets.append(np.asarray(offsets[1:], np.int64) + self.total)
        self.total += int(offsets[-1])
        h = np.ascontiguousarray(hashes, dtype=np.uint32)
        if self.file is not None:
            self.file.write(h.tobytes())
            return
        self.parts.append(h)
        if sum(x.nbytes for x in self.parts) > self.limit:
            import tempfile

            self.file = tempfile.TemporaryFile(prefix="thresher-shingles-")
            for x in self.parts:
                self.file.write(x.tobytes())
            self.parts = []
            self.spilled = True

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All hashes (a read-only memory map once spilled) and the document offsets."""
        offsets = np.concatenate(self.offsets)
        if self.file is None:
            return (np.concatenate(self.parts) if self.parts else np.empty(0, np.uint32)), offsets
        self.file.flush()
        if self.total == 0:
            return np.empty(0, np.uint32), offsets
        return np.memmap(self.file, dtype=np.uint32, mode="r", shape=(self.total,)), offsets

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.parts = []


@dataclass
class DedupState:
    keys: list[Any] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    priority: list[np.ndarray] = field(default_factory=list)
    ids: list[pa.Array] = field(default_factory=list)
    n: int = 0
    shingles: ShingleStore | None = None

    def extend(self, other: DedupState) -> None:
        """Append the keys of the rows after this state's (one batch's, computed elsewhere)."""
        self.keys.extend(other.keys)
        self.extra.extend(other.extra)
        self.priority.extend(other.priority)
        self.ids.extend(other.ids)
        self.n += other.n


class DedupOperator:
    def __init__(self, method: str, key: Expr, params: dict[str, Any], input_schema: Schema,
                 priority: Expr | None = None, id_column: str | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"dedup method must be one of {METHODS}")
        self.method = method
        self.params = dict(params)
        self.input_schema = input_schema
        self.key = key
        self.id_column = id_column
        self._evaluator = ExprEvaluator([key] + ([priority] if priority is not None else []), input_schema)
        self._has_priority = priority is not None
        self.spill_bytes = 1 << 30  # shingle hashes kept for verify beyond this go to a temporary file
        if method == "fuzzy":
            from thresher.operators.kernels.lsh import resolve_bands_rows

            # verification removes false positives afterwards, so then favour recall
            weights = (0.2, 0.8) if self.params.get("verify") else (0.5, 0.5)
            bands, rows = resolve_bands_rows(float(self.params.get("threshold", 0.8)),
                                             int(self.params.get("num_perm", 128)),
                                             self.params.get("bands"), self.params.get("rows"), weights)
            self.params["bands"], self.params["rows"] = int(bands), int(rows)
        self.device = "cpu"
        device = self.params.get("device", "auto")
        if device not in ("auto", "cpu", "gpu"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
        if method == "fuzzy" and device != "cpu":
            from thresher.operators.kernels import gpu_dedup

            if device == "gpu":
                gpu_dedup.backend()  # fails here, naming the extra, when asked for a GPU that is not there
                self.device = "gpu"
            elif gpu_dedup.gpu_path_verified():  # "auto": only a device path that agreed with the CPU once
                self.device = "gpu"

    @property
    def kmeans_sample(self) -> int:
        """Semantic dedup: the rows k-means is trained on at most (the same on every executor)."""
        from thresher.operators.kernels.semantic import DEFAULT_KMEANS_SAMPLE

        return int(self.params.get("kmeans_sample", DEFAULT_KMEANS_SAMPLE))

    # -- pass 1 ------------------------------------------------------------------------------
    def keys(self, batch: pa.RecordBatch, state: DedupState) -> None:
        values, _ = self._evaluator.evaluate(batch)
        arr = values[0]
        p = self.params
        if self.method == "exact":
            storage = storage_array(arr, deep=False)
            s = pl.from_arrow(pa.RecordBatch.from_arrays([storage], names=["v"]))
            assert isinstance(s, pl.DataFrame)
            h = s.select(pl.col("v").hash(seed=0x7E5)).to_series().to_numpy()
            nulls = np.asarray(storage.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            state.keys.append(h.astype(np.uint64))
            state.extra.append(nulls)
        elif self.method == "fuzzy":
            from thresher.operators.kernels.lsh import band_hashes
            from thresher.operators.kernels.minhash import (
                MAX_HASH,
                minhash_signatures,
                shingle_hashes,
                signatures_from_shingle_hashes,
            )

            args = (int(p.get("num_perm", 128)), int(p.get("ngram", 5)), p.get("unit", "char"), int(p.get("seed", 1)),
                    p.get("hash", "poly64"))
            if self.device == "gpu":
                from thresher.operators.kernels.gpu_dedup import fuzzy_band_hashes_gpu

                bh, valid = fuzzy_band_hashes_gpu(arr, *args, p["bands"], p["rows"])
            elif p.get("verify"):
                # the shingle hashes are kept for verification: shingle once, sign from them
                h, off = shingle_hashes(arr, args[1], args[2], args[4])
                sig = signatures_from_shingle_hashes(h, off, args[0], args[3])
                valid = ~(sig == MAX_HASH).all(axis=1)
                bh = band_hashes(sig, p["bands"], p["rows"])
            else:
                sig = minhash_signatures(arr, *args)
                valid = ~(sig == MAX_HASH).all(axis=1)
                bh = band_hashes(sig, p["bands"], p["rows"])
            if arr.null_count:
                valid &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            state.keys.append(bh)
            if p.get("verify"):
                if self.device == "gpu":
                    h, off = shingle_hashes(arr, args[1], args[2], args[4])
                state.extra.append((h, off, valid))
            else:
                state.extra.append(valid)
        elif self.method == "semantic":
            storage = storage_array(arr, deep=False)
            if not pa.types.is_fixed_size_list(storage.type):
                raise ThresherExecutionError(f"semantic dedup needs an embedding column, got {storage.type}")
            dim = storage.type.list_size
            flat = storage.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            state.keys.append(flat.reshape(-1, dim))
        elif self.method == "image":
            # fill nulls first: with nulls, to_numpy goes through float64 and rounds 64-bit hashes
            filled = pc.fill_null(arr.cast(pa.uint64()), 0) if arr.null_count else arr.cast(pa.uint64())
            state.keys.append(np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.uint64))
            state.extra.append(np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        if self._has_priority:
            state.priority.append(np.asarray(values[1].to_numpy(zero_copy_only=False), dtype=np.float64))
        if self.id_column is not None:
            state.ids.append(batch.column(batch.schema.get_field_index(self.id_column)))
        state.n += batch.num_rows

    def merge(self, state: DedupState, one: DedupState) -> None:
        """Append the keys of one batch (computed into ``one`` by :meth:`keys`) to ``state``.

        With ``verify`` the shingle hashes go to the state's :class:`ShingleStore` (which spills
        past ``spill_bytes``) and only the valid flags stay in ``extra``.
        """
        if self.method == "fuzzy" and self.params.get("verify"):
            if state.shingles is None:
                state.shingles = ShingleStore(self.spill_bytes)
            for h, off, valid in one.extra:
                state.shingles.add(h, off)
                state.extra.append(valid)
            one.extra = []
        state.extend(one)

    # -- the decision ------------------------------------------------------------------------
    def decide(self, state: DedupState) -> tuple[np.ndarray, np.ndarray]:
        n = state.n
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        p = self.params
        if self.method == "exact":
            h = np.concatenate(state.keys)
            nulls = np.concatenate(state.extra)
            # group = first position with the same hash (nulls are never duplicates)
            order = np.argsort(h, kind="stable")
            hs = h[order]
            starts = np.r_[True, hs[1:] != hs[:-1]]
            first = order[np.maximum.accumulate(np.where(starts, np.arange(n), 0))]
            group = np.empty(n, np.int64)
            group[order] = first
            group[nulls] = np.arange(n)[nulls]
            if p.get("keep", "first") == "last":
                # the kept row is the last position of each group
                last = np.full(n, -1, np.int64)
                np.maximum.at(last, group, np.arange(n))
                return group, last[group] == np.arange(n)
            return group, group == np.arange(n)
        if self.method == "fuzzy":
            from thresher.operators.kernels.components import connected_components
            from thresher.operators.kernels.lsh import candidate_pairs, verify_pairs

            # moved batch by batch into one array (each batch freed once copied), so the band
            # hashes are never held twice
            bands = np.empty((n, p["bands"]), np.uint64)
            pos = 0
            state.keys.reverse()
            while state.keys:
                k = state.keys.pop()
                bands[pos:pos + len(k)] = k
                pos += len(k)
            store = state.shingles
            if p.get("verify") and store is None:  # keys() straight into this state: tuples per batch
                store = ShingleStore()
                for h, off, _ in state.extra:
                    store.add(h, off)
                state.extra = [e[2] for e in state.extra]
            valid = np.concatenate(state.extra)
            if self.device == "gpu":
                from thresher.operators.kernels.gpu_dedup import candidate_pairs_gpu

                left, right = candidate_pairs_gpu(bands, valid)
            else:
                left, right = candidate_pairs(bands, valid=valid)
            if store is not None:
                if len(left):
                    hashes, offsets = store.arrays()
                    ok = verify_pairs(left, right, hashes, offsets, float(p.get("threshold", 0.8)))
                    left, right = left[ok], right[ok]
                store.close()
            if self.device == "gpu":
                from thresher.operators.kernels.gpu_dedup import components_gpu

                group = components_gpu(left, right, n)
            else:
                group = connected_components(left, right, n=n)
            return group, group == np.arange(n)
        if self.method == "semantic":
            from thresher.operators.kernels.semantic import semantic_duplicates

            emb = np.concatenate(state.keys)
            prio = np.concatenate(state.priority) if state.priority else None
            return semantic_duplicates(emb, float(p["eps"]), int(p.get("n_clusters", 1)), prio,
                                       seed=int(p.get("seed", 0)), sample_size=self.kmeans_sample)
        from thresher.operators.kernels.phash_lsh import phash_groups

        hashes = np.concatenate(state.keys)
        nulls = np.concatenate(state.extra)
        group, kept = phash_groups(np.where(nulls, np.arange(n, dtype=np.uint64) ^ np.uint64(0xDEADBEEFCAFEF00D), hashes),
                                   int(p.get("max_distance", 4)))
        group[nulls] = np.arange(n)[nulls]
        kept[nulls] = True
        return group, kept

    def groups_table(self, state: DedupState, group: np.ndarray, kept: np.ndarray, schema: Schema) -> pa.Table:
        if self.id_column is not None:
            ids = pa.concat_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in state.ids]) \
                if state.ids else pa.array([], schema[self.id_column].to_arrow())
            group_ids = ids.take(pa.array(group))
        else:
            ids = pa.array(np.arange(len(group), dtype=np.int64))
            group_ids = pa.array(group.astype(np.int64))
        return pa.Table.from_arrays([ids, group_ids, pa.array(kept)], schema=schema.to_arrow())
