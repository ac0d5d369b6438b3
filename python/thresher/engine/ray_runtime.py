"""The Ray runtime as the executor sees it: starting Ray once, the remote functions, and what a
stage asks of the cluster (resources, retries, actor-pool bounds).

Nothing here schedules work; :mod:`thresher.engine.ray` does, with :mod:`~thresher.engine.ray_pool`
(actor pools) and :mod:`~thresher.engine.ray_relational` (barriers). The worker side is
:mod:`~thresher.engine.ray_tasks`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from thresher.planner.physical import Stage

_INIT_LOCK = threading.Lock()


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start (or join) Ray once per process, quietly; later calls reuse it.

    ``address`` joins that cluster; ``num_cpus`` starts a new local Ray with that many CPUs
    (unless ``RAY_ADDRESS`` names a cluster); neither: Ray's own choice (``RAY_ADDRESS``, else the
    cluster last started on this machine, else a new local one).

    >>> ray = ensure_ray(num_cpus=2)  # doctest: +SKIP
    """
    import ray

    with _INIT_LOCK:
        if not ray.is_initialized():
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            for name in ("ray", "ray.data", "ray.tune"):
                logging.getLogger(name).setLevel(logging.ERROR)
            kwargs: dict[str, Any] = {
                "ignore_reinit_error": True,
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "configure_logging": True,
                # workers import what the driver can (its sys.path): UDFs and extension types
                # defined in a user's modules unpickle there too; the hook registers thresher's
                # extension types before any batch is deserialized
                "runtime_env": {
                    "env_vars": {
                        "THRESHER_PROGRESS": "0",
                        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
                    },
                    "worker_process_setup_hook": "thresher.engine.ray_setup.setup_worker",
                },
            }
            if address:
                kwargs["address"] = address
            elif num_cpus:
                kwargs["num_cpus"] = num_cpus
                if not os.environ.get("RAY_ADDRESS"):
                    # CPUs given: a Ray of this process's own. Without "local" Ray would join the
                    # cluster last started on this machine by anyone (/tmp/ray/ray_current_cluster),
                    # and refuse, as CPUs cannot be given to a cluster one joins
                    kwargs["address"] = "local"
            import warnings

            for attempt in range(STARTUP_ATTEMPTS):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ray.init(**kwargs)
                    break
                except Exception as exc:  # noqa: BLE001 - only a local start that timed out is retried
                    # Ray gives a starting raylet a fixed 30 s to register; on a loaded machine it
                    # can miss that and the next start succeeds (a cluster address is not retried)
                    if address or attempt == STARTUP_ATTEMPTS - 1 or "timed out" not in str(exc):
                        raise
                    ray.shutdown()
                    time.sleep(2.0 * (attempt + 1))
    return ray


#: local ``ray.init`` attempts when the start times out (a loaded machine)
STARTUP_ATTEMPTS = 3


_REMOTE: dict[str, Any] = {}


def remote_functions() -> dict[str, Any]:
    """The worker-side functions of ``ray_tasks`` as Ray remote functions (made once)."""
    if _REMOTE:
        return _REMOTE
    import ray

    from thresher.engine import ray_tasks as t

    _REMOTE.update(
        scan_chain=ray.remote(t.scan_chain),
        batch_chain=ray.remote(t.batch_chain),
        take_rows=ray.remote(t.take_rows),
        add_row_index=ray.remote(t.add_row_index),
        write_partition=ray.remote(t.write_partition),
        hash_split=ray.remote(t.hash_split),
        reduce_partition=ray.remote(t.reduce_partition),
        PipelineActor=ray.remote(t.PipelineActor),
    )
    return _REMOTE


def task_options(stage: Stage) -> dict[str, Any]:
    """The Ray resource options of one task (or actor) of ``stage``."""
    opts: dict[str, Any] = {"num_cpus": stage.resources.num_cpus}
    if stage.resources.num_gpus:
        opts["num_gpus"] = stage.resources.num_gpus
    if stage.resources.memory:
        opts["memory"] = stage.resources.memory
    return opts


# -- what the driver receives ------------------------------------------------------------------


def object_size(obj: Any) -> int:
    """Bytes of a value a ``ray.get`` handed to this process (Arrow/NumPy buffers; else pickled size).

    >>> object_size([b"abc", (1, "de")]) >= 5
    True
    """
    import pickle

    import numpy as np
    import pyarrow as pa

    if obj is None or isinstance(obj, (bool, int, float)):
        return 8
    if isinstance(obj, (pa.RecordBatch, pa.Table, pa.Array, pa.ChunkedArray)):
        return int(obj.nbytes)
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (bytes, bytearray, memoryview, str)):
        return len(obj)
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(object_size(o) for o in obj)
    if isinstance(obj, dict):
        return sum(object_size(k) + object_size(v) for k, v in obj.items())
    try:
        return len(pickle.dumps(obj, protocol=5))
    except Exception:  # noqa: BLE001 - an unpicklable value: its shallow size
        return sys.getsizeof(obj)


class DriverBytes:
    """A running count of what ``ray.get`` returned in the driver: bytes, objects, calls.

    Made by :func:`count_driver_bytes` (every ``ray.get`` of the process) or kept by a
    :class:`CountingRay` (the executor's own gets, in ``stats().driver_bytes_received``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.objects = 0
        self.calls = 0
        #: the largest single object received (a batch that reached the driver stands out)
        self.largest = 0

    def add(self, value: Any, many: bool) -> None:
        items = list(value) if many else [value]
        sizes = [object_size(v) for v in items]
        with self._lock:
            self.calls += 1
            self.objects += len(items)
            self.bytes += sum(sizes)
            self.largest = max([self.largest, *sizes])

    def __repr__(self) -> str:
        return f"DriverBytes(bytes={self.bytes}, objects={self.objects}, calls={self.calls}, largest={self.largest})"


class CountingRay:
    """The ``ray`` module, with every ``get`` counted in ``received`` (a :class:`DriverBytes`).

    The Ray executor schedules through one of these, so ``stats().driver_bytes_received``
    says how much data came back to the driver in a run.
    """

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self.received = DriverBytes()

    def get(self, refs: Any, *args: Any, **kwargs: Any) -> Any:
        out = self._ray.get(refs, *args, **kwargs)
        self.received.add(out, isinstance(refs, (list, tuple)))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ray, name)


@contextlib.contextmanager
def count_driver_bytes() -> Iterator[DriverBytes]:
    """Count what ``ray.get`` returns in this process while the block runs (tests, benchmarks).

    Wraps the ``ray.get`` function itself, so it sees every caller (executor, shuffles, dedup,
    user code), not only the executor's bookkeeping:

    >>> with count_driver_bytes() as got:  # doctest: +SKIP
    ...     df.write_parquet(out, runner="ray")
    >>> got.bytes < 0.01 * input_bytes  # doctest: +SKIP
    True
    """
    import ray

    counter = DriverBytes()
    original = ray.get

    def get(refs: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(refs, *args, **kwargs)
        counter.add(out, isinstance(refs, (list, tuple)))
        return out

    ray.get = get
    try:
        yield counter
    finally:
        ray.get = original
