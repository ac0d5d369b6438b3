"""Shared services: a helper every worker of a UDF's pool talks to (the prompt router).

A UDF declares one with ``shared_service(max_replicas) -> SharedService | None``; the planner
puts it on the stage's UDF pool and the executor starts it: on Ray an actor (``num_cpus=0``,
``max_concurrency``) created before the pool's workers, whose handle it gives to ``bind``
before the pool's payload is shipped (so the handle travels with the UDF to every worker). At
the end of the stage the executor calls the service's ``stats_method``, files the result under
``stats_key`` in the stage's stats, stops it and calls ``bind(None)``. The local executor needs
none (its workers share the process).

>>> svc = SharedService(factory=dict, kwargs={}, max_concurrency=8, bind=lambda handle: None)
>>> svc.stats_key
'service'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SharedService:
    """A helper started once per stage and shared by all the workers of its UDF pool."""

    #: the class instantiated once: ``factory(**kwargs)``
    factory: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: concurrent calls the service must accept (every replica at once)
    max_concurrency: int = 8
    #: hands the UDF the started service's handle (None: the stage is over)
    bind: Callable[[Any], None] = field(default=lambda handle: None)
    #: the service method returning its stats, and their key in the stage's stats
    stats_method: str = "stats"
    stats_key: str = "service"
