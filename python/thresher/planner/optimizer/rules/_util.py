"""Helpers shared by rules: bottom-up tree rewriting and expression substitution."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from thresher.expressions import cost as _cost
from thresher.expressions.cost import cost_class
from thresher.expressions.expr import Alias, Call, Column, Expr, memo
from thresher.planner.logical import Aggregate, Filter, Join, Limit, LogicalPlan, Project, Sort
from thresher.planner.memo import rule_memo, unlink


def _fn_tag(kind: str, fn: Callable[..., Any]) -> tuple[Any, Any]:
    """A memo tag for traversing with ``fn``: its code and the objects its closure holds (two
    rules can share a helper's code with different functions captured), by identity (hashing a
    code object hashes its bytecode, constants and names: about a microsecond per rule run; the
    second item, kept with the table, holds ``fn`` and so its code: the ids are not reused)."""
    closure = getattr(fn, "__closure__", None)
    code = getattr(fn, "__code__", fn)
    if not closure:  # (most rules' visitors: nothing captured)
        return (kind, id(code), ()), (fn, ())
    cells = tuple(c.cell_contents for c in closure)
    return (kind, id(code), tuple(id(c) for c in cells)), (fn, cells)


def expr_rewriter(fn: Callable[[Expr], Expr | None]) -> Callable[[Expr], Expr]:
    """``lambda e: e.transform(fn)``, with each expression object's answer kept (see
    :func:`rule_memo`): expressions are immutable and ``fn`` must depend on the node only, and
    the nodes the optimizer rebuilds around an expression keep the same expression objects, so
    a rule pass over a rebuilt plan re-walks none of them."""
    if getattr(fn, "__closure__", True) is None and "<locals>" not in getattr(fn, "__qualname__", "<locals>"):
        # a module-level function: a pure function of the expression, whose answer is kept on the
        # expression itself (as its key and type are), for every later optimize() call too
        kept = _KEPT_REWRITERS.get(fn)
        if kept is None:
            kept = _KEPT_REWRITERS[fn] = _kept_rewriter(fn)
        return kept
    tag, keep = _fn_tag("expr_transform", fn)
    holder = rule_memo(("expr_rewriter", tag), keep)
    run: Callable[[Expr], Expr] | None = holder.get("run")
    if run is None:  # one function per scope: a rule's node visitor capturing it keeps its own memo tag
        run = holder["run"] = _expr_rewriter(fn, rule_memo(tag, keep))
    return run


#: module-level function -> its rewriter (the same object every time: node visitors that
#: capture it keep their memo tags, see _fn_tag)
_KEPT_REWRITERS: dict[Callable[[Expr], Expr | None], Callable[[Expr], Expr]] = {}


#: what a node's transform memo holds when the rewrite left the node as it is: the node itself
#: there would make it a reference cycle (its ``__dict__`` holding it), and a plan of such
#: nodes garbage only the cyclic collector frees (TPC-DS q88: 680 of its expressions)
_UNCHANGED = object()


def _kept_rewriter(fn: Callable[[Expr], Expr | None]) -> Callable[[Expr], Expr]:
    slot = f"_memo_transform_{fn.__module__}.{fn.__qualname__}"

    def transform(e: Expr) -> Any:
        out = e.transform(fn)
        return _UNCHANGED if out is e else out

    def run(e: Expr) -> Expr:
        out = memo(e, slot, transform)
        return e if out is _UNCHANGED else out  # type: ignore[no-any-return]

    return run


def _expr_rewriter(fn: Callable[[Expr], Expr | None], done: dict[int, tuple[Expr, Expr]]) -> Callable[[Expr], Expr]:
    def run(e: Expr) -> Expr:
        hit = done.get(id(e))
        if hit is not None:
            return hit[1]
        out = e.transform(fn)
        done[id(e)] = (e, out)  # e is kept alive: its id is not reused
        return out

    return run


def rewrite_bottom_up(plan: LogicalPlan, fn: Callable[[LogicalPlan], LogicalPlan | None],
                      only: tuple[type[LogicalPlan], ...] | None = None) -> LogicalPlan | None:
    """Apply ``fn`` to every node, children first; return the new tree or None if unchanged.

    ``fn`` must depend on the node only (every rule's does): a subplan shared by several parents
    (a CTE used twice, the two sides of a self join) is rewritten once and its result shared,
    so the work follows the plan's distinct nodes, not its size as a tree (TPC-DS q14's 2,039
    tree nodes are 147 objects). Within one optimize() call a node is rewritten once: the
    answer is kept for the later passes (see :func:`rule_memo`).

    ``only``: the node classes at which ``fn`` can return something (it returns None at every
    other node): a subtree without one of them is not walked (see :func:`plan_kinds`), and
    ``fn`` is not called at a node of another class.
    """
    # id -> (the node, kept alive so that its id is not reused; its result)
    done: dict[int, tuple[LogicalPlan, LogicalPlan | None]] = rule_memo(*_fn_tag("bottom_up", fn))

    get = done.get
    hit = get(id(plan))
    if hit is not None:  # (a plan this rule has seen: no walk)
        return hit[1]
    want, kinds, here = _wanted(plan, only)
    if kinds is not None and not here & want:
        return None
    # (with ``only``: every node of ``plan`` has its entry in ``kinds``, made by _wanted, so a
    # child's classes are one lookup; and ``fn`` is called only at a node of a wanted class)
    bits = _KIND_BITS

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        new_kids: list[LogicalPlan] | None = None  # (built only when a child changed)
        kids = node.children()
        for i, k in enumerate(kids):
            hit = get(id(k))  # (a child seen before, without a call: a later pass's new node over old ones)
            if hit is not None:
                nk = hit[1]
            elif kinds is not None and not kinds[id(k)][1] & want:
                nk = None  # nothing there for fn
            else:
                nk = visit(k)
            if nk is not None:
                if new_kids is None:
                    new_kids = list(kids)
                new_kids[i] = nk
        if new_kids is None:
            res = fn(node) if kinds is None or bits[type(node)] & want else None
        else:
            cur = node.with_children(new_kids)
            out = fn(cur) if kinds is None or bits[type(cur)] & want else None
            res = cur if out is None else out
        done[id(node)] = (node, res)
        return res

    try:
        return visit(plan)
    finally:
        unlink(visit)  # see planner/memo.py


def rewrite_top_down(plan: LogicalPlan, fn: Callable[[LogicalPlan], LogicalPlan | None],
                     only: tuple[type[LogicalPlan], ...] | None = None) -> LogicalPlan | None:
    """Apply ``fn`` at a node first (repeatedly while it fires), then to its children.

    Shared subplans are rewritten once (see :func:`rewrite_bottom_up`), and within one
    optimize() call a node is rewritten once (see :func:`rule_memo`). ``only``: as for
    :func:`rewrite_bottom_up`."""
    done: dict[int, tuple[LogicalPlan, LogicalPlan | None]] = rule_memo(*_fn_tag("top_down", fn))

    get = done.get
    hit = get(id(plan))
    if hit is not None:  # (a plan this rule has seen: no walk)
        return hit[1]
    want, kinds, here = _wanted(plan, only)
    if kinds is not None and not here & want:
        return None

    bits = _KIND_BITS  # (see rewrite_bottom_up)

    def visit(start: LogicalPlan) -> LogicalPlan | None:
        node = start
        out = fn(node) if kinds is None or bits[type(node)] & want else None
        changed = out is not None
        if out is not None:  # at most 64 applications in a row
            node = out
            for _ in range(63):
                out = fn(node)
                if out is None:
                    break
                node = out
        new_kids: list[LogicalPlan] | None = None  # (built only when a child changed)
        kids = node.children()
        for i, k in enumerate(kids):
            hit = get(id(k))  # (see rewrite_bottom_up)
            if hit is not None:
                nk = hit[1]
            elif kinds is not None and not ((h[1] if (h := kinds.get(id(k))) is not None else kinds_of(k, kinds))
                                            & want):
                nk = None  # (a child of a node fn made may be new: kinds_of)
            else:
                nk = visit(k)
            if nk is not None:
                if new_kids is None:
                    new_kids = list(kids)
                new_kids[i] = nk
        if new_kids is not None:
            node = node.with_children(new_kids)
            changed = True
        res = node if changed else None
        done[id(start)] = (start, res)
        return res

    try:
        return visit(plan)
    finally:
        unlink(visit)  # see planner/memo.py


#: plan node class -> its bit in the masks of :func:`plan_kinds`
_KIND_BITS: dict[type, int] = {}
#: (node classes, how many classes had bits then) -> the mask of every class with a bit that is one of them
_MASKS: dict[tuple[tuple[type, ...], int], int] = {}

_Kinds = dict[int, tuple[LogicalPlan, int]]


def kinds_mask(classes: tuple[type[LogicalPlan] | type[Shape], ...]) -> int:
    """The bits (see :func:`plan_kinds`) of the node classes (and shapes) that are one of
    ``classes`` (or a subclass): ``plan_kinds(plan) & kinds_mask((Join,))`` says whether ``plan``
    has a join, ``plan_kinds(plan) & kinds_mask((SemiJoin,))`` whether it has a semi join."""
    key = (classes, len(_KIND_BITS))
    mask = _MASKS.get(key)
    if mask is None:
        with _REGISTERING:
            _register(LogicalPlan)
            _register(Shape)
            mask = _MASKS[(classes, len(_KIND_BITS))] = sum(
                bit for cls, bit in _KIND_BITS.items() if issubclass(cls, classes))
    return mask


#: (plannings in several threads: two classes never get the same bit)
_REGISTERING = threading.Lock()


def _register(cls: type) -> None:
    """Give ``cls`` and every subclass of it a bit (all plan node classes at once: a mask made
    for ``only`` then holds every class that exists, so no node of a class it should match is
    skipped; the same for the shapes)."""
    if cls not in _KIND_BITS:
        _KIND_BITS[cls] = 1 << len(_KIND_BITS)
        if issubclass(cls, Shape):
            _OWN.clear()  # (a shape defined since: each class's shapes are looked up again)
    sub: type
    for sub in cls.__subclasses__():
        _register(sub)


def _bit(cls: type) -> int:
    with _REGISTERING:
        _register(LogicalPlan)  # (a class not seen yet: every class defined since)
        _register(Shape)
    return _KIND_BITS[cls]


class Shape:
    """A shape of plan node finer than its class (a filter directly over a filter, a semi join),
    with its own bit in the masks of :func:`plan_kinds`, set at every node that has it: a rule
    that can only change a plan with such a node says so in the runner's ``NEEDS_KINDS``, and a
    plan without one skips it without a call (the node classes alone let TPC-H's plans, which
    all have filters, projections and joins, skip almost nothing). Not a plan node class: not
    for ``only=`` (the walkers call ``fn`` at the nodes of the classes ``only`` names). Each
    subclass names the node class it is a shape of (``of``) and tests a node of it (``test``,
    a function of the node and its children's classes and fields, asked once per node object
    per optimize() call)."""

    of: type[LogicalPlan] = LogicalPlan

    @staticmethod
    def test(node: Any) -> bool:
        raise NotImplementedError


#: node class -> its bit, or its bit and the function giving the bits of the shapes a node of it
#: has: see :func:`_own_bits`
_OWN: dict[type, int | tuple[int, Callable[[Any], int]]] = {}


def _own_bits(node: LogicalPlan) -> int:
    """The bits of ``node`` itself: its class's and those of the shapes it has."""
    own = _OWN.get(type(node))
    if own is None:
        own = _own_entry(type(node))
    if type(own) is int:
        return own
    bits, shapes = own  # type: ignore[misc]
    return bits | shapes(node)  # type: ignore[no-any-return]


def _own_entry(cls: type) -> int | tuple[int, Callable[[Any], int]]:
    bit = _KIND_BITS.get(cls) or _bit(cls)
    with _REGISTERING:
        _register(Shape)
        shapes = {s: b for s, b in _KIND_BITS.items()
                  if issubclass(s, Shape) and s is not Shape and issubclass(cls, s.of)}
    entry: int | tuple[int, Callable[[Any], int]] = bit
    if shapes:
        combined = _COMBINED_SHAPES.get(frozenset(shapes))
        entry = (bit, combined(shapes) if combined is not None else _each_shape(tuple((b, s.test) for s, b in shapes.items())))
    _OWN[cls] = entry
    return entry


def _each_shape(tests: tuple[tuple[int, Callable[[Any], bool]], ...]) -> Callable[[Any], int]:
    """The bits of the shapes a node has, asking each shape's ``test`` (see :data:`_COMBINED_SHAPES`)."""
    def bits(node: Any) -> int:
        out = 0
        for bit, test in tests:
            if test(node):
                out |= bit
        return out

    return bits


def _under(node: LogicalPlan) -> LogicalPlan:
    """``node``'s input when it is a filter or a projection (what join_order's regions and
    eager_aggregation look through), else ``node``."""
    return node.input if isinstance(node, (Filter, Project)) else node


class FilterOverFilter(Shape):
    """A filter directly over a filter (merge_filters merges them)."""

    of = Filter

    @staticmethod
    def test(node: Filter) -> bool:
        return isinstance(node.input, Filter)


class ProjectOverProject(Shape):
    """A projection directly over a projection (projection_merge merges them)."""

    of = Project

    @staticmethod
    def test(node: Project) -> bool:
        return isinstance(node.input, Project)


class SemiJoin(Shape):
    """A semi or anti join."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        return node.how in ("semi", "anti")


class InnerOverInner(Shape):
    """An inner join whose left input is an inner join (join_reorder swaps such a pair)."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        left = node.left
        return node.how == "inner" and isinstance(left, Join) and left.how == "inner"


class JoinChain(Shape):
    """An inner or cross join with a join as an input, directly or under one filter or
    projection: a region of join_order with three leaves or more has one."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        return node.how in ("inner", "cross") and (isinstance(_under(node.left), Join)
                                                   or isinstance(_under(node.right), Join))


class AggregateOverJoin(Shape):
    """A group-by with keys and aggregations over an inner join on keys or a left join, directly or
    under one projection (eager_aggregation's place: it leaves every other group-by over a join,
    one over a semi or anti join included, as it is: TPC-H q16, q22)."""

    of = Aggregate

    @staticmethod
    def test(node: Aggregate) -> bool:
        below = node.input
        return _eager_place(node, below.input if isinstance(below, Project) else below)


def _eager_place(node: Aggregate, below: LogicalPlan) -> bool:
    """``below``, under ``node`` (directly or under one projection), is a join eager_aggregation
    starts from: an inner join on keys or a left join on keys, under a group-by with both."""
    if not (isinstance(below, Join) and node.keys and node.aggs):
        return False
    return bool(below.left_on) if below.how == "inner" else below.how == "left" and bool(below.right_on)


class ConjunctionFilter(Shape):
    """A filter whose predicate is a conjunction (``and``, as ``split_conjunction`` splits it): the
    filters cheap_predicate_first orders the terms of (it leaves a one-term filter as it is)."""

    of = Filter

    @staticmethod
    def test(node: Filter) -> bool:
        pred = node.predicate
        return isinstance(pred, Call) and pred.name == "and"


def _grouped(side: LogicalPlan) -> bool:
    """``side`` is ``[Project | Filter]* Aggregate`` with keys."""
    while isinstance(side, (Project, Filter)):
        side = side.input
    return isinstance(side, Aggregate) and bool(side.keys)


class JoinOnGroupBy(Shape):
    """An inner, left, semi or anti join with a group-by (with keys, under projections and
    filters) as an input: what aggregate_to_window, semi_join_reduction and one of
    semi_join_from_exists's rewrites start from."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        return node.how in ("inner", "left", "semi", "anti") and (_grouped(node.right) or _grouped(node.left))


def _one_row(side: LogicalPlan) -> bool:
    """``side`` is a group-by without keys or a limit of one row, under row-wise nodes."""
    while isinstance(side, (Project, Filter, Sort, Limit)):
        if isinstance(side, Limit) and side.n <= 1:
            return True
        side = side.children()[0]
    return isinstance(side, Aggregate) and not side.keys


class OneRowSideJoin(Shape):
    """An inner join one input of which has at most one row (semi_join_from_exists makes it a
    semi join)."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        return node.how == "inner" and (_one_row(node.right) or _one_row(node.left))


def _key_set_side(side: LogicalPlan) -> bool:
    """``side`` is, under projections, a filter over a join or an inner join on keys: the two
    shapes of a semi join's right side that semi_join_key_set computes as a set of keys."""
    while isinstance(side, Project):
        side = side.input
    if isinstance(side, Filter):
        return isinstance(side.input, Join)
    return isinstance(side, Join) and side.how == "inner" and bool(side.left_on)


class KeySetSemiJoin(Shape):
    """A semi or anti join on keys whose right side semi_join_key_set can compute as a set of keys
    (see :func:`_key_set_side`): most semi joins' right sides are a filtered scan (TPC-H q16, q22)."""

    of = Join

    @staticmethod
    def test(node: Join) -> bool:
        return node.how in ("semi", "anti") and bool(node.right_on) and _key_set_side(node.right)


class FilterOverLeftJoin(Shape):
    """A filter directly over a left join (semi_join_from_exists's decorrelated EXISTS/IN)."""

    of = Filter

    @staticmethod
    def test(node: Filter) -> bool:
        below = node.input
        return isinstance(below, Join) and below.how == "left"


def _join_shapes(bits: dict[type, int]) -> Callable[[Any], int]:
    """The bits of the join shapes above (SemiJoin, InnerOverInner, JoinChain, JoinOnGroupBy,
    OneRowSideJoin, KeySetSemiJoin) a join has, in one call: their tests, each a call of its own (with their
    helpers, ~11 calls per join), were two thirds of :func:`plan_kinds`' time on TPC-H plans.
    Gives exactly what the tests give (``test_combined_shapes_are_the_tests``)."""
    semi, ioi, chain = bits[SemiJoin], bits[InnerOverInner], bits[JoinChain]
    grouped, one_row, key_set = bits[JoinOnGroupBy], bits[OneRowSideJoin], bits[KeySetSemiJoin]
    under = (Filter, Project)

    def join_bits(node: Join) -> int:
        how = node.how
        left, right = node.left, node.right
        if how == "inner":
            out = ioi if isinstance(left, Join) and left.how == "inner" else 0
            if (isinstance(left.input if isinstance(left, under) else left, Join)  # type: ignore[attr-defined]
                    or isinstance(right.input if isinstance(right, under) else right, Join)):  # type: ignore[attr-defined]
                out |= chain
            if _grouped(right) or _grouped(left):
                out |= grouped
            if _one_row(right) or _one_row(left):
                out |= one_row
            return out
        if how == "semi" or how == "anti":
            out = semi | grouped if _grouped(right) or _grouped(left) else semi
            return out | key_set if node.right_on and _key_set_side(right) else out
        if how == "left":
            return grouped if _grouped(right) or _grouped(left) else 0
        if how == "cross" and (isinstance(left.input if isinstance(left, under) else left, Join)  # type: ignore[attr-defined]
                               or isinstance(right.input if isinstance(right, under) else right, Join)):  # type: ignore[attr-defined]
            return chain
        return 0

    return join_bits


def _filter_shapes(bits: dict[type, int]) -> Callable[[Any], int]:
    """The bits of FilterOverFilter, FilterOverLeftJoin and ConjunctionFilter a filter has, in one call."""
    over_filter, over_left, conj = bits[FilterOverFilter], bits[FilterOverLeftJoin], bits[ConjunctionFilter]

    def filter_bits(node: Filter) -> int:
        below = node.input
        pred = node.predicate
        out = conj if isinstance(pred, Call) and pred.name == "and" else 0
        if isinstance(below, Filter):
            return out | over_filter
        return out | over_left if isinstance(below, Join) and below.how == "left" else out

    return filter_bits


def _project_shapes(bits: dict[type, int]) -> Callable[[Any], int]:
    """The bit of ProjectOverProject if a projection has it, in one call."""
    over_project = bits[ProjectOverProject]

    def project_bits(node: Project) -> int:
        return over_project if isinstance(node.input, Project) else 0

    return project_bits


def _aggregate_shapes(bits: dict[type, int]) -> Callable[[Any], int]:
    """The bit of AggregateOverJoin if a group-by has it, in one call."""
    over_join = bits[AggregateOverJoin]

    def aggregate_bits(node: Aggregate) -> int:
        below = node.input
        return over_join if _eager_place(node, below.input if isinstance(below, Project) else below) else 0

    return aggregate_bits


#: the set of shapes of a node class -> what makes the function giving the bits of those a node
#: has, in one call (see :func:`_join_shapes`); any other set (a shape defined elsewhere) asks
#: each shape's test (:func:`_each_shape`)
_COMBINED_SHAPES: dict[frozenset[type], Callable[[dict[type, int]], Callable[[Any], int]]] = {
    frozenset({SemiJoin, InnerOverInner, JoinChain, JoinOnGroupBy, OneRowSideJoin, KeySetSemiJoin}): _join_shapes,
    frozenset({FilterOverFilter, FilterOverLeftJoin, ConjunctionFilter}): _filter_shapes,
    frozenset({ProjectOverProject}): _project_shapes,
    frozenset({AggregateOverJoin}): _aggregate_shapes,
}


def plan_kinds(plan: LogicalPlan) -> int:
    """The node classes in ``plan``, as a mask of their bits (see :func:`kinds_mask`): once per
    node object per optimize() call (see :func:`rule_memo`), for every rule that asks, so a
    rule that rewrites only some kinds of node skips the subtrees without one (the join rules
    skip the inputs of a join tree, a limit or a group-by is at the top of a plan or nowhere)."""
    return kinds_of(plan, rule_memo("plan_kinds"))


def _wanted(plan: LogicalPlan, only: tuple[type[LogicalPlan], ...] | None) -> tuple[int, _Kinds | None, int]:
    """The mask of ``only``, the table of :func:`plan_kinds` (None: no ``only``) and ``plan``'s
    own mask in it (0: no ``only``)."""
    if only is None:
        return 0, None, 0
    kinds: _Kinds = rule_memo("plan_kinds")
    here = kinds_of(plan, kinds)  # (first: every class in the plan has its bit)
    return kinds_mask(only), kinds, here


def kinds_of(node: LogicalPlan, kinds: _Kinds) -> int:
    """:func:`plan_kinds` with its memo table."""
    hit = kinds.get(id(node))
    if hit is not None:
        return hit[1]
    get = kinds.get
    own_of = _OWN.get

    def visit(n: LogicalPlan) -> int:
        own = own_of(type(n))  # (_own_bits, inlined: once per node of every plan)
        if own is None:
            own = _own_entry(type(n))
        if type(own) is int:
            out: int = own  # type: ignore[assignment]
        else:
            out, shapes = own  # type: ignore[misc]
            out |= shapes(n)
        for c in n.children():
            h = get(id(c))
            out |= visit(c) if h is None else h[1]
        kinds[id(n)] = (n, out)  # (n kept alive: its id is not reused)
        return out

    try:
        return visit(node)
    finally:
        unlink(visit)  # see planner/memo.py


def plan_has(plan: LogicalPlan, test: Callable[[LogicalPlan], bool],
             only: tuple[type[LogicalPlan], ...] | None = None) -> bool:
    """Whether some node of ``plan`` passes ``test`` (a module-level function of the node only):
    a rule that can only fire where such a node is (a semi join, a call of ``image.resize``)
    asks first, instead of walking the plan to find nothing. Each node object is asked once per
    optimize() call (see :func:`rule_memo`), so a pass over a partly rebuilt plan visits only
    the new nodes. ``only``: the node classes at which ``test`` can pass (it is False at every
    other node, and not called there): a subtree without one of them is not walked (see
    :func:`plan_kinds`)."""
    memo: dict[int, tuple[LogicalPlan, bool]] = rule_memo(*_fn_tag("plan_has", test))

    get = memo.get
    hit = get(id(plan))
    if hit is not None:
        return hit[1]
    want, kinds, here = _wanted(plan, only)
    if kinds is not None and not here & want:
        return False
    bits = _KIND_BITS  # (with ``only``: every node of ``plan`` has its entry in ``kinds``, see _wanted)

    def visit(node: LogicalPlan) -> bool:
        out = test(node) if kinds is None or bits[type(node)] & want else False
        if not out:
            for c in node.children():
                hit = get(id(c))  # (see rewrite_bottom_up)
                if hit is not None:
                    found = hit[1]
                elif kinds is not None and not kinds[id(c)][1] & want:
                    continue  # nothing there for test
                else:
                    found = visit(c)
                if found:
                    out = True
                    break
        memo[id(node)] = (node, out)
        return out
    try:
        return visit(plan)
    finally:
        unlink(visit)  # see planner/memo.py


def plan_calls(plan: LogicalPlan) -> frozenset[str]:
    """The names of the functions called anywhere in ``plan``'s expressions that are not
    ``scalar`` (see :mod:`thresher.expressions.cost`), with the names of every call in those
    expressions: the rules that fuse media calls (decode, resize, encode) ask first (see
    :func:`plan_facts`). A plan of scalar expressions gives no names: its expressions are not
    walked for them (a relational plan's were most of what this cost)."""
    return plan_facts(plan)[0]


def plan_is_expensive(plan: LogicalPlan) -> bool:
    """Whether an expression of ``plan`` costs more than ``scalar`` (a decode, an IO read, a
    model, a UDF with such a hint): rules about expensive work only ask first (relational plans
    have none; see :func:`plan_facts`)."""
    return plan_facts(plan)[1]


def plan_facts(plan: LogicalPlan) -> tuple[frozenset[str], bool]:
    """:func:`plan_calls` and :func:`plan_is_expensive` in one walk (see :func:`plan_has`: each
    node object once per optimize() call, so a pass over a partly rebuilt plan visits only the
    new nodes). Nothing without a walk while no expression in the process costs more than
    ``scalar`` (see ``cost.NOT_SCALAR_BUILT``: a non-scalar expression is what both look for)."""
    if not _cost.NOT_SCALAR_BUILT:
        return _NO_FACTS
    memo: dict[int, tuple[LogicalPlan, tuple[frozenset[str], bool]]] = rule_memo("plan_facts")

    get = memo.get
    hit = get(id(plan))
    if hit is not None:
        return hit[1]

    def visit(node: LogicalPlan) -> tuple[frozenset[str], bool]:
        calls, expensive = _node_facts(node)
        for c in node.children():
            hit = get(id(c))  # (see rewrite_bottom_up)
            kc, ke = visit(c) if hit is None else hit[1]
            if kc:
                calls = calls | kc
            expensive = expensive or ke
        out = (calls, expensive)
        memo[id(node)] = (node, out)
        return out
    try:
        return visit(plan)
    finally:
        unlink(visit)  # see planner/memo.py


_NO_CALLS: frozenset[str] = frozenset()
_NO_FACTS: tuple[frozenset[str], bool] = (_NO_CALLS, False)

#: field annotations that never hold an expression (the inputs, names, flags, sources...)
_NOT_EXPR_FIELDS = frozenset({
    "LogicalPlan", "tuple[LogicalPlan, ...]", "str", "int", "bool", "float", "int | None", "str | None",
    "tuple[str, ...]", "tuple[str, ...] | None", "tuple[bool, ...]", "Source", "Sink", "Schema",
    "Predicate | None", "GeneratorUDFProtocol", "WindowFrame | None",
})
_EXPR_FIELDS: dict[type, tuple[str, ...]] = {}


def _expr_fields(cls: type) -> tuple[str, ...]:
    """The fields of plan node class ``cls`` that may hold expressions (every field whose
    annotation is not a known other type)."""
    names = _EXPR_FIELDS.get(cls)
    if names is None:
        names = _EXPR_FIELDS[cls] = tuple(
            f.name for f in fields(cls) if not (isinstance(f.type, str) and f.type in _NOT_EXPR_FIELDS))
    return names


def _node_facts(node: LogicalPlan) -> tuple[frozenset[str], bool]:
    """The functions ``node``'s own expressions call, and whether one of them is not scalar."""
    calls = _NO_CALLS
    expensive = False
    for name in _expr_fields(type(node)):
        v = getattr(node, name)
        for x in (v if isinstance(v, tuple) else (v,)):
            # (only an expression that is not scalar can call a function that is not: the
            # names of a scalar one's calls are not collected, see plan_calls)
            if isinstance(x, Expr) and cost_class(x) != "scalar":
                expensive = True
                k = call_names(x)
                if k:
                    calls = calls | k
    return calls, expensive


def call_names(e: Expr) -> frozenset[str]:
    """The names of the functions ``e`` calls (``Call`` nodes), once per expression object."""
    return memo(e, "_memo_call_names", _call_names)  # type: ignore[no-any-return]


def _call_names(e: Expr) -> frozenset[str]:
    out = frozenset((e.name,)) if isinstance(e, Call) else _NO_CALLS
    for c in e.children():
        k = call_names(c)
        if k:
            out = out | k
    return out


def substitute(expr: Expr, mapping: Mapping[str, Expr], keep_name: bool = False) -> Expr:
    """Replace column references by the expressions that produce them (aliases stripped)."""

    def fn(e: Expr) -> Expr | None:
        if isinstance(e, Column) and e.name in mapping:
            target = mapping[e.name]
            while isinstance(target, Alias):
                target = target.child
            return target
        return None

    out = expr.transform(fn)
    # keep the output name stable
    if keep_name and not isinstance(out, Alias) and out.output_name() != expr.output_name():
        out = Alias(out, expr.output_name())
    return out
