"""Differential fuzzing of the DataFrame API's list and struct methods against eager Polars.

The other fuzzers reach a list column only through ``str.split`` or a group's list, and no struct
column at all. Hypothesis draws a small frame whose list columns hold NULL lists, empty lists,
NULL elements, NaN, +-inf, -0.0, duplicates and unicode (``list<int64>``, ``list<float64>``,
``list<string>``), a struct column with NULL fields and a NULL struct, and a chain of one to
three methods: a ``list.*`` method (len, get with negative and out-of-range indexes, sum, mean,
min, max, contains, first, last, head, tail, slice, sort, reverse, unique, n_unique, drop_nulls,
arg_min, arg_max, join) or ``struct.field``, then scalar methods on its result (arithmetic,
``fill_null``, ``is_null``, comparisons, another list method). The chain runs in ``select``,
``filter`` (as a predicate) or ``group_by().agg`` (summed per group), and Thresher must give
Polars' values, or refuse with a ``ThresherError`` / ``AttributeError`` / ``TypeError``.
"""

from __future__ import annotations

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
from fuzz_support import build_refusal, compare_with_polars, run_cases

NAN, INF = float("nan"), float("inf")
STRUCT = pa.struct([("a", pa.int64()), ("b", pa.string())])
COLUMNS: dict[str, tuple[pa.DataType, str, list[Any]]] = {
    "k": (pa.int64(), "int", [None, 0, 1, 1, 2]),
    "li": (pa.list_(pa.int64()), "list_int", [None, [], [None], [1, 2, 2], [3, None, -1], [0], [5, 4, 3, 2, 1],
                                              [-7, 10]]),
    "lf": (pa.list_(pa.float64()), "list_float", [None, [], [NAN, 1.0], [None, -0.0, 0.0], [INF, -INF], [2.5],
                                                  [NAN], [1.5, -2.5, None]]),
    "ls": (pa.list_(pa.string()), "list_str", [None, [], ["a", None], ["", "b", "a"], ["日本"], ["x", "x"],
                                               [None]]),
    "st": (STRUCT, "struct", [None, {"a": 1, "b": "x"}, {"a": None, "b": None}, {"a": 2, "b": ""},
                              {"a": -3, "b": "日"}]),
}


@st.composite
def frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 6))
    return pa.table({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                     for c, (t, _, v) in COLUMNS.items()})


@dataclass(frozen=True)
class Op:
    text: str
    kind_in: tuple[str, ...]
    kind_out: str  # "same": the input's kind; "inner": a list's element kind
    apply: Callable[[Any, Any], Any]


LISTS = ("list_int", "list_float", "list_str")
NUM_LISTS = ("list_int", "list_float")
INNER = {"list_int": "int", "list_float": "float", "list_str": "str"}


def _ops() -> list[Op]:
    ops: list[Op] = []

    def add(text: str, kinds: tuple[str, ...], out: str, fn: Callable[[Any, Any], Any]) -> None:
        ops.append(Op(text, kinds, out, fn))

    add("list.len()", LISTS, "int", lambda e, m: e.list.len().cast(m.Int64) if m is pl else e.list.len())
    for i in (0, 1, -1, 5, -5):
        add(f"list.get({i})", LISTS, "inner",
            lambda e, m, i=i: e.list.get(i, null_on_oob=True) if m is pl else e.list.get(i))
    for name in ("sum", "mean", "min", "max"):
        add(f"list.{name}()", NUM_LISTS, "float" if name == "mean" else "inner",
            lambda e, m, n=name: getattr(e.list, n)())
    for name in ("first", "last", "arg_min", "arg_max", "n_unique"):
        out = "int" if name in ("arg_min", "arg_max", "n_unique") else "inner"
        add(f"list.{name}()", LISTS if name not in ("arg_min", "arg_max") else NUM_LISTS, out,
            lambda e, m, n=name: getattr(e.list, n)())  # (UInt32 in both: typed by Polars)
    for v in (1, 2, None):
        add(f"list.contains({v!r})", ("list_int",), "bool", lambda e, m, v=v: e.list.contains(v))
    for v in (1.0, NAN, 0.0):
        add(f"list.contains({v!r})", ("list_float",), "bool", lambda e, m, v=v: e.list.contains(v))
    for v in ("a", ""):
        add(f"list.contains({v!r})", ("list_str",), "bool", lambda e, m, v=v: e.list.contains(v))
    for n in (0, 2, 10):
        add(f"list.head({n})", LISTS, "same", lambda e, m, n=n: e.list.head(n))
        add(f"list.tail({n})", LISTS, "same", lambda e, m, n=n: e.list.tail(n))
    for off, ln in ((1, 2), (-2, None), (0, 0), (5, 1), (-9, 2)):
        add(f"list.slice({off}, {ln})", LISTS, "same", lambda e, m, o=off, n=ln: e.list.slice(o, n))
    for desc in (False, True):
        for nl in (False, True):
            add(f"list.sort(descending={desc}, nulls_last={nl})", LISTS, "same",
                lambda e, m, d=desc, n=nl: e.list.sort(descending=d, nulls_last=n))
    add("list.reverse()", LISTS, "same", lambda e, m: e.list.reverse())
    add("list.unique(maintain_order=True)", LISTS, "same", lambda e, m: e.list.unique(maintain_order=True))
    add("list.drop_nulls()", LISTS, "same", lambda e, m: e.list.drop_nulls())
    for sep in ("-", ""):
        add(f"list.join({sep!r})", ("list_str",), "str", lambda e, m, s=sep: e.list.join(s))
    for f, out in (("a", "int"), ("b", "str")):
        add(f"struct.field({f!r})", ("struct",), out, lambda e, m, f=f: e.struct.field(f))
    # list.eval of th.element() / pl.element(): per element, aggregated (a list of one value),
    # order-dependent over the list, or of its own length
    evals: list[tuple[str, tuple[str, ...], Callable[[Any, Any], Any]]] = [
        ("element() * 2", NUM_LISTS, lambda x, m: x * 2),
        ("element().fill_null(0)", NUM_LISTS, lambda x, m: x.fill_null(0)),
        ("element() - element().min()", NUM_LISTS, lambda x, m: x - x.min()),
        ("element().max()", LISTS, lambda x, m: x.max()),
        ("element().sum()", NUM_LISTS, lambda x, m: x.sum()),
        ("element().first()", LISTS, lambda x, m: x.first()),
        ("element().cum_sum()", ("list_int",), lambda x, m: x.cum_sum()),
        ("element().shift(1)", LISTS, lambda x, m: x.shift(1)),
        ("element().rank('min')", NUM_LISTS, lambda x, m: x.rank("min")),
        ("element().sort(nulls_last=True)", LISTS, lambda x, m: x.sort(nulls_last=True)),
        ("element().unique(maintain_order=True)", LISTS, lambda x, m: x.unique(maintain_order=True)),
        ("element().drop_nulls().head(2)", LISTS, lambda x, m: x.drop_nulls().head(2)),
        ("element().top_k(2).sort()", NUM_LISTS, lambda x, m: x.top_k(2).sort()),
        ("element().str.to_uppercase()", ("list_str",), lambda x, m: x.str.to_uppercase()),
        ("when(element() > 0).then(element())", ("list_int",),
         lambda x, m: m.when(x > 0).then(x).otherwise(None)),
    ]
    for text, kinds, fn in evals:
        add(f"list.eval({text})", kinds, "same", lambda e, m, fn=fn: e.list.eval(fn(m.element(), m)))
    # scalar methods of what a list method gave
    add("(+ 1)", ("int", "float"), "same", lambda e, m: e + 1)
    add("(* -1.5)", ("int", "float"), "float", lambda e, m: e * -1.5)
    add("fill_null(0)", ("int", "float"), "same", lambda e, m: e.fill_null(0))
    add("fill_null('z')", ("str",), "str", lambda e, m: e.fill_null("z"))
    add("is_null()", ("int", "float", "str", "bool", *LISTS, "struct"), "bool", lambda e, m: e.is_null())
    add("(> 1)", ("int", "float"), "bool", lambda e, m: e > 1)
    add("(== col('k'))", ("int",), "bool", lambda e, m: e == m.col("k"))
    add("is_nan()", ("float",), "bool", lambda e, m: e.is_nan())
    add("str.len_chars()", ("str",), "int", lambda e, m: e.str.len_chars().cast(m.Int64) if m is pl
        else e.str.len_chars())
    add("~", ("bool",), "bool", lambda e, m: ~e)
    return ops


OPS = _ops()


@st.composite
def chains(draw: Any) -> tuple[str, list[Op], str]:
    column = draw(st.sampled_from(["li", "lf", "ls", "st"]))
    kind = COLUMNS[column][1]
    chain: list[Op] = []
    for i in range(draw(st.integers(1, 3))):
        options = [op for op in OPS if kind in op.kind_in and (i > 0 or kind not in ("int", "float", "str"))]
        if not options:
            break
        op = draw(st.sampled_from(options))
        chain.append(op)
        kind = kind if op.kind_out == "same" else INNER.get(kind, kind) if op.kind_out == "inner" else op.kind_out
    where = draw(st.sampled_from(["select", "filter", "agg"] if kind in ("bool", "int", "float") else ["select"]))
    return column, chain, where


def _build(m: Any, column: str, chain: list[Op]) -> Any:
    e = m.col(column)
    for op in chain:
        e = op.apply(e, m)
    return e


def run_one(table: pa.Table, column: str, chain: list[Op], where: str) -> str:
    text = f"{where}: col({column!r})." + ".".join(op.text for op in chain) + f"\ntable: {table.to_pydict()}"

    def frame(m: Any) -> Any:
        e = _build(m, column, chain)
        if m is pl:
            f = pl.from_arrow(table).lazy()  # type: ignore[union-attr]
        else:
            f = th.from_arrow(table)
        if where == "select":
            return f.select(m.col("k"), e.alias("c"))
        if where == "filter":
            kept = e if str(chain[-1].kind_out) == "bool" else e > 0
            return f.filter(kept).select("k", "li", "lf", "ls")
        # a per-group sum, in Int64 / Float64 as Thresher sums (Polars keeps Int32 and wraps)
        x = e.cast(m.Float64) if m is pl else e.cast("float64")
        return f.group_by("k").agg(x.sum().alias("c"), m.len().cast(m.Int64).alias("n") if m is pl
                                   else m.len().alias("n")).sort("k")

    try:
        want = frame(pl).collect()
    except Exception:  # noqa: BLE001  (Polars rejects it: nothing to compare with)
        reject()
    try:
        tf = frame(th)
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((frames(), chains()), lambda table, chain: run_one(table, *chain), n, seed)


def _mostly(stats: Counter[str]) -> None:
    total = stats["match"] + stats["refused"]
    assert total > 0 and stats["refused"] <= 0.25 * total, stats


def test_list_struct_fuzz_against_polars() -> None:
    _mostly(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_list_struct_fuzz_against_polars_long(seed: int) -> None:
    _mostly(fuzz(1500, seed))

