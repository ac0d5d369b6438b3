"""The physical plan, and ``compile``: the only thing an executor sees of a query.

``compile(plan, settings)`` optimizes a logical plan and lowers it to a DAG of stages. Every
stage carries what an executor needs to run it and nothing it would have to interpret: operator
factories (row pipelines, flat maps, dedup), a Polars program for relational subtrees, the UDF
pool to start (with its resources) for stateful UDFs, and for a write a :class:`WriteJob`. The
executors in ``engine/`` schedule stages; they never see a logical node.

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

>>> import thresher as th
>>> df = th.from_pydict({"a": [1, 2, 3]}).with_columns(b=th.col("a") * 2)
>>> [s.kind for s in compile(df.plan).stages()]
['scan', 'map']
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thresher.datatypes import Schema
from thresher.expressions.cost import cost_class, most_expensive
from thresher.expressions.expr import Column, Expr, UDFCall, every_option_shown
from thresher.expressions.udf_protocol import UDFProtocol
from thresher.io import source as io_source
from thresher.io.predicate import Predicate
from thresher.io.sink import Sink
from thresher.io.source import Source
from thresher.operators.explode import ExplodeOperator
from thresher.operators.expr_to_polars import is_lowerable
from thresher.operators.filter import FilterOperator
from thresher.operators.flatmap import FlatMapOperator
from thresher.operators.pipeline import RowPipeline
from thresher.operators.project import ProjectOperator
from thresher.operators.sample import SampleOperator
from thresher.planner.gc_pause import gc_paused
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
from thresher.planner.memo import memo_scope, memoized_by_identity, unlink
from thresher.udfs.service import SharedService

if TYPE_CHECKING:
    from thresher.operators.base import Operator
    from thresher.operators.dedup import DedupOperator
    from thresher.planner.distributions import Distribution
    from thresher.planner.optimizer.runner import OptimizerResult

    # (imported where a relational stage is lowered: a job without one, e.g. a local video job,
    # never loads the Polars lowering, the distributions and the statistics, ~0.3 MiB)
    from thresher.planner.polars_plan import PolarsProgram

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


# -- what a stage carries (one spec per stage kind) -------------------------------------------


@dataclass(frozen=True)
class UDFPool:
    """Workers that hold state (a loaded model) for a stage, started by the executor.

    Locally the workers are threads with one pipeline copy each; on Ray, actors with
    ``resources`` each, from ``min_size`` to ``max_size`` as load requires.
    """

    min_size: int
    max_size: int
    resources: Resources
    services: tuple[SharedService, ...] = ()


@dataclass(frozen=True)
class ScanSpec:
    """Read ``source``'s partitions with pushed-down columns, predicate and row limit."""

    source: Source
    columns: tuple[str, ...] | None
    predicate: Predicate | None
    limit: int | None


@dataclass(frozen=True)
class MapSpec:
    """Row-local operators fused into one pipeline; ``make_pipeline()`` builds a fresh copy
    (call it once per worker: class UDFs keep state in it)."""

    make_pipeline: Callable[[], RowPipeline]


@dataclass(frozen=True)
class FlatMapSpec:
    """A generator UDF (fan-out); ``thread_safe`` generators may run several rows at once."""

    make_operator: Callable[[], FlatMapOperator]
    thread_safe: bool


@dataclass(frozen=True)
class HashDistribution:
    """A relational stage that may run per hash partition: each input is cut by ``keys[i]``,
    then ``program`` runs over one partition of every input.

    ``distinct_subset`` set: a distinct (``keep`` first/last) whose output keeps the input order."""

    keys: tuple[tuple[Expr, ...], ...]
    program: PolarsProgram
    distinct_subset: tuple[str, ...] | None = None
    distinct_keep: str = "first"


@dataclass(frozen=True)
class RangeDistribution:
    """A one-key sort that may run per key range (ranges concatenated in order)."""

    key: Expr
    descending: bool
    nulls_last: bool
    program: PolarsProgram


class RelationalSpec:
    """A relational subtree run as one Polars LazyFrame over the stage's inputs (in order).

    ``distribution``: how an executor may spread it over partitions (see also
    :mod:`thresher.planner.distributions`); None: run it whole. The lowering gives the subtree
    and its leaves instead (``over``), and the distribution is worked out when an executor
    first asks (only the distributed one does: cutting the subtree from its inputs for tasks
    walked the whole tree, shared subplans once per use, in every planning)."""

    def __init__(self, program: PolarsProgram,
                 distribution: HashDistribution | RangeDistribution | Distribution | None = None,
                 over: tuple[LogicalPlan, tuple[LogicalPlan, ...]] | None = None) -> None:
        self.program = program
        self._distribution = distribution
        self._over = over

    @property
    def distribution(self) -> HashDistribution | RangeDistribution | Distribution | None:
        if self._over is not None:
            node, leaves = self._over
            self._distribution = _distribution(node, leaves)
            self._over = None
        return self._distribution

    def __repr__(self) -> str:
        return f"RelationalSpec(program={self.program!r}, distribution={self.distribution!r})"


@dataclass(frozen=True)
class LimitSpec:
    offset: int
    n: int


@dataclass(frozen=True)
class RowIndexSpec:
    offset: int


@dataclass(frozen=True)
class RebatchSpec:
    """Exact batches of ``batch_size`` rows, or ``num_partitions`` partitions (hashed ``by``)."""

    batch_size: int | None
    num_partitions: int | None
    by: tuple[Expr, ...]


@dataclass(frozen=True)
class DedupSpec:
    """Keys per batch, one global decision, then a filter by row position (or the groups).

    ``rerun``: pass 2 may run the input again (its order is deterministic and it is cheap)
    instead of keeping the input batches of pass 1."""

    make_operator: Callable[[], DedupOperator]
    output: str  # filter | groups
    rerun: bool


@dataclass(frozen=True)
class WriteSpec:
    """Write the input to the plan's :class:`WriteJob` (``PhysicalPlan.write_job``)."""


StageSpec = (ScanSpec | MapSpec | FlatMapSpec | RelationalSpec | LimitSpec | RowIndexSpec | RebatchSpec | DedupSpec
             | WriteSpec | None)


@dataclass
class WriteJob:
    """Everything a write needs besides its data: made by :func:`compile`, run by the engine.

    ``job_id`` keys idempotency: the sink commits each (job_id, partition) at most once.
    ``resumable`` is True when the caller gave the id (a re-run continues the job); with a
    generated id nothing is skipped. ``plan_fingerprint`` identifies the optimized plan that
    produces the data: a job record may store it and refuse to resume a job whose plan changed.
    ``committed`` is filled by the engine once, from the sink, before the run (partitions
    already in); they are skipped at the scan when ``partition_local`` (every output row's
    partition is its source partition), else their rows are dropped before the sink.
    Partitions commit in groups of ``commit_every_partitions`` or every
    ``commit_every_seconds``. ``checkpoint_location`` overrides where job state is kept (default:
    the sink's ``checkpoint_location()``).
    """

    sink: Sink
    job_id: str
    resumable: bool
    plan_fingerprint: str
    partition_local: bool
    checkpoint_location: str | None = None
    committed: frozenset[str] = frozenset()
    commit_every_partitions: int = 8
    commit_every_seconds: float = 5.0

    @property
    def skip_partitions(self) -> frozenset[str]:
        """Source partitions the scan need not read at all."""
        return self.committed if self.partition_local else frozenset()


@dataclass(eq=False)
class Stage:
    """One node of the physical DAG.

    Executors read ``kind``, ``spec``, ``inputs``, ``schema`` and the scheduling fields
    (``resources``, ``batch_size``, ``concurrency``, ``pool``, ``max_retries``, ``boundary``).
    ``ops`` and ``logical`` record where the stage came from, for ``explain()`` only.
    """

    id: int
    kind: str  # scan | map | flatmap | relational | limit | union | row_index | rebatch | dedup | write
    inputs: list[Stage] = field(default_factory=list)
    #: map stages: the fused row-local logical nodes, bottom-up (provenance, for explain)
    ops: list[LogicalPlan] = field(default_factory=list)
    #: the logical node this stage computes (provenance, for explain)
    logical: LogicalPlan | None = None
    resources: Resources = field(default_factory=Resources)
    batch_size: int = DEFAULT_BATCH_ROWS
    concurrency: int | tuple[int, int] | None = None
    boundary: str = "streaming"  # streaming | barrier
    #: map stages whose UDFs hold state (class UDFs) run on a UDF pool
    actor: bool = False
    cost: str = "scalar"
    #: what the executor runs (set by :func:`plan_physical` once the stage is complete)
    spec: StageSpec = None
    #: the UDF pool to start for this stage (stateful UDFs), with its resources
    pool: UDFPool | None = None
    #: retries of a task whose worker died, as the stage's UDFs ask (the executor may retry more)
    max_retries: int = 0
    #: the stage's output schema
    schema: Schema = field(default_factory=Schema)

    def label(self) -> str:
        """What the stage computes, in a few words (stats, progress bars, errors): what
        :meth:`describe` says after its head (which holds no ``": "``), without the head (every
        query's run names its stage: the head's resources and sizes were formatted for nothing)."""
        return self._body()

    def _body(self) -> str:
        if self.kind == "map":
            return " -> ".join(op.describe() for op in self.ops)
        if self.kind == "relational" and self.logical is not None:
            return "polars: " + self.logical.describe()
        if self.logical is not None:
            return self.logical.describe()
        return ""

    def describe(self) -> str:
        head = f"Stage {self.id} [{self.kind}, {self.boundary}] {self.resources} batch={self.batch_size}"
        if self.concurrency is not None:
            head += f" concurrency={self.concurrency}"
        if self.actor:
            head += " actor-pool"
        return f"{head}: {self._body()}"

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
    """Stages (``root`` and its inputs), the output schema, and for a write its :class:`WriteJob`.

    ``logical`` and ``optimized`` are the plans it was compiled from, ``optimizer`` the
    optimizer's log (for ``explain()``)."""

    root: Stage
    schema: Schema
    write_job: WriteJob | None = None
    logical: LogicalPlan | None = None
    optimized: LogicalPlan | None = None
    optimizer: OptimizerResult | None = None

    def stages(self) -> list[Stage]:
        """Stages in dependency order (inputs first)."""
        seen: dict[int, Stage] = {}

        def visit(s: Stage) -> None:
            for i in s.inputs:
                visit(i)
            seen.setdefault(s.id, s)

        visit(self.root)
        unlink(visit)  # see planner/memo.py
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


# -- operator factories ------------------------------------------------------------------------


def row_operator(node: LogicalPlan) -> Operator:
    """The operator of one row-local logical node."""
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
    """A fresh pipeline of the row-local nodes ``ops`` (bottom-up)."""
    return RowPipeline([row_operator(op) for op in ops])


def _flatmap_operator(node: FlatMap) -> FlatMapOperator:
    return FlatMapOperator(node.udf, node.args, node.output, node.keep_input, node.input.schema, node.schema,
                           outer=node.outer)


def _dedup_operator(node: Dedup) -> DedupOperator:
    from thresher.operators.dedup import DedupOperator  # (and its helpers: only for a dedup)

    return DedupOperator(node.method, node.by, dict(node.params), node.input.schema, node.priority, node.id_column)


# --------------------------------------------------------------------------------------------


def _udfs(exprs: Iterable[Expr]) -> list[UDFProtocol]:
    out: list[UDFProtocol] = []
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


def _stage_udfs(stage: Stage) -> list[UDFProtocol]:
    """The UDFs a stage calls (its flat_map's, and those inside its projections and filters)."""
    out: list[UDFProtocol] = []
    if isinstance(stage.logical, FlatMap):
        out.append(stage.logical.udf)
    for op in stage.ops:
        out.extend(_udfs(_node_exprs(op)))
    return out


def _resource_class(node: LogicalPlan) -> tuple[Any, ...]:
    """Nodes with equal resource classes may share a stage."""
    udfs = _udfs(_node_exprs(node))
    heavy = [u for u in udfs if u.num_gpus or u.is_class or u.concurrency is not None]
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
        res.num_cpus = max(res.num_cpus, float(u.num_cpus or 1))
        res.num_gpus = max(res.num_gpus, float(u.num_gpus or 0))
        if u.memory:
            res.memory = max(res.memory or 0, int(u.memory))
        if u.concurrency is not None:
            conc = u.concurrency
        if u.is_class:
            actor = True
        if u.batch_size:
            batch = int(u.batch_size)
    return res, conc, actor, batch


def pool_bounds(concurrency: int | tuple[int, int] | None) -> tuple[int, int]:
    """``(min, max)`` workers of a stage from its ``concurrency``."""
    c = concurrency
    if isinstance(c, tuple):
        return int(c[0]), int(c[1])
    return (int(c), int(c)) if c else (1, 1)


def _services(udfs: Sequence[UDFProtocol], max_replicas: int) -> tuple[SharedService, ...]:
    """The shared services the stage's UDFs declare (``shared_service(max_replicas)``)."""
    out: list[SharedService] = []
    for u in udfs:
        svc = u.shared_service(max_replicas)
        if svc is not None:
            out.append(svc)
    return tuple(out)


def _is_relational(node: LogicalPlan) -> bool:
    """Can this node run inside a Polars LazyFrame (standard types, no kernels or UDFs)?

    Asked of each node once per lowering (see :func:`plan_physical`): the lowering asks again
    for the same subtrees, and for a scan the answer builds a Polars scan of its files."""
    return memoized_by_identity("is_relational", _relational_node, node)


def _relational_node(node: LogicalPlan) -> bool:
    # (loops, not generators: asked of every node of every plan lowered)
    for f in node.schema.fields:
        if f.dtype.is_media():
            return False
    if isinstance(node, (Aggregate, Join, Sort, Distinct, Window, Limit, Union)):
        if isinstance(node, Aggregate):
            return _all_lowerable(node.keys) and _all_lowerable(node.aggs)
        if isinstance(node, Join):
            return _all_lowerable(node.left_on) and _all_lowerable(node.right_on)
        if isinstance(node, Sort):
            return _all_lowerable(node.by)
        if isinstance(node, Window):
            return _all_lowerable(node.exprs) and _all_lowerable(node.partition_by) and _all_lowerable(node.order_by)
        return True
    if isinstance(node, Filter):
        return is_lowerable(node.predicate)
    if isinstance(node, Project):
        return _all_lowerable(node.exprs)
    if isinstance(node, ScanSource):
        return node.limit is None and node.source.polars_scannable(node.columns, node.predicate)
    return False


def _all_lowerable(exprs: Iterable[Expr]) -> bool:
    for e in exprs:
        if not is_lowerable(e):
            return False
    return True


_BARRIERS = (Aggregate, Join, Sort, Distinct, Window)


def _contains_barrier(node: LogicalPlan) -> bool:
    if isinstance(node, _BARRIERS):
        return True
    if isinstance(node, (Filter, Project, Limit, Union)):
        return any(_contains_barrier(c) for c in node.children() if _is_relational(c))
    return False


def partition_local(plan: LogicalPlan) -> bool:
    """True when every output row's partition id is its source partition id (no barriers)."""
    node = plan
    while True:
        if isinstance(node, ScanSource):
            return True
        if isinstance(node, (Project, Filter, Explode, FlatMap, Sample, Write)):
            node = node.children()[0]
            continue
        return False


def _cheap(plan: LogicalPlan) -> bool:
    """No fan-out and only scalar expressions: running it twice costs little."""
    for n in plan.walk():
        if isinstance(n, FlatMap):
            return False
        if any(cost_class(e) != "scalar" for e in _node_exprs(n)):
            return False
    return True


def _distribution(node: LogicalPlan, leaves: Sequence[LogicalPlan]) -> HashDistribution | RangeDistribution | Distribution | None:
    """How a relational stage may be spread over partitions (a hash or one-key range shuffle
    only when its inputs are the node's direct children: then one partition of each is all a
    task needs; else :func:`thresher.planner.distributions.distribution`)."""
    from thresher.planner.distributions import distribution as _spread
    from thresher.planner.polars_plan import cut_inputs

    direct = list(node.children())
    if len(leaves) != len(direct) or any(a is not b for a, b in zip(leaves, direct)):
        return _spread(node, leaves)
    if isinstance(node, Aggregate) and node.keys:
        return HashDistribution((tuple(node.keys),), cut_inputs(node))
    if isinstance(node, Join) and node.how != "cross":
        return HashDistribution((tuple(node.left_on), tuple(node.right_on)), cut_inputs(node))
    if isinstance(node, Distinct):
        names = tuple(node.subset) if node.subset else tuple(node.input.schema.names)
        return HashDistribution((tuple(Column(n) for n in names),), cut_inputs(node), distinct_subset=names,
                                distinct_keep="last" if node.keep == "last" else "first")
    if isinstance(node, Sort) and len(node.by) == 1:
        return RangeDistribution(node.by[0], bool(node.descending and node.descending[0]),
                                 bool(node.nulls_last[0]) if node.nulls_last else False, cut_inputs(node))
    return _spread(node, leaves)


class PhysicalPlanner:
    """Lowers an optimized logical plan to stages (use :func:`compile`)."""

    def __init__(self) -> None:
        self._ids = itertools.count()

    def _new(self, **kw: Any) -> Stage:
        return Stage(id=next(self._ids), **kw)

    def plan(self, node: LogicalPlan) -> PhysicalPlan:
        root = self.lower(node)
        for s in PhysicalPlan(root, node.schema).stages():
            self._finish(s)
        return PhysicalPlan(root, node.schema)

    def _finish(self, s: Stage) -> None:
        """Attach the executor's contract to a complete stage (its fused ops are final now)."""
        node = s.logical
        assert node is not None
        s.schema = node.schema
        udfs = _stage_udfs(s)
        s.max_retries = max([0, *(int(u.max_retries or 0) for u in udfs)])
        if s.actor:
            lo, hi = pool_bounds(s.concurrency)
            s.pool = UDFPool(lo, hi, s.resources, _services(udfs, hi))
        if s.kind == "scan":
            assert isinstance(node, ScanSource)
            s.spec = ScanSpec(node.source, node.columns, node.predicate, node.limit)
        elif s.kind == "map":
            s.spec = MapSpec(functools.partial(row_pipeline, tuple(s.ops)))
        elif s.kind == "flatmap":
            assert isinstance(node, FlatMap)
            s.spec = FlatMapSpec(functools.partial(_flatmap_operator, node), bool(node.udf.thread_safe))
        elif s.kind == "limit":
            assert isinstance(node, Limit)
            s.spec = LimitSpec(node.offset, node.n)
        elif s.kind == "row_index":
            assert isinstance(node, WithRowIndex)
            s.spec = RowIndexSpec(node.offset)
        elif s.kind == "rebatch":
            assert isinstance(node, Repartition)
            s.spec = RebatchSpec(node.batch_size, node.num_partitions, tuple(node.by))
        elif s.kind == "dedup":
            assert isinstance(node, Dedup)
            rerun = node.output == "filter" and partition_local(node.input) and _cheap(node.input)
            s.spec = DedupSpec(functools.partial(_dedup_operator, node), node.output, rerun)
        elif s.kind == "write":
            s.spec = WriteSpec()

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
        unlink(collect)  # see planner/memo.py
        from thresher.planner.polars_plan import PolarsProgram

        spec = RelationalSpec(PolarsProgram(node, tuple(leaves)), over=(node, tuple(leaves)))
        return self._new(kind="relational", logical=node, inputs=inputs, boundary="barrier", spec=spec)

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
            u = node.udf
            res = Resources(float(u.num_cpus or 1), float(u.num_gpus or 0))
            return self._new(kind="flatmap", inputs=[child], logical=node, resources=res,
                             concurrency=u.concurrency, actor=bool(u.is_class),
                             batch_size=int(u.batch_size or MEDIA_BATCH_ROWS))
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
    """Lower an already optimized logical plan to stages (no write bookkeeping: see :func:`compile`)."""
    with memo_scope():  # the lowering's questions about a node are answered once
        return PhysicalPlanner().plan(node)


# -- compile: optimize + lower, the one way from a logical plan to an executor ---------------------


@dataclass(frozen=True)
class CompileSettings:
    """What :func:`compile` takes from the session: optimizer switches.

    ``optimize=False`` runs no rule at all; ``disabled_rules`` switches rules off by name
    (``"all"``: every rule); ``validate`` re-checks the plan after every rule (tests)."""

    optimize: bool = True
    disabled_rules: frozenset[str] = frozenset()
    validate: bool = False
    #: where a write keeps its job state (default: next to the sink)
    checkpoint_location: str | None = None


#: what compile() uses without settings (one object: its construction was part of every call)
_DEFAULT_SETTINGS = CompileSettings()


def plan_fingerprint(plan: LogicalPlan) -> str:
    """A stable hash of an (optimized) plan: its canonical text, output schema and the version
    of the sources' partition ids (what a job record's committed partitions mean).

    Equal for equal plans across processes and runs (no object ids in it): a restarted job
    compares it with the one in its job record.

    >>> import thresher as th
    >>> a = th.from_pydict({"x": [1]}).filter(th.col("x") > 0).plan
    >>> plan_fingerprint(a) == plan_fingerprint(th.from_pydict({"x": [1]}).filter(th.col("x") > 0).plan)
    True
    """
    with every_option_shown():
        text = plan.pretty() + "\n" + "\n".join(f"{f.name}: {f.dtype}" for f in plan.schema.fields)
    text += f"\npartition ids v{io_source.PARTITION_ID_VERSION}"
    import hashlib  # here: importing hashlib loads OpenSSL (~3.5 MiB RSS), and only writes need this

    return hashlib.sha256(text.encode()).hexdigest()[:32]


def compile(plan: LogicalPlan, settings: CompileSettings | None = None) -> PhysicalPlan:  # noqa: A001
    """Optimize ``plan`` and lower it to stages: the only way plans reach an executor.

    A ``Write`` root gets a :class:`WriteJob` on the physical plan (its input is what is
    optimized: the write itself is not subject to the rules).

    >>> import thresher as th
    >>> phys = compile(th.from_pydict({"a": [1, 2]}).plan, CompileSettings(optimize=False))
    >>> phys.root.kind, phys.write_job is None
    ('scan', True)
    """
    with gc_paused():
        return _compile(plan, settings)


def _compile(plan: LogicalPlan, settings: CompileSettings | None) -> PhysicalPlan:
    from thresher.planner.optimizer.runner import optimize as run_optimizer

    settings = settings or _DEFAULT_SETTINGS
    disabled = set(settings.disabled_rules) if settings.optimize else {"all"}
    write = plan if isinstance(plan, Write) else None
    body = write.input if write is not None else plan
    result = run_optimizer(body, disabled=disabled, validate=settings.validate)
    optimized: LogicalPlan = result.plan
    job: WriteJob | None = None
    if write is not None:
        optimized = Write(result.plan, write.sink, write.job_id)
        job = WriteJob(
            sink=write.sink,
            job_id=write.job_id or uuid.uuid4().hex,
            resumable=write.job_id is not None,
            plan_fingerprint=plan_fingerprint(result.plan),
            partition_local=partition_local(result.plan),
            checkpoint_location=settings.checkpoint_location,
        )
    physical = plan_physical(optimized)
    physical.write_job = job
    physical.logical = plan
    physical.optimized = optimized
    physical.optimizer = result
    return physical
