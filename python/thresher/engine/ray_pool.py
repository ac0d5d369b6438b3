"""Actor pools for class-UDF stages on Ray: the model loads once per actor, batches go to the
least-loaded actor, and the pool grows from ``min`` to ``max`` actors while all are busy and the
cluster has room."""

from __future__ import annotations

import threading
import time
from typing import Any

from thresher.engine.ray_runtime import remote_functions, task_options
from thresher.errors import ThresherExecutionError
from thresher.planner.physical import Stage


class ActorPool:
    """An autoscaling pool of :class:`~thresher.engine.ray_tasks.PipelineActor` for one stage.

    Starts with ``min`` actors; when every actor already has work queued and the cluster has
    room, adds one, up to ``max``. Room means the actor fits and ``reserve`` (CPUs, GPUs) stays
    free besides: what one task of the plan's other stages asks (at least one CPU), so a grown
    pool never starves the tasks that feed it or read from it. ``payload`` is what every actor
    builds once: a row pipeline, or a flat_map operator. The pool's shared services (the prompt
    router of a ``prompt()`` stage) start first, as small threaded actors.

    :meth:`close` stops every actor and service; it may be called more than once and from
    another thread than the one using the pool (the executor kills the pools of a run that
    failed or stopped, whatever their stage's thread is waiting on).
    """

    #: seconds between two looks at the cluster's free resources
    recheck = 0.5
    #: seconds to wait for a service's stats at the end of the stage
    stats_timeout = 30.0

    def __init__(self, ray: Any, stage: Stage, payload: Any, retries: int, generator_backpressure: int = 1,
                 reserve: tuple[float, float] = (1.0, 0.0)) -> None:
        self.ray = ray
        self.stage = stage
        self.reserve = (max(1.0, reserve[0]), reserve[1])
        self._lock = threading.Lock()
        self.closed = False
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
        cpu, gpu = self.reserve
        return bool(float(avail.get("CPU", 0)) >= r.num_cpus + cpu and float(avail.get("GPU", 0)) >= r.num_gpus + gpu)

    def pick(self) -> int:
        """The actor for the next batch (a new one when all are busy and the cluster has room)."""
        if self.closed:
            raise ThresherExecutionError(f"stage {self.stage.id}: its actor pool was stopped (the run ended)")
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

    def close(self, stats: bool = True) -> None:
        """Kill the actors, then the services (after fetching their stats when ``stats``)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            actors, self.actors = list(self.actors), []
            services, self._services = self._services, []
        for a in actors:
            try:
                self.ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        for svc, handle in services:
            try:
                if stats:
                    ref = getattr(handle, svc.stats_method).remote()
                    self.udf_stats[svc.stats_key] = self.ray.get(ref, timeout=self.stats_timeout)
            except Exception:  # noqa: BLE001 - a dead or stuck service has no stats: the stage's error says why
                pass
            finally:
                svc.bind(None)
                try:
                    self.ray.kill(handle, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
