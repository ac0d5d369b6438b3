"""The stage runner both executors share: a physical plan as a pipeline of morsel streams.

An executor is a table of *stage handlers*, one per stage kind it supports: a handler turns a
stage (and the streams of its inputs, which it asks for with :meth:`RunContext.run`) into a
stream of morsels. :func:`run_plan` starts the root stage and streams its batches; every stage's
output is handed to the next one through a :class:`~thresher.engine.stream.BufferedPipe` whose
queued bytes count against one :class:`~thresher.engine.memory.MemoryBudget`, so a fast producer
waits for a slow consumer instead of filling memory. The local executor's handlers
(:mod:`thresher.engine.stages`) run everything in this process; the Ray executor replaces the
heavy ones (scans, maps, fan-out, shuffles, dedup decisions) and keeps the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from thresher.engine.memory import MemoryBudget
from thresher.engine.progress import ProgressReporter, cut_label
from thresher.engine.stats import RunStats, StageStats
from thresher.engine.stream import BufferedPipe, Morsel
from thresher.errors import ThresherError, ThresherExecutionError, UnsupportedError
from thresher.planner.physical import PhysicalPlan, Stage, WriteJob

#: ``handler(stage, ctx, stats)``: the stage's output morsels
StageHandler = Callable[[Stage, "RunContext", StageStats], Iterator[Morsel]]


@dataclass
class RunConfig:
    """The knobs of one run that every stage handler may read."""

    budget_bytes: int
    threads: int
    target_batch_bytes: int
    min_batch_rows: int = 1
    progress: bool | None = None
    #: source partitions not to read (besides a write job's committed ones)
    skip_partitions: frozenset[str] = frozenset()
    options: dict[str, Any] = field(default_factory=dict)


class RunContext:
    """What a stage handler gets besides its stage: the input streams and the shared resources."""

    def __init__(self, plan: PhysicalPlan, handlers: Mapping[str, StageHandler], config: RunConfig,
                 stats: RunStats, budget: MemoryBudget, cancel: threading.Event, pool: ThreadPoolExecutor | None,
                 progress: ProgressReporter) -> None:
        self.handlers = handlers
        self.config = config
        self.stats = stats
        self.budget = budget
        self.cancel = cancel
        self._pool = pool
        self._pool_lock = threading.Lock()
        self._shut = False
        self.progress = progress
        self.threads = config.threads
        self.options = config.options
        #: the plan's write job, if it is a write
        self.write_job: WriteJob | None = plan.write_job
        skip = set(config.skip_partitions)
        if plan.write_job is not None:
            skip |= plan.write_job.skip_partitions
        self.skip_partitions = frozenset(skip)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The worker threads of row-local work, started when a stage first asks (a plan that is
        one relational stage, what a relational query compiles to, never does)."""
        if self._pool is None:
            with self._pool_lock:  # (stages run on their own threads: one pool for all)
                if self._shut:  # (as a pool shut down says to a late stage thread)
                    raise RuntimeError("cannot schedule new futures after shutdown")
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="thresher-worker")
        return self._pool

    def shutdown(self) -> None:
        """Stop the worker threads, if any started (queued work is dropped)."""
        with self._pool_lock:
            self._shut = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, stage: Stage) -> Iterator[Morsel]:
        """``stage``'s output morsels, produced on a background thread under the memory budget."""
        return iter(BufferedPipe(self._stage_iter(stage), self.budget, self.cancel, name=f"stage{stage.id}"))

    def _stage_iter(self, stage: Stage) -> Iterator[Morsel]:
        st = self.stats.stage(stage.id, cut_label(stage.label(), 60))
        first = st.begin_pass()  # a stage read twice (a dedup's second pass) counts its rows once
        try:
            for m in self.handlers[stage.kind](stage, self, st):
                if m.is_end:
                    pass
                elif first:
                    st.add_out(m.num_rows, m.num_bytes)
                    self.progress.update(stage.id, m.num_rows)
                else:
                    st.add_reread(m.num_rows, m.num_bytes)
                yield m
        except ThresherError:
            raise
        except Exception as exc:
            raise ThresherExecutionError(f"stage {stage.id} ({stage.kind}) failed: {type(exc).__name__}: {exc}") from exc
        finally:
            st.finished = time.perf_counter()


def check_supported(name: str, supported: frozenset[str], plan: PhysicalPlan) -> None:
    """Reject a plan with a stage kind the executor cannot run, before anything runs."""
    for s in plan.stages():
        if s.kind not in supported:
            raise UnsupportedError(f"the {name} executor cannot run stage {s.id} of kind {s.kind!r}")


def run_plan(plan: PhysicalPlan, handlers: Mapping[str, StageHandler], config: RunConfig,
             stats: RunStats, materialize: Callable[[Morsel], pa.RecordBatch] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream the plan's output batches; ``stats`` fills in as the stages run.

    ``materialize`` fetches the batch of a morsel that holds only a reference (the Ray executor
    gets the root's output there: the caller asked for the data)."""
    budget = MemoryBudget(config.budget_bytes)
    cancel = threading.Event()
    progress = ProgressReporter(plan, stats, enabled=config.progress)
    ctx = RunContext(plan, handlers, config, stats, budget, cancel, None, progress)
    t0 = time.perf_counter()
    # a relational root collects its whole result before it yields anything: run on the caller's
    # thread, a pipe would only hand the batches over from another thread (~1 ms a query)
    root = ctx._stage_iter(plan.root) if plan.root.kind == "relational" else ctx.run(plan.root)
    try:
        for m in root:
            if m.is_end or not m.num_rows:
                continue
            if m.batch is not None:
                yield m.batch
            elif materialize is not None:
                yield materialize(m)
            else:
                raise ThresherExecutionError(f"stage {plan.root.id} handed out a reference and nothing can fetch it")
    finally:
        cancel.set()
        close = getattr(root, "close", None)
        if close is not None:
            close()
        budget.close()
        ctx.shutdown()
        stats.wall_seconds = time.perf_counter() - t0
        stats.peak_buffered_bytes = budget.peak
        progress.close()
