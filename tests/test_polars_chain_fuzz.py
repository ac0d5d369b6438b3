"""Differential fuzzing of lazy DataFrame chains through the optimizer against Polars (issue 15).

The window fuzzer (``test_polars_window_fuzz.py``) draws one windowed step, the frame fuzzer
(``test_polars_frame_fuzz.py``) chains frame operations with few windows in them. This one chains
two to six steps that the optimizer moves things across: ``with_columns`` of the window fuzzer's
expressions (``over(partition_by, order_by=...)``, ``cum_*``, ``shift``, ``rank``, ``rolling_*``,
aggregations broadcast), filters (on the frame's columns, on a window's output, on a window
itself), joins with a second frame (inner, left, full, semi, anti; ``nulls_equal``) followed by a
sort that restores a determined order, sorts with ``maintain_order``, ``unique(keep=...,
maintain_order=True)``, ``head``/``tail``/``slice``, ``drop``, and at the end ``select`` of a few
columns, or ``group_by(maintain_order=True).agg(...)`` with aggregations of filtered columns.

Every step keeps the row order determined (the frame's ``id`` is unique, a join's pairs are
unique in ``(id, rid)``), so results are compared row by row: Thresher must give Polars' names,
types and values, or refuse with a ``ThresherError`` or an ``AttributeError``/``TypeError``; a
chain Polars rejects is skipped. The deliberate differences (counts are Int64, an integer sum is
Int64) are written into the Polars side as in the window fuzzer.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis import strategies as st

import thresher as th
from fuzz_support import PANIC as _PANIC
from fuzz_support import assert_mostly_supported, build_refusal, compare_with_polars, run_cases
from test_polars_window_fuzz import NUM, SCHEMA, _counted, _kind, _wide, expressions, frames

RIGHT_KEYS = {"rk": (pa.int64(), [None, 0, 1, 1, 2, 3]), "rg": (pa.string(), [None, "a", "b", "c"]),
              "rv": (pa.float64(), [None, 0.5, -1.0, 2.0])}


@st.composite
def right_frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 5))
    cols = {"rid": pa.array(range(n), pa.int64())}
    cols.update({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                 for c, (t, v) in RIGHT_KEYS.items()})
    return pa.table(cols)


class Chain:
    """The steps drawn so far (text and a builder on a module), and what the frame holds."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fns: list[Callable[[Any, Any, Any], Any]] = []
        self.added: dict[str, pl.DataType] = {}  # columns added by with_columns, with their types
        self.joined = False  # rid and the right frame's columns are there
        self.n = 0

    def add(self, text: str, fn: Callable[[Any, Any, Any], Any]) -> None:
        self.texts.append(text)
        self.fns.append(fn)

    def order(self) -> list[str]:
        return ["id", "rid"] if self.joined else ["id"]


def _pred(draw: Any, chain: Chain) -> tuple[str, Callable[[Any], Any]]:
    """A filter: on a base column, on a column a with_columns added, or on a window."""
    roll = draw(st.integers(0, 5))
    if roll == 0 and chain.added:
        c = draw(st.sampled_from(sorted(chain.added)))
        k = _kind(chain.added[c])
        if k in NUM:
            v = draw(st.sampled_from([0, 1, 2]))
            return f"col({c!r}) >= {v}", lambda m: m.col(c) >= v
        if k == "bool":
            return f"col({c!r})", lambda m: m.col(c)
        return f"col({c!r}).is_not_null()", lambda m: m.col(c).is_not_null()
    if roll == 1:
        e = draw(expressions())
        if e.kind in NUM:
            return f"{e.text} > 0", lambda m: e.build(m) > 0
        if e.kind == "bool":
            return e.text, e.build
        return f"{e.text}.is_null()", lambda m: e.build(m).is_null()
    if roll == 2 and chain.joined:
        c = draw(st.sampled_from(["rv", "rk", "rg", "rid"]))
        return f"col({c!r}).is_not_null()", lambda m: m.col(c).is_not_null()
    options: dict[str, Callable[[Any], Any]] = {
        "col('k') == 1": lambda m: m.col("k") == 1, "col('i8') > 0": lambda m: m.col("i8") > 0,
        "col('g') != 'a'": lambda m: m.col("g") != "a", "col('b')": lambda m: m.col("b"),
        "col('f64').is_null() | (col('o') < 2)": lambda m: m.col("f64").is_null() | (m.col("o") < 2),
        "col('d') > date(2000, 1, 1)": lambda m: m.col("d") > datetime.date(2000, 1, 1),
        "col('s').str.contains('a', literal=True)": lambda m: m.col("s").str.contains("a", literal=True),
        "col('i64').is_in([0, 3, None])": lambda m: m.col("i64").is_in([0, 3, None]),
        "col('o').rank('dense').over('k') <= 1": lambda m: m.col("o").rank("dense").over("k") <= 1,
        "col('i32').cum_sum().over('g', order_by='o') > 2":
            lambda m: m.col("i32").cum_sum().over("g", order_by="o") > 2,
        "col('i16').shift(1).over('k').is_not_null()": lambda m: m.col("i16").shift(1).over("k").is_not_null(),
        "col('f64') >= col('f64').mean()": lambda m: m.col("f64") >= m.col("f64").mean(),
        "len().over('k') > 1": lambda m: m.len().over("k") > 1,
    }
    name = draw(st.sampled_from(sorted(options)))
    return name, options[name]


def _step(draw: Any, chain: Chain) -> None:  # noqa: C901, PLR0915
    kind = draw(st.sampled_from(["with_columns", "with_columns", "with_columns", "filter", "filter", "join",
                                 "head", "sort", "unique", "drop"]))
    order = chain.order()
    if kind == "with_columns":
        exprs = draw(st.lists(expressions(), min_size=1, max_size=2))
        names = []
        for e in exprs:
            chain.n += 1
            names.append(f"r{chain.n}")
            chain.added[names[-1]] = e.dtype
        text = ", ".join(f"{e.text}.alias({n!r})" for e, n in zip(exprs, names))
        chain.add(f"with_columns({text})",
                  lambda f, m, r: f.with_columns(*[e.build(m).alias(n) for e, n in zip(exprs, names)]))
    elif kind == "filter":
        t, p = _pred(draw, chain)
        chain.add(f"filter({t})", lambda f, m, r: f.filter(p(m)))
    elif kind == "join":
        if chain.joined:
            return
        how = draw(st.sampled_from(["inner", "left", "full", "semi", "anti", "left"]))
        keys = draw(st.sampled_from([(["k"], ["rk"]), (["g"], ["rg"]), (["k", "g"], ["rk", "rg"]),
                                     (["i8"], ["rk"])]))
        ne = draw(st.integers(0, 3)) == 0
        rfilter = draw(st.integers(0, 3)) == 0
        rt = "right.filter(col('rv') > 0)" if rfilter else "right"
        kw: dict[str, Any] = {"left_on": keys[0], "right_on": keys[1], "how": how}
        if ne:
            kw["nulls_equal"] = True
        if how == "full":
            kw["coalesce"] = False
        if how in ("inner", "left", "full"):
            chain.joined = True
        by = chain.order()
        text = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        chain.add(f"join({rt}, {text}).sort({by}, nulls_last=True)",
                  lambda f, m, r: f.join(r.filter(m.col("rv") > 0) if rfilter else r, **kw).sort(by, nulls_last=True))
    elif kind == "head":
        which = draw(st.sampled_from(["head", "tail", "slice"]))
        n = draw(st.integers(0, 5))
        if which == "slice":
            off = draw(st.integers(-3, 3))
            chain.add(f"slice({off}, {n})", lambda f, m, r: f.slice(off, n))
        else:
            chain.add(f"{which}({n})", lambda f, m, r: getattr(f, which)(n))
    elif kind == "sort":
        keys = draw(st.lists(st.sampled_from(["k", "g", "o", "f64", "s", "d", "b", "m", "i8"]), min_size=1,
                             max_size=2, unique=True))
        desc = [draw(st.booleans()) for _ in keys]
        nl = draw(st.booleans())
        if draw(st.booleans()):  # ties kept in the frame's order
            chain.add(f"sort({keys}, descending={desc}, nulls_last={nl}, maintain_order=True)",
                      lambda f, m, r: f.sort(keys, descending=desc, nulls_last=nl, maintain_order=True))
        else:
            by = keys + order
            d2 = desc + [False] * len(order)
            chain.add(f"sort({by}, descending={d2}, nulls_last={nl})",
                      lambda f, m, r: f.sort(by, descending=d2, nulls_last=nl))
    elif kind == "unique":
        subset = draw(st.sampled_from([["k"], ["g"], ["k", "g"], ["b", "k"]]))
        keep = draw(st.sampled_from(["first", "last", "none"]))
        chain.add(f"unique({subset}, keep={keep!r}, maintain_order=True)",
                  lambda f, m, r: f.unique(subset, keep=keep, maintain_order=True))
    elif kind == "drop" and chain.added:
        c = draw(st.sampled_from(sorted(chain.added)))
        del chain.added[c]
        chain.add(f"drop({c!r})", lambda f, m, r: f.drop(c))


AGG_FILTERS: dict[str, Callable[[Any], Any]] = {
    "col('i8') > 0": lambda m: m.col("i8") > 0, "col('b')": lambda m: m.col("b"),
    "col('s').is_not_null()": lambda m: m.col("s").is_not_null(), "col('o') == 2": lambda m: m.col("o") == 2,
}


def _last(draw: Any, chain: Chain) -> None:
    """The last step: nothing, a select of a few columns, or a group-by."""
    roll = draw(st.integers(0, 4))
    if roll == 0:
        cols = draw(st.lists(st.sampled_from(sorted(SCHEMA) + sorted(chain.added)), min_size=1, max_size=4,
                             unique=True))
        chain.add(f"select({cols})", lambda f, m, r: f.select(cols))
    elif roll == 1:
        keys = draw(st.sampled_from([["k"], ["g"], ["k", "g"], ["b"]]))
        aggs: list[tuple[str, Callable[[Any], Any]]] = []
        for _ in range(draw(st.integers(1, 3))):
            form = draw(st.integers(0, 3))
            if form == 0:
                c = draw(st.sampled_from(["i8", "i32", "f64", "m", "o"]))
                f = draw(st.sampled_from(sorted(AGG_FILTERS)))
                agg = draw(st.sampled_from(["sum", "count", "max", "min", "mean"]))
                kd = _kind(SCHEMA[c])

                def build(m: Any, c: str = c, f: str = f, agg: str = agg, kd: str = kd) -> Any:
                    x = getattr((_wide(m.col(c), kd, m) if agg == "sum" else m.col(c)).filter(AGG_FILTERS[f](m)),
                                agg)()
                    return _counted(x, m) if agg == "count" else x

                aggs.append((f"col({c!r}).filter({f}).{agg}()", build))
            elif form == 1 and chain.added:
                c = draw(st.sampled_from(sorted(chain.added)))
                kd = _kind(chain.added[c])
                if kd in NUM:
                    aggs.append((f"col({c!r}).sum()", lambda m, c=c, kd=kd: _wide(m.col(c), kd, m).sum()))
                else:
                    aggs.append((f"col({c!r}).count()", lambda m, c=c: _counted(m.col(c).count(), m)))
            elif form == 2:
                c = draw(st.sampled_from(["i16", "s", "d", "id"]))
                aggs.append((f"col({c!r})", lambda m, c=c: m.col(c)))
            else:
                e = draw(expressions(allow_window=False, want_scalar=True))
                aggs.append((e.text, e.build))
        text = ", ".join(f"{t}.alias('a{i}')" for i, (t, _) in enumerate(aggs))
        chain.add(f"group_by({keys}, maintain_order=True).agg({text})",
                  lambda f, m, r: f.group_by(*keys, maintain_order=True).agg(
                      *[b(m).alias(f"a{i}") for i, (_, b) in enumerate(aggs)]))


@st.composite
def chains(draw: Any) -> Chain:
    chain = Chain()
    for _ in range(draw(st.integers(2, 6))):
        _step(draw, chain)
    _last(draw, chain)
    return chain


def run_one(table: pa.Table, right: pa.Table, chain: Chain) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    text = f"df = {table.to_pydict()}\nright = {right.to_pydict()}\ndf." + ".".join(chain.texts)

    def apply(f: Any, m: Any, r: Any) -> Any:
        for fn in chain.fns:
            f = fn(f, m, r)
        return f

    try:
        want = apply(pl.from_arrow(table).lazy(), pl, pl.from_arrow(right).lazy()).collect()  # type: ignore[union-attr]
        want_rows = want.rows()
    except (Exception, _PANIC):  # noqa: BLE001 (Polars rejects it, or panics: nothing to compare with)
        reject()
    try:
        tf = apply(th.from_arrow(table), th, th.from_arrow(right))
    except (Exception, _PANIC) as exc:  # noqa: BLE001 (classified: a refusal, or a crash)
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want, want_rows)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((frames(), right_frames(), chains()), run_one, n, seed)


def test_dataframe_chain_fuzz_against_polars() -> None:
    assert_mostly_supported(fuzz(150), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_dataframe_chain_fuzz_against_polars_long(seed: int) -> None:
    assert_mostly_supported(fuzz(1000, seed), 0.1)
