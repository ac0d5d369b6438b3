"""Differential fuzzing of the expressions with a length of their own (``Expr.unique``, ``sort``,
``head``, ``tail``, ``slice``, ``reverse``, ``drop_nulls``, ``drop_nans``, ``top_k``,
``bottom_k``, ``gather_every``, ``value_counts``, ``unique_counts``, ``mode``) against Polars.

Hypothesis draws a small frame (ints, floats with NaN/-0.0/inf, strings, each with NULLs and
duplicates; sometimes no rows), one or two such operations chained on one column, and a context:
``select`` alone, ``select`` next to an aggregate (broadcast), an aggregate of the result
(``.len()``/``.n_unique()``/``.first()``), ``select``/``with_columns`` next to the frame's columns
(``sort``/``reverse`` only), or ``group_by().agg`` (each group's list). Where Polars leaves the
order open (``unique`` without ``maintain_order``, ``top_k``/``bottom_k``, ``mode``,
``value_counts``) both sides are compared as sorted values. Counts are int64 in Thresher (Polars:
u32, documented): Polars' side is cast. Thresher must give Polars' values or refuse with its own
error.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis import strategies as st

import thresher as th
from fuzz_support import build_refusal, compare_with_polars, run_cases

NAN, INF = float("nan"), float("inf")
VALUES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "i": (pa.int64(), [None, 0, 1, 1, 2, -3, 7]),
    "f": (pa.float64(), [None, NAN, 0.0, -0.0, 1.5, 1.5, INF, -2.0]),
    "s": (pa.string(), [None, "", "a", "a", "b", "日本"]),
}


@st.composite
def frames(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 8))
    cols = {c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
            for c, (t, v) in VALUES.items()}
    cols["g"] = pa.array(draw(st.lists(st.sampled_from([1, 2, None]), min_size=n, max_size=n)), pa.int64())
    return pa.table(cols)


#: (text, build(expr), order left open by Polars, keeps the number of rows)
OPS: list[tuple[str, Any, bool, bool]] = [
    ("unique(maintain_order=True)", lambda e: e.unique(maintain_order=True), False, False),
    ("unique()", lambda e: e.unique(), True, False),
    ("sort()", lambda e: e.sort(), False, True),
    ("sort(descending=True)", lambda e: e.sort(descending=True), False, True),
    ("sort(nulls_last=True)", lambda e: e.sort(nulls_last=True), False, True),
    ("sort(descending=True, nulls_last=True)", lambda e: e.sort(descending=True, nulls_last=True), False, True),
    ("head(3)", lambda e: e.head(3), False, False),
    ("head()", lambda e: e.head(), False, False),
    ("tail(2)", lambda e: e.tail(2), False, False),
    ("slice(1, 3)", lambda e: e.slice(1, 3), False, False),
    ("slice(-2)", lambda e: e.slice(-2), False, False),
    ("reverse()", lambda e: e.reverse(), False, True),
    ("drop_nulls()", lambda e: e.drop_nulls(), False, False),
    ("drop_nans()", lambda e: e.drop_nans(), False, False),
    ("top_k(3)", lambda e: e.top_k(3), True, False),
    ("bottom_k(2)", lambda e: e.bottom_k(2), True, False),
    ("gather_every(2, 1)", lambda e: e.gather_every(2, 1), False, False),
    ("mode()", lambda e: e.mode(), True, False),
    ("unique_counts()", lambda e: e.unique_counts(), False, False),
]
#: the ops group_by().agg takes (list operations)
AGG_OPS = {"unique(maintain_order=True)", "unique()", "sort()", "sort(descending=True)", "sort(nulls_last=True)",
           "sort(descending=True, nulls_last=True)", "head(3)", "head()", "tail(2)", "slice(1, 3)", "slice(-2)",
           "reverse()", "drop_nulls()", "top_k(3)", "bottom_k(2)"}
CONTEXTS = ("alone", "with_agg", "aggregated", "next_to", "with_columns", "group_by", "value_counts")


def _key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, float) and math.isnan(v):
        return (2, 0)
    if isinstance(v, dict):
        return (1, tuple(_key(x) for x in v.values()))
    if isinstance(v, (list, tuple)):
        return (1, tuple(_key(x) for x in v))
    return (1, v)


def _u32_to_i64(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col(pl.UInt32).cast(pl.Int64))


def run_one(table: pa.Table, column: str, ops: list[int], where: str, vc: tuple[bool, bool]) -> str:
    chain = [OPS[i] for i in ops]
    if any(o[2] for o in chain[:-1]) and chain[-1][0].split("(")[0] in ("head", "tail", "slice", "gather_every"):
        reject()  # (positions in an order Polars leaves open: no answer to compare)
    unordered = any(o[2] for o in chain) or where == "value_counts" and not vc[0]
    text = f"{table.to_pydict()}\ncol({column!r}).{'.'.join(o[0] for o in chain)} in {where} {vc}"

    def build(m: Any) -> Any:
        e = m.col(column)
        for _, fn, _, _ in chain:
            e = fn(e)
        # (eager Polars: Polars 2.1's lazy optimizer fuses col("f").slice(1, 3).head(3) into an empty
        # column, where eager and unoptimized Polars give the one value)
        f = pl.from_arrow(table) if m is pl else th.from_arrow(table)
        if where == "alone":
            return f.select(e)
        if where == "with_agg":
            return f.select(e, m.col("i").max().alias("mx"), m.len().alias("n"))
        if where == "aggregated":
            return f.select(e.len().alias("n"), e.n_unique().alias("u"), e.first().alias("x"))
        if where == "next_to":
            return f.select("g", e.alias("x"), "s")
        if where == "with_columns":
            return f.with_columns(e.alias("x"))
        if where == "group_by":
            return f.group_by("g", maintain_order=True).agg(e.alias("x"))
        sort, normalize = vc
        return f.select(m.col(column).value_counts(sort=sort, normalize=normalize)).unnest(column)

    if where in ("next_to", "with_columns") and not all(o[3] for o in chain):
        # Polars errors unless the lengths happen to agree; Thresher refuses when building
        with pytest.raises(th.ThresherTypeError, match="length of its own"):
            build(th)
        return "match"
    if where == "group_by" and not all(o[0] in AGG_OPS for o in chain):
        reject()
    try:
        want = build(pl)
    except Exception:  # noqa: BLE001  (Polars rejects it: nothing to compare with)
        reject()
    want = _u32_to_i64(want).with_columns(pl.col(pl.UInt64).cast(pl.Int64))
    if where == "value_counts":
        want = want.with_columns(pl.col("count").cast(pl.Int64)) if "count" in want.columns else want
    if where == "aggregated" and unordered:
        want = want.drop("x")
    if where == "group_by" and unordered:
        want = want.with_columns(pl.col("x").list.eval(pl.element().sort(nulls_last=True)))
    try:
        tf = build(th)
        if where == "aggregated" and unordered:
            tf = tf.drop("x")
        if where == "group_by" and unordered:
            tf = tf.with_columns(th.col("x").list.sort(nulls_last=True))
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001
        return build_refusal(text, exc)
    if where == "value_counts" and vc[0]:
        got = tf.to_arrow()
        counts = got.column(got.num_columns - 1).to_pylist()
        assert counts == sorted(counts, reverse=True), f"{text}\nnot most frequent first: {counts}"
    sort_key = (lambda r: tuple(_key(v) for v in r)) if unordered and where != "group_by" else None
    return compare_with_polars(text, tf, want, sort_key=sort_key)


@st.composite
def cases(draw: Any) -> tuple[Any, ...]:
    table = draw(frames())
    column = draw(st.sampled_from(sorted(VALUES)))
    ops = draw(st.lists(st.integers(0, len(OPS) - 1), min_size=1, max_size=2))
    where = draw(st.sampled_from(CONTEXTS))
    vc = (draw(st.booleans()), draw(st.booleans()))
    return table, column, ops, where, vc


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((cases(),), lambda case: run_one(*case), n, seed)


def _mostly(stats: Counter[str]) -> None:
    total = stats["match"] + stats["refused"]
    assert total > 0 and stats["refused"] <= 0.1 * total, stats


def test_seq_expressions_fuzz_against_polars() -> None:
    _mostly(fuzz(300))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_seq_expressions_fuzz_against_polars_long(seed: int) -> None:
    _mostly(fuzz(1500, seed))


# ---- examples, each compared with Polars (or a refusal checked) -----------------------------------------------------

def _both(data: dict[str, list[Any]], build: Any) -> tuple[list[Any], list[Any]]:
    got = build(th.from_pydict(data), th).rows()
    want = _u32_to_i64(build(pl.DataFrame(data), pl)).rows()
    return got, want


def test_the_length_of_a_unique_column_counts_its_values_not_the_frames_rows() -> None:
    # (Expr.len() of a plain expression is the frame's row count; of unique() it is not)
    data = {"f": [None, None, 1.0]}
    got, want = _both(data, lambda f, m: f.select(m.col("f").unique().len(), m.all().unique().len().alias("g")))
    assert got == want == [(2, 2)]


def test_expression_slices_chain_as_eager_polars() -> None:
    # (Polars 2.1's lazy optimizer answers col("f").slice(1, 3).head(3) of two rows with none)
    data = {"f": [1.0, 2.0]}
    got, want = _both(data, lambda f, m: f.select(m.col("f").slice(1, 3).head(3)))
    assert got == want == [(2.0,)]


def test_value_counts_as_polars() -> None:
    data = {"s": ["b", None, "a", "b", None, "b"]}
    got, want = _both(data, lambda f, m: f.select(m.col("s").value_counts(sort=True, name="n")).unnest("s"))
    assert got == want == [("b", 3), (None, 2), ("a", 1)]
    got, want = _both(data, lambda f, m: f.select(m.col("s").value_counts(normalize=True)).unnest("s"))
    assert sorted(got, key=repr) == sorted(want, key=repr)
    s = th.from_pydict(data).collect()["s"]
    assert s.value_counts(sort=True).rows() == _u32_to_i64(pl.Series("s", data["s"]).value_counts(sort=True)).rows()


def test_sort_next_to_columns_and_in_with_columns() -> None:
    data = {"a": [2, None, 1, 3], "b": ["w", "x", "y", "z"]}
    for build in (lambda f, m: f.select(m.col("a").sort(descending=True, nulls_last=True), "b"),
                  lambda f, m: f.with_columns(m.col("a").sort().alias("s"), m.col("b").reverse()),
                  lambda f, m: f.select(m.col("a").sort().cum_sum(), m.col("a").max().alias("mx"))):
        got, want = _both(data, build)
        assert got == want


def test_group_by_takes_the_list_operations() -> None:
    data = {"g": [1, 2, 1, 1, 2], "v": [5, None, 3, 5, 4]}
    got, want = _both(data, lambda f, m: f.group_by("g", maintain_order=True).agg(
        m.col("v").unique(maintain_order=True).alias("u"), m.col("v").sort(descending=True).head(2).alias("h"),
        m.col("v").drop_nulls().alias("d"), m.col("v").sum().alias("s")))
    assert got == want


def test_lengths_polars_checks_only_when_it_runs_are_refused_when_built() -> None:
    df = th.from_pydict({"a": [1, 1, 2], "b": [1, 2, 3]})
    for bad, words in ((lambda: df.select(th.col("a").unique(), "b"), "length of its own"),
                       (lambda: df.with_columns(th.col("a").head(2)), "length of its own"),
                       (lambda: df.select(th.col("a").unique() + th.col("b")), "reads ['b']"),
                       (lambda: df.filter(th.col("a").sort() > 1), "sort() gives a column of its own length"),
                       # (sort().over() is taken now: each group's sorted values on its rows)
                       (lambda: df.select(th.col("a").unique().over("b")), "over()"),
                       (lambda: df.group_by("b").agg(th.col("a").value_counts()), "not supported in group_by")):
        with pytest.raises(th.ThresherTypeError, match=re.escape(words)):
            bad()
    with pytest.raises(th.ThresherTypeError, match="column 'a' has type"):  # (the column named at build)
        df.select(th.col("a").str.len_chars().unique())


def test_implode_as_polars() -> None:
    data = {"g": [1, 2, 1, None], "v": [None, 2.5, float("nan"), 1.0]}
    for build in (lambda f, m: f.select(m.col("v").implode()),
                  lambda f, m: f.select(m.col("v").implode(), m.col("g").implode().alias("gs")),
                  lambda f, m: f.group_by("g", maintain_order=True).agg(m.col("v").implode())):
        got, want = _both(data, build)
        assert str(got) == str(want)  # (NaN in lists: compared as text)
