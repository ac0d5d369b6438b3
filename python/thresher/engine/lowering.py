"""Turn the logical nodes of a fused map stage into operator objects (engine-side glue)."""

from __future__ import annotations

from collections.abc import Sequence

from thresher.operators.base import Operator
from thresher.operators.explode import ExplodeOperator
from thresher.operators.filter import FilterOperator
from thresher.operators.pipeline import RowPipeline
from thresher.operators.project import ProjectOperator
from thresher.operators.sample import SampleOperator
from thresher.planner.logical import Explode, Filter, LogicalPlan, Project, Sample


def row_operator(node: LogicalPlan) -> Operator:
    if isinstance(node, Filter):
        return FilterOperator(node.predicate, node.input.schema)
    if isinstance(node, Project):
        return ProjectOperator(node.exprs, node.input.schema, node.schema)
    if isinstance(node, Explode):
        return ExplodeOperator(node.columns, node.input.schema, node.schema)
    if isinstance(node, Sample):
        return SampleOperator(node.fraction, node.seed, node.schema)
    raise NotImplementedError(f"{type(node).__name__} is not a row-local operator")


def row_pipeline(ops: Sequence[LogicalPlan]) -> RowPipeline:
    return RowPipeline([row_operator(op) for op in ops])
