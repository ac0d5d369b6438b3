"""Differential fuzzing of the DataFrame API's group_by with expressions against Polars' LazyFrame.

Hypothesis draws a small frame (NULLs, NaN, duplicate keys, unicode, dates, decimals, an empty
frame) and one ``group_by(keys).agg(...)``: keys are columns or expressions (``col % 3``,
``is_null``, ``str.slice``, ``dt.month``, a cast, a comparison), aliased or not; aggregations are
expressions over the group: a filtered aggregate (``col.filter(pred).sum()``), ``first``/
``last`` with maintain_order, a conditional sum (``when(...).then(...)
.otherwise(...)``), arithmetic of aggregates (``max - min``, ``sum / len``), ``is_null().sum()``,
``n_unique``, ``count - null_count``, ``std(ddof=0)``, quantiles by interpolation, a literal; then now and then a filter on an aggregate
and a sort. ``maintain_order=True`` is compared row by row, else as multisets.

Thresher's counts are Int64 where Polars gives UInt32 (documented in docs/guide/dataframe.md):
the Polars side casts them.
"""

from __future__ import annotations

import datetime
import decimal
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis import strategies as st

import thresher as th
from fuzz_support import PANIC, assert_mostly_supported, build_refusal, compare_with_polars, run_cases

D = datetime.date
Dec = decimal.Decimal

COLUMNS: dict[str, tuple[pa.DataType, list[Any]]] = {
    "k": (pa.int64(), [None, 0, 1, 2, 2, -1, 5]),
    "g": (pa.string(), [None, "a", "b", "ab", "é", ""]),
    "x": (pa.int64(), [None, 0, 1, -5, 7, 100, 3]),
    "f": (pa.float64(), [None, 0.0, -0.0, 1.5, -2.5, float("nan"), 0.1, 2.5]),
    "s": (pa.string(), [None, "", "a", "b", "日本", "ß", "zz"]),
    "d": (pa.date32(), [None, D(2024, 2, 29), D(1970, 1, 1), D(1969, 12, 31), D(2024, 12, 31), D(2023, 3, 1)]),
    "b": (pa.bool_(), [None, True, False]),
    "m": (pa.decimal128(10, 2), [None, Dec("1.50"), Dec("-2.25"), Dec("0.00"), Dec("10.05")]),
}
KIND = {"k": "int", "g": "str", "x": "int", "f": "float", "s": "str", "d": "date", "b": "bool", "m": "dec"}
COUNTED = pl.Int64


@st.composite
def frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 8))
    return pa.table({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                     for c, (t, v) in COLUMNS.items()})


Builder = Callable[[Any], Any]

#: key expressions: text, builder on a module, alias
KEYS: list[tuple[str, Builder]] = [
    ("col('k')", lambda m: m.col("k")),
    ("col('g')", lambda m: m.col("g")),
    ("col('b')", lambda m: m.col("b")),
    ("col('d')", lambda m: m.col("d")),
    ("col('m')", lambda m: m.col("m")),
    ("(col('x') % 3).alias('kx')", lambda m: (m.col("x") % 3).alias("kx")),
    ("col('s').is_null().alias('kn')", lambda m: m.col("s").is_null().alias("kn")),
    ("col('s').str.slice(0, 1).alias('ks')", lambda m: m.col("s").str.slice(0, 1).alias("ks")),
    ("col('d').dt.month().alias('km')", lambda m: m.col("d").dt.month().alias("km")),
    ("col('d').dt.year().alias('ky')", lambda m: m.col("d").dt.year().alias("ky")),
    ("col('f').cast(pl.Int64, strict=False).alias('kf')", lambda m: m.col("f").cast(pl.Int64, strict=False).alias("kf")),
    ("(col('x') > 1).alias('kc')", lambda m: (m.col("x") > 1).alias("kc")),
    ("col('k') * 2", lambda m: m.col("k") * 2),
    ("col('g').str.to_uppercase().alias('ku')", lambda m: m.col("g").str.to_uppercase().alias("ku")),
    ("col('k').fill_null(-9).alias('kz')", lambda m: m.col("k").fill_null(-9).alias("kz")),
]

PREDS: list[tuple[str, Builder]] = [
    ("col('x') > 0", lambda m: m.col("x") > 0),
    ("col('f') < 1", lambda m: m.col("f") < 1),
    ("col('s').is_not_null()", lambda m: m.col("s").is_not_null()),
    ("col('b')", lambda m: m.col("b")),
    ("col('d') >= date(2000, 1, 1)", lambda m: m.col("d") >= D(2000, 1, 1)),
    ("col('x').is_in([0, 1, 7])", lambda m: m.col("x").is_in([0, 1, 7])),
    ("col('m') > 0", lambda m: m.col("m") > 0),
]


def _counted(e: Any, m: Any) -> Any:
    return e.cast(COUNTED) if m is pl else e


def _agg(draw: Any, i: int, ordered: bool) -> tuple[str, Builder]:  # noqa: C901, PLR0911
    """One aggregation expression, aliased ``a{i}``."""
    c = draw(st.sampled_from(sorted(COLUMNS)))
    kind = KIND[c]
    p_text, p = draw(st.sampled_from(PREDS))
    numeric = kind in ("int", "float", "dec")
    form = draw(st.integers(0, 16))
    a = f"a{i}"
    if form == 0 and numeric:
        fn = draw(st.sampled_from(["sum", "min", "max", "mean"]))
        return (f"col({c!r}).filter({p_text}).{fn}()", lambda m: getattr(m.col(c).filter(p(m)), fn)().alias(a))
    if form == 1:
        fn = draw(st.sampled_from(["count", "len"]))  # (n_unique, null_count, first, last: refused)
        return (f"col({c!r}).filter({p_text}).{fn}()",
                lambda m: _counted(getattr(m.col(c).filter(p(m)), fn)(), m).alias(a))
    if form == 4 and kind in ("int", "float"):
        other = draw(st.sampled_from(["0", "col('x')", "None"]))
        ob: Builder = {"0": lambda m: m.lit(0), "col('x')": lambda m: m.col("x"), "None": lambda m: m.lit(None)}[other]
        return (f"when({p_text}).then(col({c!r})).otherwise({other}).sum()",
                lambda m: m.when(p(m)).then(m.col(c)).otherwise(ob(m)).sum().alias(a))
    if form == 5 and kind in ("int", "float", "dec", "date"):
        return (f"(col({c!r}).max() - col({c!r}).min())", lambda m: (m.col(c).max() - m.col(c).min()).alias(a))
    if form == 6 and kind in ("int", "float"):
        return (f"(col({c!r}).sum() / len())", lambda m: (m.col(c).sum() / _counted(m.len(), m)).alias(a))
    if form == 7:
        return (f"col({c!r}).is_null().sum()", lambda m: _counted(m.col(c).is_null().sum(), m).alias(a))
    if form == 8 and kind in ("int", "str", "date", "bool"):
        return (f"col({c!r}).n_unique()", lambda m: _counted(m.col(c).n_unique(), m).alias(a))
    if form == 9 and kind in ("int", "float"):  # (a decimal's `/` is float64, Polars' a decimal: documented)
        return (f"col({c!r}).filter({p_text}).sum() / col({c!r}).count()",
                lambda m: (m.col(c).filter(p(m)).sum() / _counted(m.col(c).count(), m)).alias(a))
    if form == 10:
        return (f"col({c!r}).count() - col({c!r}).null_count()",
                lambda m: (_counted(m.col(c).count(), m) - _counted(m.col(c).null_count(), m)).alias(a))
    if form == 11 and kind in ("int", "float"):
        ddof = draw(st.sampled_from([0, 1]))
        fn = draw(st.sampled_from(["std", "var"]))
        return (f"col({c!r}).{fn}(ddof={ddof})", lambda m: getattr(m.col(c), fn)(ddof=ddof).alias(a))
    if form == 12 and kind in ("int", "float"):
        q = draw(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]))
        how = draw(st.sampled_from(["nearest", "lower", "higher", "midpoint", "linear"]))
        return (f"col({c!r}).quantile({q}, {how!r})", lambda m: m.col(c).quantile(q, how).alias(a))
    if form == 13 and kind in ("int", "float", "dec"):
        return (f"(col({c!r}).sum() * 2 + col({c!r}).min())",
                lambda m: (m.col(c).sum() * 2 + m.col(c).min()).alias(a))
    if form == 14 and kind == "bool":
        fn = draw(st.sampled_from(["any", "all"]))
        return (f"col('b').{fn}()", lambda m: getattr(m.col("b"), fn)().alias(a))
    if form == 15 and ordered:
        fn = draw(st.sampled_from(["first", "last"]))
        return (f"col({c!r}).{fn}()", lambda m: getattr(m.col(c), fn)().alias(a))
    fn = draw(st.sampled_from(["min", "max"] + (["sum", "mean", "median"] if numeric else [])))
    return (f"col({c!r}).{fn}()", lambda m: getattr(m.col(c), fn)().alias(a))


@st.composite
def plans(draw: Any) -> tuple[str, Callable[[Any, Any], Any], bool]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique_by=lambda k: k[0]))
    mo = draw(st.booleans())
    aggs = [_agg(draw, i, mo) for i in range(draw(st.integers(1, 3)))]
    having = draw(st.integers(0, 3)) == 0
    text = (f"group_by({', '.join(t for t, _ in keys)}, maintain_order={mo})"
            f".agg({', '.join(t for t, _ in aggs)})" + (".filter(len > 1 via a0 not null)" if having else ""))

    def build(f: Any, m: Any) -> Any:
        out = f.group_by(*[k(m) for _, k in keys], maintain_order=mo).agg(*[b(m) for _, b in aggs])
        if having:
            out = out.filter(m.col("a0").is_not_null())
        return out

    return text, build, mo


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, repr(v)) for v in row)


def run_one(table: pa.Table, plan: tuple[str, Callable[[Any, Any], Any], bool]) -> str:
    text, build, ordered = plan
    text = f"df = {table.to_pydict()}\ndf.{text}"
    try:
        want = build(pl.from_arrow(table).lazy(), pl).collect()  # type: ignore[union-attr]
    except (Exception, PANIC):  # noqa: BLE001 (Polars rejects it: nothing to compare with)
        reject()
    try:
        tf = build(th.from_arrow(table), th)
    except (Exception, PANIC) as exc:  # noqa: BLE001 (classified: a refusal, or a crash)
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want, sort_key=None if ordered else _sort_key)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((frames(), plans()), run_one, n, seed)


def test_dataframe_group_by_fuzz_against_polars() -> None:
    assert_mostly_supported(fuzz(100), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_dataframe_group_by_fuzz_against_polars_long(seed: int) -> None:
    assert_mostly_supported(fuzz(1500, seed), 0.15)
