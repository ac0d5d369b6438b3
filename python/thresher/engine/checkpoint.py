"""Job state of checkpointed writes: a record per job id, next to the sink.

The sink is the source of truth for which partitions are committed (its commit and the record
of (job id, partition) are one atomic operation); this store adds what the sink cannot know --
that a job finished -- so re-running a finished job does no work at all. The write itself runs
in :mod:`thresher.engine.write`.
"""

from __future__ import annotations

from typing import Any

from thresher.io.sink import Sink


class CheckpointStore:
    """Job state in a folder next to the sink: one JSON record per job id, written atomically.

    The sink itself is the source of truth for which partitions are committed (its commit and
    the record of (job id, partition) are one atomic operation); this store adds what the sink
    cannot know — that a job finished — so re-running a finished job does no work at all.
    """

    def __init__(self, location: str) -> None:
        self.location = location

    def _path(self, job_id: str) -> str:
        import hashlib
        import os

        safe = hashlib.sha1(job_id.encode()).hexdigest()[:16]
        return os.path.join(self.location, f"job-{safe}.json")

    def load(self, job_id: str) -> dict[str, Any] | None:
        import json

        try:
            with open(self._path(job_id)) as f:
                rec: dict[str, Any] = json.load(f)
        except (OSError, ValueError):
            return None
        return rec if rec.get("job_id") == job_id else None

    def mark_complete(self, job_id: str, partitions: list[str], rows: int,
                      plan_fingerprint: str | None = None) -> None:
        import json
        import os
        import tempfile
        import time as _time

        os.makedirs(self.location, exist_ok=True)
        rec = {"job_id": job_id, "complete": True, "partitions": sorted(partitions), "rows": rows,
               "finished_at": _time.time(), "plan_fingerprint": plan_fingerprint}
        fd, tmp = tempfile.mkstemp(dir=self.location, prefix=".job-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(rec, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path(job_id))


def checkpoint_store(sink: Sink, location: str | None = None) -> CheckpointStore | None:
    loc = location or sink.checkpoint_location()
    return CheckpointStore(loc) if loc else None
