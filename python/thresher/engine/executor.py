"""The executor protocol: local and Ray implement it and are tested against each other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from thresher.engine.stats import RunStats
from thresher.planner.physical import PhysicalPlan


@runtime_checkable
class Executor(Protocol):
    """Runs a physical plan and streams its output batches."""

    name: str
    #: stage kinds this executor can run; a plan with another kind is rejected before running
    supported_stages: frozenset[str]

    def execute(self, plan: PhysicalPlan, **options: Any) -> Iterator[pa.RecordBatch]:
        """Yield the plan's output batches in order."""
        ...

    def stats(self) -> RunStats:
        """Per-stage statistics of the last run."""
        ...


def check_supported(executor: Executor, plan: PhysicalPlan) -> None:
    """Reject ``plan`` when a stage's kind is not in ``executor.supported_stages``."""
    from thresher.engine.stage_runner import check_supported as check

    check(executor.name, executor.supported_stages, plan)
