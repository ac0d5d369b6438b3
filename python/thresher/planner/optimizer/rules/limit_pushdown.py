"""limit_pushdown: compute and read only the rows a limit keeps.

Before::

    Limit 5
      Project [col("url").url.download().alias("bytes")]
        Scan files

After::

    Project [col("url").url.download().alias("bytes")]
      Limit 5
        Scan files limit=5

A limit moves below projections (they are one row in, one row out), into every input of a union
(the outer limit stays), merges with another limit, and reaches the scan, which stops reading
once it has produced enough rows (a ``limit(5)`` over a million files opens a handful).
"""

from __future__ import annotations

from thresher.planner.logical import Limit, LogicalPlan, Project, ScanSource, Union, WithRowIndex
from thresher.planner.optimizer.rules._util import rewrite_top_down


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if not isinstance(node, Limit):
            return None
        child = node.input
        total = node.n + node.offset
        if isinstance(child, Limit):
            # Limit(n, o) over Limit(m, p): rows p+o .. p+o+min(n, m-o)
            n = max(0, min(node.n, child.n - node.offset))
            return Limit(child.input, n, child.offset + node.offset)
        if isinstance(child, Project):
            return Project(Limit(child.input, node.n, node.offset), child.exprs)
        if isinstance(child, WithRowIndex):
            return WithRowIndex(Limit(child.input, node.n, node.offset), child.name, child.offset + node.offset)
        if isinstance(child, Union):
            inputs = []
            changed = False
            for i in child.inputs:
                if isinstance(i, Limit) and i.n + i.offset <= total and i.offset == 0:
                    inputs.append(i)
                else:
                    inputs.append(Limit(i, total))
                    changed = True
            if not changed:
                return None
            return Limit(Union(tuple(inputs)), node.n, node.offset)
        if isinstance(child, ScanSource):
            if child.limit is not None and child.limit <= total:
                return None
            return Limit(ScanSource(child.source, child.columns, child.predicate, total), node.n, node.offset)
        return None

    return rewrite_top_down(plan, visit, only=(Limit,))
