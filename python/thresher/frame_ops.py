"""Everyday frame methods Polars users reach for (mixed into :class:`~thresher.DataFrame`).

Every method here only builds a plan out of the existing nodes, so it runs the same on both
executors and streams where its nodes stream: ``tail`` (row index, top-k, re-sort),
``drop_nulls`` (a filter), ``fill_null`` (a projection; an order- or frame-dependent
``strategy`` runs in one Window over the whole frame), ``unpivot`` (a union of projections),
``pipe``, ``cast``, and the module functions :func:`concat`, :func:`len`, :func:`all`.
``describe`` and ``pivot`` are eager, as in Polars: they run one aggregation in the engine and
reshape its (small) result.

Also here: wildcard expansion (``col("*")``, ``th.all()``, regex names ``col("^x_.*$")``) used by
``select``/``with_columns``/``agg``, and the plan builders behind ``unique(maintain_order=)``,
``group_by(maintain_order=)``, ``sample(n=)`` and ``join(coalesce=)``.

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"a": [1, None, 3], "b": ["x", "y", None]})
>>> df.drop_nulls().rows()
[(1, 'x')]
>>> df.fill_null(0).rows()
[(1, 'x'), (0, 'y'), (3, None)]
>>> df.tail(2).rows()
[(None, 'y'), (3, None)]
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from thresher.datatypes import DataType, Schema, literal_type_next_to, polars_supertype, supertype
from thresher.errors import ThresherTypeError, UnsupportedError
from thresher.expressions.expr import (
    AggCall,
    Call,
    Column,
    CountStar,
    Expr,
    Literal,
    _columns,
    col,
    combine_conjunction,
    lit,
    memo,
    to_dtype,
)
from thresher.frame_host import FrameHost

if TYPE_CHECKING:
    from thresher.dataframe import DataFrame
    from thresher.planner.logical import LogicalPlan

_ORDER = "__thresher_order"
_KEY = "__thresher_sample_key"
FILL_STRATEGIES = ("forward", "backward", "min", "max", "mean", "zero", "one")


# --------------------------------------------------------------------------------------------
# Expression helpers: th.len(), th.all(), wildcard expansion
# --------------------------------------------------------------------------------------------


def len() -> Expr:  # noqa: A001 - Polars' name (pl.len), reached as th.len
    """The number of rows (of each group in an aggregation), named ``len`` as in Polars.

    >>> import thresher as th
    >>> th.from_pydict({"k": ["a", "a", "b"]}).group_by("k", maintain_order=True).agg(th.len()).rows()
    [('a', 2), ('b', 1)]
    """
    return CountStar().alias("len")


def coalesce(*exprs: Any) -> Expr:
    """The first non-null of ``exprs`` per row, as Polars' ``pl.coalesce`` (a string names a
    column; typed as Polars types a ``when/then/otherwise`` chain of the same values).

    >>> import thresher as th
    >>> th.from_pydict({"a": [None, 1], "b": [2, 3]}).select(th.coalesce("a", "b")).rows()
    [(2,), (1,)]
    """
    from thresher.expressions.expr import _expr_or_column
    from thresher.expressions.expr import user_when as when

    items = [e for x in exprs for e in (x if isinstance(x, (list, tuple)) else [x])]
    if not items:
        raise ThresherTypeError("coalesce: give at least one expression")
    args = [_expr_or_column(x) for x in items]
    if builtins.len(args) == 1:
        return args[0]
    chain = when(args[0].is_not_null()).then(args[0])
    for a in args[1:-1]:
        chain = chain.when(a.is_not_null()).then(a)
    return chain.otherwise(args[-1]).alias(args[0].output_name())


def all() -> Expr:  # noqa: A001 - Polars' name (pl.all), reached as th.all
    """Every column: the same as ``col("*")``.

    >>> import thresher as th
    >>> th.from_pydict({"a": [1], "b": [2]}).select(th.all() * 10).rows()
    [(10, 20)]
    """
    return Column("*")


def _is_pattern(name: str) -> bool:
    return name == "*" or (builtins.len(name) > 1 and name.startswith("^") and name.endswith("$"))


def _matches(pattern: str, name: str) -> bool:
    return pattern == "*" or re.fullmatch(pattern[1:-1], name) is not None


def _substitute(pattern: str, name: str) -> Callable[[Expr], Expr | None]:
    return lambda node: Column(name) if isinstance(node, Column) and node.name == pattern else None


def expand_wildcards(exprs: Sequence[Expr], schema: Schema, exclude: Sequence[str] = ()) -> list[Expr]:
    """Replace each expression that reads ``col("*")`` (or a regex ``col("^...$")``) by one copy
    per matching column of ``schema`` (in schema order, minus ``exclude``), as Polars does.

    >>> from thresher.datatypes import Schema, Field, DataType
    >>> s = Schema([Field("a", DataType.int64()), Field("b", DataType.int64())])
    >>> expand_wildcards([col("*") + 1], s)
    [(col("a") + 1), (col("b") + 1)]
    """
    out: list[Expr] = []
    for e in exprs:
        # (a name that is neither "*" nor starts with "^" is no pattern: most are told so here,
        # without a call of _is_pattern per name)
        if isinstance(e, Column):  # (most arguments: a column has no subexpressions to walk)
            n = e.name
            if n != "*" and n[:1] != "^":
                out.append(e)
                continue
            patterns = {n} if _is_pattern(n) else set()
        else:
            # (the names of the columns it reads, memoized per node: the planner asks them again)
            patterns = set()
            for n in memo(e, "_memo_columns", _columns):
                if (n == "*" or n[:1] == "^") and _is_pattern(n):
                    patterns.add(n)
        if not patterns:
            out.append(e)
            continue
        if builtins.len(patterns) > 1:
            raise ThresherTypeError(f"{e!r}: one expression may use only one wildcard or regex column")
        pattern = patterns.pop()
        for name in _selected(pattern, schema):
            if name in exclude:
                continue
            out.append(e.transform(_substitute(pattern, name)))
    return out


def _selected(pattern: str, schema: Schema) -> list[str]:
    """The columns of ``schema`` a wildcard, a regex or a ``col(*names)`` / ``col(*dtypes)``
    selects, in order."""
    from thresher.expressions.expr import SELECTORS

    sel = SELECTORS.get(pattern)
    if sel is None:
        return [n for n in schema.names if _matches(pattern, n)]
    kind, items = sel
    if kind == "exclude":
        return [n for n in schema.names if n not in items]
    if kind == "names":
        for n in items:
            schema.field(n)  # (ColumnNotFoundError naming it)
        return list(items)
    return [n for n in schema.names if any(_dtype_matches(d, schema.field(n).dtype) for d in items)]


def _dtype_matches(want: Any, have: Any) -> bool:
    """Polars' ``col(dtype)``: a Polars dtype compares as Polars compares (``pl.Datetime``
    matches every unit); any other type by equality."""
    from thresher.datatypes import to_dtype
    from thresher.expressions.expr import _is_polars_dtype

    if _is_polars_dtype(want):
        import polars as pl
        import pyarrow as pa

        try:
            return bool(pl.Series(values=pa.array([], type=have.storage)).dtype == want)
        except Exception:  # noqa: BLE001 - a type Polars does not hold (media)
            return False
    return bool(to_dtype(want) == have)


def _names(columns: str | Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    return [columns] if isinstance(columns, str) else list(columns)


# --------------------------------------------------------------------------------------------
# th.concat
# --------------------------------------------------------------------------------------------

CONCAT_HOW = ("vertical", "vertical_relaxed", "diagonal", "diagonal_relaxed", "horizontal", "horizontal_extend")


def concat(items: Sequence[DataFrame], *, how: str = "vertical") -> DataFrame:
    """Stack frames: ``how`` = "vertical" (same columns and types), "vertical_relaxed" (types
    widened to a common supertype), "diagonal" (union of the columns, missing ones null),
    "diagonal_relaxed", "horizontal" (side by side; the heights must agree, which is checked
    by counting each frame's rows when the frame is built) or "horizontal_extend" (side by side,
    shorter frames padded with nulls; lazy), as in Polars.

    Parameters
    ----------
    items
        The frames to combine.
    how
        One of :data:`CONCAT_HOW`.

    Examples
    --------
    >>> import thresher as th
    >>> a = th.from_pydict({"x": [1], "y": ["a"]})
    >>> b = th.from_pydict({"x": [2], "z": [0.5]})
    >>> th.concat([a, b], how="diagonal").rows()
    [(1, 'a', None), (2, None, 0.5)]
    """
    from thresher.dataframe import DataFrame
    from thresher.planner.logical import Project, Union

    frames = list(items)
    if not frames:
        raise ValueError("cannot concat an empty list of frames")
    if how not in CONCAT_HOW:
        raise UnsupportedError(f"concat(how={how!r}) is not supported; use one of {CONCAT_HOW}")
    for f in frames:
        if not isinstance(f, DataFrame):
            raise ThresherTypeError(f"concat takes DataFrames, got {type(f).__name__}")
    if builtins.len(frames) == 1:
        return frames[0]
    if how.startswith("horizontal"):
        return _concat_horizontal(frames, strict=how == "horizontal")
    relaxed = how.endswith("_relaxed")
    if how.startswith("vertical"):
        first = frames[0].columns
        for f in frames[1:]:
            if f.columns != first:
                raise ThresherTypeError(
                    f"concat(how={how!r}): column names differ: {first} vs {f.columns}; use how='diagonal'")
        names = first
    else:
        names = []
        for f in frames:
            names.extend(n for n in f.columns if n not in names)
    types: dict[str, DataType] = {}
    for f in frames:
        for fld in f.schema.fields:
            have = types.get(fld.name)
            if have is None or have.is_null():
                types[fld.name] = fld.dtype
            elif have != fld.dtype and not fld.dtype.is_null():
                st = _relaxed_supertype(have, fld.dtype) if relaxed else None
                if st is None:
                    hint = "" if relaxed else f"; use how={how.split('_')[0] + '_relaxed'!r} to widen types"
                    raise ThresherTypeError(
                        f"concat(how={how!r}): column {fld.name!r} has types {have} and {fld.dtype}{hint}")
                types[fld.name] = st
    plans: list[LogicalPlan] = []
    for f in frames:
        exprs: list[Expr] = []
        for n in names:
            t = types[n]
            if n in f.schema:
                e = col(n) if f.schema[n] == t else col(n).cast(t)
            else:
                e = Literal(None, t) if not t.is_null() else lit(None)
            exprs.append(e.alias(n))
        plans.append(Project(f._plan, tuple(exprs)))
    return frames[0]._with(Union(tuple(plans)))


def _relaxed_supertype(a: DataType, b: DataType) -> DataType | None:
    """The type a relaxed concat widens ``a`` and ``b`` to, as Polars: an integer and a
    ``decimal(p, s)`` give that decimal when it holds every value of the integer type, else
    ``decimal(38, s)`` (:func:`polars_supertype`); a uint64 and a signed integer the common
    supertype, ``decimal(38, 0)`` (Polars' Int128, which Arrow lacks: the same values)."""
    return polars_supertype(a, b) or supertype(a, b)


def _concat_horizontal(frames: list[DataFrame], strict: bool) -> DataFrame:
    if strict:
        heights = [f.height for f in frames]
        if builtins.len(set(heights)) > 1:
            raise ValueError(f"concat(how='horizontal'): frames have different heights {heights}; "
                             "use how='horizontal_extend' to pad the shorter ones with nulls")
    seen: set[str] = set()
    for f in frames:
        dup = seen.intersection(f.columns)
        if dup:
            raise ThresherTypeError(f"concat(how='horizontal'): duplicate column names {sorted(dup)}")
        seen.update(f.columns)
    out = frames[0].with_row_index(_ORDER)
    for f in frames[1:]:
        out = out.join(f.with_row_index(_ORDER), on=_ORDER, how="outer", coalesce=True)
    return out.sort(_ORDER).drop(_ORDER)


# --------------------------------------------------------------------------------------------
# Plan builders used by DataFrame methods
# --------------------------------------------------------------------------------------------


def unique_plan(df: DataFrame, subset: Sequence[str] | None, keep: str, maintain_order: bool) -> DataFrame:
    """``unique`` with ``maintain_order`` or ``keep="none"``: pick each key's row by its position
    (the min or max row index of its group: a window over the keys), or the rows alone in their
    group, keep those rows, in input order when asked. One pass over ``df``: a semi join of the
    row-indexed rows with their group-by read ``df`` twice, and where ``df``'s row order is open (a
    join's) the two reads numbered the rows differently (``unique(keep="none")`` after a left join
    kept a row of a duplicated key and dropped the single one)."""
    keys = list(subset) if subset is not None else list(df.columns)
    for k in keys:
        df.schema.field(k)
    part = [col(k) for k in keys]
    if keep == "none":
        return (df.filter(CountStar().over(part) == 1) if not maintain_order else
                df.with_row_index(_ORDER).filter(CountStar().over(part) == 1).sort(_ORDER).drop(_ORDER))
    indexed = df.with_row_index(_ORDER)
    pos = col(_ORDER).max() if keep == "last" else col(_ORDER).min()
    out = indexed.filter(col(_ORDER) == pos.over(part))
    if maintain_order:
        out = out.sort(_ORDER)
    return out.drop(_ORDER)


def group_by_ordered(df: DataFrame, keys: list[Expr], aggs: list[Expr]) -> DataFrame:
    """``group_by(maintain_order=True).agg(...)``: groups in order of their first row."""
    from thresher.planner.logical import Aggregate

    indexed = df.with_row_index(_ORDER)
    plan = Aggregate(indexed._plan, tuple(keys), (*aggs, col(_ORDER).min().alias(_ORDER)))
    return df._with(plan).sort(_ORDER).drop(_ORDER)


def sample_n(df: DataFrame, n: int, seed: int | None, shuffle: bool) -> DataFrame:
    """Exactly ``min(n, height)`` rows drawn without replacement: rank rows by a seeded hash of
    their position and keep the first ``n`` (input order unless ``shuffle``)."""
    import random

    if n < 0:
        raise ValueError(f"sample: n must be non-negative, got {n}")
    s = random.randrange(2**31) if seed is None else int(seed)
    indexed = df.with_row_index(_ORDER)
    key = Call("hash", (col(_ORDER),), (("seed", s),)).alias(_KEY)
    out = indexed.with_columns(key).sort(_KEY, _ORDER).limit(n)
    if not shuffle:
        out = out.sort(_ORDER)
    return out.drop(_ORDER, _KEY)


def join_coalesce(df: DataFrame, other: DataFrame, left_on: Sequence[Expr], right_on: Sequence[Expr], how: str,
                  suffix: str, strategy: str, coalesce: bool | None, nulls_equal: bool = False) -> DataFrame:
    """Polars' ``coalesce``: True merges each pair of key columns into one (also for full joins);
    False keeps the right key columns (named with ``suffix`` on a clash); None is the default per
    join type (coalesced except for full joins)."""
    from thresher.planner.logical import Join

    plain = df._with(Join(df._plan, other._plan, tuple(left_on), tuple(right_on), how, suffix, strategy, nulls_equal))
    if how in ("semi", "anti", "cross"):
        return plain
    pairs = [(a.name, b.name) for a, b in zip(left_on, right_on) if isinstance(a, Column) and isinstance(b, Column)]
    if how == "right":
        return _right_join(df, other, left_on, right_on, suffix, strategy, coalesce is not False, pairs, nulls_equal)
    if coalesce is None:
        return plain
    if coalesce and how == "outer":
        left_names = set(df.columns)
        out_names = {r: (r + suffix if r in left_names else r) for _, r in pairs}
        merged = {l_: Call("coalesce", (col(l_), col(out_names[r]))).alias(l_) for l_, r in pairs}
        drop = set(out_names.values())
        return plain.select(*[merged.get(c, col(c)) for c in plain.columns if c not in drop])
    if not coalesce and how in ("inner", "left", "right"):
        # keep a copy of each right key under a temporary name placed where the key is, so the
        # join's own coalescing drops the key and the copy survives in its position
        # (every right key column: the join drops one even where its left key is an expression)
        rkeys = dict.fromkeys(b.name for b in right_on if isinstance(b, Column))
        tmp = {r: f"__thresher_rk_{i}" for i, r in enumerate(rkeys)}
        right_exprs: list[Expr] = []
        for c in other.columns:
            right_exprs.append(col(c))
            if c in tmp:
                right_exprs.append(col(c).alias(tmp[c]))
        joined = df._with(Join(df._plan, other.select(*right_exprs)._plan, tuple(left_on), tuple(right_on), how,
                               suffix, strategy, nulls_equal))
        left_names = set(df.columns)
        renames = {t: (r + suffix if r in left_names else r) for r, t in tmp.items()}
        return joined.select(*[col(c).alias(renames[c]) if c in renames else col(c) for c in joined.columns])
    return plain


def _right_join(df: DataFrame, other: DataFrame, left_on: Sequence[Expr], right_on: Sequence[Expr], suffix: str,
                strategy: str, coalesce: bool, pairs: list[tuple[str, str]], nulls_equal: bool = False) -> DataFrame:
    """A right join in Polars' layout: the left columns (without the keys when coalesced), then
    the right columns with the keys under the right side's names; ``coalesce=False`` keeps the
    left keys as they are (null where no left row matched)."""
    from thresher.planner.logical import Join

    if builtins.len(pairs) != builtins.len(left_on):
        raise UnsupportedError("join(how='right') with expression keys: use column names as keys")
    seen: set[str] = set()
    for l_, r in pairs:
        if coalesce and r in seen and l_ in other.columns:
            # (a right key joined with a second left key named like a right column: Polars gives
            # that column the key's values, and its full join of the same keys panics)
            raise UnsupportedError(f"join(how='right') on the right key column {r!r} twice, the second time with "
                                   f"the left key {l_!r}, also a right column (coalesced), is not supported: "
                                   "join on it once, or pass coalesce=False")
        seen.add(r)
    left_keys = {l_ for l_, _ in pairs}
    right_keys = {r: l_ for l_, r in pairs}
    ltmp = {l_: f"__thresher_lk_{i}" for i, (l_, _) in enumerate(pairs)}
    rtmp = {r: f"__thresher_rk_{i}" for i, (_, r) in enumerate(pairs)}
    left = df.select(*[col(c) for c in df.columns], *[col(c).alias(t) for c, t in ltmp.items()])
    right = other.select(*[col(c) for c in other.columns], *[col(c).alias(t) for c, t in rtmp.items()])
    joined = df._with(Join(left._plan, right._plan, tuple(left_on), tuple(right_on), "right", suffix, strategy,
                           nulls_equal))
    left_names = set(df.columns)
    out: list[Expr] = []
    for c in df.columns:
        if c in left_keys:
            if not coalesce:
                out.append(col(ltmp[c]).alias(c))
        else:
            out.append(col(c))
    kept_left = {e.output_name() for e in out}
    for c in other.columns:
        if c in right_keys:
            # (a suffix where a left column kept in the output has the name, as Polars: with
            # coalesce, a left key merged away leaves its name free)
            out.append(col(rtmp[c]).alias(c + suffix if c in kept_left else c))
        else:
            out.append(col(c + suffix if c in left_names else c).alias(c + suffix if c in kept_left else c))
    return joined.select(*out)


# --------------------------------------------------------------------------------------------
# The mixin
# --------------------------------------------------------------------------------------------


class FrameOpsMixin(FrameHost):
    """Everyday methods; see the module docstring."""

    def tail(self, n: int = 5) -> DataFrame:
        """The last ``n`` rows, in order (a negative ``n``: every row but the first ``-n``, as
        Polars' DataFrame).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3, 4]}).tail(2).rows()
        [(3,), (4,)]
        >>> th.from_pydict({"a": [1, 2, 3, 4]}).tail(-1).rows()
        [(2,), (3,), (4,)]
        """
        if n < 0:
            return self.slice(-int(n))
        indexed = self.with_row_index(_ORDER)
        return indexed.sort(_ORDER, descending=True).limit(int(n)).sort(_ORDER).drop(_ORDER)

    def slice(self, offset: int, length: int | None = None) -> DataFrame:
        """``length`` rows (default: all the rest) from row ``offset``; a negative ``offset``
        counts from the end, and a negative ``length`` stops that many rows before the end, as in
        Polars' DataFrame.

        >>> import thresher as th
        >>> df = th.from_pydict({"a": [1, 2, 3, 4]})
        >>> df.slice(1, 2).rows(), df.slice(-3, 2).rows(), df.slice(2).rows(), df.slice(1, -1).rows()
        ([(2,), (3,)], [(2,), (3,)], [(3,), (4,)], [(2,), (3,)])
        """
        if length is not None and length < 0:
            if offset < 0:  # (Polars 2.1's DataFrame ignores such a length: slice(-4, -1) is slice(-4))
                raise ValueError(f"slice: a negative length ({length}) with a negative offset ({offset}) is not "
                                 "supported; give a non-negative length")
            return self._without_last(-int(length)).slice(offset)
        if offset < 0:
            # the rows [height + offset, height + offset + length) that exist: counted from the
            # end (0 = the last row), those from -offset - length to -offset - 1
            skip = 0 if length is None else builtins.max(0, -int(offset) - int(length))
            indexed = self.with_row_index(_ORDER)
            return indexed.sort(_ORDER, descending=True).limit(-int(offset) - skip, skip).sort(_ORDER).drop(_ORDER)
        if length is None:
            indexed = self.with_row_index(_ORDER)
            return indexed.filter(col(_ORDER) >= int(offset)).drop(_ORDER)
        return self.limit(int(length), int(offset))

    def _without_last(self, n: int) -> DataFrame:
        """Every row but the last ``n`` (the row count compared in the same pass, as a window)."""
        return self.with_row_index(_ORDER).filter(col(_ORDER) < len() - int(n)).drop(_ORDER)

    def drop_nulls(self, subset: str | Sequence[str] | None = None) -> DataFrame:
        """Drop rows with a null in any of ``subset`` (default: any column).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, None], "b": [None, 2]}).drop_nulls(subset="a").rows()
        [(1, None)]
        """
        names = _names(subset)
        cols = expand_wildcards([col(c) for c in names], self.schema) if names is not None else \
            [col(c) for c in self.columns]
        for c in cols:
            c.resolve(self.schema)
        if not cols:
            return self._with(self._plan)
        return self.filter(combine_conjunction([c.is_not_null() for c in cols]))

    def fill_null(self, value: Any = None, strategy: str | None = None, limit: int | None = None, *,
                  matches_supertype: bool = True) -> DataFrame:
        """Fill nulls in every column with ``value`` or by ``strategy``.

        A scalar ``value`` fills the columns it fits, as in Polars: a number fills numeric
        columns (widening ints to float for a float value), a string the string columns, a bool
        the bool columns (``matches_supertype=False``: only columns of exactly its type). An
        expression fills every column whose type has a common type with it. ``strategy`` is one of "forward", "backward" (``limit``:
        at most that many in a row), "min", "max", "mean", "zero", "one"; "mean", "zero" and
        "one" apply to the numeric columns only.

        Parameters
        ----------
        value
            A scalar or an expression to fill with.
        strategy
            "forward", "backward", "min", "max", "mean", "zero" or "one" (instead of ``value``).
        limit
            With "forward"/"backward": fill at most this many nulls in a row.
        matches_supertype
            Fill every column the value's type fits (True) or only columns of exactly its type.

        Examples
        --------
        >>> import thresher as th
        >>> df = th.from_pydict({"a": [1, None, 3], "s": ["x", None, None]})
        >>> df.fill_null(strategy="forward").rows()
        [(1, 'x'), (1, 'x'), (3, 'x')]
        >>> df.fill_null("?").rows()
        [(1, 'x'), (None, '?'), (3, '?')]
        """
        if (value is None) == (strategy is None):
            raise ValueError("fill_null() needs exactly one of 'value' or 'strategy'")
        if strategy is not None:
            return self._fill_strategy(strategy, limit)
        if isinstance(value, Expr):
            vt_e = value.resolve(self.schema).dtype
            fill = [f.name for f in self.schema.fields if supertype(f.dtype, vt_e) is not None]
            return self.with_columns(*[col(c).fill_null(value).alias(c) for c in fill])
        v = lit(value)
        vt = v.resolve(self.schema).dtype
        exprs: list[Expr] = []
        for f in self.schema.fields:
            ct = f.dtype
            if matches_supertype:
                fits = (vt.is_numeric() and ct.is_numeric()) or (vt.is_string() and ct.is_string()) or \
                    (vt.is_bool() and ct.is_bool()) or (vt.kind == ct.kind and vt.kind in ("date", "timestamp")) \
                    or ct.is_null()
            else:
                fits = vt == ct
            if fits and supertype(ct, vt) is not None:
                # a number takes Polars' type next to the column (Int8 filled with 0 stays Int8; a
                # column of nulls filled with 0 is Int32)
                filler = lit(value, literal_type_next_to(value, ct)) \
                    if (ct.is_numeric() or ct.is_null()) and vt.is_numeric() else v
                exprs.append(col(f.name).fill_null(filler).alias(f.name))
        return self.with_columns(*exprs) if exprs else self._with(self._plan)

    def _fill_strategy(self, strategy: str, limit: int | None) -> DataFrame:
        from thresher.planner.logical import Window

        if strategy not in FILL_STRATEGIES:
            raise ValueError(f"fill_null: strategy must be one of {FILL_STRATEGIES}, got {strategy!r}")
        if limit is not None and strategy not in ("forward", "backward"):
            raise ValueError("fill_null: 'limit' only applies to the 'forward' and 'backward' strategies")
        if strategy in ("zero", "one"):
            # as Polars: each column keeps its type; "zero" is also '' for text, false, and the
            # epoch for dates and timestamps ("one" of a timestamp is one unit after the epoch)
            fills: list[Expr] = []
            for f in self.schema.fields:
                t = f.dtype
                if t.is_numeric() or t.is_bool() or t.kind in ("date", "timestamp"):
                    fills.append(col(f.name).fill_null(lit(0 if strategy == "zero" else 1).cast(t)).alias(f.name))
                elif t.is_string() and strategy == "zero":
                    fills.append(col(f.name).fill_null(lit("")).alias(f.name))
            return self.with_columns(*fills) if fills else self._with(self._plan)
        mean_only = strategy == "mean"  # (numbers, dates and timestamps, as Polars)
        targets = [f.name for f in self.schema.fields if not f.dtype.is_media() and (
            not mean_only or f.dtype.is_numeric() or f.dtype.kind in ("date", "timestamp"))]
        if not targets:
            return self._with(self._plan)
        # forward/backward depend on row order and min/max/mean on the whole column: one Window
        # over the whole frame (ordered by position), never a per-batch projection
        indexed = self.with_row_index(_ORDER)
        tmp = {c: f"__thresher_fill_{i}" for i, c in enumerate(targets)}
        exprs = tuple(Call("fill_null_strategy", (col(c),), (("strategy", strategy), ("limit", limit))).alias(tmp[c])
                      for c in targets)
        win = Window(indexed._plan, exprs, (), (col(_ORDER),), (False,))
        return self._with(win).sort(_ORDER).select(*[col(tmp[c]).alias(c) if c in tmp else col(c)
                                                    for c in self.columns])

    def cast(self, dtypes: Mapping[str, Any] | Any, *, strict: bool = True) -> DataFrame:
        """Cast columns: a mapping ``{column: dtype}`` (a dtype as a key: every column of that
        type, as Polars), or one dtype for every column. A dtype may be a DataType, a Polars,
        NumPy or Arrow dtype, a Python type or a name.

        >>> import polars as pl, thresher as th
        >>> th.from_pydict({"a": [1], "b": [2]}).cast({"a": pl.Float64}).schema
        Schema(a: double, b: int64)
        """
        if isinstance(dtypes, Mapping):
            targets = {}
            for c, t in dtypes.items():
                if isinstance(c, str):
                    self.schema.field(c)
                    targets[c] = to_dtype(t)
                else:  # a dtype as the key: every column of that type (as Polars)
                    src = to_dtype(c)
                    for f in self.schema.fields:
                        if f.dtype == src:
                            targets[f.name] = to_dtype(t)
        else:
            t = to_dtype(dtypes)
            targets = {c: t for c in self.columns}
        return self.with_columns(*[col(c).cast(t, strict=strict).alias(c) for c, t in targets.items()])

    def pipe(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(self, *args, **kwargs)``: chain your own steps.

        >>> import thresher as th
        >>> def add(df, n): return df.with_columns(b=th.col("a") + n)
        >>> th.from_pydict({"a": [1]}).pipe(add, 10).rows()
        [(1, 11)]
        """
        return function(self, *args, **kwargs)

    def unpivot(self, on: str | Sequence[str] | None = None, *, index: str | Sequence[str] | None = None,
                variable_name: str | None = None, value_name: str | None = None) -> DataFrame:
        """Wide to long: one row per (row, ``on`` column), with the ``index`` columns kept, the
        column name in ``variable_name`` and its value (in a common type) in ``value_name``.

        Parameters
        ----------
        on
            The columns to unpivot (default: every column not in ``index``).
        index
            The columns kept on every output row.
        variable_name, value_name
            Names of the output columns (default "variable" and "value").

        Examples
        --------
        >>> import thresher as th
        >>> th.from_pydict({"id": [1, 2], "a": [3, 4], "b": [5, 6]}).unpivot(["a", "b"], index="id").rows()
        [(1, 'a', 3), (2, 'a', 4), (1, 'b', 5), (2, 'b', 6)]
        """
        from thresher.planner.logical import Project, Union

        idx = _names(index) or []
        cols = _names(on)
        if cols is None:
            cols = [c for c in self.columns if c not in idx]
        var, val = variable_name or "variable", value_name or "value"
        for c in (*idx, *cols):
            self.schema.field(c)
        if not cols:
            raise ThresherTypeError("unpivot: no columns to unpivot")
        t: DataType | None = None
        for c in cols:
            ct = self.schema[c]
            st = ct if t is None else supertype(t, ct)
            if st is None:
                raise ThresherTypeError(f"unpivot: column {c!r} ({ct}) has no common type with the others ({t}); "
                                        "cast them first")
            t = st
        assert t is not None
        parts = tuple(
            Project(self._plan, (*[col(i) for i in idx], lit(c).alias(var),
                                 (col(c) if self.schema[c] == t else col(c).cast(t)).alias(val)))
            for c in cols
        )
        return self._with(parts[0] if builtins.len(parts) == 1 else Union(parts))

    def describe(self, percentiles: Sequence[float] | float | None = (0.25, 0.5, 0.75), *,
                 interpolation: str = "nearest") -> DataFrame:
        """Summary statistics per column (eager, like Polars): count, null_count, mean, std, min,
        the ``percentiles``, max. Numeric and bool columns give floats; other
        columns give text (count, null_count, min, max). One aggregation pass runs in the engine.

        Parameters
        ----------
        percentiles
            Quantiles (0..1) to report, one or several; None for none.
        interpolation
            Polars' quantile method: "nearest", "lower", "higher", "midpoint", "linear".

        Returns
        -------
        DataFrame
            A collected frame: a ``statistic`` column, then one column per input column.

        Examples
        --------
        >>> import thresher as th
        >>> d = th.from_pydict({"a": [1, 2, 3, 4]}).describe()
        >>> d.columns, d.row(2)
        (['statistic', 'a'], ('mean', 2.5))
        """
        import pyarrow as pa

        from thresher.readers import from_arrow

        ps = [percentiles] if isinstance(percentiles, float) else list(percentiles or [])
        stats = ["count", "null_count", "mean", "std", "min", *[f"{p * 100:g}%" for p in ps], "max"]
        aggs: list[Expr] = [CountStar().alias("__n")]
        plan_cols: list[tuple[str, str]] = []  # (column, kind)
        for i, f in enumerate(self.schema.fields):
            t = f.dtype
            c = col(f.name)
            kind = "num" if t.is_numeric() else "bool" if t.is_bool() else \
                "ord" if (t.is_string() or t.is_temporal()) else "other"
            plan_cols.append((f.name, kind))
            aggs.append(c.count().alias(f"__c{i}"))
            if kind in ("num", "bool"):
                x = c.cast(DataType.float64()) if kind == "bool" else c
                aggs += [x.mean().alias(f"__mean{i}"), x.min().alias(f"__min{i}"), x.max().alias(f"__max{i}")]
                if kind == "num":
                    aggs.append(c.std().alias(f"__std{i}"))
                    aggs += [AggCall("quantile", c, (("quantile", float(p)), ("interpolation", interpolation)))
                             .alias(f"__p{j}_{i}") for j, p in enumerate(ps)]
            elif kind == "ord":
                aggs += [c.min().alias(f"__min{i}"), c.max().alias(f"__max{i}")]
        row = self.agg(*aggs).to_arrow().to_pylist()[0]
        n = row["__n"]
        columns: dict[str, list[Any]] = {"statistic": stats}
        for i, (name, kind) in enumerate(plan_cols):
            count = row[f"__c{i}"]
            vals: list[Any] = [count, n - count]
            if kind in ("num", "bool"):
                vals += [row[f"__mean{i}"], row.get(f"__std{i}")]
                vals += [row[f"__min{i}"]]
                vals += [row.get(f"__p{j}_{i}") for j in range(builtins.len(ps))]
                vals += [row[f"__max{i}"]]
                vals = [None if v is None else float(v) for v in vals]
            elif kind == "ord":
                vals += [None, None, row[f"__min{i}"], *([None] * builtins.len(ps)), row[f"__max{i}"]]
            else:
                vals += [None] * (3 + builtins.len(ps) + 1)
            if kind not in ("num", "bool"):
                vals = [None if v is None else _describe_text(v) for v in vals]
            columns[name] = vals
        types = {"statistic": pa.large_string()}
        for name, kind in plan_cols:
            types[name] = pa.float64() if kind in ("num", "bool") else pa.large_string()
        table = pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()})
        return from_arrow(table).collect()

    def pivot(self, on: str | Sequence[str], *, index: str | Sequence[str] | None = None,
              values: str | Sequence[str] | None = None, aggregate_function: str | None = None,
              maintain_order: bool = True, sort_columns: bool = False, separator: str = "_") -> DataFrame:
        """Long to wide (eager, like Polars): one row per ``index`` key, one column per distinct
        value of ``on`` (per ``values`` column when there are several), cells aggregated by
        ``aggregate_function`` ("first", "last", "sum", "mean", "median", "min", "max", "len",
        or None: every cell must hold at most one value).

        The aggregation runs in the engine (grouped by ``index`` and ``on``); Polars reshapes its
        result, so names and order follow Polars.

        Parameters
        ----------
        on
            The column(s) whose distinct values become new columns.
        index
            The column(s) that identify an output row.
        values
            The column(s) whose values fill the cells (default: the rest).
        aggregate_function
            How several values of one cell combine; None raises when a cell has several.
        maintain_order, sort_columns, separator
            As in Polars' ``DataFrame.pivot``.

        Returns
        -------
        DataFrame
            A collected frame.

        Examples
        --------
        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "c": ["x", "y", "x"], "v": [1, 2, 3]})
        >>> df.pivot("c", index="k", values="v").rows()
        [('a', 1, 2), ('b', 3, None)]
        """
        import polars as pl

        from thresher.readers import from_polars

        on_cols = _names(on) or []
        idx = _names(index)
        vals = _names(values)
        if idx is None and vals is None:
            raise ThresherTypeError("pivot: give index= or values=")
        if idx is None:
            idx = [c for c in self.columns if c not in on_cols and c not in (vals or [])]
        if vals is None:
            vals = [c for c in self.columns if c not in on_cols and c not in idx]
        for c in (*on_cols, *idx, *vals):
            self.schema.field(c)
        fn = aggregate_function or "first"
        aggs = {"first": Expr.first, "last": Expr.last, "sum": Expr.sum, "mean": Expr.mean, "median": Expr.median,
                "min": Expr.min, "max": Expr.max, "len": Expr.count}
        if fn not in aggs:
            raise UnsupportedError(f"pivot: aggregate_function={fn!r} is not supported; use one of "
                                   f"{sorted(aggs)} or None")
        keys = [*idx, *on_cols]
        exprs: list[Expr] = [(CountStar() if fn == "len" else aggs[fn](col(v))).alias(v) for v in vals]
        exprs.append(CountStar().alias("__thresher_n"))
        grouped = group_by_ordered(self._with(self._plan), [col(k) for k in keys], exprs)
        pdf = grouped.to_polars()
        if aggregate_function is None and pdf.height and int(pdf["__thresher_n"].max()) > 1:  # type: ignore[arg-type]
            raise ValueError("pivot: found multiple elements in the same group; specify an aggregate_function "
                             "(e.g. 'first', 'sum')")
        pdf = pdf.drop("__thresher_n")
        wide = pdf.pivot(on_cols, index=idx, values=vals, aggregate_function="first",
                         maintain_order=maintain_order, sort_columns=sort_columns, separator=separator)
        if fn in ("sum", "len"):  # Polars: an empty cell sums (or counts) to 0, not null
            wide = wide.with_columns(pl.exclude(idx).fill_null(0))
        return from_polars(wide).collect()

    @property
    def dtypes(self) -> list[DataType]:
        """The column types, in order (known without running anything)."""
        return [f.dtype for f in self.schema.fields]

    def null_count(self) -> DataFrame:
        """One row: the number of nulls in each column.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, None], "b": [None, None]}).null_count().rows()
        [(1, 2)]
        """
        return self.agg(*[(CountStar() - col(c).count()).alias(c) for c in self.columns])

    def equals(self, other: DataFrame) -> bool:
        """True when both frames have the same columns, types and rows in the same order
        (runs both plans).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).equals(th.from_pydict({"a": [1]}))
        True
        """
        if self.schema != other.schema:
            return False
        return bool(self.to_arrow().equals(other.to_arrow()))

    def lazy(self) -> DataFrame:
        """A lazy frame over the same data (a collected frame's result is read as a scan)."""
        return self._with(self._plan)


def _describe_text(v: Any) -> str:
    if isinstance(v, float):
        return repr(v) if v != int(v) or abs(v) >= 1e16 else f"{v:.1f}"
    return str(v)
