"""Differential fuzzing of the DataFrame API's frame operations against Polars' LazyFrame (issue 15).

Hypothesis draws two small frames (NULLs, duplicate keys, empty frames, NaN, -0.0, unicode, dates,
int8/int32/int64 and decimal columns) and a pipeline of one to four frame operations written once
and applied to a ``th`` frame and a ``pl.LazyFrame`` alike: filter, select (also of aggregations,
and constants, broadcast next to columns), with_columns (arithmetic with Python numbers, windows
``over``, ``cum_sum``, ``str.split``), group_by().agg (sum, mean, min, max, count, len, n_unique,
null_count, first, last, std, var, median, quantile, a bare column's list; maintain_order or a sort
after), join (every ``how``, ``on`` or ``left_on``/``right_on``, several keys, suffix, coalesce,
nulls_equal, key types that differ, ``maintain_order``), unique (subset, keep, maintain_order), sort (several keys,
per-key ``descending``/``nulls_last``), head/tail/slice/limit, concat (vertical, diagonal),
drop_nulls, fill_null (values and strategies), rename, drop, explode, with_row_index, unpivot,
pivot, and Polars' frame methods top_k/bottom_k, fill_nan, drop_nans, min/max/count, gather_every,
reverse, shift, first, last, and the expressions of their own length (``col(c).value_counts()``,
``unique()``, ``top_k``/``bottom_k``, ``sort`` in ``with_columns``) after any of those.

Each step is drawn from the schema Polars reports for the pipeline so far, and the fuzzer tracks
whether the row order is determined: order-dependent steps (head, tail, slice, with_row_index,
first/last, ``keep="first"``, pivot, ...) are drawn only where it is, and results whose order
Polars leaves open (a join, a group-by without maintain_order, unpivot) are compared as
multisets. A sort lists every sortable column (the drawn keys first) so ties cannot reorder rows.
Thresher must give Polars' column names, types (as Polars reads Thresher's Arrow result) and
values (floats to 1e-9), or refuse with a ``ThresherError`` or an ``AttributeError``/``TypeError``
naming what it lacks; a pipeline Polars itself rejects is skipped.

Deliberate differences, documented in docs/guide/dataframe.md, are written into the Polars side
(so the comparison stays exact): counts (``count``, ``len``, ``n_unique``, ``null_count``, a sum of
booleans, ``with_row_index``, pivot's ``len``) are Int64 in Thresher (Polars UInt32, where
``count - 3`` wraps): cast to Int64; an integer ``sum`` is Int64 (Polars keeps Int32 and wraps):
summed in Int64; ``lit(1)`` alone is Int64 (Polars Int32): ``lit(1, dtype=Int64)``.

Not drawn: a frame without columns (Thresher gives no rows, Polars keeps the height),
``unique(subset, keep="any")`` (which row stays is open).
"""

from __future__ import annotations

import datetime
import decimal
import math
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
# (Polars warns that it merges no key where a join key is an expression and coalesce=True)
pytestmark = pytest.mark.filterwarnings("ignore:coalescing join requested:UserWarning")

LEFT: dict[str, tuple[pa.DataType, list[Any]]] = {
    "k": (pa.int64(), [None, 0, 1, 2, 2, -1]),
    "k2": (pa.string(), [None, "a", "b", "é", ""]),
    "i": (pa.int32(), [None, 0, 1, -5, 7, 100, 2147483647]),
    "f": (pa.float64(), [None, 0.0, -0.0, 1.5, -2.5, float("nan"), 1e300, 0.1]),
    "s": (pa.string(), [None, "", "a", "x,y", "日本,語", "ß", "a,b,a"]),
    "d": (pa.date32(), [None, D(2024, 2, 29), D(1970, 1, 1), D(1969, 12, 31), D(2024, 12, 31)]),
    "b": (pa.bool_(), [None, True, False]),
    "e": (pa.int8(), [None, 0, 1, -128, 127]),
    "m": (pa.decimal128(10, 2), [None, Dec("1.50"), Dec("-2.25"), Dec("0.00")]),
}
RIGHT: dict[str, tuple[pa.DataType, list[Any]]] = {
    "k": (pa.int64(), [None, 0, 1, 2, 3]),
    "k2": (pa.string(), [None, "a", "b", "é", "z"]),
    "j": (pa.int16(), [None, 0, 1, 7, -5]),
    "i": (pa.int32(), [None, 1, 7]),
    "g": (pa.string(), [None, "p", "q"]),
    "m": (pa.decimal128(10, 2), [None, Dec("1.50"), Dec("-2.25"), Dec("0.00")]),
}


def _table(draw: Any, spec: dict[str, tuple[pa.DataType, list[Any]]], max_rows: int) -> pa.Table:
    n = draw(st.integers(0, max_rows))
    names = [c for c in spec if draw(st.integers(0, 5)) > 0] or [next(iter(spec))]
    return pa.table({c: pa.array(draw(st.lists(st.sampled_from(spec[c][1]), min_size=n, max_size=n)), spec[c][0])
                     for c in names})


# ---- the pipeline --------------------------------------------------------------------------------------------------

INT = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
NUMERIC = (*INT, pl.Float32, pl.Float64)


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


@dataclass(frozen=True)
class Step:
    """One frame operation: ``apply(frame, module, right)`` on a ``th`` frame or a ``pl.LazyFrame``
    alike (``right`` is the same module's second frame)."""
    text: str
    apply: Callable[[Any, Any, Any], Any]


def _lit(m: Any, v: Any) -> Any:
    return m.lit(v)


def _predicate(draw: Any, schema: dict[str, str]) -> tuple[str, Callable[[Any], Any]]:
    if draw(st.integers(0, 4)) == 0:
        (ta, a), (tb, b) = _term(draw, schema), _term(draw, schema)
        if draw(st.booleans()):
            return f"({ta}) & ({tb})", lambda m: a(m) & b(m)
        return f"({ta}) | ~({tb})", lambda m: a(m) | ~b(m)
    return _term(draw, schema)


def _term(draw: Any, schema: dict[str, str]) -> tuple[str, Callable[[Any], Any]]:
    name = draw(st.sampled_from(sorted(schema)))
    kind = schema[name]
    if kind == "int" and draw(st.integers(0, 3)) == 0:
        vals = draw(st.sampled_from([[0, 2], [1, None], [], [-1, 7, 100]]))
        if draw(st.booleans()):
            return f"col({name!r}).is_in({vals!r})", lambda m: m.col(name).is_in(vals)
        lo, hi = draw(st.sampled_from([(0, 2), (-1, 1), (2, 0)]))
        closed = draw(st.sampled_from(["both", "left", "right", "none"]))
        return (f"col({name!r}).is_between({lo}, {hi}, closed={closed!r})",
                lambda m: m.col(name).is_between(lo, hi, closed=closed))
    if kind in ("int", "float", "dec"):
        v = draw(st.sampled_from([0, 1, -1, 2]))
        op = draw(st.sampled_from(["<", ">=", "==", "!="]))
        ops = {"<": lambda e: e < v, ">=": lambda e: e >= v, "==": lambda e: e == v, "!=": lambda e: e != v}
        return f"col({name!r}) {op} {v}", lambda m: ops[op](m.col(name))
    if kind == "str" and draw(st.integers(0, 2)) == 0:
        fn_name, arg, kw = draw(st.sampled_from([
            ("contains", "a", {"literal": True}), ("contains", "^a|y$", {}), ("contains", ",", {"literal": True}),
            ("contains", "[é日]", {}), ("starts_with", "a", {}), ("ends_with", "y", {})]))
        kwt = "".join(f", {k}={v!r}" for k, v in kw.items())
        return (f"col({name!r}).str.{fn_name}({arg!r}{kwt})",
                lambda m: getattr(m.col(name).str, fn_name)(arg, **kw))
    if kind == "str":
        v = draw(st.sampled_from(["a", "", "é", "x,y"]))
        if draw(st.booleans()):
            return f"col({name!r}).is_in(['a', {v!r}])", lambda m: m.col(name).is_in(["a", v])
        return f"col({name!r}) > {v!r}", lambda m: m.col(name) > v
    if kind == "date":
        v = D(2000, 1, 1)
        return f"col({name!r}) > {v!r}", lambda m: m.col(name) > v
    if kind == "bool":
        return f"col({name!r})", lambda m: m.col(name)
    if draw(st.booleans()):
        return f"col({name!r}).is_null()", lambda m: m.col(name).is_null()
    return f"col({name!r}).is_not_null()", lambda m: m.col(name).is_not_null()


def _int_lit(m: Any, v: int) -> Any:
    """``lit(v)`` alone: Int64 in Thresher, Int32 in Polars (documented in docs/guide/dataframe.md)."""
    return m.lit(v, dtype=pl.Int64) if m is pl else m.lit(v)


def _counted(e: Any, m: Any) -> Any:
    """A count (``count``, ``len``, ``n_unique``, ``null_count``, a row index) as Thresher types it:
    Int64 (Polars UInt32, where ``count - 3`` wraps; documented in docs/guide/dataframe.md)."""
    return e.cast(pl.Int64) if m is pl else e


def _wide(e: Any, kind: str, m: Any) -> Any:
    """``e`` as Thresher sums it, on Polars' side: an integer sum is Int64 in Thresher (Polars
    keeps Int32 and wraps on overflow; documented in docs/guide/dataframe.md)."""
    return e.cast(pl.Int64) if m is pl and kind == "int" else e


AGGS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "sum": (("int", "float", "dec", "bool"), lambda e: e.sum()),
    "mean": (("int", "float", "bool", "dec"), lambda e: e.mean()),
    "min": (("int", "float", "str", "date", "bool", "dec"), lambda e: e.min()),
    "max": (("int", "float", "str", "date", "bool", "dec"), lambda e: e.max()),
    "count": (("int", "float", "str", "date", "bool", "dec"), lambda e: e.count()),
    "n_unique": (("int", "str", "date", "bool"), lambda e: e.n_unique()),
    "std": (("int", "float"), lambda e: e.std()),
    "var": (("int", "float"), lambda e: e.var()),
    "median": (("int", "float", "dec"), lambda e: e.median()),
    "quantile(0.25)": (("int", "float"), lambda e: e.quantile(0.25)),
    "null_count": (("int", "str"), lambda e: e.null_count()),
}
ORDERED_AGGS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "first": (("int", "float", "str", "date", "bool"), lambda e: e.first()),
    "last": (("int", "float", "str", "date", "bool"), lambda e: e.last()),
}


def _aggs(draw: Any, schema: dict[str, str], ordered: bool, exclude: set[str]) -> list[tuple[str, Callable[[Any], Any]]]:
    """Aggregations (name, builder on a module) over the columns not in ``exclude``."""
    out: list[tuple[str, Callable[[Any], Any]]] = []
    cols = [c for c in sorted(schema) if c not in exclude and schema[c] != "list"]
    table = {**AGGS, **(ORDERED_AGGS if ordered else {})}
    for i in range(draw(st.integers(1, 3))):
        if not cols:
            break
        c = draw(st.sampled_from(cols))
        options = [n for n, (kinds, _) in table.items() if schema[c] in kinds]
        if ordered and draw(st.integers(0, 5)) == 0:
            out.append((f"col({c!r}).alias('a{i}')", lambda m, c=c, i=i: m.col(c).alias(f"a{i}")))
            continue
        if draw(st.integers(0, 6)) == 0:
            out.append((f"len().alias('a{i}')", lambda m, i=i: _counted(m.len(), m).alias(f"a{i}")))
            continue
        if not options:
            continue
        name = draw(st.sampled_from(options))
        fn, k = table[name][1], schema[c] if name == "sum" else ""
        counted = name in ("count", "n_unique", "null_count") or (name == "sum" and schema[c] == "bool")
        out.append((f"col({c!r}).{name}().alias('a{i}')",
                    lambda m, c=c, fn=fn, i=i, k=k, n=counted: (
                        _counted(fn(_wide(m.col(c), k, m)), m) if n else fn(_wide(m.col(c), k, m))).alias(f"a{i}")))
    return out


def _value_expr(draw: Any, schema: dict[str, str], ordered: bool,  # noqa: C901, PLR0911
                lists: dict[str, str] | None = None) -> tuple[str, Callable[[Any], Any]]:
    """A per-row expression (possibly with a broadcast aggregate or a window); ``lists``: the
    element kinds of the list columns."""
    strs = [c for c in sorted(schema) if schema[c] == "str"]
    if (lists or strs) and draw(st.integers(0, 3 if lists else 6)) == 0:
        return _list_expr(draw, lists or {}, strs)
    nums = [c for c in sorted(schema) if schema[c] in ("int", "float")]
    keys = [c for c in sorted(schema) if schema[c] in ("int", "str", "bool", "date")]
    choice = draw(st.integers(0, 7))
    if choice == 0 and nums:
        c = draw(st.sampled_from(nums))
        v = draw(st.sampled_from([1, 2.5, -3]))
        if draw(st.integers(0, 3)) == 0:
            v = draw(st.sampled_from([2, 0.5]))
            return f"col({c!r}) ** {v}", lambda m: m.col(c) ** v
        return f"col({c!r}) * {v}", lambda m: m.col(c) * v
    if choice == 1 and len(nums) >= 1:
        c, c2 = draw(st.sampled_from(nums)), draw(st.sampled_from(nums))
        return f"col({c!r}) + col({c2!r})", lambda m: m.col(c) + m.col(c2)
    if choice == 2 and nums:
        c = draw(st.sampled_from(nums))
        agg = draw(st.sampled_from(["sum", "max", "mean", "count"]))
        return f"col({c!r}) - col({c!r}).{agg}()", lambda m: m.col(c) - (
            _counted(m.col(c).count(), m) if agg == "count" else
            getattr(_wide(m.col(c), schema[c], m) if agg == "sum" else m.col(c), agg)())
    if choice == 3 and keys:
        c, k = draw(st.sampled_from(sorted(schema))), draw(st.sampled_from(keys))
        if schema[c] == "list":
            return "lit(1)", lambda m: _int_lit(m, 1)
        agg = draw(st.sampled_from(["count", "max", "n_unique"] + (["sum", "mean"] if schema[c] in ("int", "float")
                                                                     else [])))
        def over(m: Any) -> Any:
            e = getattr(_wide(m.col(c), schema[c], m) if agg == "sum" else m.col(c), agg)().over(k)
            return _counted(e, m) if agg in ("count", "n_unique") else e

        return f"col({c!r}).{agg}().over({k!r})", over
    if choice == 4 and ordered and nums:
        c = draw(st.sampled_from(nums))
        return f"col({c!r}).cum_sum()", lambda m: m.col(c).cum_sum()
    if choice == 5 and strs:
        c = draw(st.sampled_from(strs))
        return f"col({c!r}).str.split(',')", lambda m: m.col(c).str.split(",")
    if choice == 6 and keys:
        c = draw(st.sampled_from(keys))
        return f"col({c!r}).is_null()", lambda m: m.col(c).is_null()
    v = draw(st.sampled_from([1, "z", None, 2.5, D(2024, 1, 1)]))
    return f"lit({v!r})", lambda m: _int_lit(m, v) if isinstance(v, int) else m.lit(v)


def _list_expr(draw: Any, lists: dict[str, str], strs: list[str]) -> tuple[str, Callable[[Any], Any]]:
    """A ``list.*`` method of a list column (a group's list, a split string) or of a string
    column split on commas."""
    if strs and (not lists or draw(st.booleans())):
        s = draw(st.sampled_from(strs))
        ctext, inner = f"col({s!r}).str.split(',')", "str"

        def c_(m: Any) -> Any:
            return m.col(s).str.split(",")
    else:
        c = draw(st.sampled_from(sorted(lists)))
        ctext, inner = f"col({c!r})", lists[c]

        def c_(m: Any) -> Any:
            return m.col(c)
    name = draw(st.sampled_from(["len", "get", "contains", "join", "sum", "mean", "min", "max", "first", "last",
                                 "n_unique", "arg_max", "sort", "unique", "slice"]))
    if name == "len":
        return f"{ctext}.list.len()", lambda m: _counted(c_(m).list.len(), m)
    if name == "get":
        i = draw(st.sampled_from([0, 1, -1, 5]))
        # (Thresher gives NULL out of range; Polars raises unless asked for NULL)
        return f"{ctext}.list.get({i})", lambda m: (
            c_(m).list.get(i, null_on_oob=True) if m is pl else c_(m).list.get(i))
    if name == "contains":
        v = {"str": "a", "int": 1, "float": 1.5, "bool": True, "date": D(1970, 1, 1)}.get(inner, 0)
        return f"{ctext}.list.contains({v!r})", lambda m: c_(m).list.contains(v)
    if name == "join":
        return f"{ctext}.list.join('-')", lambda m: c_(m).list.join("-")
    if name == "sum" and inner == "int":
        # (an integer sum is Int64 in Thresher; documented)
        return f"{ctext}.list.sum()", lambda m: (
            c_(m).cast(pl.List(pl.Int64)) if m is pl else c_(m)).list.sum()
    if name == "sort":
        return (f"{ctext}.list.sort(descending=True).list.first()",
                lambda m: c_(m).list.sort(descending=True).list.first())
    if name == "unique":
        return (f"{ctext}.list.unique(maintain_order=True)", lambda m: c_(m).list.unique(maintain_order=True))
    if name == "slice":
        return f"{ctext}.list.slice(1, 2)", lambda m: c_(m).list.slice(1, 2)
    return f"{ctext}.list.{name}()", lambda m: getattr(c_(m).list, name)()


@dataclass
class State:
    schema: dict[str, str]
    ordered: bool  # the row order is determined (the comparison is row by row)
    lists: dict[str, str]  # a list column's element kind


def _lists(lf: pl.LazyFrame) -> dict[str, str]:
    return {n: _kind(t.inner) for n, t in lf.collect_schema().items() if isinstance(t, pl.List)}


def _sortable(schema: dict[str, str]) -> list[str]:
    return [c for c in sorted(schema) if schema[c] not in ("list", "other")]


def _schema(lf: pl.LazyFrame) -> dict[str, str]:
    return {n: _kind(t) for n, t in lf.collect_schema().items()}


@st.composite
def pipelines(draw: Any) -> tuple[pa.Table, pa.Table, list[Step], bool]:
    left, right = _table(draw, LEFT, 7), _table(draw, RIGHT, 5)
    lf = pl.from_arrow(left).lazy()  # type: ignore[union-attr]
    rf = pl.from_arrow(right).lazy()  # type: ignore[union-attr]
    state = State(_schema(lf), True, _lists(lf))
    steps: list[Step] = []
    for _ in range(draw(st.integers(1, 4))):
        step, ordered = _step(draw, state, _schema(rf))
        try:
            lf = step.apply(lf, pl, rf)
            schema = _schema(lf)
        except (Exception, _PANIC):  # noqa: BLE001 (Polars rejects it: the case is skipped)
            reject()
        if not schema:
            # a frame without columns has no rows in Thresher (Polars keeps its height): not drawn
            reject()
        steps.append(step)
        state = State(schema, ordered, _lists(lf))
    return left, right, steps, state.ordered


def _step(draw: Any, state: State, right: dict[str, str]) -> tuple[Step, bool]:  # noqa: C901, PLR0911, PLR0912
    schema, ordered = state.schema, state.ordered
    cols = sorted(schema)
    # (joins and group-bys drawn more often: Polars rejects more of them, and they have the most cases)
    kind = draw(st.sampled_from(["filter", "select", "with_columns", "agg_select", "group_by", "group_by", "join",
                                 "join", "join", "unique",
                                 "sort", "head", "concat", "drop_nulls", "fill_null", "rename", "drop", "explode",
                                 "with_row_index", "unpivot", "pivot", "frame_method"]))
    if kind == "filter":
        text, p = _predicate(draw, schema)
        return Step(f"filter({text})", lambda f, m, r: f.filter(p(m))), ordered
    if kind in ("select", "with_columns"):
        exprs = [_value_expr(draw, schema, ordered, state.lists) for _ in range(draw(st.integers(1, 2)))]
        keep = draw(st.lists(st.sampled_from(cols), max_size=3, unique=True)) if kind == "select" else []
        named = [(f"x{i}", e) for i, e in enumerate(exprs)]
        text = ", ".join([repr(c) for c in keep] + [f"x{i}={t}" for i, (t, _) in enumerate(exprs)])
        return Step(f"{kind}({text})", lambda f, m, r: getattr(f, kind)(
            *keep, **{n: fn(m) for n, (_, fn) in named})), ordered
    if kind == "agg_select":
        if draw(st.integers(0, 5)) == 0:
            agg = draw(st.sampled_from(["max", "min", "count", "null_count"] + (["first", "last"] if ordered else [])))
            return Step(f"select(all().{agg}())", lambda f, m, r: f.select(
                _counted(getattr(m.all(), agg)(), m) if agg in ("count", "null_count") else getattr(m.all(), agg)())), True
        aggs = _aggs(draw, schema, ordered, set())
        if not aggs:
            return Step("select(len())", lambda f, m, r: f.select(_counted(m.len(), m))), True
        text = ", ".join(t for t, _ in aggs)
        return Step(f"select({text})", lambda f, m, r: f.select(*[fn(m) for _, fn in aggs])), True
    if kind == "group_by":
        keyable = [c for c in cols if schema[c] in ("int", "str", "bool", "date", "float", "dec")]
        if not keyable:
            return Step("unique()", lambda f, m, r: f.unique()), False
        keys = draw(st.lists(st.sampled_from(keyable), min_size=1, max_size=2, unique=True))
        mo = ordered and draw(st.booleans())
        aggs = _aggs(draw, schema, mo, set(keys))
        then_sort = not mo and draw(st.booleans())
        text = f"group_by({keys}, maintain_order={mo}).agg({', '.join(t for t, _ in aggs)})"

        def gb(f: Any, m: Any, r: Any) -> Any:
            out = f.group_by(*keys, maintain_order=mo).agg(*[fn(m) for _, fn in aggs])
            return out.sort(*keys, nulls_last=True) if then_sort else out

        return Step(text + (f".sort({keys}, nulls_last=True)" if then_sort else ""), gb), mo or then_sort
    if kind == "join":
        how = draw(st.sampled_from(["inner", "left", "right", "full", "semi", "anti", "cross"]))
        suffix = draw(st.sampled_from(["_right", "_r"]))
        filt = draw(st.booleans())
        rtext = "right.filter(col(right[0]).is_not_null())" if filt else "right"
        rfirst = sorted(right)[0]

        def rhs(r: Any, m: Any) -> Any:
            return r.filter(m.col(rfirst).is_not_null()) if filt else r

        # now and then in a determined order (Polars' maintain_order: by both frames' row order)
        mo = draw(st.sampled_from(["left_right", "right_left"])) if draw(st.integers(0, 3)) == 0 else None
        mkw = {"maintain_order": mo} if mo else {}
        mtext = f", maintain_order={mo!r}" if mo else ""
        if how == "cross":
            return Step(f"join({rtext}, how='cross', suffix={suffix!r}{mtext})",
                        lambda f, m, r: f.join(rhs(r, m), how="cross", suffix=suffix, **mkw)), ordered and mo is not None
        common = [c for c in cols if c in right and schema[c] not in ("list", "other")]
        kw: dict[str, Any] = {"how": how, "suffix": suffix, **mkw}
        if common and draw(st.booleans()):
            on = draw(st.lists(st.sampled_from(common), min_size=1, max_size=2, unique=True))
            kw["on"] = on
        else:
            # pairs of keys of one kind (Polars refuses to join a string with a number)
            pairs = [(c, rc) for c in cols for rc in sorted(right) if schema[c] == right[rc] != "list"]
            if not pairs:
                return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
            chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=2))
            kw["left_on"] = [a for a, _ in chosen]
            kw["right_on"] = [b for _, b in chosen]
        # now and then a key is an expression (Polars then merges no key column)
        keyed: dict[tuple[str, int], tuple[str, Callable[[Any, str], Any]]] = {}
        if "left_on" in kw and draw(st.integers(0, 2)) == 0:
            side = draw(st.sampled_from(["left_on", "right_on"]))
            i = draw(st.integers(0, len(kw[side]) - 1))
            kinds = schema if side == "left_on" else right
            key_kind = kinds[kw[side][i]]
            options = {"int": ["{} + 1", "{} * 1", "{}.cast(pl.Int64)"], "str": ["{}.str.slice(0, 1)"],
                       "dec": ["{} * 1"], "date": ["{}.dt.offset_by('1d')"]}.get(key_kind, [])
            if options:
                form = draw(st.sampled_from(options))
                fns: dict[str, Callable[[Any, str], Any]] = {
                    "{} + 1": lambda m, c: m.col(c) + 1, "{} * 1": lambda m, c: m.col(c) * 1,
                    "{}.cast(pl.Int64)": lambda m, c: m.col(c).cast(pl.Int64),
                    "{}.str.slice(0, 1)": lambda m, c: m.col(c).str.slice(0, 1),
                    "{}.dt.offset_by('1d')": lambda m, c: m.col(c).dt.offset_by("1d")}
                keyed[(side, i)] = (form.format(f"col({kw[side][i]!r})"), fns[form])
        if how in ("full", "left", "right", "inner") and draw(st.integers(0, 3)) == 0:
            kw["coalesce"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            kw["nulls_equal"] = True

        def key_list(side: str) -> str:
            return "[" + ", ".join(keyed[(side, i)][0] if (side, i) in keyed else repr(c)
                                   for i, c in enumerate(kw[side])) + "]"

        text = ", ".join(f"{k}={key_list(k) if k in ('left_on', 'right_on') else repr(v)}" for k, v in kw.items())

        def join(f: Any, m: Any, r: Any) -> Any:
            args = dict(kw)
            for (side, i), (_, fn) in keyed.items():
                args[side] = [fn(m, c) if j == i else c for j, c in enumerate(args[side])]
            return f.join(rhs(r, m), **args)

        return Step(f"join({rtext}, {text})", join), ordered and mo is not None
    if kind == "unique":
        subset = draw(st.one_of(st.none(), st.lists(st.sampled_from(_sortable(schema) or cols), min_size=1,
                                                     max_size=2, unique=True)))
        keep = draw(st.sampled_from(["first", "last", "none"] if ordered else ["none"]))
        if subset is None and draw(st.booleans()):
            keep = "any"
        mo = ordered and draw(st.booleans())
        # keep='any' with a strict subset leaves which row stays open: never drawn
        return (Step(f"unique({subset!r}, keep={keep!r}, maintain_order={mo})",
                     lambda f, m, r: f.unique(subset, keep=keep, maintain_order=mo)), mo)
    if kind == "sort":
        sortable = _sortable(schema)
        if not sortable:
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        keys = draw(st.lists(st.sampled_from(sortable), min_size=1, max_size=2, unique=True))
        per_key = draw(st.booleans())
        desc: Any = [draw(st.booleans()) for _ in keys] if per_key else draw(st.booleans())
        nl: Any = [draw(st.booleans()) for _ in keys] if per_key and draw(st.booleans()) else draw(st.booleans())
        # the other columns break ties, so the order is determined (unless a list column is left)
        rest = [c for c in sortable if c not in keys]
        if isinstance(desc, list):
            desc = desc + [False] * len(rest)
        if isinstance(nl, list):
            nl = nl + [False] * len(rest)
        by = keys + rest
        nums = [c for c in sortable if schema[c] in ("int", "float")]
        strs = [c for c in sortable if schema[c] == "str"]
        if (nums or strs) and draw(st.integers(0, 3)) == 0:
            # an expression first (ties broken by the columns after it)
            c = draw(st.sampled_from(nums + strs))
            etext, efn = ((f"col({c!r}) * -1", lambda m: m.col(c) * -1) if schema[c] != "str" else
                          (f"col({c!r}).str.len_bytes()", lambda m: m.col(c).str.len_bytes()))
            if isinstance(desc, list):
                desc = [draw(st.booleans()), *desc]
            if isinstance(nl, list):
                nl = [draw(st.booleans()), *nl]
            return (Step(f"sort([{etext}, *{by}], descending={desc}, nulls_last={nl})",
                         lambda f, m, r: f.sort([efn(m), *by], descending=desc, nulls_last=nl)),
                    len(by) == len(schema))
        return (Step(f"sort({by}, descending={desc}, nulls_last={nl})",
                     lambda f, m, r: f.sort(by, descending=desc, nulls_last=nl)), len(by) == len(schema))
    if kind == "head":
        if not ordered:
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        which = draw(st.sampled_from(["head", "tail", "slice", "limit"]))
        n = draw(st.integers(0, 4))
        if which == "slice":
            off = draw(st.integers(-3, 3))
            ln = draw(st.one_of(st.none(), st.integers(0, 3)))
            return Step(f"slice({off}, {ln})", lambda f, m, r: f.slice(off, ln)), True
        return Step(f"{which}({n})", lambda f, m, r: getattr(f, which)(n)), True
    if kind == "concat":
        if draw(st.booleans()):
            text, p = _predicate(draw, schema)
            return (Step(f"concat([<frame so far>, <frame so far>.filter({text})])",
                         lambda f, m, r: m.concat([f, f.filter(p(m))])), ordered)
        if ordered and draw(st.integers(0, 2)) == 0:
            # side by side with columns of the same frame (the heights agree)
            picked = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=2, unique=True))
            return (Step(f"concat([<frame so far>, <frame so far>.select({picked} renamed '_h')], how='horizontal')",
                         lambda f, m, r: m.concat([f, f.select([m.col(c).alias(c + "_h") for c in picked])],
                                                  how="horizontal")), ordered)
        nums = [c for c in cols if schema[c] == "int"]
        if nums and draw(st.integers(0, 2)) == 0:
            c = draw(st.sampled_from(nums))
            return (Step(f"concat([<frame so far>, <frame so far>.with_columns(col({c!r}).cast(pl.Float64))], "
                         "how='vertical_relaxed')",
                         lambda f, m, r: m.concat([f, f.with_columns(m.col(c).cast(pl.Float64))],
                                                  how="vertical_relaxed")), ordered)
        how = draw(st.sampled_from(["diagonal", "diagonal_relaxed"]))
        return (Step(f"concat([<frame so far>, right], how={how!r})",
                     lambda f, m, r: m.concat([f, r], how=how)), ordered)
    if kind == "drop_nulls":
        subset = draw(st.one_of(st.none(), st.lists(st.sampled_from(cols), min_size=1, max_size=2, unique=True)))
        return Step(f"drop_nulls({subset!r})", lambda f, m, r: f.drop_nulls(subset)), ordered
    if kind == "fill_null":
        if ordered and draw(st.integers(0, 3)) == 0:
            strategy = draw(st.sampled_from(["forward", "backward", "zero", "max", "min", "mean", "one"]))
            limit = draw(st.sampled_from([None, 1])) if strategy in ("forward", "backward") else None
            return Step(f"fill_null(strategy={strategy!r}, limit={limit})",
                        lambda f, m, r: f.fill_null(strategy=strategy, limit=limit)), ordered
        v = draw(st.sampled_from([0, -1, 2.5, "z"]))
        return Step(f"fill_null({v!r})", lambda f, m, r: f.fill_null(v)), ordered
    if kind == "rename":
        c = draw(st.sampled_from(cols))
        new = draw(st.sampled_from(["k", "r", c + "_", "j"]))
        return Step(f"rename({{{c!r}: {new!r}}})", lambda f, m, r: f.rename({c: new})), ordered
    if kind == "drop":
        c = draw(st.sampled_from(cols))
        return Step(f"drop({c!r})", lambda f, m, r: f.drop(c)), ordered
    if kind == "explode":
        lists = [c for c in cols if schema[c] == "list"]
        if not lists:
            strs = [c for c in cols if schema[c] == "str"]
            if not strs:
                return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
            c = draw(st.sampled_from(strs))
            if draw(st.integers(0, 2)) == 0:  # two list columns of the same lengths
                return (Step(f"with_columns(col({c!r}).str.split(','), t=col({c!r}).str.split(',')).explode({c!r}, 't')",
                             lambda f, m, r: f.with_columns(m.col(c).str.split(","), t=m.col(c).str.split(","))
                             .explode(c, "t")), ordered)
            return (Step(f"with_columns(col({c!r}).str.split(',')).explode({c!r})",
                         lambda f, m, r: f.with_columns(m.col(c).str.split(",")).explode(c)), ordered)
        c = draw(st.sampled_from(lists))
        return Step(f"explode({c!r})", lambda f, m, r: f.explode(c)), ordered
    if kind == "frame_method":
        return _frame_method(draw, schema, ordered)
    if kind == "with_row_index":
        if not ordered:
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        off = draw(st.sampled_from([0, 1, 10]))
        return Step(f"with_row_index('idx', offset={off})", lambda f, m, r: f.with_row_index("idx", offset=off)
                    .with_columns(_counted(m.col("idx"), m))), True
    if kind == "pivot":
        keyable = [c for c in cols if schema[c] in ("int", "str", "bool")]
        values = [c for c in cols if schema[c] in ("int", "float")]
        if not ordered or len(keyable) < 2 or not values:  # (new columns come in first-seen order)
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        on, index = draw(st.lists(st.sampled_from(keyable), min_size=2, max_size=2, unique=True))
        if not [c for c in values if c not in (on, index)]:
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        v = draw(st.sampled_from([c for c in values if c not in (on, index)]))
        agg = draw(st.sampled_from(["sum", "max", "len", "first"]))

        def pivot(f: Any, m: Any, r: Any) -> Any:
            if m is pl:  # eager in both (Polars' lazy pivot needs the new columns' names)
                if agg == "sum":
                    f = f.with_columns(_wide(pl.col(v), schema[v], pl))
                out = f.collect().pivot(on, index=index, values=v, aggregate_function=agg).lazy()
                return out.with_columns(_counted(pl.exclude(index), pl)) if agg == "len" else out
            return f.pivot(on, index=index, values=v, aggregate_function=agg)

        return Step(f"pivot({on!r}, index={index!r}, values={v!r}, aggregate_function={agg!r})", pivot), True
    # unpivot
    nums = [c for c in cols if schema[c] in ("int", "float")]
    strs = [c for c in cols if schema[c] == "str"]
    on = draw(st.sampled_from([nums, strs]))
    if not on:
        return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
    index = [c for c in cols if c not in on][:1]
    # Polars' unpivot emits the input's chunks one after the other (each chunk's rows for every
    # variable), so its row order depends on how the input happened to be chunked
    return (Step(f"unpivot({on!r}, index={index!r})", lambda f, m, r: f.unpivot(on, index=index)), False)


def _frame_method(draw: Any, schema: dict[str, str], ordered: bool) -> tuple[Step, bool]:
    """One of Polars' frame methods of python/thresher/frame_polars.py."""
    cols = sorted(schema)
    floats = [c for c in cols if schema[c] == "float"]
    what = draw(st.sampled_from(["top_k", "bottom_k", "fill_nan", "drop_nans", "reduce", "value_counts", "col_unique",
                                 "col_top_k"]
                                + (["gather_every", "reverse", "shift", "first", "last", "col_sort"] if ordered else [])))
    sortable = _sortable(schema)
    if what in ("value_counts", "col_unique", "col_top_k", "col_sort") and not sortable:
        return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
    if what == "value_counts":  # (Expr.value_counts: the values and their counts, in no set order)
        c = draw(st.sampled_from(sortable))
        norm = draw(st.booleans())
        return (Step(f"select(col({c!r}).value_counts(sort=True, normalize={norm})).unnest({c!r})",
                     lambda f, m, r: f.select(m.col(c).value_counts(sort=True, normalize=norm)).unnest(c)
                     .with_columns(_counted(m.col("count"), m) if not norm else m.col("proportion"))), False)
    if what == "col_unique":
        c = draw(st.sampled_from(sortable))
        return (Step(f"select(col({c!r}).unique(), n=col({c!r}).n_unique())",
                     lambda f, m, r: f.select(m.col(c).unique(), _counted(m.col(c).n_unique(), m).alias("n"))), False)
    if what == "col_top_k":
        c, k = draw(st.sampled_from(sortable)), draw(st.integers(0, 4))
        fn = draw(st.sampled_from(["top_k", "bottom_k"]))
        return Step(f"select(col({c!r}).{fn}({k}))", lambda f, m, r: f.select(getattr(m.col(c), fn)(k))), False
    if what == "col_sort":  # (one column sorted on its own, the others kept in their order)
        c = draw(st.sampled_from(sortable))
        desc, nl = draw(st.booleans()), draw(st.booleans())
        return (Step(f"with_columns(col({c!r}).sort(descending={desc}, nulls_last={nl}))",
                     lambda f, m, r: f.with_columns(m.col(c).sort(descending=desc, nulls_last=nl))), True)
    if what in ("top_k", "bottom_k"):
        sortable = _sortable(schema)
        if not sortable or len(sortable) != len(cols):  # (every column a key: ties are equal rows)
            return Step("drop_nulls()", lambda f, m, r: f.drop_nulls()), ordered
        keys = draw(st.lists(st.sampled_from(sortable), min_size=1, max_size=2, unique=True))
        by = keys + [c for c in sortable if c not in keys]
        k = draw(st.integers(0, 4))
        rev = draw(st.booleans())
        return Step(f"{what}({k}, by={by}, reverse={rev})",
                    lambda f, m, r: getattr(f, what)(k, by=by, reverse=rev)), True
    if what == "fill_nan":
        v = draw(st.sampled_from([0.0, None, -1.5]))
        return Step(f"fill_nan({v!r})", lambda f, m, r: f.fill_nan(v)), ordered
    if what == "drop_nans":
        subset = draw(st.sampled_from([None, *floats]))
        return Step(f"drop_nans({subset!r})", lambda f, m, r: f.drop_nans(subset)), ordered
    if what == "reduce":
        agg = draw(st.sampled_from(["min", "max", "count"]))
        return Step(f"{agg}()", lambda f, m, r: getattr(f, agg)().select(
            _counted(m.all(), m)) if agg == "count" else getattr(f, agg)()), True
    if what == "gather_every":
        n, off = draw(st.integers(1, 3)), draw(st.integers(0, 2))
        return Step(f"gather_every({n}, {off})", lambda f, m, r: f.gather_every(n, off)), True
    if what == "shift":
        n = draw(st.integers(-2, 2))
        return Step(f"shift({n})", lambda f, m, r: f.shift(n)), True
    return Step(f"{what}()", lambda f, m, r: getattr(f, what)()), True


# ---- comparing ------------------------------------------------------------------------------------------------------


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    def one(v: Any) -> Any:
        if v is None:
            return (0, "")
        if isinstance(v, float):  # (-0.0 sorts as 0.0: Polars' unique() may give either)
            return (1, "nan" if math.isnan(v) else f"{v + 0.0 if v else 0.0:.6g}")
        if isinstance(v, (int, decimal.Decimal)) and not isinstance(v, bool):
            return (1, f"{float(v):.6g}")
        return (2, repr(v))
    return tuple(one(v) for v in row)


def _describe(left: pa.Table, right: pa.Table, steps: list[Step]) -> str:
    return (f"df = {left.to_pydict()}\nright = {right.to_pydict()}\n"
            f"pipeline: df." + ".".join(s.text for s in steps))


def run_one(left: pa.Table, right: pa.Table, steps: list[Step], ordered: bool) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    text = _describe(left, right, steps) + f"\n(compared {'row by row' if ordered else 'as multisets'})"
    lf, rf = pl.from_arrow(left).lazy(), pl.from_arrow(right).lazy()  # type: ignore[union-attr]
    try:
        for step in steps:
            lf = step.apply(lf, pl, rf)
        want = lf.collect()
    except (Exception, _PANIC):  # noqa: BLE001 (Polars rejects it, or panics: nothing to compare with)
        reject()
    try:
        tf, tr = th.from_arrow(left), th.from_arrow(right)
        for step in steps:
            tf = step.apply(tf, th, tr)
    except (Exception, _PANIC) as exc:  # noqa: BLE001 (classified: a refusal, or a crash)
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want, sort_key=None if ordered else _sort_key)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((pipelines(),), lambda case: run_one(*case), n, seed)


def _assert_mostly_supported(stats: Counter[str]) -> None:
    assert_mostly_supported(stats, 0.1)


def test_dataframe_frame_fuzz_against_polars() -> None:
    _assert_mostly_supported(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_dataframe_frame_fuzz_against_polars_long(seed: int) -> None:
    _assert_mostly_supported(fuzz(1500, seed))
