"""Expressions with a length of their own (:class:`~thresher.expressions.expr.SeqOp`: Polars'
``col("x").unique()``, ``.sort()``, ``.head(n)``, ``.top_k(k)``, ``.value_counts()``, ...) planned
out of frame operations.

In ``select``, each such column is a frame of its own: the argument selected, then the frame
operation (``unique``, ``sort``, ``limit``, a ``group_by`` for the counts), then what the
expression does with the result (``col("x").unique().len()``: a select over that frame). The
columns are put side by side by their row numbers (a join on ``with_row_index``), and aggregates
are broadcast to every row (a cross join with their one row), as Polars does. Where Polars could
only tell at run time whether the lengths agree (a ``unique`` next to a per-row column), the plan
is refused when built, naming the expression.

In ``group_by().agg()``, the operation runs on each group's list of values (``list.unique``,
``list.sort``, ``list.head``, ...), which is what Polars' group context gives.

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"x": ["b", "a", "b", None], "v": [1, 2, 3, 4]})
>>> df.select(th.col("x").value_counts(sort=True)).unnest("x").rows()
[('b', 2), ('a', 1), (None, 1)]
>>> df.select(th.col("x").unique().len(), th.col("v").sum()).rows()
[(3, 10)]
>>> df.select(th.col("v").sort(descending=True), "x").rows()
[(4, 'b'), (3, 'a'), (2, 'b'), (1, None)]
>>> df.group_by("x", maintain_order=True).agg(th.col("v").top_k(1)).rows()
[('b', [3]), ('a', [2]), (None, [4])]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from thresher.datatypes import DataType
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import (
    SEQ_KEEPS_LENGTH,
    AggCall,
    Alias,
    Call,
    CountStar,
    Expr,
    SeqOp,
    col,
    strip_alias,
)
from thresher.expressions.window import Over, is_scalar_result

if TYPE_CHECKING:
    from thresher.dataframe import DataFrame, GroupBy

_VAL = "__thresher_seq_value"
_CNT = "__thresher_seq_count"
_IDX = "__thresher_seq_row"

#: how a column of a select relates to the frame's rows
_SCALAR, _KEEP, _CHANGE = "one value", "one value per row", "a length of its own"


def has_seq(e: Expr) -> bool:
    """Whether ``e`` holds a :class:`SeqOp` anywhere (a loop, not a recursion: every select and
    agg asks it of its expressions, and building a plan counts its Python calls)."""
    stack = [e]
    while stack:
        x = stack.pop()
        if x.__class__ is SeqOp:
            return True
        if not x._LEAF:
            stack.extend(x.children())
    return False


def _outermost(e: Expr) -> list[SeqOp]:
    out: list[SeqOp] = []
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, SeqOp):
            out.append(x)
            continue
        stack.extend(x.children())
    return out


def _is_scalar(e: Expr) -> bool:
    """One value: aggregates only, or a constant (Polars broadcasts both)."""
    return is_scalar_result(e) or not e.columns()


def _over_of_seq(x: Expr) -> Expr | None:
    """An ``over`` (``"group_to_rows"`` / ``"join"``) of an expression holding a SeqOp, as a
    per-row expression: the group's list of values (``agg_list`` over the same window), the list
    operations applied to it; ``"group_to_rows"`` (length-keeping operations only) takes the
    element at the row's place in its group (in ``order_by`` order), as Polars maps it back."""
    if not isinstance(x, Over) or not has_seq(x.child):
        return None
    inner = strip_alias(x.child)
    if not isinstance(inner, SeqOp) or inner.op == "over_explode":
        raise ThresherTypeError(f"{x!r}: over() takes an expression of its own length only as its whole argument "
                                "(col('x').sort().over('k')), not inside another")
    leaf, ops = _chain(inner)

    def window(e: Expr) -> Expr:
        return Over(e, x.partition_by, x.order_by, x.descending, x.nulls_last)

    out: Expr = window(AggCall("agg_list", leaf))
    for s in ops:
        out = _list_op(s, out)
    if x.mapping_strategy == "join":
        return out.alias(x.output_name())
    changing = [s for s in ops if s.op not in SEQ_KEEPS_LENGTH]
    if changing:
        raise ThresherTypeError(
            f"{x!r}: {changing[0].op}() changes each group's length, which over() maps back to the rows only with "
            "mapping_strategy='join' (each row gets its group's list) or 'explode' (the groups' values one after "
            "another); Polars fails when it runs")
    key = x.partition_by[0] if x.partition_by else x.order_by[0]
    place = window(Call("is_null", (key,)).cum_count()) - 1
    return out.list.get(place).alias(x.output_name())


def select(df: DataFrame, exprs: Sequence[Expr]) -> DataFrame:
    """``df.select(*exprs)`` where some of ``exprs`` hold a :class:`SeqOp`."""
    exprs = [e.transform(_over_of_seq) if any(isinstance(x, Over) for x in e.walk()) else e for e in exprs]
    if not any(has_seq(e) for e in exprs):
        return df.select(*exprs)
    names = [e.output_name() for e in exprs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ThresherTypeError(f"select: the column name {dup!r} is given twice")
    rows: list[tuple[Expr, DataFrame, str]] = []  # (expression, its frame, its length)
    plain: list[Expr] = []
    scalars: list[Expr] = []
    for e in exprs:
        if not has_seq(e):
            (scalars if _is_scalar(e) else plain).append(e)
            continue
        frame, kind = _column(df, e)
        rows.append((e, frame, kind))
    changing = [e for e, _, kind in rows if kind == _CHANGE]
    per_row = plain + [e for e, _, kind in rows if kind == _KEEP]
    if changing and (len(changing) > 1 or per_row):
        other = (changing[1:] + per_row)[0]
        raise ThresherTypeError(
            f"select: {changing[0]!r} has {_CHANGE}, and {other!r} next to it has "
            f"{_KEEP if other in per_row else _CHANGE}: Polars requires equal lengths and only finds out "
            f"when it runs; Thresher refuses it (select them separately, or aggregate one)")
    frames = ([df.select(*plain)] if plain else []) + [f for _, f, kind in rows if kind != _SCALAR]
    ones = ([df.select(*scalars)] if scalars else []) + [f for _, f, kind in rows if kind == _SCALAR]
    if not frames:  # every column one value: one row
        out = ones[0]
        for one in ones[1:]:
            out = out.join(one, how="cross")
        return out.select(*names)
    out = frames[0]
    if len(frames) > 1 or ones:
        out = out.with_row_index(_IDX)
        for f in frames[1:]:
            out = out.join(f.with_row_index(_IDX), on=_IDX, how="inner")
        for one in ones:
            out = out.join(one, how="cross")
        out = out.sort(_IDX)
    return out.select(*names)


def _column(df: DataFrame, e: Expr) -> tuple[DataFrame, str]:
    """The frame of ``e``'s one column (named as ``e``), and how its length relates to ``df``'s."""
    tops = _outermost(e)
    if len({t.key() for t in tops}) > 1:
        raise ThresherTypeError(f"select: {e!r} combines {tops[0]!r} and {tops[1]!r}, each of "
                                f"{_CHANGE}: compute them in separate selects")
    seq = tops[0]
    frame, kind = _apply(df, seq)
    key = seq.key()
    outer = e.transform(lambda x: col(_VAL) if isinstance(x, SeqOp) and x.key() == key else None)
    extra = outer.columns() - {_VAL}
    if any(isinstance(x, Over) for x in outer.walk()):
        raise ThresherTypeError(f"select: {e!r}: over() of {seq!r}, which has {_CHANGE}, is not supported "
                                f"(sort or cut each group first: group_by().agg() gives each group's list)")
    if extra:
        raise ThresherTypeError(f"select: {e!r} reads {sorted(extra)} next to {seq!r}, which has {_CHANGE}: "
                                f"Thresher does not line them up (select {seq!r} on its own)")
    name = e.output_name()
    if _is_scalar(outer):
        kind = _SCALAR
    return frame.select(strip_alias(outer).alias(name)), kind


def _inner(df: DataFrame, child: Expr) -> tuple[DataFrame, str]:
    """``child`` as the one column ``_VAL`` of a frame, and its length."""
    if has_seq(child):
        return _column(df, Alias(child, _VAL))
    return df.select(child.alias(_VAL)), (_SCALAR if _is_scalar(child) else _KEEP)


def _apply(df: DataFrame, s: SeqOp) -> tuple[DataFrame, str]:
    """The frame of ``s``'s values in the column ``_VAL``, and its length."""
    if s.op == "over_explode":  # (expr.over(keys, mapping_strategy="explode"))
        groups = df.group_by(*s.option("partition_by"), maintain_order=True)
        if _is_scalar(s.child):  # (an aggregate: one value per group)
            return groups.agg(s.child.alias(_VAL)).select(_VAL), _CHANGE
        if has_seq(s.child):
            lists = agg(groups, [s.child.alias(_VAL)])
        else:  # (per-row values: the group's, in row order)
            lists = groups.agg(AggCall("agg_list", s.child).alias(_VAL))
        return lists.select(_VAL).explode(_VAL), _CHANGE  # (an empty group result: a NULL row, as Polars)
    if s.op == "sort_by":  # (the keys sorted next to the values, in the frame's rows)
        if has_seq(s.child) or any(has_seq(b) for b in s.option("by")):
            raise ThresherTypeError(f"{s!r}: sort_by of an expression of its own length is not supported")
        names = [f"{_VAL}_by{i}" for i in range(len(s.option("by")))]
        keyed = df.select(s.child.alias(_VAL), *(b.alias(n) for b, n in zip(s.option("by"), names, strict=True)))
        out = keyed.sort(names, descending=list(s.option("descending")),
                         nulls_last=list(s.option("nulls_last"))).select(_VAL)
        return out, (_SCALAR if _is_scalar(s.child) else _KEEP)
    inner, kind = _inner(df, s.child)
    o = s.option
    op = s.op
    if op == "unique":
        out = inner.unique(maintain_order=bool(o("maintain_order")))
    elif op == "sort":
        out = inner.sort(_VAL, descending=bool(o("descending")), nulls_last=bool(o("nulls_last")))
    elif op == "head":
        out = inner.head(o("n"))
    elif op == "tail":
        out = inner.tail(o("n"))
    elif op == "slice":
        out = inner.slice(o("offset"), o("length"))
    elif op == "reverse":
        out = inner.reverse()
    elif op == "drop_nulls":
        out = inner.drop_nulls()
    elif op == "drop_nans":
        out = inner.drop_nans() if inner.schema.field(_VAL).dtype.is_float() else inner
    elif op in ("top_k", "bottom_k"):
        out = inner.sort(_VAL, descending=op == "top_k", nulls_last=True).head(o("k"))
    elif op == "gather_every":
        out = inner.gather_every(o("n"), o("offset"))
    elif op in ("value_counts", "unique_counts", "mode"):
        counts = inner.group_by(_VAL, maintain_order=True).agg(CountStar().alias(_CNT))
        if op == "unique_counts":
            out = counts.select(col(_CNT).alias(_VAL))
        elif op == "mode":
            out = counts.filter(col(_CNT) == col(_CNT).max()).select(_VAL)
        else:
            if o("sort"):
                out = counts.sort(_CNT, descending=True)  # (stable: ties keep their first-row order)
            else:
                out = counts
            n = col(_CNT)
            if o("normalize"):
                n = n.cast(DataType.float64()) / n.sum().cast(DataType.float64())
            fields = (s.child.output_name(), o("name"))
            out = out.select(Call("struct.pack", (col(_VAL), n), (("names", fields),)).alias(_VAL))
    else:  # pragma: no cover (every SeqOp method is listed above)
        raise ThresherTypeError(f"{s!r} is not supported")
    return out, (_KEEP if op in SEQ_KEEPS_LENGTH and kind == _KEEP else _CHANGE)


def with_columns(df: DataFrame, exprs: Sequence[Expr]) -> DataFrame:
    """``with_columns`` whose full column list ``exprs`` holds a :class:`SeqOp` (one that keeps
    the number of rows, ``sort``/``reverse``; any other is refused, naming it)."""
    return select(df, exprs)


# ---- group_by().agg ----------------------------------------------------------------------------

def agg(group: GroupBy, given: Sequence[Expr]) -> DataFrame:
    """``group_by().agg(*given)`` where some of ``given`` hold a :class:`SeqOp`: each group's list
    of the argument aggregated first (a hidden column), the list operations applied to it after
    (in Polars' group context a ``col("x").unique()`` is the group's values, made unique)."""
    hidden: list[Expr] = []
    finals: list[Expr] = []
    for i, e in enumerate(given):
        if not has_seq(e):
            hidden.append(e)
            finals.append(col(e.output_name()))
            continue
        inner = strip_alias(e)
        reduce = None
        if isinstance(inner, AggCall) and inner.name in _LIST_REDUCTIONS and isinstance(strip_alias(inner.child),
                                                                                         SeqOp):
            reduce, inner = inner.name, strip_alias(inner.child)  # (col("x").sort_by("t").last(): of the list)
        if not isinstance(inner, SeqOp):
            raise ThresherTypeError(f"agg: {e!r}: Thresher takes {_outermost(e)[0]!r} in agg() only as the "
                                    f"whole expression (each group's list), or under first/last/sum/mean/min/max, "
                                    f"not inside another")
        leaf, ops = _chain(inner)
        name = f"{_VAL}{i}"
        if ops[0].op == "sort_by":  # (each group's values in the keys' order: SQL's list(x ORDER BY ...))
            first = ops.pop(0)
            packed = Call("struct.value_keys", (leaf, *first.option("by")))
            hidden.append(AggCall("list_by", packed, (("descending", first.option("descending")),
                                                      ("nulls_last", first.option("nulls_last")))).alias(name))
        else:
            hidden.append(AggCall("agg_list", leaf).alias(name))
        out: Expr = col(name)
        for s in ops:
            out = _list_op(s, out)
        if reduce is not None:
            out = getattr(out.list, reduce)()
        finals.append(out.alias(e.output_name()))
    done = group.agg(*hidden)
    keys = done.columns[:len(done.columns) - len(hidden)]
    return done.select(*keys, *finals)


#: aggregations of a SeqOp that ``agg`` takes as the list method of the same name
_LIST_REDUCTIONS = ("first", "last", "sum", "mean", "min", "max")


def _chain(s: SeqOp) -> tuple[Expr, list[SeqOp]]:
    """The argument under a chain of SeqOps, and the chain, innermost first."""
    ops = [s]
    child = s.child
    while has_seq(child):
        inner = strip_alias(child)
        if not isinstance(inner, SeqOp):
            raise ThresherTypeError(f"agg: {s!r}: a list operation over {child!r} is not supported")
        ops.append(inner)
        child = inner.child
    if _is_scalar(child):
        raise ThresherTypeError(f"agg: {s!r} of an aggregate is not supported")
    return child, ops[::-1]


def _list_op(s: SeqOp, lst: Expr) -> Expr:
    o = s.option
    op = s.op
    ls = lst.list
    if op == "unique":
        return ls.unique(maintain_order=bool(o("maintain_order")))
    if op == "sort":
        return ls.sort(descending=bool(o("descending")), nulls_last=bool(o("nulls_last")))
    if op == "head":
        return ls.head(o("n"))
    if op == "tail":
        return ls.tail(o("n"))
    if op == "slice":
        return ls.slice(o("offset"), o("length"))
    if op == "reverse":
        return ls.reverse()
    if op == "drop_nulls":
        return ls.drop_nulls()
    if op in ("top_k", "bottom_k"):
        return ls.sort(descending=op == "top_k", nulls_last=True).list.head(o("k"))
    raise ThresherTypeError(f"agg: {s!r} is not supported in group_by().agg() (it is in select())")
