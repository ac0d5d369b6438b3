"""The Ray runtime as the executor sees it: starting Ray once, the remote functions, and what a
stage asks of the cluster (resources, retries, actor-pool bounds).

Nothing here schedules work; :mod:`thresher.engine.ray` does, with :mod:`~thresher.engine.ray_pool`
(actor pools) and :mod:`~thresher.engine.ray_shuffle` (barriers). The worker side is
:mod:`~thresher.engine.ray_tasks`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from thresher.planner.physical import Stage

_INIT_LOCK = threading.Lock()


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start (or join) Ray once per process, quietly; later calls reuse it.

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
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ray.init(**kwargs)
    return ray


_REMOTE: dict[str, Any] = {}


def remote_functions() -> dict[str, Any]:
    """The worker-side functions of ``ray_tasks`` as Ray remote functions (made once)."""
    if _REMOTE:
        return _REMOTE
    import ray

    from thresher.engine import ray_tasks as t

    _REMOTE.update(
        read_partition=ray.remote(t.read_partition),
        run_pipeline=ray.remote(t.run_pipeline),
        run_flatmap=ray.remote(t.run_flatmap),
        hash_split=ray.remote(t.hash_split),
        range_split=ray.remote(t.range_split),
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
