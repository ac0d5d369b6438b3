"""What lowering a plan to its Polars program costs: the TPC-H queries' programs are built within
a budget of Python calls, with the shortcuts that keep them there answering as Polars' own
methods do: a scan predicate's Polars expression is built once per predicate value (typed: 1,
1.0 and True, Decimal('0') and Decimal('0.00'), 0.0 and -0.0 are different literals), joins
reach Polars without its argument parsing (the same plan, every join option included), and
expression keys keep plain option values without a call for each.

The budget test fails on the code before these shortcuts (see below)."""

from __future__ import annotations

import datetime
import decimal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import _polars
from thresher.expressions.expr import _freeze, col
from thresher.io.predicate import Comparison, Predicate, _predicate_to_polars, predicate_to_polars
from thresher.planner.physical import compile as compile_plan

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tpch.queries_df import QUERIES  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from test_build_overhead import _TPCH  # noqa: E402


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, th.DataFrame]:
    """The TPC-H tables as parquet files of one row: scans lowered as the benchmark's are."""
    root = tmp_path_factory.mktemp("tpch")
    out = {}
    for name, cols in _TPCH.items():
        path = root / f"{name}.parquet"
        pq.write_table(pa.table({c: pa.array([None], t) for c, t in cols}), path)
        out[name] = th.read_parquet(str(path))
    return out


def _program_calls(build: Callable[[], Any]) -> int:
    """Python calls of building the Polars program of a freshly compiled plan (the second time:
    imports and first-use caches aside)."""
    n = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal n
        if event == "call":
            n += 1

    for _ in range(2):
        stage = compile_plan(build().plan).root
        n = 0
        sys.setprofile(count)
        try:
            stage.spec.program([])
        finally:
            sys.setprofile(None)
    return n


def test_lowering_the_tpch_queries_stays_within_a_call_budget(tpch: dict[str, th.DataFrame]) -> None:
    # before: q16 504, q22 1040 calls, the 22 queries 18,757 (the scan predicates built anew,
    # Polars' join and select parsing their arguments, needs_guard's, the keys' and the shared
    # subplans' outline generators, each scan's key and source hashed three times, the direct
    # join's column tests, to_polars' guard test of each argument of a call that holds no
    # checked call); then 359, 800 and 13,895 (the budgets leave room, not the old counts)
    assert _program_calls(lambda: QUERIES[16](tpch)) <= 400
    assert _program_calls(lambda: QUERIES[22](tpch)) <= 860
    assert sum(_program_calls(lambda q=q: QUERIES[q](tpch)) for q in QUERIES) <= 15_000  # type: ignore[misc]


def _plan(lf: pl.LazyFrame) -> bytes:
    return lf.serialize()  # (every option of every node: a join's coalesce, nulls_equal, suffix)


def test_the_join_shortcut_builds_polars_own_join() -> None:
    a = pl.LazyFrame({"x": [1, None], "y": [2, 3]})
    b = pl.LazyFrame({"z": [1, None], "y": [5, 6]})
    for how in ("inner", "left", "right", "full", "semi", "anti"):
        for coalesce in (None, True, False):
            for nulls_equal in (False, True):
                got = _polars.join(a, b, ["x"], [pl.col("z")], how, coalesce=coalesce, nulls_equal=nulls_equal)
                want = a.join(b, left_on=["x"], right_on=[pl.col("z")], how=how,  # type: ignore[arg-type]
                              coalesce=coalesce, nulls_equal=nulls_equal)
                assert _plan(got) == _plan(want), (how, coalesce, nulls_equal)
                g, w = got.collect(), want.collect()  # (rows in any order: a join's order is not fixed)
                assert g.sort(g.columns, nulls_last=True).equals(w.sort(w.columns, nulls_last=True))
    assert _plan(_polars.join(a, b.select("z"), (), (), "cross")) == _plan(a.join(b.select("z"), how="cross"))


def test_the_join_shortcut_falls_back_to_the_method(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pl.LazyFrame({"x": [1, 2]}), pl.LazyFrame({"z": [2, 3]})
    want = _plan(a.join(b, left_on=["x"], right_on=["z"], how="semi"))
    monkeypatch.setattr(_polars, "_JOIN_SIGNATURE", "(another)")
    monkeypatch.setattr(_polars, "_JOIN_FAST", {})
    assert not _polars._join_fast(type(a._ldf))
    assert _plan(_polars.join(a, b, ["x"], ["z"], "semi")) == want
    assert _plan(_polars.join(a, b.select("z"), (), (), "cross")) == _plan(a.join(b.select("z"), how="cross"))


_VALUES: list[Any] = [
    1, 1.0, True, 0.0, -0.0, decimal.Decimal("0"), decimal.Decimal("0.00"), "1", b"1", None,
    datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(2020, 1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
    datetime.timedelta(days=1), (1, 2), (1.0, 2), ("a", "b"), float("nan"),
]


def test_a_scan_predicate_is_built_once_per_typed_value() -> None:
    terms = [Comparison("a", "is_in" if isinstance(v, tuple) else "==", v) for v in _VALUES]
    terms += [Comparison("a", "is_null"), Comparison("b", ">", 3), Comparison("a", "!=", "x")]
    for t in terms:
        first = predicate_to_polars(Predicate((t,)))
        again = predicate_to_polars(Predicate((Comparison(t.column, t.op, t.value),)))
        assert again is first  # (a new predicate of the same value: the same expression)
        assert first.meta.serialize() == _predicate_to_polars(Predicate((t,))).meta.serialize(), t
    # values Python calls equal are different literals: each its own expression
    built = [(v, predicate_to_polars(Predicate((Comparison("a", "==", v),)))) for v in _VALUES if not isinstance(v, tuple)]
    for v, e in built:
        assert e.meta.serialize() == _predicate_to_polars(Predicate((Comparison("a", "==", v),))).meta.serialize(), v
    both = Predicate((Comparison("a", ">=", 1), Comparison("b", "is_in", (1, 2))))
    assert predicate_to_polars(both).meta.serialize() == _predicate_to_polars(both).meta.serialize()


def test_a_value_of_another_type_is_not_cached() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "1"

    assert predicate_to_polars(Predicate((Comparison("a", "==", 1),))) is not None
    p = Predicate((Comparison("a", "==", [1, 2]),))  # (unhashable, not a tuple: built each time)
    with pytest.raises(Exception):  # noqa: B017,PT011 - whatever Polars says of it, as before
        predicate_to_polars(Predicate((Comparison("a", "==", Odd()),)))
    assert predicate_to_polars(p) is not predicate_to_polars(p)


def _old_freeze(v: Any) -> Any:
    """The key part before the shortcut (for the comparison below)."""
    from thresher.expressions.expr import Expr

    if isinstance(v, dict):
        return tuple(sorted((k, _old_freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_old_freeze(x) for x in v)
    if isinstance(v, Expr):
        return v.key()
    if isinstance(v, set):
        return tuple(sorted(v, key=repr))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return v


def test_keys_of_plain_options_are_as_before() -> None:
    for v in [*_VALUES, [1, "a"], (("values", (1, 2)),), (("offset", 0), ("length", 2)), ({"a": 1},), [[1], (2,)],
              (col("a"), 1), {"k": [1, 2]}, {3, 1}, (frozenset({1}),), ()]:
        got, want = _freeze(v), _old_freeze(v)
        assert repr(got) == repr(want) and type(got) is type(want), v
        hash(got)
