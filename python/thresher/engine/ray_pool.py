"""Actor pools for class-UDF stages on Ray: the model loads once per actor, batches go to the
least-loaded actor, and the pool grows from ``min`` to ``max`` actors while all are busy and the
cluster has room."""

from __future__ import annotations

import time
from typing import Any

from thresher.engine.ray_runtime import remote_functions, task_options
from thresher.planner.physical import Stage


class ActorPool:
    """An autoscaling pool of :class:`~thresher.engine.ray_tasks.PipelineActor` for one stage.

    Starts with ``min`` actors; when every actor already has work queued and the cluster has
    room (leaving a CPU for the plan's other tasks), adds one, up to ``max``. ``payload`` is what
    every actor builds once: a row pipeline, or a flat_map operator. The pool's shared services
    (the prompt router of a ``prompt()`` stage) start first, as small threaded actors.
    """

    #: seconds between two looks at the cluster's free resources
    recheck = 0.5

    def __init__(self, ray: Any, stage: Stage, payload: Any, retries: int, generator_backpressure: int = 1) -> None:
        self.ray = ray
        self.stage = stage
        spec = stage.pool
        if spec is None:
            raise ValueError(f"stage {stage.id} declares no UDF pool")
        lo, hi = spec.min_size, spec.max_size
        self.hi = hi
        self.generator_backpressure = generator_backpressure
        self._cls = remote_functions()["PipelineActor"].options(max_restarts=retries, max_task_retries=retries,
                                                                **task_options(stage))
        # shared services start before the payload is shipped: their handles travel inside it
        self._services: list[tuple[Any, Any]] = []
        self.udf_stats: dict[str, Any] = {}
        for svc in spec.services:
            handle = ray.remote(svc.factory).options(num_cpus=0, max_concurrency=svc.max_concurrency).remote(**svc.kwargs)
            svc.bind(handle)
            self._services.append((svc, handle))
        self._payload = ray.put(payload)
        self.actors: list[Any] = []
        self.load: list[int] = []
        self.peak = 0
        self._checked = 0.0
        for _ in range(lo):
            self._add()

    def _add(self) -> None:
        self.actors.append(self._cls.remote(self._payload))
        self.load.append(0)
        self.peak = max(self.peak, len(self.actors))

    def _room(self) -> bool:
        now = time.perf_counter()
        if now - self._checked < self.recheck:
            return False
        self._checked = now
        avail = self.ray.available_resources()
        r = self.stage.resources
        return bool(float(avail.get("CPU", 0)) >= r.num_cpus + 1 and float(avail.get("GPU", 0)) >= r.num_gpus)

    def pick(self) -> int:
        """The actor for the next batch (a new one when all are busy and the cluster has room)."""
        i = min(range(len(self.actors)), key=lambda j: self.load[j])
        if self.load[i] >= 1 and len(self.actors) < self.hi and self._room():
            self._add()
            i = len(self.actors) - 1
        self.load[i] += 1
        return i

    def done(self, i: int) -> None:
        if i >= 0:
            self.load[i] -= 1

    def submit_chain(self, step: Any, batch: Any, start: int, length: int, partition: str, offset: int,
                     backpressure: int | None, out_bytes: int = 0, row_start: int | None = None) -> tuple[Any, int]:
        """Rows ``[start, start + length)`` of ``batch`` (a batch or its object ref) through the
        least-loaded actor's operators: a streaming generator of ``Meta``/batch pairs, then the
        report (``ray_tasks.batch_chain``)."""
        i = self.pick()
        opts: dict[str, Any] = {"num_returns": "streaming"}
        if backpressure:
            opts["_generator_backpressure_num_objects"] = backpressure
        return self.actors[i].chain.options(**opts).remote(step, batch, start, length, partition, offset, out_bytes,
                                                           row_start), i

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors.clear()
        for svc, handle in self._services:
            try:
                self.udf_stats[svc.stats_key] = self.ray.get(getattr(handle, svc.stats_method).remote())
            finally:
                svc.bind(None)
                try:
                    self.ray.kill(handle)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self._services = []
