"""Shortcuts that make planning cheaper must not change what is planned.

* ``with_children`` keeps a node's schema when the new children have the old children's schemas,
  and derives (and checks) it again otherwise;
* ``gc_paused`` disables the cyclic collector during planning and restores its state after.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

import pytest

import thresher as th
from thresher import col
from thresher.errors import ColumnNotFoundError, ThresherTypeError
from thresher.planner.gc_pause import gc_paused
from thresher.planner.logical import Filter, Join, LogicalPlan, Project, Union
from thresher.planner.physical import compile  # noqa: A004


def _fresh(node: LogicalPlan) -> LogicalPlan:
    """The same node built by its constructor (the schema derived from scratch)."""
    from dataclasses import fields

    return type(node)(**{f.name: getattr(node, f.name) for f in fields(node)})


def test_with_children_keeps_the_schema_of_an_equal_input() -> None:
    a = th.from_pydict({"x": [1, 2], "y": ["a", "b"]}).plan
    b = th.from_pydict({"x": [3], "y": ["c"]}).plan  # another source, the same schema
    node = Project(a, ((col("x") * 2).alias("x2"), col("y")))
    moved = node.with_children([b])
    assert moved.children() == (b,) and moved.schema is node.schema
    assert moved.key() != node.key() and moved.key() == _fresh(moved).key()
    assert moved.schema == _fresh(moved).schema
    for n in (Filter(a, col("x") > 1), Join(a, a, (col("x"),), (col("x"),)), Union((a, a))):
        m = n.with_children([b] * len(n.children()))
        assert m.schema is n.schema and m.schema == _fresh(m).schema and m.children() == (b,) * len(n.children())


def test_with_children_derives_again_when_an_input_schema_changes() -> None:
    a = th.from_pydict({"x": [1, 2], "y": ["a", "b"]}).plan
    wider = th.from_pydict({"x": [1.5], "y": ["c"]}).plan  # x is a double now
    node = Project(a, ((col("x") * 2).alias("x2"), col("y")))
    moved = node.with_children([wider])
    assert str(moved.schema["x2"]) == "double" and str(node.schema["x2"]) == "int64"
    with pytest.raises(ColumnNotFoundError):
        node.with_children([th.from_pydict({"y": ["a"]}).plan])  # x is gone: the check runs again
    f = Filter(a, col("x") > 1)
    with pytest.raises(ThresherTypeError):
        f.with_children([th.from_pydict({"x": [[1]], "y": ["a"]}).plan])  # list > int


def test_filter_over_a_narrowed_input_keeps_its_checks_only_where_its_columns_are_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a filter's schema is its input's; over an input that keeps the fields of the columns its
    # predicate reads (projection pushdown narrowing the scan below) it is not derived again
    a = th.from_pydict({"x": [1, 2], "y": ["a", "b"], "z": [1.0, 2.0]}).plan
    narrow = th.from_pydict({"x": [3], "y": ["c"]}).plan
    f = Filter(a, (col("x") > 1) & (col("y") == "a"))
    monkeypatch.setattr(Filter, "_derive_schema", lambda self: pytest.fail("derived again"))
    m = f.with_children([narrow])
    assert m.schema is narrow.schema and m.children() == (narrow,) and m.predicate is f.predicate
    monkeypatch.undo()
    assert m.schema == _fresh(m).schema and m.key() == _fresh(m).key()
    with pytest.raises(ThresherTypeError):  # x is a list now: checked again
        f.with_children([th.from_pydict({"x": [[1]], "y": ["a"]}).plan])
    with pytest.raises(ColumnNotFoundError):  # y is gone: checked again
        f.with_children([th.from_pydict({"x": [1]}).plan])
    wider = f.with_children([th.from_pydict({"x": [1.5], "y": ["c"]}).plan])  # x is a double: derived
    assert str(wider.schema["x"]) == "double"


def test_gc_paused_restores_the_collector_state() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector the caller disabled stays disabled
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("planning failed")
    assert gc.isenabled()


def test_compile_pauses_the_collector_and_concurrent_plannings_restore_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.planner.optimizer.rules import constant_folding

    df = th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > 1)
    seen: list[bool] = []
    original = constant_folding.apply

    def spy(plan: LogicalPlan) -> LogicalPlan | None:
        seen.append(gc.isenabled())
        return original(plan)

    monkeypatch.setattr(constant_folding, "apply", spy)
    threads = [threading.Thread(target=lambda: compile(df.plan)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    compile(df.plan)
    assert len(seen) >= 5 and not any(seen)
    assert gc.isenabled()


def test_project_of_plain_columns_types_and_checks_as_before() -> None:
    a = th.from_pydict({"x": [1, 2], "y": ["a", None]}).plan
    p = Project(a, (col("y"), col("x").alias("z"), (col("x") + 1).alias("w")))
    x, y = a.schema.field("x"), a.schema.field("y")
    assert [(f.name, f.dtype, f.nullable) for f in p.schema.fields] == [
        ("y", y.dtype, y.nullable), ("z", x.dtype, x.nullable), ("w", (col("x") + 1).resolve(a.schema).dtype, True)]
    with pytest.raises(ColumnNotFoundError):
        Project(a, (col("nope").alias("z"),))
    with pytest.raises(ColumnNotFoundError):
        Project(a, (col("nope"),))


_FOLDS = [0]


def _counting_fold(e):  # type: ignore[no-untyped-def]
    _FOLDS[0] += 1
    return _ORIGINAL_FOLD[0](e)


_ORIGINAL_FOLD: list = []  # type: ignore[type-arg]


def test_a_folded_expression_keeps_its_answer_for_later_plannings(monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher import lit
    from thresher.planner.optimizer.rules import constant_folding

    df = th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > lit(1) + lit(1))
    first = compile(df.plan).optimized.pretty()
    assert "(1 + 1)" not in first and "2" in first  # folded
    _ORIGINAL_FOLD[:] = [constant_folding._fold_node]
    monkeypatch.setattr(constant_folding, "_fold_node", _counting_fold)  # a module-level function too
    df2 = th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > lit(1) + lit(1))
    _FOLDS[0] = 0
    assert compile(df2.plan).optimized.pretty() == first
    n = _FOLDS[0]
    assert n > 0
    assert compile(df2.plan).optimized.pretty() == first
    assert _FOLDS[0] == n  # the same expression objects: nothing folded again


def test_plan_equality_is_key_equality() -> None:
    from thresher.planner.logical import Limit

    t = th.from_pydict({"x": [1, 2], "y": ["a", "b"]})
    u = th.from_pydict({"x": [1, 2], "y": ["a", "b"]})  # another source: plans over it differ
    a = t.filter(col("x") > 1).with_columns((col("x") * 2).alias("z")).plan
    same = t.filter(col("x") > 1).with_columns((col("x") * 2).alias("z")).plan  # built again: equal
    deep = t.filter(col("x") > 2).with_columns((col("x") * 2).alias("z")).plan  # differs at the bottom
    other = u.filter(col("x") > 1).with_columns((col("x") * 2).alias("z")).plan
    j = Join(a, a.with_children([a.children()[0]]), (col("x"),), (col("x"),))
    plans = [a, same, deep, other, j, Join(a, same, (col("x"),), (col("x"),)), Union((a, same)), Union((a, deep)),
             Limit(a, 1), Limit(same, 1), Limit(a, 2)]
    equal = {(i, k): p == q for i, p in enumerate(plans) for k, q in enumerate(plans)}  # before any key is built
    assert any(equal.values()) and not all(equal.values())
    for (i, k), eq in equal.items():
        assert eq == (plans[i].key() == plans[k].key()), (plans[i].pretty(), plans[k].pretty())
    assert equal[(0, 1)] and not equal[(0, 2)] and not equal[(0, 3)] and hash(a) == hash(same)


@contextlib.contextmanager
def _cyclic_garbage() -> Iterator[list[object]]:
    """The objects only the cyclic collector could free, among those the block left behind:
    the collector is off inside the block, then one collection saves all it finds."""
    garbage: list[object] = []
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield garbage
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


def test_optimizing_leaves_no_garbage_cycles() -> None:
    """The optimizer's recursive traversals unlink themselves (planner.memo.unlink): their memo
    tables, which hold every plan version a rule saw, are freed when optimize() ends, not left
    to the cyclic collector."""
    import types

    a = th.from_pydict({"k": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
    b = th.from_pydict({"k": [1, 2], "j": [5, 6]})
    c = th.from_pydict({"j": [5, 6], "w": ["x", "y"]})
    df = (a.join(b, on="k").join(c, on="j").filter((col("v") > 1) & (col("w") == "y"))
          .group_by("w").agg(col("v").sum().alias("s")))
    compile(df.plan)  # imports, registries: whatever a first planning creates once
    with _cyclic_garbage() as garbage:
        physical = compile(df.plan)
        assert physical.stages()
    ours = [o for o in garbage
            if isinstance(o, LogicalPlan)
            or (isinstance(o, types.FunctionType) and o.__module__.startswith("thresher."))]
    assert ours == []


def test_an_optimized_plan_is_freed_without_the_cyclic_collector() -> None:
    """A rewrite memo never holds the node it belongs to (rules._util._UNCHANGED): a plan the
    optimizer saw is no web of self-references, and reference counting frees it."""
    from thresher.expressions.expr import Expr

    a = th.from_pydict({"k": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
    b = th.from_pydict({"k": [1, 2], "j": [5, 6]})
    compile(a.join(b, on="k").filter(col("v") > 1).plan)  # imports, registries
    with _cyclic_garbage() as garbage:
        df = (a.join(b, on="k").filter((col("v") + 0 > 1) & (col("j") * 2 > 3))
              .with_columns((col("v") * 2).alias("w")).group_by("j").agg(col("w").sum().alias("s")))
        physical = compile(df.plan)
        assert physical.optimized is not None
        del df, physical
    ours = [o for o in garbage if isinstance(o, (LogicalPlan, Expr))]
    assert ours == []
