"""The optimizer: rules run in a fixed, commented order until nothing changes.

Each rule lives in its own module under ``rules/`` and exposes ``apply(plan) -> plan | None``
(None: nothing changed). The runner records every change (rule name, the plan before and
after, time spent) for ``explain()``; users switch rules off by name, and unknown names raise.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from thresher.errors import ThresherError
from thresher.planner.logical import LogicalPlan

# The order matters: simplify first, then move filters and limits down, then cut columns, then
# the media-aware rewrites that depend on knowing which columns survive.
RULES: tuple[str, ...] = (
    "constant_folding",  # fold literal-only expressions, drop always-true filters
    "merge_filters",  # Filter(Filter(x)) -> one conjunction, so pushdown sees all terms
    "predicate_pushdown",  # move filter terms below projections/joins/unions and into scans
    "projection_merge",  # Project(Project(x)) -> one Project when nothing expensive is duplicated
    "limit_pushdown",  # move limits below row-local maps and into scans (early stop)
    "projection_pushdown",  # read and compute only the columns something downstream uses
)

_EXTRA_RULES: list[str] = []


def register_rule(name: str, after: str | None = None) -> None:
    """Add a rule module ``thresher.planner.optimizer.rules.<name>`` to the order."""
    if name in RULES or name in _EXTRA_RULES:
        return
    _EXTRA_RULES.append(name)


def rule_names() -> tuple[str, ...]:
    return RULES + tuple(_EXTRA_RULES)


@dataclass
class RuleFiring:
    rule: str
    iteration: int
    before: str
    after: str
    seconds: float


@dataclass
class OptimizerResult:
    plan: LogicalPlan
    log: list[RuleFiring] = field(default_factory=list)
    iterations: int = 0


def _load(name: str) -> Callable[[LogicalPlan], LogicalPlan | None]:
    mod = importlib.import_module(f"thresher.planner.optimizer.rules.{name}")
    fn: Callable[[LogicalPlan], LogicalPlan | None] = mod.apply
    return fn


def optimize(
    plan: LogicalPlan,
    disabled: Iterable[str] = (),
    max_iterations: int = 16,
    validate: bool = False,
) -> OptimizerResult:
    """Run every enabled rule, in order, until a full pass changes nothing."""
    names = rule_names()
    disabled = set(disabled)
    unknown = disabled - set(names) - {"all"}
    if unknown:
        raise ThresherError(f"unknown optimizer rule(s) {sorted(unknown)}; rules are {list(names)}")
    if "all" in disabled:
        return OptimizerResult(plan)
    rules = [(n, _load(n)) for n in names if n not in disabled]
    result = OptimizerResult(plan)
    schema = plan.schema
    for it in range(max_iterations):
        changed = False
        for name, rule in rules:
            t0 = time.perf_counter()
            new = rule(result.plan)
            dt = time.perf_counter() - t0
            if new is not None and new != result.plan:
                result.log.append(RuleFiring(name, it, result.plan.pretty(), new.pretty(), dt))
                if validate and new.schema.names != schema.names:
                    raise ThresherError(f"rule {name} changed the output columns: {schema.names} -> {new.schema.names}")
                result.plan = new
                changed = True
        result.iterations = it + 1
        if not changed:
            break
    return result
