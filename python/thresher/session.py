"""Session settings: which runner executes plans, optimizer switches, memory budget.

Examples
--------
>>> import thresher as th
>>> th.set_runner("local")
>>> th.get_runner_name()
'local'
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from thresher.errors import ThresherError


@dataclass
class _Settings:
    runner: str = "local"
    runner_options: dict[str, Any] = field(default_factory=dict)
    disabled_rules: set[str] = field(default_factory=set)
    memory_budget: int | str | None = None
    progress: bool | None = None


_settings = _Settings()
_lock = threading.Lock()


def set_runner(name: str = "local", address: str | None = None, **options: Any) -> None:
    """Choose the executor for every later ``collect``/``write``: "local" (default) or "ray".

    ``address`` is a Ray cluster address (None starts or joins a local Ray).
    """
    if name not in ("local", "ray"):
        raise ThresherError(f"unknown runner {name!r}; use 'local' or 'ray'")
    with _lock:
        _settings.runner = name
        _settings.runner_options = {"address": address, **options} if name == "ray" else dict(options)


def get_runner_name() -> str:
    return _settings.runner


def set_optimizer(disabled: Iterable[str] = ()) -> None:
    """Switch optimizer rules off by name (``["all"]`` disables the optimizer)."""
    from thresher.planner.optimizer.runner import rule_names

    names = set(disabled)
    unknown = names - set(rule_names()) - {"all"}
    if unknown:
        raise ThresherError(f"unknown optimizer rule(s) {sorted(unknown)}; rules are {list(rule_names())}")
    _settings.disabled_rules = names


def set_memory_budget(budget: int | str | None) -> None:
    """Bytes the executor may keep buffered between stages (e.g. "512MB"); None = 25% of RAM."""
    _settings.memory_budget = budget


def set_progress(enabled: bool | None) -> None:
    """Show per-stage progress bars (None: only in a terminal or a notebook)."""
    _settings.progress = enabled


def settings() -> _Settings:
    return _settings


def make_executor(runner: str | None = None, **overrides: Any) -> Any:
    """An executor instance for ``runner`` (default: the session's)."""
    name = runner or _settings.runner
    if name == "local":
        from thresher.engine.local import LocalExecutor

        return LocalExecutor(
            memory_budget=overrides.pop("memory_budget", _settings.memory_budget),
            progress=overrides.pop("progress", _settings.progress),
            **overrides,
        )
    if name == "ray":
        try:
            from thresher.engine.ray import RayExecutor
        except ImportError as exc:
            raise ThresherError("the ray runner needs the 'ray' extra: pip install 'thresher[ray]'") from exc
        opts = {**_settings.runner_options, **overrides}
        if "memory_budget" not in opts and _settings.memory_budget is not None:
            opts["memory_budget"] = _settings.memory_budget
        return RayExecutor(**opts)
    raise ThresherError(f"unknown runner {name!r}")
