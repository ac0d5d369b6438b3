"""Differential fuzzing of the DataFrame API's expressions and windows against Polars' LazyFrame (issue 15).

Hypothesis draws a small frame (0 to 8 rows: NULLs, duplicate keys, ties, NaN, ±inf, -0.0,
int8/int16/int32/int64/uint8, float32/float64, decimals, dates, strings, booleans) and a
pipeline written once and applied to a ``th`` frame and a ``pl.LazyFrame`` alike, around one of:

* ``with_columns`` / ``select`` of one to three drawn expressions,
* ``group_by(keys, maintain_order=True).agg(...)`` (aggregations, expressions of aggregations and
  bare columns, which give each group's list),
* ``filter`` on a windowed predicate (``col(x) >= col(x).mean().over(k)``, ``rank() <= 2``, ...).

An expression is a column, then zero to three drawn methods: element-wise ones (arithmetic,
``abs``, ``round``, ``sqrt``, casts among the numeric/decimal/string/date/bool types with
``strict`` both ways, ``fill_null``, ``is_null``, ``is_between``, ``is_in``, ``when/then/otherwise``
chains, ``str.*``, ``dt.*``, and the first-hour Polars methods ``clip``, ``fill_nan``, ``is_nan``,
``floor``, ``ceil``), order-dependent ones (``cum_sum/count/min/max/prod`` with ``reverse``,
``shift(n, fill_value)``, ``rank(method, descending)``, ``is_duplicated``, ``is_unique``,
``is_first_distinct``, ``is_last_distinct``, ``rolling_sum/mean/min/max/std/var/median(
window_size, min_samples, center)``, ``rolling_quantile``, ``ewm_mean``, ``forward_fill``/
``backward_fill(limit)``, ``fill_null(strategy=)``, ``rle_id``, ``diff``, ``pct_change``) and aggregations (``sum``, ``mean``,
``min``, ``max``, ``count``, ``n_unique``, ``null_count``, ``len``, ``first``, ``last``, ``std``,
``var``, ``median``, ``quantile``, ``any``, ``all``); an order-dependent function or an
aggregation is often wrapped in ``over(partition_by, order_by=, descending=, nulls_last=,
mapping_strategy=)`` with keys that hold NULLs, NaN and -0.0, or an expression as key, now and
then around an expression that holds an ``over`` already (an over of an over). In ``agg``, a bare,
element-wise or order-dependent expression gives each group's list.

Each step's output type is asked of Polars while drawing (a method Polars refuses on that type
is not drawn). Every step keeps the row order determined, so results are compared row by row:
column names, types (as Polars reads Thresher's Arrow result) and values (floats to 1e-9).
Thresher must give Polars' answer or refuse with a ``ThresherError`` or an ``AttributeError``/
``TypeError`` naming what it lacks; a pipeline Polars rejects at run time is skipped.

Deliberate differences, documented in docs/guide/dataframe.md, are written into the Polars side
(so the comparison stays exact): counts (``count``, ``len``, ``n_unique``, ``null_count``, a sum
of booleans, ``str.len_chars``/``len_bytes``) are Int64 in Thresher (Polars UInt32): cast to
Int64; an integer ``sum`` is Int64 (Polars keeps Int32 and wraps): summed in Int64; decimal
arithmetic keeps every digit (a product of decimals: the left one widened to the sum of the
scales first; ``/`` and ``//`` of a decimal: computed in Float64).

``over(order_by=...)`` keys that tie are drawn on purpose: Polars sorts a group's rows stably (tied
rows keep the frame's order), and Thresher must too. A pipeline may sort first (on the drawn keys
and then the unique ``id``), filter or take a head before the step, and filter or take a head
after a ``with_columns`` (a filter must not move below a window).

Not drawn: ``rank(method="random")`` (ties broken at random); ``min()``/``max()`` under
``over(order_by=..., descending=True)`` (Polars 2.1 answers the min of the order key with its max); Polars' oddities where its lazy
engine answers on an empty frame but refuses the same on rows (``rolling_mean`` of strings), and
``any``/``all`` of numbers, ``quantile``/``median`` of booleans (Polars refuses them in a select
and answers in a group_by); a mean/median/quantile of dates or strings rarely (Thresher refuses it).
"""

from __future__ import annotations

import datetime
import decimal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis import strategies as st

import thresher as th
from fuzz_support import PANIC as _PANIC
from fuzz_support import assert_mostly_supported, build_refusal, compare_with_polars, run_cases

D = datetime.date
Dec = decimal.Decimal
NAN, INF = float("nan"), float("inf")

COLUMNS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "k": (pa.int64(), [None, 0, 1, 1, 2]),  # a partition key (duplicates, NULL)
    "g": (pa.string(), [None, "a", "b", "a"]),  # a second key
    "o": (pa.int32(), [None, 1, 2, 2, 3, -1]),  # an order key with ties
    "i8": (pa.int8(), [None, 0, 1, -1, 5, -128, 127]),
    "i16": (pa.int16(), [None, 0, 3, -300, 32767]),
    "i32": (pa.int32(), [None, 0, 7, -5, 2, 2147483647]),
    "i64": (pa.int64(), [None, 0, 3, -2, 10, 10**12]),
    "u8": (pa.uint8(), [None, 0, 1, 200, 255]),
    "f32": (pa.float32(), [None, 0.0, -0.0, 1.5, NAN, -2.25, INF]),
    "f64": (pa.float64(), [None, 0.0, -0.0, 0.1, NAN, -INF, 1e300, 2.5, -2.5, 1.0]),
    "m": (pa.decimal128(10, 2), [None, Dec("1.50"), Dec("-2.25"), Dec("0.00"), Dec("12345.67")]),
    "d": (pa.date32(), [None, D(2024, 2, 29), D(1970, 1, 1), D(1969, 12, 31), D(2024, 12, 31), D(2023, 1, 1)]),
    "s": (pa.string(), [None, "", "a", "B b", "ß", "日本", "a,b", " x ", "12", "-3.5"]),
    "b": (pa.bool_(), [None, True, False]),
}
SCHEMA = pl.from_arrow(pa.table({"id": pa.array([], pa.int64()),  # type: ignore[union-attr]
                                  **{c: pa.array([], t) for c, (t, _) in COLUMNS.items()}})).schema


@st.composite
def frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 8))
    cols = {"id": pa.array(range(n), pa.int64())}  # (unique: a sort on it leaves no ties)
    cols.update({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                 for c, (t, v) in COLUMNS.items()})
    return pa.table(cols)


INT = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _kind(dtype: pl.DataType) -> str:
    if dtype in INT:
        return "int"
    if dtype in (pl.Float32, pl.Float64):
        return "float"
    if isinstance(dtype, pl.Decimal):
        return "dec"
    if dtype == pl.String:
        return "str"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Boolean:
        return "bool"
    if isinstance(dtype, pl.List):
        return "list"
    return "other"


NUM = ("int", "float", "dec")


@dataclass(frozen=True)
class Ex:
    """A drawn expression: its text and a builder on a module (``th`` or ``pl``); ``scalar``: an
    aggregation (one value per group), ``window``: it holds an order-dependent function or an over."""
    text: str
    build: Callable[[Any], Any]
    dtype: pl.DataType
    scalar: bool = False
    window: bool = False

    @property
    def kind(self) -> str:
        return _kind(self.dtype)


def _typed(text: str, build: Callable[[Any], Any], scalar: bool = False, window: bool = False) -> Ex | None:
    """The expression with the type Polars gives it, or None where Polars refuses it."""
    try:
        dtype = pl.LazyFrame(schema=SCHEMA).select(build(pl).alias("x")).collect_schema()["x"]
    except (Exception, _PANIC):  # noqa: BLE001
        return None
    return Ex(text, build, dtype, scalar, window)


def _counted(e: Any, m: Any) -> Any:
    """A count as Thresher types it: Int64 (Polars UInt32; documented in docs/guide/dataframe.md)."""
    return e.cast(pl.Int64) if m is pl else e


def _wide(e: Any, kind: str, m: Any) -> Any:
    """An integer sum is Int64 in Thresher (Polars keeps Int32 and wraps; documented)."""
    return e.cast(pl.Int64) if m is pl and kind == "int" else e


def _dec_quotient(fn: Callable[[Any], Any], x: Any, m: Any) -> Any:
    """``fn`` (a division) of a decimal as Thresher computes it: in Float64 (documented)."""
    return fn(x.cast(pl.Float64)) if m is pl else fn(x)


# ---- element-wise methods -------------------------------------------------------------------------------------------

CASTS = {"Int8": pl.Int8, "Int16": pl.Int16, "Int32": pl.Int32, "Int64": pl.Int64, "UInt8": pl.UInt8,
         "UInt32": pl.UInt32, "Float32": pl.Float32, "Float64": pl.Float64, "Decimal(10, 2)": pl.Decimal(10, 2),
         "Decimal(38, 4)": pl.Decimal(38, 4), "String": pl.String, "Boolean": pl.Boolean, "Date": pl.Date}


def _elementwise(draw: Any, e: Ex) -> Ex | None:
    k = e.kind
    b = e.build
    applicable = {0: NUM, 1: NUM, 2: NUM, 3: None, 4: None, 5: None, 6: ("int", "float", "dec", "date", "str"),
                  7: ("int", "str"), 8: None, 9: ("str",), 10: ("date",), 11: ("bool",), 12: ("list",),
                  13: ("str",), 14: None}
    choice = draw(st.sampled_from([c for c, kinds in applicable.items() if kinds is None or k in kinds]))
    if choice == 0 and k in NUM:
        # (no ** of a decimal: Polars refuses it on rows, and types it as a decimal on an empty frame)
        ops = ["+", "-", "*", "/", "//", "%"] + (["**"] if k != "dec" else [])
        op, v = draw(st.sampled_from(ops)), draw(st.sampled_from([1, 2, -3, 0.5, 0]))
        fn = {"+": lambda x: x + v, "-": lambda x: x - v, "*": lambda x: x * v, "/": lambda x: x / v,
              "//": lambda x: x // v, "%": lambda x: x % v, "**": lambda x: x ** abs(v)}[op]
        if k == "dec" and op in ("/", "//"):
            # a decimal quotient is Float64 in Thresher (Polars: a decimal of the larger scale,
            # rounded to it: 2.00 / 3 is 0.67; documented)
            return _typed(f"({e.text} {op} {v})", lambda m: _dec_quotient(fn, b(m), m), e.scalar, e.window)
        return _typed(f"({e.text} {op} {v if op != '**' else abs(v)})", lambda m: fn(b(m)), e.scalar, e.window)
    if choice == 1 and k in NUM:
        other = draw(st.sampled_from(["i8", "i32", "i64", "f32", "f64", "m", "u8"]))
        op = draw(st.sampled_from(["+", "-", "*", "<", "==", ">="]))
        fn2 = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "<": lambda x, y: x < y,
               "==": lambda x, y: x == y, ">=": lambda x, y: x >= y}[op]
        if op == "*" and k == "dec" and other == "m":
            # a product of decimals keeps every digit in Thresher (scale s1 + s2; Polars: the
            # larger scale, rounded; documented): the left side widened first on Polars' side
            scale = e.dtype.scale + 2  # type: ignore[attr-defined]
            return _typed(f"({e.text} * col('m'))", lambda m: (
                b(m).cast(pl.Decimal(38, scale)) if m is pl else b(m)) * m.col("m"), False, e.window)
        return _typed(f"({e.text} {op} col({other!r}))", lambda m: fn2(b(m), m.col(other)), False, e.window)
    if choice == 2 and k in NUM:
        name = draw(st.sampled_from(["abs", "neg", "round", "sqrt", "clip", "fill_nan", "is_nan", "round", "floor",
                                     "ceil", "is_not_nan", "is_finite", "is_infinite", "clip"]))
        if name == "neg":
            return _typed(f"(-{e.text})", lambda m: -b(m), e.scalar, e.window)
        if name == "round":
            d = draw(st.sampled_from([0, 1, 2]))
            return _typed(f"{e.text}.round({d})", lambda m: b(m).round(d), e.scalar, e.window)
        if name == "clip":
            lo, hi = draw(st.sampled_from([(0, 5), (-1, 1), (None, 2), (1, None), ("i8", None), (-1.5, "f64")]))
            return _typed(f"{e.text}.clip({lo}, {hi})", lambda m: b(m).clip(lo, hi), e.scalar, e.window)
        if name == "fill_nan":
            v = draw(st.sampled_from([0, None, -1.5]))
            return _typed(f"{e.text}.fill_nan({v})", lambda m: b(m).fill_nan(v), e.scalar, e.window)
        return _typed(f"{e.text}.{name}()", lambda m: getattr(b(m), name)(), e.scalar, e.window)
    if choice == 3:
        tname = draw(st.sampled_from(sorted(CASTS)))
        strict = draw(st.booleans())
        return _typed(f"{e.text}.cast(pl.{tname}, strict={strict})",
                      lambda m: b(m).cast(CASTS[tname], strict=strict), e.scalar, e.window)
    if choice == 4:
        fills = {"int": [0, -1], "float": [0.5, NAN], "dec": [0], "str": ["z"], "date": [D(2000, 1, 1)],
                 "bool": [True]}.get(k)
        if not fills:
            return None
        v = draw(st.sampled_from(fills))
        return _typed(f"{e.text}.fill_null({v!r})", lambda m: b(m).fill_null(v), e.scalar, e.window)
    if choice == 5:
        name = draw(st.sampled_from(["is_null", "is_not_null"]))
        return _typed(f"{e.text}.{name}()", lambda m: getattr(b(m), name)(), e.scalar, e.window)
    if choice == 6 and k in ("int", "float", "dec", "date", "str"):
        lo, hi = {"int": (0, 5), "float": (-1.0, 2.5), "dec": (0, 2), "date": (D(1970, 1, 1), D(2024, 2, 29)),
                  "str": ("g", "s")}[k]  # (a string bound names a column, as in Polars)
        if k in ("int", "float") and draw(st.integers(0, 3)) == 0:
            lo, hi = "i8", "f64"
        closed = draw(st.sampled_from(["both", "left", "right", "none"]))
        return _typed(f"{e.text}.is_between({lo!r}, {hi!r}, closed={closed!r})",
                      lambda m: b(m).is_between(lo, hi, closed=closed), e.scalar, e.window)
    if choice == 7 and k in ("int", "str"):
        vals = [1, 0, None] if k == "int" else ["a", "", None]
        return _typed(f"{e.text}.is_in({vals!r})", lambda m: b(m).is_in(vals), e.scalar, e.window)
    if choice == 8:
        cond = draw(st.sampled_from(["b", "i8 > 0", "f64.is_null()", "s == 'a'"]))
        cfn = {"b": lambda m: m.col("b"), "i8 > 0": lambda m: m.col("i8") > 0,
               "f64.is_null()": lambda m: m.col("f64").is_null(), "s == 'a'": lambda m: m.col("s") == "a"}[cond]
        other = {"int": 0, "float": -1.5, "str": "z", "bool": False, "date": D(2001, 2, 3)}.get(k)
        chain = draw(st.booleans())
        if chain:
            return _typed(f"when({cond}).then({e.text}).when(col('k') == 1).then(col('k').cast({e.dtype}))"
                          f".otherwise(lit({other!r}))",
                          lambda m: m.when(cfn(m)).then(b(m)).when(m.col("k") == 1).then(m.col("k").cast(e.dtype))
                          .otherwise(m.lit(other)), False, e.window)
        if draw(st.integers(0, 5)) == 0 and k in ("int", "float", "dec"):  # a string names a column
            oc = draw(st.sampled_from(["i16", "i32", "i64", "m", "u8"]))
            return _typed(f"when({cond}).then({e.text}).otherwise({oc!r})",
                          lambda m: m.when(cfn(m)).then(b(m)).otherwise(oc), False, e.window)
        if draw(st.booleans()):
            return _typed(f"when({cond}).then({e.text})", lambda m: m.when(cfn(m)).then(b(m)), False, e.window)
        return _typed(f"when({cond}).then({e.text}).otherwise(lit({other!r}))",
                      lambda m: m.when(cfn(m)).then(b(m)).otherwise(m.lit(other)), False, e.window)
    if choice == 9 and k == "str":
        # (a string's length is a count: Int64 in Thresher, Polars UInt32; documented)
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "str.len_chars()": lambda x, m: _counted(x.str.len_chars(), m),
            "str.len_bytes()": lambda x, m: _counted(x.str.len_bytes(), m),
            "str.to_uppercase()": lambda x, m: x.str.to_uppercase(),
            "str.to_lowercase()": lambda x, m: x.str.to_lowercase(),
            "str.contains('a', literal=True)": lambda x, m: x.str.contains("a", literal=True),
            "str.contains('^[0-9]')": lambda x, m: x.str.contains("^[0-9]"),
            "str.starts_with('a')": lambda x, m: x.str.starts_with("a"),
            "str.ends_with('b')": lambda x, m: x.str.ends_with("b"),
            "str.slice(1, 2)": lambda x, m: x.str.slice(1, 2),
            "str.slice(-2)": lambda x, m: x.str.slice(-2),
            "str.strip_chars()": lambda x, m: x.str.strip_chars(),
            "str.replace('a', 'X')": lambda x, m: x.str.replace("a", "X"),
            "str.replace_all(' ', '_', literal=True)": lambda x, m: x.str.replace_all(" ", "_", literal=True),
            "str.split(',')": lambda x, m: x.str.split(","),
            "str.to_integer(strict=False)": lambda x, m: x.str.to_integer(strict=False),
            "str.zfill(3)": lambda x, m: x.str.zfill(3),
            "str.head(1)": lambda x, m: x.str.head(1),
            "str.pad_start(3, '*')": lambda x, m: x.str.pad_start(3, "*"),
            "str.tail(-1)": lambda x, m: x.str.tail(-1),
            "str.reverse()": lambda x, m: x.str.reverse(),
            "str.count_matches('a|b')": lambda x, m: x.str.count_matches("a|b"),
            "str.strip_chars_end(' x')": lambda x, m: x.str.strip_chars_end(" x"),
        }
        name = draw(st.sampled_from(sorted(ops)))
        out = _typed(f"{e.text}.{name}", lambda m: ops[name](b(m), m), e.scalar, e.window)
        if out is not None and out.kind == "list" and draw(st.booleans()):
            return _list_method(draw, out) or out
        return out
    if choice == 10 and k == "date":
        dops: dict[str, Callable[[Any], Any]] = {
            "dt.year()": lambda x: x.dt.year(), "dt.month()": lambda x: x.dt.month(),
            "dt.day()": lambda x: x.dt.day(), "dt.weekday()": lambda x: x.dt.weekday(),
            "dt.quarter()": lambda x: x.dt.quarter(), "dt.ordinal_day()": lambda x: x.dt.ordinal_day(),
            "dt.week()": lambda x: x.dt.week(), "dt.truncate('1mo')": lambda x: x.dt.truncate("1mo"),
            "dt.offset_by('1d')": lambda x: x.dt.offset_by("1d"),
            "dt.strftime('%Y/%m')": lambda x: x.dt.strftime("%Y/%m"),
            "dt.month_start()": lambda x: x.dt.month_start(), "dt.month_end()": lambda x: x.dt.month_end(),
            "dt.is_leap_year()": lambda x: x.dt.is_leap_year(),
            "dt.iso_year()": lambda x: x.dt.iso_year(),
        }
        name = draw(st.sampled_from(sorted(dops)))
        return _typed(f"{e.text}.{name}", lambda m: dops[name](b(m)), e.scalar, e.window)
    if choice == 11 and k == "bool":
        return _typed(f"~{e.text}", lambda m: ~b(m), e.scalar, e.window)
    if choice == 12 and k == "list":
        return _list_method(draw, e)
    if choice == 14:  # coalesce with another column (a decimal meets integers), maybe a number
        # (of one kind: Thresher refuses a number next to a string, a date or a boolean)
        same = {"int": ["i8", "i32", "i64", "u8", "f32", "f64", "m"], "float": ["i8", "i64", "f32", "f64", "m"],
                "dec": ["i8", "i32", "i64", "m"], "str": ["s", "g"], "date": ["d"], "bool": ["b"]}.get(k)
        if not same:
            return None
        other = draw(st.sampled_from(same))
        last = draw(st.sampled_from([None, 0, 2.5, "i64", "m"] if k in NUM else [None]))
        rest = [other] if last is None else [other, last]
        return _typed(f"coalesce({e.text}, {', '.join(repr(r) for r in rest)})",
                      lambda m: m.coalesce(b(m), *rest), False, e.window)
    if choice == 13 and k == "str":  # (a split string's list, then a list method)
        sep = draw(st.sampled_from([",", " ", ""]))
        split = _typed(f"{e.text}.str.split({sep!r})", lambda m: b(m).str.split(sep), e.scalar, e.window)
        return _list_method(draw, split) if split is not None else None
    return None


def _list_method(draw: Any, e: Ex) -> Ex | None:
    """A ``list.*`` method (the lists come from ``str.split``); a list it gives may take another."""
    b = e.build
    lops: dict[str, Callable[[Any, Any], Any]] = {
        "list.len()": lambda x, m: _counted(x.list.len(), m),
        # (Thresher gives NULL out of range; Polars raises unless asked for NULL)
        "list.get(0)": lambda x, m: x.list.get(0, null_on_oob=True) if m is pl else x.list.get(0),
        "list.get(-1)": lambda x, m: x.list.get(-1, null_on_oob=True) if m is pl else x.list.get(-1),
        "list.get(1)": lambda x, m: x.list.get(1, null_on_oob=True) if m is pl else x.list.get(1),
        "list.contains('a')": lambda x, m: x.list.contains("a"),
        "list.contains('')": lambda x, m: x.list.contains(""),
        "list.join('|')": lambda x, m: x.list.join("|"),
        "list.min()": lambda x, m: x.list.min(), "list.max()": lambda x, m: x.list.max(),
        "list.first()": lambda x, m: x.list.first(), "list.last()": lambda x, m: x.list.last(),
        "list.sort(descending=True)": lambda x, m: x.list.sort(descending=True),
        "list.sort(nulls_last=True)": lambda x, m: x.list.sort(nulls_last=True),
        "list.reverse()": lambda x, m: x.list.reverse(), "list.slice(1, 2)": lambda x, m: x.list.slice(1, 2),
        "list.slice(-2)": lambda x, m: x.list.slice(-2), "list.head(2)": lambda x, m: x.list.head(2),
        "list.tail(1)": lambda x, m: x.list.tail(1), "list.n_unique()": lambda x, m: x.list.n_unique(),
        "list.unique(maintain_order=True)": lambda x, m: x.list.unique(maintain_order=True),
        "list.drop_nulls()": lambda x, m: x.list.drop_nulls(), "list.arg_min()": lambda x, m: x.list.arg_min(),
        "list.arg_max()": lambda x, m: x.list.arg_max(),
    }
    name = draw(st.sampled_from(sorted(lops)))
    out = _typed(f"{e.text}.{name}", lambda m: lops[name](b(m), m), e.scalar, e.window)
    if out is not None and out.kind == "list" and draw(st.booleans()):
        return _list_method(draw, out) or out
    return out


# ---- order-dependent methods, aggregations and over ------------------------------------------------------------------

DISTINCT = ("is_duplicated", "is_unique", "is_first_distinct", "is_last_distinct")


def _ordered_fn(draw: Any, e: Ex) -> Ex | None:
    b = e.build
    name = draw(st.sampled_from(["cum_sum", "cum_count", "cum_min", "cum_max", "cum_prod", "shift", "shift", "rank",
                                 "rank", "rolling_sum", "rolling_mean", "rolling_min", "rolling_max", "rolling_std",
                                 "rolling_var", "diff", "pct_change", "is_duplicated", "is_unique",
                                 "is_first_distinct", "is_last_distinct", "rolling_median", "rolling_quantile",
                                 "ewm_mean", "forward_fill", "backward_fill", "fill_null_strategy", "rle_id"]))
    if (name.startswith(("rolling_", "ewm_")) or name in ("cum_sum", "cum_prod", "diff", "pct_change")) and \
            e.kind not in NUM:
        return None  # (Polars refuses them on strings and dates, but not on an empty frame)
    if name.startswith("cum_"):
        rev = draw(st.booleans())
        if name == "cum_count":
            return _typed(f"{e.text}.cum_count(reverse={rev})", lambda m: b(m).cum_count(reverse=rev),
                          window=True)
        return _typed(f"{e.text}.{name}(reverse={rev})", lambda m: getattr(b(m), name)(reverse=rev), window=True)
    if name == "shift":
        n = draw(st.sampled_from([1, -1, 2, 0, -3]))
        fills = {"int": [None, 0], "float": [None, -1.0], "str": [None, "z"], "dec": [None],
                 "date": [None], "bool": [None, False]}.get(e.kind, [None])
        fill = draw(st.sampled_from(fills))
        if fill is None:
            return _typed(f"{e.text}.shift({n})", lambda m: b(m).shift(n), window=True)
        return _typed(f"{e.text}.shift({n}, fill_value={fill!r})", lambda m: b(m).shift(n, fill_value=fill),
                      window=True)
    if name == "rank":
        method = draw(st.sampled_from(["average", "min", "max", "dense", "ordinal"]))
        desc = draw(st.booleans())
        return _typed(f"{e.text}.rank({method!r}, descending={desc})",
                      lambda m: b(m).rank(method, descending=desc), window=True)
    if name == "diff":
        n = draw(st.sampled_from([1, 2, -1]))
        return _typed(f"{e.text}.diff({n})", lambda m: b(m).diff(n), window=True)
    if name in DISTINCT or name in ("rle_id", "forward_fill", "backward_fill"):
        if name.endswith("_fill") and draw(st.booleans()):
            lim = draw(st.sampled_from([1, 2]))
            return _typed(f"{e.text}.{name}({lim})", lambda m: getattr(b(m), name)(lim), window=True)
        return _typed(f"{e.text}.{name}()", lambda m: getattr(b(m), name)(), window=True)
    if name == "fill_null_strategy":
        strategy = draw(st.sampled_from(["forward", "backward", "min", "max", "mean", "zero", "one"]))
        return _typed(f"{e.text}.fill_null(strategy={strategy!r})", lambda m: b(m).fill_null(strategy=strategy),
                      window=True)
    if name == "ewm_mean":
        kw = draw(st.sampled_from([{"alpha": 0.5}, {"span": 2, "adjust": False}, {"com": 1.0, "ignore_nulls": True}]))
        return _typed(f"{e.text}.ewm_mean(**{kw})", lambda m: b(m).ewm_mean(**kw), window=True)
    if name == "rolling_quantile":
        q, how = draw(st.sampled_from([(0.5, "linear"), (0.25, "nearest"), (1.0, "higher")]))
        return _typed(f"{e.text}.rolling_quantile({q}, {how!r}, 2, min_samples=1)",
                      lambda m: b(m).rolling_quantile(q, how, 2, min_samples=1), window=True)
    if name == "pct_change":
        return _typed(f"{e.text}.pct_change()", lambda m: b(m).pct_change(), window=True)
    ws = draw(st.integers(1, 3))
    ms = draw(st.sampled_from([None, 1, 2]))
    if ms is not None and ms > ws:
        ms = ws
    center = draw(st.integers(0, 3)) == 0
    return _typed(f"{e.text}.{name}({ws}, min_samples={ms}, center={center})",
                  lambda m: getattr(b(m), name)(ws, min_samples=ms, center=center), window=True)


AGGS = ("sum", "mean", "min", "max", "count", "n_unique", "null_count", "first", "last", "std", "var", "median",
        "quantile", "any", "all", "len")


def _aggregate(draw: Any, e: Ex) -> Ex | None:
    b, k = e.build, e.kind
    name = draw(st.sampled_from(AGGS))
    if name in ("any", "all") and k != "bool":
        return None  # (Polars 2.1 takes the truth of numbers; Thresher asks for booleans)
    if name in ("quantile", "median") and k == "bool":
        return None  # (Polars refuses it in a select, and gives a Boolean in a group_by)
    if name in ("mean", "median", "quantile", "std", "var") and k not in (*NUM, "bool") and \
            draw(st.integers(0, 9)) > 0:
        name = "max"  # (a mean of dates or strings is refused: drawn rarely)
    if name == "sum":
        if k == "bool":
            return _typed(f"{e.text}.sum()", lambda m: _counted(b(m).sum(), m), scalar=True, window=e.window)
        return _typed(f"{e.text}.sum()", lambda m: _wide(b(m), k, m).sum(), scalar=True, window=e.window)
    if name in ("count", "n_unique", "null_count", "len"):
        return _typed(f"{e.text}.{name}()", lambda m: _counted(getattr(b(m), name)(), m), scalar=True,
                      window=e.window)
    if name == "quantile":
        q = draw(st.sampled_from([0.25, 0.5, 1.0]))
        return _typed(f"{e.text}.quantile({q})", lambda m: b(m).quantile(q), scalar=True, window=e.window)
    if name in ("std", "var") and draw(st.booleans()):
        # (not ddof=0: Polars 2.1 gives a group of only NULLs 0.0 or NULL depending on the path
        # (group_by after a when/then, over with nulls_last, ...), a NULL in a select)
        return _typed(f"{e.text}.{name}(ddof=2)", lambda m: getattr(b(m), name)(ddof=2), scalar=True,
                      window=e.window)
    return _typed(f"{e.text}.{name}()", lambda m: getattr(b(m), name)(), scalar=True, window=e.window)


PARTITIONS: dict[str, Callable[[Any], Any]] = {
    "'k'": lambda m: "k", "'g'": lambda m: "g", "['k', 'g']": lambda m: ["k", "g"], "'b'": lambda m: "b",
    "'f64'": lambda m: "f64", "'d'": lambda m: "d", "col('i8') % 2": lambda m: m.col("i8") % 2,
    "'m'": lambda m: "m",
}
ORDERS: dict[str, Callable[[Any], Any]] = {
    "'o'": lambda m: "o", "['o', 'i64']": lambda m: ["o", "i64"], "'f64'": lambda m: "f64", "'s'": lambda m: "s",
    "'d'": lambda m: "d", "col('i8') * -1": lambda m: m.col("i8") * -1, "'id'": lambda m: "id",
}


def _over(draw: Any, e: Ex, ordered_only: bool = False) -> Ex | None:
    b = e.build
    part = None if ordered_only else draw(st.sampled_from([None, *sorted(PARTITIONS)]))
    order = draw(st.sampled_from([None, *sorted(ORDERS)])) if not ordered_only else draw(st.sampled_from(sorted(ORDERS)))
    if part is None and order is None:
        part = "'k'"
    kw: dict[str, Any] = {}
    if order is not None:
        if draw(st.booleans()):
            kw["descending"] = draw(st.booleans())
        if draw(st.booleans()):
            kw["nulls_last"] = draw(st.booleans())
    if draw(st.integers(0, 7)) == 0:
        kw["mapping_strategy"] = "join"
    if kw.get("descending") and e.text.endswith((".min()", ".max()")):
        # Polars 2.1 gives min() over(order_by=x, descending=True) of x its maximum (it trusts the
        # sort of the order key), a Polars bug: not drawn
        kw["descending"] = False
    text_kw = "".join(f", {a}={v!r}" for a, v in kw.items())

    def build(m: Any) -> Any:
        okw = dict(kw)
        if order is not None:
            okw["order_by"] = ORDERS[order](m)
        return b(m).over(PARTITIONS[part](m) if part is not None else None, **okw)

    text = f"{e.text}.over({part}{', order_by=' + order if order else ''}{text_kw})"
    return _typed(text, build, window=True)


COLUMN_NAMES = sorted(COLUMNS)  # (not "id": the draws mean to meet ties)


@st.composite
def expressions(draw: Any, allow_window: bool = True, want_scalar: bool = False, depth: int = 0) -> Ex:
    """A column and zero to three methods; with ``want_scalar`` it ends in an aggregation."""
    c = draw(st.sampled_from(COLUMN_NAMES + ["s", "s", "d", "d", "g"]))  # (more strings and dates)
    e = Ex(f"col({c!r})", lambda m, c=c: m.col(c), SCHEMA[c])
    for _ in range(draw(st.integers(0, 3))):
        roll = draw(st.integers(0, 11))
        nxt: Ex | None = None
        # (a window of a window, or an aggregation of one, now and then: Polars computes them)
        nested = not e.window or draw(st.integers(0, 3)) == 0
        if roll < 4:
            nxt = _elementwise(draw, e)
        # (an over of an over now and then: Polars evaluates the inner one within the outer
        # one's groups, and so does Thresher; it refuses an ordered inner one in an ordered outer)
        elif roll < 7 and allow_window and nested and not e.scalar:
            nxt = _ordered_fn(draw, e)
            if nxt is not None and (not e.window or draw(st.integers(0, 3)) == 0) and draw(st.integers(0, 3)) > 0:
                nxt = _over(draw, nxt) or nxt
        elif roll < 10 and allow_window and not e.scalar and nested:
            nxt = _aggregate(draw, e)
            if nxt is not None and (not e.window or draw(st.integers(0, 3)) == 0) and draw(st.booleans()):
                nxt = _over(draw, nxt) or nxt
        elif allow_window and e.kind in ("int", "float") and depth < 1:
            other = draw(expressions(depth=depth + 1))
            if other.kind in ("int", "float", "dec"):  # (Thresher refuses arithmetic on booleans)
                op = draw(st.sampled_from(["+", "-", "*", "<"]))
                fn = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
                      "<": lambda x, y: x < y}[op]
                b1, b2 = e.build, other.build
                nxt = _typed(f"({e.text} {op} {other.text})", lambda m, fn=fn, b1=b1, b2=b2: fn(b1(m), b2(m)),
                             e.scalar and other.scalar, e.window or other.window)
        if nxt is not None:
            e = nxt
    if want_scalar and not e.scalar:
        e = _aggregate(draw, e) or Ex("len()", lambda m: _counted(m.len(), m), pl.Int64, True)
    return e


# ---- pipeline steps -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    text: str
    apply: Callable[[Any, Any], Any]


@st.composite
def pipelines(draw: Any) -> Step:
    """A main step, maybe after a sort or a filter, maybe followed by a filter or a head (each
    keeps the row order determined: a sort ends with the unique ``id``)."""
    main = draw(steps())
    before = draw(st.sampled_from(["", "", "sort", "filter", "head"]))
    after = draw(st.sampled_from(["", "", "", "filter", "head"])) if main.text.startswith("with_columns") else ""
    parts: list[Step] = []
    if before == "sort":
        keys = draw(st.lists(st.sampled_from(["k", "g", "o", "f64", "s", "d", "b", "m"]), min_size=1, max_size=2,
                             unique=True)) + ["id"]
        desc = [draw(st.booleans()) for _ in keys]
        nl = draw(st.booleans())
        parts.append(Step(f"sort({keys}, descending={desc}, nulls_last={nl})",
                          lambda f, m: f.sort(keys, descending=desc, nulls_last=nl)))
    elif before == "filter":
        parts.append(Step("filter(col('i16') != 0)", lambda f, m: f.filter(m.col("i16") != 0)))
    elif before == "head":
        parts.append(Step("head(5)", lambda f, m: f.head(5)))
    parts.append(main)
    if after == "filter":
        parts.append(Step("filter(col('k').is_not_null() & (col('i8') != 5))",
                          lambda f, m: f.filter(m.col("k").is_not_null() & (m.col("i8") != 5))))
    elif after == "head":
        parts.append(Step("head(3)", lambda f, m: f.head(3)))

    def apply(f: Any, m: Any) -> Any:
        for p in parts:
            f = p.apply(f, m)
        return f

    return Step(".".join(p.text for p in parts), apply)


@st.composite
def steps(draw: Any) -> Step:
    kind = draw(st.sampled_from(["with_columns", "with_columns", "with_columns", "select", "select_agg", "group_by",
                                 "filter"]))
    if kind in ("with_columns", "select"):
        exprs = draw(st.lists(expressions(), min_size=1, max_size=3))
        names = [f"r{i}" for i in range(len(exprs))]
        if kind == "select" and draw(st.booleans()):
            exprs.append(Ex("col('k')", lambda m: m.col("k"), pl.Int64))
            names.append("k")
        text = ", ".join(f"{e.text}.alias({n!r})" for e, n in zip(exprs, names))
        return Step(f"{kind}({text})", lambda f, m: getattr(f, kind)(*[e.build(m).alias(n) for e, n in zip(exprs, names)]))
    if kind == "select_agg":
        exprs = draw(st.lists(expressions(want_scalar=True), min_size=1, max_size=3))
        text = ", ".join(f"{e.text}.alias('r{i}')" for i, e in enumerate(exprs))
        return Step(f"select({text})", lambda f, m: f.select(*[e.build(m).alias(f"r{i}") for i, e in enumerate(exprs)]))
    if kind == "group_by":
        keys = draw(st.sampled_from([["k"], ["g"], ["k", "g"], ["b"], ["d"], ["f64"]]))
        exprs = []
        for _ in range(draw(st.integers(1, 3))):
            roll = draw(st.integers(0, 9))
            if roll < 3:  # a bare column, an element-wise or an order-dependent expression: each group's list
                c = draw(st.sampled_from([c for c in COLUMN_NAMES if c not in keys]))
                e = Ex(f"col({c!r})", lambda m, c=c: m.col(c), SCHEMA[c])
                e = (_elementwise(draw, e) if roll < 2 else _ordered_fn(draw, e)) or e
            else:
                e = draw(expressions(allow_window=False, want_scalar=True))
                if e.window:
                    continue
            exprs.append(e)
        text = ", ".join(f"{e.text}.alias('r{i}')" for i, e in enumerate(exprs))
        return Step(f"group_by({keys}, maintain_order=True).agg({text})",
                    lambda f, m: f.group_by(*keys, maintain_order=True).agg(
                        *[e.build(m).alias(f"r{i}") for i, e in enumerate(exprs)]))
    # filter on a window
    e = draw(expressions())
    if e.kind in NUM:
        pred = draw(st.sampled_from(["> 0", ">= mean.over(k)", "== max.over(g)", "rank <= 2"]))
        b = e.build
        fn = {"> 0": lambda m: b(m) > 0,
              ">= mean.over(k)": lambda m: b(m) >= b(m).mean().over("k"),
              "== max.over(g)": lambda m: b(m) == b(m).max().over("g"),
              "rank <= 2": lambda m: b(m).rank("min").over("k", order_by="o") <= 2}[pred]
        if e.window and pred != "> 0":
            fn, pred = (lambda m: b(m) > 0), "> 0"
        return Step(f"filter({e.text} {pred})", lambda f, m: f.filter(fn(m)))
    if e.kind == "bool":
        return Step(f"filter({e.text})", lambda f, m: f.filter(e.build(m)))
    return Step("filter(col('i64') == col('i64').max().over('k'))",
                lambda f, m: f.filter(m.col("i64") == m.col("i64").max().over("k")))


# ---- comparing ------------------------------------------------------------------------------------------------------


def run_one(table: pa.Table, step: Step) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    text = f"df = {table.to_pydict()}\ndf.{step.text}"
    try:
        want = step.apply(pl.from_arrow(table).lazy(), pl).collect()  # type: ignore[union-attr]
        want_rows = want.rows()  # (Polars panics on a date out of Python's range: nothing to compare)
    except (Exception, _PANIC):  # noqa: BLE001 (Polars rejects it, or panics: nothing to compare with)
        reject()
    try:
        tf = step.apply(th.from_arrow(table), th)
    except (Exception, _PANIC) as exc:  # noqa: BLE001 (classified: a refusal, or a crash)
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want, want_rows)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((frames(), pipelines()), run_one, n, seed)


def _assert_mostly_supported(stats: Counter[str]) -> None:
    assert_mostly_supported(stats, 0.1)


def test_dataframe_window_fuzz_against_polars() -> None:
    _assert_mostly_supported(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_dataframe_window_fuzz_against_polars_long(seed: int) -> None:
    _assert_mostly_supported(fuzz(1500, seed))
