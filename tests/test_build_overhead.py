"""What building a query costs: the DataFrame calls of the TPC-H queries (``queries_df``) stay
within a budget of Python calls, and the shortcuts that keep them there (one object per type
without parameters, type predicates and ``==`` on the Arrow type id, a cache of the supertypes of
such types, node constructors writing their fields directly) answer as before."""

from __future__ import annotations

import itertools
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.datatypes import DataType, Field, _supertype, supertype
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import AggCall, Alias, Call, Cast, Column, Literal
from thresher.planner.logical import Aggregate, Filter, Join, Project, Sort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tpch.queries_df import QUERIES  # noqa: E402

_D, _S, _I, _I32, _DT = pa.decimal128(15, 2), pa.large_string(), pa.int64(), pa.int32(), pa.date32()
#: the TPC-H tables' column types as the benchmark's parquet files give them
_TPCH = {
    "customer": [("c_custkey", _I), ("c_name", _S), ("c_address", _S), ("c_nationkey", _I), ("c_phone", _S),
                 ("c_acctbal", _D), ("c_mktsegment", _S), ("c_comment", _S)],
    "lineitem": [("l_orderkey", _I), ("l_partkey", _I), ("l_suppkey", _I), ("l_linenumber", _I32),
                 ("l_quantity", _D), ("l_extendedprice", _D), ("l_discount", _D), ("l_tax", _D),
                 ("l_returnflag", _S), ("l_linestatus", _S), ("l_shipdate", _DT), ("l_commitdate", _DT),
                 ("l_receiptdate", _DT), ("l_shipinstruct", _S), ("l_shipmode", _S), ("l_comment", _S)],
    "nation": [("n_nationkey", _I), ("n_name", _S), ("n_regionkey", _I), ("n_comment", _S)],
    "orders": [("o_orderkey", _I), ("o_custkey", _I), ("o_orderstatus", _S), ("o_totalprice", _D),
               ("o_orderdate", _DT), ("o_orderpriority", _S), ("o_clerk", _S), ("o_shippriority", _I32),
               ("o_comment", _S)],
    "part": [("p_partkey", _I), ("p_name", _S), ("p_mfgr", _S), ("p_brand", _S), ("p_type", _S), ("p_size", _I32),
             ("p_container", _S), ("p_retailprice", _D), ("p_comment", _S)],
    "partsupp": [("ps_partkey", _I), ("ps_suppkey", _I), ("ps_availqty", _I32), ("ps_supplycost", _D),
                 ("ps_comment", _S)],
    "region": [("r_regionkey", _I), ("r_name", _S), ("r_comment", _S)],
    "supplier": [("s_suppkey", _I), ("s_name", _S), ("s_address", _S), ("s_nationkey", _I), ("s_phone", _S),
                 ("s_acctbal", _D), ("s_comment", _S)],
}


@pytest.fixture(scope="module")
def tpch() -> dict[str, th.DataFrame]:
    return {name: th.from_arrow(pa.schema(cols).empty_table()) for name, cols in _TPCH.items()}


def _python_calls(fn: Callable[[], object]) -> int:
    """Python function calls ``fn()`` makes (its second run: imports and first-use caches aside)."""
    fn()
    n = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal n
        if event == "call":
            n += 1

    sys.setprofile(count)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n


def test_building_the_tpch_queries_stays_within_a_call_budget(tpch: dict[str, th.DataFrame]) -> None:
    # q16 and q22 are the short queries where building the plan shows (~0.5 ms of ~40); before
    # these shortcuts they made 709 and 728 calls, and the 22 queries 18,220; then ~440, ~570,
    # ~14,300; with operators building their calls, leaf nodes and column children answered
    # without calls, ~240, ~340, ~8,000 (the budgets leave room, not the old counts)
    assert _python_calls(lambda: QUERIES[16](tpch)) <= 280
    assert _python_calls(lambda: QUERIES[22](tpch)) <= 390
    assert sum(_python_calls(lambda q=q: QUERIES[q](tpch)) for q in QUERIES) <= 9_000  # type: ignore[misc]


def _functions_called(fn: Callable[[], object]) -> set[str]:
    """The files and names of the Python functions ``fn()`` calls (its second run)."""
    fn()
    seen: set[str] = set()

    def record(frame: Any, event: str, arg: object) -> None:
        if event == "call":
            seen.add(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(record)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def test_building_the_tpch_queries_asks_nothing_of_pyarrow(tpch: dict[str, th.DataFrame]) -> None:
    # the type rules ask a type's kind by its Arrow id, and the supertype of a decimal and a number
    # comes from the cache (it built the decimal with pa.decimal128 and asked pa.types.is_* each
    # time: ~0.1 ms of a query's ~0.5 when building it after a pause, its code cold)
    for q, build in QUERIES.items():
        called = {f for f in _functions_called(lambda b=build: b(tpch)) if "pyarrow" in f}  # type: ignore[misc]
        assert not called, (q, called)


def test_building_the_tpch_queries_runs_no_import(tpch: dict[str, th.DataFrame]) -> None:
    # an import statement in a function runs Python's import machinery at each call even when
    # the module is loaded: after a pause (the benchmark's rounds) its cold code cost ~0.03 ms
    # each, as much as a small projection's checks (Project's schema, is_scalar_result, When,
    # the .str/.dt namespaces imported theirs)
    import builtins

    imported: list[str] = []
    real = builtins.__import__

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real(name, *args, **kwargs)

    for q, build in QUERIES.items():
        build(tpch)  # (a first run may import what it uses)
        builtins.__import__ = spy
        try:
            build(tpch)
        finally:
            builtins.__import__ = real
        assert imported == [], q


def test_the_tpch_queries_still_type_check_as_they_are_built(tpch: dict[str, th.DataFrame]) -> None:
    for q in QUERIES.values():
        assert q(tpch).schema  # every query builds
    with pytest.raises(ThresherTypeError, match="expected bool"):
        tpch["part"].filter(col("p_size"))
    with pytest.raises(ThresherTypeError, match="incompatible types"):
        tpch["part"].join(tpch["supplier"], left_on="p_partkey", right_on="s_name")
    with pytest.raises(ThresherTypeError, match="column 'p_brand' has type string, expected a numeric type"):
        tpch["part"].group_by("p_brand").agg(col("p_size").sum() + col("p_brand"))
    with pytest.raises(ThresherTypeError, match="cannot compare"):
        tpch["part"].filter(col("p_brand") == col("p_size"))


_TYPES = [
    pa.null(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64(),
    pa.float16(), pa.float32(), pa.float64(), pa.decimal128(15, 2), pa.decimal128(38, 2), pa.decimal128(15, 3),
    pa.large_string(), pa.string(), pa.large_binary(), pa.binary(4), pa.date32(), pa.date64(), pa.timestamp("us"),
    pa.timestamp("us", "UTC"), pa.timestamp("ms"), pa.time64("us"), pa.duration("us"), pa.duration("ms"),
    pa.large_list(pa.int64()), pa.large_list(pa.int32()), pa.list_(pa.float32(), 3), pa.struct([("a", pa.int64())]),
]
_DTYPES = [DataType(t) for t in _TYPES] + [DataType.image("RGB"), DataType.embedding("float32", 4), DataType.file()]


def test_plain_types_are_one_object_each() -> None:
    assert DataType.int64() is DataType.int64() and DataType.string() is DataType.string()
    assert DataType.bool() is th.lit(True).resolve(th.from_pydict({"a": [1]}).schema).dtype
    assert DataType.date() == DataType(pa.date32()) and DataType.float32() == DataType(pa.float32())


def test_type_predicates_and_equality_answer_as_arrow() -> None:
    for d in _DTYPES:
        t = d.arrow
        assert d.is_numeric() == (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)), d
        assert d.is_integer() == pa.types.is_integer(t), d
        assert d.is_float() == pa.types.is_floating(t), d
        assert d.is_decimal() == pa.types.is_decimal(t), d
        assert d.is_string() == pa.types.is_large_string(t), d
        assert d.is_bool() == pa.types.is_boolean(t), d
        assert d.is_null() == pa.types.is_null(t), d
        assert d.is_temporal() == (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t)
                                   or pa.types.is_duration(t)), d
        assert d.is_media() == (d.kind in ("image", "embedding", "file")), d
    for a, b in itertools.product(_DTYPES, repeat=2):
        assert (a == b) == (a.arrow == b.arrow), (a, b)
        if a == b and not a.is_media():  # (a media type has no hash, as before)
            assert hash(a) == hash(b), (a, b)
    assert DataType.int64() != 3 and DataType.int64() != pa.int64()


def test_a_pickled_type_keeps_its_id() -> None:
    for d in _DTYPES:
        back = pickle.loads(pickle.dumps(d))
        assert back == d and back.is_numeric() == d.is_numeric(), d
    # a type pickled without its id (before it kept one) gets it back
    d = DataType(pa.decimal128(15, 2))
    old = object.__new__(DataType)
    old.__setstate__({"arrow": d.arrow})
    assert old == d and old.is_decimal() and old.is_numeric()


def test_supertypes_from_the_cache_are_the_rules() -> None:
    for _ in range(2):  # (the second round answers from the cache)
        for a, b in itertools.product(_DTYPES, repeat=2):
            want = a if a == b else _supertype(a, b)
            got = supertype(a, b)
            assert (got is None) == (want is None) and (got is None or got == want), (a, b, got, want)


def test_is_in_names_the_first_value_of_a_wrong_type() -> None:
    df = th.from_pydict({"s": ["a", "b"]})
    with pytest.raises(ThresherTypeError, match=r"cannot be compared with 1 \(int64\)"):
        df.filter(col("s").is_in(["a", "b", 1, 2.5]))
    assert df.filter(col("s").is_in(["a", None, "c"])).to_pydict() == {"s": ["a"]}


def test_node_constructors_keep_dataclass_behaviour() -> None:
    import dataclasses

    e = Cast(Alias(Call("add", (Column("a"), Literal(1, DataType.int64(), True))), "b"), DataType.int32())
    assert repr(e) == '(col("a") + 1).alias("b").cast(int32)'
    assert dataclasses.replace(Column("a"), name="z").key() == ("col", "z")
    assert pickle.loads(pickle.dumps(e)).key() == e.key()
    assert AggCall("sum", Column("a")).key() == col("a").sum().key()
    with pytest.raises(ThresherTypeError, match="unknown function 'nope'"):
        Call("nope", ())
    with pytest.raises(ThresherTypeError, match="unknown aggregation 'nope'"):
        AggCall("nope", Column("a"))
    f = Field("a", DataType.int64())
    assert f == Field(name="a", dtype=DataType.int64(), nullable=True) and hash(f) == hash(Field("a", DataType.int64()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.name = "b"  # type: ignore[misc]
    df = th.from_pydict({"a": [2, 1], "b": ["x", "y"]})
    p = df.plan
    for node in (Filter(p, col("a") > 1), Project(p, (col("b"),)), Sort(p, (col("a"),), (False,), (False,)),
                 Aggregate(p, (col("b"),), (col("a").sum(),)), Join(p, p, (col("a"),), (col("a"),))):
        same = dataclasses.replace(node)
        assert same == node and same.schema == node.schema and same is not node
        with pytest.raises(dataclasses.FrozenInstanceError):
            node.input = p  # type: ignore[misc,union-attr]


def test_leaf_nodes_and_the_shortcuts_of_building_answer_as_before() -> None:
    from thresher.datatypes import to_dtype
    from thresher.expressions.expr import CountStar, Expr, _columns, has_aggregate
    from thresher.expressions.window import contains_window, needs_window

    def subclasses(c: type) -> list[type]:
        return [c, *itertools.chain.from_iterable(subclasses(s) for s in c.__subclasses__())]

    # a class marked a leaf has no subexpressions; the others keep children() of their own
    for cls in subclasses(Expr)[1:]:
        assert cls._LEAF == (cls.children is Expr.children), cls
    assert Column._LEAF and Literal._LEAF and CountStar._LEAF and not Call._LEAF and not Alias._LEAF
    e = (col("a") + 1).alias("b")
    assert not needs_window(e) and not has_aggregate(e) and not contains_window(e) and _columns(e) == {"a"}
    w = col("a").cum_sum() + col("b").sum()
    assert needs_window(w) and has_aggregate(w) and contains_window(w) and _columns(w) == {"a", "b"}
    # types asked for by name, and decimals, are one object each (immutable)
    assert to_dtype("float64") is to_dtype("float64") is DataType.float64()
    assert to_dtype("Float64") == DataType.float64() and to_dtype("timestamp") == DataType.timestamp()
    assert DataType.decimal(15, 2) is DataType.decimal(15, 2) and DataType.decimal(15, 2).arrow == pa.decimal128(15, 2)
    # two objects of one type without parameters: their supertype is the first
    a, b = DataType(pa.int64()), DataType.int64()
    assert supertype(a, b) is a and supertype(DataType.int32(), a) == DataType.int64()
    # the type errors of the rules written out still name the column at build time
    df = th.from_pydict({"s": ["x"], "n": [1], "b": [True]})
    for build, match in [
        (lambda: df.select(col("s").str.starts_with("x").alias("z")), None),
        (lambda: df.select(col("n").str.starts_with("x")), "str.starts_with: column 'n' has type int64, expected string"),
        (lambda: df.select(col("s") + 1), r"\+: column 's' has type string, expected a numeric type"),
        (lambda: df.filter(col("n") & col("b")), "and: column 'n' has type int64, expected bool"),
        (lambda: df.agg(col("s").mean()), "mean: column 's' has type string, expected a numeric type"),
        (lambda: df.agg(col("s").sum()), "sum: column 's' has type string, expected a numeric type"),
        (lambda: df.filter(col("s") == 1), "cannot compare"),
        (lambda: df.filter(col("nope") > 1), "nope"),
        (lambda: df.join(df, on="nope"), "nope"),
        (lambda: df.sort("nope"), "nope"),
        (lambda: df.group_by("nope").agg(col("n").sum()), "nope"),
    ]:
        if match is None:
            assert build().schema
        else:
            with pytest.raises(th.errors.ThresherError, match=match):
                build()
    # an over() under an aggregation is found at any depth (and refused), none elsewhere
    from thresher.planner.windows import _has_over

    assert _has_over((col("n").min().over("s").sum() + 1).alias("z")) and not _has_over((col("n").sum() + 1).alias("z"))
    # the common forms of filter / select / join take the short paths and give the same plans
    assert df.filter(col("n") > 0).plan == df.filter([col("n") > 0]).plan == Filter(df.plan, col("n") > 0)
    assert df.filter(col("n") > 0, n=1).plan == Filter(df.plan, (col("n") > 0) & (col("n") == 1))
    assert df.select("s", col("n")).columns == ["s", "n"] and df.select(["s"], z="n").columns == ["s", "z"]
    assert df.join(df, left_on=col("n") + 0, right_on="n").columns == ["s", "n", "b", "s_right", "n_right", "b_right"]


def test_a_join_schema_extends_its_left_index(tpch: dict[str, th.DataFrame]) -> None:
    # the output's name index is the left side's copied and extended (Schema._of), not rebuilt:
    # it must answer as a schema built from the same fields does, for every join type
    part, ps = tpch["part"], tpch["partsupp"].with_columns(p_size=col("ps_availqty"))
    for how in ("inner", "left", "right", "outer", "cross"):
        kw = {} if how == "cross" else {"left_on": "p_partkey", "right_on": "ps_partkey"}
        got = part.join(ps, how=how, **kw).schema
        want = th.datatypes.Schema(got.fields)
        assert got == want and got.names == want.names, how
        assert [got.field(n) for n in want.names] == list(want.fields)
        assert "p_size_right" in got and got.names.index("p_size_right") == len(got) - 1
    # a suffixed name another column already has is the same error as before
    clash = part.with_columns(p_size_right=col("p_size"))
    with pytest.raises(ThresherTypeError, match=r"duplicate column names: \['p_size_right'\]"):
        clash.join(ps, left_on="p_partkey", right_on="ps_partkey")
