"""projection_pushdown: read and compute only the columns something downstream uses.

Before::

    Project [col("a")]
      Project [col("a"), col("url").url.download().image.decode().alias("img")]
        Scan t

After::

    Project [col("a")]
      Project [col("a")]
        Scan t columns=[a]

An unused media column is therefore never downloaded or decoded. Join inputs keep columns whose
names clash with the other side (dropping one would change the suffixes of the output).
"""

from __future__ import annotations

from thresher.datatypes import Field, Schema
from thresher.expressions.expr import Expr
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
)
from thresher.planner.optimizer.rules._util import rule_memo

Req = set[str] | None

#: its output is its own fixpoint: the columns each node keeps are those its (already pruned)
#: parent reads, so pruning the output again asks every node for the same columns (the runner
#: then does not rerun it on its own output; ``optimize(validate=True)`` checks it)
IDEMPOTENT = True

#: it only narrows: scans read fewer columns, projections and aggregations compute fewer of their
#: expressions, a flat map keeps fewer input columns, a union input gets a projection onto the kept
#: columns (the rules declaring QUIET_AFTER_NARROWING that were quiet before it stay quiet)
NARROWS_ONLY = True


def _cols(exprs: tuple[Expr, ...] | list[Expr]) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        out |= e.columns()
    return out


def _union(a: Req, b: set[str]) -> Req:
    return None if a is None else a | b


#: (id of a node, the columns required of it) -> (the node, kept alive so its id is not reused;
#: the pruned node): a subplan shared by several parents is pruned once per distinct demand (and
#: once per optimize() call: see rule_memo)
_Memo = dict[tuple[int, frozenset[str] | None], tuple[LogicalPlan, LogicalPlan]]


def prune(node: LogicalPlan, required: Req) -> LogicalPlan:
    """``node`` computing only the columns in ``required`` (None: all of them) and what they need."""
    return _rec(rule_memo("projection_pushdown"), node, required)


def _rec(memo: _Memo, node: LogicalPlan, required: Req) -> LogicalPlan:
    key = (id(node), None if required is None else frozenset(required))
    hit = memo.get(key)
    if hit is not None:
        return hit[1]
    out = _prune(memo, node, required)
    memo[key] = (node, out)
    return out


def _prune(memo: _Memo, node: LogicalPlan, required: Req) -> LogicalPlan:
    if isinstance(node, ScanSource):
        if required is None:
            return node
        full = node.full_schema().names_view
        keep = [c for c in full if c in required]
        if not keep:
            keep = [node.columns[0] if node.columns else next(iter(full))]
        if node.columns is not None and tuple(keep) == node.columns:
            return node
        if node.columns is None and len(keep) == len(full):
            return node
        return ScanSource(node.source, tuple(keep), node.predicate, node.limit)

    if isinstance(node, Project):
        exprs = node.exprs
        if required is not None:
            from thresher.operators.evaluate import error_column_name, wants_error_column

            # an expression whose `<name>_error` column is used must be kept (it produces it)
            kept = tuple(e for e in exprs if e.output_name() in required
                         or (error_column_name(e.output_name()) in required and wants_error_column(e)))
            exprs = kept or exprs[:1]
        need = _cols(exprs)
        child = _rec(memo, node.input, need)
        if child is node.input and _same_exprs(exprs, node.exprs):
            return node
        return _narrowed(node, child, exprs, need)

    if isinstance(node, Filter):
        return _same(node, _rec(memo, node.input, _union(required, node.predicate.columns())))

    if isinstance(node, Join):
        return _prune_join(memo, node, required)

    if isinstance(node, Sort):
        return _same(node, _rec(memo, node.input, _union(required, _cols(node.by))))

    if isinstance(node, (Limit, Sample)):
        return _same(node, _rec(memo, node.input, required))

    if isinstance(node, Repartition):
        return _same(node, _rec(memo, node.input, _union(required, _cols(node.by))))

    if isinstance(node, WithRowIndex):
        req = None if required is None else required - {node.name}
        return _same(node, _rec(memo, node.input, req))

    if isinstance(node, Explode):
        return _same(node, _rec(memo, node.input, _union(required, set(node.columns))))

    if isinstance(node, Distinct):
        if node.subset is None:
            return _same(node, _rec(memo, node.input, None))
        return _same(node, _rec(memo, node.input, _union(required, set(node.subset))))

    if isinstance(node, Aggregate):
        aggs = node.aggs
        if required is not None:
            aggs = tuple(a for a in aggs if a.output_name() in required) or aggs[:1]
        need = _cols(node.keys) | _cols(aggs)
        child = _rec(memo, node.input, need)
        if child is node.input and _same_exprs(aggs, node.aggs):
            return node
        return _narrowed(node, child, aggs, need)

    if isinstance(node, Dedup):
        need = node.by.columns() | (node.priority.columns() if node.priority is not None else set())
        if node.id_column:
            need.add(node.id_column)
        if node.output == "groups":
            return _same(node, _rec(memo, node.input, need))
        return _same(node, _rec(memo, node.input, _union(required, need)))

    if isinstance(node, Window):
        need = _cols(node.exprs) | _cols(node.partition_by) | _cols(node.order_by)
        return _same(node, _rec(memo, node.input, _union(required, need)))

    if isinstance(node, FlatMap):
        keep_cols: tuple[str, ...] = tuple(node.keep_input if required is None else
                                      (c for c in node.keep_input if c in required))
        child = _rec(memo, node.input, _cols(node.args) | set(keep_cols))
        if child is node.input and keep_cols == tuple(node.keep_input):
            return node
        return FlatMap(child, node.udf, node.args, node.output, keep_cols, node.outer)

    if isinstance(node, Union):
        if required is None:
            kids = tuple(_rec(memo, i, None) for i in node.inputs)
        else:
            # every input must keep the same columns in the same order: each is asked for them (an
            # input asked for none keeps a column of its own choosing, not always the first)
            names = [c for c in node.inputs[0].schema.names if c in required] or node.inputs[0].schema.names[:1]
            kids = tuple(_rec(memo, i, set(names)) for i in node.inputs)
            kids = tuple(k if k.schema.names == names else Project(k, tuple(_col(n) for n in names)) for k in kids)
        if all(a is b for a, b in zip(kids, node.inputs)):
            return node
        return Union(kids)

    # unknown or sink nodes: children must keep everything
    kids = tuple(_rec(memo, c, None) for c in node.children())
    if all(a is b for a, b in zip(kids, node.children())):
        return node
    return node.with_children(kids)


def _narrowed(node: Project | Aggregate, child: LogicalPlan, kept: tuple[Expr, ...], need: set[str]) -> LogicalPlan:
    """``node`` over ``child`` computing ``kept`` (its expressions, or its aggregations, in order:
    a subsequence of them). Where ``child`` gives the columns they read the fields ``node``'s
    input gave, the output fields are ``node``'s own for those expressions: the schema is
    selected, not derived again (re-resolving every kept expression was a third of the rule)."""
    old, new = node.input.schema, child.schema
    for c in need:
        if c not in new:
            break  # the constructor names what is missing
        a, b = old.field(c), new.field(c)
        if a is not b and a != b:
            break
    else:
        fields = node.schema.fields
        keep = {id(e) for e in kept}
        out: list[Field] | None = None
        if len(keep) != len(kept):
            pass  # (an expression object twice: derive)
        elif isinstance(node, Project) and len(fields) == len(node.exprs):  # no `_error` column: one field each
            out = [f for e, f in zip(node.exprs, fields) if id(e) in keep]
            if len(out) != len(kept):
                out = None  # (not a subsequence of them: derive)
        else:
            if isinstance(node, Project):
                from thresher.operators.evaluate import wants_error_column

                owned = [(e, 2 if wants_error_column(e) else 1) for e in node.exprs]  # (its `_error` column)
                out = []
            else:
                owned = [(e, 1) for e in node.aggs]
                out = list(fields[:len(node.keys)])
            at = len(out)
            found = 0
            for e, width in owned:
                if id(e) in keep:
                    out.extend(fields[at:at + width])
                    found += 1
                at += width
            if at != len(fields) or found != len(kept):
                out = None
        if out is not None:
            if isinstance(node, Project):
                return Project.of_checked_fields(Schema(out), input=child, exprs=kept)
            return Aggregate.of_checked_fields(Schema(out), input=child, keys=node.keys, aggs=kept)
    if isinstance(node, Project):
        return Project(child, kept)
    return Aggregate(child, node.keys, kept)


def _prune_join(memo: _Memo, node: Join, required: Req) -> LogicalPlan:
    left_names = set(node.left.schema.names_view)
    right_names = set(node.right.schema.names_view)
    clash = left_names & right_names
    lreq: Req
    rreq: Req
    if node.how in ("semi", "anti"):
        # the output is the left side's columns only: the right side's names never clash
        lreq = None if required is None else (required & left_names) | _cols(node.left_on)
        rreq = _cols(node.right_on)
    elif required is None:
        lreq = None
        rreq = None
    else:
        lreq = (required & left_names) | clash | _cols(node.left_on)
        rreq = {n for n in right_names if n in required or n + node.suffix in required}
        rreq |= clash | _cols(node.right_on)
    left = _rec(memo, node.left, lreq)
    right = _rec(memo, node.right, rreq)
    if left is node.left and right is node.right:
        return node
    return Join(left, right, node.left_on, node.right_on, node.how, node.suffix, node.strategy, node.nulls_equal)


def _same_exprs(a: tuple[Expr, ...], b: tuple[Expr, ...]) -> bool:
    # `==` on expressions builds a comparison: compare by identity/key
    return len(a) == len(b) and all(x is y or x.key() == y.key() for x, y in zip(a, b))


def _col(name: str) -> Expr:
    from thresher.expressions.expr import Column

    return Column(name)


def _same(node: LogicalPlan, child: LogicalPlan) -> LogicalPlan:
    return node if child is node.children()[0] else node.with_children([child])


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    out = prune(plan, None)
    return None if out is plan else out
