"""Shared helpers for the optimizer tests: run with a rule on/off, count kernel calls, count reads."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

import thresher as th
from thresher.io.memory import InMemorySource
from thresher.operators.kernels import registry
from thresher.planner.logical import LogicalPlan
from thresher.planner.optimizer.runner import optimize
from thresher.planner.physical import plan_physical


def duckdb_over(files: dict[str, Path]) -> Any:
    """A DuckDB connection with one view per table over its Parquet file (the reference side of
    a differential test)."""
    import duckdb

    con = duckdb.connect()
    for t, path in files.items():
        con.execute(f"create view {t} as select * from read_parquet('{path}')")
    return con


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is None, repr(v)) for v in r))


def rounded_rows(table: pa.Table, digits: int, ordered: bool = False) -> list[tuple[Any, ...]]:
    """The rows, floats rounded to ``digits`` and NaN read as NULL, sorted unless ``ordered``: for
    comparing with DuckDB, whose float sums add in another order."""

    def norm(v: object) -> object:
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, digits)
        return v

    rows = [tuple(norm(v) for v in r.values()) for r in table.to_pylist()]
    return rows if ordered else sorted(rows, key=repr)


def optimized(df: th.DataFrame, disabled: tuple[str, ...] = ()) -> Any:
    """The optimized plan (validated after every rule)."""
    return optimize(df.plan, disabled=disabled, validate=True).plan


def fired(df: th.DataFrame) -> list[str]:
    return [f.rule for f in optimize(df.plan, validate=True).log]


def assert_rule_equivalent(df: th.DataFrame, rule: str, ordered: bool = False) -> pa.Table:
    """The rule on, off and the optimizer off all give the same rows; the plan validates."""
    optimized(df)
    on = df.to_arrow()
    try:
        th.set_optimizer(disabled=[rule])
        off = df.to_arrow()
    finally:
        th.set_optimizer(disabled=[])
    raw = df.to_arrow(optimize=False)
    plan_physical(optimized(df))
    for other in (off, raw):
        assert other.schema.names == on.schema.names
        if ordered:
            assert other.to_pylist() == on.to_pylist()
        else:
            assert sorted_rows(other) == sorted_rows(on)
    return on


@contextlib.contextmanager
def count_kernel(*names: str) -> Iterator[dict[str, int]]:
    """Count rows passed to the kernels of ``names`` (wraps the registered kernels)."""
    counts = dict.fromkeys(names, 0)
    saved = {}
    for n in names:
        fn = registry.get_kernel(n)
        assert fn is not None, n
        saved[n] = fn

        def wrapper(args: Any, options: Any, _n: str = n, _fn: Any = fn) -> Any:
            counts[_n] += len(args[0])
            return _fn(args, options)

        registry._KERNELS[n] = wrapper
    try:
        yield counts
    finally:
        registry._KERNELS.update(saved)


class CountingSource(InMemorySource):
    """An in-memory source of many small partitions that counts the partitions read."""

    def __init__(self, table: pa.Table, partition_rows: int = 10) -> None:
        super().__init__(table, partition_rows=partition_rows)
        self.reads = 0

    def partitions(self, columns: Any, predicate: Any) -> list[Any]:
        parts = super().partitions(columns, predicate)
        source = self

        class Counted:
            def __init__(self, p: Any) -> None:
                self._p = p
                self.id = p.id
                self.num_rows = p.num_rows
                self.size_bytes = p.size_bytes

            def read(self, *a: Any, **k: Any) -> Any:
                source.reads += 1
                yield from self._p.read(*a, **k)

        return [Counted(p) for p in parts]


class StubUDF:
    """A minimal row-wise UDF object for UDFCall (th.udf is not in the core yet): the declared
    UDF protocol's members, with the defaults ``@th.udf`` has."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None
    concurrency: int | tuple[int, int] | None = None
    batch_size: int | None = None
    max_retries: int = 0
    on_error: str = "raise"
    cost_per_row: float | None = None
    thread_safe: bool = False
    is_class: bool = False
    is_generator: bool = False

    def __init__(self, fn: Any, dtype: th.DataType, name: str = "stub", cost: str = "model", **resources: Any) -> None:
        self.fn = fn
        self.dtype = dtype
        self.name = name
        self.cost = cost
        self.calls = 0
        for k, v in resources.items():
            setattr(self, k, v)

    @property
    def explain_name(self) -> str:
        return self.name

    def resolve_return_dtype(self, fields: Any) -> th.DataType:
        return self.dtype

    def make_runner(self) -> StubUDF:
        return self

    def shared_service(self, max_replicas: int) -> None:
        return None

    def __call__(self, args: Any, kwargs: Any, out_field: Any) -> pa.Array:
        cols = [a.to_pylist() for a in args]
        self.calls += len(cols[0]) if cols else 0
        return pa.array([self.fn(*vals) for vals in zip(*cols)], type=self.dtype.to_arrow())


def udf_call(udf: StubUDF, *args: Any) -> Any:
    from thresher.expressions.expr import UDFCall

    return UDFCall(udf, tuple(args))


def replaced(node: LogicalPlan, old: LogicalPlan, new: LogicalPlan) -> LogicalPlan:
    """``node`` with the subtree ``old`` (by identity) replaced by ``new``: new objects on the path
    to it, the other subtrees shared (as another rule's rewrite leaves them)."""
    if node is old:
        return new
    kids = node.children()
    return node.with_children([replaced(k, old, new) for k in kids]) if kids else node
