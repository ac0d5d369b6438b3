"""``Expr.cut`` (with ``include_breaks``) and ``Expr.qcut`` against Polars: Hypothesis draws a
column (ints or floats with NULL, NaN, +-inf, duplicates; sometimes no rows), breaks or quantiles
(a list, or a number of bins), labels, ``left_closed``, ``allow_duplicates``, ``include_breaks``,
and a context (``select``, ``with_columns`` or ``over`` a group). Thresher must give Polars' values
(its categorical labels as strings) or refuse with its own error; a run error of Polars' (repeated
quantile breaks) must be one of Thresher's too."""

from __future__ import annotations

import warnings
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


@st.composite
def cases(draw: Any) -> tuple[Any, ...]:
    n = draw(st.integers(0, 9))
    floats = draw(st.booleans())
    pool = [None, NAN, INF, -INF, 0.0, -0.0, 1.5, 2.0, 3.25, -4.0, 10.0] if floats else [None, 0, 1, 2, 2, 3, -5, 8]
    values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    table = pa.table({"x": pa.array(values, pa.float64() if floats else pa.int64()),
                      "g": pa.array(draw(st.lists(st.sampled_from([1, 2]), min_size=n, max_size=n)), pa.int64())})
    qcut = draw(st.booleans())
    if qcut:
        spec: Any = (draw(st.integers(1, 4)) if draw(st.booleans()) else
                     sorted(set(draw(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]), min_size=1,
                                              max_size=3)))))
        nbreaks = spec - 1 if isinstance(spec, int) else len(spec)
    else:
        spec = sorted(set(draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0, 2.0, 2.5, 9.0]), min_size=1, max_size=3))))
        nbreaks = len(spec)
    labels = [f"L{i}" for i in range(nbreaks + 1)] if draw(st.booleans()) else None
    opts = {"left_closed": draw(st.booleans()), "include_breaks": draw(st.booleans()), "labels": labels}
    if qcut:
        opts["allow_duplicates"] = draw(st.booleans())
    where = draw(st.sampled_from(("select", "with_columns", "over")))
    return table, qcut, spec, opts, where


def run_one(table: pa.Table, qcut: bool, spec: Any, opts: dict[str, Any], where: str) -> str:
    text = f"{table.to_pydict()}\n{'qcut' if qcut else 'cut'}({spec}, {opts}) in {where}"

    def build(m: Any) -> Any:
        e = m.col("x").qcut(spec, **opts) if qcut else m.col("x").cut(spec, **opts)
        f = pl.from_arrow(table).lazy() if m is pl else th.from_arrow(table)  # type: ignore[union-attr]
        if where == "over":
            e = e.over("g")
        out = f.with_columns(e.alias("r")) if where != "select" else f.select(e.alias("r"))
        return out.unnest("r") if opts["include_breaks"] else out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            want = build(pl).collect()
        except pl.exceptions.DuplicateError:
            # (repeated quantile breaks: Polars refuses when it runs, and so must Thresher)
            with pytest.raises(th.ThresherError):
                build(th).to_arrow()
            return "match"
        except Exception:  # noqa: BLE001  (Polars rejects it: nothing to compare with)
            reject()
    want = want.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    try:
        tf = build(th)
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001
        return build_refusal(text, exc)
    return compare_with_polars(text, tf, want)


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((cases(),), lambda case: run_one(*case), n, seed)


def _mostly(stats: Counter[str]) -> None:
    total = stats["match"] + stats["refused"]
    assert total > 0 and stats["refused"] == 0, stats


def test_cut_qcut_fuzz_against_polars() -> None:
    _mostly(fuzz(200))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_cut_qcut_fuzz_against_polars_long(seed: int) -> None:
    _mostly(fuzz(1000, seed))
