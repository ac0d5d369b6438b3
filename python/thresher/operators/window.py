"""Evaluate a ``Window`` plan node over a Polars LazyFrame.

Polars semantics (the DataFrame API, ``frame=None``) are Polars' own ``Expr.over``. SQL semantics
(a :class:`~thresher.expressions.window.WindowFrame`, DuckDB's rules) are computed here, vectorized:

1. the sort order of (partition keys, ORDER BY keys) with each key's direction and NULL placement,
   as an index (not stable: ties are peers or SQL leaves their order undefined);
2. partition and peer-group bounds per row from run ids of the sorted keys (``rle_id``);
3. the frame ``[fs, fe]`` per row: row offsets for ROWS; peer-group offsets for GROUPS; for
   RANGE the bound value ``key -/+ offset`` (exact integers for integer, decimal, date and
   timestamp keys, calendar months for intervals) found by one ``np.searchsorted`` over the
   single ORDER BY key of all partitions at once, NULL and NaN keys framing their peers as DuckDB
   does; EXCLUDE cuts the frame into up to three row ranges;
4. each function from the bounds: ``count``/``sum``/``avg`` as differences of prefix sums (exact
   in int64 for integers and decimals; floats keep NaN/±inf counts apart so one inf cannot poison
   later frames), ``min``/``max`` over dense value codes with a running min/max for frames that
   start (or end) at the partition edge and a sparse table (``log2(width)`` levels) otherwise,
   value functions (``first_value``, ``lag``, ...) as one ``gather``;
5. each result back to the input order (the inverse permutation; the other columns never move).

No Python loop runs over rows; loops run over functions and over ``log2`` levels.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher._polars import with_columns as _with_columns
from thresher.datatypes import DataType, Schema
from thresher.errors import ThresherExecutionError, UnsupportedError
from thresher.expressions.expr import AggCall, Call, CountStar, Expr, strip_alias
from thresher.expressions.window import IntervalOffset, WindowFrame
from thresher.operators.expr_to_polars import polars_dtype, to_polars

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

#: aggregates a moving frame supports; the others need the whole partition as their frame
#: SQL's exact sum/avg of BIGINT values (``planner/sql/coerce.SQL_EXACT_SUM``)
_EXACT = (("exact", True),)
#: SQL's max of floats, NaN the greatest value (``planner/sql/coerce.SQL_NAN_MAX``): the max this
#: module takes of floats already
_NAN_MAX = (("nan", "greatest"),)
_FRAMED_AGGS = ("sum", "mean", "count", "min", "max", "first", "last")


def window_lazy(lf: pl.LazyFrame, schema: Schema, exprs: Sequence[Expr], partition_by: Sequence[Expr],
                order_by: Sequence[Expr], descending: Sequence[bool], nulls_last: Sequence[bool],
                frame: WindowFrame | None, mapping_strategy: str = "group_to_rows") -> pl.LazyFrame:
    """``lf`` with one column appended per expression of the window (see the module docstring)."""
    if frame is None:
        return _polars_over(lf, schema, exprs, partition_by, order_by, descending, nulls_last, mapping_strategy)
    return _sql_window(lf, schema, exprs, partition_by, order_by, descending, nulls_last, frame)


# ---------------------------------------------------------------------------------------------
# Polars semantics
# ---------------------------------------------------------------------------------------------


def _polars_over(lf: pl.LazyFrame, schema: Schema, exprs: Sequence[Expr], partition_by: Sequence[Expr],
                 order_by: Sequence[Expr], descending: Sequence[bool], nulls_last: Sequence[bool],
                 mapping_strategy: str) -> pl.LazyFrame:
    part = [to_polars(e, schema) for e in partition_by]
    order = [to_polars(e, schema) for e in order_by]
    cols: list[pl.Expr] = []
    for e in exprs:
        inner = strip_alias(e)
        if isinstance(inner, AggCall) and inner.name == "agg_list":  # (each partition's list: see _sql_window)
            pe = to_polars(inner.child, schema, in_group=True).implode()
        else:
            pe = to_polars(inner, schema, in_group=True)
        # Polars' lazy engine gets ``min().over(None, order_by=...)`` (and max) wrong over two
        # rows: the first row's value (eager Polars is right). An expression of whole-frame
        # aggregates does not depend on the order: it goes without it
        unordered = not part and _order_free_min_max(inner)
        if part or (order and not unordered):
            kw: dict[str, Any] = {"mapping_strategy": mapping_strategy}
            if order:
                kw.update(order_by=order, descending=bool(descending and descending[0]),
                          nulls_last=bool(nulls_last and nulls_last[0]))
            pe = pe.over(part or None, **kw)
        cols.append(pe.alias(e.output_name()))
    return _with_columns(lf, cols)  # (lf.with_columns without Polars' per-argument parsing)


_ORDER_FREE_AGGS = frozenset({"min", "max", "sum", "mean", "count", "n_unique"})
_ORDER_FREE_CALLS = frozenset({"add", "sub", "mul", "truediv", "neg", "abs"})


def _order_free_min_max(e: Expr) -> bool:
    """``e`` takes a min or max, and is built only of literals, arithmetic, casts and
    aggregates whose value does not depend on the rows' order."""
    found = False

    def walk(x: Expr) -> bool:
        nonlocal found
        if isinstance(x, AggCall):
            found = found or x.name in ("min", "max")
            return x.name in _ORDER_FREE_AGGS and walk(x.child)
        if isinstance(x, Call) and x.name not in _ORDER_FREE_CALLS:
            return False
        return all(walk(k) for k in x.children())

    return walk(e) and found


# ---------------------------------------------------------------------------------------------
# SQL semantics
# ---------------------------------------------------------------------------------------------


def _sql_window(lf: pl.LazyFrame, schema: Schema, exprs: Sequence[Expr], partition_by: Sequence[Expr],
                order_by: Sequence[Expr], descending: Sequence[bool], nulls_last: Sequence[bool],
                frame: WindowFrame) -> pl.LazyFrame:
    pre: list[pl.Expr] = [to_polars(e, schema).alias(f"__wp{i}") for i, e in enumerate(partition_by)]
    pre += [to_polars(e, schema).alias(f"__wo{i}") for i, e in enumerate(order_by)]
    for j, e in enumerate(exprs):
        for k, a in enumerate(strip_alias(e).children()):
            pre.append(to_polars(a, schema).alias(f"__wa{j}_{k}"))
    out_types = {e.output_name(): e.resolve(schema).dtype for e in exprs}
    arg_types = [[a.resolve(schema).dtype for a in strip_alias(e).children()] for e in exprs]
    in_names = [n for n in schema.names if n not in out_types]
    target = {n: polars_dtype(schema[n]) for n in in_names}
    target.update({n: polars_dtype(t) for n, t in out_types.items()})
    desc = list(descending) or [False] * len(order_by)
    nl = list(nulls_last) or [True] * len(order_by)
    if _hash_partitioned(exprs, partition_by, order_by, frame, schema):
        # plain aggregates over whole partitions: Polars' hash-partitioned ``over``, no sort
        cols: list[pl.Expr] = []
        part = [f"__wp{i}" for i in range(len(partition_by))]
        for j, e in enumerate(exprs):
            agg = strip_alias(e)
            if isinstance(agg, CountStar):
                x: pl.Expr = pl.len()
            else:
                assert isinstance(agg, AggCall)
                arg = pl.col(f"__wa{j}_0")
                name = "mean" if agg.name == "mean" else agg.name
                # SQL orders NaN above every number: max propagates it (Polars' max skips it), min
                # skips it unless every value is NaN (as Polars' min)
                top = arg.nan_max() if arg_types[j][0].is_float() else arg.max()
                x = {"sum": arg.sum(), "mean": arg.mean(), "count": arg.count(), "min": arg.min(),
                     "max": top}[name]
                if agg.options == _EXACT and str(arg_types[j][0].arrow) in ("int64", "uint64"):
                    # SQL's sum/avg of BIGINT values: exact, an error where a sum leaves BIGINT
                    # (the checked aggregate's lowering)
                    from thresher.operators.expr_to_polars import _agg

                    x = _agg(name, arg, agg, arg_types[j][0], True)
                    if name == "sum":
                        x = pl.when(arg.count() > 0).then(x)
                elif name == "sum":  # SQL: the sum of no values is NULL (Polars: 0)
                    x = pl.when(arg.count() > 0).then(arg.cast(pl.Int64).sum() if arg_types[j][0].is_integer()
                                                      or arg_types[j][0].is_bool() else x)
            cols.append((x.over(part) if part else x).cast(target[e.output_name()]).alias(e.output_name()))
        return lf.with_columns(pre).with_columns(cols).select([pl.col(n).cast(t) for n, t in target.items()])

    if _native_running(exprs, partition_by, order_by, desc, nl, frame, schema, arg_types):
        # running sums, counts, min and max (ROWS UNBOUNDED PRECEDING to the current row) as
        # Polars' own cumulative functions over each partition in its order: no Python batch
        # function (which held all rows and sorted them in NumPy: TPC-DS q51's four windows)
        pkeys = [pl.col(f"__wp{i}") for i in range(len(partition_by))]
        okeys = [pl.col(f"__wo{i}") for i in range(len(order_by))]
        running: list[pl.Expr] = []
        for j, e in enumerate(exprs):
            agg = strip_alias(e)
            assert isinstance(agg, AggCall)
            arg = pl.col(f"__wa{j}_0")
            if agg.name == "count":
                x = arg.cum_count()
            elif agg.name == "sum":
                if arg_types[j][0].is_integer():
                    arg = arg.cast(pl.Int64)
                # (Polars' cum_sum leaves a NULL row NULL; SQL's frame sum skips it, NULL only
                # before the frame holds a value)
                x = pl.when(arg.cum_count() > 0).then(arg.fill_null(0).cum_sum())
            else:
                # a NULL row takes the previous value (the same running min or max); NULL only
                # before the first value
                x = arg.forward_fill().cum_max() if agg.name == "max" else arg.forward_fill().cum_min()
            x = x.over(pkeys, order_by=okeys, descending=desc[0], nulls_last=nl[0])
            running.append(x.cast(target[e.output_name()]).alias(e.output_name()))
        return lf.with_columns(pre).with_columns(running).select([pl.col(n).cast(t) for n, t in target.items()])

    work_cols = [e.meta.output_name() for e in pre]

    def run(df: pl.DataFrame) -> pl.DataFrame:
        np_, no = len(partition_by), len(order_by)
        keys = [f"__wp{i}" for i in range(np_)] + [f"__wo{i}" for i in range(no)]
        # Only the window's own columns are permuted: the sort order is an index (arg_sort_by),
        # the keys and arguments are gathered by it, and each result is gathered back by the
        # inverse permutation, so the input's other columns never move. The sort need not be
        # stable: rows that tie on every key are peers, and what SQL computes over peers (rank,
        # RANGE frames) does not depend on their order; where it does (row_number, lag, ROWS
        # frames) SQL leaves the order among ties undefined (DuckDB's sort is not stable either).
        work = df.select(work_cols) if work_cols else df  # no keys, no arguments: only the height matters
        inverse = None
        ids: tuple[np.ndarray, np.ndarray] | None = None
        order_key: Callable[[], pl.Series] | None = None
        if keys and df.height:
            perm, pid, peer = sort_order(work, keys, [False] * np_ + desc, [True] * np_ + nl, np_)
            if pid is not None and peer is not None:
                # the sort's codes gave the partitions and peers: only the arguments move (and the
                # ORDER BY key, if a RANGE offset reads it)
                ids = (pid, peer)
                keys_df = work
                order_key = (lambda: keys_df["__wo0"].gather(perm)) if no else None
                args = [c for c in work.columns if c not in keys]
                work = work.select(pl.col(args).gather(perm)) if args else pl.DataFrame({"__wn": np.zeros(df.height)})
            else:
                work = work.select(pl.all().gather(perm))
            inv = np.empty(df.height, dtype=np.int64)
            inv[perm.to_numpy()] = np.arange(df.height, dtype=np.int64)
            inverse = pl.Series(inv)
        geo = _Geometry(work, np_, no, desc[0] if desc else False, nl[0] if nl else True, ids, order_key)
        results = []
        for j, e in enumerate(exprs):
            name = e.output_name()
            if df.height == 0:
                res = pl.Series(name, [], dtype=target[name])
            else:
                res = _evaluate(strip_alias(e), j, work, geo, frame, arg_types[j], schema)
                if inverse is not None:
                    res = res.gather(inverse)
            results.append(res.alias(name).cast(target[name]))
        df = df.with_columns(results)
        return df.select([pl.col(n).cast(t) for n, t in target.items()])

    return lf.with_columns(pre).map_batches(run, schema=target)


def _hash_partitioned(exprs: Sequence[Expr], partition_by: Sequence[Expr], order_by: Sequence[Expr],
                      frame: WindowFrame, schema: Schema) -> bool:
    """Can the window run as Polars' ``over``: sum/avg/count/min/max/count(*) over whole partitions
    (no ORDER BY), partitioned by keys that hash as SQL compares them (not floats: -0.0 = 0.0)?"""
    if order_by or not frame.whole_partition:
        return False
    for p in partition_by:
        t = p.resolve(schema).dtype
        if t.is_float() or not (t.is_numeric() or t.is_string() or t.is_temporal() or t.is_bool()
                                or t.kind == "decimal"):
            return False
    return all(isinstance(strip_alias(e), CountStar)
               or (isinstance(strip_alias(e), AggCall) and strip_alias(e).name in ("sum", "mean", "count", "min", "max")
                   and strip_alias(e).options in ((), _EXACT, _NAN_MAX))  # type: ignore[attr-defined]
               for e in exprs)


def _native_running(exprs: Sequence[Expr], partition_by: Sequence[Expr], order_by: Sequence[Expr],
                    desc: Sequence[bool], nulls_last: Sequence[bool], frame: WindowFrame, schema: Schema,
                    arg_types: Sequence[Sequence[DataType]]) -> bool:
    """Can the window run as Polars' cumulative functions ``over`` its partitions in its order?

    ``ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` (the frame of a running total: rows
    that tie on the ORDER BY keys are not peers there, their order is SQL's to choose), with
    partition keys that hash as SQL compares them (no floats), ORDER BY keys in one direction
    and NULL placement and not floats (Polars' over takes one of each), and only ``count``,
    ``sum`` of decimals and integers below 64 bits (an Int64 sum cannot leave its type), and
    ``min``/``max`` of integers, decimals and dates/times (not floats: SQL's NaN is above every
    number; not strings)."""
    if not (frame.kind == "rows" and frame.start == "unbounded_preceding" and frame.end == "current"
            and frame.exclude == "no_others" and partition_by and order_by):
        return False
    if len(set(desc)) > 1 or len(set(nulls_last)) > 1:
        return False
    for k in (*partition_by, *order_by):
        t = k.resolve(schema).dtype
        if t.is_float() or not (t.is_numeric() or t.is_string() or t.is_temporal() or t.is_bool()
                                or t.kind == "decimal"):
            return False
    for e, types in zip(exprs, arg_types):
        agg = strip_alias(e)
        if not isinstance(agg, AggCall) or agg.options not in ((), _EXACT) or len(types) != 1:
            return False
        t = types[0]
        small_int = t.is_integer() and t.arrow.bit_width < 64
        if agg.name == "count":
            continue
        if agg.name == "sum" and (t.kind == "decimal" or small_int):
            continue
        if agg.name in ("min", "max") and (t.kind == "decimal" or t.is_integer() or t.is_temporal()):
            continue
        return False
    return True


def _key_codes(s: pl.Series, descending: bool, nulls_last: bool) -> tuple[np.ndarray, int] | None:
    """Int64 codes in ``[0, span)`` that order like ``s`` (direction, NULL placement), equal
    exactly where the values are equal; None where the values' range does not fit."""
    dt = s.dtype
    valid = s.is_not_null().to_numpy()
    if dt.is_integer() or dt.is_temporal() or dt == pl.Boolean or isinstance(dt, pl.Decimal):
        phys = s.to_physical()
        if phys.dtype not in (pl.UInt64, pl.Int128):  # narrow types would wrap below
            phys = phys.cast(pl.Int64)
        lo_v: Any = phys.min()
        hi_v: Any = phys.max()
        if lo_v is None:  # all NULL
            return np.zeros(len(s), dtype=np.int64), 1
        rng = int(hi_v) - int(lo_v)
        if rng >= 2**61:
            return None
        # offsets from the minimum, taken in the physical type (decimals are int128)
        v = (phys - pl.Series([lo_v], dtype=phys.dtype)).cast(pl.Int64).fill_null(0).to_numpy()
        v = v.astype(np.int64, copy=False)
        c = (rng - v) if descending else v
    else:
        few = _few_strings(s)
        if few is not None:
            # strings with few distinct values: their sorted distinct values as an Enum, whose codes
            # are those values' ranks (hashing, ~8x faster than a dense rank's sort of every row)
            rng = len(few) - 1
            c = s.cast(pl.Enum(few)).to_physical().cast(pl.Int64).fill_null(0).to_numpy()
            if descending:
                c = rng - c
        else:
            # floats, strings, ...: dense ranks (equal values share one, as the sort compares them)
            r = s.rank("dense", descending=descending)
            top: Any = r.max()
            rng = int(top or 1) - 1
            c = r.cast(pl.Int64).fill_null(1).to_numpy().astype(np.int64, copy=False) - 1
    if valid.all():
        return c, rng + 1
    # NULLs take the slot before (NULLS FIRST) or after (NULLS LAST) every value
    return (np.where(valid, c, rng + 1) if nulls_last else np.where(valid, c + 1, 0)), rng + 2


def _few_strings(s: pl.Series) -> pl.Series | None:
    """The sorted distinct non-null values of a string column with few of them (at most a quarter
    of its rows), else None."""
    if s.dtype != pl.String or len(s) < 64:
        return None
    distinct = s.unique().drop_nulls()
    if len(distinct) == 0 or len(distinct) * 4 > len(s):
        return None
    return distinct.sort()


def sort_index(df: pl.DataFrame, keys: Sequence[str], descending: Sequence[bool],
               nulls_last: Sequence[bool]) -> pl.Series:
    """The row order that sorts ``df`` by ``keys`` (ties in any order).

    Polars' multi-key sort compares rows key by key (~10x slower than sorting one integer column
    at 1.5M rows); here every key becomes an integer code that orders like it and the codes are
    packed, most significant first, into one int64 that is sorted once. When the packed range
    would overflow, the codes so far are first made dense (their distinct count is at most the row
    count); only if that is not enough either does the multi-key sort run.
    """
    return sort_order(df, keys, descending, nulls_last)[0]


def sort_order(df: pl.DataFrame, keys: Sequence[str], descending: Sequence[bool], nulls_last: Sequence[bool],
               group_keys: int = 0) -> tuple[pl.Series, np.ndarray | None, np.ndarray | None]:
    """:func:`sort_index`, and where the packed code allows, the run ids of the sorted rows: of
    the first ``group_keys`` keys (the partitions) and of all keys (the peer groups), so the
    caller need not gather the key columns into the sorted order to find them."""
    code: np.ndarray | None = None
    span = 1
    divisor: int | None = 1  # the span of the keys after the partition keys in the packed code
    for idx, (k, d, n) in enumerate(zip(keys, descending, nulls_last)):
        got = _key_codes(df[k], d, n)
        if got is None:
            code = None
            break
        c, m = got
        if code is None:
            code, span = c, m
        else:
            if span * m >= 2**62:
                dense = pl.Series(code).rank("dense")
                top: Any = dense.max()
                code, span = dense.cast(pl.Int64).to_numpy() - 1, int(top or 1)
                if idx > group_keys:  # the partition keys are no longer a prefix of the code
                    divisor = None
                if span * m >= 2**62:
                    code = None
                    break
            code = code * m + c
            span *= m
        if idx >= group_keys and divisor is not None:
            divisor *= m
    if code is None:
        perm = df.select(pl.arg_sort_by(list(keys), descending=list(descending),
                                        nulls_last=list(nulls_last))).to_series()
        return perm, None, None
    perm = pl.Series(code).arg_sort()
    if divisor is None:
        return perm, None, None
    ordered = code[perm.to_numpy()]
    return perm, _change_ids(ordered // divisor), _change_ids(ordered)


def _change_ids(v: np.ndarray) -> np.ndarray:
    """Run numbers of a sorted array (0, 0, 1, 1, 1, 2, ...)."""
    if not len(v):
        return np.zeros(0, dtype=np.int64)
    out = np.empty(len(v), dtype=np.int64)
    out[0] = 0
    np.cumsum(v[1:] != v[:-1], out=out[1:])
    return out


class _Geometry:
    """Partition and peer-group bounds of the sorted rows (inclusive row numbers).

    ``ids``: the partition and peer run ids when the sort found them; else they come from the
    sorted key columns of ``df``. ``order_key()``: the first ORDER BY key in sorted order (RANGE
    offsets read its values)."""

    def __init__(self, df: pl.DataFrame, np_: int, no: int, desc: bool, nulls_last: bool,
                 ids: tuple[np.ndarray, np.ndarray] | None = None,
                 order_key: Callable[[], pl.Series] | None = None) -> None:
        self.n = df.height
        self.df = df
        self.desc = desc
        self.nulls_last = nulls_last
        self.no = no
        self.i = np.arange(self.n, dtype=np.int64)
        self._order_key = order_key or (lambda: df["__wo0"])
        self._key: pl.Series | None = None
        self._runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._searcher: _Searcher | None = None
        if ids is not None:
            self.pid, self.peer = ids
        else:
            part = [f"__wp{i}" for i in range(np_)]
            self.pid = _run_ids(df, part)
            self.peer = _run_ids(df, part + [f"__wo{i}" for i in range(no)]) if no else self.pid
        self.pstart, self.pend = _bounds(self.pid)
        self.gstart, self.gend = (self.pstart, self.pend) if not no else _bounds(self.peer)
        self._frames: dict[WindowFrame, list[tuple[np.ndarray, np.ndarray]]] = {}

    def segments(self, frame: WindowFrame) -> list[tuple[np.ndarray, np.ndarray]]:
        """The frame as 1-3 disjoint row ranges ``[s, e]`` in row order (EXCLUDE cuts a hole out of
        it; EXCLUDE TIES puts the current row back in the hole); a range is empty where s > e."""
        if frame not in self._frames:
            fs = np.maximum(self._bound(frame, frame.start, frame.start_offset, True), self.pstart)
            fe = np.minimum(self._bound(frame, frame.end, frame.end_offset, False), self.pend)
            if frame.exclude == "no_others":
                segs = [(fs, fe)]
            else:
                xs, xe = (self.i, self.i) if frame.exclude == "current_row" else (self.gstart, self.gend)
                segs = [(fs, np.minimum(fe, xs - 1))]
                if frame.exclude == "ties":
                    inside = (fs <= self.i) & (self.i <= fe)
                    segs.append((np.where(inside, self.i, self.i + 1), self.i))
                segs.append((np.maximum(fs, xe + 1), fe))
            self._frames[frame] = segs
        return self._frames[frame]

    def _bound(self, frame: WindowFrame, kind: str, offset: Any, start: bool) -> np.ndarray:
        if kind == "unbounded_preceding":
            return self.pstart
        if kind == "unbounded_following":
            return self.pend
        if frame.kind == "rows":
            if kind == "current":
                return self.i
            if offset != int(offset):
                raise UnsupportedError(f"ROWS frame offset must be an integer, got {offset!r}")
            return self.i - int(offset) if kind == "preceding" else self.i + int(offset)
        if kind == "current":
            return self.gstart if start else self.gend
        if frame.kind == "groups":
            return self._groups_bound(kind, int(offset), start)
        return self._range_bound(kind, offset, start)

    def _groups_bound(self, kind: str, offset: int, start: bool) -> np.ndarray:
        """GROUPS: ``offset`` peer groups away from the current row's (peer ids are consecutive)."""
        first, last = self.peer[self.pstart], self.peer[self.pend]
        target = self.peer - offset if kind == "preceding" else self.peer + offset
        change = np.flatnonzero(self.peer[1:] != self.peer[:-1]) + 1
        run_start = np.concatenate([[0], change]).astype(np.int64)
        run_end = np.concatenate([change - 1, [self.n - 1]]).astype(np.int64)
        t = np.clip(target, first, last)
        if start:  # a start before the partition is its first row; after it, the frame is empty
            return np.where(target > last, self.pend + 1, run_start[t])
        return np.where(target < first, self.pstart - 1, run_end[t])

    def _range_bound(self, kind: str, offset: Any, start: bool) -> np.ndarray:
        if self.no != 1:
            raise UnsupportedError(f"a RANGE frame with an offset needs exactly one ORDER BY key, got {self.no}")
        if self._key is None:
            self._key = self._order_key()
        key = self._key
        # the bound's value in the key's own space: ``key - offset`` for PRECEDING over an ascending
        # key (DuckDB computes exactly this, then finds the first/last row past it)
        subtract = (kind == "preceding") != self.desc
        # the first row >= the start value (<= for a descending key) and the last row <= the end value
        k, target = _range_values(key, offset, subtract, round_up=start != self.desc)
        if self.desc:  # search a descending key as its negation (order-preserving integers and floats)
            k, target = -k, -target
        if self._runs is None:
            self._runs = self._searchable(key)
        searchable, lo, hi = self._runs
        if self._searcher is None or not np.array_equal(self._searcher.keys, k):
            self._searcher = _Searcher(k, searchable, self.pid, lo)
        out = self._searcher.find(target, strict=False) if start else self._searcher.find(target, strict=True) - 1
        # a NULL (or NaN) key's frame is its peers: NULL +- offset is NULL, NaN +- offset is NaN
        return np.where(searchable, out, self.gstart if start else self.gend)

    def _searchable(self, key: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows whose key is a number (not NULL, not NaN) and, per row, its partition's run of them:
        NULLs sort first or last, NaN above every number (first when descending)."""
        nulls = key.is_null().to_numpy()
        nan = key.is_nan().fill_null(False).to_numpy() if key.dtype.is_float() else np.zeros(self.n, dtype=bool)
        searchable = ~(nulls | nan)
        groups = int(self.pid.max()) + 1
        n_null = np.bincount(self.pid, weights=nulls, minlength=groups).astype(np.int64)[self.pid]
        n_nan = np.bincount(self.pid, weights=nan, minlength=groups).astype(np.int64)[self.pid]
        n_num = (self.pend - self.pstart + 1) - n_null - n_nan
        lo = self.pstart + (0 if self.nulls_last else n_null) + (n_nan if self.desc else 0)
        return searchable, lo, lo + n_num


def _range_values(key: pl.Series, offset: Any, subtract: bool, round_up: bool) -> tuple[np.ndarray, np.ndarray]:
    """The sort key as NumPy and each row's bound value ``key -/+ offset`` in the same exact space:
    integers (integer keys, decimals unscaled, dates in days, timestamps and times in their unit)
    or floats. For an integer key a fractional bound rounds toward the frame's inside
    (``round_up``: up for a lower bound), which finds the same rows as comparing exactly."""
    dt = key.dtype
    sign = -1 if subtract else 1
    if isinstance(offset, IntervalOffset):
        return _interval_values(key, offset, sign)
    if dt.is_temporal() and dt != pl.Date:
        raise UnsupportedError(f"a RANGE frame over an ORDER BY key of type {dt} needs an INTERVAL offset, "
                               f"got {offset!r}")
    if not (dt.is_numeric() or isinstance(dt, pl.Decimal) or dt == pl.Date):
        raise UnsupportedError(f"a RANGE frame with an offset over an ORDER BY key of type {dt} "
                               "is not supported (numeric, DATE, TIMESTAMP and TIME keys)")
    if dt.is_float():
        npt: Any = np.float32 if dt == pl.Float32 else np.float64  # DuckDB computes REAL bounds in REAL
        k = key.fill_null(0).fill_nan(0).to_numpy().astype(npt)
        return k, (k + np.asarray(sign * float(offset), dtype=npt)).astype(npt)
    if dt == pl.Date:
        if offset != int(offset):
            raise UnsupportedError(f"a RANGE frame over a DATE key needs a whole number of days or an INTERVAL, "
                                   f"got {offset}")
        k = key.to_physical().fill_null(0).cast(pl.Int64).to_numpy()
        return k, _shifted(k, sign * int(offset))
    off = decimal.Decimal(str(offset)) if isinstance(offset, float) else decimal.Decimal(offset)
    if isinstance(dt, pl.Decimal):
        # exact: key and offset as integers in units of 10^-digits
        scale = dt.scale or 0
        digits = max(scale, -int(off.as_tuple().exponent))
        phys = (key.cast(pl.Decimal(38, digits)) if digits != scale else key).fill_null(0).to_physical()
        lo_v: Any = phys.min()
        hi_v: Any = phys.max()
        if max(abs(int(lo_v or 0)), abs(int(hi_v or 0))) >= 2**62:
            raise UnsupportedError("a RANGE frame over a DECIMAL key this large is not supported")
        k = phys.cast(pl.Int64).to_numpy()
        return k, _shifted(k, int(sign * off * 10**digits))
    # an integer key: a fractional bound rounds to a whole key value toward the frame's inside
    o = int((sign * off).to_integral_value(rounding=decimal.ROUND_CEILING if round_up else decimal.ROUND_FLOOR))
    k = key.fill_null(0).cast(pl.Int64).to_numpy() if dt != pl.UInt64 else _u64(key)
    return k, _shifted(k, o)


def _u64(key: pl.Series) -> np.ndarray:
    top: Any = key.max()
    if top is not None and int(top) >= 2**62:
        raise UnsupportedError("a RANGE frame over a UBIGINT key above 2^62 is not supported")
    return key.fill_null(0).cast(pl.Int64).to_numpy()


def _shifted(k: np.ndarray, add: int) -> np.ndarray:
    """``k + add`` in int64, refusing rather than wrapping around."""
    if len(k) and max(abs(int(k.min()) + add), abs(int(k.max()) + add), abs(int(k.min())), abs(int(k.max()))) >= 2**62:
        raise UnsupportedError("a RANGE frame bound overflows 64-bit integers")
    return k + np.int64(add)


def _interval_values(key: pl.Series, off: IntervalOffset, sign: int) -> tuple[np.ndarray, np.ndarray]:
    """``key -/+ INTERVAL`` as DuckDB: months first (the day clamped to the month's end), then days,
    then microseconds; a DATE key becomes a timestamp (DuckDB's DATE - INTERVAL is a TIMESTAMP);
    a TIME key moves by the interval's time part only."""
    dt = key.dtype
    if dt == pl.Time:  # DuckDB does not wrap the bound around midnight: 00:10 - 1 hour is before 00:00
        k = key.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
        return k, _shifted(k, sign * off.micros * 1000)
    if dt == pl.Date:
        ts = key.cast(pl.Datetime("us"))
    elif isinstance(dt, pl.Datetime):
        tz = dt.time_zone
        if tz not in (None, "UTC", "Etc/UTC", "+00:00") and (off.months or off.days):
            raise UnsupportedError(f"a RANGE frame with a calendar INTERVAL ({off}) over a TIMESTAMP in time zone "
                                   f"{tz} is not supported")
        ts = key.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if tz is not None else key
        if getattr(ts.dtype, "time_unit", None) in ("ms", None):
            ts = ts.cast(pl.Datetime("us"))
    else:
        raise UnsupportedError(f"a RANGE frame with an INTERVAL offset ({off}) over an ORDER BY key of type {dt} "
                               "is not supported (DATE, TIMESTAMP and TIME keys)")
    unit = getattr(ts.dtype, "time_unit", "us")
    per_us = 1000 if unit == "ns" else 1
    k = ts.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
    moved = ts.dt.offset_by(f"{sign * off.months}mo") if off.months else ts
    base = moved.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
    return k, _shifted(base, sign * (off.days * 86_400_000_000 + off.micros) * per_us)


def _run_ids(df: pl.DataFrame, cols: list[str]) -> np.ndarray:
    if not cols:
        return np.zeros(df.height, dtype=np.int64)
    ids = df.select(pl.struct(cols).rle_id()).to_series().to_numpy()
    return ids.astype(np.int64)


def _bounds(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the first and last row of its run (``ids`` are consecutive run numbers)."""
    n = len(ids)
    if n == 0:
        return ids, ids
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    ends = np.concatenate([change - 1, [n - 1]]).astype(np.int64)
    return starts[ids], ends[ids]


class _Searcher:
    """Per row, the first index in its partition's run ``[lo, hi)`` of searchable rows whose key is
    ``>= target`` (``> target`` if strict); ``hi`` where there is none.

    One ``np.searchsorted`` over all partitions at once: each key becomes an integer code that
    orders like it (its offset from the minimum when the keys span a small range, else its rank
    among the distinct keys), placed in its partition's own band ``[pid * W, pid * W + W)``; the
    rows of a partition outside its run sit at the band's bottom (before the run) or top (after),
    so the composite codes are sorted and a target's code lands inside its own partition's run.
    The codes are built once for both bounds of a frame.
    """

    def __init__(self, keys: np.ndarray, searchable: np.ndarray, pid: np.ndarray, lo: np.ndarray) -> None:
        self.keys, self.lo = keys, lo
        vals = keys[searchable]
        self.empty = not len(vals)
        if self.empty:
            return
        self.distinct: np.ndarray | None = None
        if keys.dtype.kind in "iu" and int(vals.max()) - int(vals.min()) <= 4 * len(keys):
            self.base = vals.min()
            codes = keys - self.base
            self.width = int(vals.max() - self.base) + 1  # codes of searchable rows are in [0, width)
        else:
            self.distinct = np.unique(vals)
            self.width = len(self.distinct)
            codes = np.searchsorted(self.distinct, keys)
        band = self.width + 2
        if (int(pid[-1]) + 1) * band >= 2**62:
            raise UnsupportedError("a RANGE frame over this many partitions and distinct keys is not supported")
        i = np.arange(len(keys), dtype=np.int64)
        inner = np.where(searchable, codes.astype(np.int64) + 1, np.where(i < lo, 0, band - 1))
        self.offset = pid * band + 1
        self.composite = pid * band + inner

    def find(self, target: np.ndarray, strict: bool) -> np.ndarray:
        if self.empty:
            return self.lo.copy()
        if self.distinct is None:
            tc = np.clip(target - self.base + (1 if strict else 0), 0, self.width)  # the first code >= tc
        else:
            tc = np.searchsorted(self.distinct, target, side="right" if strict else "left")
        return np.searchsorted(self.composite, self.offset + tc.astype(np.int64), side="left").astype(np.int64)


def _with_nulls(values: Any, valid: np.ndarray) -> pl.Series:
    return pl.from_arrow(pa.array(values, mask=~valid))  # type: ignore[return-value]


def _gather(s: pl.Series, idx: np.ndarray, valid: np.ndarray) -> pl.Series:
    return s.gather(_with_nulls(np.where(valid, idx, 0), valid))


def _prefix(v: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(1, dtype=v.dtype), np.cumsum(v)])


def _range_diff(prefix: np.ndarray, fs: np.ndarray, fe: np.ndarray) -> np.ndarray:
    n = len(prefix) - 1
    return prefix[np.clip(fe + 1, 0, n)] - prefix[np.clip(fs, 0, n)]


def _evaluate(e: Expr, j: int, df: pl.DataFrame, geo: _Geometry, frame: WindowFrame,
              arg_types: list[DataType], schema: Schema) -> pl.Series:
    args = [df[f"__wa{j}_{k}"] for k in range(len(e.children()))]
    i, pstart, pend = geo.i, geo.pstart, geo.pend
    psize = pend - pstart + 1
    if isinstance(e, Call):
        name = e.name.removeprefix("win.")
        if name == "row_number":
            return pl.Series(i - pstart + 1)
        if name == "rank":
            return pl.Series(geo.gstart - pstart + 1)
        if name == "dense_rank":
            return pl.Series(geo.peer - geo.peer[pstart] + 1)
        if name == "percent_rank":
            rank = (geo.gstart - pstart).astype(np.float64)
            return pl.Series(np.where(psize > 1, rank / np.maximum(psize - 1, 1), 0.0))
        if name == "cume_dist":
            return pl.Series((geo.gend - pstart + 1) / psize)
        if name == "ntile":
            return pl.Series(_ntile(i - pstart, psize, int(e.option("n"))))
        skip = bool(e.option("ignore_nulls", False))
        if name in ("lag", "lead"):
            off = int(e.option("offset", 1))
            if skip:
                idx, valid = _lag_non_null(args[0], off if name == "lag" else -off, pstart, pend)
            else:
                idx = i - off if name == "lag" else i + off
                valid = (idx >= pstart) & (idx <= pend)
            out = _gather(args[0], idx, valid)
            if len(args) > 1:
                out = pl.select(pl.when(pl.lit(pl.Series(valid))).then(pl.lit(out))
                                .otherwise(pl.lit(args[1].cast(out.dtype)))).to_series()
            return out
        segs = geo.segments(frame)
        if name in ("first_value", "last_value", "nth_value"):
            n_th = int(e.option("n")) if name == "nth_value" else 1
            if skip:
                return _gather(args[0], *_nth_non_null(segs, args[0].is_not_null().to_numpy(), n_th,
                                                       from_end=name == "last_value"))
            return _gather(args[0], *_nth_row(segs, n_th, from_end=name == "last_value"))
        raise UnsupportedError(f"window function {e.name} is not supported")
    segs = geo.segments(frame)
    sizes = _add(np.maximum(se - ss + 1, 0) for ss, se in segs)
    if isinstance(e, CountStar):
        return pl.Series(sizes)
    if not isinstance(e, AggCall):
        raise UnsupportedError(f"{e!r} is not a window function")
    x = args[0]
    if e.name == "mean" and x.dtype == pl.Date and e.option("date_ns"):
        return _date_mean(x, segs, geo)
    whole = len(segs) == 1 and bool(np.all(segs[0][0] == pstart) and np.all(segs[0][1] == pend))
    if e.name in _BY_LISTS or e.option("distinct"):
        return _by_partition(e, x, geo, arg_types[0]) if whole else _by_frame_lists(e, x, segs, arg_types[0])
    if e.name not in _FRAMED_AGGS:
        if not whole:
            return _by_frame_lists(e, x, segs, arg_types[0])
        from thresher.operators.expr_to_polars import _agg

        pid = pl.Series("__wpid", geo.pid)
        # (an ARRAY_AGG is each partition's list on every row: imploded, as over() maps a
        # non-aggregate back row by row)
        agg = (pl.col(x.name).implode() if e.name == "agg_list" else
               _agg(e.name, pl.col(x.name), e, arg_types[0], True)).over("__wpid")
        return df.select(x, pid).select(agg).to_series()
    if whole and e.name in ("sum", "mean") and e.option("exact") and str(arg_types[0].arrow) in ("int64", "uint64"):
        # SQL's sum of BIGINT values over whole partitions: an error only where a partition's sum
        # leaves BIGINT (the prefix sums below refuse once all the values' magnitudes could)
        from thresher.operators.expr_to_polars import _agg, polars_error_message

        pid = pl.Series("__wpid", geo.pid)
        v = pl.col(x.name)
        total = pl.when(v.count().over("__wpid") > 0).then(_agg(e.name, v, e, arg_types[0], True).over("__wpid"))
        try:
            return df.select(x, pid).select(total).to_series()
        except pl.exceptions.PolarsError as exc:
            raise ThresherExecutionError(polars_error_message(exc)) from exc
    if e.name in ("first", "last"):
        return _gather(x, *_nth_row(segs, 1, from_end=e.name == "last"))
    valid = x.is_not_null().to_numpy()
    valid_prefix = _prefix(valid.astype(np.int64))
    cnt = _add(_seg_sum(valid_prefix, ss, se) for ss, se in segs)
    if e.name == "count":
        return pl.Series(cnt)
    has = cnt > 0
    if e.name in ("min", "max"):
        return _min_max(x, segs, has, geo, e.name == "min")
    total = _frame_sum(x, segs, geo)
    if e.name == "sum":
        if isinstance(total, pl.Series):
            return pl.select(pl.when(pl.lit(pl.Series(has))).then(pl.lit(total))).to_series()
        return _with_nulls(total, has)
    mean = (total.cast(pl.Float64).to_numpy() if isinstance(total, pl.Series) else total.astype(np.float64))
    return _with_nulls(mean / np.maximum(cnt, 1), has)


#: aggregates computed over each partition's rows (whole frames) or each row's frame as a list
#: (moving frames), as grouped: values in the window's order
_BY_LISTS = ("list_by", "first_by", "product", "mode")
#: the most values the frames of one window may hold together (a moving frame's aggregate that
#: has no incremental form reads each row's frame as a list)
FRAME_LIST_LIMIT = 50_000_000


def _by_partition(e: AggCall, x: pl.Series, geo: _Geometry, in_type: DataType) -> pl.Series:
    """``e`` over each whole partition (as grouped: its rows in the window's order), on every row."""
    rows = pl.DataFrame({"__wpid": geo.pid, "__wx": x})
    per = rows.group_by("__wpid", maintain_order=True).agg(_frame_agg(e, pl.col("__wx"), in_type).alias("r"))
    return rows.select("__wpid").join(per, on="__wpid", how="left", maintain_order="left")["r"]


def _frame_agg(e: AggCall, x: pl.Expr, in_type: DataType) -> pl.Expr:
    """``e`` of the values ``x`` (a partition's or a frame's), as SQL's: NULL over no value."""
    from thresher.operators.expr_to_polars import _agg

    agg = _agg(e.name, x, e, in_type, True)
    return pl.when(x.count() > 0).then(agg) if e.name in _NULL_OVER_NO_VALUE else agg


#: the aggregates that are NULL over no value (Polars': 0 for a sum, and a std of NULLs)
_NULL_OVER_NO_VALUE = ("sum", "mean", "std", "var", "median", "quantile", "min", "max", "any", "all", "bit_and",
                       "bit_or", "bit_xor", "product")


def _by_frame_lists(e: AggCall, x: pl.Series, segs: list[tuple[np.ndarray, np.ndarray]],
                    in_type: DataType) -> pl.Series:
    """``e`` over each row's frame, read as the list of the frame's values (in the window's order,
    the segments of an EXCLUDE in turn): for the aggregates without an incremental form (string_agg,
    bool_and, product, mode, arg_max, the DISTINCT ones, ...) over moving frames."""
    n = len(x)
    lens = np.stack([np.maximum(se - ss + 1, 0) for ss, se in segs], axis=1).ravel()
    starts = np.stack([ss for ss, _ in segs], axis=1).ravel()
    total = int(lens.sum())
    if total > FRAME_LIST_LIMIT:
        raise UnsupportedError(f"{e.name}() over this moving window frame would read {total} values in all "
                               f"(more than {FRAME_LIST_LIMIT}): use a frame over the whole partition or a smaller one")
    first = np.cumsum(lens) - lens
    idx = np.arange(total, dtype=np.int64) - np.repeat(first, lens) + np.repeat(starts, lens)
    sizes = lens.reshape(n, len(segs)).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = x.gather(idx)
    lists = pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), values.to_arrow()))
    assert isinstance(lists, pl.Series)
    agg = _frame_agg(e, pl.element(), in_type)
    if e.name in ("agg_list", "list_by"):  # (a list, NULL over an empty frame)
        out = lists.list.eval(agg)
        return pl.select(pl.when(pl.lit(pl.Series(sizes > 0))).then(pl.lit(out))).to_series()
    return lists.list.eval(agg).list.first()


def _date_mean(x: pl.Series, segs: list[tuple[np.ndarray, np.ndarray]], geo: _Geometry) -> pl.Series:
    """SQL's avg of the dates in each frame (DuckDB's TIMESTAMP_NS): the sum of their day numbers
    times a day over their count, in integers, to the nearest nanosecond (a half up), as
    ``expr_to_polars.date_mean_ns`` computes a group's."""
    days = x.cast(pl.Int32)
    valid = days.is_not_null().to_numpy()
    cnt = _add(_seg_sum(_prefix(valid.astype(np.int64)), ss, se) for ss, se in segs)
    total = _frame_sum(days, segs, geo)
    n = np.maximum(cnt, 1)
    q, r = np.divmod(total, n)  # (r in [0, n): the fraction of a day r / n, in integers below)
    q2, r2 = np.divmod(r * 86_400, n)  # whole seconds
    q3, r3 = np.divmod(r2 * 1_000_000_000, n)  # whole nanoseconds
    if np.any((cnt > 0) & ((q < -106_751) | (q > 106_750))):  # (a TIMESTAMP_NS ends in 1677 and 2262)
        raise ThresherExecutionError("avg of dates outside TIMESTAMP_NS's range (1677 to 2262): DuckDB raises a "
                                     "Conversion Error")
    value = q * 86_400_000_000_000 + q2 * 1_000_000_000 + q3 + (2 * r3 >= n)
    out = pl.Series(value, dtype=pl.Int64).cast(pl.Datetime("ns"))
    return pl.select(pl.when(pl.lit(pl.Series(cnt > 0))).then(pl.lit(out))).to_series()


def _add(parts: Iterable[np.ndarray]) -> np.ndarray:
    out: np.ndarray | None = None
    for p in parts:
        out = p if out is None else out + p
    assert out is not None
    return out


def _seg_sum(prefix: np.ndarray, fs: np.ndarray, fe: np.ndarray) -> np.ndarray:
    """Sum over each row range ``[fs, fe]`` from a prefix sum; 0 where the range is empty."""
    return np.where(fs <= fe, _range_diff(prefix, fs, fe), 0)


def _nth_row(segs: list[tuple[np.ndarray, np.ndarray]], nth: int, from_end: bool) -> tuple[np.ndarray, np.ndarray]:
    """The row of the frame's ``nth`` row (1-based, counted from its end if ``from_end``) over its
    ordered segments, and whether there is one."""
    order = segs[::-1] if from_end else segs
    left = np.full(len(segs[0][0]), nth - 1, dtype=np.int64)  # rows still to skip
    idx = np.zeros_like(left)
    found = np.zeros(len(left), dtype=bool)
    for ss, se in order:
        size = np.maximum(se - ss + 1, 0)
        here = ~found & (left < size)
        idx = np.where(here, (se - left) if from_end else (ss + left), idx)
        found |= here
        left = np.where(found, left, left - size)
    return idx, found


def _nth_non_null(segs: list[tuple[np.ndarray, np.ndarray]], valid: np.ndarray, nth: int,
                  from_end: bool) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_nth_row`, counting only the rows where ``valid`` (IGNORE NULLS): a prefix count
    of the valid rows gives each segment's count, and the wanted row is found by one
    ``searchsorted`` of its rank among the valid rows."""
    pre = _prefix(valid.astype(np.int64))  # pre[j]: valid rows before row j
    positions = np.flatnonzero(valid)  # the valid rows, by rank
    order = segs[::-1] if from_end else segs
    n = len(segs[0][0])
    left = np.full(n, nth - 1, dtype=np.int64)
    idx = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    for ss, se in order:
        empty = ss > se
        lo = np.where(empty, 0, pre[np.clip(ss, 0, n)])
        hi = np.where(empty, 0, pre[np.clip(se + 1, 0, n)])
        size = hi - lo
        here = ~found & (left < size)
        rank = (hi - 1 - left) if from_end else (lo + left)
        idx = np.where(here, positions[np.clip(rank, 0, max(len(positions) - 1, 0))] if len(positions) else 0, idx)
        found |= here
        left = np.where(found, left, left - size)
    return idx, found


def _lag_non_null(x: pl.Series, off: int, pstart: np.ndarray, pend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAG(x, off) IGNORE NULLS (LEAD for ``off`` < 0): the ``off``-th non-null row before (after)
    each row within its partition; ``off`` = 0 is the row itself, NULL or not."""
    n = len(x)
    i = np.arange(n, dtype=np.int64)
    if off == 0:
        return i, np.ones(n, dtype=bool)
    valid = x.is_not_null().to_numpy()
    pre = _prefix(valid.astype(np.int64))
    positions = np.flatnonzero(valid)
    if off > 0:
        rank = pre[i] - off  # the rank among valid rows of the off-th one before row i
        ok = rank >= pre[pstart]
    else:
        rank = pre[i + 1] - off - 1
        ok = rank < pre[pend + 1]
    ok &= (rank >= 0) & (rank < len(positions))
    idx = positions[np.clip(rank, 0, max(len(positions) - 1, 0))] if len(positions) else np.zeros(n, dtype=np.int64)
    return idx, ok


def _frame_sum(x: pl.Series, segs: list[tuple[np.ndarray, np.ndarray]], geo: _Geometry) -> Any:
    """Sum of the non-null values in each frame: int64/float64 NumPy, or a decimal Series."""
    dt = x.dtype
    if isinstance(dt, pl.Decimal):
        scale = dt.scale or 0
        phys = x.fill_null(0).to_physical()  # the unscaled integers (int128)
        lo_v: Any = phys.min()
        hi_v: Any = phys.max()
        if max(abs(int(lo_v or 0)), abs(int(hi_v or 0))) >= 2**62:
            raise UnsupportedError("a decimal sum over a moving window frame would overflow 64-bit integers")
        unscaled = phys.cast(pl.Int64).to_numpy()
        if float(np.abs(unscaled.astype(np.float64)).sum()) >= 2.0 ** 62:
            raise UnsupportedError("a decimal sum over a moving window frame would overflow 64-bit integers")
        pre = _prefix(unscaled)
        ints = pl.Series(_add(_seg_sum(pre, ss, se) for ss, se in segs))
        return pl.select(pl.lit(ints).cast(pl.Decimal(38, 0)) * pl.lit(pl.Series([10 ** -scale if scale else 1],
                                                                                  dtype=pl.Decimal(38, scale)))
                         ).to_series()
    if not dt.is_float():
        v = x.fill_null(0).cast(pl.Int64).to_numpy()
        if float(np.abs(v.astype(np.float64)).sum()) >= 2.0 ** 63:
            raise UnsupportedError("an integer sum over a moving window frame would overflow int64")
        pre = _prefix(v)
        return _add(_seg_sum(pre, ss, se) for ss, se in segs)
    v = x.cast(pl.Float64).to_numpy(allow_copy=True)
    v = np.where(np.isnan(v) & ~x.is_nan().fill_null(False).to_numpy(), 0.0, v)  # nulls -> 0
    finite = np.isfinite(v)
    # a running sum restarted per partition keeps rounding local to the partition
    seg = pl.DataFrame({"v": np.where(finite, v, 0.0), "p": geo.pid}).select(pl.col("v").cum_sum().over("p"))
    s = seg.to_series().to_numpy()
    last = len(s) - 1  # empty frames may point past either end: they add nothing
    nan_pre = _prefix(np.isnan(v).astype(np.int64))
    pinf_pre = _prefix((v == np.inf).astype(np.int64))
    ninf_pre = _prefix((v == -np.inf).astype(np.int64))
    out = np.zeros(len(s), dtype=np.float64)
    nan = np.zeros(len(s), dtype=np.int64)
    pinf = np.zeros(len(s), dtype=np.int64)
    ninf = np.zeros(len(s), dtype=np.int64)
    for fs, fe in segs:
        before = np.where(fs > geo.pstart, s[np.clip(fs - 1, 0, last)], 0.0)
        out = out + np.where(fs <= fe, s[np.clip(fe, 0, last)] - before, 0.0)
        nan += _seg_sum(nan_pre, fs, fe)
        pinf += _seg_sum(pinf_pre, fs, fe)
        ninf += _seg_sum(ninf_pre, fs, fe)
    out = np.where(pinf > 0, np.inf, np.where(ninf > 0, -np.inf, out))
    return np.where((nan > 0) | ((pinf > 0) & (ninf > 0)), np.nan, out)


def _min_max(x: pl.Series, segs: list[tuple[np.ndarray, np.ndarray]], has: np.ndarray, geo: _Geometry,
             is_min: bool) -> pl.Series:
    """Min/max over each frame, on dense value codes (any orderable type)."""
    if x.dtype == pl.Null:
        return pl.Series([None] * len(x), dtype=x.dtype)
    codes = x.rank("dense").cast(pl.Int64).fill_null(-1).to_numpy()
    big = int(codes.max()) + 2
    if is_min:
        codes = np.where(codes < 0, big, codes)
    n = len(codes)
    fs, fe = segs[0]
    if len(segs) == 1 and (np.all(fs == geo.pstart) or np.all(fe == geo.pend)):
        # frames anchored at a partition edge: one running min/max; offsetting each partition's codes
        # below (min) or above (max) the previous partitions makes the scan restart at partition starts
        forward = bool(np.all(fs == geo.pstart))
        shift = geo.pid * big
        if not forward:
            shift = (geo.pid.max() - geo.pid) * big
        c = codes - shift if is_min else codes + shift
        if forward:
            run = (np.minimum if is_min else np.maximum).accumulate(c)
            got = run[np.clip(fe, 0, n - 1)]
            got = got + shift[np.clip(fe, 0, n - 1)] if is_min else got - shift[np.clip(fe, 0, n - 1)]
        else:
            run = (np.minimum if is_min else np.maximum).accumulate(c[::-1])[::-1]
            got = run[np.clip(fs, 0, n - 1)]
            got = got + shift[np.clip(fs, 0, n - 1)] if is_min else got - shift[np.clip(fs, 0, n - 1)]
    else:
        op = np.minimum if is_min else np.maximum
        width = max(int(np.max(np.maximum(se - ss + 1, 1))) for ss, se in segs)
        table = _sparse_table(codes, width, is_min)
        got = None
        for ss, se in segs:
            part = np.where(ss <= se, _sparse_query(table, ss, se, is_min), big if is_min else -1)
            got = part if got is None else op(got, part)
    uniq = x.drop_nulls().unique().sort()
    return _gather(uniq, np.asarray(got) - 1, has)


def _sparse_table(codes: np.ndarray, width: int, is_min: bool) -> np.ndarray:
    op = np.minimum if is_min else np.maximum
    n = len(codes)
    levels = [codes]
    k = 1
    while (1 << k) <= width:
        prev = levels[-1]
        half = 1 << (k - 1)
        nxt = prev.copy()
        nxt[: n - half] = op(prev[: n - half], prev[half:])
        levels.append(nxt)
        k += 1
    return np.stack(levels)


def _sparse_query(table: np.ndarray, fs: np.ndarray, fe: np.ndarray, is_min: bool) -> np.ndarray:
    op = np.minimum if is_min else np.maximum
    n = table.shape[1]
    width = np.maximum(fe - fs + 1, 1)
    lvl = np.minimum(np.floor(np.log2(width)).astype(np.int64), table.shape[0] - 1)
    a = np.clip(fs, 0, n - 1)
    b = np.clip(fe - (1 << lvl) + 1, 0, n - 1)
    return op(table[lvl, a], table[lvl, b])


def _ntile(pos: np.ndarray, size: np.ndarray, buckets: int) -> np.ndarray:
    """DuckDB's NTILE: the first ``size % buckets`` buckets get one row more."""
    if buckets <= 0:
        raise UnsupportedError(f"ntile({buckets}): the number of buckets must be positive")
    b = np.minimum(buckets, size)
    small = size // b
    large = size - b * small
    boundary = large * (small + 1)
    return np.where(pos < boundary, pos // (small + 1) + 1, large + (pos - boundary) // np.maximum(small, 1) + 1)
