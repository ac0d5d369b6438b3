"""``th.sum_horizontal``/``min``/``max``/``mean``/``all``/``any_horizontal``, ``th.concat_str`` and
``th.struct`` against Polars: Hypothesis draws a frame (ints, floats with NaN, strings, booleans,
each with NULLs; sometimes no rows), a function and two or three arguments (columns by name or
expression, a literal), in ``select`` or ``with_columns``. Thresher must give Polars' names,
types and values, or refuse with its own error when the plan is built."""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import reject
from hypothesis import strategies as st

import thresher as th
from fuzz_support import build_refusal, compare_with_polars, run_cases

NAN = float("nan")
VALUES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "i": (pa.int64(), [None, 0, 1, -2, 7]),
    "j": (pa.int32(), [None, 3, -1]),
    "f": (pa.float64(), [None, NAN, -0.0, 1.5, -2.25]),
    "s": (pa.string(), [None, "", "a", "日本"]),
    "b": (pa.bool_(), [None, True, False]),
    "c": (pa.bool_(), [None, True, False]),
}
NUMERIC, TEXT, BOOL = ("i", "j", "f"), ("s",), ("b", "c")
FUNCTIONS = {"sum_horizontal": NUMERIC + BOOL, "min_horizontal": NUMERIC + TEXT, "max_horizontal": NUMERIC + TEXT,
             "mean_horizontal": NUMERIC, "all_horizontal": BOOL, "any_horizontal": BOOL,
             "concat_str": NUMERIC + TEXT + BOOL, "struct": NUMERIC + TEXT + BOOL}


@st.composite
def cases(draw: Any) -> tuple[Any, ...]:
    n = draw(st.integers(0, 6))
    table = pa.table({c: pa.array(draw(st.lists(st.sampled_from(v), min_size=n, max_size=n)), t)
                      for c, (t, v) in VALUES.items()})
    fn = draw(st.sampled_from(sorted(FUNCTIONS)))
    cols = draw(st.lists(st.sampled_from(FUNCTIONS[fn]), min_size=1, max_size=3, unique=True))
    args: list[tuple[str, Any]] = []  # (kind, value): a name, an expression of a column, a literal
    for c in cols:
        args.append((draw(st.sampled_from(["name", "expr"])), c))
    if fn in ("sum_horizontal", "max_horizontal", "min_horizontal", "mean_horizontal") and draw(st.booleans()):
        args.append(("lit", 2))
    if fn == "concat_str" and draw(st.booleans()):
        args.append(("lit", "-"))
    opts: dict[str, Any] = {}
    if fn == "concat_str":
        opts = {"separator": draw(st.sampled_from(["", ","])), "ignore_nulls": draw(st.booleans())}
    return table, fn, args, opts, draw(st.sampled_from(["select", "with_columns"]))


def run_one(table: pa.Table, fn: str, args: list[tuple[str, Any]], opts: dict[str, Any], where: str) -> str:
    text = f"{table.to_pydict()}\n{fn}({args}, {opts}) in {where}"

    def build(m: Any) -> Any:
        parts = [v if k == "name" else m.col(v) * 1 if k == "expr" and v in NUMERIC else m.col(v) if k == "expr"
                 else m.lit(v) for k, v in args]
        if fn == "concat_str":
            e = m.concat_str(parts, **opts)
        else:
            e = getattr(m, fn)(*parts)
        f = pl.from_arrow(table) if m is pl else th.from_arrow(table)
        return f.select(e) if where == "select" else f.with_columns(e.alias("out"))

    try:
        want = build(pl)
    except Exception:  # noqa: BLE001  (Polars rejects it: nothing to compare with)
        reject()
    if fn == "struct":  # (its fields, which may be named as the frame's columns)
        want = want.select(pl.last()).unnest(want.columns[-1])
    try:
        tf = build(th)
        if fn == "struct":
            tf = tf.select(tf.columns[-1]).unnest(tf.columns[-1])
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((cases(),), lambda case: run_one(*case), n, seed)


def _mostly(stats: Counter[str]) -> None:
    total = stats["match"] + stats["refused"]
    assert total > 0 and stats["refused"] <= 0.05 * total, stats


def test_horizontal_functions_fuzz_against_polars() -> None:
    _mostly(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_horizontal_functions_fuzz_against_polars_long(seed: int) -> None:
    _mostly(fuzz(1000, seed))


def test_a_python_number_takes_the_columns_type_as_in_polars() -> None:
    table = pa.table({"j": pa.array([1, None, 5], pa.int32()), "f": [0.5, None, 2.0]})
    for build in (lambda m: m.max_horizontal("j", 2), lambda m: m.sum_horizontal("j", m.lit(2)),
                  lambda m: m.min_horizontal("j", 2.5), lambda m: m.mean_horizontal("j", "f", 1)):
        want = pl.from_arrow(table).select(build(pl))  # type: ignore[union-attr]
        assert compare_with_polars("", th.from_arrow(table).select(build(th)), want) == "match"


def test_wrong_types_are_refused_when_the_plan_is_built() -> None:
    df = th.from_pydict({"l": [[1]], "s": ["a"]})
    with pytest.raises(th.ThresherTypeError, match="column 'l' has type"):
        df.select(th.sum_horizontal("l", "s"))
    with pytest.raises(th.ThresherTypeError, match="repeat"):
        df.select(th.struct("s", th.col("s")))
