"""Evaluate a ``Window`` plan node over a Polars LazyFrame.

Polars semantics (the DataFrame API, ``frame=None``) are Polars' own ``Expr.over``. SQL semantics
(a :class:`~thresher.expressions.window.WindowFrame`, DuckDB's rules) are computed here, vectorized:

1. the sort order of (partition keys, ORDER BY keys) with each key's direction and NULL placement,
   as an index (not stable: ties are peers or SQL leaves their order undefined);
2. partition and peer-group bounds per row from run ids of the sorted keys (``rle_id``);
3. the frame ``[fs, fe]`` per row: row offsets for ROWS; for RANGE a vectorized binary search
   (all rows at once, ``log2(n)`` NumPy steps) over the single ORDER BY key inside the partition's
   non-NULL run, NULL keys framing their NULL peers as DuckDB does;
4. each function from the bounds: ``count``/``sum``/``avg`` as differences of prefix sums (exact
   in int64 for integers and decimals; floats keep NaN/±inf counts apart so one inf cannot poison
   later frames), ``min``/``max`` over dense value codes with a running min/max for frames that
   start (or end) at the partition edge and a sparse table (``log2(width)`` levels) otherwise,
   value functions (``first_value``, ``lag``, ...) as one ``gather``;
5. each result back to the input order (the inverse permutation; the other columns never move).

No Python loop runs over rows; loops run over functions and over ``log2`` levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import DataType, Schema
from thresher.errors import UnsupportedError
from thresher.expressions.expr import AggCall, Call, CountStar, Expr, strip_alias
from thresher.expressions.window import WindowFrame
from thresher.operators.expr_to_polars import polars_dtype, to_polars

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

#: aggregates a moving frame supports; the others need the whole partition as their frame
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
        pe = to_polars(strip_alias(e), schema, in_group=True)
        if part or order:
            kw: dict[str, Any] = {"mapping_strategy": mapping_strategy}
            if order:
                kw.update(order_by=order, descending=bool(descending and descending[0]),
                          nulls_last=bool(nulls_last and nulls_last[0]))
            pe = pe.over(part or None, **kw)
        cols.append(pe.alias(e.output_name()))
    return lf.with_columns(cols)


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
        if keys and df.height:
            perm = sort_index(work, keys, [False] * np_ + desc, [True] * np_ + nl)
            work = work.select(pl.all().gather(perm))
            inv = np.empty(df.height, dtype=np.int64)
            inv[perm.to_numpy()] = np.arange(df.height, dtype=np.int64)
            inverse = pl.Series(inv)
        geo = _Geometry(work, np_, no, desc[0] if desc else False, nl[0] if nl else True)
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
        # floats, strings, ...: dense ranks (equal values share one, as the sort compares them)
        r = s.rank("dense", descending=descending)
        top: Any = r.max()
        rng = int(top or 1) - 1
        c = r.cast(pl.Int64).fill_null(1).to_numpy().astype(np.int64, copy=False) - 1
    if valid.all():
        return c, rng + 1
    # NULLs take the slot before (NULLS FIRST) or after (NULLS LAST) every value
    return (np.where(valid, c, rng + 1) if nulls_last else np.where(valid, c + 1, 0)), rng + 2


def sort_index(df: pl.DataFrame, keys: Sequence[str], descending: Sequence[bool],
               nulls_last: Sequence[bool]) -> pl.Series:
    """The row order that sorts ``df`` by ``keys`` (ties in any order).

    Polars' multi-key sort compares rows key by key (~10x slower than sorting one integer column
    at 1.5M rows); here every key becomes an integer code that orders like it and the codes are
    packed, most significant first, into one int64 that is sorted once. When the packed range
    would overflow, the codes so far are first made dense (their distinct count is at most the row
    count); only if that is not enough either does the multi-key sort run.
    """
    code: np.ndarray | None = None
    span = 1
    for k, d, n in zip(keys, descending, nulls_last):
        got = _key_codes(df[k], d, n)
        if got is None:
            code = None
            break
        c, m = got
        if code is None:
            code, span = c, m
            continue
        if span * m >= 2**62:
            dense = pl.Series(code).rank("dense")
            top: Any = dense.max()
            code, span = dense.cast(pl.Int64).to_numpy() - 1, int(top or 1)
            if span * m >= 2**62:
                code = None
                break
        code = code * m + c
        span *= m
    if code is None:
        return df.select(pl.arg_sort_by(list(keys), descending=list(descending),
                                        nulls_last=list(nulls_last))).to_series()
    return pl.Series(code).arg_sort()


class _Geometry:
    """Partition and peer-group bounds of the sorted rows (inclusive row numbers)."""

    def __init__(self, df: pl.DataFrame, np_: int, no: int, desc: bool, nulls_last: bool) -> None:
        self.n = df.height
        self.df = df
        self.desc = desc
        self.nulls_last = nulls_last
        self.no = no
        self.i = np.arange(self.n, dtype=np.int64)
        part = [f"__wp{i}" for i in range(np_)]
        self.pid = _run_ids(df, part)
        self.peer = _run_ids(df, part + [f"__wo{i}" for i in range(no)]) if no else self.pid
        self.pstart, self.pend = _bounds(self.pid)
        self.gstart, self.gend = (self.pstart, self.pend) if not no else _bounds(self.peer)
        self._frames: dict[WindowFrame, tuple[np.ndarray, np.ndarray]] = {}

    def frame(self, frame: WindowFrame) -> tuple[np.ndarray, np.ndarray]:
        if frame not in self._frames:
            fs = self._bound(frame, frame.start, frame.start_offset, True)
            fe = self._bound(frame, frame.end, frame.end_offset, False)
            self._frames[frame] = (np.maximum(fs, self.pstart), np.minimum(fe, self.pend))
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
        return self._range_bound(kind, offset, start)

    def _range_bound(self, kind: str, offset: Any, start: bool) -> np.ndarray:
        if self.no != 1:
            raise UnsupportedError(f"a RANGE frame with an offset needs exactly one ORDER BY key, got {self.no}")
        key = self.df["__wo0"]
        if not (key.dtype.is_numeric() or isinstance(key.dtype, pl.Decimal)):
            raise UnsupportedError(f"a RANGE frame with an offset over an ORDER BY key of type {key.dtype} "
                                   "is not supported (numeric keys only)")
        nulls = key.is_null().to_numpy()
        if key.dtype.is_integer() and float(offset) == int(offset):
            k = key.fill_null(0).cast(pl.Int64).to_numpy()
            off: Any = int(offset)
        else:
            k = key.fill_null(0).cast(pl.Float64).to_numpy()
            off = float(offset)
        if self.desc:  # descending keys: "preceding" means larger values
            k = -k
        nn = np.bincount(self.pid, weights=~nulls, minlength=int(self.pid.max()) + 1).astype(np.int64)[self.pid]
        if self.nulls_last:
            lo, hi = self.pstart, self.pstart + nn
        else:
            lo, hi = self.pend + 1 - nn, self.pend + 1
        target = k - off if kind == "preceding" else k + off
        if start:
            out = _search(k, lo, hi, target, strict=False)
        else:
            out = _search(k, lo, hi, target, strict=True) - 1
        # a NULL key's frame is its NULL peers
        return np.where(nulls, self.gstart if start else self.gend, out)


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


def _search(keys: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray, strict: bool) -> np.ndarray:
    """Per row, the first index in ``[lo, hi)`` whose key is ``>= target`` (``> target`` if strict);
    every row's binary search advances together."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        v = keys[np.where(active, mid, 0)]
        right = active & ((v <= target) if strict else (v < target))
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


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
        if name in ("lag", "lead"):
            off = int(e.option("offset", 1))
            idx = i - off if name == "lag" else i + off
            valid = (idx >= pstart) & (idx <= pend)
            out = _gather(args[0], idx, valid)
            if len(args) > 1:
                out = pl.select(pl.when(pl.lit(pl.Series(valid))).then(pl.lit(out))
                                .otherwise(pl.lit(args[1].cast(out.dtype)))).to_series()
            return out
        fs, fe = geo.frame(frame)
        if name == "first_value":
            return _gather(args[0], fs, fs <= fe)
        if name == "last_value":
            return _gather(args[0], fe, fs <= fe)
        if name == "nth_value":
            idx = fs + int(e.option("n")) - 1
            return _gather(args[0], idx, (fs <= fe) & (idx <= fe))
        raise UnsupportedError(f"window function {e.name} is not supported")
    fs, fe = geo.frame(frame)
    nonempty = fs <= fe
    if isinstance(e, CountStar):
        return pl.Series(np.where(nonempty, fe - fs + 1, 0))
    if not isinstance(e, AggCall):
        raise UnsupportedError(f"{e!r} is not a window function")
    x = args[0]
    whole = bool(np.all(fs == pstart) and np.all(fe == pend))
    if e.name not in _FRAMED_AGGS:
        if not whole:
            raise UnsupportedError(f"{e.name}() over a moving window frame ({frame!r}) is not supported; "
                                   "only over the whole partition")
        from thresher.operators.expr_to_polars import _agg

        pid = pl.Series("__wpid", geo.pid)
        agg = _agg(e.name, pl.col(x.name), e, arg_types[0], True).over("__wpid")
        return df.select(x, pid).select(agg).to_series()
    if e.name in ("first", "last"):
        return _gather(x, fs if e.name == "first" else fe, nonempty)
    valid = x.is_not_null().to_numpy()
    cnt = np.where(nonempty, _range_diff(_prefix(valid.astype(np.int64)), fs, fe), 0)
    if e.name == "count":
        return pl.Series(cnt)
    has = cnt > 0
    if e.name in ("min", "max"):
        return _min_max(x, fs, fe, has, geo, e.name == "min")
    total = _frame_sum(x, fs, fe, geo)
    if e.name == "sum":
        if isinstance(total, pl.Series):
            return pl.select(pl.when(pl.lit(pl.Series(has))).then(pl.lit(total))).to_series()
        return _with_nulls(total, has)
    mean = (total.cast(pl.Float64).to_numpy() if isinstance(total, pl.Series) else total.astype(np.float64))
    return _with_nulls(mean / np.maximum(cnt, 1), has)


def _frame_sum(x: pl.Series, fs: np.ndarray, fe: np.ndarray, geo: _Geometry) -> Any:
    """Sum of the non-null values in each frame: int64/float64 NumPy, or a decimal Series."""
    dt = x.dtype
    if isinstance(dt, pl.Decimal):
        scale = dt.scale or 0
        unscaled = (x.fill_null(0) * (10 ** scale)).cast(pl.Int64).to_numpy()
        if float(np.abs(unscaled.astype(np.float64)).sum()) >= 2.0 ** 62:
            raise UnsupportedError("a decimal sum over a moving window frame would overflow 64-bit integers")
        ints = pl.Series(_range_diff(_prefix(unscaled), fs, fe))
        return pl.select(pl.lit(ints).cast(pl.Decimal(38, 0)) * pl.lit(pl.Series([10 ** -scale if scale else 1],
                                                                                  dtype=pl.Decimal(38, scale)))
                         ).to_series()
    if not dt.is_float():
        v = x.fill_null(0).cast(pl.Int64).to_numpy()
        if float(np.abs(v.astype(np.float64)).sum()) >= 2.0 ** 63:
            raise UnsupportedError("an integer sum over a moving window frame would overflow int64")
        return _range_diff(_prefix(v), fs, fe)
    v = x.cast(pl.Float64).to_numpy(allow_copy=True)
    v = np.where(np.isnan(v) & ~x.is_nan().fill_null(False).to_numpy(), 0.0, v)  # nulls -> 0
    finite = np.isfinite(v)
    # a running sum restarted per partition keeps rounding local to the partition
    seg = pl.DataFrame({"v": np.where(finite, v, 0.0), "p": geo.pid}).select(pl.col("v").cum_sum().over("p"))
    s = seg.to_series().to_numpy()
    last = len(s) - 1  # empty frames may point past either end; they are masked by the caller
    before = np.where(fs > geo.pstart, s[np.clip(fs - 1, 0, last)], 0.0)
    out = s[np.clip(fe, 0, last)] - before
    nan = _range_diff(_prefix(np.isnan(v).astype(np.int64)), fs, fe) > 0
    pinf = _range_diff(_prefix((v == np.inf).astype(np.int64)), fs, fe) > 0
    ninf = _range_diff(_prefix((v == -np.inf).astype(np.int64)), fs, fe) > 0
    out = np.where(pinf, np.inf, np.where(ninf, -np.inf, out))
    return np.where(nan | (pinf & ninf), np.nan, out)


def _min_max(x: pl.Series, fs: np.ndarray, fe: np.ndarray, has: np.ndarray, geo: _Geometry,
             is_min: bool) -> pl.Series:
    """Min/max over each frame, on dense value codes (any orderable type)."""
    if x.dtype == pl.Null:
        return pl.Series([None] * len(x), dtype=x.dtype)
    codes = x.rank("dense").cast(pl.Int64).fill_null(-1).to_numpy()
    big = int(codes.max()) + 2
    if is_min:
        codes = np.where(codes < 0, big, codes)
    n = len(codes)
    if np.all(fs == geo.pstart) or np.all(fe == geo.pend):
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
        got = _sparse_query(codes, fs, fe, is_min)
    uniq = x.drop_nulls().unique().sort()
    return _gather(uniq, got - 1, has)


def _sparse_query(codes: np.ndarray, fs: np.ndarray, fe: np.ndarray, is_min: bool) -> np.ndarray:
    op = np.minimum if is_min else np.maximum
    n = len(codes)
    width = np.maximum(fe - fs + 1, 1)
    levels = [codes]
    k = 1
    while (1 << k) <= int(width.max()):
        prev = levels[-1]
        half = 1 << (k - 1)
        nxt = prev.copy()
        nxt[: n - half] = op(prev[: n - half], prev[half:])
        levels.append(nxt)
        k += 1
    lvl = np.floor(np.log2(width)).astype(np.int64)
    table = np.stack(levels)
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
