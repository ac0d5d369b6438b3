"""Session settings: which runner executes plans, optimizer switches, memory budget.

Examples
--------
>>> import thresher as th
>>> th.set_runner("local")
>>> th.get_runner_name()
'local'
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from thresher.config import did_you_mean, parse_size
from thresher.errors import SettingError, ThresherError


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
        raise SettingError(f"unknown runner {name!r}{did_you_mean(name, ('local', 'ray'))}; use 'local' or 'ray'")
    check_executor_options(name, options)
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
    """Bytes the executor may keep buffered between stages (e.g. "512MB"); None = 25% of RAM.

    The value is checked now: ``th.set_memory_budget("lots")`` raises here, not at the next collect.
    """
    _settings.memory_budget = None if budget is None else parse_size("memory_budget", budget)


def set_progress(enabled: bool | None) -> None:
    """Show per-stage progress bars (None: only in a terminal or a notebook)."""
    if enabled is not None and not isinstance(enabled, bool):
        raise SettingError(f"set_progress takes True, False or None, got {enabled!r}")
    _settings.progress = enabled


_SIZE_OPTIONS = ("memory_budget", "target_batch_bytes", "in_flight_budget", "worker_memory_limit")


def _executor_class(name: str) -> Any:
    if name == "local":
        from thresher.engine.local import LocalExecutor

        return LocalExecutor
    try:
        from thresher.engine.ray import RayExecutor
    except ImportError as exc:
        raise ThresherError("the ray runner needs the 'ray' extra: pip install 'thresher[ray]'") from exc
    return RayExecutor


@functools.cache
def _option_names(cls: Any) -> tuple[str, ...]:
    """The options an executor class takes (its constructor's parameters; kept per class: the
    signature was read again for every executor a collect() made)."""
    params = inspect.signature(cls.__init__).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    # skip_partitions is internal (write() passes the committed partitions), not a user option
    return tuple(p.name for p in params if p.kind in kinds and p.name not in ("self", "skip_partitions"))


def check_executor_options(runner: str, options: dict[str, Any]) -> None:
    """Reject an option the runner does not take (with a did-you-mean) or a value it cannot use.

    The same check runs for both executors, so ``collect(runner="ray", memory_budgt=...)`` fails
    at the call instead of being silently ignored.
    """
    names = sorted(set(_option_names(_executor_class(runner))) | ({"address"} if runner == "ray" else set()))
    for key, value in options.items():
        if key in names or key == "skip_partitions":
            if key in _SIZE_OPTIONS and value is not None:
                parse_size(key, value)
            elif key == "progress" and value is not None and not isinstance(value, bool):
                raise SettingError(f"progress takes True, False or None, got {value!r}")
            continue
        other = "ray" if runner == "local" else "local"
        try:
            other_names = _option_names(_executor_class(other))
        except ThresherError:
            other_names = ()
        hint = f" (it applies to the {other} runner only)" if key in other_names else did_you_mean(key, names)
        raise SettingError(f"unknown option {key!r} for the {runner} runner{hint}; options: {', '.join(sorted(names))}")


def settings() -> _Settings:
    return _settings


def make_executor(runner: str | None = None, **overrides: Any) -> Any:
    """An executor instance for ``runner`` (default: the session's)."""
    name = runner or _settings.runner
    if name == "local" and not overrides and (_settings.runner != "local" or not _settings.runner_options):
        # (the default: nothing to check or merge, what every collect() of a session without
        # runner options makes)
        from thresher.engine.local import LocalExecutor

        return LocalExecutor(memory_budget=_settings.memory_budget, progress=_settings.progress)
    if name not in ("local", "ray"):
        raise SettingError(f"unknown runner {name!r}{did_you_mean(name, ('local', 'ray'))}; use 'local' or 'ray'")
    if overrides or name != "local":  # (the local runner with no options: nothing to check)
        check_executor_options(name, overrides)
    if name == "local":
        from thresher.engine.local import LocalExecutor

        if _settings.runner == "local":  # options given to set_runner("local", ...)
            overrides = {**_settings.runner_options, **overrides}
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
