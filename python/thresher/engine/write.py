"""Checkpointed, idempotent writes, driven by the plan's :class:`~thresher.planner.physical.WriteJob`.

:func:`run_write_job` is the whole bookkeeping of a write: it opens the job's checkpoint store
(a finished job returns its record and runs nothing), asks the sink once which partitions the
job already committed, runs the plan with them skipped (at the scan when the pipeline is
partition-local, so finished work is neither recomputed nor written twice), and marks the job
complete. :func:`write_stage` is the stage handler: it hands every partition's batches to the
sink as soon as that partition ends (streaming, nothing held back) and commits the written
partitions in small groups; the sink records (job id, partition id) atomically with the data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from thresher.engine.executor import Executor
from thresher.engine.stage_runner import RunContext
from thresher.engine.stages import counting
from thresher.engine.stats import RunStats, StageStats
from thresher.engine.stream import Morsel
from thresher.io.sink import WriteResult
from thresher.planner.physical import PhysicalPlan, Stage, WriteJob

#: the result of a write: one row per source partition
WRITE_RESULT_SCHEMA = pa.schema([
    ("partition_id", pa.large_string()), ("num_rows", pa.int64()),
    ("files", pa.large_list(pa.large_string())), ("status", pa.large_string()),
    ("node_id", pa.large_string()),
])


def _already(pids: list[str]) -> pa.Table:
    rows = [{"partition_id": p, "num_rows": 0, "files": [], "status": "already committed"} for p in pids]
    return pa.Table.from_pylist(rows, schema=WRITE_RESULT_SCHEMA)


class PartitionCommitter:
    """The driver's half of a write: written partitions (``WriteResult``) committed in groups.

    Both executors use it: locally the sink writes in this process, on Ray a task on a worker
    writes and hands back its small ``WriteResult``; either way the sink commits each
    (job id, partition) once, here, in groups of ``commit_every_partitions`` or every
    ``commit_every_seconds``.
    """

    def __init__(self, job: WriteJob) -> None:
        self.job = job
        self.rows_out: list[dict[str, Any]] = []
        self.pending: list[WriteResult] = []
        self.last_commit = time.monotonic()

    def add(self, result: WriteResult) -> None:
        """A written partition: committed with the next group."""
        self.pending.append(result)
        job = self.job
        if len(self.pending) >= job.commit_every_partitions or time.monotonic() - self.last_commit > job.commit_every_seconds:
            self.commit()

    def already(self, pid: str) -> None:
        """A partition the job committed before: reported, not written."""
        self.rows_out.append({"partition_id": pid, "num_rows": 0, "files": [], "status": "already committed"})

    def commit(self) -> None:
        if not self.pending:
            return
        res = self.job.sink.commit(self.job.job_id, self.pending)
        committed = set(res.committed)
        for r in self.pending:
            status = "committed" if r.partition_id in committed else "skipped"
            self.rows_out.append({"partition_id": r.partition_id, "num_rows": r.num_rows, "files": r.files,
                                  "status": status, "node_id": r.node_id})
        self.pending = []
        self.last_commit = time.monotonic()

    def finish(self) -> pa.Table:
        """Commit what is left; one row per partition (and per partition committed before)."""
        self.commit()
        seen = {r["partition_id"] for r in self.rows_out}
        for pid in sorted(self.job.committed):
            if pid not in seen:
                self.already(pid)
        return pa.Table.from_pylist(self.rows_out, schema=WRITE_RESULT_SCHEMA)


def run_write_job(plan: PhysicalPlan, make_executor: Callable[[], Executor]) -> tuple[pa.Table, RunStats | None]:
    """Run a compiled write: one row per partition (its rows, files, status), and the run's stats.

    The executor is made only when there is work (a finished job runs nothing: stats None).

    ``DataFrame.write`` calls it:

    >>> import tempfile, thresher as th
    >>> th.from_pydict({"a": [1, 2]}).write_parquet(tempfile.mkdtemp(), job_id="job-1").to_pydict()["status"]
    ['committed']
    """
    job = plan.write_job
    if job is None:
        raise ValueError("run_write_job needs a plan compiled from a Write")
    from thresher.engine.checkpoint import checkpoint_store  # a job that writes nothing never loads it

    store = checkpoint_store(job.sink, job.checkpoint_location) if job.resumable else None
    sink_job = job
    if store is not None:
        # before any work: a job id reused for another plan is refused (JobPlanMismatchError),
        # unless the sink overwrites, which starts a new generation of the job
        rec = store.begin(job.job_id, job.plan_fingerprint, overwrite=job.sink.mode == "overwrite")
        if rec.complete:
            return _already(list(rec.partitions)), None
        if rec.sink_job_id != job.job_id:
            sink_job = dataclasses.replace(job, job_id=rec.sink_job_id)
    committed = frozenset(job.sink.committed_partitions(sink_job.job_id)) if job.resumable else frozenset()
    plan = dataclasses.replace(plan, write_job=dataclasses.replace(sink_job, committed=committed))
    arrow = plan.schema.to_arrow()
    executor = make_executor()
    batches = list(executor.execute(plan))
    table = pa.Table.from_batches(batches, schema=arrow) if batches else arrow.empty_table()
    if store is not None:
        d = table.to_pydict()
        store.mark_complete(job.job_id, list(d["partition_id"]), int(sum(d["num_rows"])), job.plan_fingerprint)
    return table, executor.stats()


def write_stage(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    """The write stage handler: the input, partition by partition, into the job's sink."""
    job = ctx.write_job
    if job is None:
        raise ValueError(f"stage {stage.id} is a write but the plan has no write job")
    table = write_partitions(job, counting(ctx.run(stage.inputs[0]), st), stage.inputs[0].schema.to_arrow())
    for b in table.to_batches():
        yield Morsel("write", b)
    yield Morsel("write", None)


def write_partitions(job: WriteJob, upstream: Iterator[Morsel], arrow_schema: pa.Schema) -> pa.Table:
    """Write each partition of ``upstream`` that ``job`` has not committed; commit in groups."""
    sink = job.sink
    sink.check_schema(arrow_schema)
    already = job.committed
    committer = PartitionCommitter(job)
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
                committer.add(sink.write(pid, iter(()), arrow_schema))
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
            committer.already(pid)
            continue
        committer.add(sink.write(pid, batches(), arrow_schema))
    return committer.finish()
