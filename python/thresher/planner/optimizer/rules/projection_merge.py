"""projection_merge: two stacked projections become one, unless that would repeat expensive work.

Before::

    Project [(col("b") * 2).alias("c")]
      Project [(col("a") + 1).alias("b")]

After::

    Project [((col("a") + 1) * 2).alias("c")]

An inner expression that is not cheap (a decode, a download, a UDF) is inlined only if the outer
projection uses it at most once, so merging never computes it twice; and never into an outer
projection that calls a UDF running on workers of its own (a class UDF's actor pool, a GPU, a
fixed concurrency): the physical planner gives such a call a stage of its own, and the download
or decode in front of it must stay on the ordinary CPU stage before it instead of occupying the
scarce model workers (on Ray: one actor decoding and classifying while the other CPUs idle).
"""

from __future__ import annotations

from collections import Counter

from thresher.expressions.cost import cost_class
from thresher.expressions.expr import Alias, Column, Expr, UDFCall, memo, strip_alias
from thresher.planner.logical import LogicalPlan, Project
from thresher.planner.optimizer.rules._util import rewrite_bottom_up, substitute


def _pooled_udf(e: Expr) -> bool:
    for n in e.walk():
        if isinstance(n, UDFCall):
            u = n.udf
            if u.is_class or u.num_gpus or u.concurrency is not None:
                return True
    return False


def _calls_pooled_udf(exprs: tuple[Expr, ...]) -> bool:
    """Does a projection call a UDF that gets workers of its own (actors, GPUs, a concurrency)?"""
    return any(memo(e, "_memo_pooled_udf", _pooled_udf) for e in exprs)


def _column_uses(e: Expr) -> tuple[str, ...]:
    """The column references in ``e``, one entry per occurrence."""
    return tuple(n.name for n in e.walk() if isinstance(n, Column))


def _merged(e: Expr, mapping: dict[str, Expr]) -> Expr:
    """``e`` with the inner projection's expressions substituted, its output name kept."""
    if isinstance(e, Column):
        # a passed-through column: the inner expression itself when substituting would rebuild
        # an equal one (so its memoized type and properties carry over)
        m = mapping[e.name]
        if isinstance(m, Column) or (isinstance(m, Alias) and not isinstance(m.child, Alias)
                                     and m.child.output_name() != m.name):
            return m
    if isinstance(e, Alias) and isinstance(e.child, Column):
        # a renamed column: what substituting gives, built directly (the inner expression
        # itself when it is that already)
        m = mapping[e.child.name]
        t = strip_alias(m)
        return m if isinstance(m, Alias) and m.child is t and m.name == e.name else Alias(t, e.name)
    new = substitute(e, mapping)
    if new.output_name() != e.output_name():
        new = Alias(strip_alias(new), e.output_name())
    return new


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if not (isinstance(node, Project) and isinstance(node.input, Project)):
            return None
        inner = node.input
        mapping = {e.output_name(): e for e in inner.exprs}
        uses: Counter[str] = Counter()
        for e in node.exprs:
            uses.update(memo(e, "_memo_column_uses", _column_uses))
        if all(type(e) is Column for e in inner.exprs) and all(name in mapping for name in uses):
            # the inner projection only selects columns (as join_order's, restoring the column
            # order, does): the merged expressions are the outer ones, as they are (substituting
            # a column for itself rebuilt each of them, and deriving their types again)
            return Project(inner.input, node.exprs)
        pooled = _calls_pooled_udf(node.exprs)
        for name, count in uses.items():
            target = strip_alias(mapping[name]) if name in mapping else None
            if target is None:
                return None
            if (count > 1 or pooled) and not isinstance(target, Column) and cost_class(target) != "scalar":
                return None
        return Project(inner.input, tuple(_merged(e, mapping) for e in node.exprs))

    return rewrite_bottom_up(plan, visit, only=(Project,))
