"""common_subexpression_elimination: an expensive subexpression used twice is computed once.

Before::

    Project [col("b").image.decode().image.width().alias("w"), col("b").image.decode().image.height().alias("h")]
      Scan t

After::

    Project [col("__cse0").image.width().alias("w"), col("__cse0").image.height().alias("h")]
      Project [col("b"), col("b").image.decode().alias("__cse0")]
        Scan t

Only subexpressions that are not cheap (a download, a decode, a model or UDF call) are hoisted;
the largest repeated one first. Repeats are looked for inside one projection or filter, and
between a projection and the filters right below it (the filter then reuses the value the
projection needs, computed once just below the lowest filter that uses it):

    Project [col("b").url.download().alias("bytes")]            Project [col("__cse0").alias("bytes")]
      Filter col("b").url.download().is_not_null()      ->       Filter col("__cse0").is_not_null()
        Scan t                                                     Project [col("b"), col("b").url.download().alias("__cse0")]
                                                                     Scan t

The hoisted columns are internal: the projection above lists only the original outputs, and a
filter on top gets a projection that drops them, so the output schema never changes.
"""

from __future__ import annotations

import itertools
from collections import Counter

from thresher.expressions.cost import cost_class
from thresher.expressions.expr import Alias, Column, Expr, Literal, has_aggregate
from thresher.planner.logical import Filter, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import plan_is_expensive, rewrite_top_down

PREFIX = "__cse"


def _candidates(exprs: list[Expr]) -> Counter[tuple[object, ...]]:
    counts: Counter[tuple[object, ...]] = Counter()
    for e in exprs:
        for n in e.walk():
            if isinstance(n, (Column, Literal, Alias)) or has_aggregate(n):
                continue
            if cost_class(n) == "scalar":
                continue
            counts[n.key()] += 1
    return counts


def _all_scalar(exprs: list[Expr]) -> bool:
    """No candidate in ``exprs``: a cost class covers a whole subtree (most relational plans)."""
    return all(cost_class(e) == "scalar" for e in exprs)


def _size(e: Expr) -> int:
    return sum(1 for _ in e.walk())


def _pick(exprs: list[Expr]) -> Expr | None:
    """The largest expensive subexpression that occurs at least twice."""
    if _all_scalar(exprs):
        return None
    counts = _candidates(exprs)
    best: Expr | None = None
    for e in exprs:
        for n in e.walk():
            if counts.get(n.key(), 0) >= 2 and (best is None or _size(n) > _size(best)):
                best = n
    return best


def _replace(e: Expr, target: Expr, name: str, keep_name: bool = True) -> Expr:
    key = target.key()
    new = e.transform(lambda n: Column(name) if n.key() == key else None)
    if keep_name and new.output_name() != e.output_name():
        new = Alias(new, e.output_name())
    return new


def _fresh(plan: LogicalPlan, taken: set[str]) -> str:
    names = {n for node in plan.walk() for n in node.schema.names} | taken
    for i in itertools.count():
        if f"{PREFIX}{i}" not in names:
            return f"{PREFIX}{i}"
    raise AssertionError


def _hoist(below: LogicalPlan, target: Expr, name: str) -> Project:
    return Project(below, (*(Column(n) for n in below.schema.names), Alias(target, name)))


def _within(node: LogicalPlan) -> LogicalPlan | None:
    if isinstance(node, Project):
        best = _pick(list(node.exprs))
        if best is None:
            return None
        name = _fresh(node, set())
        return Project(_hoist(node.input, best, name), tuple(_replace(e, best, name) for e in node.exprs))
    if isinstance(node, Filter):
        best = _pick([node.predicate])
        if best is None:
            return None
        name = _fresh(node, set())
        inner = Filter(_hoist(node.input, best, name), _replace(node.predicate, best, name, False))
        return Project(inner, tuple(Column(n) for n in node.input.schema.names))
    return None


def _across(node: Project) -> LogicalPlan | None:
    """A projection over a chain of filters sharing an expensive subexpression."""
    filters: list[Filter] = []
    cur = node.input
    while isinstance(cur, Filter):
        filters.append(cur)
        cur = cur.input
    if not filters:
        return None
    groups = [list(node.exprs), *([f.predicate] for f in filters)]
    if _all_scalar([e for g in groups for e in g]):
        return None
    seen_in: Counter[tuple[object, ...]] = Counter()
    exprs: dict[tuple[object, ...], Expr] = {}
    for g in groups:
        keys = set()
        for e in g:
            for n in e.walk():
                if not isinstance(n, (Column, Literal, Alias)) and not has_aggregate(n) and cost_class(n) != "scalar":
                    keys.add(n.key())
                    exprs[n.key()] = n
        seen_in.update(keys)
    shared = [exprs[k] for k, c in seen_in.items() if c >= 2]
    if not shared:
        return None
    target = max(shared, key=_size)
    key = target.key()
    lowest = max(i for i, f in enumerate(filters) if any(n.key() == key for n in f.predicate.walk()))
    name = _fresh(node, set())
    rebuilt: LogicalPlan = _hoist(filters[lowest].input, target, name)
    for f in reversed(filters[: lowest + 1]):
        rebuilt = Filter(rebuilt, _replace(f.predicate, target, name, False))
    return Project(rebuilt, tuple(_replace(e, target, name) for e in node.exprs))


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if not plan_is_expensive(plan):  # only expensive subexpressions are shared
        return None

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        out = _within(node)
        if out is not None:
            return out
        if isinstance(node, Project):
            return _across(node)
        return None

    return rewrite_top_down(plan, visit, only=(Project, Filter))
