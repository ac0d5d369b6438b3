"""The plan fuzzer: random pipelines over random typed data give the same rows optimized or not.

Hypothesis builds a pipeline of filters, projections, ``with_columns``, joins (inner, left, semi,
anti), group-bys, explodes, unions, distincts, UDF maps and sort+limit (a limit only after a sort,
so which rows it keeps is determined) over tables with nullable ints, floats, strings, dates and
lists. Each pipeline is collected with the optimizer off, on, and on with a random subset of rules
switched off, on every executor; rows are compared as multisets. Every optimized plan is also
validated after every rule firing. A bounded number of examples runs in the default suite; the
``slow`` variant runs many more.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_helpers import StubUDF, udf_call

import thresher as th
from thresher import col, lit
from thresher.planner.optimizer.runner import optimize, rule_names

_TIMES3 = StubUDF(lambda x: None if x is None else x * 3, th.DataType.int64(), name="times3", cost="model")
_IS_EVEN = StubUDF(lambda x: None if x is None else x % 2 == 0, th.DataType.bool(), name="is_even", cost="model")

ints = st.one_of(st.none(), st.integers(-5, 5))
floats = st.one_of(st.none(), st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 2)))
strs = st.one_of(st.none(), st.sampled_from(["a", "b", "cc", "dd", ""]))
dates = st.one_of(st.none(), st.dates(datetime.date(2020, 1, 1), datetime.date(2020, 1, 10)))
lists = st.one_of(st.none(), st.lists(st.integers(0, 3), max_size=3))


@st.composite
def tables(draw: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    n = draw(st.integers(0, 25))
    left = {
        "i": draw(st.lists(ints, min_size=n, max_size=n)),
        "j": draw(st.lists(ints, min_size=n, max_size=n)),
        "f": draw(st.lists(floats, min_size=n, max_size=n)),
        "s": draw(st.lists(strs, min_size=n, max_size=n)),
        "d": draw(st.lists(dates, min_size=n, max_size=n)),
        "l": draw(st.lists(lists, min_size=n, max_size=n)),
    }
    m = draw(st.integers(0, 8))
    right = {"rk": draw(st.lists(ints, min_size=m, max_size=m)), "rv": draw(st.lists(strs, min_size=m, max_size=m))}
    return left, right


def _frame(data: dict[str, list[Any]], types: dict[str, Any]) -> th.DataFrame:
    import pyarrow as pa

    return th.from_arrow(pa.table({k: pa.array(v, type=types[k]) for k, v in data.items()}))


def _types() -> dict[str, Any]:
    import pyarrow as pa

    return {"i": pa.int64(), "j": pa.int64(), "f": pa.float64(), "s": pa.large_string(), "d": pa.date32(),
            "l": pa.large_list(pa.int64()), "rk": pa.int64(), "rv": pa.large_string()}


def _kinds(df: th.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"int": [], "float": [], "str": [], "date": [], "list": [], "bool": []}
    for f in df.schema.fields:
        t = f.dtype
        if t.is_integer():
            out["int"].append(f.name)
        elif t.is_float():
            out["float"].append(f.name)
        elif t.is_string():
            out["str"].append(f.name)
        elif t.kind == "date":
            out["date"].append(f.name)
        elif t.is_list():
            out["list"].append(f.name)
        elif t.is_bool():
            out["bool"].append(f.name)
    return out


def _term(draw: Any, df: th.DataFrame) -> Any:
    k = _kinds(df)
    choices = [c for c in ("int", "float", "str", "date", "bool") if k[c]]
    if not choices:  # e.g. only list columns left: an always-true filter
        return lit(True)
    kind = draw(st.sampled_from(choices))
    c = col(draw(st.sampled_from(k[kind])))
    if draw(st.integers(0, 6)) == 0:
        return c.is_null() if draw(st.booleans()) else c.is_not_null()
    if kind == "int":
        v = draw(st.integers(-5, 5))
        term = draw(st.sampled_from([c > v, c <= v, c == v, c != v, c.is_in([v, v + 1])]))
        if draw(st.integers(0, 4)) == 0:
            term = udf_call(_IS_EVEN, c)
        return term
    if kind == "float":
        return c > draw(st.floats(-10, 10).map(lambda f: round(f, 1)))
    if kind == "str":
        v = draw(st.sampled_from(["a", "b", "cc", ""]))
        return draw(st.sampled_from([c == v, c != v, c.str.starts_with(v[:1]), c > v]))
    if kind == "date":
        return c >= lit(datetime.date(2020, 1, draw(st.integers(1, 10))))
    return c


def _step(draw: Any, df: th.DataFrame, right: th.DataFrame, counter: list[int]) -> th.DataFrame:
    k = _kinds(df)
    counter[0] += 1
    new = f"c{counter[0]}"
    op = draw(st.sampled_from(["filter", "filter", "with_columns", "select", "join", "group_by", "explode", "limit",
                               "udf", "union", "distinct", "rename"]))
    if op == "filter":
        t = _term(draw, df)
        if draw(st.booleans()):
            t = t & _term(draw, df) if draw(st.booleans()) else t | _term(draw, df)
        return df.filter(t)
    if op == "with_columns" and (k["int"] or k["str"]):
        if k["int"] and (not k["str"] or draw(st.booleans())):
            c = col(draw(st.sampled_from(k["int"])))
            return df.with_columns(**{new: c * draw(st.integers(-2, 2)) + 1})
        return df.with_columns(**{new: col(draw(st.sampled_from(k["str"]))).str.upper()})
    if op == "select":
        names = draw(st.lists(st.sampled_from(df.columns), min_size=1, max_size=len(df.columns), unique=True))
        return df.select(*names)
    if op == "rename":
        c = draw(st.sampled_from(df.columns))
        return df.rename({c: new})
    if op == "join" and k["int"] and "rk" not in df.columns and "rv" not in df.columns:
        how = draw(st.sampled_from(["inner", "left", "semi", "anti"]))
        return df.join(right, left_on=draw(st.sampled_from(k["int"])), right_on="rk", how=how)
    if op == "group_by" and (k["int"] or k["str"]):
        key = draw(st.sampled_from(k["int"] + k["str"]))
        aggs = [th.count().alias(new + "_n")]
        nums = [c for c in k["int"] if c != key]
        if nums:
            aggs.append(col(draw(st.sampled_from(nums))).sum().alias(new + "_sum"))
        if k["float"]:
            aggs.append(col(draw(st.sampled_from(k["float"]))).max().alias(new + "_max"))
        return df.group_by(key).agg(*aggs)
    if op == "explode" and k["list"]:
        return df.explode(draw(st.sampled_from(k["list"])))
    if op == "limit" and not k["list"]:
        keys = df.columns
        return df.sort(*keys, nulls_last=True).limit(draw(st.integers(0, 6)), offset=draw(st.integers(0, 2)))
    if op == "udf" and k["int"]:
        return df.with_columns(**{new: udf_call(_TIMES3, col(draw(st.sampled_from(k["int"]))))})
    if op == "union":
        return df.union(df.filter(_term(draw, df)))
    if op == "distinct" and not k["list"]:
        return df.distinct()
    return df


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    return v


def _rows(df: th.DataFrame, **kw: Any) -> list[tuple[Any, ...]]:
    t = df.to_arrow(**kw)
    rows = [tuple(_norm(v) for v in r.values()) for r in t.to_pylist()]
    return sorted(rows, key=lambda r: tuple((x is None, repr(x)) for x in r))


@st.composite
def pipelines(draw: Any) -> tuple[th.DataFrame, list[str]]:
    left_data, right_data = draw(tables())
    types = _types()
    df = _frame(left_data, types)
    right = _frame(right_data, types)
    counter = [0]
    for _ in range(draw(st.integers(2, 7))):
        df = _step(draw, df, right, counter)
    disabled = draw(st.lists(st.sampled_from(rule_names()), max_size=3, unique=True))
    return df, disabled


def check(df: th.DataFrame, disabled: list[str], runner: str) -> None:
    optimize(df.plan, validate=True)
    optimize(df.plan, disabled=disabled, validate=True)
    expected = _rows(df, optimize=False, runner=runner)
    assert _rows(df, runner=runner) == expected, df.explain(format="text", print_=False)
    try:
        th.set_optimizer(disabled=disabled)
        assert _rows(df, runner=runner) == expected, (disabled, df.explain(format="text", print_=False))
    finally:
        th.set_optimizer(disabled=[])


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.filter_too_much,
                                                        HealthCheck.function_scoped_fixture], derandomize=True)


@settings(max_examples=150, **_SETTINGS)
@given(pipelines())
def test_optimized_equals_unoptimized(runner: str, case: tuple[th.DataFrame, list[str]]) -> None:
    check(*case, runner=runner)


@pytest.mark.slow
@settings(max_examples=1500, **{**_SETTINGS, "derandomize": False})
@given(pipelines())
def test_optimized_equals_unoptimized_many(runner: str, case: tuple[th.DataFrame, list[str]]) -> None:
    check(*case, runner=runner)


def test_equal_udf_branches_under_a_shared_join() -> None:
    """Found by the slow fuzzer (seed 31337): a union of two equal joins over a UDF projection
    (another stage's output) had the joins merged into one shared Polars subplan whose copy of
    the UDF projection no stage fed, so the relational stage tried to lower the UDF itself
    (NotLowerable while running)."""
    types = _types()
    left = _frame({"i": [1, 2, None], "j": [0, 0, 0], "f": [0.5, None, 1.0], "s": ["a", "b", None],
                   "d": [None] * 3, "l": [None] * 3}, types)
    right = _frame({"rk": [1, 2, 2], "rv": ["x", "y", "z"]}, types)
    df = left.with_columns(c2=udf_call(_TIMES3, col("i"))).filter(col("f").is_not_null())
    df = df.join(right, left_on="i", right_on="rk", how="inner")
    df = df.union(df.filter(col("i").is_not_null())).filter(col("i").is_not_null())
    check(df, [], runner="local")
    assert sorted(df.to_arrow().column("c2").to_pylist()) == [3, 3]
