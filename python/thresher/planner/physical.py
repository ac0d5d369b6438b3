"""The physical plan: a DAG of stages, each a fused chain of operators with its resources.

Lowering rules:

* adjacent row-local operators (filter, project, explode, sample) with the same resource class
  fuse into one streaming ``map`` stage; an expression with a class UDF that asks for GPUs or an
  actor pool starts a stage of its own (it runs on different workers), and row-local operators
  that use the same such UDF with the same resources share it; the operator after it starts a
  new CPU stage again;
* a stage that calls an io/decode/model function runs small batches (``MEDIA_BATCH_ROWS``) unless
  a UDF asks for its own ``batch_size``; its concurrency comes from the UDF (actor pool size);
* a maximal subtree of relational operators over standard types (scan → filter → project →
  join → aggregate → sort → limit) becomes one ``relational`` stage that the executor runs as a
  Polars LazyFrame (its optimizer and streaming engine); its leaves are scans Polars can read
  directly, or the outputs of other stages;
* barriers (sort, aggregate, join, distinct, window) end streaming stages.

The planner never executes anything: executors in ``engine/`` interpret these stages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from thresher.datatypes import Schema
from thresher.expressions.cost import cost_class, most_expensive
from thresher.expressions.expr import Expr, UDFCall
from thresher.operators.expr_to_polars import is_lowerable
from thresher.planner.logical import (
    Aggregate,
    Dedup,
    Distinct,
    Explode,
    Filter,
    FlatMap,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Repartition,
    Sample,
    ScanSource,
    Sort,
    Union,
    Window,
    WithRowIndex,
    Write,
)

DEFAULT_BATCH_ROWS = 64 * 1024
MEDIA_BATCH_ROWS = 64


@dataclass
class Resources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None

    def __str__(self) -> str:
        s = f"cpus={self.num_cpus:g}"
        if self.num_gpus:
            s += f" gpus={self.num_gpus:g}"
        if self.memory:
            s += f" memory={self.memory >> 20}MiB"
        return s


@dataclass(eq=False)
class Stage:
    """One node of the physical DAG."""

    id: int
    kind: str  # scan | map | flatmap | relational | limit | union | row_index | rebatch | write
    inputs: list[Stage] = field(default_factory=list)
    #: map stages: the fused row-local logical nodes, bottom-up (each node's input is the previous)
    ops: list[LogicalPlan] = field(default_factory=list)
    #: the logical node this stage computes (its output schema is the stage's)
    logical: LogicalPlan | None = None
    #: relational stages: logical leaves fed by `inputs`, in the same order
    leaves: list[LogicalPlan] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    batch_size: int = DEFAULT_BATCH_ROWS
    concurrency: int | tuple[int, int] | None = None
    boundary: str = "streaming"  # streaming | barrier
    #: map stages whose UDFs hold state (class UDFs) run on an actor pool
    actor: bool = False
    cost: str = "scalar"

    @property
    def schema(self) -> Schema:
        assert self.logical is not None
        return self.logical.schema

    def describe(self) -> str:
        head = f"Stage {self.id} [{self.kind}, {self.boundary}] {self.resources} batch={self.batch_size}"
        if self.concurrency is not None:
            head += f" concurrency={self.concurrency}"
        if self.actor:
            head += " actor-pool"
        if self.kind == "map":
            body = " -> ".join(op.describe() for op in self.ops)
        elif self.kind == "relational" and self.logical is not None:
            body = "polars: " + self.logical.describe()
        elif self.logical is not None:
            body = self.logical.describe()
        else:
            body = ""
        return f"{head}: {body}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "boundary": self.boundary,
            "inputs": [s.id for s in self.inputs],
            "ops": [op.describe() for op in self.ops] if self.ops else [self.logical.describe() if self.logical else ""],
            "resources": {"num_cpus": self.resources.num_cpus, "num_gpus": self.resources.num_gpus,
                          "memory": self.resources.memory},
            "batch_size": self.batch_size,
            "concurrency": self.concurrency,
            "actor": self.actor,
            "cost": self.cost,
            "joins": [j.strategy for j in (self.logical.walk() if self.kind == "relational" and self.logical else ())
                      if isinstance(j, Join)],
        }


@dataclass
class PhysicalPlan:
    root: Stage
    schema: Schema

    def stages(self) -> list[Stage]:
        """Stages in dependency order (inputs first)."""
        seen: dict[int, Stage] = {}

        def visit(s: Stage) -> None:
            for i in s.inputs:
                visit(i)
            seen.setdefault(s.id, s)

        visit(self.root)
        return list(seen.values())

    def pretty(self) -> str:
        lines = []

        def visit(s: Stage, depth: int) -> None:
            lines.append("  " * depth + s.describe())
            for i in s.inputs:
                visit(i, depth + 1)

        visit(self.root, 0)
        return "\n".join(lines)

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.stages()]


# --------------------------------------------------------------------------------------------


def _udfs(exprs: list[Expr]) -> list[Any]:
    out = []
    for e in exprs:
        for n in e.walk():
            if isinstance(n, UDFCall):
                out.append(n.udf)
    return out


def _node_exprs(node: LogicalPlan) -> list[Expr]:
    if isinstance(node, Project):
        return list(node.exprs)
    if isinstance(node, Filter):
        return [node.predicate]
    return []


def _resource_class(node: LogicalPlan) -> tuple[Any, ...]:
    """Nodes with equal resource classes may share a stage."""
    udfs = _udfs(_node_exprs(node))
    heavy = [u for u in udfs if getattr(u, "num_gpus", 0) or getattr(u, "is_class", False)
             or getattr(u, "concurrency", None) is not None]
    if not heavy:
        return ("cpu",)
    return ("udf",) + tuple(sorted({id(u) for u in heavy}))


def _stage_resources(node: LogicalPlan) -> tuple[Resources, int | tuple[int, int] | None, bool, int | None]:
    udfs = _udfs(_node_exprs(node))
    res = Resources()
    conc = None
    actor = False
    batch = None
    for u in udfs:
        res.num_cpus = max(res.num_cpus, float(getattr(u, "num_cpus", 1) or 1))
        res.num_gpus = max(res.num_gpus, float(getattr(u, "num_gpus", 0) or 0))
        mem = getattr(u, "memory", None)
        if mem:
            res.memory = max(res.memory or 0, int(mem))
        if getattr(u, "concurrency", None) is not None:
            conc = u.concurrency
        if getattr(u, "is_class", False):
            actor = True
        if getattr(u, "batch_size", None):
            batch = int(u.batch_size)
    return res, conc, actor, batch


def _is_relational(node: LogicalPlan) -> bool:
    """Can this node run inside a Polars LazyFrame (standard types, no kernels or UDFs)?"""
    if any(f.dtype.is_media() for f in node.schema.fields):
        return False
    if isinstance(node, (Aggregate, Join, Sort, Distinct, Window, Limit, Union)):
        exprs: list[Expr] = []
        if isinstance(node, Aggregate):
            exprs = [*node.keys, *node.aggs]
        elif isinstance(node, Join):
            exprs = [*node.left_on, *node.right_on]
        elif isinstance(node, Sort):
            exprs = list(node.by)
        elif isinstance(node, Window):
            exprs = [*node.exprs, *node.partition_by, *node.order_by]
        return all(is_lowerable(e) for e in exprs)
    if isinstance(node, (Filter, Project)):
        return all(is_lowerable(e) for e in _node_exprs(node))
    if isinstance(node, ScanSource):
        return node.source.polars_scan(node.columns, node.predicate) is not None and node.limit is None
    return False


_BARRIERS = (Aggregate, Join, Sort, Distinct, Window)


def _contains_barrier(node: LogicalPlan) -> bool:
    if isinstance(node, _BARRIERS):
        return True
    if isinstance(node, (Filter, Project, Limit, Union)):
        return any(_contains_barrier(c) for c in node.children() if _is_relational(c))
    return False


class PhysicalPlanner:
    def __init__(self) -> None:
        self._ids = itertools.count()

    def _new(self, **kw: Any) -> Stage:
        return Stage(id=next(self._ids), **kw)

    def plan(self, node: LogicalPlan) -> PhysicalPlan:
        root = self.lower(node)
        return PhysicalPlan(root, node.schema)

    # -- relational subtrees ----------------------------------------------------------------
    def _relational(self, node: LogicalPlan) -> Stage:
        leaves: list[LogicalPlan] = []
        inputs: list[Stage] = []

        def collect(n: LogicalPlan) -> None:
            if isinstance(n, ScanSource) and _is_relational(n):
                return  # Polars scans it directly
            if _is_relational(n) and not isinstance(n, ScanSource):
                for c in n.children():
                    collect(c)
                return
            leaves.append(n)
            inputs.append(self.lower(n))

        for c in node.children():
            collect(c)
        return self._new(kind="relational", logical=node, inputs=inputs, leaves=leaves, boundary="barrier")

    # -- everything else ----------------------------------------------------------------------
    def lower(self, node: LogicalPlan) -> Stage:
        if _is_relational(node) and _contains_barrier(node):
            return self._relational(node)

        if isinstance(node, ScanSource):
            batch = MEDIA_BATCH_ROWS if any(f.dtype.is_media() for f in node.schema.fields) else DEFAULT_BATCH_ROWS
            return self._new(kind="scan", logical=node, batch_size=batch)

        if isinstance(node, (Filter, Project, Explode, Sample)):
            child = self.lower(node.children()[0])
            cls = _resource_class(node)
            res, conc, actor, udf_batch = _stage_resources(node)
            cost = most_expensive(cost_class(e) for e in _node_exprs(node))
            if (
                not isinstance(node, Sample)  # a sample starts its stage: row offsets are counted at its input
                and child.kind == "map"
                and child.boundary == "streaming"
                and _resource_class(child.ops[-1]) == cls
                and (cls == ("cpu",) or _stage_resources(child.ops[-1])[:3] == (res, conc, actor))
            ):
                child.ops.append(node)
                child.logical = node
                if cost != "scalar":
                    child.batch_size = min(child.batch_size, MEDIA_BATCH_ROWS)
                child.cost = most_expensive((child.cost, cost))
                return child
            stage = self._new(kind="map", inputs=[child], ops=[node], logical=node, resources=res,
                              concurrency=conc, actor=actor, cost=cost)
            if udf_batch:
                stage.batch_size = udf_batch
            elif cost != "scalar" or any(f.dtype.is_media() for f in node.schema.fields):
                stage.batch_size = MEDIA_BATCH_ROWS
            return stage

        if isinstance(node, FlatMap):
            child = self.lower(node.input)
            res = Resources(float(getattr(node.udf, "num_cpus", 1) or 1), float(getattr(node.udf, "num_gpus", 0) or 0))
            return self._new(kind="flatmap", inputs=[child], logical=node, resources=res,
                             concurrency=getattr(node.udf, "concurrency", None),
                             actor=bool(getattr(node.udf, "is_class", False)),
                             batch_size=int(getattr(node.udf, "batch_size", None) or MEDIA_BATCH_ROWS))
        if isinstance(node, Limit):
            return self._new(kind="limit", inputs=[self.lower(node.input)], logical=node)
        if isinstance(node, Union):
            return self._new(kind="union", inputs=[self.lower(i) for i in node.inputs], logical=node)
        if isinstance(node, WithRowIndex):
            return self._new(kind="row_index", inputs=[self.lower(node.input)], logical=node)
        if isinstance(node, Repartition):
            stage = self._new(kind="rebatch", inputs=[self.lower(node.input)], logical=node)
            if node.batch_size is not None:
                stage.batch_size = node.batch_size
            return stage
        if isinstance(node, Dedup):
            return self._new(kind="dedup", inputs=[self.lower(node.input)], logical=node, boundary="barrier")
        if isinstance(node, Write):
            return self._new(kind="write", inputs=[self.lower(node.input)], logical=node, boundary="barrier")
        if isinstance(node, _BARRIERS):
            # a barrier over media columns or UDF results: Polars on storage, extension re-wrapped
            return self._relational(node)
        raise NotImplementedError(f"no physical form for {type(node).__name__}")


def plan_physical(node: LogicalPlan) -> PhysicalPlan:
    """Lower an (optimized) logical plan to stages."""
    return PhysicalPlanner().plan(node)


def iter_stages(plan: PhysicalPlan) -> Iterator[Stage]:
    yield from plan.stages()
