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


def _profiled_program(build: Callable[[], Any], counts: Callable[[Any], bool]) -> int:
    """The Python calls ``counts`` says yes to while building the Polars program of a freshly
    compiled plan (the second time: imports and first-use caches aside)."""
    n = 0

    def count(frame: Any, event: str, arg: object) -> None:
        nonlocal n
        if event == "call" and counts(frame):
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


def _program_calls(build: Callable[[], Any]) -> int:
    """Python calls of building the Polars program of a freshly compiled plan."""
    return _profiled_program(build, lambda frame: True)


def test_lowering_the_tpch_queries_stays_within_a_call_budget(tpch: dict[str, th.DataFrame]) -> None:
    # before: q16 504, q22 1040 calls, the 22 queries 18,757 (the scan predicates built anew,
    # Polars' join and select parsing their arguments, needs_guard's, the keys' and the shared
    # subplans' outline generators, each scan's key and source hashed three times, the direct
    # join's column tests, to_polars' guard test of each argument of a call that holds no
    # checked call); then 359, 800 and 13,895 (the budgets leave room, not the old counts)
    # ... and, with literals, literal arguments and cast dtypes built once per typed value and
    # the nodes over the same operand objects built once (see the tests below), 342, 728 and 12,731
    # ... and q22's country codes tested as 7 equalities (polars_plan._is_in_by_equalities: 13
    # Polars expressions built, 738 -> 918 calls, ~0.01 ms of lowering; its program runs ~1 ms faster)
    # ... and the search for group-by string keys to encode (planner/dictionary_keys.py: a walk
    # for aggregates with a string key over a join, and for the largest table below each; it
    # encodes nothing over these one-row tables): q16 348 -> 372, q22 918 -> 943, 12,956 -> 13,268
    assert _program_calls(lambda: QUERIES[16](tpch)) <= 375
    assert _program_calls(lambda: QUERIES[22](tpch)) <= 950
    assert sum(_program_calls(lambda q=q: QUERIES[q](tpch)) for q in QUERIES) <= 13_400  # type: ignore[misc]


def _program_calls_from_scratch(build: Callable[[], Any]) -> int:
    """Python calls of building the Polars program of a freshly compiled plan with the lowering's
    caches cleared first, as every round of the benchmarks lowers it."""
    from thresher.operators.expr_to_polars import clear_caches

    n = 0

    def count(frame: Any, event: str, arg: object) -> None:
        nonlocal n
        if event == "call":
            n += 1

    for _ in range(2):
        stage = compile_plan(build().plan).root
        clear_caches()
        n = 0
        sys.setprofile(count)
        try:
            stage.spec.program([])
        finally:
            sys.setprofile(None)
    return n


def test_lowering_from_scratch_stays_within_a_call_budget(tpch: dict[str, th.DataFrame]) -> None:
    # with the caches cleared (a benchmark round): each column and constant is a new Polars
    # expression; pl.col / pl.lit of a name or a plain value (int, float, str, bool, None) are
    # built by Polars' internal functions directly (thresher._polars.new_col / lit, without the
    # public functions' dispatch on the argument's kind): q16 495 -> 428, q22 1,120 -> 1,026,
    # the 22 queries 17,092 -> 15,681 calls
    # ... and the scan predicates' expressions built anew too (clear_caches forgets them, as a
    # round must): 484, 1,043 and 16,360
    # ... and a call's column arguments looked up in the schema (their lowering and type were four
    # Python calls each: _to_polars, Schema.field, resolve, Schema.field): 464, 1,011 and 15,688
    assert _program_calls_from_scratch(lambda: QUERIES[16](tpch)) <= 475
    assert _program_calls_from_scratch(lambda: QUERIES[22](tpch)) <= 1_025
    assert sum(_program_calls_from_scratch(lambda q=q: QUERIES[q](tpch)) for q in QUERIES) <= 15_900  # type: ignore[misc]


_PLAIN_VALUES: list[Any] = [0, 1, -1, 2 ** 62, 2 ** 70, -(2 ** 70), True, False, None, 0.0, -0.0, 1.5, float("nan"),
                            float("inf"), "", "13", "Brand#45", "üñí", "^a.*$"]


def test_the_col_and_lit_shortcuts_build_polars_own_expressions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "", "^a.*$", "*", "c_phone", "üñí"):
        assert _polars.new_col(name).meta.serialize() == pl.col(name).meta.serialize(), name
    for v in _PLAIN_VALUES:
        got, want = _polars.lit(v), pl.lit(v)
        assert got.meta.serialize() == want.meta.serialize(), v
        assert pl.select(got.alias("x")).equals(pl.select(want.alias("x")), null_equal=True), v
    # any other value goes through pl.lit (its dates, Series, enums, NumPy scalars, errors)
    import enum

    import numpy as np

    class Color(enum.Enum):
        RED = "red"

    class MyInt(int):
        pass

    for v in (datetime.date(2020, 1, 1), decimal.Decimal("1.5"), Color.RED, np.int32(3), MyInt(4), b"x",
              pl.Series([1, 2])):
        assert _polars.lit(v).meta.serialize() == pl.lit(v).meta.serialize(), v
    with pytest.raises(TypeError):
        _polars.lit(object())
    # a Polars without the internal functions: the public ones
    monkeypatch.setattr(_polars, "_builders", lambda: None)
    assert _polars.new_col("a").meta.serialize() == pl.col("a").meta.serialize()
    assert _polars.lit("x").meta.serialize() == pl.lit("x").meta.serialize()


def test_internal_builders_that_build_something_else_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # (another Polars whose internal lit reads its positional arguments otherwise, as our
    # shortcut passes them; pl.lit passes keywords: the public functions are used)
    from polars import _plr

    real = _plr.lit
    want = pl.lit(7).meta.serialize()

    def other_lit(value: Any, *args: Any, **kw: Any) -> Any:
        return real(value, *args, **kw) if kw else real(None, *args)

    monkeypatch.setattr(_plr, "lit", other_lit)
    assert pl.lit(7).meta.serialize() == want  # (the public function is untouched)
    _polars._builders.cache_clear()
    try:
        assert _polars._builders() is None
        assert _polars.lit(7).meta.serialize() == want
    finally:
        monkeypatch.undo()
        _polars._builders.cache_clear()
    assert _polars._builders() is not None


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


def _polars_calls(build: Callable[[], Any], names: set[str] | None) -> int:
    """Calls of Polars' Python functions named ``names`` (None: any) while building the Polars
    program of a freshly compiled plan (the second time, as :func:`_program_calls`)."""

    def counts(frame: Any) -> bool:
        code = frame.f_code
        return (names is None or code.co_name in names) and "polars" in code.co_filename \
            and "thresher" not in code.co_filename

    return _profiled_program(build, counts)


def test_polars_literals_and_casts_are_built_once(tpch: dict[str, th.DataFrame]) -> None:
    # pl.lit (its type inference and NumPy / PyTorch checks, ~4 µs each) and a cast's dtype
    # expression (~3 µs) are not built again for the 22 queries' literals ("Brand#45", the
    # country codes' list, str.slice's offset and length, LIKE patterns) and casts (count and
    # n_unique to Int64, join keys to a common type); before: 68 lit and 28 to_dtype_expr calls
    names = {"lit", "to_dtype_expr"}
    assert sum(_polars_calls(lambda q=q: QUERIES[q](tpch), names) for q in QUERIES) == 0  # type: ignore[misc]


def test_polars_nodes_over_the_same_operands_are_built_once(tpch: dict[str, th.DataFrame]) -> None:
    # a comparison, arithmetic or cast over the same operand objects (columns and literals are
    # built once) is built once: a decimal product's operands are no longer serialized on every
    # query (l_extendedprice * (1 - l_discount): q1, q3, q5, ...); all Polars Python calls of
    # the 22 programs 2,216 -> 1,120 (the literal and cast shortcuts alone: 1,678)
    assert sum(_polars_calls(lambda q=q: QUERIES[q](tpch), {"serialize"}) for q in QUERIES) == 0  # type: ignore[misc]
    assert sum(_polars_calls(lambda q=q: QUERIES[q](tpch), None) for q in QUERIES) <= 1_250  # type: ignore[misc]


_TYPED: list[tuple[Any, Any]] = [
    (1, "int64"), (1, "int32"), (1.0, "float64"), (1.0, "float32"), (True, "bool"), (0.0, "float64"),
    (-0.0, "float64"), (float("nan"), "float64"), (decimal.Decimal("0"), pa.decimal128(12, 2)),
    (decimal.Decimal("0.00"), pa.decimal128(12, 2)), (decimal.Decimal("1.5"), pa.decimal128(3, 1)), ("1", "string"),
    ("", "string"), (None, "int64"), (None, "string"), (datetime.date(2020, 1, 1), "date"),
]


def test_a_literal_is_lowered_as_before_once_per_typed_value() -> None:
    from thresher.datatypes import to_dtype
    from thresher.expressions.expr import Literal
    from thresher.operators.expr_to_polars import _lit, _lit_of

    built = {}
    for value, dtype in _TYPED:
        for dynamic in (False, True):
            t = to_dtype(dtype)
            got = _lit_of(Literal(value, t, dynamic))
            # Polars' literal of the value, as built before (each time)
            assert got.meta.serialize() == _lit(value, t, dynamic).meta.serialize(), (value, dtype, dynamic)
            assert _lit_of(Literal(value, t, dynamic)) is got  # (a new literal object of the same value)
            built[(type(value), repr(value), str(dtype), dynamic)] = got
    # values Python calls equal (1 / 1.0 / True, 0.0 / -0.0, Decimal('0') / Decimal('0.00')) each
    # keep their own literal
    assert len({id(e) for e in built.values()}) == len(built)


def test_a_literal_of_another_type_is_built_each_time() -> None:
    from thresher.datatypes import to_dtype
    from thresher.expressions.expr import Literal
    from thresher.operators.expr_to_polars import _lit_of

    t = to_dtype("timestamp[us]")
    v = datetime.datetime(2020, 1, 1)
    assert _lit_of(Literal(v, t)) is not _lit_of(Literal(v, t))


def test_the_cast_shortcut_builds_polars_own_cast() -> None:
    from thresher.operators.expr_to_polars import cast

    c = pl.col("a")
    for dtype in (pl.Int64, pl.Int64(), pl.Float64, pl.String, pl.Datetime, pl.Datetime("ms"), pl.Datetime("us", "UTC"),
                  pl.Decimal(38, 2), pl.Decimal(38, 4), pl.List(pl.Int64), pl.Boolean):
        for strict in (True, False):
            got = cast(c, dtype, strict=strict)
            assert got.meta.serialize() == c.cast(dtype, strict=strict).meta.serialize(), (dtype, strict)
    # a dtype class is no key for its instances (pl.Datetime == pl.Datetime("ms") in Polars)
    assert cast(c, pl.Datetime("ms")).meta.serialize() == c.cast(pl.Datetime("ms")).meta.serialize()
    assert cast(c, pl.Datetime).meta.serialize() != cast(c, pl.Datetime("ms")).meta.serialize()
    df = pl.DataFrame({"a": ["1", "x"]})
    assert df.select(cast(c, pl.Int64, strict=False)).equals(df.select(c.cast(pl.Int64, strict=False)))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        df.select(cast(c, pl.Int64))


def test_plain_arguments_are_polars_own_literals() -> None:
    from thresher.operators.expr_to_polars import plain_lit

    c = pl.col("s")
    pairs = [
        (c.str.slice(plain_lit(0), plain_lit(2)), c.str.slice(0, 2)),
        (c.str.slice(plain_lit(-3), plain_lit(None)), c.str.slice(-3)),
        (c.str.starts_with(plain_lit("MEDIUM POLISHED", text=True)), c.str.starts_with("MEDIUM POLISHED")),
        (c.str.ends_with(plain_lit("x", text=True)), c.str.ends_with("x")),
        (c.str.contains(plain_lit("(?s)^.*a.*$", text=True)), c.str.contains("(?s)^.*a.*$")),
        (c.str.contains(plain_lit("a.b", text=True), literal=True), c.str.contains("a.b", literal=True)),
        (c == plain_lit("Brand#45", text=True), c == "Brand#45"),
    ]
    for got, want in pairs:
        assert got.meta.serialize() == want.meta.serialize()
    assert plain_lit(0) is plain_lit(0) and plain_lit("a", text=True) is plain_lit("a", text=True)
    # not a literal there: a string where Polars reads a column name, a bool, another type
    assert plain_lit("a") == "a" and plain_lit(True) is True and plain_lit(1.5) == 1.5
    assert plain_lit(1) is not plain_lit(True, text=True)


def test_a_value_list_is_lowered_as_polars_is_in() -> None:
    # the list's literal is kept (once per values and type): the rows are Polars' own
    data = {"c": ["13", "31", "99", None]}
    for values in (["13", "31"], ["13", "31"], ["99", None], ["31"]):
        got = th.from_pydict(data).filter(th.col("c").is_in(values)).to_arrow()
        want = pl.DataFrame(data).filter(pl.col("c").is_in(pl.Series(values).implode())).to_arrow()
        assert got.to_pydict() == want.to_pydict(), values


def test_a_value_list_literal_is_polars_own_imploded_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # built as a one-element list Series, not by implode()'s eager select: the same literal
    # (serialized alike) for every type a list is lowered in; one with a null, or refused,
    # is imploded as before
    from thresher.operators.expr_to_polars import _list_literal, clear_caches

    with monkeypatch.context() as m:
        m.setattr(pl.Series, "implode", lambda self: pytest.fail("an eager implode"))
        clear_caches()
        got = th.from_pydict({"c": ["13", "7", None]}).filter(th.col("c").is_in(["13", "31"])).to_pydict()
        assert got == {"c": ["13"]}

    D, T = datetime.date, datetime.datetime
    cases: list[tuple[Any, list[Any]]] = [
        (pl.String, ["13", "31", "23"]), (pl.String, []), (pl.String, ["a", None]), (pl.Int8, [1, -3]),
        (pl.UInt8, [1, 200]), (pl.Int32, [1, None]), (pl.Int64, [1, 2 ** 40]), (pl.UInt64, [2 ** 63]),
        (pl.Float64, [1.5, 2]), (pl.Float32, [1.5, None]), (pl.Boolean, [True, False]), (pl.Date, [D(2020, 1, 1)]),
        (pl.Datetime("us"), [T(2020, 1, 1, 3)]), (pl.Time, [datetime.time(1, 2)]), (pl.Binary, [b"ab"]),
        (pl.Duration("us"), [datetime.timedelta(1)]), (pl.Decimal(12, 2), [decimal.Decimal("1.25")]),
        (pl.Null, [None]), (pl.List(pl.Int64), [[1, 2], [3]]), (pl.Int64, [True, 2]), (pl.Int32, [1.0]),
        (pl.Int64, ["x"]), (pl.String, [1]),
    ]
    for dtype, values in cases:
        try:
            want = pl.lit(pl.Series(values, dtype=dtype).implode())
        except Exception as exc:  # noqa: BLE001 - refused: the same error
            with pytest.raises(type(exc)):
                _list_literal(values, dtype)
            continue
        got = _list_literal(values, dtype)
        assert got.meta.serialize(format="json") == want.meta.serialize(format="json"), (dtype, values)


def test_a_node_over_the_same_operands_is_polars_own_node_once() -> None:
    from thresher.operators import expr_to_polars as ep

    a, b = pl.col("a"), pl.lit(1)
    for name in ("add", "sub", "mod", "and", "or", "eq", "neq", "lt", "le", "gt", "ge"):
        fn = ep._LOWER[name]
        got = fn([a, b], None, None)  # type: ignore[arg-type]
        assert fn([a, b], None, None) is got  # type: ignore[arg-type]
        # the same values as other objects: built again, the same expression
        other = fn([pl.col("a"), pl.lit(1)], None, None)  # type: ignore[arg-type]
        assert other is not got and other.meta.serialize() == got.meta.serialize()
        # the operands swapped are another node (a comparison with the constant first: flipped)
        flipped = fn([b, a], None, None)  # type: ignore[arg-type]
        assert flipped is not got
    assert ep._LOWER["lt"]([b, a], None, None).meta.serialize() == (a > b).meta.serialize()  # type: ignore[arg-type]
    assert ep._LOWER["sub"]([b, a], None, None).meta.serialize() == (b - a).meta.serialize()  # type: ignore[arg-type]
    x, y = pl.col("x"), pl.col("y")
    prod = ep._sql_binary("Mul", x, y)
    assert prod is not None and ep._sql_binary("Mul", x, y) is prod
    assert prod.meta.serialize() == ep._sql_binary_built("Mul", pl.col("x"), pl.col("y")).meta.serialize()  # type: ignore[union-attr]
    assert ep.cast(x, pl.Int64) is ep.cast(x, pl.Int64)
    assert ep.cast(x, pl.Int64) is not ep.cast(x, pl.Int64, strict=False)
    assert ep.cast(x, pl.Int64, strict=False).meta.serialize() == x.cast(pl.Int64, strict=False).meta.serialize()


def test_the_drop_shortcut_builds_polars_own_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    lf = pl.LazyFrame({"a": [1, 2], "__keep": [True, False], "b": [3, 4]})
    for name in ("__keep", "a", "b"):
        assert _plan(_polars.drop_column(lf, name)) == _plan(lf.drop(name))
        assert _polars.drop_column(lf, name).collect().equals(lf.drop(name).collect())
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        _polars.drop_column(lf, "missing").collect()
    # Polars' internals not as expected: its public method
    monkeypatch.setattr(_polars, "_drop_selector", lambda name: None)
    assert _plan(_polars.drop_column(lf, "a")) == _plan(lf.drop("a"))
