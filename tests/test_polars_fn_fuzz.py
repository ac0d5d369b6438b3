"""Differential fuzzing of the DataFrame API's scalar methods against eager Polars (issue 15).

Hypothesis draws a small frame (NULLs, empty strings, unicode, negative numbers, .5 ties, dates
at month and year ends, leap days, timestamps) and a chain of one to three methods
(``.str.*``, ``.dt.*``, ``abs``, ``round``, ``sqrt``, arithmetic, ``cast``, ``fill_null``,
``is_in``, ``is_between``, ...); the same chain on ``pl.col`` over the same data is the reference.
Thresher must give Polars' values, or refuse with a ``ThresherError`` or an ``AttributeError``
naming what it lacks; a chain Polars itself rejects is skipped.
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
from fuzz_support import PANIC, assert_mostly_supported, refusal, run_cases, same_number

D, TS = datetime.date, datetime.datetime

COLUMNS: dict[str, tuple[pa.DataType, str, list[Any]]] = {
    "i": (pa.int64(), "int", [None, 0, 1, -1, 2, -7, 10, 3]),
    "f": (pa.float64(), "float", [None, 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.125, 2.675, 1e-7, 12345.678, -1.0]),
    "s": (pa.string(), "str", [None, "", " ", "a", "Hello", " a b ", "ÄÖü", "naïve", "日本語", "a_b%c", "x,y,,z",
                              "ß", " 12 ", "1.5", "-3", "aaa", "2024-02-29", "İ", "+7", "29.02.2024", "20240131",
                              "2024-13", "2024-01-31 23:59", "hello wORLD"]),
    "d": (pa.date32(), "date", [None, D(2024, 2, 29), D(2024, 2, 28), D(2023, 12, 31), D(2024, 1, 1), D(2021, 1, 3),
                                D(2024, 12, 30), D(1999, 12, 31), D(2024, 3, 31), D(1969, 12, 31)]),
    "ts": (pa.timestamp("us"), "ts", [None, TS(2024, 2, 29, 23, 59, 59, 500000), TS(2023, 12, 31),
                                      TS(2024, 1, 31, 12, 30, 15), TS(1969, 12, 31, 23, 59, 59, 999999)]),
    "b": (pa.bool_(), "bool", [None, True, False]),
}


@st.composite
def frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 6))
    return pa.table({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                     for c, (t, _, v) in COLUMNS.items()})


@dataclass(frozen=True)
class Op:
    """One method call: ``apply(expr, module)`` on ``th`` or ``pl`` expressions alike."""
    text: str
    kind_in: tuple[str, ...]
    kind_out: str
    apply: Callable[[Any, Any], Any]


NUM = ("int", "float")
TEMPORAL = ("date", "ts")


def _ops() -> list[Op]:
    ops: list[Op] = []

    def add(text: str, kinds: tuple[str, ...], out: str, fn: Callable[[Any, Any], Any]) -> None:
        ops.append(Op(text, kinds, out, fn))

    for name in ("lower", "upper", "to_lowercase", "to_uppercase"):
        add(f"str.{name}()", ("str",), "str", lambda e, m, n=name: getattr(e.str, n)())
    for name in ("len_chars", "len_bytes"):  # (Int64 in Thresher, documented: Polars' UInt32 cast, so - 2 cannot wrap)
        add(f"str.{name}()", ("str",), "int",
            lambda e, m, n=name: getattr(e.str, n)().cast(pl.Int64) if m is pl else getattr(e.str, n)())
    for pat, literal in (("a", True), (".", True), (".", False), ("^H", False), ("ö", True), ("[0-9]", False),
                         ("", True)):
        add(f"str.contains({pat!r}, literal={literal})", ("str",), "bool",
            lambda e, m, p=pat, lit=literal: e.str.contains(p, literal=lit))
    for p in ("a", "", "H", "日"):
        add(f"str.starts_with({p!r})", ("str",), "bool", lambda e, m, p=p: e.str.starts_with(p))
        add(f"str.ends_with({p!r})", ("str",), "bool", lambda e, m, p=p: e.str.ends_with(p))
    for pat, val, literal in (("a", "X", True), (".", "-", True), ("a", "", True), ("[ab]", "<$0>", False)):
        add(f"str.replace({pat!r}, {val!r}, literal={literal})", ("str",), "str",
            lambda e, m, p=pat, v=val, lit=literal: e.str.replace(p, v, literal=lit))
        add(f"str.replace({pat!r}, {val!r}, literal={literal}, n=2)", ("str",), "str",
            lambda e, m, p=pat, v=val, lit=literal: e.str.replace(p, v, literal=lit, n=2))
    if hasattr(pl.Expr.str, "replace_all"):
        add("str.replace_all('a', 'X', literal=True)", ("str",), "str",
            lambda e, m: e.str.replace_all("a", "X", literal=True))
    for off, ln in ((0, 2), (1, None), (-2, None), (-2, 1), (-7, 3), (3, 0), (10, 2)):
        add(f"str.slice({off}, {ln})", ("str",), "str", lambda e, m, o=off, n=ln: e.str.slice(o, n))
    for chars in (None, " a", "日"):
        add(f"str.strip_chars({chars!r})", ("str",), "str", lambda e, m, c=chars: e.str.strip_chars(c))
    for pat, g in ((r"(\d+)", 1), (r"([a-z])([a-z])", 2), (r"x", 0)):
        add(f"str.extract({pat!r}, {g})", ("str",), "str", lambda e, m, p=pat, g=g: e.str.extract(p, g))
    for by in (",", "", " "):
        add(f"str.split({by!r})", ("str",), "list", lambda e, m, b=by: e.str.split(b))
    add("str.to_date('%Y-%m-%d', strict=False)", ("str",), "date",
        lambda e, m: e.str.to_date("%Y-%m-%d", strict=False))
    for n, fill in ((3, "*"), (5, " "), (0, "x"), (2, "日")):
        add(f"str.pad_start({n}, {fill!r})", ("str",), "str", lambda e, m, n=n, f=fill: e.str.pad_start(n, f))
        add(f"str.pad_end({n}, {fill!r})", ("str",), "str", lambda e, m, n=n, f=fill: e.str.pad_end(n, f))
    for n in (0, 3, 4):
        add(f"str.zfill({n})", ("str",), "str", lambda e, m, n=n: e.str.zfill(n))
    for n in (0, 2, -1, -5):
        add(f"str.head({n})", ("str",), "str", lambda e, m, n=n: e.str.head(n))
        add(f"str.tail({n})", ("str",), "str", lambda e, m, n=n: e.str.tail(n))
    for chars in (None, " 1", "a"):
        add(f"str.strip_chars_start({chars!r})", ("str",), "str", lambda e, m, c=chars: e.str.strip_chars_start(c))
        add(f"str.strip_chars_end({chars!r})", ("str",), "str", lambda e, m, c=chars: e.str.strip_chars_end(c))
    add("str.to_titlecase()", ("str",), "str", lambda e, m: e.str.to_titlecase())
    add("str.reverse()", ("str",), "str", lambda e, m: e.str.reverse())
    add("str.to_integer(strict=False)", ("str",), "int", lambda e, m: e.str.to_integer(strict=False))
    for pat, literal in (("a", True), ("[a-z]", False), (",", True), ("", True)):
        add(f"str.count_matches({pat!r}, literal={literal})", ("str",), "int",
            lambda e, m, p=pat, lit=literal: e.str.count_matches(p, literal=lit))
    for pat, val in ((r"\s+", "_"), (r"(\w)(\w)", "$2$1"), ("^", ">")):
        add(f"str.replace_all({pat!r}, {val!r})", ("str",), "str",
            lambda e, m, p=pat, v=val: e.str.replace_all(p, v))
    for fmt in ("%d.%m.%Y", "%Y%m%d", "%Y-%m"):
        add(f"str.to_date({fmt!r}, strict=False)", ("str",), "date",
            lambda e, m, f=fmt: e.str.to_date(f, strict=False))
    add("str.to_datetime('%Y-%m-%d %H:%M', strict=False)", ("str",), "ts",
        lambda e, m: e.str.to_datetime("%Y-%m-%d %H:%M", strict=False))
    for dtype, fmt in ((pl.Date, "%Y-%m-%d"), (pl.Date, None), (pl.Datetime, "%Y-%m-%d %H:%M"),
                       (pl.Datetime("ms"), "%Y-%m-%d"), (pl.Datetime, None)):
        add(f"str.strptime({dtype}, {fmt!r}, strict=False)", ("str",), "date" if dtype == pl.Date else "ts",
            lambda e, m, d=dtype, f=fmt: e.str.strptime(d, f, strict=False))

    add("abs()", NUM, "same", lambda e, m: e.abs())
    for d in (0, 1, 2):
        add(f"round({d})", ("float",), "float", lambda e, m, d=d: e.round(d))
    add("sqrt()", NUM, "float", lambda e, m: e.sqrt())
    for op in ("+", "-", "*"):
        for other in (2, -1, 0.5):
            add(f"({op} {other})", NUM, "float" if isinstance(other, float) else "same",
                lambda e, m, op=op, o=other: e + o if op == "+" else e - o if op == "-" else e * o)
    add("(- col)", NUM, "same", lambda e, m: -e)
    # with another column: mixed int/float arithmetic, comparisons, fill_null, bounds, when/then
    for other in ("i", "f"):
        for op in ("+", "-", "*", "<", "=="):
            add(f"({op} col({other!r}))", NUM, "bool" if op in ("<", "==") else "float",
                lambda e, m, o=other, op=op: {"+": e + m.col(o), "-": e - m.col(o), "*": e * m.col(o),
                                              "<": e < m.col(o), "==": e == m.col(o)}[op])
        add(f"fill_null(col({other!r}))", NUM, "float", lambda e, m, o=other: e.fill_null(m.col(o)))
        add(f"is_between(col({other!r}), 2)", NUM, "bool", lambda e, m, o=other: e.is_between(m.col(o), 2))
        add(f"when(b).then(x).otherwise(col({other!r}))", NUM, "float",
            lambda e, m, o=other: m.when(m.col("b")).then(e).otherwise(m.col(o)))
    add("when(b).then(x).otherwise('z')", ("str",), "str", lambda e, m: m.when(m.col("b")).then(e).otherwise(m.lit("z")))
    add("(+ col('s'))", ("str",), "str", lambda e, m: e + m.col("s"))
    add("(< col('s'))", ("str",), "bool", lambda e, m: e < m.col("s"))
    add("(- col('d'))", ("date",), "dur", lambda e, m: e - m.col("d"))
    add("(< col('d'))", TEMPORAL, "bool", lambda e, m: e < m.col("d"))
    for lo, hi, closed in ((0, 2, "both"), (2, 0, "both"), (-1, 1, "left"), (0.5, 2.5, "none"), (-1, 1, "right")):
        add(f"is_between({lo}, {hi}, {closed!r})", NUM, "bool",
            lambda e, m, lo=lo, hi=hi, c=closed: e.is_between(lo, hi, closed=c))
    for vals in ([1, 2], [0.5, 1], [None, 1], []):
        add(f"is_in({vals})", NUM, "bool", lambda e, m, v=vals: e.is_in(v))
    for vals in (["a", ""], ["Hello", None]):
        add(f"is_in({vals})", ("str",), "bool", lambda e, m, v=vals: e.is_in(v))
    for v in (0, 2.5):
        add(f"fill_null({v})", NUM, "float" if isinstance(v, float) else "same", lambda e, m, v=v: e.fill_null(v))
    add("fill_null('z')", ("str",), "str", lambda e, m: e.fill_null("z"))
    add("fill_null(False)", ("bool",), "bool", lambda e, m: e.fill_null(False))
    add("fill_null(date)", ("date",), "date", lambda e, m: e.fill_null(D(2000, 1, 1)))
    add("is_null()", ("int", "float", "str", "date", "bool"), "bool", lambda e, m: e.is_null())
    add("is_not_null()", ("int", "float", "str", "date", "bool"), "bool", lambda e, m: e.is_not_null())
    add("~", ("bool",), "bool", lambda e, m: ~e)

    for name, out in (("Int64", "int"), ("Int32", "int"), ("Float64", "float"), ("String", "str"),
                      ("Boolean", "bool"), ("Float32", "float")):
        for strict in (True, False):
            add(f"cast(pl.{name}, strict={strict})", ("int", "float", "str", "bool"), out,
                lambda e, m, n=name, s=strict: e.cast(getattr(pl, n), strict=s))
    add("cast(pl.Date)", ("ts", "str"), "date", lambda e, m: e.cast(pl.Date))
    add("cast(pl.Datetime('us'))", ("date",), "ts", lambda e, m: e.cast(pl.Datetime("us")))
    add("cast(pl.String) of a date", TEMPORAL, "str", lambda e, m: e.cast(pl.String))
    add("cast(pl.Decimal(9, 2))", ("int", "float"), "float", lambda e, m: e.cast(pl.Decimal(9, 2)))

    for part in ("year", "month", "day", "weekday", "quarter"):
        add(f"dt.{part}()", TEMPORAL, "int", lambda e, m, p=part: getattr(e.dt, p)())
    add("dt.ordinal_day()", TEMPORAL, "int",
        lambda e, m: e.dt.ordinal_day() if m is pl else e.dt.day_of_year())
    for part in ("hour", "minute", "second"):
        add(f"dt.{part}()", ("ts",), "int", lambda e, m, p=part: getattr(e.dt, p)())
    for every in ("1y", "1mo", "1w", "1d", "1q", "3mo", "2d"):
        add(f"dt.truncate({every!r})", TEMPORAL, "same", lambda e, m, ev=every: e.dt.truncate(ev))
    add("dt.truncate('1h')", ("ts",), "ts", lambda e, m: e.dt.truncate("1h"))
    for fmt in ("%Y-%m-%d", "%Y/%m/%d %a %b %j", "%d.%m.%y", "%Y-%m-%d %H:%M:%S%.f", "%U %W %V %G"):
        kinds = TEMPORAL if "%H" not in fmt else ("ts",)
        add(f"dt.strftime({fmt!r})", kinds, "str", lambda e, m, f=fmt: e.dt.strftime(f))
    for by in ("1mo", "-1mo", "1y", "-1y", "3d", "1q", "1w", "-13mo", "1y2mo"):
        add(f"dt.offset_by({by!r})", TEMPORAL, "same", lambda e, m, b=by: e.dt.offset_by(b))
    add("dt.offset_by('13h')", ("ts",), "ts", lambda e, m: e.dt.offset_by("13h"))
    # (Polars' namespace methods added later: extract_all, find, strip_prefix/suffix, contains_any,
    # dt.round, date, epoch, timestamp and the sub-second parts)
    for pat in (r"\d+", "[a-zä]", "x", ""):
        add(f"str.extract_all({pat!r})", ("str",), "list", lambda e, m, p=pat: e.str.extract_all(p))
    for pat, literal in (("a", True), (".", True), ("[0-9]", False), ("", True), ("日", True)):
        add(f"str.find({pat!r}, literal={literal})", ("str",), "int",
            lambda e, m, p=pat, lit=literal: e.str.find(p, literal=lit))
    for p in ("a", "", " ", "20"):
        add(f"str.strip_prefix({p!r})", ("str",), "str", lambda e, m, p=p: e.str.strip_prefix(p))
        add(f"str.strip_suffix({p!r})", ("str",), "str", lambda e, m, p=p: e.str.strip_suffix(p))
    for pats in (["a", "日"], ["", "x"], ["HELLO"]):
        add(f"str.contains_any({pats!r})", ("str",), "bool", lambda e, m, p=pats: e.str.contains_any(p))
    add("str.contains_any(['hello'], ascii_case_insensitive=True)", ("str",), "bool",
        lambda e, m: e.str.contains_any(["hello"], ascii_case_insensitive=True))
    for every in ("1y", "1mo", "1w", "1d", "2d", "1q"):
        add(f"dt.round({every!r})", TEMPORAL, "same", lambda e, m, ev=every: e.dt.round(ev))
    for every in ("1h", "15m", "1s", "30m"):
        add(f"dt.round({every!r})", ("ts",), "ts", lambda e, m, ev=every: e.dt.round(ev))
    add("dt.date()", ("ts",), "date", lambda e, m: e.dt.date())
    for unit in ("s", "ms", "us", "d"):
        add(f"dt.epoch({unit!r})", TEMPORAL, "int", lambda e, m, u=unit: e.dt.epoch(u))
    for unit in ("ms", "us", "ns"):
        add(f"dt.timestamp({unit!r})", TEMPORAL, "int", lambda e, m, u=unit: e.dt.timestamp(u))
    for part in ("millisecond", "microsecond", "nanosecond"):
        add(f"dt.{part}()", ("ts",), "int", lambda e, m, p=part: getattr(e.dt, p)())
    return ops


OPS = _ops()
KIND_COLUMNS = {k: [c for c, (_, kind, _) in COLUMNS.items() if kind == k] for k in ("int", "float", "str", "date",
                                                                                       "ts", "bool")}


@st.composite
def chains(draw: Any) -> tuple[str, list[Op]]:
    first = draw(st.sampled_from(OPS))  # (the method first, then a column it takes: every method is drawn as often)
    column = draw(st.sampled_from([c for c, (_, k, _) in COLUMNS.items() if k in first.kind_in]))
    kind = COLUMNS[column][1] if first.kind_out == "same" else first.kind_out
    chain: list[Op] = [first]
    for _ in range(draw(st.integers(0, 2))):
        options = [op for op in OPS if kind in op.kind_in]
        if not options:
            break
        op = draw(st.sampled_from(options))
        chain.append(op)
        kind = kind if op.kind_out == "same" else op.kind_out
    return column, chain


def _build(module: Any, column: str, chain: list[Op]) -> Any:
    e = module.col(column)
    for op in chain:
        e = op.apply(e, module)
    return e.alias("c")


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float, decimal.Decimal)) and isinstance(b, (int, float, decimal.Decimal)):
        return same_number(float(a), float(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def run_one(table: pa.Table, column: str, chain: list[Op]) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    text = f"col({column!r})." + ".".join(op.text for op in chain)
    try:
        want = pl.from_arrow(table).select(_build(pl, column, chain))["c"].to_list()  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001  (Polars rejects it: nothing to compare with)
        reject()
    try:
        expr = _build(th, column, chain)
    except (AttributeError, TypeError) as exc:  # a method or an argument Thresher does not have
        return f"refused: {type(exc).__name__}: {str(exc)[:80]}"
    try:
        got = th.from_arrow(table).select(expr).to_arrow().column("c").to_pylist()
    except (Exception, PANIC) as exc:  # noqa: BLE001  (classified: anything but a refusal is a bug)
        return refusal(f"{text}\ntable: {table.to_pydict()}", exc)
    assert len(got) == len(want), f"{text}\ntable: {table.to_pydict()}\n{len(got)} rows vs Polars' {len(want)}"
    for row, (a, b) in enumerate(zip(got, want)):
        assert _same(a, b), f"{text}\ntable: {table.to_pydict()}\n{got} vs Polars' {want} (row {row}: {a!r} vs {b!r})"
    return "match"


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((frames(), chains()), lambda table, chain: run_one(table, *chain), n, seed)


def _assert_mostly_supported(stats: Counter[str]) -> None:
    assert_mostly_supported(stats, 0.25)


def test_is_in_of_a_decimal_with_none() -> None:
    """col(decimal).is_in([None, 1]) crashed (float(None)) where Polars answers."""
    table = pa.table({"i": pa.array([3, -1, None], pa.int64())})
    for c in ("f", "s", "d", "ts", "b"):
        table = table.append_column(c, pa.nulls(3, COLUMNS[c][0]))
    ops = {op.text: op for op in OPS}
    assert run_one(table, "i", [ops["cast(pl.Decimal(9, 2))"], ops["is_in([None, 1])"]]) == "match"


def test_dataframe_function_fuzz_against_polars() -> None:
    _assert_mostly_supported(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_dataframe_function_fuzz_against_polars_long(seed: int) -> None:
    _assert_mostly_supported(fuzz(1500, seed))
