"""Differential fuzzing against Polars of the DataFrame methods the other fuzzers leave out:
``join_asof`` (backward / forward / nearest, ``by``, ``tolerance``, ``allow_exact_matches``,
``left_on``/``right_on``, suffix), ``join_where`` (one or two comparisons across the frames),
``merge_sorted``, ``update`` (``how`` left / inner / full, ``include_nulls``, ``on`` or the row
position), ``interpolate`` (frame and expression, linear / nearest, ``over``), ``rolling_*_by`` over
an integer or a date key (window sizes, ``closed``, ``min_samples``), ``ewm_mean/std/var``
(``alpha``/``com``/``span``/``half_life``, ``adjust``, ``bias``, ``ignore_nulls``), ``rolling_skew /
kurtosis / rank / std / var / median / quantile`` (``center``), ``eq_missing`` / ``ne_missing``.

Both frames hold NULLs, NaN, duplicate keys and unicode; a frame ``join_asof`` and ``merge_sorted``
need sorted is sorted first (by the key, then every column: ties cannot reorder rows). Each case
is one step, now and then followed by a filter; the result must be Polars' (names, dtypes,
values; row by row where Polars fixes the order, as multisets otherwise), or Thresher refuses it
with its own error. A case Polars itself rejects is skipped.
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
from fuzz_support import PANIC, assert_mostly_supported, build_refusal, compare_with_polars, run_cases

D = datetime.date
# (Polars warns that it cannot check a join_asof's sortedness within its ``by`` groups)
pytestmark = pytest.mark.filterwarnings("ignore:Sortedness of columns cannot be checked:UserWarning")

LEFT: dict[str, tuple[pa.DataType, list[Any]]] = {
    "t": (pa.int64(), [None, 0, 1, 3, 3, 5, 8, -2]),
    "g": (pa.string(), [None, "a", "b", "é"]),
    "x": (pa.float64(), [None, 1.0, -0.5, 3.0, float("nan"), 0.0, 2.5]),
    "i": (pa.int32(), [None, 0, 7, -3, 10]),
    "d": (pa.date32(), [None, D(2024, 2, 28), D(2024, 2, 29), D(2024, 3, 1), D(2023, 12, 31)]),
}
RIGHT: dict[str, tuple[pa.DataType, list[Any]]] = {
    "t": (pa.int64(), [None, 0, 2, 3, 4, 7]),
    "g": (pa.string(), [None, "a", "b", "z"]),
    "y": (pa.int64(), [None, 10, 20, -1]),
    "x": (pa.float64(), [None, 0.5, 3.0, float("nan")]),
}


def _table(draw: Any, spec: dict[str, tuple[pa.DataType, list[Any]]], max_rows: int) -> pa.Table:
    n = draw(st.integers(0, max_rows))
    nulls = draw(st.integers(0, 2)) > 0  # (a third of the frames hold no NULL)
    return pa.table({c: pa.array(draw(st.lists(st.sampled_from(v if nulls else v[1:]), min_size=n, max_size=n)), t)
                     for c, (t, v) in spec.items()})


Case = tuple[str, Callable[[Any, Any, Any], Any], bool]  # text, apply(left, right, module), ordered


def _names(f: Any) -> list[str]:
    """A frame's column names (Polars' Schema.names() is a method, Thresher's a list)."""
    names = f.collect_schema().names
    return list(names() if callable(names) else names)


def _sorted(f: Any, key: str) -> Any:
    """``f`` sorted by ``key`` (then every other column, so ties cannot reorder rows)."""
    rest = [c for c in _names(f) if c != key]
    return f.sort([key, *rest], nulls_last=False)


@st.composite
def _asof(draw: Any) -> Case:
    strategy = draw(st.sampled_from(["backward", "forward", "nearest"]))
    kw: dict[str, Any] = {"strategy": strategy}
    by = draw(st.sampled_from([None, None, "g"]))
    if by:
        kw["by"] = by
    if draw(st.integers(0, 2)) == 0:
        kw["tolerance"] = draw(st.sampled_from([0, 1, 2]))
    if draw(st.integers(0, 2)) == 0:
        kw["allow_exact_matches"] = False
    if draw(st.integers(0, 3)) == 0:
        kw["suffix"] = "_r"
    renamed = draw(st.integers(0, 3)) == 0  # left_on / right_on of other names
    drop_nulls = draw(st.booleans())
    text = f"sorted(df).join_asof(sorted(right), {'left_on=t, right_on=u' if renamed else 'on=t'}, {kw})"

    def apply(left: Any, right: Any, m: Any) -> Any:
        if drop_nulls:
            left, right = left.drop_nulls("t"), right.drop_nulls("t")
        if renamed:
            return _sorted(left, "t").join_asof(_sorted(right.rename({"t": "u"}), "u"), left_on="t", right_on="u", **kw)
        return _sorted(left, "t").join_asof(_sorted(right, "t"), on="t", **kw)

    return text + (" (NULL keys dropped)" if drop_nulls else ""), apply, True


_OPS: dict[str, Callable[[Any, Any], Any]] = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                                               ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                                               "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_WHERE_PAIRS = [("t", "t_right"), ("x", "x_right"), ("i", "y"), ("t", "y"), ("g", "g_right"), ("x", "y")]


@st.composite
def _join_where(draw: Any) -> Case:
    preds = draw(st.lists(st.tuples(st.sampled_from(_WHERE_PAIRS), st.sampled_from(sorted(_OPS))),
                          min_size=1, max_size=2))
    text = "df.join_where(right, " + ", ".join(f"col({a!r}) {op} col({b!r})" for (a, b), op in preds) + ")"

    def apply(left: Any, right: Any, m: Any) -> Any:
        right = right.rename({"t": "t_right", "g": "g_right", "x": "x_right"})
        return left.join_where(right, *(_OPS[op](m.col(a), m.col(b)) for (a, b), op in preds))

    return text, apply, False


@st.composite
def _merge_sorted(draw: Any) -> Case:
    key = draw(st.sampled_from(["t", "g", "x"]))
    cols = ["t", "g", "x"]

    def apply(left: Any, right: Any, m: Any) -> Any:
        return _sorted(left.select(cols), key).merge_sorted(_sorted(right.select(cols), key), key=key)

    return f"sorted(df[t, g, x]).merge_sorted(sorted(right[t, g, x]), key={key!r})", apply, False


@st.composite
def _update(draw: Any) -> Case:
    on = draw(st.sampled_from([None, "t", "g", ["t", "g"]]))
    how = draw(st.sampled_from(["left", "inner", "full"])) if on is not None else "left"
    include_nulls = draw(st.booleans())
    cols = draw(st.sampled_from([["x"], ["x", "g"], ["x", "t"]]))
    text = f"df.update(right[{cols} + keys], on={on!r}, how={how!r}, include_nulls={include_nulls})"

    def apply(left: Any, right: Any, m: Any) -> Any:
        keys = [] if on is None else [on] if isinstance(on, str) else on
        sel = list(dict.fromkeys(keys + cols))
        return left.update(right.select(sel), on=on, how=how, include_nulls=include_nulls)

    # (a key that repeats on the right: which row updates is open in Polars; see run_one)
    return text, apply, how == "left"


@st.composite
def _interpolate(draw: Any) -> Case:
    form = draw(st.integers(0, 2))
    if form == 0:
        return "df.interpolate()", lambda left, right, m: left.interpolate(), True
    col = draw(st.sampled_from(["x", "i", "t", "d"]))
    method = draw(st.sampled_from(["linear", "nearest"]))
    over = form == 2
    text = f"df.with_columns(col({col!r}).interpolate({method!r}){'.over(g)' if over else ''}.alias('z'))"

    def apply(left: Any, right: Any, m: Any) -> Any:
        e = m.col(col).interpolate(method)
        return left.with_columns((e.over("g") if over else e).alias("z"))

    return text, apply, True


@st.composite
def _rolling_by(draw: Any) -> Case:
    fn = draw(st.sampled_from(["sum", "mean", "min", "max", "std", "var", "median", "quantile"]))
    by = draw(st.sampled_from(["t", "d"]))
    size = draw(st.sampled_from(["1i", "2i", "3i", "5i"] if by == "t" else ["1d", "2d", "3d", "1w", "1mo"]))
    closed = draw(st.sampled_from(["right", "left", "both", "none"]))
    min_samples = draw(st.sampled_from([1, 1, 2]))
    col = draw(st.sampled_from(["x", "i"]))
    kw: dict[str, Any] = {"window_size": size, "closed": closed, "min_samples": min_samples}
    if fn == "quantile":
        kw["quantile"] = draw(st.sampled_from([0.25, 0.5, 1.0]))
    text = f"sorted(df, {by!r}).with_columns(col({col!r}).rolling_{fn}_by({by!r}, {kw}).alias('z'))"

    def apply(left: Any, right: Any, m: Any) -> Any:
        e = getattr(m.col(col), f"rolling_{fn}_by")(by, **kw)
        return _sorted(left.drop_nulls(by), by).with_columns(e.alias("z"))

    return text, apply, True


@st.composite
def _ewm(draw: Any) -> Case:
    fn = draw(st.sampled_from(["ewm_mean", "ewm_std", "ewm_var"]))
    decay = draw(st.sampled_from([{"alpha": 0.5}, {"alpha": 1.0}, {"com": 1.0}, {"span": 3}, {"half_life": 2.0},
                                  {"alpha": 0.2}]))
    kw: dict[str, Any] = dict(decay)
    kw["adjust"] = draw(st.booleans())
    kw["min_samples"] = draw(st.sampled_from([1, 2]))
    kw["ignore_nulls"] = draw(st.booleans())
    if fn != "ewm_mean":
        kw["bias"] = draw(st.booleans())
    col = draw(st.sampled_from(["x", "i"]))
    over = draw(st.integers(0, 3)) == 0
    text = f"df.with_columns(col({col!r}).{fn}({kw}){'.over(g)' if over else ''}.alias('z'))"

    def apply(left: Any, right: Any, m: Any) -> Any:
        e = getattr(m.col(col), fn)(**kw)
        return left.with_columns((e.over("g") if over else e).alias("z"))

    return text, apply, True


@st.composite
def _rolling_moments(draw: Any) -> Case:
    fn = draw(st.sampled_from(["rolling_skew", "rolling_kurtosis", "rolling_rank", "rolling_std", "rolling_var",
                               "rolling_median", "rolling_quantile"]))
    kw: dict[str, Any] = {"window_size": draw(st.integers(1, 4))}
    if draw(st.booleans()):
        kw["min_samples"] = draw(st.integers(1, kw["window_size"]))
    if fn in ("rolling_skew", "rolling_kurtosis"):
        kw["bias"] = draw(st.booleans())
    if fn == "rolling_kurtosis":
        kw["fisher"] = draw(st.booleans())
    if fn == "rolling_rank":
        kw["method"] = draw(st.sampled_from(["average", "min", "max", "dense"]))
    if fn == "rolling_quantile":
        kw["quantile"] = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
        kw["interpolation"] = draw(st.sampled_from(["nearest", "lower", "higher", "midpoint", "linear"]))
    if fn in ("rolling_std", "rolling_var", "rolling_median", "rolling_quantile") and draw(st.booleans()):
        kw["center"] = True
    col = draw(st.sampled_from(["x", "i"]))
    text = f"df.with_columns(col({col!r}).{fn}({kw}).alias('z'))"

    def apply(left: Any, right: Any, m: Any) -> Any:
        return left.with_columns(getattr(m.col(col), fn)(**kw).alias("z"))

    return text, apply, True


@st.composite
def _missing(draw: Any) -> Case:
    col, other = draw(st.sampled_from([("g", "a"), ("x", 3.0), ("t", 3), ("i", None), ("x", "t"), ("g", "g")]))
    fn = draw(st.sampled_from(["eq_missing", "ne_missing"]))

    def missing(left: Any, right: Any, m: Any) -> Any:
        arg = m.col(other) if isinstance(other, str) and other in LEFT else other
        if arg is None:
            arg = m.lit(None, dtype=pl.Int32) if m is pl else m.lit(None).cast(th.DataType.int32())
        return left.select("t", getattr(m.col(col), fn)(arg).alias("z"))

    return f"df.select('t', col({col!r}).{fn}({other!r}).alias('z'))", missing, True


#: a filter after the step: (the column it reads, text, predicate)
_FILTERS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("t", "col('t') > 1", lambda m: m.col("t") > 1), ("x", "col('x').is_not_null()", lambda m: m.col("x").is_not_null()),
    ("g", "col('g') == 'a'", lambda m: m.col("g") == "a"), ("t", "col('t').is_null()", lambda m: m.col("t").is_null()),
]


@st.composite
def cases(draw: Any) -> tuple[pa.Table, pa.Table, str, Callable[[Any, Any, Any], Any], bool]:
    left, right = _table(draw, LEFT, 7), _table(draw, RIGHT, 5)
    text, apply, ordered = draw(st.one_of(_asof(), _join_where(), _merge_sorted(), _update(), _interpolate(),
                                          _rolling_by(), _ewm(), _rolling_moments(), _missing()))
    if draw(st.integers(0, 4)) == 0:
        fcol, ftext, pred = draw(st.sampled_from(_FILTERS))
        inner = apply

        def apply(left: Any, right: Any, m: Any) -> Any:  # (the step, then a filter where it can)
            out = inner(left, right, m)
            return out.filter(pred(m)) if fcol in _names(out) else out

        text += f".filter({ftext}) (where it has {fcol})"
    return left, right, text, apply, ordered


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, repr(v + 0.0 if isinstance(v, float) else v)) for v in row)


def run_one(left: pa.Table, right: pa.Table, text: str, apply: Callable[[Any, Any, Any], Any], ordered: bool) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    full = f"df = {left.to_pydict()}\nright = {right.to_pydict()}\n{text}"
    try:
        want = apply(pl.from_arrow(left).lazy(), pl.from_arrow(right).lazy(), pl).collect()  # type: ignore[union-attr]
    except (Exception, PANIC):  # noqa: BLE001 (Polars rejects it, or panics: nothing to compare with)
        reject()
    if "update(" in text and "on=None" not in text:
        keys = [c for c in ("t", "g") if f"'{c}'" in text.split("on=")[1].split(", how")[0]]
        if right.num_rows and pl.from_arrow(right).select(keys).is_duplicated().any():  # type: ignore[union-attr]
            reject()  # (a key that repeats on the right: which row updates is open)
    try:
        tf = apply(th.from_arrow(left), th.from_arrow(right), th)
    except (Exception, PANIC) as exc:  # noqa: BLE001 (classified: a refusal, or a crash)
        return build_refusal(full, exc)
    return compare_with_polars(full, tf, want, sort_key=None if ordered else _sort_key)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((cases(),), lambda case: run_one(*case), n, seed)


def test_asof_where_update_rolling_against_polars() -> None:
    assert_mostly_supported(fuzz(150), 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_asof_where_update_rolling_fuzz_long(seed: int) -> None:
    assert_mostly_supported(fuzz(1500, seed), 0.1)


# -- every failure this fuzzer found, kept as a regression test ------------------------------------

def _same_as_polars(data: dict[str, Any], step: Callable[[Any, Any], Any]) -> None:
    table = pa.table(data)
    want = step(pl.from_arrow(table).lazy(), pl).collect()  # type: ignore[union-attr]
    assert compare_with_polars(str(data), step(th.from_arrow(table), th), want) == "match"


_TEMPORAL = {"d": pa.array([None, D(2024, 2, 28), None, D(2024, 3, 1)], pa.date32()),
             "ts": pa.array([datetime.datetime(2024, 1, 1), None, None, datetime.datetime(2024, 1, 2)],
                            pa.timestamp("us")),
             "du": pa.array([datetime.timedelta(1), None, datetime.timedelta(2), None], pa.duration("us")),
             "tm": pa.array([datetime.time(1), None, datetime.time(2), None], pa.time64("us")),
             "s": ["a", None, "c", None], "i": pa.array([1, None, None, 4], pa.int8())}


def test_frame_interpolate_fills_temporal_columns() -> None:
    """DataFrame.interpolate() fills dates, datetimes, durations and times as Polars (it left their
    NULLs: only numeric columns were interpolated; fuzzer seed 3)."""
    _same_as_polars(_TEMPORAL, lambda f, m: f.interpolate())


@pytest.mark.parametrize("column", ["d", "ts", "du", "tm"])
@pytest.mark.parametrize("method", ["linear", "nearest"])
def test_interpolate_of_temporal_columns(column: str, method: str) -> None:
    """col(date/datetime/duration/time).interpolate() as Polars (was refused: 'expected a numeric type')."""
    _same_as_polars(_TEMPORAL, lambda f, m: f.with_columns(m.col(column).interpolate(method).alias("z")))


def test_interpolate_of_booleans_is_refused_while_planning() -> None:
    """(was a Polars panic while running: a PanicException let through with 'nearest')"""
    frame = th.from_pydict({"b": [True, None, False]})
    for method in ("linear", "nearest"):
        with pytest.raises(th.ThresherError, match="numeric or temporal"):
            frame.select(th.col("b").interpolate(method))
    assert frame.interpolate().to_pydict() == {"b": [True, None, False]}
