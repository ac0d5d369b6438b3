"""Job state of checkpointed writes: a record per job id, next to the sink.

The sink is the source of truth for which partitions are committed (its commit and the record
of (job id, partition) are one atomic operation); the job record adds what the sink cannot know:
the plan the job runs (its fingerprint: a re-run with another plan is refused) and that the job
finished, so re-running a finished job does no work at all. Records are
:class:`thresher.io.commit.JobStore` objects, on local disk or an object store next to the data.
The write itself runs in :mod:`thresher.engine.write`.
"""

from __future__ import annotations

from thresher.io.commit import JobStore
from thresher.io.sink import Sink

#: the job records of a sink (kept as a name for callers of the engine)
CheckpointStore = JobStore


def checkpoint_store(sink: Sink, location: str | None = None) -> JobStore | None:
    """The job records next to ``sink`` (or at ``location``); None when the sink has no place for them."""
    loc = location or sink.checkpoint_location()
    return JobStore(loc, sink.io_config) if loc else None
