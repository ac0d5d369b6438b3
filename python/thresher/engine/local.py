"""The local executor: the physical plan as a pipeline of threads in this process.

Every stage runs with its in-process handler (:mod:`thresher.engine.stages`) under the shared
stage runner (:mod:`thresher.engine.stage_runner`): stages are generators of morsels handed on
through budget-bounded pipes, row-local work runs on a thread pool, relational stages run as one
Polars LazyFrame.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from thresher.engine import stages
from thresher.engine.memory import default_budget_bytes, parse_bytes
from thresher.engine.progress import cut_label, progress_enabled
from thresher.engine.stage_runner import RunConfig, StageHandler, check_supported, run_plan
from thresher.engine.stats import RunStats
from thresher.engine.write import write_stage
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.planner.physical import PhysicalPlan

#: how each stage kind runs in this process
LOCAL_HANDLERS: Mapping[str, StageHandler] = {
    "scan": stages.scan,
    "map": stages.map_stage,
    "flatmap": stages.flatmap,
    "relational": stages.relational,
    "limit": stages.limit,
    "union": stages.union,
    "row_index": stages.row_index,
    "rebatch": stages.rebatch_stage,
    "dedup": stages.dedup_with(stages.decide_in_memory),
    "write": write_stage,
}


@functools.cache
def _default_threads() -> int:
    """The CPUs, at least 2 (asked once: ``os.cpu_count()`` reads a file under /sys, and every
    ``collect()`` makes an executor)."""
    return max(2, os.cpu_count() or 2)


class LocalExecutor:
    """In-process streaming executor (the default runner).

    Parameters
    ----------
    memory_budget
        Bytes of batches queued between stages (default: a quarter of RAM, or
        ``THRESHER_MEMORY_BUDGET``).
    num_threads
        Worker threads for row-local stages (default: the CPUs, at least 2).
    target_batch_bytes, min_batch_rows
        Batches sent to map stages are cut so that rows × bytes per row (the larger of input and
        output, as measured so far) stay near ``target_batch_bytes``, never below
        ``min_batch_rows`` rows nor above the stage's batch size.
    skip_partitions
        Source partitions not to read (a write job adds its committed ones itself).

    >>> import thresher as th
    >>> from thresher.planner.physical import compile
    >>> batches = LocalExecutor().execute(compile(th.from_pydict({"a": [1, 2]}).plan))
    >>> sum(b.num_rows for b in batches)
    2
    """

    name = "local"
    supported_stages: frozenset[str] = frozenset(LOCAL_HANDLERS)

    def __init__(
        self,
        memory_budget: int | str | None = None,
        num_threads: int | None = None,
        progress: bool | None = None,
        skip_partitions: set[str] | None = None,
        target_batch_bytes: int | str = 16 << 20,
        min_batch_rows: int = 1,
    ) -> None:
        # (the default is read when a run needs it: a query run as one relational stage never
        # does, see run_alone, and reading the environment was part of every collect())
        self._budget_bytes = parse_bytes(memory_budget) if memory_budget is not None else None
        self.target_batch_bytes = parse_bytes(target_batch_bytes)
        self.min_batch_rows = max(1, min_batch_rows)
        self.num_threads = num_threads or _default_threads()
        self.progress = progress
        self.skip_partitions = frozenset(skip_partitions or ())
        self._stats = RunStats(executor="local")

    @property
    def budget_bytes(self) -> int:
        """Bytes of batches queued between stages (``memory_budget``, else the default)."""
        if self._budget_bytes is None:
            self._budget_bytes = default_budget_bytes()
        return self._budget_bytes

    def stats(self) -> RunStats:
        return self._stats

    def execute(self, plan: PhysicalPlan, **options: Any) -> Iterator[pa.RecordBatch]:
        """Stream the plan's output batches (a plan with a stage kind not supported is rejected first)."""
        check_supported(self.name, self.supported_stages, plan)
        self._stats = RunStats(executor="local")
        config = RunConfig(self.budget_bytes, self.num_threads, self.target_batch_bytes, self.min_batch_rows,
                           self.progress, self.skip_partitions, options)
        return run_plan(plan, LOCAL_HANDLERS, config, self._stats)

    def run_alone(self, plan: PhysicalPlan, **options: Any) -> list[pa.RecordBatch] | None:
        """The output batches of a plan that is one relational stage over no inputs (what a
        relational query over files compiles to: its scans are in the Polars program), as
        :meth:`execute` yields them (empty ones left out) and with the same statistics, computed
        on this thread without the pipeline :meth:`execute` builds around a stage (memory budget,
        thread pool, progress reporter, the generators that hand the batches on): nothing is
        handed between stages here, and setting all that up and taking it down after Polars'
        collect was ~0.3 ms of a TPC-H query. None, and nothing run, for any other plan, or with
        progress bars on (:meth:`execute` shows them). See :meth:`start_alone`."""
        finish = self.start_alone(plan, **options)
        return None if finish is None else finish()

    def start_alone(self, plan: PhysicalPlan, **options: Any) -> Callable[[], list[pa.RecordBatch]] | None:
        """:meth:`run_alone` in two steps: this builds the stage's Polars program and returns the
        function that collects it, which holds nothing of ``plan``: the caller drops the plans
        (the optimizer's too) before Polars runs, while the caches still hold them (freed after
        the collect they cost ~0.1 ms of a TPC-H query, four times as much)."""
        root = plan.root
        if (root.kind != "relational" or root.inputs or plan.write_job is not None
                or progress_enabled(self.progress)):
            return None
        self._stats = stats = RunStats(executor="local")
        t0 = time.perf_counter()
        st = stats.stage(root.id, cut_label(root.label(), 60))
        st.begin_pass()
        failed = f"stage {root.id} ({root.kind}) failed"  # (as the stage runner words a stage's failure)
        schema, batch_size = root.schema, root.batch_size

        def end() -> None:
            st.finished = time.perf_counter()
            stats.wall_seconds = st.finished - t0

        try:
            lf = stages.relational_program(root, [])
        except ThresherError:
            end()
            raise
        except Exception as exc:
            end()
            raise ThresherExecutionError(f"{failed}: {type(exc).__name__}: {exc}") from exc

        def finish() -> list[pa.RecordBatch]:
            try:
                batches = stages.collect_relational(lf, schema, batch_size, options, st, t0)
                for b in batches:
                    st.add_out(b.num_rows, b.nbytes)
            except ThresherError:
                raise
            except Exception as exc:
                raise ThresherExecutionError(f"{failed}: {type(exc).__name__}: {exc}") from exc
            finally:
                end()
            return [b for b in batches if b.num_rows]

        return finish
