"""Checkpointed, idempotent writes: each source partition is committed exactly once per job id.

The write stage hands every partition's batches to the sink as soon as that partition ends
(streaming, nothing held back), and commits the written partitions in small groups. The sink
records (job id, partition id) atomically with the data, so after a crash a re-run with the same
job id skips what is committed — at the scan, when the pipeline is partition-local, so
finished work is neither recomputed nor written twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from thresher.datatypes import Schema
from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.io.commit import JobStore
from thresher.io.sink import Sink, WriteResult
from thresher.planner.logical import LogicalPlan, ScanSource, Write

COMMIT_EVERY_PARTITIONS = 8
COMMIT_EVERY_SECONDS = 5.0


def new_job_id() -> str:
    return uuid.uuid4().hex


def partition_local(plan: LogicalPlan) -> bool:
    """True when every output row's partition id is its source partition id (no barriers)."""
    from thresher.planner.logical import Explode, Filter, FlatMap, Project, Sample

    node = plan
    while True:
        if isinstance(node, ScanSource):
            return True
        if isinstance(node, (Project, Filter, Explode, FlatMap, Sample, Write)):
            node = node.children()[0]
            continue
        return False


def committed_for(sink: Sink, job_id: str | None) -> set[str]:
    if not job_id:
        return set()
    return set(sink.committed_partitions(job_id))


def run_write(node: Write, upstream: Iterator[Morsel], schema: Schema, stats: StageStats | None = None) -> pa.Table:
    sink = node.sink
    job_id = node.job_id or new_job_id()
    arrow_schema = schema.to_arrow()
    sink.check_schema(arrow_schema)
    already = committed_for(sink, node.job_id)
    rows_out: list[dict[str, Any]] = []
    pending: list[WriteResult] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal pending, last_commit
        if not pending:
            return
        res = sink.commit(job_id, pending)
        committed = set(res.committed)
        for r in pending:
            status = "committed" if r.partition_id in committed else "skipped"
            rows_out.append({"partition_id": r.partition_id, "num_rows": r.num_rows, "files": r.files, "status": status})
        pending = []
        last_commit = time.monotonic()

    it = iter(upstream)
    lookahead: list[Morsel] = []

    def next_morsel() -> Morsel | None:
        if lookahead:
            return lookahead.pop()
        return next(it, None)

    while True:
        first = next_morsel()
        if first is None:
            break
        pid = first.partition
        if first.batch is None:
            # an empty partition still counts as done
            if pid not in already:
                pending.append(sink.write(pid, iter(()), arrow_schema))
            continue

        def batches(first: Morsel = first, pid: str = pid) -> Iterator[pa.RecordBatch]:
            assert first.batch is not None
            yield first.batch
            while True:
                m = next(it, None)
                if m is None:
                    return
                if m.partition != pid:
                    lookahead.append(m)
                    return
                if m.batch is None:
                    return
                yield m.batch

        if pid in already:
            for _ in batches():
                pass
            rows_out.append({"partition_id": pid, "num_rows": 0, "files": [], "status": "already committed"})
            continue
        result = sink.write(pid, batches(), arrow_schema)
        pending.append(result)
        if len(pending) >= COMMIT_EVERY_PARTITIONS or time.monotonic() - last_commit > COMMIT_EVERY_SECONDS:
            commit()
    commit()
    for pid in sorted(already):
        if not any(r["partition_id"] == pid for r in rows_out):
            rows_out.append({"partition_id": pid, "num_rows": 0, "files": [], "status": "already committed"})
    out_schema = pa.schema([
        ("partition_id", pa.large_string()), ("num_rows", pa.int64()),
        ("files", pa.large_list(pa.large_string())), ("status", pa.large_string()),
    ])
    return pa.Table.from_pylist(rows_out, schema=out_schema)


#: job records (plan fingerprint, completion) live next to the sink, local or on an object store
CheckpointStore = JobStore


def checkpoint_store(sink: Sink, location: str | None = None) -> JobStore | None:
    loc = location or sink.checkpoint_location()
    return JobStore(loc, sink.io_config) if loc else None
