"""Window functions: the SQL frame, SQL's window-only functions, and the DataFrame API's
order-dependent functions (``cum_*``, ``shift``, ``rank``, ``rolling_*``) and ``expr.over(...)``.

Two semantics meet here, one per front end:

* **DataFrame API (Polars).** ``col("x").cum_sum().over("k", order_by="d")`` evaluates the inner
  expression on each group's rows (sorted by ``order_by``) and maps the results back to the rows,
  exactly as ``polars.Expr.over``. Without ``over``, an order-dependent function runs over the whole
  column in row order. Output types are Polars' (``cum_sum`` of int32 is int64, ``rank`` is float64
  for ``method="average"``, uint32 otherwise), derived by asking Polars about an empty column.
* **SQL (DuckDB).** ``sum(x) OVER (PARTITION BY k ORDER BY d ROWS BETWEEN 2 PRECEDING AND CURRENT
  ROW)`` honours the frame; a :class:`WindowFrame` travels on the plan's ``Window`` node and the
  functions ``win.*`` below are SQL's ranking, offset and value functions.

>>> from thresher import col
>>> col("x").cum_sum().over("k", order_by="d")
col("x").cum_sum().over([col("k")], order_by=[col("d")])
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType, Field, Schema, supertype
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import _MISSING, AggCall, Column, CountStar, Expr, _freeze
from thresher.expressions.registry import expect, function

# ---------------------------------------------------------------------------------------------
# SQL frames
# ---------------------------------------------------------------------------------------------

#: bound kinds, in frame order
BOUNDS = ("unbounded_preceding", "preceding", "current", "following", "unbounded_following")
#: frame kinds: offsets count rows, distances on the ORDER BY key, or peer groups
FRAME_KINDS = ("rows", "range", "groups")
#: what a frame leaves out of itself (SQL's EXCLUDE clause)
EXCLUDES = ("no_others", "current_row", "group", "ties")


@dataclass(frozen=True)
class IntervalOffset:
    """A RANGE frame offset over a DATE/TIMESTAMP/TIME key: SQL's INTERVAL as DuckDB stores it
    (months, days and microseconds, applied in that order).

    >>> IntervalOffset(days=7)
    INTERVAL '7 days'
    """

    months: int = 0
    days: int = 0
    micros: int = 0

    def __post_init__(self) -> None:
        if min(self.months, self.days, self.micros) < 0:
            raise ThresherTypeError(f"window frame interval offset must not be negative, got {self}")

    def __repr__(self) -> str:
        parts = [f"{v} {u}" for v, u in ((self.months, "months"), (self.days, "days"), (self.micros, "microseconds"))
                 if v]
        return f"INTERVAL '{' '.join(parts) or '0 days'}'"


@dataclass(frozen=True)
class WindowFrame:
    """A SQL window frame: ``kind`` ("rows" | "range" | "groups"), two bounds and an exclusion.

    A bound is one of :data:`BOUNDS`; ``preceding``/``following`` carry a non-negative offset
    (rows for ROWS, peer groups for GROUPS; for RANGE a distance on the single ORDER BY key: a
    number, or an :class:`IntervalOffset` for a temporal key). ``exclude`` is one of
    :data:`EXCLUDES` (``EXCLUDE CURRENT ROW``, ``GROUP``, ``TIES``; ``no_others`` by default).

    >>> WindowFrame("rows", "preceding", "current", start_offset=2)
    ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
    """

    kind: str = "range"
    start: str = "unbounded_preceding"
    end: str = "current"
    start_offset: Any = None
    end_offset: Any = None
    exclude: str = "no_others"

    def __post_init__(self) -> None:
        if self.kind not in FRAME_KINDS:
            raise ThresherTypeError(f"window frame kind must be ROWS, RANGE or GROUPS, got {self.kind!r}")
        if self.exclude not in EXCLUDES:
            raise ThresherTypeError(f"window frame exclude must be one of {EXCLUDES}, got {self.exclude!r}")
        for side, b, off in (("start", self.start, self.start_offset), ("end", self.end, self.end_offset)):
            if b not in BOUNDS:
                raise ThresherTypeError(f"window frame {side} must be one of {BOUNDS}, got {b!r}")
            if b in ("preceding", "following"):
                if isinstance(off, IntervalOffset):
                    if self.kind != "range":
                        raise ThresherTypeError(f"an interval offset needs a RANGE frame, got {self.kind.upper()}")
                    continue
                if off is None or isinstance(off, bool) or not isinstance(off, (int, float, decimal.Decimal)) \
                        or not off >= 0:
                    raise ThresherTypeError(f"window frame {side} offset must be a non-negative number, got {off!r}")
                if self.kind != "range" and off != int(off):
                    raise ThresherTypeError(f"a {self.kind.upper()} frame offset must be an integer, got {off!r}")
        if self.start == "unbounded_following" or self.end == "unbounded_preceding":
            raise ThresherTypeError(f"invalid window frame {self}")
        if BOUNDS.index(self.start) > BOUNDS.index(self.end):
            raise ThresherTypeError(f"window frame starts after it ends: {self}")

    @property
    def whole_partition(self) -> bool:
        return self.start == "unbounded_preceding" and self.end == "unbounded_following" \
            and self.exclude == "no_others"

    @property
    def has_offsets(self) -> bool:
        return self.start in ("preceding", "following") or self.end in ("preceding", "following")

    def __repr__(self) -> str:
        def bound(b: str, off: Any) -> str:
            return {"unbounded_preceding": "UNBOUNDED PRECEDING", "unbounded_following": "UNBOUNDED FOLLOWING",
                    "current": "CURRENT ROW"}.get(b) or f"{off} {b.upper()}"

        ex = "" if self.exclude == "no_others" else f" EXCLUDE {self.exclude.replace('_', ' ').upper()}"
        return (f"{self.kind.upper()} BETWEEN {bound(self.start, self.start_offset)} AND "
                f"{bound(self.end, self.end_offset)}{ex}")


# ---------------------------------------------------------------------------------------------
# SQL window-only functions (DuckDB semantics; evaluated by operators/window.py)
# ---------------------------------------------------------------------------------------------

#: the functions that only exist inside a SQL window
SQL_WINDOW_FUNCTIONS = (
    "win.row_number", "win.rank", "win.dense_rank", "win.percent_rank", "win.cume_dist", "win.ntile",
    "win.lag", "win.lead", "win.first_value", "win.last_value", "win.nth_value",
)


def _hidden(name: str) -> tuple[str, ...]:
    # reachable from SQL only through the window translation, never as a plain function call
    return ("__" + name.replace(".", "_"),)


def _int64_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return DataType.int64()


def _float64_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return DataType.float64()


def _value_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    if len(args) > 1:  # LAG/LEAD default value
        st = supertype(args[0].dtype, args[1].dtype)
        if st is None:
            raise ThresherTypeError(f"lag/lead: default of type {args[1].dtype} does not match {args[0].dtype}")
        return st
    return args[0].dtype


for _name, _rule in (("win.row_number", _int64_rule), ("win.rank", _int64_rule), ("win.dense_rank", _int64_rule),
                     ("win.ntile", _int64_rule), ("win.percent_rank", _float64_rule),
                     ("win.cume_dist", _float64_rule), ("win.lag", _value_rule), ("win.lead", _value_rule),
                     ("win.first_value", _value_rule), ("win.last_value", _value_rule),
                     ("win.nth_value", _value_rule)):
    function(_name, sql_names=_hidden(_name))(_rule)


# ---------------------------------------------------------------------------------------------
# DataFrame API order-dependent functions (Polars semantics and output types)
# ---------------------------------------------------------------------------------------------

#: functions whose value depends on other rows (they never run in a row-local projection)
ORDER_DEPENDENT = (
    "cum_sum", "cum_count", "cum_min", "cum_max", "cum_prod", "shift", "rank", "diff", "pct_change",
    "rolling_sum", "rolling_mean", "rolling_min", "rolling_max", "rolling_std", "rolling_var",
    "rolling_median", "rolling_quantile", "ewm_mean", "ewm_std", "ewm_var", "fill_null_strategy", "rle_id",
    "is_first_distinct", "is_last_distinct", "is_unique", "is_duplicated", "interpolate", "rolling_skew",
    "rolling_kurtosis", "rolling_rank", "rolling_var_by", "rolling_median_by", "rolling_quantile_by",
    "rolling_sum_by", "rolling_mean_by", "rolling_min_by", "rolling_max_by", "rolling_std_by", "qcut",
)

#: ``closed`` values of the ``rolling_*_by`` functions (which ends of the window it includes)
ROLLING_CLOSED = ("right", "left", "both", "none")

#: the options of ``ewm_mean/std/var`` passed on to Polars as they are
_EWM_OPTIONS = ("com", "span", "half_life", "alpha", "adjust", "bias", "min_samples", "ignore_nulls")

PolarsBuilder = Callable[[Any, dict[str, Any]], Any]


def polars_call(name: str, x: Any, opts: dict[str, Any], fill: Any = None) -> Any:
    """The Polars expression for one of :data:`ORDER_DEPENDENT` applied to ``x`` (a ``pl.Expr``)."""
    if name.startswith("cum_"):
        return getattr(x, name)(reverse=bool(opts.get("reverse", False)))
    if name == "shift":
        return x.shift(int(opts.get("n", 1)), fill_value=fill)
    if name == "rank":
        return x.rank(opts.get("method", "average"), descending=bool(opts.get("descending", False)),
                      seed=opts.get("seed"))
    if name == "diff":
        return x.diff(int(opts.get("n", 1)), null_behavior=opts.get("null_behavior", "ignore"))
    if name == "pct_change":
        return x.pct_change(int(opts.get("n", 1)))
    if name == "fill_null_strategy":  # (forward_fill, backward_fill, fill_null(strategy=...))
        return x.fill_null(strategy=opts["strategy"], limit=opts.get("limit"))
    if name in ("rle_id", "is_first_distinct", "is_last_distinct", "is_unique", "is_duplicated"):
        return getattr(x, name)()
    if name == "interpolate":
        return x.interpolate(opts.get("method", "linear"))
    if name == "qcut":  # (the label a string, as Thresher reads Polars' categoricals)
        import warnings

        import polars as pl

        q, labels = opts["quantiles"], opts.get("labels")
        with warnings.catch_warnings():  # (Polars 2 calls qcut deprecated, for bin_quantiles)
            warnings.simplefilter("ignore", DeprecationWarning)
            out = x.qcut(q if isinstance(q, int) else list(q), labels=None if labels is None else list(labels),
                         left_closed=bool(opts.get("left_closed")), allow_duplicates=bool(opts.get("allow_duplicates")),
                         include_breaks=bool(opts.get("include_breaks")))
        if opts.get("include_breaks"):
            return pl.struct(out.struct.field("breakpoint"), out.struct.field("category").cast(pl.String))
        return out.cast(pl.String)
    if name in ("rolling_skew", "rolling_kurtosis", "rolling_rank"):  # (no weights)
        extra = {k: v for k, v in opts.items() if k in ("bias", "fisher", "method", "seed")}
        return getattr(x, name)(int(opts["window_size"]), min_samples=opts.get("min_samples"),
                                center=bool(opts.get("center", False)), **extra)
    if name.startswith("ewm_"):
        return getattr(x, name)(**{k: v for k, v in opts.items() if k in _EWM_OPTIONS})
    if name.endswith("_by"):  # a window of a duration over the ``by`` column (``fill``), not of rows
        by_kw: dict[str, Any] = {"window_size": opts["window_size"], "closed": opts.get("closed", "right")}
        if opts.get("min_samples") is not None:  # Polars' own default otherwise
            by_kw["min_samples"] = int(opts["min_samples"])
        if name in ("rolling_std_by", "rolling_var_by"):
            by_kw["ddof"] = int(opts.get("ddof", 1))
        if name == "rolling_quantile_by":
            by_kw.update(quantile=float(opts["quantile"]), interpolation=opts.get("interpolation", "nearest"))
        return getattr(x, name)(fill, **by_kw)
    if name.startswith("rolling_"):
        kw: dict[str, Any] = {"min_samples": opts.get("min_samples"), "center": bool(opts.get("center", False))}
        if name in ("rolling_std", "rolling_var"):
            kw["ddof"] = int(opts.get("ddof", 1))
        weights = opts.get("weights")
        w = list(weights) if weights is not None else None
        if name == "rolling_quantile":
            return x.rolling_quantile(float(opts["quantile"]), opts.get("interpolation", "nearest"),
                                      int(opts["window_size"]), w, **kw)
        return getattr(x, name)(int(opts["window_size"]), w, **kw)
    raise ThresherTypeError(f"unknown order-dependent function {name!r}")


def _polars_rule(name: str, needs: Callable[[DataType], bool], needed: str) -> Callable[..., DataType]:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f = args[0]
        expect(f, not f.dtype.is_media() and needs(f.dtype), needed, name)
        if len(args) > 1 and supertype(f.dtype, args[1].dtype) is None:
            raise ThresherTypeError(f"{name}: fill_value of type {args[1].dtype} does not match {f.dtype}")
        if name.startswith("rolling_"):
            ws = opts.get("window_size")
            if not isinstance(ws, int) or isinstance(ws, bool) or ws < 1:
                raise ThresherTypeError(f"{name}: window_size must be a positive int, got {ws!r}")
        if name == "rank" and opts.get("method", "average") not in ("average", "min", "max", "dense", "ordinal",
                                                                         "random"):
            raise ThresherTypeError(f"rank: unknown method {opts.get('method')!r}")
        return _polars_output_type(name, f.dtype, opts)

    return rule


def _polars_output_type(name: str, dtype: DataType, opts: dict[str, Any]) -> DataType:
    """Ask Polars which type ``name`` returns for ``dtype`` (evaluated on an empty column)."""
    import polars as pl

    if name == "rolling_rank":
        # (Polars 2.1 keeps the input's type on an empty column; on rows an average rank is
        # float64, the others uint32)
        _polars_output_type("rolling_max", dtype, {"window_size": 1})  # (the input type's check)
        return DataType.float64() if opts.get("method", "average") == "average" else DataType.uint32()

    s = pl.from_arrow(pa.array([], type=dtype.storage))
    assert isinstance(s, pl.Series)
    try:
        out = s.to_frame("x").select(polars_call(name, pl.col("x"), opts)).to_series()
    except Exception as exc:  # noqa: BLE001  (Polars refuses the type: rolling_min of strings, ...)
        raise ThresherTypeError(f"{name}: not supported for type {dtype}: {str(exc).splitlines()[0]}") from None
    return DataType.from_arrow(out.to_arrow().type)


def _by_rule(name: str, needs: Callable[[DataType], bool], needed: str) -> Callable[..., DataType]:
    """``rolling_*_by(by, window_size)``: the value column, a temporal or integer ``by`` column and
    a Polars duration string; the output type is Polars' (asked on empty columns)."""

    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f, by = args[0], args[1]
        expect(f, not f.dtype.is_media() and needs(f.dtype), needed, name)
        expect(by, by.dtype.is_temporal() or by.dtype.is_integer(), "a temporal or integer type", name)
        ws = opts.get("window_size")
        if not isinstance(ws, str) or not ws:
            raise ThresherTypeError(f"{name}: window_size must be a duration string such as '7d' or '2h', got {ws!r}")
        if opts.get("closed", "right") not in ROLLING_CLOSED:
            raise ThresherTypeError(f"{name}: closed must be one of {ROLLING_CLOSED}, got {opts.get('closed')!r}")
        ms = opts.get("min_samples")
        if ms is not None and (not isinstance(ms, int) or isinstance(ms, bool) or ms < 0):
            raise ThresherTypeError(f"{name}: min_samples must be a non-negative int, got {ms!r}")
        import polars as pl

        empty = pl.DataFrame([pl.from_arrow(pa.array([], type=f.dtype.storage)).alias("x"),  # type: ignore[union-attr]
                              pl.from_arrow(pa.array([], type=by.dtype.storage)).alias("b")])  # type: ignore[union-attr]
        try:
            out = empty.select(polars_call(name, pl.col("x"), opts, pl.col("b"))).to_series()
        except Exception as exc:  # noqa: BLE001  (Polars' own message: a bad duration string, ...)
            raise ThresherTypeError(f"{name}(by={by.name!r}, window_size={ws!r}): {exc}") from None
        return DataType.from_arrow(out.to_arrow().type)

    return rule


def _orderable(t: DataType) -> bool:
    return t.is_numeric() or t.is_bool() or t.is_string() or t.is_temporal() or t.is_null() or t.kind == "decimal"


def interpolable(t: DataType) -> bool:
    """A type ``interpolate`` fills: numbers, decimals, dates, datetimes, times and durations."""
    return t.is_numeric() or t.is_temporal() or t.is_null()


def _summable(t: DataType) -> bool:
    return t.is_numeric() or t.is_bool() or t.is_null() or t.kind in ("decimal", "duration")


for _name in ("cum_sum", "cum_prod", "rolling_sum", "rolling_mean", "rolling_std", "rolling_var", "rolling_median",
              "rolling_quantile", "pct_change", "ewm_mean", "ewm_std", "ewm_var"):
    function(_name, sql_names=_hidden(_name))(_polars_rule(_name, _summable, "a numeric type"))
# (a difference of dates or datetimes is a duration, as in Polars)
function("diff", sql_names=_hidden("diff"))(_polars_rule("diff", lambda t: _summable(t) or t.is_temporal(),
                                                         "a numeric or temporal type"))
for _name in ("rolling_skew", "rolling_kurtosis", "rolling_rank"):
    function(_name, sql_names=_hidden(_name))(_polars_rule(_name, _summable, "a numeric type"))
# (dates, datetimes, times and durations too, as Polars; not booleans: Polars panics running it)
function("interpolate", sql_names=_hidden("interpolate"))(
    _polars_rule("interpolate", interpolable, "a numeric or temporal type"))
for _name in ("rle_id", "is_first_distinct", "is_last_distinct", "is_unique", "is_duplicated"):
    function(_name, sql_names=_hidden(_name))(_polars_rule(_name, lambda t: True, "any type"))
for _name in ("cum_min", "cum_max", "rolling_min", "rolling_max", "rank"):
    function(_name, sql_names=_hidden(_name))(_polars_rule(_name, _orderable, "an orderable type"))
for _name in ("rolling_sum_by", "rolling_mean_by", "rolling_std_by", "rolling_var_by", "rolling_median_by",
              "rolling_quantile_by"):
    function(_name, sql_names=_hidden(_name))(_by_rule(_name, _summable, "a numeric type"))
for _name in ("rolling_min_by", "rolling_max_by"):
    function(_name, sql_names=_hidden(_name))(_by_rule(_name, _orderable, "an orderable type"))


@function("qcut", sql_names=_hidden("qcut"))
def _qcut(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.qcut(quantiles)``: the label of each value's quantile interval (a string), or with
    ``include_breaks`` the struct ``{breakpoint, category}``, as Polars."""
    f = args[0]
    expect(f, f.dtype.is_numeric() or f.dtype.is_null(), "a numeric type", "qcut")
    q, labels = opts["quantiles"], opts.get("labels")
    if isinstance(q, int):
        if q < 1:
            raise ThresherTypeError(f"qcut: the number of bins must be positive, got {q}")
        n = q - 1
    else:
        if any(not 0.0 <= p <= 1.0 for p in q):
            raise ThresherTypeError(f"qcut: quantiles must lie in [0, 1], got {list(q)}")
        n = len(q)
    if labels is not None and len(labels) != n + 1:
        raise ThresherTypeError(f"qcut: {n} breaks need {n + 1} labels, not {len(labels)}")
    if opts.get("include_breaks"):
        return DataType.struct({"breakpoint": DataType.float64(), "category": DataType.string()})
    return DataType.string()


function("cum_count", sql_names=_hidden("cum_count"))(_polars_rule("cum_count", lambda t: True, "any type"))
function("shift", sql_names=("__shift",))(_polars_rule("shift", lambda t: True, "any type"))


# ---------------------------------------------------------------------------------------------
# expr.over(...)
# ---------------------------------------------------------------------------------------------

MAPPING_STRATEGIES = ("group_to_rows", "join")


@dataclass(frozen=True, eq=False, repr=False)
class Over(Expr):
    """``expr.over(partition_by, order_by=..., ...)``: Polars' window expression.

    The planner lifts it into a ``Window`` plan node (see ``planner/windows.py``); it never reaches
    a row-local projection.
    """

    _ORDER_DEPENDENT = True

    child: Expr
    partition_by: tuple[Expr, ...] = ()
    order_by: tuple[Expr, ...] = ()
    descending: bool = False
    nulls_last: bool = False
    mapping_strategy: str = "group_to_rows"

    def __post_init__(self) -> None:
        if self.mapping_strategy not in MAPPING_STRATEGIES:
            from thresher.errors import UnsupportedError

            raise UnsupportedError(f"over(mapping_strategy={self.mapping_strategy!r}) is not supported "
                                   f"(supported: {', '.join(MAPPING_STRATEGIES)}, explode)")
        if not self.partition_by and not self.order_by:
            raise ThresherTypeError("over() needs partition_by or order_by")

    def children(self) -> tuple[Expr, ...]:
        return (self.child, *self.partition_by, *self.order_by)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        kids = list(children)
        np_ = len(self.partition_by)
        return Over(kids[0], tuple(kids[1:1 + np_]), tuple(kids[1 + np_:]), self.descending, self.nulls_last,
                    self.mapping_strategy)

    def key(self) -> tuple[Any, ...]:
        return ("over", self.child.key(), _freeze(self.partition_by), _freeze(self.order_by), self.descending,
                self.nulls_last, self.mapping_strategy)

    def output_name(self) -> str:
        return self.child.output_name()

    def resolve(self, schema: Schema) -> Field:
        for e in (*self.partition_by, *self.order_by):
            f = e.resolve(schema)
            if f.dtype.is_media():
                raise ThresherTypeError(f"over: cannot partition or order by {e!r} of type {f.dtype}")
        f = self.child.resolve(schema)
        if self.mapping_strategy == "join" and not is_scalar_result(self.child):
            return Field(f.name, DataType.list(f.dtype))
        return Field(f.name, f.dtype)

    def __repr__(self) -> str:
        opts = f", order_by={list(self.order_by)!r}" if self.order_by else ""
        if self.descending:
            opts += ", descending=True"
        if self.nulls_last:
            opts += ", nulls_last=True"
        if self.mapping_strategy != "group_to_rows":
            opts += f", mapping_strategy={self.mapping_strategy!r}"
        return f"{self.child!r}.over({list(self.partition_by)!r}{opts})"


#: the names of :data:`ORDER_DEPENDENT` and :data:`SQL_WINDOW_FUNCTIONS` (a set: every new
#: expression node is asked whether it is one)
_ORDER_DEPENDENT_NAMES = frozenset(ORDER_DEPENDENT + SQL_WINDOW_FUNCTIONS)


def is_order_dependent(e: Expr) -> bool:
    """Does ``e`` itself (not its children) depend on other rows: an aggregate, a window or a
    cumulative/shift/rank/rolling function?"""
    o = e._ORDER_DEPENDENT  # (a class attribute, not isinstance tests: asked of every new node)
    return e.name in _ORDER_DEPENDENT_NAMES if o is None else o  # type: ignore[attr-defined]


def contains_window(e: Expr) -> bool:
    """Does ``e`` contain an ``over`` or an order-dependent function outside an aggregation?"""
    v = e.__dict__.get("_memo_contains_window", _MISSING)  # (`memo`, inlined: asked of every new node)
    if v is _MISSING:
        v = e.__dict__["_memo_contains_window"] = _contains_window(e)
    return v  # type: ignore[no-any-return]


def _contains_window(e: Expr) -> bool:
    if isinstance(e, (AggCall, CountStar)):
        return False  # an aggregation's argument is per row of its group
    # the children's answers are memoized: a rebuilt expression does not walk them again
    o = e._ORDER_DEPENDENT  # (is_order_dependent written out: this runs for every new node)
    if e.name in _ORDER_DEPENDENT_NAMES if o is None else o:  # type: ignore[attr-defined]
        return True
    if e._LEAF:
        return False
    for c in e.children():  # (a loop, not any() over a generator: this runs for every new node)
        if contains_window(c):
            return True
    return False


def needs_window(e: Expr) -> bool:
    """``contains_window(e) or has_aggregate(e)``: does ``e`` depend on other rows (a projection or
    filter of it cannot run batch by batch)? One walk instead of those two: every DataFrame
    ``select``/``with_columns``/``filter`` asks it of each new expression, and the plan node then
    asks both questions again. Where the answer is no, it is no to both, and their memos are
    filled in on the way (one walk answers all three)."""
    d = e.__dict__
    v = d.get("_memo_needs_window", _MISSING)  # (`memo`, inlined)
    if v is not _MISSING:
        return v  # type: ignore[no-any-return]
    # (contains_window(e) or has_aggregate(e), from the children's memoized answers: an
    # aggregation or an order-dependent node is a yes; otherwise a yes of either question for e
    # is a yes of it for a child. is_order_dependent written out: this runs for every new node)
    o = e._ORDER_DEPENDENT
    if e.name in _ORDER_DEPENDENT_NAMES if o is None else o:  # type: ignore[attr-defined]
        d["_memo_needs_window"] = True
        return True
    if not e._LEAF:
        for c in e.children():  # (a loop, not any() over a generator: this runs for every new node)
            if c.__class__ is not Column and needs_window(c):  # (a column: no, without a call)
                d["_memo_needs_window"] = True
                return True
    d["_memo_contains_window"] = False
    d["_memo_has_aggregate"] = False
    d["_memo_needs_window"] = False
    return False


def is_scalar_result(e: Expr) -> bool:
    """Does ``e`` give one value per group: every column it reads sits under an aggregation, and
    no cumulative/shift/rank/rolling function or window runs outside one?"""
    found_agg = False
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, (AggCall, CountStar)):
            found_agg = True
            continue
        if isinstance(x, Column) or is_order_dependent(x):
            return False
        stack.extend(x.children())
    return found_agg
